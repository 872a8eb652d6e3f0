"""The prediction log: every prediction the server makes, appended to the workspace off the request path.

A request hands its validated input columns, outputs and ids to ``PredictionLog.append`` (a list
append under a lock, no per-row work); a background thread turns each flush (every ``flush_seconds`` or
``flush_rows`` rows, whichever comes first) into Arrow columns and writes one Parquet file per model under
``<workspace>/predictions/<model>/<YYYY-MM-DD>/<HHMMSSffffff>-<pid>-<sequence>.parquet`` (the day and time
of the flush, so no row in a file is newer than its name), each written to a temporary name and renamed,
so a reader never sees half a file. ``close`` (the server's shutdown, on SIGTERM too) writes what is left.

A file holds the log columns (``COLUMNS``) and one typed column per input, ``in.<name>``: float64 for a
number, text for a category. A new version with other inputs simply writes other ``in.`` columns; readers
unify the files (an input a file lacks reads as null). Logs written before typed inputs hold them as one
JSON text column ``inputs``; they are decoded into the same ``in.`` columns when read.

Every ``compact_seconds`` a background thread merges the files of each hour into one
(``monitor/_compact.py``), so a window opens a few files, not one per flush.

``scan_log`` reads back only what a question needs: the day folders and files that can hold rows of the
period (from their names, without opening them), the row groups of a large file that can (from their
statistics), the columns asked for, and with ``last`` the newest files first until they hold enough rows.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["COLUMNS", "INPUT_PREFIX", "LogFile", "PredictionLog", "log_files", "read_predictions", "scan_log"]

COLUMNS = ("id", "time", "model", "version", "latency_ms", "label", "probabilities", "value", "role", "deployment")
INPUT_PREFIX = "in."  # an input's column in the log: ``in.age``
LEGACY_INPUTS = "inputs"  # the JSON text column that held every input before typed columns

# A file whose name says it was written this long before a window's start may still be read: it protects
# the pruning against a clock stepped back between a request and its flush.
CLOCK_SLACK = timedelta(minutes=5)
COMPACTED = "-compacted-"  # in the name of a file that merges an hour's files (``monitor/_compact.py``)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FLUSHED = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{6})-")


@dataclass(frozen=True)
class _Batch:
    model: str
    version: int
    ids: list[str]
    columns: Mapping[str, list[Any]]
    kinds: Mapping[str, str] | None
    labels: list[Any] | None
    probabilities: np.ndarray | None
    classes: tuple[str, ...]
    values: list[float] | None
    at: float
    latency_ms: float
    role: str | None
    deployment: str | None


class PredictionLog:
    """Batched, durable, off the request path."""

    def __init__(self, folder: Path, *, flush_rows: int = 5000, flush_seconds: float = 1.0,
                 compact_seconds: float | None = 600.0, clock: Callable[[], float] = time.time) -> None:
        """``compact_seconds``: how often a background thread merges the files flushed more than
        ``CLOCK_SLACK`` ago into one per hour (``monitor/_compact.py``; None: never); ``clock``: the time of
        a request and of a flush, in seconds since the epoch (tests and benchmarks give one that writes a
        log of past days)."""
        self.folder = folder
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.compact_seconds = compact_seconds
        self._clock = clock
        self._compacted_at: float | None = None
        self._compactor: threading.Thread | None = None
        self._pending: list[_Batch] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._sequence = 0
        self.written_rows = 0
        self._thread = threading.Thread(target=self._run, name="aiforge-prediction-log", daemon=True)
        self._thread.start()

    def append(self, *, model: str, version: int, ids: list[str], columns: Mapping[str, list[Any]],
               labels: list[Any] | None, probabilities: Any, classes: tuple[str, ...], values: list[float] | None,
               latency_ms: float, role: str | None = None, deployment: str | None = None,
               kinds: Mapping[str, str] | None = None) -> None:
        """``role``: ``champion``, ``challenger`` or ``shadow`` while ``deployment`` is active, else None.
        ``kinds``: per input ``number`` (stored as float64) or ``category`` (stored as text), as the
        model's schema says; without it each flush infers them from the values."""
        batch = _Batch(model, version, ids, columns, kinds, labels, probabilities, classes, values, self._clock(),
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
        self.flush()
        if self._compactor is not None:
            self._compactor.join()  # it stops between two files once the log is closed

    def flush(self) -> None:
        """Write everything appended so far now (the writer thread does it every ``flush_seconds``)."""
        with self._writing:
            self._flush()
            self._start_compaction()

    def _start_compaction(self) -> None:
        now = self._clock()
        if self.compact_seconds is None or self._closed or (self._compactor is not None
                                                             and self._compactor.is_alive()):
            return
        if self._compacted_at is not None and now - self._compacted_at < self.compact_seconds:
            return
        self._compacted_at = now
        self._compactor = threading.Thread(target=self._compact, args=(datetime.fromtimestamp(now, UTC),),
                                           name="aiforge-prediction-log-compaction", daemon=True)
        self._compactor.start()

    def _compact(self, now: datetime) -> None:
        from aiforge.monitor._compact import compact_log

        compact_log(self.folder, now=now, stop=lambda: self._closed)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
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
        import pyarrow.parquet as pq

        table = log_table(batches)
        if table is None:
            return
        day = datetime.fromtimestamp(self._clock(), UTC)
        folder = self.folder / model / f"{day:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"{day:%H%M%S%f}-{os.getpid()}-{self._sequence:06d}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / name)
        self.written_rows += table.num_rows


