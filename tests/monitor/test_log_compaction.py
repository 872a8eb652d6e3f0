"""Compaction of the prediction log: a day folder's small files merged into one, without losing or
doubling a row, whatever a reader or a stopped compaction sees."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_prediction_log import Clock, _append, _legacy_file, _log, _rows

from aiforge.monitor import PredictionLog, prediction_window, read_predictions
from aiforge.monitor._compact import compact_day, compact_log
from aiforge.monitor._predlog import _row_groups

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = NOW.date()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "m" / f"{DAY:%Y-%m-%d}").iterdir())


def _flushes(folder: Path, at: list[tuple[int, int]], version: int = 1) -> None:
    """A request of 2 rows at each (hour, minute) of DAY, flushed a minute later (ids ``<h>:<m>-<i>``)."""
    clock = Clock(NOW)
    log = _log(folder, clock)
    for h, m in at:
        clock.set(NOW.replace(hour=h, minute=m))
        _append(log, [f"{h}:{m}-0", f"{h}:{m}-1"], _rows(m, 2), version=version,
                kinds=None if m % 2 else {"age": "number", "sex": "category", "hours": "number"})
        clock.set(NOW.replace(hour=h, minute=m + 1))
        log.flush()
    log.close()


def _ids(at: list[tuple[int, int]]) -> list[str]:
    return [f"{h}:{m}-{i}" for h, m in at for i in (0, 1)]


def test_each_hour_becomes_one_file_and_reads_the_same(tmp_path: Path) -> None:
    at = [(1, m) for m in range(0, 60, 10)] + [(2, m) for m in range(0, 40, 10)]
    _flushes(tmp_path, at)
    window = prediction_window(tmp_path, "m", period=timedelta(hours=10, minutes=25), now=NOW)
    newest = prediction_window(tmp_path, "m", last=5, now=NOW)
    everything = read_predictions(tmp_path, "m")

    assert compact_day(tmp_path, "m", DAY, now=NOW) == 10
    names = _files(tmp_path)
    assert [n.split("-")[:2] for n in names] == [["015100000000", "compacted"], ["023100000000", "compacted"]]
    assert pq.read_metadata(tmp_path / "m" / f"{DAY:%Y-%m-%d}" / names[0]).num_rows == 12
    again = prediction_window(tmp_path, "m", period=timedelta(hours=10, minutes=25), now=NOW)
    assert again.log["id"].tolist() == _ids(at[4:])
    pd_equal(again.log, window.log)
    pd_equal(again.inputs, window.inputs)
    pd_equal(prediction_window(tmp_path, "m", last=5, now=NOW).inputs, newest.inputs)
    pd_equal(read_predictions(tmp_path, "m"), everything)


def test_a_window_reads_only_the_row_groups_of_its_period(tmp_path: Path) -> None:
    _flushes(tmp_path, [(1, m) for m in range(0, 55, 5)])
    later = NOW.replace(hour=2)
    periods = [timedelta(minutes=m) for m in (10, 30, 50, 120)]
    expected = [prediction_window(tmp_path, "m", period=p, now=later) for p in periods]
    assert compact_day(tmp_path, "m", DAY, now=later, row_group_rows=4) == 11
    [single] = (tmp_path / "m" / f"{DAY:%Y-%m-%d}").iterdir()
    assert pq.ParquetFile(single).metadata.num_row_groups == 6
    assert _row_groups(pq.ParquetFile(single), NOW.replace(hour=1, minute=30)) == [3, 4, 5]
    for period, before in zip(periods, expected, strict=True):
        after = prediction_window(tmp_path, "m", period=period, now=later)
        pd_equal(after.log, before.log)
        pd_equal(after.inputs, before.inputs)


def pd_equal(a: object, b: object) -> None:
    import pandas as pd

    pd.testing.assert_frame_equal(a, b)  # type: ignore[arg-type]


def test_recent_flushes_wait_and_a_later_compaction_merges_the_previous_one(tmp_path: Path) -> None:
    at = [(11, 0), (11, 10), (11, 20), (11, 57)]  # the 11:58 flush is within the slack of a 12:02 compaction
    _flushes(tmp_path, at)
    assert compact_day(tmp_path, "m", DAY, now=NOW.replace(minute=2)) == 3
    assert len(_files(tmp_path)) == 2
    assert compact_day(tmp_path, "m", DAY, now=NOW.replace(minute=2)) == 0  # nothing new
    assert compact_day(tmp_path, "m", DAY, now=NOW.replace(hour=13)) == 2  # the compacted file and 11:58
    assert len(_files(tmp_path)) == 1
    assert read_predictions(tmp_path, "m")["id"].tolist() == _ids(at)


def test_a_compaction_stopped_before_its_deletions_leaves_no_duplicate(tmp_path: Path) -> None:
    _flushes(tmp_path, [(1, 0), (1, 10), (1, 20)])
    day = tmp_path / "m" / f"{DAY:%Y-%m-%d}"
    kept = tmp_path / "originals"
    shutil.copytree(day, kept)
    compact_day(tmp_path, "m", DAY, now=NOW)
    for original in kept.iterdir():  # as if killed after the rename, before deleting what it merged
        shutil.copy(original, day / original.name)
    _flushes(tmp_path, [(1, 40), (2, 0)])  # flushes after the compaction, in its hour and the next
    assert len(_files(tmp_path)) == 6
    ids = read_predictions(tmp_path, "m")["id"].tolist()
    assert ids == _ids([(1, 0), (1, 10), (1, 20), (1, 40), (2, 0)])
    assert compact_day(tmp_path, "m", DAY, now=NOW) == 2 and len(_files(tmp_path)) == 2
    assert read_predictions(tmp_path, "m")["id"].tolist() == ids


def test_a_stopped_or_locked_compaction_changes_nothing(tmp_path: Path) -> None:
    _flushes(tmp_path, [(1, 0), (1, 10), (1, 20)])
    before = _files(tmp_path)
    assert compact_day(tmp_path, "m", DAY, now=NOW, stop=lambda: True) == 0
    assert _files(tmp_path) == before  # no temporary file left either
    lock = tmp_path / "m" / f"{DAY:%Y-%m-%d}" / ".compacting"
    lock.touch()  # another process compacts this folder
    assert compact_day(tmp_path, "m", DAY, now=NOW) == 0 and len(_files(tmp_path)) == 4
    lock.unlink()
    assert compact_day(tmp_path, "m", DAY, now=NOW) == 3


def test_old_format_and_unreadable_files_are_left_as_they_are(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    _flushes(tmp_path, [(1, 0), (1, 10), (2, 0), (2, 10)])
    _legacy_file(tmp_path, NOW.replace(hour=1, minute=30), ["old"], [{"age": 50, "sex": "M", "hours": 40}])
    assert compact_day(tmp_path, "m", DAY, now=NOW) == 2  # hour 2 only
    assert len(_files(tmp_path)) == 4
    assert len(read_predictions(tmp_path, "m")) == 9
    other = NOW - timedelta(days=1)
    bad = tmp_path / "m" / f"{other:%Y-%m-%d}"
    bad.mkdir()
    (bad / "010000000000-1-000001.parquet").write_bytes(b"not parquet")
    (bad / "010100000000-1-000002.parquet").write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="aiforge.monitor"):
        assert compact_log(tmp_path, now=NOW) == 0
    assert "could not compact the prediction log of m for 2026-03-09" in caplog.text
    assert len(list(bad.iterdir())) == 2


def test_the_log_compacts_its_folders_in_the_background(tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(days=1))
    log = PredictionLog(tmp_path, flush_seconds=3600, flush_rows=10**9, compact_seconds=3600, clock=clock)
    for k in range(5):  # yesterday: five flushes; the first flush's compaction finds nothing to merge
        clock.set(NOW - timedelta(days=1) + timedelta(minutes=k))
        _append(log, [f"y{k}"], _rows(k, 1))
        log.flush()
    if log._compactor is not None:  # the first flush's compaction (a thread) has ended: the next one may start
        log._compactor.join()
    clock.set(NOW)
    _append(log, ["t0"], _rows(0, 1))
    log.flush()  # an hour later: yesterday's folder is merged
    yesterday = tmp_path / "m" / f"{NOW - timedelta(days=1):%Y-%m-%d}"
    deadline = time.monotonic() + 10
    while len(list(yesterday.glob("*.parquet"))) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    log.close()
    assert [p.name.split("-")[1] for p in yesterday.iterdir()] == ["compacted"]
    assert read_predictions(tmp_path, "m")["id"].tolist() == ["y0", "y1", "y2", "y3", "y4", "t0"]


def test_readers_during_compactions_see_every_row_once(tmp_path: Path) -> None:
    clock = Clock(NOW)
    log = _log(tmp_path, clock)
    written: list[str] = []
    for round_ in range(3):
        for k in range(60):  # a minute of flushes, one a second
            at = NOW.replace(hour=1, minute=round_, second=k)
            clock.set(at)
            ids = [f"{round_}-{k}"]
            _append(log, ids, _rows(k, 1))
            written += ids
            clock.set(at + timedelta(microseconds=500))
            log.flush()
        seen: list[list[str]] = []
        done = threading.Event()
        reader = threading.Thread(target=_read_until, args=(tmp_path, done, seen))
        reader.start()
        try:
            assert compact_day(tmp_path, "m", DAY, now=NOW) >= 60
        finally:
            done.set()
            reader.join()
        assert seen and all(ids == written for ids in seen)
        assert len(_files(tmp_path)) == 1
    log.close()


def _read_until(folder: Path, done: threading.Event, seen: list[list[str]]) -> None:
    while not done.is_set():
        seen.append(read_predictions(folder, "m", columns=("id",), inputs=False)["id"].tolist())
