"""The ``data.sources`` of the project file: one model per kind of source (``type:`` picks it).

Each kind has a reader in ``aiforge.data`` registered under the same name. A source with ``incremental:``
is read for its new rows only: those whose watermark column is above the highest value already ingested
(kept with the project's snapshots in the workspace); the new snapshot is the previous one plus them, and
records it as its parent.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PAGINATION_TYPES",
    "SOURCE_TYPES",
    "CsvSource",
    "CursorPagination",
    "HttpSource",
    "ImageSource",
    "Incremental",
    "JsonSource",
    "NextLinkPagination",
    "PagePagination",
    "ParquetSource",
    "RedisStreamSource",
    "SourceSpec",
    "SqlSource",
]

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
DOTTED = r"^[^.\s]+(\.[^.\s]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Incremental(_Strict):
    """Ingest only rows newer than the last run's: by a watermark column that only grows (an id, an
    ``updated_at`` timestamp)."""

    column: str = Field(min_length=1, description="The watermark column: rows above the highest value ingested "
                        "so far are new.", examples=["updated_at", "id"])


_NAME_HELP = "The source's name, unique in data.sources (join steps name it)."
_INCREMENTAL_HELP = "Ingest only the rows newer than the last run's, by a watermark column; default: all rows."


class _FileSource(_Strict):
    name: str = Field(pattern=NAME, description=_NAME_HELP, examples=["census"])
    path: str = Field(min_length=1, description="The file, relative to the project file's folder.",
                      examples=["data/adult.csv"])
    incremental: Incremental | None = Field(None, description=_INCREMENTAL_HELP)


class CsvSource(_FileSource):
    """A CSV file (UTF-8, header row)."""

    type: Literal["csv"] = Field(description="A CSV file.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The one character between fields.")


class ParquetSource(_FileSource):
    """A Parquet file."""

    type: Literal["parquet"] = Field(description="A Parquet file.")


class JsonSource(_FileSource):
    """JSON Lines (one object per line: ``.jsonl``, ``.ndjson``) or a JSON document holding a list of
    objects (at ``records_path`` inside it, if nested)."""

    type: Literal["json"] = Field(description="JSON Lines or a JSON document.")
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

    type: Literal["sql"] = Field(description="A database query or table.")
    name: str = Field(pattern=NAME, description=_NAME_HELP)
    url: str | None = Field(None, description="A SQLAlchemy URL without secrets, e.g. sqlite:///data/shop.db "
                            "(relative SQLite paths are from the project file's folder).")
    url_env: str | None = Field(None, pattern=ENV_VAR,
                                description="An environment variable holding the URL (use it when the URL holds "
                                "a password).")
    query: str | None = Field(None, description="A SELECT statement.")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="A table or view to read "
                              "whole (instead of query).")
    incremental: Incremental | None = Field(None, description=_INCREMENTAL_HELP)
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


class PagePagination(_Strict):
    """Numbered pages: ``?page=1&per_page=100``, then 2, 3, ... until a page is empty or shorter than
    ``page_size``."""

    type: Literal["page"] = Field(description="Numbered pages.")
    page_param: str = Field("page", min_length=1, description="The query parameter of the page number.")
    start: int = Field(1, ge=0, description="The first page's number.")
    size_param: str | None = Field(None, min_length=1, description="The query parameter of the page size, if the "
                                   "API takes one.")
    page_size: int | None = Field(None, ge=1, le=100_000, description="Records per page: a shorter page is the "
                                  "last one.")

    @model_validator(mode="after")
    def _size_with_param(self) -> PagePagination:
        if self.size_param is not None and self.page_size is None:
            raise ValueError("size_param needs page_size (the value to send)")
        return self


class CursorPagination(_Strict):
    """A cursor in each response (``meta.next_cursor``) sent back as a query parameter for the next page; no
    cursor (or an empty one) ends the read."""

    type: Literal["cursor"] = Field(description="A cursor from each response.")
    cursor_path: str = Field(pattern=DOTTED, description="Where the next cursor is in each response, as dotted "
                             "keys.")
    cursor_param: str = Field("cursor", min_length=1, description="The query parameter that carries it.")


class NextLinkPagination(_Strict):
    """The next page's URL: at ``next_path`` in each response, or (without it) in the HTTP ``Link: <...>;
    rel="next"`` header."""

    type: Literal["next"] = Field(description="The next page's URL, from the response or its Link header.")
    next_path: str | None = Field(None, pattern=DOTTED, description="Where the next page's URL is in each "
                                  "response, as dotted keys; default: the Link header.")


Pagination = Annotated[PagePagination | CursorPagination | NextLinkPagination, Field(discriminator="type")]
PAGINATION_TYPES = ("page", "cursor", "next")


class HttpSource(_Strict):
    """A JSON API read page by page over HTTP(S), with retries and timeouts."""

    type: Literal["http"] = Field(description="A paged JSON API.")
    name: str = Field(pattern=NAME, description=_NAME_HELP)
    url: str = Field(pattern=r"^https?://\S+$", description="The first page's URL.")
    records_path: str | None = Field(None, pattern=DOTTED, description="Where the list of records is in each "
                                     "page, as dotted keys: 'data.items'; default: the page is the list.")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters "
                                                         "sent with every request.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers sent with every request (no "
                                    "secrets: use auth_env).")
    auth_env: str | None = Field(None, pattern=ENV_VAR, description="An environment variable holding a token, "
                                 "sent as 'Authorization: Bearer TOKEN' (or under auth_header).")
    auth_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$", description="Send the token as this "
                                    "header's whole value instead (e.g. X-API-Key).")
    pagination: Pagination | None = Field(None, description="How to reach the next page; default: one page.")
    max_pages: int = Field(1000, ge=1, le=1_000_000, description="Stop after this many pages.")
    retries: int = Field(3, ge=0, le=20, description="Retries of a request after a connection error, a timeout, "
                         "HTTP 429 or 5xx (not after other 4xx).")
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="The wait before the first retry; doubled "
                                   "each time (HTTP 429's Retry-After wins when longer).")
    timeout_seconds: float = Field(30.0, gt=0, le=3600, description="Connecting, and waiting for each response.")
    incremental: Incremental | None = Field(None, description=_INCREMENTAL_HELP)
    since_param: str | None = Field(None, min_length=1, description="With incremental: the query parameter that "
                                    "sends the watermark, so the API returns only newer records (they are "
                                    "filtered again here).")

    @model_validator(mode="after")
    def _consistent(self) -> HttpSource:
        if self.auth_header is not None and self.auth_env is None:
            raise ValueError("auth_header needs auth_env (the environment variable holding the token)")
        if any(h.lower() in ("authorization", "cookie", "x-api-key") for h in self.headers):
            raise ValueError("put credentials in an environment variable named by auth_env, not in headers")
        if self.since_param is not None and self.incremental is None:
            raise ValueError("since_param needs incremental: {column: ...} (the watermark it sends)")
        return self


ColumnType = Literal["string", "integer", "float", "boolean", "timestamp"]


class RedisStreamSource(_Strict):
    """A Redis stream read through a consumer group: each run adds the entries not yet ingested to the rows
    ingested before. An entry is acknowledged only once the snapshot holding it is written, so entries read by a
    run that failed are read again by the next one (at least once; none is ingested twice)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["redis"] = Field(description="A Redis stream, read through a consumer group.")
    name: str = Field(pattern=NAME, description=_NAME_HELP)
    url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://\S*$", description="redis://host:port/db "
                            "without a password.")
    url_env: str | None = Field(None, pattern=ENV_VAR, description="An environment variable holding the URL (use "
                                "it when the URL holds a password).")
    stream: str = Field(min_length=1, description="The stream's key.")
    group: str = Field(min_length=1, description="The consumer group; created (with the stream) if missing.")
    consumer: str = Field("aiforge", min_length=1, description="This reader's name in the group: consumers of "
                          "one group share out its entries.")
    start: Literal["0", "$"] = Field("0", description="Where a new group starts: '0' the stream's first entry, "
                                     "'$' entries added after the group is created.")
    fields: dict[str, ColumnType] | None = Field(None, description="The entry fields to keep as columns, with "
                                                 "their types; default: every field, as text (or JSON values).")
    decode_json: bool = Field(False, alias="json", description="Decode each field's value as JSON (numbers, "
                              "booleans, null) instead of keeping it as text.")
    max_entries: int = Field(100_000, ge=1, le=10_000_000, description="The most entries one run ingests.")
    block_ms: int = Field(0, ge=0, le=600_000, description="When no entry is waiting, wait this long for one "
                          "(0: do not wait).")
    timeout_seconds: float = Field(10.0, gt=0, le=3600, description="Connecting, and each command.")

    @field_validator("start", mode="before")
    @classmethod
    def _start_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_url(self) -> RedisStreamSource:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give the server as url or as url_env (one of them)")
        return self


