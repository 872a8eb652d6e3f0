"""Incremental ingestion: keep the rows above a source's watermark, and append them to what was ingested before.

A watermark is the highest value of the source's ``incremental.column`` ingested so far. It is stored with
the project's snapshot (``SnapshotLog``) as JSON — its Arrow type and its value as text or number — and
compared in the column's own type, so timestamps compare as timestamps, not as strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

    from aiforge.data._sources import LoadedSource

__all__ = ["decode_watermark", "encode_watermark", "extend", "newer_rows"]


def encode_watermark(value: pa.Scalar | None) -> dict[str, Any] | None:
    """A watermark as JSON: ``{"type": "int64", "value": 42}`` or ``{"type": "timestamp[us]", "value": "..."}``."""
    if value is None or not value.is_valid:
        return None
    plain = value.as_py()
    if not isinstance(plain, int | float | str | bool):
        plain = str(value.cast(_text_type()).as_py()) if _castable_to_text(value) else str(plain)
    return {"type": str(value.type), "value": plain}


def decode_watermark(data: dict[str, Any] | None, column_type: pa.DataType) -> pa.Scalar | None:
    """The stored watermark in the column's type (``None``: nothing ingested yet)."""
    import pyarrow as pa

    if data is None:
        return None
    try:
        return pa.scalar(data["value"]).cast(column_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DataError("the stored watermark cannot be compared with the watermark column any more",
                        expected=f"a value of {column_type}", found=f"{data['value']!r} ({data.get('type')})",
                        hint="the column's type changed upstream; ingest afresh into a new project, or restore "
                        "the column's type") from exc


def newer_rows(loaded: LoadedSource, column: str, since: dict[str, Any] | None) -> LoadedSource:
    """The rows of ``loaded`` whose ``column`` is above the watermark ``since`` (all when None), with the new
    watermark (the highest value, or ``since`` when no row is newer)."""
    import pyarrow.compute as pc

    table = loaded.table
    if column not in table.column_names:
        raise DataError(f"the incremental column '{column}' is not a column of source '{loaded.name}'",
                        where=loaded.location, expected="one of " + ", ".join(table.column_names[:30]),
                        found=column, hint="name the column that grows with every new row (an id, updated_at)")
    values = table.column(column)
    if values.null_count:
        raise DataError(f"the incremental column '{column}' of source '{loaded.name}' has {values.null_count} "
                        "empty values", where=loaded.location, expected="a value in every row",
                        hint="a row without a watermark can never be ingested incrementally: fill or filter it")
    if table.num_rows == 0:
        return replace(loaded, watermark=since, added_rows=0,
                       content_hash=hashlib.sha256(f"{loaded.content_hash}|{since}".encode()).hexdigest())
    start = decode_watermark(since, values.type)
    kept = table if start is None else table.filter(pc.greater(values, start))
    top = pc.max(kept.column(column)) if kept.num_rows else None
    digest = hashlib.sha256(f"{loaded.content_hash}|{since}".encode()).hexdigest()
    return replace(loaded, table=kept, content_hash=digest,
                   watermark=encode_watermark(top) if top is not None else since, added_rows=kept.num_rows)


def extend(previous: pa.Table | None, parent: str | None, delta: LoadedSource) -> LoadedSource:
    """``delta`` appended to the rows ingested before (``previous``, stored as artifact ``parent``). With no new
    row, the result is the previous rows under their own hash, so an unchanged source keeps its snapshot."""
    import pyarrow as pa

    if previous is None:
        return delta
    if not delta.added_rows:
        return replace(delta, table=previous, content_hash=parent or delta.content_hash, parent=parent)
    try:
        table = pa.concat_tables([previous, delta.table], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"the new rows of source '{delta.name}' do not fit the rows ingested before",
                        where=delta.location, found=str(exc).splitlines()[0],
                        hint="a column changed type upstream: restore it, or ingest afresh into a new project"
                        ) from exc
    digest = hashlib.sha256(f"{parent}|{delta.content_hash}".encode()).hexdigest()
    return replace(delta, table=table, content_hash=digest, parent=parent)


def _text_type() -> pa.DataType:
    import pyarrow as pa

    return pa.string()


def _castable_to_text(value: pa.Scalar) -> bool:
    import pyarrow as pa

    try:
        value.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True
