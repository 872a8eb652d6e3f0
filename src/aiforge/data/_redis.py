"""The ``redis`` source: a Redis stream read through a consumer group.

A read takes this consumer's pending entries first (delivered to an earlier read but never acknowledged: the
run failed or was killed before its snapshot was written), then new ones (``>``), up to ``max_entries``. The
entries are acknowledged (``XACK``) by ``LoadedSource.commit``, which the ingest stage calls once the snapshot
holding them and its history record are written. The watermark is the last entry id ingested: a pending entry
at or below it is already in the rows ingested before (the run was killed between its snapshot and its XACK),
so it is acknowledged and not added again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from aiforge.errors import DataError, MissingDependency
from aiforge.spec import RedisStreamSource, SourceSpec

if TYPE_CHECKING:
    import pyarrow as pa
    import redis

    from aiforge.data._sources import LoadedSource

__all__ = ["WATERMARK_TYPE", "read_redis"]

WATERMARK_TYPE = "redis-stream-id"
BATCH = 1000  # entries per XREADGROUP
ARROW_TYPES = {"string": "string", "integer": "int64", "float": "float64", "boolean": "bool",
               "timestamp": "timestamp[us]"}

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]


def read_redis(spec: SourceSpec, base_dir: Path, since: dict[str, Any] | None = None) -> LoadedSource:
    try:
        import redis
    except ImportError as exc:
        raise MissingDependency(f"source '{spec.name}' reads a Redis stream, which needs the redis client",
                                hint="pip install 'aiforge[redis]'") from exc

    from aiforge.data._sources import LoadedSource

    assert isinstance(spec, RedisStreamSource)
    url = _url(spec)
    where = f"{_shown(url)} stream '{spec.stream}', group '{spec.group}', consumer '{spec.consumer}'"
    done = _stream_id(since["value"]) if since is not None else None
    with _client(url, spec) as client:
        try:
            _create_group(client, spec)
            entries, delivered = _read(client, spec)
            old = {i for i in delivered if done is not None and _stream_id(i) <= done}
            if old:  # already in the rows ingested before: the run that ingested them stopped before its XACK
                _ack(client, spec, sorted(old, key=_stream_id))
        except redis.RedisError as exc:
            raise DataError(f"cannot read the Redis stream of source '{spec.name}'", where=where,
                            found=f"{type(exc).__name__}: {exc}",
                            hint="check that the server is up and reachable, the URL (and its password), and that "
                            f"'{spec.stream}' is a stream") from exc
    new = [(i, f) for i, f in entries if i not in old]
    if not new and since is None:
        raise DataError(f"the Redis stream of source '{spec.name}' has no entries for this consumer", where=where,
                        expected="at least one entry", found="an empty stream, or every entry already acknowledged "
                        "by the group", hint="add entries (XADD), or read from the start with a new group "
                        "(start: '0')")
    table = _table(new, spec, where)
    digest = hashlib.sha256(f"{spec.stream}|{spec.group}|{since}".encode())
    for entry_id, fields in new:
        assert fields is not None
        digest.update(entry_id + b"|" + json.dumps(sorted((k.hex(), v.hex()) for k, v in fields.items())).encode())
    watermark = {"type": WATERMARK_TYPE, "value": new[-1][0].decode()} if new else since
    unacked = [i for i in delivered if i not in old]
    return LoadedSource(spec.name, table, digest.hexdigest(), where, watermark=watermark, added_rows=len(new),
                        commit=_committer(url, spec, unacked) if unacked else None)


def _client(url: str, spec: RedisStreamSource) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url, socket_timeout=spec.timeout_seconds, socket_connect_timeout=spec.timeout_seconds)


def _url(spec: RedisStreamSource) -> str:
    if spec.url_env is None:
        assert spec.url is not None
        return spec.url
    text = os.environ.get(spec.url_env)
    if not text:
        raise DataError(f"the environment variable {spec.url_env} holding the URL of source '{spec.name}' is not "
                        "set", expected="a Redis URL, e.g. redis://:password@host:6379/0",
                        hint=f"export {spec.url_env}=...")
    return text


def _shown(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _create_group(client: redis.Redis, spec: RedisStreamSource) -> None:
    import redis

    try:
        client.xgroup_create(spec.stream, spec.group, id=spec.start, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # the group exists: the usual case
            raise


def _read(client: redis.Redis, spec: RedisStreamSource) -> tuple[list[Entry], list[bytes]]:
    """This consumer's pending entries, then new ones, up to ``max_entries``; and every id delivered (an entry
    deleted since its delivery comes back without fields: it is acknowledged but not a row)."""
    entries: list[Entry] = []
    after = "0"
    for pending in (True, False):
        while len(entries) < spec.max_entries:
            count = min(BATCH, spec.max_entries - len(entries))
            block = spec.block_ms if not pending and not entries and spec.block_ms else None
            answer = client.xreadgroup(spec.group, spec.consumer, {spec.stream: after if pending else ">"},
                                       count=count, block=block)
            batch = _batch(answer)
            if not batch:
                break
            entries.extend(batch)
            if pending:
                after = batch[-1][0].decode()
    ids = [i for i, _ in entries]
    return [(i, f) for i, f in entries if f], ids


def _batch(answer: Any) -> list[Entry]:
    """The entries of an XREADGROUP answer on one stream (RESP2: ``[[stream, entries]]``; RESP3: a dict)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return [entry for entries in answer.values() for entry in (entries[0] if entries and isinstance(
            entries[0], list) else entries)]
    return list(answer[0][1])


