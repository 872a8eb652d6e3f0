"""The ``data.sources`` of the project file: one model per kind of source (``type:`` picks it).

Each kind has a reader in ``aiforge.data`` registered under the same name. A source with ``incremental:``
is read for its new rows only: those whose watermark column is above the highest value already ingested
(kept with the project's snapshots in the workspace); the new snapshot is the previous one plus them, and
records it as its parent.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SOURCE_TYPES", "CsvSource", "Incremental", "JsonSource", "ParquetSource", "SourceSpec", "SqlSource"]

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Incremental(_Strict):
    """Ingest only rows newer than the last run's: by a watermark column that only grows (an id, an
    ``updated_at`` timestamp)."""

    column: str = Field(min_length=1, description="The watermark column: rows above the highest value ingested "
                        "so far are new.")


class _FileSource(_Strict):
    name: str = Field(pattern=NAME)
    path: str = Field(min_length=1, description="Relative to the project file's folder.")
    incremental: Incremental | None = None


class CsvSource(_FileSource):
    """A CSV file (UTF-8, header row)."""

    type: Literal["csv"]
    delimiter: str = Field(",", min_length=1, max_length=1)


class ParquetSource(_FileSource):
    """A Parquet file."""

    type: Literal["parquet"]


class JsonSource(_FileSource):
    """JSON Lines (one object per line: ``.jsonl``, ``.ndjson``) or a JSON document holding a list of
    objects (at ``records_path`` inside it, if nested)."""

    type: Literal["json"]
    lines: bool | None = Field(None, description="JSON Lines (true) or one document (false); default: by the "
                               "file's extension (.jsonl and .ndjson are lines).")
    records_path: str | None = Field(None, description="Where the list of records is in the document, as dotted "
                                     "keys: 'data.items'. Not for JSON Lines.")

    @model_validator(mode="after")
    def _path_for_documents(self) -> JsonSource:
        if self.records_path is not None and self.lines:
            raise ValueError("records_path is for a JSON document, not JSON Lines (lines: true)")
        return self


class SqlSource(_Strict):
    """A query or a table of any database SQLAlchemy reaches (SQLite, PostgreSQL, ...)."""

    type: Literal["sql"]
    name: str = Field(pattern=NAME)
    url: str | None = Field(None, description="A SQLAlchemy URL without secrets, e.g. sqlite:///data/shop.db "
                            "(relative SQLite paths are from the project file's folder).")
    url_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                description="An environment variable holding the URL (use it when the URL holds "
                                "a password).")
    query: str | None = Field(None, description="A SELECT statement.")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="A table or view to read "
                              "whole (instead of query).")
    incremental: Incremental | None = None
    timeout_seconds: float = Field(30.0, gt=0, le=3600, description="Connecting, and each statement.")

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give the database as url or as url_env (one of them)")
        if (self.query is None) == (self.table is None):
            raise ValueError("give what to read as query or as table (one of them)")
        if self.query is not None and not self.query.lstrip().lower().startswith(("select", "with")):
            raise ValueError("query must be a SELECT statement (or WITH ... SELECT)")
        return self


SourceSpec = Annotated[CsvSource | ParquetSource | JsonSource | SqlSource, Field(discriminator="type")]
# the type names, from the union above (a new kind of source is one class in it)
SOURCE_TYPES = tuple(get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(SourceSpec)[0]))
