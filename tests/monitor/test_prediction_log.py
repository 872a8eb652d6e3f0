"""The prediction log's storage: typed input columns, old JSON logs still read, and windows that open only
the day folders and files they need."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aiforge.monitor import PredictionLog, prediction_window, read_predictions
from aiforge.monitor._window import outputs_of, probability_of

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
KINDS = {"age": "number", "sex": "category", "hours": "number"}


class Clock:
    """The time the log sees; a test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at.timestamp()

    def __call__(self) -> float:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.timestamp()


def _log(folder: Path, clock: Clock) -> PredictionLog:
    return PredictionLog(folder, flush_seconds=3600, flush_rows=10**9, compact_seconds=None, clock=clock)


def _append(log: PredictionLog, ids: list[str], columns: dict[str, list[Any]], *, version: int = 1,
            kinds: dict[str, str] | None = KINDS, role: str | None = None) -> None:
    n = len(ids)
    log.append(model="m", version=version, ids=ids, columns=columns, labels=["no"] * n,
               probabilities=np.tile([0.75, 0.25], (n, 1)), classes=("no", "yes"), values=None, latency_ms=1.0,
               kinds=kinds, role=role)


def _rows(start: int, n: int) -> dict[str, list[Any]]:
    return {"age": [20 + i for i in range(start, start + n)], "sex": ["F" if i % 2 else "M" for i in range(n)],
            "hours": [40.5] * n}


def _day_log(folder: Path, days: list[datetime], rows_per_day: int = 3) -> None:
    """One file per day, at the given times, of rows ``d<day>-<i>``."""
    clock = Clock(days[0])
    log = _log(folder, clock)
    for k, at in enumerate(days):
        clock.set(at)
        _append(log, [f"d{k}-{i}" for i in range(rows_per_day)], _rows(10 * k, rows_per_day))
        clock.set(at + timedelta(seconds=1))
        log.flush()
    log.close()


def _corrupt(folder: Path, day: datetime) -> Path:
    """A file that fails to read, named like a flush of ``day``: a window that opens it fails."""
    path = folder / "m" / f"{day:%Y-%m-%d}" / f"{day:%H%M%S%f}-1-000001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not parquet")
    return path


def _legacy_file(folder: Path, at: datetime, ids: list[str], inputs: list[dict[str, Any]], *, version: int = 1,
                 name: str | None = None) -> None:
    """A file as the log wrote it before typed inputs: every input in one JSON text column ``inputs``."""
    n = len(ids)
    table = pa.table({
        "id": ids, "time": pa.array([at] * n, pa.timestamp("us", tz="UTC")), "model": ["m"] * n,
        "version": pa.array([version] * n, pa.int64()), "latency_ms": [2.0] * n,
        "inputs": [json.dumps(r, default=str) for r in inputs], "label": ["yes"] * n,
        "probabilities": [json.dumps({"no": 0.4, "yes": 0.6})] * n, "value": pa.nulls(n, pa.float64()),
        "role": pa.nulls(n, pa.string()), "deployment": pa.nulls(n, pa.string()),
    })
    folder = folder / "m" / f"{at:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / (name or f"{at + timedelta(seconds=1):%H%M%S%f}-7-000001.parquet"))


def test_inputs_are_stored_as_one_typed_column_each(tmp_path: Path) -> None:
    clock = Clock(NOW)
    log = _log(tmp_path, clock)
    _append(log, ["a", "b"], {"age": [30, None], "sex": ["F", True], "hours": [40, 1e300 * 10**8]})
    _append(log, ["c"], {"age": [2.5], "sex": [7], "hours": [1]}, kinds=None)  # no schema: inferred
    _append(log, ["d"], {"age": [np.nan], "sex": [np.nan], "hours": [3]}, kinds=None)  # NaN: missing, as in pandas
    log.close()

    files = list(tmp_path.glob("m/*/*.parquet"))
    assert len(files) == 1 and files[0].parent.name == "2026-03-10"
    schema = pq.read_schema(files[0])
    assert "inputs" not in schema.names
    assert schema.field("in.age").type == pa.float64() and schema.field("in.hours").type == pa.float64()
    assert schema.field("in.sex").type == pa.string()  # a category sent as a number or a boolean: its text
    rows = read_predictions(tmp_path, "m")
    assert rows["id"].tolist() == ["a", "b", "c", "d"]
    assert rows["in.age"].tolist()[0] == 30.0 and pd.isna(rows["in.age"][1]) and rows["in.age"][2] == 2.5
    assert rows["in.sex"].tolist()[:3] == ["F", "True", "7"] and rows["in.hours"][1] == 1e308
    table = pq.read_table(files[0])
    assert table["in.age"].null_count == 2 and table["in.sex"].null_count == 1  # nulls, not NaN or "nan"
    assert json.loads(rows["probabilities"][0]) == {"no": 0.75, "yes": 0.25}
    assert rows["time"][0] == pd.Timestamp(NOW)


