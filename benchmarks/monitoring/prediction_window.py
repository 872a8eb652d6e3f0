"""What a monitoring window costs over a large prediction log (issue 6).

``write`` lays out a log of ``--rows`` predictions of a binary model over the 13 Adult inputs, spread evenly
over ``--days`` days up to now, in files of ``--rows-per-file`` rows (the server writes one file per flush),
either as the server writes it now (``--format typed``: one typed column per input) or as it did before
(``--format legacy``: the inputs as one JSON text column). ``time`` runs ``prediction_window`` once in this
process (a window of ``--period`` or the ``--last`` N) and prints its seconds, the peak resident memory,
and how many rows and files it read; ``compact`` merges each day folder into one file as the server's
log does in the background; ``flush`` times the writer thread's work per flush::

    python benchmarks/monitoring/prediction_window.py write --format typed --root /tmp/log
    python benchmarks/monitoring/prediction_window.py time --root /tmp/log --period 1d
    python benchmarks/monitoring/prediction_window.py compact --root /tmp/log
    python benchmarks/monitoring/prediction_window.py flush --rows 5000 --request-rows 10

Run each measurement in a fresh process (the peak memory is the process's); to time the code before the
change, put its ``src`` first on ``PYTHONPATH``: the ``legacy`` layout reads with both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
MODEL = "income"
REQUEST_ROWS = 10  # rows per request (one batch appended to the log)


def _rows(n: int, seed: int) -> pd.DataFrame:
    adult = pd.read_csv(ADULT).drop(columns=["income"])
    return adult.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)


def write(root: Path, rows: int, days: int, rows_per_file: int, layout: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _rows(rows, 0)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    kinds = {c: "number" if c in numeric else "category" for c in frame.columns}
    now = datetime.now(UTC)
    first = now - timedelta(days=days)
    times = first.timestamp() + np.arange(rows) * (days * 86400 / rows)  # evenly spread, oldest first
    proba = np.random.default_rng(0).random(rows)
    clock = [first.timestamp()]
    log = None
    if layout == "typed":
        from aiforge.monitor import PredictionLog

        log = PredictionLog(root / "predictions", flush_seconds=3600, flush_rows=rows + 1, compact_seconds=None,
                            clock=lambda: clock[0])
    columns = {c: frame[c].tolist() for c in frame.columns}
    started = time.perf_counter()
    for lo in range(0, rows, rows_per_file):
        hi = min(rows, lo + rows_per_file)
        flushed = datetime.fromtimestamp(times[hi - 1] + 0.5, UTC)
        if log is not None:  # requests of REQUEST_ROWS rows, as the server appends them, then one flush
            for a in range(lo, hi, REQUEST_ROWS):
                b = min(hi, a + REQUEST_ROWS)
                clock[0] = float(times[a])
                log.append(model=MODEL, version=1, ids=[f"p{i}" for i in range(a, b)],
                           columns={c: v[a:b] for c, v in columns.items()}, labels=["<=50K"] * (b - a),
                           probabilities=np.column_stack([1 - proba[a:b], proba[a:b]]), classes=("<=50K", ">50K"),
                           values=None, latency_ms=1.0, kinds=kinds)
            clock[0] = flushed.timestamp()
            log.flush()
            continue
        part = frame.iloc[lo:hi]  # the format of the writer before typed inputs, row by row as it did
        records = part.to_dict(orient="records")
        table = pa.table({
            "id": [f"p{i}" for i in range(lo, hi)],
            "time": pa.array([datetime.fromtimestamp(t, UTC) for t in times[lo:hi]], pa.timestamp("us", tz="UTC")),
            "model": [MODEL] * (hi - lo), "version": pa.array([1] * (hi - lo), pa.int64()),
            "latency_ms": [1.0] * (hi - lo), "inputs": [json.dumps(r, default=str) for r in records],
            "label": ["<=50K"] * (hi - lo),
            "probabilities": [json.dumps({"<=50K": 1 - p, ">50K": p}) for p in proba[lo:hi].tolist()],
            "value": pa.nulls(hi - lo, pa.float64()), "role": pa.nulls(hi - lo, pa.string()),
            "deployment": pa.nulls(hi - lo, pa.string()),
        })
        folder = root / "predictions" / MODEL / f"{flushed:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"{flushed:%H%M%S%f}-1-{lo // rows_per_file:06d}.parquet")
    if log is not None:
        log.close()
    files = list((root / "predictions" / MODEL).glob("*/*.parquet"))
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {rows} rows ({layout}) in {len(files)} files over {days} days: {size / 2**20:.1f} MiB, "
          f"{time.perf_counter() - started:.1f} s")


def compact(root: Path) -> None:
    from aiforge.monitor._compact import compact_log

    files = len(list((root / "predictions" / MODEL).glob("*/*.parquet")))
    started = time.perf_counter()
    merged = compact_log(root / "predictions", now=datetime.now(UTC) + timedelta(hours=1))
    print(f"compacted {merged} of {files} files in {time.perf_counter() - started:.1f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def flush_speed(rows: int, request_rows: int) -> None:
    """One flush of ``rows`` rows appended by requests of ``request_rows`` (best and median of 5): what the
    server's writer thread spends per flush. Adapts to the writer before typed inputs (no ``kinds``)."""
    import inspect
    import tempfile

    from aiforge.monitor import PredictionLog

    frame = _rows(rows, 0)
    columns = {c: frame[c].tolist() for c in frame.columns}
    kinds = {c: "number" if pd.api.types.is_numeric_dtype(frame[c]) else "category" for c in frame.columns}
    options = inspect.signature(PredictionLog).parameters
    log = PredictionLog(Path(tempfile.mkdtemp()), flush_seconds=3600, flush_rows=10**9,
                        **({"compact_seconds": None} if "compact_seconds" in options else {}))
    typed = {"kinds": kinds} if "kinds" in inspect.signature(log.append).parameters else {}
    seconds = []
    for rep in range(5):
        for a in range(0, rows, request_rows):
            b = min(rows, a + request_rows)
            log.append(model=MODEL, version=1, ids=[f"{rep}-{i}" for i in range(a, b)],
                       columns={c: v[a:b] for c, v in columns.items()}, labels=["<=50K"] * (b - a),
                       probabilities=np.full((b - a, 2), 0.5), classes=("<=50K", ">50K"), values=None,
                       latency_ms=1.0, **typed)
        started = time.perf_counter()
        log._flush()
        seconds.append(time.perf_counter() - started)
    log.close()
    print(f"a flush of {rows} rows from requests of {request_rows}: {min(seconds) * 1000:.0f} ms best of 5, "
          f"median {sorted(seconds)[2] * 1000:.0f} ms")