def _stream_id(value: str | bytes) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _ack(client: redis.Redis, spec: RedisStreamSource, ids: list[bytes]) -> None:
    for start in range(0, len(ids), BATCH):
        client.xack(spec.stream, spec.group, *ids[start:start + BATCH])


def _committer(url: str, spec: RedisStreamSource, ids: list[bytes]) -> Callable[[], None]:
    def commit() -> None:
        """Acknowledge the entries read, once the snapshot holding them is durable. A failed XACK does not fail
        the run: the entries stay pending, and the next read acknowledges them by the watermark."""
        import redis

        try:
            with _client(url, spec) as client:
                _ack(client, spec, ids)
        except redis.RedisError as exc:
            log.warning("source '%s': %d entries not acknowledged (%s: %s); the next run acknowledges them",
                        spec.name, len(ids), type(exc).__name__, exc)

    return commit


def _table(entries: list[Entry], spec: RedisStreamSource, where: str) -> pa.Table:
    import pyarrow as pa

    rows = []
    for entry_id, fields in entries:
        assert fields is not None
        row: dict[str, Any] = {}
        for key, raw in fields.items():
            name = key.decode("utf-8", errors="replace")
            if spec.fields is not None and name not in spec.fields:
                continue
            try:
                text = raw.decode("utf-8")
                row[name] = json.loads(text) if spec.decode_json else text
            except ValueError as exc:
                raise DataError(f"entry {entry_id.decode()} of source '{spec.name}' has a bad value in field "
                                f"'{name}'", where=where, expected="JSON" if spec.decode_json else "UTF-8 text",
                                found=repr(raw[:80]), hint=f"fix or delete the entry (XDEL {spec.stream} "
                                f"{entry_id.decode()}); it stays unacknowledged and is read again until then"
                                ) from exc
        rows.append(row)
    names = list(spec.fields) if spec.fields is not None else list(dict.fromkeys(k for r in rows for k in r))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [r.get(name) for r in rows]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed JSON values: kept as their JSON text
            array = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
        if spec.fields is not None:
            array = _cast(array, spec.fields[name], name, entries, spec, where)
        columns[name] = array
    return pa.table(columns)


def _cast(array: pa.Array, kind: str, name: str, entries: list[Entry], spec: RedisStreamSource,
          where: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    target = pa.type_for_alias(ARROW_TYPES[kind])
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), target)
    try:
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    for (entry_id, _), value in zip(entries, array, strict=True):  # name the first entry that does not fit
        try:
            pc.cast(pa.array([value.as_py()], array.type), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise DataError(f"field '{name}' of entry {entry_id.decode()} of source '{spec.name}' is not "
                            f"{'an' if kind == 'integer' else 'a'} {kind}", where=where, expected=kind,
                            found=repr(value.as_py()), hint=f"fix or delete the entry (XDEL {spec.stream} "
                            f"{entry_id.decode()}), or declare the field as {_looser(kind)}") from exc
    raise DataError(f"field '{name}' of source '{spec.name}' cannot be read as {kind}", where=where)


def _looser(kind: str) -> str:
    return "float" if kind == "integer" else "string"
