"""CPU seconds per scored row: the scoring `aiforge predict` runs on every chunk (`score_frame`: encoding, LightGBM,
labels and probabilities into Arrow), on one thread, over 1M generated rows of the shape run.py scores (8 inputs,
--keep id). CPU time, unlike wall time, hardly depends on what else the machine runs; docs/scaling.md uses it.

    .venv/bin/python benchmarks/scale/cpu_per_row.py
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the thread setting)
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from aiforge.evaluate import METRICS  # noqa: E402
from aiforge.learn import choose_features, resolve_task, select_and_fit  # noqa: E402
from aiforge.serve._batch import score_frame  # noqa: E402
from aiforge.spec import EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind  # noqa: E402

ROWS = 1_000_000
CHUNK = 200_000


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=n) for i in range(6)}
    colour = np.array(["red", "green", "blue", "grey"])[rng.integers(0, 4, n)]
    signal = cols["x0"] * 2 + np.sin(3 * cols["x1"]) + cols["x2"] * cols["x3"] + (colour == "red")
    return pd.DataFrame({"id": np.arange(n), **cols, "colour": colour,
                         "y": np.where(signal + rng.normal(scale=0.8, size=n) > 0.3, "yes", "no")})


def main() -> None:
    train = table(16_000, 1).drop(columns="id")
    arrow = pa.Table.from_pandas(train, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), arrow, where="bench")
    spec = ModelSpec(learners=["lightgbm"], seed=1, n_jobs=1, ensemble=EnsembleSpec(enabled=False),
                     search=SearchSpec(strategy="defaults", cv=3))
    model, _ = select_and_fit(train.drop(columns="y"), train["y"], task, choose_features(arrow, "y"), spec,
                              METRICS["roc_auc"].objective())
    rows = table(ROWS, 3).drop(columns="y")
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(rows), CHUNK):
        score_frame(model, rows.iloc[start:start + CHUNK], ["id"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"rows": ROWS, "chunk_rows": CHUNK, "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
                      "rows_per_cpu_second": round(ROWS / cpu), "microseconds_per_row": round(1e6 * cpu / ROWS, 1),
                      "load": [round(x, 1) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
