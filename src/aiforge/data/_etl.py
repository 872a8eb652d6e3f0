"""Declarative ETL (``data.steps``) in DuckDB over Arrow.

The stacked sources are the table ``data``; every step becomes a view over the previous one, so DuckDB
plans the whole chain at once and streams it (spilling to ``temp_dir`` past ``memory_limit``). Sources are
handed to DuckDB as Arrow tables, or as Arrow datasets (files scanned in batches, for data larger than
memory); DuckDB's own access to files and the network is off, so an expression cannot read anything else.

Row order is kept: each row carries its position in ``data`` through every step (a join's rows follow the
left side, then the right; an aggregate's groups follow their first row), and the result is ordered by
it. The same input gives the same snapshot, byte for byte, whatever the threads did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec import (
    AggregateStep,
    CastStep,
    ClipStep,
    DeduplicateStep,
    DeriveStep,
    EtlStep,
    FilterStep,
    ImputeStep,
    JoinStep,
    RenameStep,
    SelectStep,
)
from aiforge.spec._nlp_steps import ExtractSpec, ExtractStep, NlpFeatures, NlpFeaturesStep

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["EtlResult", "Scan", "run_steps", "step_batches"]

ROW = "__aiforge_row"
SIDE_ROW = "__aiforge_side_row"
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Scan:
    """Files DuckDB reads itself: ``sql`` is its table function over them (``read_csv([...])``)."""

    sql: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class EtlResult:
    table: pa.Table
    rows_in: int
    steps: list[dict[str, Any]]  # per step: kind and the columns after it


def run_steps(data: Any, sides: Mapping[str, Any], steps: Sequence[EtlStep], *, memory_limit: str | None = None,
              temp_dir: Path | None = None, threads: int | None = None, base_dir: Path | None = None) -> EtlResult:
    """``steps`` applied to ``data`` (an Arrow table or dataset, or the path of a Parquet or CSV file DuckDB
    scans itself); ``sides``: the other sources by name, for joins. The result in memory (see ``step_batches``
    to stream it). ``base_dir``: the folder relative paths in steps are from (the project file's; default: the
    working directory)."""
    import duckdb

    with _Chain(data, sides, steps, memory_limit, temp_dir, threads, base_dir=base_dir) as chain:
        try:
            table = chain.connection.sql(chain.final()).to_arrow_table()
        except duckdb.Error as exc:
            raise _failed(exc) from exc
        return EtlResult(_plain(table), chain.rows_in, chain.trace)  # rows_in: a count of the input


def step_batches(data: Any, sides: Mapping[str, Any], steps: Sequence[EtlStep], *, memory_limit: str | None = None,
                 temp_dir: Path | None = None, threads: int | None = None, batch_rows: int = BATCH_ROWS,
                 ordered: bool = True) -> Iterator[pa.RecordBatch]:
    """The same as ``run_steps``, as a stream of record batches: given file paths, memory stays bounded by
    DuckDB's ``memory_limit`` and one batch, whatever the size of the files (an Arrow dataset is scanned by
    Arrow, which reads ahead several row groups). ``ordered=False`` skips the final sort
    back into the input's order (it spills to disk on data larger than memory)."""
    import duckdb

    with _Chain(data, sides, steps, memory_limit, temp_dir, threads) as chain:
        try:
            reader = chain.connection.sql(chain.final(ordered)).to_arrow_reader(batch_rows)
            for batch in reader:
                yield _plain(batch)
        except duckdb.Error as exc:
            raise _failed(exc) from exc


def _failed(exc: Exception) -> DataError:
    """A value a step could not handle, found while the chain ran (e.g. text that does not cast)."""
    return DataError("the ETL steps failed on the data", where="data.steps", found=str(exc).splitlines()[0],
                     hint="a cast needs every value to convert (filter or impute first, or cast to VARCHAR)")


