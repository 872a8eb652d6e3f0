"""'aiforge init': a commented project file and a small dataset that runs as is."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

from aiforge.errors import AiforgeError
from aiforge.spec import SCHEMA_FILE_NAME, modeline, write_json_schema

__all__ = ["PROJECT_TEMPLATE", "scaffold_project"]

PROJECT_TEMPLATE = """\
{modeline}
# aiforge project file. Check it with 'aiforge validate aiforge.yaml'; run it with 'aiforge run aiforge.yaml'.
name: {name}                  # lower-case; also the name of the registered model

problem:
  task: binary                # binary | multiclass | regression | auto (detected from the target)
  target: churned             # the column to predict
  positive_class: "yes"       # binary only: the label that counts as positive
  description: Predict which customers will cancel their subscription next month.

kpis:                         # every KPI is a release gate: a model that misses one is rejected
  - {{metric: roc_auc, min: 0.75}}  # binary: roc_auc pr_auc accuracy balanced_accuracy f1 precision recall
  - {{metric: recall, min: 0.40}}   # log_loss brier | regression: rmse mae median_ae r2 | multiclass: f1_macro ...

data:
  sources:                    # csv or parquet, paths relative to this file; several sources are stacked
    - {{name: customers, type: csv, path: data/customers.csv}}
  split: {{test_size: 0.2, stratify: true, seed: 42}}   # the held-out split the KPIs are measured on

model:
  learners: [linear, random_forest, hist_gradient_boosting, lightgbm]   # the candidates
  search:
    cv: 5                     # k-fold cross-validation on the training split picks the best learner
    # metric: roc_auc         # what candidates are ranked by (default: the first KPI's metric)
    # budget: {{seconds: 60}}   # stop trying more candidates after this long
  seed: 42

checks:
  importance: {{repeats: 3, max_rows: 2000}}   # permutation importance of each column on the test split
"""

_PLANS = ["basic", "standard", "premium"]
_CHANNELS = ["web", "store", "phone", "partner"]


def scaffold_project(directory: Path, *, rows: int = 1500, seed: int = 7) -> list[Path]:
    """Write ``aiforge.yaml``, its JSON Schema (``aiforge.schema.json``, named in the file's first line so that
    editors complete and check it) and ``data/customers.csv`` into ``directory``; refuse to overwrite."""
    project = directory / "aiforge.yaml"
    schema = directory / SCHEMA_FILE_NAME
    data = directory / "data" / "customers.csv"
    existing = [p for p in (project, schema, data) if p.exists()]
    if existing:
        raise AiforgeError(
            "refusing to overwrite an existing project",
            where=", ".join(map(str, existing)),
            hint="choose an empty folder, or remove those files first",
        )
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in directory.absolute().name.lower()) or "project"
    data.parent.mkdir(parents=True, exist_ok=True)
    write_json_schema(schema)
    project.write_text(PROJECT_TEMPLATE.format(name=name.strip("-_")[:63] or "project",
                                               modeline=modeline(SCHEMA_FILE_NAME)), encoding="utf-8")
    rng = random.Random(seed)
    with data.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tenure_months", "monthly_fee", "support_calls", "plan", "channel", "churned"])
        for _ in range(rows):
            tenure = rng.randint(1, 72)
            plan = rng.choice(_PLANS)
            fee = round({"basic": 15, "standard": 35, "premium": 70}[plan] * rng.uniform(0.8, 1.25), 2)
            calls = min(12, int(rng.expovariate(0.6)))
            channel = rng.choice(_CHANNELS)
            logit = 0.9 - 0.05 * tenure + 0.35 * calls + 0.012 * fee + (0.6 if channel == "phone" else 0.0)
            churned = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
            writer.writerow([tenure, fee, calls if rng.random() > 0.03 else "", plan, channel, churned])
    return [project, schema, data]
