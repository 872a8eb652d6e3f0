"""Which path serves a model, chosen on evidence at registration.

The candidates are the native fast path (``compile_model``) and, when the estimator converts to ONNX,
ONNX Runtime over the same encoder. Both are run on real rows (the test set): ONNX Runtime serves only
if it agrees with the native model within ``tolerance`` and is not slower for one row, the case a
server meets most. The record of the choice (paths, parities, latencies, the reason) goes into the
version's lineage as ``inference``; the ONNX model is registered beside it when it serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.learn._compiled import ONNX_PATH, CompiledModel, compile_model
from aiforge.learn._model import TabularModel
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["PROBABILITY_TOLERANCE", "VALUE_TOLERANCE", "InferencePlan", "plan_inference"]

PROBABILITY_TOLERANCE = 1e-5  # classification: largest absolute difference of a probability
VALUE_TOLERANCE = 1e-5  # regression: largest absolute difference relative to the largest |value| (at least 1)
BATCH_ROWS = 1000
ONE_ROW_REPEATS = 200  # timed single-row predictions per path (fewer when ``seconds`` runs out)
BATCH_REPEATS = 7


@dataclass(frozen=True)
class InferencePlan:
    """``record``: what the lineage keeps as ``inference``; ``onnx``: the ONNX model to register with the
    version when ONNX Runtime serves (else ``None``)."""

    record: dict[str, Any]
    onnx: bytes | None

    @property
    def path(self) -> str:
        return str(self.record["path"])


def plan_inference(model: Any, rows: pd.DataFrame, *, seconds: float = 1.0,
                   tolerance: float | None = None) -> InferencePlan:
    """Measure the native fast path and ONNX Runtime on ``rows`` (parity with ``model.raw_output``; one-row
    and batch latency, timed for about ``seconds`` in all) and choose the one that serves. ``tolerance``:
    the largest difference ONNX Runtime may show (default: ``PROBABILITY_TOLERANCE`` for probabilities,
    ``VALUE_TOLERANCE`` times the largest value, at least 1, for regression)."""
    import numpy as np

    native = compile_model(model)
    if getattr(model, "task", None) is TaskKind.TEXT_GENERATION:  # texts, no numbers to compare: itself serves
        return InferencePlan({"path": native.path, "parity_rows": 0, "reason": f"{native.path}: a text "
                              "generator serves itself (no ONNX conversion of generation)"}, None)
    columns = {c: rows[c].tolist() for c in model.input_columns}
    reference = np.asarray(model.raw_output(rows), dtype=float)
    if tolerance is None:
        tolerance = _tolerance(getattr(model, "task", None), reference)
    record: dict[str, Any] = {"path": native.path, "parity_rows": len(rows),
                              "max_abs_diff": _diff(native, columns, reference), "tolerance": tolerance}
    candidates: dict[str, CompiledModel] = {"native_fast_path": native}
    onnx_model: bytes | None = None
    if native.native or not isinstance(model, TabularModel):
        onnx_record: dict[str, Any] = {"reason": f"only estimators behind aiforge's encoders convert; "
                                                 f"this model predicts through the {native.path} path"}
    elif not len(rows):
        onnx_record = {"reason": "no rows to check ONNX Runtime against the native model"}
    else:
        from aiforge.learn._onnx import convert_ensemble, convert_estimator

        started = time.perf_counter()
        if native.members:
            widths = [int(m.shape[1]) for m in native.encode_columns({c: v[:1] for c, v in columns.items()}, 1)]
            conversion = convert_ensemble([(m.estimator, m.prep, m.weight) for m in native.members], widths,
                                          model.task)
        else:
            conversion = convert_estimator(native.estimator, _width(native, columns))
        onnx_record = {"converter": conversion.converter}
        runtime = compile_model(model, onnx=conversion.model) if conversion.model is not None else None
        if conversion.model is None:
            onnx_record["reason"] = conversion.reason
        elif runtime is None or runtime.path != ONNX_PATH:
            onnx_record["reason"] = runtime.note if runtime is not None else "no ONNX Runtime session"
        else:
            onnx_model = conversion.model
            onnx_record.update(convert_seconds=round(time.perf_counter() - started, 3), bytes=len(onnx_model),
                               max_abs_diff=_diff(runtime, columns, reference))
            candidates["onnx"] = runtime
    latencies = _latencies(candidates, columns, len(rows), seconds)
    record["native_fast_path"] = {"path": native.path, "max_abs_diff": record["max_abs_diff"],
                                  "latency_ms": latencies["native_fast_path"]}
    record["onnx"] = onnx_record
    if "onnx" in latencies:
        onnx_record["latency_ms"] = latencies["onnx"]
    record["reason"] = _choose(record, tolerance)
    if record["reason"].startswith(ONNX_PATH):
        record.update(path=ONNX_PATH, max_abs_diff=onnx_record["max_abs_diff"])
        return InferencePlan(record, onnx_model)
    return InferencePlan(record, None)


def _choose(record: dict[str, Any], tolerance: float) -> str:
    """Why the path that serves does: ONNX Runtime when faithful and not slower, neither for one row (what a
    server meets most) nor for a batch (what batch scoring meets)."""
    onnx = record["onnx"]
    native_ms = record["native_fast_path"]["latency_ms"]["one_row_ms"]
    if "max_abs_diff" not in onnx:
        return f"{record['path']}: no ONNX model ({onnx['reason']})"
    if onnx["max_abs_diff"] is None:
        return f"{record['path']}: ONNX Runtime gave outputs that are not finite numbers"
    if not onnx["max_abs_diff"] <= tolerance:
        return (f"{record['path']}: ONNX Runtime differs from the native model by {onnx['max_abs_diff']:.3g} "
                f"(tolerance {tolerance:.3g})")
    onnx_ms = onnx["latency_ms"]["one_row_ms"]
    if onnx_ms > native_ms:
        return f"{record['path']}: ONNX Runtime is slower for one row ({onnx_ms:.3f} ms > {native_ms:.3f} ms)"
    rows = onnx["latency_ms"].get("batch_rows", 0)
    onnx_batch, native_batch = (path["latency_ms"].get("batch_ms", 0.0) for path in (onnx, record["native_fast_path"]))
    if rows > 1 and onnx_batch > native_batch:
        return (f"{record['path']}: ONNX Runtime is slower for a batch of {rows:,} rows ({onnx_batch:.3f} ms > "
                f"{native_batch:.3f} ms)")
    return (f"{ONNX_PATH}: within tolerance ({onnx['max_abs_diff']:.3g} <= {tolerance:.3g}) and not slower than "
            f"the {record['path']} for one row ({onnx_ms:.3f} ms <= {native_ms:.3f} ms)"
            + (f" or a batch of {rows:,} ({onnx_batch:.3f} ms <= {native_batch:.3f} ms)" if rows > 1 else ""))


def _tolerance(task: Any, reference: np.ndarray) -> float:
    import numpy as np

    if task is TaskKind.REGRESSION:
        scale = float(np.max(np.abs(reference))) if reference.size else 1.0
        return VALUE_TOLERANCE * max(1.0, scale)
    return PROBABILITY_TOLERANCE


def _diff(compiled: CompiledModel, columns: dict[str, list[Any]], reference: np.ndarray) -> float | None:
    """The largest absolute difference from ``reference`` (``None`` when not finite: NaN is no JSON number)."""
    import math

    import numpy as np

    rows = len(reference)
    if rows == 0:
        return 0.0
    out = np.asarray(compiled.raw_output_columns(columns, rows), dtype=float)
    largest = float(np.max(np.abs(out - reference)))
    return largest if math.isfinite(largest) else None


def _width(compiled: CompiledModel, columns: dict[str, list[Any]]) -> int:
    """How many columns the encoder gives (what the estimator reads)."""
    return int(compiled.prep.transform_columns({c: v[:1] for c, v in columns.items()}, 1).shape[1])


def _latencies(paths: dict[str, CompiledModel], columns: dict[str, list[Any]], rows: int,
               seconds: float) -> dict[str, dict[str, Any]]:
    """Median milliseconds per call of each path: one row (cycling through the first rows) and a batch of
    up to ``BATCH_ROWS``. The paths take turns, so that a busy machine slows them alike."""
    batch = min(BATCH_ROWS, rows)
    singles = [{c: v[i:i + 1] for c, v in columns.items()} for i in range(min(rows, 50))]
    chunk = {c: v[:batch] for c, v in columns.items()}
    one: dict[str, list[float]] = {name: [] for name in paths}
    many: dict[str, list[float]] = {name: [] for name in paths}
    if rows:
        for p in paths.values():  # warm up (first calls allocate)
            p.raw_output_columns(singles[0], 1)
            p.raw_output_columns(chunk, batch)
        _alternate(paths, lambda p, i: p.raw_output_columns(singles[i % len(singles)], 1), one,
                   ONE_ROW_REPEATS, seconds / 2, at_least=5)
        _alternate(paths, lambda p, i: p.raw_output_columns(chunk, batch), many, BATCH_REPEATS, seconds / 2,
                   at_least=1)
    return {name: {"one_row_ms": _median_ms(one[name]), "batch_rows": batch, "batch_ms": _median_ms(many[name]),
                   "batch_per_row_ms": round(_median_ms(many[name]) / batch, 6) if batch else 0.0} for name in paths}


def _alternate(paths: dict[str, CompiledModel], call: Callable[[CompiledModel, int], Any],
               times: dict[str, list[float]], repeats: int, seconds: float, *, at_least: int) -> None:
    """Time ``call`` on each path in turn, ``repeats`` times or until ``seconds`` have passed (but at least
    ``at_least`` times)."""
    deadline = time.perf_counter() + seconds
    for i in range(repeats):
        for name, p in paths.items():
            started = time.perf_counter()
            call(p, i)
            times[name].append(time.perf_counter() - started)
        if i + 1 >= at_least and time.perf_counter() > deadline:
            break


def _median_ms(times: list[float]) -> float:
    import statistics

    return round(statistics.median(times) * 1e3, 4) if times else 0.0
