"""One contract, every registered kind of source (like scikit-learn's parametrize_with_checks): each type the
project file accepts has a reader; the same records, served by each kind, come back as the same rows under the
source's name with a stable content hash; a source that is not there is a DataError naming it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import http_server
from pydantic import TypeAdapter

from aiforge.data import SOURCES, read_source
from aiforge.errors import DataError
from aiforge.spec import SourceSpec
from aiforge.spec._sources import SOURCE_TYPES

RECORDS = [{"id": 1, "city": "Paris", "amount": 10.5}, {"id": 2, "city": "Lyon", "amount": 3.0},
           {"id": 3, "city": "Nice", "amount": 7.25}]


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = json.dumps({"data": RECORDS}).encode() if self.path == "/records" else b"{}"
            self.send_response(200 if self.path == "/records" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(Handle) as url:
        yield url


def _csv(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    lines = ["id,city,amount", *(f"{r['id']},{r['city']},{r['amount']}" for r in RECORDS)]
    (folder / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"type": "csv", "path": "rows.csv"}


def _parquet(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    pq.write_table(pa.Table.from_pylist(RECORDS), folder / "rows.parquet")
    return {"type": "parquet", "path": "rows.parquet"}


def _json(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return {"type": "json", "path": "rows.jsonl"}


def _sql(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    with sqlite3.connect(folder / "rows.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER, city TEXT, amount REAL)")
        conn.executemany("INSERT INTO t VALUES (:id, :city, :amount)", RECORDS)
    return {"type": "sql", "url": "sqlite:///rows.db", "table": "t"}


def _http(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"type": "http", "url": request.getfixturevalue("http_url") + "/records", "records_path": "data"}


def _redis(folder: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    url = request.getfixturevalue("redis_url")
    import redis

    stream = f"contract-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(url) as client:
        for record in RECORDS:
            client.xadd(stream, {k: json.dumps(v) for k, v in record.items()})
    return {"type": "redis", "url": url, "stream": stream, "group": "contract", "json": True}


KINDS: dict[str, Callable[[Path, pytest.FixtureRequest], dict[str, Any]]] = {
    "csv": _csv, "parquet": _parquet, "json": _json, "sql": _sql, "http": _http, "redis": _redis}

MISSING: dict[str, dict[str, Any]] = {
    "csv": {"type": "csv", "path": "nope.csv"},
    "parquet": {"type": "parquet", "path": "nope.parquet"},
    "json": {"type": "json", "path": "nope.json"},
    "sql": {"type": "sql", "url": "sqlite:///nope.db", "table": "t"},
    "http": {"type": "http", "url": "http://127.0.0.1:9/nope", "retries": 0, "timeout_seconds": 2},
    "redis": {"type": "redis", "url": "redis://127.0.0.1:9/0", "stream": "s", "group": "g", "timeout_seconds": 2},
    "images": {"type": "images", "format": "npz", "path": "nope.npz", "shape": [28, 28]},
}
# sources of rows other than records: their round trips are tested beside them (tests/data/test_image_source.py)
NOT_RECORDS = {"images"}


def _spec(fields: dict[str, Any]) -> SourceSpec:
    return TypeAdapter(SourceSpec).validate_python({"name": "rows", **fields})  # type: ignore[no-any-return]


def test_every_type_of_the_project_file_has_a_reader_and_a_contract_case() -> None:
    assert set(SOURCE_TYPES) == set(SOURCES) == set(KINDS) | NOT_RECORDS == set(MISSING)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_same_records_come_back_as_the_same_rows(kind: str, tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    spec = _spec(KINDS[kind](tmp_path, request))
    loaded = read_source(spec, tmp_path)
    assert loaded.name == "rows" and loaded.location
    assert loaded.table.to_pylist() == RECORDS
    assert len(loaded.content_hash) == 64
    assert read_source(spec, tmp_path).content_hash == loaded.content_hash  # nothing changed: the same hash


@pytest.mark.parametrize("kind", sorted(MISSING))
def test_a_source_that_is_not_there_is_a_data_error_naming_it(kind: str, tmp_path: Path) -> None:
    if kind == "redis":
        pytest.importorskip("redis")
    with pytest.raises(DataError, match="'rows'"):
        read_source(_spec(MISSING[kind]), tmp_path)
