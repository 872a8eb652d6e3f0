"""What compression cost and saved: size, latency and accuracy of the model before and after, on the test split.

``compression_result`` measures both models the same way and returns a ``CheckResult`` named
``compression``, whose figures a KPI can gate on (``compression_accuracy_drop <= 0.01``):

- **size**: bytes of the pickled estimator (what the registry stores: the network's ``state_dict`` and the
  estimator's fitted state), the same gzip-compressed (unstructured pruning leaves the size of dense tensors
  as it was, but their zeros compress), and the parameters, all and not zero;
- **latency**: the estimator alone on the encoded test rows (the encoder is the same before and after), on
  one thread as a server runs it: the median milliseconds of a one-row prediction, and of a batch of 1000
  rows (test rows drawn again when there are fewer); the two models take turns, so load hits both alike;
- **accuracy** (classification) and the run's primary metric, on the whole test split.

It is not one of the checks every run makes (``evaluate._checks.CHECKS``): the pipeline's ``compress`` stage
calls it when ``model.compress`` is set. Its figures are registered in ``CHECK_METRICS``, so that KPIs can
name them and the gate says "the compression check did not measure it" when no compression ran.
"""

from __future__ import annotations

import copy
import gzip
import pickle
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CHECK_METRICS, CheckMetric, CheckResult
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.evaluate._metrics import Metric
    from aiforge.learn import TabularModel

__all__ = ["COMPRESSION_METRICS", "compression_result", "compression_skipped"]

CHECK = "compression"
BATCH_ROWS = 1000
ONE_ROW_REPEATS = 100
BATCH_REPEATS = 5
SECONDS = 2.0  # time the latencies may take in all, about

_HINT = ("prune less (model.compress.prune), add fine_tune_epochs, use structured: false, or quantize: dynamic "
         "instead of static")
COMPRESSION_METRICS = [
    CheckMetric("compression_accuracy_drop", CHECK, False, "Test accuracy before compression minus after "
                "(classification; positive: the compressed model is less accurate)", hint=_HINT),
    CheckMetric("compression_score_drop", CHECK, False, "How much the primary metric got worse through compression "
                "(before minus after when higher is better, after minus before when lower is)", hint=_HINT),
    CheckMetric("compression_size_ratio", CHECK, False, "Bytes of the compressed estimator over those of the "
                "original", hint="prune more, structured: true, or quantize"),
    CheckMetric("compression_speedup", CHECK, True, "Milliseconds per 1000 rows before over after (above 1: the "
                "compressed network is faster)", hint="structured: true (narrower layers), or quantize: static or "
                "dynamic; unstructured sparsity alone is no faster", timed=True),
]
for _metric in COMPRESSION_METRICS:
    CHECK_METRICS[_metric.name] = _metric


def compression_skipped(reason: str) -> CheckResult:
    """The result when ``model.compress`` is set but there was nothing to compress (``reason`` says why)."""
    return CheckResult(CHECK, "skipped", reason=reason)