def test_probabilities_read_back_exactly(tmp_path: Path) -> None:
    proba = np.random.default_rng(0).random((500, 3)) ** 7
    log = _log(tmp_path, Clock(NOW))
    log.append(model="m", version=1, ids=[str(i) for i in range(500)], columns={"x": list(range(500))},
               labels=list(range(500)), probabilities=proba, classes=("a", 'b"q', "ç"), values=None, latency_ms=1.0)
    log.close()
    rows = read_predictions(tmp_path, "m")
    decoded = [json.loads(p) for p in rows["probabilities"]]
    assert all(d == {"a": float(p[0]), 'b"q': float(p[1]), "ç": float(p[2])} for d, p in zip(decoded, proba,
                                                                                              strict=True))
    assert rows["label"][3] == "3"


def test_a_log_of_the_old_json_format_still_reads_with_new_files_beside_it(tmp_path: Path) -> None:
    at = NOW - timedelta(hours=2)
    _legacy_file(tmp_path, at, ["old1", "old2"], [{"age": 50, "sex": "M", "hours": None},
                                                   {"age": 51.5, "sex": "F", "hours": 38}])
    clock = Clock(NOW - timedelta(hours=1))
    log = _log(tmp_path, clock)
    _append(log, ["new1"], {"age": [33], "sex": ["F"], "hours": [12.5]})
    log.close()

    window = prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)
    assert window.log["id"].tolist() == ["old1", "old2", "new1"]
    assert window.inputs.to_dict("list") == {"age": [50.0, 51.5, 33.0], "sex": ["M", "F", "F"],
                                             "hours": [pytest.approx(np.nan, nan_ok=True), 38.0, 12.5]}
    assert window.inputs["age"].dtype == np.float64
    assert window.log["label"].tolist() == ["yes", "yes", "no"] and "inputs" not in window.log
    assert read_predictions(tmp_path, "m")["in.sex"].tolist() == ["M", "F", "F"]


def test_a_window_of_one_day_opens_no_older_day_folder(tmp_path: Path) -> None:
    days = [NOW - timedelta(days=4), NOW - timedelta(days=2), NOW - timedelta(hours=3)]
    _day_log(tmp_path, days)
    _corrupt(tmp_path, NOW - timedelta(days=3))  # an older day: a window that opened it would fail

    window = prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)
    assert window.log["id"].tolist() == ["d2-0", "d2-1", "d2-2"]
    assert window.start == NOW - timedelta(days=1) and window.end == NOW
    with pytest.raises(pa.ArrowInvalid):  # the corrupt file is there: a wider window reads it
        prediction_window(tmp_path, "m", period=timedelta(days=5), now=NOW)


def test_files_flushed_before_the_window_are_not_opened_even_in_its_first_day(tmp_path: Path) -> None:
    _day_log(tmp_path, [NOW - timedelta(hours=5), NOW - timedelta(hours=1)])
    _corrupt(tmp_path, NOW - timedelta(hours=3))  # flushed 3 hours ago, same day folder as the rows wanted
    window = prediction_window(tmp_path, "m", period=timedelta(hours=2), now=NOW)
    assert window.log["id"].tolist() == ["d1-0", "d1-1", "d1-2"]


