"""Data sources: one small plug-in per kind of input, registered by the name the project file uses.

The contract: ``reader(spec, base_dir, since) -> LoadedSource``. ``since`` is the watermark already
ingested when the source is incremental (else None); a reader that can filter at the source (a SQL
``WHERE``) returns only the newer rows, the others return everything and ``read_source`` keeps the newer
rows. A reader raises ``DataError`` naming the source, what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiforge.errors import DataError
from aiforge.spec import CsvSource, JsonSource, ParquetSource, SourceSpec

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SOURCES", "LoadedSource", "Source", "read_source", "records_table", "resumes"]


@dataclass(frozen=True)
class LoadedSource:
    """A source read into memory, with the hash of the bytes it came from."""

    name: str
    table: pa.Table
    content_hash: str
    location: str
    watermark: Any = None  # incremental: the highest watermark value ingested, after this read
    added_rows: int | None = None  # incremental: the rows this read added
    parent: str | None = None  # incremental: the artifact of the rows ingested before (``table`` extends it)
    # called once the snapshot holding these rows is durable (a stream acknowledges its entries)
    commit: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    schema_changes: tuple[str, ...] = ()  # changes of its columns since the last snapshot, accepted by the user


class Source(Protocol):
    """Reads one kind of source into an Arrow table; raises DataError on bad input."""

    def __call__(self, spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource: ...


def _resolve(spec: CsvSource | ParquetSource | JsonSource, base_dir: Path) -> Path:
    path = Path(spec.path)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise DataError(
            f"data file for source '{spec.name}' not found",
            where=str(path),
            expected=f"a {spec.type} file",
            found="no such file" if not path.exists() else "a folder",
            hint="paths in the project file are relative to the project file's folder",
        )
    return path


def _read_bytes(path: Path, spec: CsvSource | ParquetSource | JsonSource) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"data file for source '{spec.name}' cannot be read", where=str(path),
                        expected=f"a readable {spec.type} file", found=f"{type(exc).__name__}: {exc.strerror or exc}",
                        hint="check the file's permissions, and that the disk or share holding it is mounted"
                        ) from exc


def records_table(records: list[dict[str, Any]], source: str, where: str) -> pa.Table:
    """JSON records as a table with a column for every field any record has (pyarrow's ``from_pylist`` keeps only
    the first record's fields). A field whose values are of different kinds is a DataError naming the field and
    the first record that does not fit."""
    import pyarrow as pa

    if not records:
        return pa.table({})
    try:
        return pa.Table.from_struct_array(pa.array(records))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        for name in dict.fromkeys(key for record in records for key in record):
            values = [record.get(name) for record in records]
            kinds = [_json_kind(v) for v in values]
            first = next((k for k in kinds if k != "null"), "null")
            misfit = next((i for i, k in enumerate(kinds) if k not in ("null", first)
                           and {k, first} != {"integer", "number"}), None)
            if misfit is not None:
                raise DataError(f"record {misfit + 1} of source '{source}' does not fit the records before it",
                                where=where, expected=f"{first} values in field '{name}' (or null), as in the "
                                "records before", found=f"{kinds[misfit]} {values[misfit]!r:.80}",
                                hint="fix the record upstream: a column holds one kind of value") from exc
        raise DataError(f"the records of source '{source}' do not form a table", where=where,
                        found=str(exc).splitlines()[0],
                        hint="a field holds values of different kinds (a number here, text there)") from exc


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "list" if isinstance(value, list) else "object"


PARALLEL_CSV_BYTES = 1 << 20


def read_csv(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    import pyarrow as pa
    from pyarrow import csv

    assert isinstance(spec, CsvSource)
    path = _resolve(spec, base_dir)
    raw = _read_bytes(path, spec)
    if not raw.strip():
        raise DataError(
            f"CSV file for source '{spec.name}' is empty",
            where=str(path),
            expected="a header row and at least one data row",
            found="0 bytes" if not raw else "only whitespace",
            hint="check that the export that wrote this file finished",
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"CSV file for source '{spec.name}' is not valid UTF-8",
            where=f"{path}:{line}",
            expected="UTF-8 text",
            found=f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            hint="re-export the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT)",
        ) from exc
    try:
        table = csv.read_csv(
            pa.py_buffer(raw),
            # small files in one thread: Arrow's parallel reader of a header-only CSV can leave a thread
            # that aborts the process at exit (apache/arrow#38676, #34314); threads only pay off on big files
            read_options=csv.ReadOptions(use_threads=len(raw) > PARALLEL_CSV_BYTES),
            parse_options=csv.ParseOptions(delimiter=spec.delimiter),
            convert_options=csv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        found = str(exc).splitlines()[0].removeprefix("CSV parse error: ")
        row = re.match(r"Row #(\d+): ", found)  # the line, counting the header (not given by the threaded reader)
        raise DataError(
            f"CSV file for source '{spec.name}' cannot be parsed",
            where=f"{path}:{row.group(1)}" if row else str(path),
            expected="as many fields in every row as in the header",
            found=found[row.end():] if row else found,
            hint="fix the row (a stray delimiter, or an unquoted value holding one), or check the delimiter",
        ) from exc
    if table.num_rows == 0:
        raise DataError(
            f"CSV file for source '{spec.name}' has a header but no data rows",
            where=str(path),
            expected="at least one data row",
            found=f"columns {', '.join(table.column_names[:8])} and 0 rows",
        )
    return LoadedSource(spec.name, table, hashlib.sha256(raw).hexdigest(), str(path))


def read_parquet(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert isinstance(spec, ParquetSource)
    path = _resolve(spec, base_dir)
    raw = _read_bytes(path, spec)
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"file for source '{spec.name}' is not a readable Parquet file",
            where=str(path),
            found=str(exc).splitlines()[0],
            hint="check the file type, or declare it as 'type: csv'",
        ) from exc
    if table.num_rows == 0:
        raise DataError(
            f"Parquet file for source '{spec.name}' has no rows", where=str(path),
            expected="at least one row",
        )
    return LoadedSource(spec.name, table, hashlib.sha256(raw).hexdigest(), str(path))


def read_json(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    import json

    import pyarrow as pa
    from pyarrow import json as pajson

    assert isinstance(spec, JsonSource)
    path = _resolve(spec, base_dir)
    raw = _read_bytes(path, spec)
    lines = spec.lines if spec.lines is not None else path.suffix.lower() in (".jsonl", ".ndjson")
    try:
        if lines:
            table = pajson.read_json(pa.py_buffer(raw)) if raw.strip() else pa.table({})
        else:
            document = json.loads(raw)
            records = document
            for key in (spec.records_path or "").split(".") if spec.records_path else []:
                if not isinstance(records, dict) or key not in records:
                    raise DataError(f"JSON file for source '{spec.name}' has no '{spec.records_path}'",
                                    where=str(path), expected=f"an object with key '{key}'",
                                    found=type(records).__name__ if not isinstance(records, dict)
                                    else "keys " + ", ".join(list(records)[:10]))
                records = records[key]
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise DataError(f"JSON file for source '{spec.name}' does not hold a list of records",
                                where=str(path), expected="a list of objects" + (
                                    f" at '{spec.records_path}'" if spec.records_path else ""),
                                found=type(records).__name__,
                                hint="point records_path at the list, or use JSON Lines (one object per line)")
            table = records_table(records, spec.name, str(path))
    except (ValueError, pa.ArrowInvalid) as exc:
        if isinstance(exc, DataError):
            raise
        found = str(exc).splitlines()[0]
        mixed = "changed from" in found  # JSON Lines: a field holds another kind of value than in the lines before
        raise DataError(f"JSON file for source '{spec.name}' cannot be parsed",
                        where=f"{path}:{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(path),
                        expected="one kind of value per field" if mixed else "JSON Lines (one object per line)"
                        if lines else "a JSON document", found=found,
                        hint="fix the record upstream: a column holds one kind of value" if mixed else
                        "JSON Lines need one object per line (lines: true); a document needs lines: false"
                        ) from exc
    if table.num_rows == 0:
        raise DataError(f"JSON file for source '{spec.name}' has no records", where=str(path),
                        expected="at least one record")
    return LoadedSource(spec.name, table, hashlib.sha256(raw).hexdigest(), str(path))


def _read_sql(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    from aiforge.data._sql import read_sql

    return read_sql(spec, base_dir, since)


def _read_http(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    from aiforge.data._http import read_http

    return read_http(spec, base_dir, since)


def _read_redis(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    from aiforge.data._redis import read_redis

    return read_redis(spec, base_dir, since)


def _read_images(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    from aiforge.data._images import read_images

    return read_images(spec, base_dir, since)


SOURCES: dict[str, Source] = {
    "csv": read_csv,
    "parquet": read_parquet,
    "json": read_json,
    "sql": _read_sql,
    "http": _read_http,
    "redis": _read_redis,
    "images": _read_images,
}
STREAMS = frozenset({"redis"})  # kinds that always resume where the last snapshot left off


def resumes(spec: SourceSpec) -> bool:
    """Whether ``spec`` is read from where the project's last snapshot left off, its rows appended to those
    ingested before: an incremental source, or a stream."""
    return spec.type in STREAMS or getattr(spec, "incremental", None) is not None


def read_source(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    """Read any registered source kind: with ``since`` (an incremental source's watermark), only the rows
    whose watermark column is above it."""
    loaded = SOURCES[spec.type](spec, base_dir, since)
    incremental = getattr(spec, "incremental", None)
    if incremental is None:
        return loaded
    from aiforge.data._incremental import newer_rows

    return newer_rows(loaded, incremental.column, since)
