"""The ``sql`` source: a query or a table of any database SQLAlchemy reaches, read in chunks into Arrow.

An incremental source's watermark filter runs in the database (``WHERE column > :watermark`` around the
query), so a rerun transfers only the new rows.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec import SourceSpec, SqlSource

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL

    from aiforge.data._sources import LoadedSource

__all__ = ["read_sql"]

CHUNK_ROWS = 50_000


def read_sql(spec: SourceSpec, base_dir: Path, since: dict[str, Any] | None = None) -> LoadedSource:
    import pyarrow as pa
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    from aiforge.data._sources import LoadedSource

    assert isinstance(spec, SqlSource)
    url = _url(spec, base_dir)
    where = f"{url.render_as_string(hide_password=True)} ({spec.table or _short(spec.query or '')})"
    try:
        engine = sa.create_engine(url, connect_args=_timeouts(url, spec.timeout_seconds))
    except (NoSuchModuleError, ModuleNotFoundError, ArgumentError) as exc:
        raise DataError(f"cannot use the database of source '{spec.name}'", where=where,
                        found=str(exc).splitlines()[0],
                        hint="PostgreSQL needs psycopg: pip install 'aiforge[postgres]'; check the URL's scheme"
                        ) from exc
    statement, params = _statement(spec, engine.dialect, since)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=CHUNK_ROWS).execute(
                sa.text(statement), params)
            names = list(result.keys())
            chunks = [_chunk(names, rows) for rows in result.partitions(CHUNK_ROWS)]
    except DBAPIError as exc:
        raise DataError(f"the database of source '{spec.name}' refused the read", where=where,
                        found=str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0],
                        hint="check that the server is up and reachable, the credentials, and the query or table"
                        ) from exc
    except SQLAlchemyError as exc:
        raise DataError(f"cannot read source '{spec.name}'", where=where, found=str(exc).splitlines()[0]) from exc
    finally:
        engine.dispose()
    if chunks:
        try:
            table = pa.concat_tables(chunks, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"a column of source '{spec.name}' holds values of different types", where=where,
                            found=str(exc).splitlines()[0], hint="cast the column in the query") from exc
    else:
        table = pa.table({n: pa.array([], pa.null()) for n in names})
    if table.num_rows == 0 and spec.incremental is None:
        raise DataError(f"source '{spec.name}' returned no rows", where=where, expected="at least one row")
    return LoadedSource(spec.name, table, _digest(table), where)


def _url(spec: SqlSource, base_dir: Path) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = spec.url
    if spec.url_env is not None:
        text = os.environ.get(spec.url_env)
        if not text:
            raise DataError(f"the environment variable {spec.url_env} holding the URL of source '{spec.name}' is "
                            "not set", expected="a SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db",
                            hint=f"export {spec.url_env}=...")
    assert text is not None
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DataError(f"the URL of source '{spec.name}' is not a SQLAlchemy URL", found=str(exc),
                        expected="e.g. sqlite:///data/shop.db or postgresql+psycopg://user@host/db") from exc
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        path = Path(url.database)
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise DataError(f"the SQLite database of source '{spec.name}' does not exist", where=str(path),
                            hint="SQLite paths in the project file are relative to its folder")
        url = url.set(database=str(path))
    return url


def _timeouts(url: URL, seconds: float) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"timeout": seconds}
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2", ""):
        return {"connect_timeout": max(1, int(seconds)), "options": f"-c statement_timeout={int(seconds * 1000)}"}
    return {}


def _statement(spec: SqlSource, dialect: Any, since: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    quote = dialect.identifier_preparer.quote
    if spec.table is not None:
        base = "SELECT * FROM " + ".".join(quote(part) for part in spec.table.split("."))
    else:
        base = (spec.query or "").strip().rstrip(";")
    if spec.incremental is None:
        return base, {}
    column = quote(spec.incremental.column)
    if since is None:
        return f"SELECT * FROM ({base}) AS aiforge_source ORDER BY {column}", {}
    return (f"SELECT * FROM ({base}) AS aiforge_source WHERE {column} > :watermark ORDER BY {column}",
            {"watermark": _parameter(since)})


def _parameter(since: dict[str, Any]) -> Any:
    """The stored watermark as the driver's value: a datetime (or date) for time columns, else as stored."""
    from datetime import date, datetime

    kind, value = str(since.get("type", "")), since["value"]
    if isinstance(value, str) and kind.startswith(("timestamp", "date")):
        try:
            return datetime.fromisoformat(value) if kind.startswith("timestamp") else date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _chunk(names: list[str], rows: Sequence[Any]) -> pa.Table:
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for values in columns:
        try:
            arrays.append(pa.array(values, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values (SQLite's loose typing): kept as text
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.table(arrays, names=names)


def _digest(table: pa.Table) -> str:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."