def test_rows_of_a_day_flushed_after_midnight_stay_in_the_window(tmp_path: Path) -> None:
    """A row answered just before midnight lands in the next day's folder: the window still finds it."""
    clock = Clock(datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC))
    log = _log(tmp_path, clock)
    _append(log, ["late"], _rows(0, 1))
    clock.set(datetime(2026, 3, 10, 0, 0, 1, tzinfo=UTC))
    log.flush()
    log.close()
    assert [p.parent.name for p in tmp_path.glob("m/*/*.parquet")] == ["2026-03-10"]
    window = prediction_window(tmp_path, "m", period=timedelta(minutes=1), now=datetime(2026, 3, 10, 0, 0, 30,
                                                                                          tzinfo=UTC))
    assert window.log["id"].tolist() == ["late"]


def test_last_reads_the_newest_files_first_across_days(tmp_path: Path) -> None:
    old = [NOW - timedelta(days=3, minutes=30 - k) for k in range(30)]  # 30 files of 3 rows, three days ago
    _day_log(tmp_path, [*old, NOW - timedelta(days=1, hours=1), NOW - timedelta(hours=1)])
    _corrupt(tmp_path, NOW - timedelta(days=3, hours=1))  # older than every file: read only if all are needed

    window = prediction_window(tmp_path, "m", last=5, now=NOW)
    assert window.log["id"].tolist() == ["d30-1", "d30-2", "d31-0", "d31-1", "d31-2"]
    assert window.inputs["age"].tolist() == [321.0, 322.0, 330.0, 331.0, 332.0]
    assert prediction_window(tmp_path, "m", last=20, now=NOW).log["id"].tolist()[:2] == ["d25-1", "d25-2"]
    both = prediction_window(tmp_path, "m", last=5, period=timedelta(hours=2), now=NOW)
    assert both.log["id"].tolist() == ["d31-0", "d31-1", "d31-2"]
    with pytest.raises(pa.ArrowInvalid):
        prediction_window(tmp_path, "m", last=100, now=NOW)


def test_last_counts_only_the_rows_that_pass_the_filters(tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(days=2))
    log = _log(tmp_path, clock)
    _append(log, ["v1-a", "v1-b"], _rows(0, 2), version=1)
    log.flush()
    for k in range(10):  # newer files, all of version 2 or shadow copies
        clock.set(NOW - timedelta(hours=10 - k))
        _append(log, [f"v2-{k}"], _rows(k, 1), version=2)
        _append(log, [f"s-{k}"], _rows(k, 1), version=1, role="shadow")
        log.flush()
    log.close()
    window = prediction_window(tmp_path, "m", last=3, version=1, now=NOW)
    assert window.log["id"].tolist() == ["v1-a", "v1-b"]
    assert prediction_window(tmp_path, "m", last=2, version=1, answered_only=False, now=NOW).log["id"].tolist() \
        == ["s-8", "s-9"]


def test_versions_with_different_inputs_read_together(tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(hours=3))
    log = _log(tmp_path, clock)
    _append(log, ["a"], {"age": [30], "sex": ["F"]}, version=1)
    log.flush()
    clock.set(NOW - timedelta(hours=2))
    _append(log, ["b"], {"age": [31], "zip": ["75001"]}, version=2, kinds={"age": "number", "zip": "category"})
    _append(log, ["c"], {"age": [32], "sex": ["M"]}, version=1)  # the same flush: one file, both versions
    log.flush()
    log.close()
    _legacy_file(tmp_path, NOW - timedelta(hours=1), ["d"], [{"age": 33, "zip": 75002}], version=2)

    window = prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)
    assert window.log["id"].tolist() == ["a", "b", "c", "d"]
    assert list(window.inputs.columns) == ["age", "sex", "zip"]
    assert window.inputs["age"].tolist() == [30.0, 31.0, 32.0, 33.0]
    assert window.inputs["sex"].tolist()[::2] == ["F", "M"] and window.inputs["sex"].isna().tolist()[1::2] == [True,
                                                                                                               True]
    assert window.inputs["zip"].tolist()[1::2] == ["75001", "75002"]  # a number in the old file: read as text
    first = prediction_window(tmp_path, "m", period=timedelta(days=1), version=1, now=NOW)
    assert first.log["id"].tolist() == ["a", "c"] and first.inputs["sex"].tolist() == ["F", "M"]