class ImageSource(_Strict):
    """Labelled images, one row each: every pixel a column ``pixel_{row}_{col}`` (grey) or
    ``pixel_{row}_{col}_{channel}`` (colour), row-major, values 0-255, and the label in ``label_column``. The
    image learners (cnn) read the image shape back from these names; a served model takes images over HTTP.

    ``format``: ``idx`` (MNIST's IDX files, gzip or not: ``path`` the images, ``labels`` the labels file),
    ``npz`` (a numpy archive: arrays ``images_key`` (n, height, width[, channels]) and ``labels_key``) or
    ``folder`` (``path/<label>/<image>.png|jpg|...``: the label is the sub-folder's name; every image must have
    ``shape``)."""

    type: Literal["images"] = Field(description="Labelled images: IDX files, a numpy archive or a folder per label.")
    name: str = Field(pattern=NAME, description=_NAME_HELP, examples=["fashion"])
    format: Literal["idx", "npz", "folder"] = Field(description="idx: IDX files (MNIST's format, gzip or not); "
                                                    "npz: a numpy archive; folder: one sub-folder of image files per "
                                                    "label.")
    path: str = Field(min_length=1, description="The images file (idx, npz) or the folder (folder), relative to "
                      "the project file's folder.", examples=["data/train-images-idx3-ubyte.gz"])
    labels: str | None = Field(None, min_length=1, description="idx: the labels file (required).")
    images_key: str = Field("images", min_length=1, description="npz: the array of images.")
    labels_key: str = Field("labels", min_length=1, description="npz: the array of labels.")
    shape: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        min_length=2, max_length=3, description="Each image's [height, width] (grey) or [height, width, channels] "
        "(channels 1, 3 or 4); an image of another shape is refused.", examples=[[28, 28]])
    label_column: str = Field("label", min_length=1, description="The column that holds the label (problem.target "
                              "names it).")
    limit: int | None = Field(None, ge=1, description="Read only the first this many images (a quick subset).")
    label_names: list[str] | None = Field(None, min_length=2, description="Names of the integer labels 0, 1, 2, "
                                          "...: the label column holds the names (idx, npz).",
                                          examples=[["T-shirt/top", "Trouser"]])

    @model_validator(mode="after")
    def _consistent(self) -> ImageSource:
        if self.format == "idx" and self.labels is None:
            raise ValueError("format: idx needs labels: the IDX file of the labels")
        if self.format != "idx" and self.labels is not None:
            raise ValueError(f"labels is for format: idx; format: {self.format} finds the labels "
                             + ("under labels_key" if self.format == "npz" else "in the sub-folders' names"))
        if len(self.shape) == 3 and self.shape[2] not in (1, 3, 4):
            raise ValueError(f"an image has 1, 3 or 4 channels, not {self.shape[2]}")
        if self.label_names is not None and self.format == "folder":
            raise ValueError("label_names is for integer labels (idx, npz); format: folder names them by sub-folder")
        if self.label_column.startswith("pixel_"):
            raise ValueError("label_column must not start with 'pixel_' (the pixel columns' prefix)")
        return self


SourceSpec = Annotated[CsvSource | ParquetSource | JsonSource | SqlSource | HttpSource | RedisStreamSource
                       | ImageSource,
                       Field(discriminator="type")]
# the type names, from the union above (a new kind of source is one class in it)
SOURCE_TYPES = tuple(get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(SourceSpec)[0]))