def log_table(batches: Sequence[_Batch]) -> pa.Table | None:
    """The batches as one Arrow table: the log columns, then the inputs as typed ``in.`` columns. Columnar
    throughout: the per-batch values (time, version, role...) are repeated by index, not row by row."""
    import numpy as np
    import pyarrow as pa

    counts = np.array([len(b.ids) for b in batches], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return None
    row_batch = pa.array(np.repeat(np.arange(len(batches)), counts))

    def repeated(values: list[Any], type_: pa.DataType) -> pa.Array:
        return pa.array(values, type_).take(row_batch)

    columns: dict[str, Any] = {
        "id": pa.array([i for b in batches for i in b.ids], pa.string()),
        "time": pa.array(np.repeat(np.array([round(b.at * 1e6) for b in batches], dtype=np.int64), counts),
                         pa.timestamp("us", tz="UTC")),
        "model": repeated([b.model for b in batches], pa.string()),
        "version": repeated([b.version for b in batches], pa.int64()),
        "latency_ms": repeated([b.latency_ms for b in batches], pa.float64()),
        "label": _by_runs(batches, lambda b: b.labels is not None, lambda run, n: _text(
            list(chain.from_iterable(b.labels for b in run if b.labels is not None))), pa.string()),
        "probabilities": _by_runs(batches, lambda b: None if b.probabilities is None else b.classes,
                                  _probabilities, pa.string()),
        "value": _by_runs(batches, lambda b: b.values is not None, lambda run, n: pa.array(
            list(chain.from_iterable(b.values for b in run if b.values is not None)), pa.float64(),
            from_pandas=True), pa.float64()),
        "role": repeated([b.role for b in batches], pa.string()),
        "deployment": repeated([b.deployment for b in batches], pa.string()),
    }
    # Batches in a row with the same inputs and kinds (a server's requests to one model: the same schema) form
    # one run, found in one pass; each input of a run is then one Arrow conversion, whatever its batches.
    runs = _runs(batches, lambda b: (tuple(b.columns), id(b.kinds)))
    lengths = [sum(len(b.ids) for b in run) for _, run in runs]
    inputs = [[b.columns for b in run] for _, run in runs]
    for name in dict.fromkeys(n for (names, _), _run in runs for n in names):
        pick = itemgetter(name)
        chunks = [_input(list(chain.from_iterable(map(pick, held))), (run[0].kinds or {}).get(name))
                  if name in run[0].columns else None for (_, run), held in zip(runs, inputs, strict=True)]
        columns[INPUT_PREFIX + name] = _concat_inputs(chunks, lengths)
    return pa.table(columns)


def _runs(batches: Sequence[_Batch], key: Callable[[_Batch], Any]) -> list[tuple[Any, list[_Batch]]]:
    """Consecutive batches with the same ``key``: each run becomes one Arrow call, not one per request."""
    runs: list[tuple[Any, list[_Batch]]] = []
    for b in batches:
        k = key(b)
        if runs and runs[-1][0] == k:
            runs[-1][1].append(b)
        else:
            runs.append((k, [b]))
    return runs


def _by_runs(batches: Sequence[_Batch], key: Callable[[_Batch], Any],
             build: Callable[[list[_Batch], int], pa.Array], type_: pa.DataType) -> pa.Array:
    """One column from runs of batches: ``build(run, rows)`` where ``key`` is truthy, nulls elsewhere."""
    import pyarrow as pa

    chunks = []
    for k, run in _runs(batches, key):
        n = sum(len(b.ids) for b in run)
        chunks.append(build(run, n) if k else pa.nulls(n, type_))
    return _concat(chunks, type_)


def _concat(chunks: list[pa.Array], type_: pa.DataType) -> pa.Array:
    import pyarrow as pa

    return chunks[0] if len(chunks) == 1 else pa.concat_arrays([c.cast(type_) for c in chunks])


def _text(values: Sequence[Any]) -> pa.Array:
    """Labels and categories as text (``str`` of a number or a boolean, as the JSON log read them); NaN
    is a missing value, as in pandas."""
    import pyarrow as pa

    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([v if v is None or type(v) is str else None if v != v else str(v) for v in values],
                        pa.string())


def _numbers(values: Sequence[Any]) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    try:
        return pa.array(values, pa.float64(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # an integer beyond int64 (the schema allows up to 1.8e308)
        return pa.array(np.array(values, dtype=np.float64), pa.float64(), from_pandas=True)


def _input(values: Sequence[Any], kind: str | None) -> pa.Array:
    """One batch's input column: typed by the schema's ``kind``, else inferred (numbers, else text)."""
    import pyarrow as pa

    if kind == "number":
        return _numbers(values)
    if kind is not None:
        return _text(values)
    try:
        inferred = pa.array(values, from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return _text(values)
    t = inferred.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    return inferred if numeric or pa.types.is_string(t) or pa.types.is_null(t) else _text(values)


def settle_type(types: Collection[pa.DataType]) -> pa.DataType:
    """The one type of an input stored with ``types`` (in batches or files): float64 for numbers, text
    when they disagree (a category some batches sent as numbers)."""
    import pyarrow as pa

    kept = {t for t in types if not pa.types.is_null(t)}
    if kept and all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in kept):
        return pa.float64()
    return kept.pop() if len(kept) == 1 else pa.string() if kept else pa.null()


def _concat_inputs(chunks: list[pa.Array | None], lengths: list[int]) -> pa.Array:
    """The batches' chunks of one input as one column (null where a batch lacks it); text when batches
    disagree on its type (inferred kinds only)."""
    import pyarrow as pa

    type_ = settle_type([c.type for c in chunks if c is not None])
    return pa.concat_arrays([pa.nulls(n, type_) if c is None else to_type(c, type_) for c, n in zip(chunks, lengths,
                                                                                                   strict=True)])


def to_type(array: pa.Array, type_: pa.DataType) -> pa.Array:
    import pyarrow as pa

    if array.type == type_:
        return array
    if pa.types.is_string(type_) and not pa.types.is_null(array.type):
        return _text(array.to_pylist())
    return array.cast(type_)


def _probabilities(run: list[_Batch], rows: int) -> pa.Array:
    """Each row's probabilities (a run of batches of the same classes) as a JSON object
    ``{"class": p, ...}``, built by column: Arrow writes each float in its shortest form that reads back
    exactly."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    proba = np.concatenate([np.asarray(b.probabilities, dtype=np.float64) for b in run])
    parts: list[Any] = []
    for j, key in enumerate(run[0].classes):
        parts += [("{" if j == 0 else ", ") + json.dumps(str(key)) + ": ", pa.array(proba[:, j]).cast(pa.string())]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """One file of the log and when it was flushed (from its folder and name; None if they do not say):
    none of its rows is newer."""

    path: Path
    flushed: datetime | None


def log_files(folder: Path, model: str, *, since: datetime | None = None) -> list[LogFile]:
    """The files of ``model``'s log, oldest flush first, without opening any: with ``since``, only those in
    day folders and with names that can hold a row at or after it."""
    root = folder / model
    if not root.is_dir():
        return []
    files = []
    for day in os.scandir(root):
        if not day.is_dir():
            continue
        when = parse_day(day.name)
        if since is not None and when is not None and _midnight(when) + timedelta(days=1) + CLOCK_SLACK <= since:
            continue  # partition pruning: the whole day was flushed before the window starts
        files += [f for f in day_files(Path(day.path), when)
                  if since is None or f.flushed is None or f.flushed + CLOCK_SLACK >= since]
    newest = datetime.max.replace(tzinfo=UTC)
    files.sort(key=lambda f: (f.flushed or newest, f.path.parent.name, f.path.name))
    return files


def day_files(path: Path, day: date | None) -> list[LogFile]:
    """The files of one day folder to read: for each hour of flush with a compacted file, its newest
    compacted file and the hour's files flushed after it (a compaction stopped before deleting what it
    merged leaves no duplicate); every file of the other hours."""
    hours: dict[str, list[str]] = {}
    for entry in os.scandir(path):
        n = entry.name
        if not n.startswith(".") and n.endswith(".parquet"):
            hours.setdefault(n[:2] if _FLUSHED.match(n) else "", []).append(n)
    names = []
    for hour, group in hours.items():
        compacted = sorted(n for n in group if COMPACTED in n)
        if hour and compacted:
            covered = flushed_at(day, compacted[-1])
            group = [compacted[-1], *(n for n in group if COMPACTED not in n and (
                covered is None or (f := flushed_at(day, n)) is None or f > covered))]
        names += group
    return [LogFile(path / n, flushed_at(day, n)) for n in names]


def parse_day(name: str) -> date | None:
    match = _DAY.match(name)
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def flushed_at(day: date | None, name: str) -> datetime | None:
    match = _FLUSHED.match(name)
    if day is None or match is None:
        return None
    h, m, s, us = (int(g) for g in match.groups())
    try:
        return _midnight(day).replace(hour=h, minute=m, second=s, microsecond=us)
    except ValueError:
        return None


def scan_log(folder: Path, model: str, *, columns: Collection[str] | None = None, inputs: bool = True,
             since: datetime | None = None, version: int | None = None, answered_only: bool = False,
             last: int | None = None, threads: int | None = None) -> pa.Table:
    """``model``'s logged rows as one Arrow table sorted by time (stable): the log ``columns`` asked for
    (default all of ``COLUMNS``) and, with ``inputs``, every ``in.`` column of the files that gave rows.
    ``since``: rows at or after it; ``version``: that version's rows; ``answered_only``: not the shadow
    copies; ``last``: the newest ``last`` of those, reading the newest files first and stopping as soon as
    the files left are older than the rows found."""

    wanted = list(COLUMNS if columns is None else [c for c in COLUMNS if c in columns or c == "time"])
    files = log_files(folder, model, since=since)

    def read(file: LogFile) -> pa.Table:
        return _read_file(file.path, wanted, inputs=inputs, since=since, version=version,
                          answered_only=answered_only)

    for attempt in range(3):
        try:
            with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 1)) as pool:
                tables = list(pool.map(read, files)) if last is None else _newest_first(files, read, pool, last)
            break
        except FileNotFoundError:  # a compaction merged and deleted a file after it was listed: list again
            if attempt == 2:
                raise
            files = log_files(folder, model, since=since)
    table = _unify([t for t in tables if t.num_rows], wanted)
    table = _by_time(table)
    if last is not None and table.num_rows > last:
        table = table.slice(table.num_rows - last)
    return table


def _newest_first(files: list[LogFile], read: Any, pool: ThreadPoolExecutor, last: int) -> list[pa.Table]:
    """Read files newest first, a growing chunk at a time, until ``last`` rows are found and every file
    left was flushed before the ``last``-th newest of them (so it cannot hold a newer row)."""
    import numpy as np

    tables: list[pa.Table] = []
    rows, i, step = 0, len(files), 2
    while i > 0:
        chunk = files[max(0, i - step):i]
        i -= len(chunk)
        step *= 2
        tables[:0] = list(pool.map(read, chunk))
        rows += sum(t.num_rows for t in tables[:len(chunk)])
        if rows >= last and i > 0:
            flushed = files[i - 1].flushed
            times = np.concatenate([t["time"].to_numpy().astype("datetime64[us]").astype(np.int64)
                                    for t in tables if t.num_rows])
            cutoff = int(np.partition(times, len(times) - last)[len(times) - last])
            if flushed is not None and (flushed + CLOCK_SLACK).timestamp() * 1e6 < cutoff:
                break
    return tables


def _by_time(table: pa.Table) -> pa.Table:
    """The rows in time order, ties in their order (files oldest first, then rows as written)."""
    import pyarrow.compute as pc

    times = table["time"].to_numpy()
    if len(times) < 2 or bool((times[1:] >= times[:-1]).all()):
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("time", "ascending")]))  # Arrow's sort is stable


def _read_file(path: Path, wanted: list[str], *, inputs: bool, since: datetime | None, version: int | None,
               answered_only: bool) -> pa.Table:
    """The rows of one file that pass the filters, with the ``wanted`` log columns it has and its inputs
    as ``in.`` columns (decoded from JSON for a file of the old format)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    present = parquet.schema_arrow.names
    filters = [c for c, on in (("time", since is not None), ("version", version is not None),
                               ("role", answered_only)) if on and c in present]
    names = [c for c in present if c in wanted or c in filters
             or (inputs and (c.startswith(INPUT_PREFIX) or c == LEGACY_INPUTS))]
    groups = _row_groups(parquet, since)
    if not groups:
        return pa.table({})
    big = parquet.metadata.num_rows > 100_000  # a compacted file: decode its columns in parallel
    table = parquet.read_row_groups(groups, columns=names, use_threads=big)
    mask = None
    if since is not None and "time" in present:
        mask = pc.greater_equal(table["time"], pa.scalar(since, pa.timestamp("us", tz="UTC")))
    if version is not None and "version" in present:
        mask = _and(mask, pc.equal(table["version"], version))
    if answered_only and "role" in present:
        mask = _and(mask, pc.invert(pc.fill_null(pc.equal(table["role"], "shadow"), False)))
    if mask is not None:
        table = table.filter(mask)
    table = table.select([c for c in table.column_names if c in wanted or c.startswith(INPUT_PREFIX)
                          or c == LEGACY_INPUTS])
    if LEGACY_INPUTS in table.column_names:
        table = _decode_legacy(table)
    return table


def _row_groups(parquet: Any, since: datetime | None) -> list[int]:
    """The row groups that can hold rows at or after ``since`` (by their statistics of ``time``)."""
    import pyarrow as pa

    metadata = parquet.metadata
    groups = list(range(metadata.num_row_groups))
    if since is None or len(groups) < 2 or "time" not in parquet.schema_arrow.names:
        return groups
    column = parquet.schema_arrow.get_field_index("time")
    bound = pa.scalar(since, pa.timestamp("us", tz="UTC")).value
    kept = []
    for g in groups:
        stats = metadata.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max or _micros(stats.max) >= bound:
            kept.append(g)
    return kept


def _micros(value: Any) -> int:
    """A timestamp statistic (a datetime, or an int of microseconds) as microseconds since the epoch."""
    if isinstance(value, datetime):
        return round((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1e6)
    return int(value)


def _and(mask: Any, other: Any) -> Any:
    import pyarrow.compute as pc

    return other if mask is None else pc.and_(mask, other)


def _decode_legacy(table: pa.Table) -> pa.Table:
    """A file of the old format: its JSON ``inputs`` as typed ``in.`` columns (numbers, else text; ``_unify``
    makes the numbers float64), so old and new files read alike."""
    texts = table[LEGACY_INPUTS].to_pylist()
    table = table.drop_columns([LEGACY_INPUTS])
    records = [json.loads(t) if t else {} for t in texts]
    names = list(dict.fromkeys(k for r in records for k in r))
    for name in names:
        table = table.append_column(INPUT_PREFIX + name, _input([r.get(name) for r in records], None))
    return table


def _unify(tables: list[pa.Table], wanted: list[str]) -> pa.Table:
    """One table from files of different schemas: every wanted log column (null where a file lacks it),
    then the inputs in order of first appearance; an input stored as numbers in some files and text in
    others reads as text."""
    import pyarrow as pa

    if not tables:
        return pa.table({c: pa.array([], log_types()[c]) for c in wanted})
    inputs = list(dict.fromkeys(c for t in tables for c in t.column_names if c.startswith(INPUT_PREFIX)))
    held = [dict(zip(t.schema.names, t.schema.types, strict=True)) for t in tables]
    types: dict[str, pa.DataType] = dict(log_types())
    for name in inputs:
        types[name] = settle_type({h[name] for h in held if name in h})
    order = [*wanted, *inputs]
    schema = pa.schema([(c, types[c]) for c in order])
    fitted = []
    for t, h in zip(tables, held, strict=True):
        if t.schema.equals(schema):
            fitted.append(t)
            continue
        fitted.append(pa.table([to_type(t[c], types[c]) if c in h else pa.nulls(t.num_rows, types[c]) for c in order],
                               schema=schema))
    return pa.concat_tables(fitted)


@functools.cache
def log_types() -> dict[str, Any]:
    """The log columns' Arrow types."""
    import pyarrow as pa

    return {"id": pa.string(), "time": pa.timestamp("us", tz="UTC"), "model": pa.string(), "version": pa.int64(),
            "latency_ms": pa.float64(), "label": pa.string(), "probabilities": pa.string(), "value": pa.float64(),
            "role": pa.string(), "deployment": pa.string()}


def read_predictions(folder: Path, model: str, *, columns: Collection[str] | None = None,
                     inputs: bool = True, since: datetime | None = None) -> pd.DataFrame:
    """Every logged prediction of ``model`` under ``folder`` (the workspace's ``predictions``), oldest first
    (with ``since``, those at or after it, reading only the files that can hold them): the log ``columns``
    (default all of ``COLUMNS``) and, with ``inputs``, one ``in.<name>`` column per input."""
    return scan_log(folder, model, columns=columns, inputs=inputs, since=since).to_pandas()
