"""The prediction log: every prediction the server makes, appended to the workspace off the request path.

A request hands its validated input columns, outputs and ids to ``PredictionLog.append`` (a list
append under a lock, no per-row work); a background thread turns them into rows and writes one Parquet
file per flush (every ``flush_seconds`` or ``flush_rows`` rows, whichever comes first) under
``<workspace>/predictions/<model>/<YYYY-MM-DD>/``, each written to a temporary name and renamed, so a
reader never sees half a file. ``close`` (the server's shutdown, on SIGTERM too) writes what is left.
Monitoring reads the files back with ``read_predictions``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "PredictionLog", "read_predictions"]

COLUMNS = ("id", "time", "model", "version", "latency_ms", "inputs", "label", "probabilities", "value", "role",
           "deployment")


@dataclass(frozen=True)
class _Batch:
    model: str
    version: int
    ids: list[str]
    columns: dict[str, list[Any]]
    labels: list[Any] | None
    probabilities: list[list[float]] | None
    classes: tuple[str, ...]
    values: list[float] | None
    at: float
    latency_ms: float
    role: str | None
    deployment: str | None


class PredictionLog:
    """Batched, durable, off the request path."""

    def __init__(self, folder: Path, *, flush_rows: int = 5000, flush_seconds: float = 1.0) -> None:
        self.folder = folder
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._pending: list[_Batch] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._sequence = 0
        self.written_rows = 0
        self._thread = threading.Thread(target=self._run, name="aiforge-prediction-log", daemon=True)
        self._thread.start()

    def append(self, *, model: str, version: int, ids: list[str], columns: dict[str, list[Any]],
               labels: list[Any] | None, probabilities: Any, classes: tuple[str, ...], values: list[float] | None,
               latency_ms: float, role: str | None = None, deployment: str | None = None) -> None:
        """``role``: ``champion``, ``challenger`` or ``shadow`` while ``deployment`` is active, else None."""
        batch = _Batch(model, version, ids, columns, labels,
                       probabilities.tolist() if probabilities is not None else None, classes, values, time.time(),
                       latency_ms, role, deployment)
        with self._lock:
            if self._closed:
                raise RuntimeError("the prediction log is closed")
            self._pending.append(batch)
            self._rows += len(ids)
            full = self._rows >= self.flush_rows
        if full:
            self._wake.set()

    def close(self) -> None:
        """Write everything appended so far and stop the writer."""
        with self._lock:
            self._closed = True
        self._wake.set()
        self._thread.join()
        self._flush()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._flush()
            with self._lock:
                if self._closed:
                    return

    def _flush(self) -> None:
        with self._lock:
            batches, self._pending, self._rows = self._pending, [], 0
        by_model: dict[str, list[_Batch]] = {}
        for b in batches:
            by_model.setdefault(b.model, []).append(b)
        for model, group in by_model.items():
            self._write(model, group)

    def _write(self, model: str, batches: list[_Batch]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows: dict[str, list[Any]] = {k: [] for k in ("id", "time", "model", "version", "latency_ms", "inputs",
                                                      "label", "probabilities", "value", "role", "deployment")}
        for b in batches:
            names = list(b.columns)
            for i, ident in enumerate(b.ids):
                rows["id"].append(ident)
                rows["time"].append(datetime.fromtimestamp(b.at, UTC))
                rows["model"].append(b.model)
                rows["version"].append(b.version)
                rows["latency_ms"].append(b.latency_ms)
                rows["inputs"].append(json.dumps({n: b.columns[n][i] for n in names}, default=str))
                rows["label"].append(None if b.labels is None else str(b.labels[i]))
                rows["probabilities"].append(None if b.probabilities is None else json.dumps(
                    dict(zip(b.classes, b.probabilities[i], strict=True))))
                rows["value"].append(None if b.values is None else float(b.values[i]))
                rows["role"].append(b.role)
                rows["deployment"].append(b.deployment)
        if not rows["id"]:
            return
        table = pa.table({
            "id": pa.array(rows["id"], pa.string()), "time": pa.array(rows["time"], pa.timestamp("us", tz="UTC")),
            "model": pa.array(rows["model"], pa.string()), "version": pa.array(rows["version"], pa.int64()),
            "latency_ms": pa.array(rows["latency_ms"], pa.float64()), "inputs": pa.array(rows["inputs"], pa.string()),
            "label": pa.array(rows["label"], pa.string()),
            "probabilities": pa.array(rows["probabilities"], pa.string()),
            "value": pa.array(rows["value"], pa.float64()),
            "role": pa.array(rows["role"], pa.string()), "deployment": pa.array(rows["deployment"], pa.string()),
        })
        day = datetime.now(UTC)
        folder = self.folder / model / f"{day:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"{day:%H%M%S%f}-{os.getpid()}-{self._sequence:06d}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / name)
        self.written_rows += table.num_rows


def read_predictions(folder: Path, model: str) -> pd.DataFrame:
    """Every logged prediction of ``model`` under ``folder`` (the workspace's ``predictions``), oldest first."""
    import pandas as pd
    import pyarrow.parquet as pq

    files = sorted((folder / model).glob("*/*.parquet"))
    if not files:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    for column in COLUMNS:  # files written before a column existed
        if column not in frame:
            frame[column] = None
    return frame.sort_values("time", kind="stable").reset_index(drop=True)