def test_an_empty_or_missing_log_is_an_empty_window(tmp_path: Path) -> None:
    window = prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)
    assert len(window) == 0 and window.end is None and window.inputs.empty
    _day_log(tmp_path, [NOW - timedelta(days=3)])
    assert len(prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)) == 0
    assert list(read_predictions(tmp_path, "other").columns)[:2] == ["id", "time"]


def test_read_predictions_since_opens_only_the_files_that_can_hold_its_rows(tmp_path: Path) -> None:
    _day_log(tmp_path, [NOW - timedelta(days=2), NOW - timedelta(hours=1)])
    _corrupt(tmp_path, NOW - timedelta(days=1, hours=1))
    rows = read_predictions(tmp_path, "m", since=NOW - timedelta(hours=2), inputs=False, columns=("id", "label"))
    assert rows["id"].tolist() == ["d1-0", "d1-1", "d1-2"] and list(rows.columns) == ["id", "time", "label"]
    with pytest.raises(pa.ArrowInvalid):
        read_predictions(tmp_path, "m")


def test_the_positive_probability_is_read_from_both_formats_without_a_parse_per_row(tmp_path: Path) -> None:
    _legacy_file(tmp_path, NOW - timedelta(hours=2), ["old"], [{"age": 50}])  # {"no": 0.4, "yes": 0.6}
    log = _log(tmp_path, Clock(NOW - timedelta(hours=1)))
    proba = np.random.default_rng(1).random((50, 2)) ** 9
    log.append(model="m", version=1, ids=[str(i) for i in range(50)], columns={"age": list(range(50))},
               labels=None, probabilities=proba, classes=("no", "yes"), values=None, latency_ms=1.0)
    log.close()
    window = prediction_window(tmp_path, "m", period=timedelta(days=1), now=NOW)
    assert outputs_of(window.log, "yes").tolist() == [0.6, *proba[:, 1].tolist()]
    texts = [None, '{"b":3,"a":4}', '{"x": 1}', '{"b\\"a": 0.3, "a": 0.7}', '{"a": 1e-07}']
    assert np.array_equal(probability_of(texts, "a"), [np.nan, 4.0, np.nan, 0.7, 1e-07], equal_nan=True)
    assert probability_of(['{"\\u00e7": 0.25, "a": 0.75}'], "ç").tolist() == [0.25]


def test_one_flush_of_requests_of_different_outputs_and_kinds(tmp_path: Path) -> None:
    log = _log(tmp_path, Clock(NOW))
    _append(log, ["a", "b"], _rows(0, 2))
    log.append(model="m", version=2, ids=["c"], columns={"age": [7.5], "sex": [3]}, labels=None, probabilities=None,
               classes=(), values=[12.5], latency_ms=1.0, kinds={"age": "number", "sex": "category"})
    log.append(model="m", version=3, ids=["d"], columns={"age": [8]}, labels=[True],
               probabilities=np.array([[0.1, 0.2, 0.7]]), classes=("x", "y", "z"), values=None, latency_ms=1.0)
    _append(log, ["e"], _rows(5, 1))
    log.close()
    [file] = tmp_path.glob("m/*/*.parquet")
    rows = read_predictions(tmp_path, "m")
    assert rows["id"].tolist() == ["a", "b", "c", "d", "e"]
    assert rows["label"].tolist()[:2] == ["no", "no"] and pd.isna(rows["label"][2]) and rows["label"][3] == "True"
    assert [None if pd.isna(p) else json.loads(p) for p in rows["probabilities"]] == [
        {"no": 0.75, "yes": 0.25}, {"no": 0.75, "yes": 0.25}, None, {"x": 0.1, "y": 0.2, "z": 0.7},
        {"no": 0.75, "yes": 0.25}]
    assert rows["value"].isna().tolist() == [True, True, False, True, True] and rows["value"][2] == 12.5
    assert rows["in.age"].tolist() == [20.0, 21.0, 7.5, 8.0, 25.0]
    assert rows["in.sex"].tolist()[2] == "3" and pd.isna(rows["in.hours"][3])
    assert pq.read_schema(file).field("in.sex").type == pa.string()
