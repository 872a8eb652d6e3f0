"""The closed loop's test project, shared by test_watch.py and test_watch_decisions.py: rows of a river
concept-drift stream, and the project file of a binary model trained on them."""

from __future__ import annotations

import itertools

import pandas as pd
from conftest import FAST_CHECKS

DRIFT_AT = 4000  # the stream's second concept starts here
ROWS = 10_100  # rows drawn from the stream


def stream_rows() -> pd.DataFrame:
    """The stream's first ``ROWS`` rows: the first concept up to ``DRIFT_AT``, the second after it."""
    from river.datasets import synth

    stream = synth.ConceptDriftStream(stream=synth.Agrawal(classification_function=0, seed=1),
                                      drift_stream=synth.Agrawal(classification_function=2, seed=2),
                                      position=DRIFT_AT, width=50, seed=3)
    return pd.DataFrame([{**x, "label": y} for x, y in itertools.islice(stream, ROWS)])


def stream_project(monitor: str, *, kpi: float = 0.85) -> str:
    """The project file (its source: ``data/loans.csv``), gated on ``accuracy >= kpi``; ``monitor`` is what follows
    its ``monitor:`` line (and any section after it)."""
    return f"""name: stream
problem: {{task: binary, target: label, positive_class: 1}}
kpis:
  - {{metric: accuracy, min: {kpi}}}
data:
  sources: [{{name: loans, type: csv, path: data/loans.csv}}]
  split: {{test_size: 0.25, seed: 7}}
model:
  learners: [lightgbm]
  search: {{cv: 3}}
  seed: 7
checks:
  importance: {{repeats: 1, max_rows: 200}}
{FAST_CHECKS}
monitor:
{monitor}"""
