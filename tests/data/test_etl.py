"""Declarative ETL in DuckDB: every step kind, row order kept through joins and aggregates, errors that name the
step, no file access from expressions, streaming a file dataset, and the steps inside a real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pydantic import TypeAdapter

from aiforge.data import run_steps, step_batches
from aiforge.errors import DataError
from aiforge.spec import EtlStep

PEOPLE = pa.table({"id": [1, 2, 3, 3, 4, 5], "age": [30, 17, 45, 50, None, 61], "gain": [10, 0, 5, 7, 1, 3],
                   "loss": [2, 1, 9, 0, 0, 0], "zip": ["a", "b", "c", "c", "z", "a"],
                   "city": ["Paris", None, "Lyon", "Lyon", "Nice", None]})
REGIONS = pa.table({"code": ["a", "b", "c", "d"], "region": ["N", "S", "E", "W"], "city": ["x", "y", "z", "w"]})


def _steps(*steps: dict[str, Any]) -> list[Any]:
    return TypeAdapter(list[EtlStep]).validate_python(list(steps))


def _run(*steps: dict[str, Any], data: pa.Table = PEOPLE) -> list[dict[str, Any]]:
    return run_steps(data, {"regions": REGIONS}, _steps(*steps)).table.to_pylist()


def test_select_rename_cast_filter_derive() -> None:
    rows = _run({"derive": {"net": "gain - loss", "gain": "gain * 2"}}, {"filter": "age >= 18"},
                {"select": ["id", "age", "gain", "net"]}, {"rename": {"net": "net_gain"}}, {"cast": {"age": "DOUBLE"}})
    assert rows == [{"id": 1, "age": 30.0, "gain": 20, "net_gain": 8},
                    {"id": 3, "age": 45.0, "gain": 10, "net_gain": -4},
                    {"id": 3, "age": 50.0, "gain": 14, "net_gain": 7},
                    {"id": 5, "age": 61.0, "gain": 6, "net_gain": 3}]


@pytest.mark.parametrize(("how", "ids", "regions"), [
    ("left", [1, 2, 3, 3, 4, 5], ["N", "S", "E", "E", None, "N"]),
    ("inner", [1, 2, 3, 3, 5], ["N", "S", "E", "E", "N"]),
    ("right", [1, 2, 3, 3, 5, None], ["N", "S", "E", "E", "N", "W"]),
    ("full", [1, 2, 3, 3, 4, 5, None], ["N", "S", "E", "E", None, "N", "W"]),
])
def test_joins_keep_the_left_order_and_rename_clashing_columns(how: str, ids: list[int | None],
                                                               regions: list[str | None]) -> None:
    rows = _run({"join": {"source": "regions", "keys": {"zip": "code"}, "how": how}})
    assert [r["id"] for r in rows] == ids and [r["region"] for r in rows] == regions
    assert "city_regions" in rows[0] and "code" not in rows[0]
    if how in ("right", "full"):
        assert rows[-1]["zip"] == "d"  # the key of an unmatched right row is filled from the right side


def test_aggregate_deduplicate_impute_clip() -> None:
    rows = _run({"aggregate": {"by": ["zip"], "columns": {"n": "count(*)", "total": "sum(gain)"}}})
    assert rows == [{"zip": "a", "n": 2, "total": 13.0}, {"zip": "b", "n": 1, "total": 0.0},
                    {"zip": "c", "n": 2, "total": 12.0}, {"zip": "z", "n": 1, "total": 1.0}]  # first-seen order
    last = _run({"deduplicate": {"on": ["id"], "order_by": "age", "keep": "last"}})
    assert [(r["id"], r["age"]) for r in last] == [(1, 30), (2, 17), (3, 50), (4, None), (5, 61)]
    filled = _run({"impute": {"age": "median", "city": "Unknown"}})
    assert [r["age"] for r in filled][4] == 45 and [r["city"] for r in filled][1] == "Unknown"
    clipped = _run({"clip": {"gain": {"min": 1, "max": 6}, "age": {"quantiles": [0.0, 0.5]}}})
    assert [r["gain"] for r in clipped] == [6, 1, 5, 6, 1, 3] and max(r["age"] or 0 for r in clipped) == 45


def test_the_same_input_gives_the_same_rows_in_the_same_order() -> None:
    big = pa.table({"k": [i % 97 for i in range(50_000)], "v": list(range(50_000))})
    side = pa.table({"k": list(range(97)), "w": [i * 2 for i in range(97)]})
    steps = _steps({"join": {"source": "side", "keys": ["k"], "how": "inner"}}, {"filter": "v % 3 = 0"})
    first = run_steps(big, {"side": side}, steps, threads=2).table
    assert first.equals(run_steps(big, {"side": side}, steps, threads=2).table)
    assert first.column("v").to_pylist() == list(range(0, 50_000, 3))


@pytest.mark.parametrize(("step", "message"), [
    ({"filter": "nope > 1"}, 'Referenced column "nope" not found'),
    ({"select": ["id", "missing"]}, "'missing' not in the data"),
    ({"derive": {"x": "(SELECT count(*) FROM read_csv('/etc/passwd'))"}}, "file system operations are disabled"),
    ({"join": {"source": "regions", "keys": ["nokey"]}}, "'nokey' not in the data"),
    ({"cast": {"city": "INTEGER"}}, "Could not convert"),
])
def test_a_failing_step_names_itself_and_what_went_wrong(step: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError) as caught:
        _run({"derive": {"one": "1"}}, step)
    assert message in caught.value.render()


def test_a_file_dataset_streams_through_a_small_memory_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    n = 400_000
    pq.write_table(pa.table({"id": list(range(n)), "g": [i % 1000 for i in range(n)],
                             "x": [float(i % 7) for i in range(n)]}), path, row_group_size=50_000)
    steps = _steps({"filter": "x > 0"}, {"derive": {"y": "x * 2"}})
    batches = list(step_batches(ds.dataset(path), {}, steps, memory_limit="64MB", temp_dir=tmp_path / "spill",
                                batch_rows=10_000))
    table = pa.Table.from_batches(batches)
    assert table.num_rows == n - n // 7 - 1 and table.column_names == ["id", "g", "x", "y"]
    assert table.column("id").to_pylist()[:3] == [1, 2, 3]
    assert max(b.num_rows for b in batches) <= 10_000 * 2
