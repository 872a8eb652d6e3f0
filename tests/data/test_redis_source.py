"""The redis source against a real redis-server (tests/conftest.py starts one): entries become rows, a consumer
group shares them out, an entry is acknowledged only by the commit after the snapshot, entries of a run that
failed are read again (at least once) and none is ingested twice; bad entries and a down server are clear errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiforge.data import SOURCES, read_source
from aiforge.errors import DataError, MissingDependency
from aiforge.spec import RedisStreamSource

redis = pytest.importorskip("redis")


@pytest.fixture
def server(redis_url: str) -> Iterator[Any]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def stream() -> str:
    return f"events-{uuid.uuid4().hex[:8]}"


def _spec(url: str, stream: str, **kw: Any) -> RedisStreamSource:
    return RedisStreamSource.model_validate({"type": "redis", "name": "events", "url": url, "stream": stream,
                                             "group": "aiforge", **kw})


def _add(client: Any, stream: str, start: int, n: int) -> list[bytes]:
    return [client.xadd(stream, {"id": str(i), "city": ["Paris", "Lyon"][i % 2], "amount": f"{i * 1.5}"})
            for i in range(start, start + n)]


def _pending(client: Any, stream: str, group: str = "aiforge") -> int:
    return int(client.xpending(stream, group)["pending"])


def test_redis_is_registered() -> None:
    assert "redis" in SOURCES and "http" in SOURCES


def test_entries_become_rows_and_are_acknowledged_only_by_the_commit(server: Any, redis_url: str,
                                                                     stream: str, tmp_path: Path) -> None:
    ids = _add(server, stream, 0, 5)
    loaded = read_source(_spec(redis_url, stream), tmp_path)
    assert loaded.table.to_pydict() == {"id": ["0", "1", "2", "3", "4"], "city": ["Paris", "Lyon"] * 2 + ["Paris"],
                                        "amount": ["0.0", "1.5", "3.0", "4.5", "6.0"]}
    assert loaded.added_rows == 5 and loaded.watermark == {"type": "redis-stream-id", "value": ids[-1].decode()}
    assert f"stream '{stream}'" in loaded.location
    assert _pending(server, stream) == 5  # delivered, not acknowledged: no snapshot holds them yet
    assert loaded.commit is not None
    loaded.commit()
    assert _pending(server, stream) == 0


def test_fields_are_typed_and_json_values_decoded(server: Any, redis_url: str, stream: str, tmp_path: Path) -> None:
    import pyarrow as pa

    _add(server, stream, 0, 3)
    typed = read_source(_spec(redis_url, stream, fields={"id": "integer", "amount": "float", "missing": "string"}),
                        tmp_path)
    assert typed.table.schema == pa.schema([("id", pa.int64()), ("amount", pa.float64()), ("missing", pa.string())])
    assert typed.table.column("amount").to_pylist() == [0.0, 1.5, 3.0]

    other = f"{stream}-json"
    server.xadd(other, {"n": "1", "ok": "true", "tags": '["a"]', "at": '"2026-11-01T10:00:00"'})
    server.xadd(other, {"n": "2.5", "ok": "null", "tags": "[]", "at": '"2026-11-02T10:00:00"'})
    decoded = read_source(_spec(redis_url, other, json=True, fields={"n": "float", "ok": "boolean",
                                                                      "at": "timestamp"}), tmp_path)
    assert decoded.table.column("n").to_pylist() == [1.0, 2.5]
    assert decoded.table.column("ok").to_pylist() == [True, None]
    assert pa.types.is_timestamp(decoded.table.schema.field("at").type)


def test_a_rerun_reads_only_the_new_entries(server: Any, redis_url: str, stream: str, tmp_path: Path) -> None:
    spec = _spec(redis_url, stream)
    _add(server, stream, 0, 4)
    first = read_source(spec, tmp_path)
    assert first.commit is not None
    first.commit()
    _add(server, stream, 4, 3)
    second = read_source(spec, tmp_path, first.watermark)
    assert second.table.column("id").to_pylist() == ["4", "5", "6"] and second.added_rows == 3
    assert second.commit is not None
    second.commit()
    nothing = read_source(spec, tmp_path, second.watermark)
    assert nothing.added_rows == 0 and nothing.watermark == second.watermark and nothing.commit is None
    with pytest.raises(DataError, match="has no entries for this consumer"):
        read_source(spec, tmp_path)  # a first read of a group that has nothing left


def test_entries_of_a_failed_run_are_read_again(server: Any, redis_url: str, stream: str, tmp_path: Path) -> None:
    spec = _spec(redis_url, stream, consumer="worker-1")
    _add(server, stream, 0, 3)
    crashed = read_source(spec, tmp_path)  # read, then the run dies before its snapshot: no commit
    _add(server, stream, 3, 2)
    again = read_source(spec, tmp_path)
    assert again.table.column("id").to_pylist() == ["0", "1", "2", "3", "4"]  # the pending ones first
    assert crashed.table.column("id").to_pylist() == ["0", "1", "2"]
    assert _pending(server, stream) == 5


def test_an_entry_already_in_the_snapshot_is_not_added_twice(server: Any, redis_url: str, stream: str,
                                                            tmp_path: Path) -> None:
    """A run killed after writing its snapshot but before XACK: the next read acknowledges those entries by the
    watermark instead of ingesting them again."""
    spec = _spec(redis_url, stream)
    _add(server, stream, 0, 3)
    written = read_source(spec, tmp_path)  # snapshot written and recorded with this watermark; no XACK
    _add(server, stream, 3, 1)
    after = read_source(spec, tmp_path, written.watermark)
    assert after.table.column("id").to_pylist() == ["3"] and after.added_rows == 1
    assert _pending(server, stream) == 1  # the three old ones were acknowledged by the read
    assert after.commit is not None
    after.commit()
    assert _pending(server, stream) == 0


def test_two_consumers_of_one_group_share_the_entries(server: Any, redis_url: str, stream: str,
                                                      tmp_path: Path) -> None:
    _add(server, stream, 0, 8)
    a = read_source(_spec(redis_url, stream, consumer="a", max_entries=5), tmp_path)
    b = read_source(_spec(redis_url, stream, consumer="b", max_entries=5), tmp_path)
    ids_a, ids_b = a.table.column("id").to_pylist(), b.table.column("id").to_pylist()
    assert len(ids_a) == 5 and len(ids_b) == 3
    assert sorted(ids_a + ids_b, key=int) == [str(i) for i in range(8)]


def test_a_new_group_can_start_at_the_end(server: Any, redis_url: str, stream: str, tmp_path: Path) -> None:
    _add(server, stream, 0, 3)
    spec = _spec(redis_url, stream, group="late", start="$")
    with pytest.raises(DataError, match="no entries"):
        read_source(spec, tmp_path)  # creates the group after the three entries
    _add(server, stream, 3, 2)
    assert read_source(spec, tmp_path).table.column("id").to_pylist() == ["3", "4"]


def test_a_new_stream_waits_block_ms_for_an_entry(redis_url: str, stream: str, tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(DataError, match="no entries"):
        read_source(_spec(redis_url, stream, block_ms=300), tmp_path)
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize(("kw", "value", "message"), [
    ({"json": True}, "{not json", r"entry \d+-\d+ of source 'events' has a bad value in field 'amount'"),
    ({"fields": {"amount": "integer"}}, "12.5x", r"field 'amount' of entry \d+-\d+ of source 'events' is not an "
                                                 "integer"),
])
def test_a_bad_entry_is_refused_and_stays_unacknowledged(server: Any, redis_url: str, stream: str, tmp_path: Path,
                                                         kw: dict[str, Any], value: str, message: str) -> None:
    server.xadd(stream, {"amount": "1"})
    bad = server.xadd(stream, {"amount": value})
    with pytest.raises(DataError, match=message) as caught:
        read_source(_spec(redis_url, stream, **kw), tmp_path)
    assert f"XDEL {stream} {bad.decode()}" in caught.value.render()
    assert _pending(server, stream) == 2  # nothing acknowledged: fixed, they are read again


def test_a_down_server_is_a_clear_error_that_hides_the_password(tmp_path: Path, stream: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import free_port

    monkeypatch.setenv("EVENTS_REDIS", f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    spec = RedisStreamSource.model_validate({"type": "redis", "name": "events", "url_env": "EVENTS_REDIS",
                                             "stream": stream, "group": "g", "timeout_seconds": 2})
    with pytest.raises(DataError, match="cannot read the Redis stream of source 'events'") as caught:
        read_source(spec, tmp_path)
    text = caught.value.render()
    assert "s3cret" not in text and ":***@127.0.0.1" in text and "ConnectionError" in text
    monkeypatch.delenv("EVENTS_REDIS")
    with pytest.raises(DataError, match="EVENTS_REDIS"):
        read_source(spec, tmp_path)


def test_a_key_that_is_not_a_stream_is_a_clear_error(server: Any, redis_url: str, stream: str,
                                                    tmp_path: Path) -> None:
    server.set(stream, "plain")
    with pytest.raises(DataError, match="cannot read the Redis stream") as caught:
        read_source(_spec(redis_url, stream), tmp_path)
    assert "WRONGTYPE" in caught.value.render()


@pytest.mark.parametrize(("kw", "message"), [
    ({}, "url or as url_env"),
    ({"url": "redis://h", "url_env": "X"}, "url or as url_env"),
    ({"url": "http://h"}, "pattern"),
    ({"url": "redis://h", "start": "5"}, "'0' or '\\$'"),
    ({"url": "redis://h", "fields": {"a": "decimal"}}, "string"),
])
def test_bad_redis_settings_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStreamSource.model_validate({"type": "redis", "name": "r", "stream": "s", "group": "g", **kw})


def test_json_alias_round_trips() -> None:
    spec = RedisStreamSource.model_validate({"type": "redis", "name": "r", "url": "redis://h", "stream": "s",
                                             "group": "g", "json": True, "start": 0})
    assert spec.decode_json and spec.start == "0"
    assert json.loads(spec.model_dump_json(by_alias=True))["json"] is True


def test_without_the_redis_client_the_error_says_which_extra_to_install(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    with pytest.raises(MissingDependency, match="needs the redis client") as caught:
        read_source(_spec("redis://127.0.0.1:9/0", "s"), tmp_path)
    assert "aiforge[redis]" in (caught.value.hint or "")