def measure(root: Path, period: str | None, last: int | None) -> None:
    import pyarrow.parquet as pq

    from aiforge.monitor import parse_period, prediction_window

    opened: list[str] = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counting = _count_parquet_opens(pq, opened)
    started = time.perf_counter()
    window = prediction_window(root / "predictions", MODEL, period=parse_period(period) if period else None,
                               last=last)
    seconds = time.perf_counter() - started
    counting()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"window": period or f"last {last}", "rows": len(window), "inputs": window.inputs.shape[1],
                      "seconds": round(seconds, 3), "peak_rss_mib": round(peak / 1024, 1),
                      "rss_growth_mib": round((peak - before) / 1024, 1), "files_opened": len(set(opened)),
                      "pid": os.getpid()}))


def _count_parquet_opens(pq: Any, opened: list[str]) -> Callable[[], None]:
    """Count the files the read opens (ParquetFile and read_table are how both versions open them)."""
    originals = {name: getattr(pq, name) for name in ("ParquetFile", "read_table")}

    def wrap(name: str) -> Callable[..., Any]:
        original = originals[name]

        def counted(source: Any, *args: Any, **kwargs: Any) -> Any:
            opened.append(str(source))
            return original(source, *args, **kwargs)
        return counted

    for name in originals:
        setattr(pq, name, wrap(name))

    def restore() -> None:
        for name, original in originals.items():
            setattr(pq, name, original)
    return restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("--root", type=Path, required=True)
    w.add_argument("--rows", type=int, default=1_000_000)
    w.add_argument("--days", type=int, default=5)
    w.add_argument("--rows-per-file", type=int, default=2000)
    w.add_argument("--format", choices=("typed", "legacy"), default="typed")
    t = sub.add_parser("time")
    t.add_argument("--root", type=Path, required=True)
    t.add_argument("--period", default=None)
    t.add_argument("--last", type=int, default=None)
    c = sub.add_parser("compact")
    c.add_argument("--root", type=Path, required=True)
    f = sub.add_parser("flush")
    f.add_argument("--rows", type=int, default=5000)
    f.add_argument("--request-rows", type=int, default=REQUEST_ROWS)
    args = parser.parse_args()
    if args.command == "write":
        write(args.root, args.rows, args.days, args.rows_per_file, args.format)
    elif args.command == "compact":
        compact(args.root)
    elif args.command == "flush":
        flush_speed(args.rows, args.request_rows)
    else:
        measure(args.root, args.period, args.last)


if __name__ == "__main__":
    main()
