"""Fairness mitigation on the full Adult census data: the accuracy / fairness trade-off of each method.

One LightGBM with fixed, known-good parameters is trained on 80% of Adult (seed 42); each mitigation
then protects ``sex`` and every model is scored on the same held-out 20% by aiforge's own fairness
check (decisions at 0.5). Writes ``benchmarks/fairness/RESULTS.md``.

    .venv/bin/python benchmarks/fairness/run.py            # about a minute or two on 2 cores
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
SEED = 42
N_JOBS = 2
ATTRIBUTE = "sex"
# LightGBM's known-good configuration in aiforge (learn/_learners.py), with the rounds early stopping
# keeps on Adult at this learning rate
LIGHTGBM = {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "colsample_bytree": 0.8,
            "subsample": 0.8, "reg_lambda": 1e-3, "reg_alpha": 1e-3, "cat_smooth": 10.0, "min_data_per_group": 100,
            "n_estimators": 400}
RUNS = [  # (method, constraint)
    ("none", "-"),
    ("reweighing", "demographic_parity"),
    ("exponentiated_gradient", "demographic_parity"),
    ("exponentiated_gradient", "equalized_odds"),
    ("threshold_optimizer", "demographic_parity"),
    ("threshold_optimizer", "equalized_odds"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sklearn.model_selection import train_test_split

    from aiforge.evaluate import METRICS
    from aiforge.evaluate._checks import CheckContext
    from aiforge.evaluate._fairness import fairness
    from aiforge.learn import TabularModel, choose_features
    from aiforge.learn._mitigate import mitigate
    from aiforge.learn._model import encode_labels
    from aiforge.learn._select import _fit_pipeline
    from aiforge.spec import Checks, FairnessCheck, TaskKind

    data = pd.read_csv(ADULT)
    train, test = train_test_split(data, test_size=0.2, random_state=SEED, stratify=data["income"])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    classes = ["<=50K", ">50K"]
    features = choose_features(pa.Table.from_pandas(train), "income")
    y_train = encode_labels(train["income"], classes)
    y_test = encode_labels(test["income"], classes)

    started = time.perf_counter()
    pipeline = _fit_pipeline("lightgbm", TaskKind.BINARY, features, SEED, N_JOBS, LIGHTGBM, train, y_train)
    base = TabularModel(pipeline, TaskKind.BINARY, classes, features, "lightgbm", "income")
    base_seconds = time.perf_counter() - started
    print(f"lightgbm fitted in {base_seconds:.1f} s on {len(train):,} rows", flush=True)

    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for method, constraint in RUNS:
        started = time.perf_counter()
        if method == "none":
            model, seconds = base, base_seconds
        else:
            model = mitigate(base, train, train["income"], method=method, constraint=constraint, attribute=ATTRIBUTE,
                             eps=0.02, seed=SEED, n_jobs=N_JOBS)
            seconds = time.perf_counter() - started
            details[f"{method} / {constraint}"] = model.mitigation
        t0 = time.perf_counter()
        output = model.raw_output(test)
        predict_ms = (time.perf_counter() - t0) * 1000 / len(test) * 1000
        decided = (output[:, 1] >= model.threshold).astype(int)
        ctx = CheckContext(model=model, train=train, test=test, target="income", task=TaskKind.BINARY,
                           primary=METRICS["roc_auc"], seed=SEED, checks=Checks(fairness=FairnessCheck()),
                           sensitive=[ATTRIBUTE])
        check = fairness(ctx)
        groups = {r["group"]: r for r in check.details["groups"][ATTRIBUTE]}
        row = {
            "method": method, "constraint": constraint,
            "roc_auc": METRICS["roc_auc"](y_test, output), "accuracy": float((decided == y_test).mean()),
            "dpd": check.metrics[f"demographic_parity_difference[{ATTRIBUTE}]"],
            "dpr": check.metrics[f"demographic_parity_ratio[{ATTRIBUTE}]"],
            "eod": check.metrics[f"equalized_odds_difference[{ATTRIBUTE}]"],
            "eopp": check.metrics[f"equal_opportunity_difference[{ATTRIBUTE}]"],
            "sel_male": groups["Male"]["selection_rate"], "sel_female": groups["Female"]["selection_rate"],
            "fit_s": seconds, "predict_ms": predict_ms,
        }
        rows.append(row)
        print(f"{method:24s} {constraint:20s} auc {row['roc_auc']:.4f} acc {row['accuracy']:.4f} "
              f"dpd {row['dpd']:.4f} eod {row['eod']:.4f} fit {seconds:.1f} s", flush=True)
    assert np.isfinite([r["dpd"] for r in rows]).all()
    args.out.write_text(_report(rows, details, len(train), len(test)), encoding="utf-8")
    print(f"wrote {args.out}")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("aiforge", "fairlearn", "lightgbm", "scikit-learn", "pandas", "numpy"):
        try:
            out[name] = version(name)
        except Exception:  # not installed as a distribution
            out[name] = "?"
    try:
        out["git commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                           text=True, check=True).stdout.strip() + " (+ working tree)"
    except (OSError, subprocess.CalledProcessError):
        out["git commit"] = "?"
    return out


def _machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {model}, {os.cpu_count()} logical CPUs (n_jobs={N_JOBS})"


def _report(rows: list[dict[str, Any]], details: dict[str, Any], n_train: int, n_test: int) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Fairness mitigation on Adult: the trade-off",
        "",
        f"Generated by `benchmarks/fairness/run.py` on {now}. Every figure is measured on the same held-out "
        f"{n_test:,} rows (train {n_train:,}, stratified 80/20 split, seed {SEED}); the protected attribute is "
        f"`{ATTRIBUTE}`. How to run it and what each method does: [README.md](README.md).",
        "",
        "| method | constraint | roc_auc | accuracy | demographic_parity_difference[sex] | "
        "demographic_parity_ratio[sex] | equalized_odds_difference[sex] | equal_opportunity_difference[sex] | "
        "selection rate male / female | fit s | predict ms per 1000 rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['constraint']} | {r['roc_auc']:.4f} | {r['accuracy']:.4f} | {r['dpd']:.4f} | "
            f"{r['dpr']:.3f} | {r['eod']:.4f} | {r['eopp']:.4f} | {r['sel_male']:.3f} / {r['sel_female']:.3f} | "
            f"{r['fit_s']:.1f} | {r['predict_ms']:.1f} |")
    lines += [
        "",
        "`fit s`: for `none` the LightGBM fit; for a mitigation, the mitigation alone (on top of that fit): "
        "reweighing refits once, exponentiated gradient fits the estimator once per iteration (at most "
        "30, boosting rounds capped at 150), the threshold optimizer refits the model on 3 folds to get "
        "cross-fitted training scores.",
        "",
        "## What the mitigations chose",
        "",
    ]
    for name, info in details.items():
        keep = {k: v for k, v in info.items() if k not in ("weights", "thresholds", "edges", "attribute", "method")}
        lines.append(f"- **{name}**: " + ", ".join(f"{k} {v}" for k, v in keep.items()))
        if "thresholds" in info:
            for t in info["thresholds"]:
                lines.append(f"  - {t['group']}: " + ", ".join(f"{k} {v}" for k, v in t.items() if k != "group"))
        if "weights" in info and info.get("method") == "reweighing":
            for w in info["weights"]:
                lines.append(f"  - {w['group']} / {w['label']}: {w['rows']} rows, weight {w['weight']}")
    lines += ["", "## Setup", "", f"- machine: {_machine()}", f"- LightGBM parameters: `{LIGHTGBM}`"]
    lines += [f"- {k}: {v}" for k, v in _versions().items()]
    lines += [f"- command: `{Path(sys.executable).name} benchmarks/fairness/run.py`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
