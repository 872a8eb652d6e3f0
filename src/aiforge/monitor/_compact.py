"""Compaction of the prediction log: the many small files of a day folder (one per flush, up to one a
second) merged into one file per hour, so that a window opens a few files instead of tens of thousands.

A compaction merges the files of each hour of a day folder flushed at least ``CLOCK_SLACK`` ago (the hour's
previous compacted file, if any, and the flushes since) into ``<HHMMSSffffff>-compacted-<when>-<pid>.parquet``,
named by the newest flush it holds, in row groups of ``COMPACT_ROWS`` rows sorted by time; then it deletes
what it merged. Readers read each hour's newest compacted file and the files of the hour flushed after it,
so a compaction stopped half way (killed after the rename, before the deletions) leaves no duplicate. The
server's log compacts every ``compact_seconds`` (10 minutes), so a window reads at most a few minutes of
small files, and a rewrite never holds more than an hour of rows. One compactor at a time per folder (an
exclusive lock file; a lock older than ``STALE_LOCK`` is taken over). An hour holding a file of the old JSON
format is left as it is.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aiforge.monitor._predlog import (
    CLOCK_SLACK,
    COLUMNS,
    COMPACTED,
    INPUT_PREFIX,
    LEGACY_INPUTS,
    LogFile,
    day_files,
    flushed_at,
    log_types,
    parse_day,
    settle_type,
    to_type,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["COMPACT_ROWS", "compact_day", "compact_log"]

log = logging.getLogger("aiforge.monitor")

COMPACT_ROWS = 65_536  # rows per row group of a compacted file (its time statistics let windows skip some)
MERGE_TABLES = 256  # the small files' tables are merged by this many, which keeps the memory they hold low
STALE_LOCK = timedelta(hours=1)
_LOCK = ".compacting"


def compact_log(folder: Path, *, now: datetime, stop: Callable[[], bool] = lambda: False) -> int:
    """Compact every day folder of every model's log under ``folder`` that holds files flushed at least
    ``CLOCK_SLACK`` before ``now``; returns how many files were merged. A folder that fails (an unreadable
    file) is logged and left as it is."""
    merged = 0
    if not folder.is_dir():
        return 0
    for model in sorted(e.name for e in os.scandir(folder) if e.is_dir()):
        for name in sorted(e.name for e in os.scandir(folder / model) if e.is_dir()):
            day = parse_day(name)
            if day is None or stop():
                continue
            try:
                merged += compact_day(folder, model, day, now=now, stop=stop)
            except Exception:  # noqa: BLE001 - compaction is an optimisation: a bad folder is read as it is
                log.warning("could not compact the prediction log of %s for %s", model, name, exc_info=True)
    return merged


def compact_day(folder: Path, model: str, day: date, *, now: datetime, stop: Callable[[], bool] = lambda: False,
                row_group_rows: int = COMPACT_ROWS) -> int:
    """Merge the files of ``model``'s day folder flushed at least ``CLOCK_SLACK`` before ``now`` into one
    file per hour of flush (in row groups of ``row_group_rows``); returns how many files it merged (0 when
    there was nothing to merge, or another process holds the folder's lock)."""
    path = folder / model / f"{day:%Y-%m-%d}"
    cutoff = now - CLOCK_SLACK
    hours: dict[int, list[LogFile]] = {}
    for f in day_files(path, day):
        if f.flushed is not None and f.flushed <= cutoff:
            hours.setdefault(f.flushed.hour, []).append(f)
    hours = {h: files for h, files in hours.items() if len(files) > 1}
    if not hours or not _lock(path):
        return 0
    try:
        merged = 0
        for files in hours.values():
            if stop():
                break
            merged += _merge(path, day, sorted(files, key=lambda f: (f.flushed, f.path.name)), stop, row_group_rows)
        return merged
    finally:
        (path / _LOCK).unlink(missing_ok=True)


def _merge(path: Path, day: date, files: list[LogFile], stop: Callable[[], bool], row_group_rows: int) -> int:
    """One compacted file of ``files`` (flushed in the same hour, oldest first), then the files it covers
    deleted; 0 when one is of the old JSON format or ``stop`` said so between two files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(f.path) for f in files]
    if any(LEGACY_INPUTS in s.names for s in schemas):
        return 0
    inputs = list(dict.fromkeys(n for s in schemas for n in s.names if n.startswith(INPUT_PREFIX)))
    types = dict(log_types())
    for column in inputs:
        types[column] = settle_type([s.field(column).type for s in schemas if column in s.names])
    schema = pa.schema([(c, types[c]) for c in [*COLUMNS, *inputs]])
    newest = max(f.flushed for f in files if f.flushed is not None)
    name = f"{newest:%H%M%S%f}{COMPACTED}{time.time_ns() // 1000:017d}-{os.getpid()}.parquet"
    tmp = path / f".{name}.tmp"
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            small: list[pa.Table] = []  # tables of a few rows each: merged every MERGE_TABLES of them
            buffer: list[pa.Table] = []
            rows = 0
            for f in files:
                if stop():
                    raise _Stopped
                parquet = pq.ParquetFile(f.path)
                for g in range(parquet.num_row_groups):  # a compacted file: one row group at a time
                    table = parquet.read_row_group(g)
                    if not table.schema.equals(schema):
                        table = pa.table([to_type(table[c], types[c]) if c in table.column_names
                                          else pa.nulls(table.num_rows, types[c]) for c in schema.names],
                                         schema=schema)
                    small.append(table)
                    rows += table.num_rows
                    if len(small) >= MERGE_TABLES:
                        buffer.append(pa.concat_tables(small).combine_chunks())
                        small = []
                    if rows >= row_group_rows:
                        _write(writer, [*buffer, *small], row_group_rows)
                        small, buffer, rows = [], [], 0
            if small or buffer:
                _write(writer, [*buffer, *small], row_group_rows)
    except _Stopped:
        tmp.unlink(missing_ok=True)
        return 0
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path / name)
    for entry in os.scandir(path):  # every file of the hour the new one covers, older compacted ones included
        other = entry.name
        flushed = flushed_at(day, other)
        if other == name or other.startswith(".") or flushed is None or flushed.hour != newest.hour:
            continue
        if flushed <= newest or (COMPACTED in other and other < name):
            Path(entry.path).unlink(missing_ok=True)
    return len(files)


class _Stopped(Exception):
    pass


def _write(writer: pq.ParquetWriter, buffer: list[pa.Table], rows: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.concat_tables(buffer)
    writer.write_table(table.take(pc.sort_indices(table, sort_keys=[("time", "ascending")])),
                       row_group_size=rows)


def _lock(path: Path) -> bool:
    """Take the folder's compaction lock (or one left by a compactor that died ``STALE_LOCK`` ago)."""
    lock = path / _LOCK
    for _ in range(2):
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime < STALE_LOCK.total_seconds():
                    return False
            except FileNotFoundError:
                continue
            lock.unlink(missing_ok=True)
    return False