class _Chain:
    def __init__(self, data: Any, sides: Mapping[str, Any], steps: Sequence[EtlStep], memory_limit: str | None,
                 temp_dir: Path | None, threads: int | None, allow: Sequence[str] = (),
                 base_dir: Path | None = None) -> None:
        import duckdb

        config: dict[str, Any] = {"preserve_insertion_order": True}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(temp_dir)
        if threads:
            config["threads"] = threads
        self.connection = duckdb.connect(config=config)
        self.base_dir = base_dir
        self.trace: list[dict[str, Any]] = []
        con = self.connection
        files: list[str] = []
        # scans, filters and projections keep DuckDB's insertion order; joins, aggregates and deduplication need
        # each row's position (numbering costs a window over the input and a final sort, so only then)
        self.positions = any(isinstance(s, JoinStep | AggregateStep | DeduplicateStep) for s in steps)
        direct: str | None = None
        for relation, value, column in [("aiforge_data_in", data, ROW),
                                        *((f"aiforge_side_{_safe(n)}", v, SIDE_ROW) for n, v in sides.items())]:
            if isinstance(value, Scan | str | Path):  # files DuckDB scans itself, within its memory limit
                if isinstance(value, Scan):
                    scan = value.sql
                    files.extend(value.files)
                else:
                    path = str(Path(value).resolve())
                    files.append(path)
                    reader = "read_csv" if path.lower().endswith((".csv", ".csv.gz")) else "read_parquet"
                    scan = f"{reader}({_literal(path)})"
                position = "row_number() OVER () - 1" if self.positions else "0"
                if not steps and not sides:  # one query reads it: a view would bind (sniff a CSV) a second time
                    direct = f"(SELECT *, {position} AS {column} FROM {scan})"
                    continue
                con.execute(f"CREATE TEMP VIEW {relation} AS SELECT *, {position} AS {column} FROM {scan}")
                continue
            numbered = _numbered(value, column) if self.positions else value
            con.register(f"{relation}_arrow", numbered)
            if not self.positions:
                position = f", 0 AS {column}"
            else:  # a table arrives numbered; a dataset is numbered in scan order
                position = "" if numbered is not value else f", row_number() OVER () - 1 AS {column}"
            con.execute(f"CREATE TEMP VIEW {relation} AS SELECT *{position} FROM {relation}_arrow")
        self._sides = {name: f"aiforge_side_{_safe(name)}" for name in sides}
        if files or allow:  # only these files stay readable (and ``allow``: writable) once access is off
            con.execute(f"SET allowed_paths = [{', '.join(_literal(f) for f in [*files, *allow])}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        self.current = direct or "aiforge_data_in"
        for index, step in enumerate(steps):
            self._apply(index, step)

    def __enter__(self) -> _Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()

    def final(self, ordered: bool = True) -> str:
        order = f" ORDER BY {ROW}" if ordered and self.positions else ""
        return f"SELECT * EXCLUDE ({ROW}) FROM {self.current}{order}"

    @property
    def rows_in(self) -> int:
        """Rows of the input (a scan of it: only a right or full join needs it)."""
        row = self.connection.execute("SELECT count(*) FROM aiforge_data_in").fetchone()
        return int(row[0]) if row else 0

    def columns(self, relation: str | None = None) -> list[str]:
        rows = self.connection.execute(f"DESCRIBE SELECT * FROM {relation or self.current}").fetchall()
        return [str(r[0]) for r in rows if r[0] not in (ROW, SIDE_ROW)]

    def _apply(self, index: int, step: EtlStep) -> None:
        import duckdb

        kind = next(iter(type(step).model_fields))
        where = f"data.steps[{index}] ({kind})"
        try:
            sql = self._compile(step, where)
            view = f"aiforge_step_{index}"
            self.connection.execute(f"CREATE TEMP VIEW {view} AS {sql}")
        except duckdb.Error as exc:
            raise DataError(f"ETL step {index + 1} ({kind}) cannot run", where=where,
                            found=str(exc).splitlines()[0],
                            hint="check the column names and the SQL; columns here: "
                            + ", ".join(self.columns()[:30])) from exc
        self.current = view
        self.trace.append({"step": index, "kind": kind, "columns": self.columns()})

    def _need(self, names: Sequence[str], where: str, what: str = "column") -> None:
        have = self.columns()
        missing = [n for n in names if n not in have]
        if missing:
            raise DataError(f"{what} {', '.join(repr(m) for m in missing)} not in the data at this step",
                            where=where, expected="one of " + ", ".join(have[:30]), found=", ".join(missing))

    def _scalar(self, sql: str) -> list[Any]:
        row = self.connection.execute(sql).fetchone()
        return list(row) if row is not None else []

    def _compile(self, step: EtlStep, where: str) -> str:  # noqa: C901 - one branch per step kind
        cur = self.current
        q = _quote
        if isinstance(step, SelectStep):
            self._need(step.select, where)
            return f"SELECT {ROW}, {', '.join(q(c) for c in step.select)} FROM {cur}"
        if isinstance(step, RenameStep):
            self._need(list(step.rename), where)
            pairs = ", ".join(f"{q(old)} AS {q(new)}" for old, new in step.rename.items())
            return f"SELECT * RENAME ({pairs}) FROM {cur}"
        if isinstance(step, CastStep):
            self._need(list(step.cast), where)
            parts = ", ".join(f"CAST({q(c)} AS {t}) AS {q(c)}" for c, t in step.cast.items())
            return f"SELECT * REPLACE ({parts}) FROM {cur}"
        if isinstance(step, FilterStep):
            return f"SELECT * FROM {cur} WHERE ({step.filter})"
        if isinstance(step, DeriveStep):
            have = set(self.columns())
            replaced = {c: e for c, e in step.derive.items() if c in have}
            added = {c: e for c, e in step.derive.items() if c not in have}
            select = "*" + (f" REPLACE ({', '.join(f'({e}) AS {q(c)}' for c, e in replaced.items())})"
                            if replaced else "")
            extra = "".join(f", ({e}) AS {q(c)}" for c, e in added.items())
            return f"SELECT {select}{extra} FROM {cur}"
        if isinstance(step, JoinStep):
            return self._join(step, where)
        if isinstance(step, AggregateStep):
            agg = step.aggregate
            self._need(agg.by, where)
            by = ", ".join(q(c) for c in agg.by)
            values = ", ".join(f"({e}) AS {q(c)}" for c, e in agg.columns.items())
            return f"SELECT min({ROW}) AS {ROW}, {by}, {values} FROM {cur} GROUP BY {by}"
        if isinstance(step, DeduplicateStep):
            d = step.deduplicate
            on = d.on or self.columns()
            self._need([*on, *([d.order_by] if d.order_by else [])], where)
            order = f"{q(d.order_by)} {'DESC' if d.keep == 'last' else 'ASC'}, " if d.order_by else ""
            return (f"SELECT * EXCLUDE (aiforge_rank) FROM (SELECT *, row_number() OVER (PARTITION BY "
                    f"{', '.join(q(c) for c in on)} ORDER BY {order}{ROW}) AS aiforge_rank FROM {cur}) "
                    "WHERE aiforge_rank = 1")
        if isinstance(step, ImputeStep):
            self._need(list(step.impute), where)
            filled = []
            for column, how in step.impute.items():
                if how in ("mean", "median", "mode"):
                    function = {"mean": "avg", "median": "median", "mode": "mode"}[str(how)]
                    [value] = self._scalar(f"SELECT {function}({q(column)}) FROM {cur}")
                    if value is None:
                        raise DataError(f"cannot impute '{column}' by its {how}: the column has no value",
                                        where=where)
                else:
                    value = how
                filled.append(f"COALESCE({q(column)}, {_literal(value)}) AS {q(column)}")
            return f"SELECT * REPLACE ({', '.join(filled)}) FROM {cur}"
        if isinstance(step, ClipStep):
            self._need(list(step.clip), where)
            clipped = []
            for column, clip in step.clip.items():
                low, high = clip.min, clip.max
                if clip.quantiles is not None:
                    low, high = self._scalar(f"SELECT quantile_cont({q(column)}, {clip.quantiles[0]}), "
                                             f"quantile_cont({q(column)}, {clip.quantiles[1]}) FROM {cur}")
                expr = q(column)
                if low is not None:
                    expr = f"greatest({expr}, {_literal(low)})"
                if high is not None:
                    expr = f"least({expr}, {_literal(high)})"
                clipped.append(f"CASE WHEN {q(column)} IS NULL THEN NULL ELSE {expr} END AS {q(column)}")
            return f"SELECT * REPLACE ({', '.join(clipped)}) FROM {cur}"
        if isinstance(step, NlpFeaturesStep | ExtractStep):
            return self._text_step(step, where)
        raise DataError(f"unknown ETL step {type(step).__name__}", where=where)

    def _text_step(self, step: NlpFeaturesStep | ExtractStep, where: str) -> str:
        """A step run in Python (spaCy, rules) over one text column: the rows so far are materialised, the new
        columns added (or replacing columns of the same name), and the chain goes on from that table."""
        import pyarrow as pa

        spec: NlpFeatures | ExtractSpec = step.nlp_features if isinstance(step, NlpFeaturesStep) else step.extract
        self._need([spec.column], where)
        table = self.connection.sql(f"SELECT * FROM {self.current}").to_arrow_table()
        column = table.column(spec.column)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise DataError(f"column '{spec.column}' is not text", where=where, expected="a VARCHAR column",
                            found=str(column.type), hint="cast it first: {cast: {COLUMN: VARCHAR}}")
        texts = column.to_pylist()
        if spec.model is not None and self.base_dir is not None:
            from aiforge.nlp._spacy import resolve_pipeline

            spec = spec.model_copy(update={"model": resolve_pipeline(spec.model, self.base_dir)})
        new: list[tuple[str, pa.Array]] = []
        if isinstance(spec, NlpFeatures):
            from aiforge.nlp._features import text_features

            prefix = spec.prefix or spec.column
            features = text_features(texts, model=spec.model, entities=spec.entities, pos=spec.pos, prefix=prefix)
            new = [(name, pa.array(values, pa.float64() if name.startswith(f"{prefix}_pos_") else pa.int64()))
                   for name, values in features.items()]
        else:
            from aiforge.nlp._extract import extract_fields

            kinds = {"double": pa.float64(), "date32": pa.date32(), "string": pa.string()}
            new = [(c.name, pa.array(c.values, kinds[c.kind])) for c in extract_fields(texts, spec)]
        for name, values in new:
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, values)
            else:
                table = table.append_column(name, values)
        relation = f"aiforge_text_{len(self.trace)}"
        self.connection.register(relation, table)
        return f"SELECT * FROM {relation}"

    def _join(self, step: JoinStep, where: str) -> str:
        j = step.join
        side = self._sides.get(j.source)
        if side is None:
            raise DataError(f"join: source '{j.source}' was not read", where=where)
        pairs = list(j.keys.items()) if isinstance(j.keys, dict) else [(k, k) for k in j.keys]
        self._need([left for left, _ in pairs], where)
        theirs = self.columns(side)
        missing = [right for _, right in pairs if right not in theirs]
        if missing:
            raise DataError(f"join: key {', '.join(missing)} not in source '{j.source}'", where=where,
                            expected="one of " + ", ".join(theirs[:30]))
        q = _quote
        mine = self.columns()
        right_keys = {right for _, right in pairs}
        select = [f"l.{ROW}"]
        for column in mine:
            right = next((r for left, r in pairs if left == column), None)
            if right is not None and j.how in ("right", "full"):
                select.append(f"COALESCE(l.{q(column)}, r.{q(right)}) AS {q(column)}")
            else:
                select.append(f"l.{q(column)}")
        for column in theirs:
            if column in right_keys:
                continue
            name = column if column not in mine else f"{column}_{j.source}"
            select.append(f"r.{q(column)} AS {q(name)}")
        on = " AND ".join(f"l.{q(left)} = r.{q(right)}" for left, right in pairs)
        how = {"inner": "INNER", "left": "LEFT", "right": "RIGHT", "full": "FULL OUTER"}[j.how]
        # a right or full join's unmatched right rows follow the left rows, in their own order
        row = (f"COALESCE(l.{ROW}, {self.rows_in} + r.{SIDE_ROW}) AS {ROW}" if j.how in ("right", "full")
               else f"l.{ROW} AS {ROW}")
        select[0] = row
        return f"SELECT {', '.join(select)} FROM {self.current} AS l {how} JOIN {side} AS r ON {on}"


def _numbered(data: Any, column: str = ROW) -> Any:
    """``data`` with its row positions as a column, if it is a table (a dataset is numbered by DuckDB in scan
    order instead)."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data.append_column(column, pa.array(range(data.num_rows), pa.int64()))
    return data


def _plain(data: Any) -> Any:
    """DuckDB's wide integers and decimals (a sum of integers is a HUGEINT) as float64 columns, so that the
    snapshot holds the types the learners and the profile expect."""
    import pyarrow as pa

    fields = [f for f in data.schema if pa.types.is_decimal(f.type)]
    if not fields:
        return data
    schema = pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in data.schema])
    return data.cast(schema)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _literal(value: Any) -> str:
    """A Python value as a DuckDB SQL literal (data.steps and the file snapshot's contract rules share it)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):  # quoted, so that inf and nan are literals too
        return f"CAST('{value!r}' AS DOUBLE)"
    return "'" + str(value).replace("'", "''") + "'"
