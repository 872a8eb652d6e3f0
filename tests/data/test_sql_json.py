"""The json and sql sources: JSON Lines and documents; queries and tables of SQLite files and of a real PostgreSQL
server (the one .ci/run starts: AIFORGE_TEST_POSTGRES_URL); their errors; the watermark pushed into SQL."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from aiforge.data import SOURCES, read_source
from aiforge.errors import DataError
from aiforge.spec import Incremental, JsonSource, SqlSource

ROWS = [{"id": 1, "city": "Paris", "amount": 10.5}, {"id": 2, "city": None, "amount": 3.0},
        {"id": 3, "city": "Lyon", "amount": 7.25}]


def test_every_kind_is_registered() -> None:
    assert set(SOURCES) >= {"csv", "parquet", "json", "sql"}


def test_json_lines_by_extension(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    loaded = read_source(JsonSource(type="json", name="j", path="rows.jsonl"), tmp_path)
    assert loaded.table.to_pylist() == ROWS


def test_a_json_document_with_the_records_nested(tmp_path: Path) -> None:
    (tmp_path / "export.json").write_text(json.dumps({"data": {"items": ROWS}, "next": None}), encoding="utf-8")
    loaded = read_source(JsonSource(type="json", name="j", path="export.json", records_path="data.items"), tmp_path)
    assert loaded.table.column("amount").to_pylist() == [10.5, 3.0, 7.25]


@pytest.mark.parametrize(("content", "kw", "message"), [
    ('{"data": []}', {"records_path": "rows"}, "has no 'rows'"),
    ('{"data": 3}', {}, "does not hold a list of records"),
    ("{not json", {}, "cannot be parsed"),
    ("[]", {}, "has no records"),
])
def test_bad_json_is_refused_with_what_was_found(tmp_path: Path, content: str, kw: dict[str, str],
                                                 message: str) -> None:
    (tmp_path / "bad.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_source(JsonSource(type="json", name="j", path="bad.json", **kw), tmp_path)  # type: ignore[arg-type]


def _sqlite(folder: Path) -> Path:
    path = folder / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, city TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (:id, :city, :amount)", ROWS)
    return path


def test_a_sqlite_table_relative_to_the_project(tmp_path: Path) -> None:
    _sqlite(tmp_path)
    loaded = read_source(SqlSource(type="sql", name="s", url="sqlite:///shop.db", table="sales"), tmp_path)
    assert loaded.table.to_pylist() == ROWS
    assert "shop.db" in loaded.location and "sales" in loaded.location


def test_a_query_and_the_watermark_filter_run_in_the_database(tmp_path: Path) -> None:
    _sqlite(tmp_path)
    spec = SqlSource(type="sql", name="s", url="sqlite:///shop.db", query="SELECT id, amount FROM sales WHERE "
                     "amount > 5", incremental=Incremental(column="id"))
    assert read_source(spec, tmp_path).table.to_pydict() == {"id": [1, 3], "amount": [10.5, 7.25]}
    newer = read_source(spec, tmp_path, {"type": "int64", "value": 1})
    assert newer.table.to_pydict() == {"id": [3], "amount": [7.25]} and newer.added_rows == 1
    assert newer.watermark == {"type": "int64", "value": 3}
    none = read_source(spec, tmp_path, {"type": "int64", "value": 3})
    assert none.added_rows == 0 and none.watermark == {"type": "int64", "value": 3}


def test_sql_errors_name_the_source_and_change_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _sqlite(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_source(SqlSource(type="sql", name="s", url="sqlite:///missing.db", table="sales"), tmp_path)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(DataError, match="refused the read") as caught:
        read_source(SqlSource(type="sql", name="s", url="sqlite:///shop.db", table="nope"), tmp_path)
    assert "no such table" in caught.value.render()
    monkeypatch.delenv("SHOP_URL", raising=False)
    with pytest.raises(DataError, match="SHOP_URL"):
        read_source(SqlSource(type="sql", name="s", url_env="SHOP_URL", table="sales"), tmp_path)
    with pytest.raises(DataError, match="returned no rows"):
        read_source(SqlSource(type="sql", name="s", url="sqlite:///shop.db", query="SELECT * FROM sales WHERE 0"),
                    tmp_path)


@pytest.mark.parametrize(("kw", "message"), [
    ({"table": "t"}, "url or as url_env"),
    ({"url": "sqlite:///a.db"}, "query or as table"),
    ({"url": "sqlite:///a.db", "query": "DELETE FROM t"}, "SELECT"),
    ({"url": "sqlite:///a.db", "table": "t; DROP TABLE t"}, "pattern"),
])
def test_bad_sql_settings_are_refused_when_the_file_is_read(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqlSource(type="sql", name="s", **kw)  # type: ignore[arg-type]


@pytest.fixture
def postgres() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of AIFORGE_TEST_POSTGRES_URL; required under CI."""
    url = os.environ.get("AIFORGE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("AIFORGE_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it")
        pytest.skip("no PostgreSQL server (source .ci/services.sh to start one)")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        conn.execute(sa.text(f"CREATE TABLE {schema}.events (id bigint, at timestamptz, kind text, value double "
                             "precision)"))
        conn.execute(sa.text(f"INSERT INTO {schema}.events VALUES (1, '2026-11-01T10:00:00Z', 'a', 1.5), "
                             "(2, '2026-11-02T10:00:00Z', 'b', NULL), (3, '2026-11-03T10:00:00Z', 'a', 4.0)"))
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_postgresql_with_a_timestamp_watermark(postgres: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa

    monkeypatch.setenv("EVENTS_URL", os.environ["AIFORGE_TEST_POSTGRES_URL"])
    spec = SqlSource(type="sql", name="events", url_env="EVENTS_URL", table=f"{postgres}.events",
                     incremental=Incremental(column="at"))
    first = read_source(spec, tmp_path)
    assert first.table.column("id").to_pylist() == [1, 2, 3] and first.table.column("value").null_count == 1
    assert pa.types.is_timestamp(first.table.schema.field("at").type)
    assert "aiforge:***@" in first.location  # the password never shows
    engine = sa.create_engine(os.environ["AIFORGE_TEST_POSTGRES_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {postgres}.events VALUES (4, '2026-11-04T09:00:00Z', 'c', 2.0)"))
    engine.dispose()
    second = read_source(spec, tmp_path, first.watermark)
    assert second.table.column("id").to_pylist() == [4] and second.added_rows == 1


def test_postgresql_down_is_a_clear_error(tmp_path: Path) -> None:
    spec = SqlSource(type="sql", name="events", url="postgresql+psycopg://nobody@127.0.0.1:9/none", table="t",
                     timeout_seconds=2)
    with pytest.raises(DataError, match="refused the read") as caught:
        read_source(spec, tmp_path)
    assert "check that the server is up" in caught.value.render()