def compression_result(before: TabularModel, after: TabularModel, test: pd.DataFrame, target: str,
                       primary: Metric, record: dict[str, Any], *, seed: int = 0) -> CheckResult:
    """Size, latency and accuracy of ``before`` and ``after`` (the same model compressed) on the ``test``
    rows, as a ``compression`` check result; ``record`` (what compression did) goes into its details."""
    import numpy as np

    from aiforge.evaluate._metrics import compute_metrics

    started = time.perf_counter()
    y = before.encode_target(test[target])
    models = {"before": before, "after": after}
    estimators = {name: _serving_copy(m.pipeline.named_steps["model"]) for name, m in models.items()}
    encoded = before.pipeline.named_steps["prep"].transform(test[before.features.columns])
    rng = np.random.default_rng(seed)
    batch = encoded[rng.choice(len(encoded), size=BATCH_ROWS, replace=len(encoded) < BATCH_ROWS)]
    latency = _latencies(estimators, encoded, batch, before.task)
    rows: list[dict[str, Any]] = []
    for name, model in models.items():
        estimator = models[name].pipeline.named_steps["model"]
        stored = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        parameters, nonzero = _parameters(estimator)
        scores = compute_metrics(model.task, y, model.raw_output(test), getattr(model, "threshold", 0.5))
        row: dict[str, Any] = {"model": name, "bytes": len(stored), "gzip_bytes": len(gzip.compress(stored, 6)),
                               "parameters": parameters, "nonzero_parameters": nonzero,
                               "ms_per_row": latency[name]["one_row_ms"],
                               "ms_per_1000_rows": latency[name]["batch_ms"]}
        if model.task.is_classification:
            row["accuracy"] = scores["accuracy"]
        row[primary.name] = scores[primary.name]
        rows.append(row)
    first, last = rows
    worse = first[primary.name] - last[primary.name] if primary.higher_is_better else (
        last[primary.name] - first[primary.name])
    metrics = {"compression_score_drop": float(worse),
               "compression_size_ratio": last["bytes"] / first["bytes"],
               "compression_speedup": (first["ms_per_1000_rows"] / last["ms_per_1000_rows"]
                                       if last["ms_per_1000_rows"] > 0 else float("nan"))}
    if "accuracy" in first:
        metrics = {"compression_accuracy_drop": float(first["accuracy"] - last["accuracy"]), **metrics}
    details = {"before_and_after": rows, "compression": record, "test_rows": len(test),
               "latency": f"the estimator on the encoded rows, one thread: median of up to {ONE_ROW_REPEATS} "
                          f"one-row calls and {BATCH_REPEATS} batches of {BATCH_ROWS} rows, the models in turn"}
    method = (f"both models on the {len(test)} test rows: pickled bytes, one-thread latency of the estimator "
              f"(1 row, {BATCH_ROWS} rows), {'accuracy and ' if 'accuracy' in first else ''}{primary.name}")
    return CheckResult(CHECK, "ok", metrics=metrics, details=details, method=method,
                       seconds=round(time.perf_counter() - started, 3))


def _serving_copy(estimator: Any) -> Any:
    """The estimator as a server runs it: one thread (the registered copy is left as it is)."""
    served = copy.copy(estimator)
    if "n_jobs" in served.get_params():
        served.set_params(n_jobs=1)
    return served


def _parameters(estimator: Any) -> tuple[int | None, int | None]:
    module = getattr(estimator, "module_", None)
    if module is None:
        return None, None
    from aiforge.deep._compress import count_parameters

    return count_parameters(module)


def _latencies(estimators: dict[str, Any], encoded: np.ndarray, batch: np.ndarray,
               task: TaskKind) -> dict[str, dict[str, float]]:
    """Median milliseconds of a one-row prediction (cycling through the first test rows) and of ``batch``, for
    each estimator, taking turns (each first in every other turn: the first call of a turn pays for the cache
    the other left behind)."""
    def predict(estimator: Any) -> Callable[[np.ndarray], Any]:
        return estimator.predict if task is TaskKind.REGRESSION else estimator.predict_proba

    calls = {name: predict(e) for name, e in estimators.items()}
    singles = [encoded[i:i + 1] for i in range(min(len(encoded), 50))]
    for call in calls.values():  # warm-up: the first calls allocate
        call(singles[0])
        call(batch)
    one: dict[str, list[float]] = {name: [] for name in calls}
    many: dict[str, list[float]] = {name: [] for name in calls}
    deadline = time.perf_counter() + SECONDS / 2
    names = list(calls)
    for i in range(ONE_ROW_REPEATS):
        for name in names[i % 2:] + names[:i % 2]:  # each model first in every other turn
            t = time.perf_counter()
            calls[name](singles[i % len(singles)])
            one[name].append(time.perf_counter() - t)
        if i >= 5 and time.perf_counter() > deadline:
            break
    deadline = time.perf_counter() + SECONDS / 2
    for i in range(BATCH_REPEATS):
        for name in names[i % 2:] + names[:i % 2]:
            t = time.perf_counter()
            calls[name](batch)
            many[name].append(time.perf_counter() - t)
        if i >= 1 and time.perf_counter() > deadline:
            break
    return {name: {"one_row_ms": round(statistics.median(one[name]) * 1e3, 4),
                   "batch_ms": round(statistics.median(many[name]) * 1e3, 4)} for name in calls}
