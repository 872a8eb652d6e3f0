"""Files to a validated snapshot without holding the data in memory: DuckDB reads the files, runs the steps and
writes the Parquet snapshot itself (spilling past ``memory_limit``); the contract is then checked on that
Parquet file with SQL aggregates, and only a snapshot that keeps it enters the artifact store.

This is the path for data larger than memory (``aiforge.data.file_snapshot``); ``aiforge run`` still reads
its sources into Arrow tables before the steps.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.data._contract import ContractError, ContractReport, Violation
from aiforge.data._etl import _literal
from aiforge.errors import DataError
from aiforge.spec import Contract, EtlStep

if TYPE_CHECKING:
    from aiforge.workspace import ArtifactStore

__all__ = ["FileSnapshot", "file_snapshot"]


@dataclass(frozen=True)
class FileSnapshot:
    id: str  # the SHA-256 of the Parquet bytes: the artifact address
    rows: int
    bytes: int
    contract: ContractReport
    seconds: float


def file_snapshot(paths: Sequence[Path], store: ArtifactStore, *, steps: Sequence[EtlStep] = (),
                  contract: Contract | None = None, memory_limit: str | None = None, threads: int | None = None,
                  temp_dir: Path | None = None) -> FileSnapshot:
    """CSV or Parquet files (stacked by column name) through ``steps`` into a Parquet snapshot checked against
    ``contract`` and stored in ``store``. A broken rule raises ``ContractError`` and stores nothing."""
    import duckdb

    from aiforge.data._etl import Scan, _Chain

    started = time.perf_counter()
    files = [str(Path(p).resolve()) for p in paths]
    for f in files:
        if not Path(f).is_file():
            raise DataError("data file not found", where=f)
    # by default on the store's file system, so that the checked file is renamed into the store, not copied
    work = Path(tempfile.mkdtemp(prefix="aiforge-snapshot-", dir=temp_dir)) if temp_dir else store.incoming()
    out = work / "snapshot.parquet"
    try:
        scan = Scan(_scan(files, sniff=bool(steps)), tuple(files))
        chain = _Chain(scan, {}, steps, memory_limit, work / "spill", threads, allow=[str(out)])
        # its connection may read ``out`` (``allow``): the contract is checked on it too. ``side`` does the rest of
        # the work on the file while the contract is checked: its hash and fsync, and closing the connection as
        # soon as the check needs it no more (20 ms of freeing DuckDB's memory)
        with chain, ThreadPoolExecutor(2) as side:  # the hash and the close: each on its own thread
            try:
                written = chain.connection.sql(f"COPY ({chain.final()}) TO {_literal(str(out))} (FORMAT parquet, "
                                               "COMPRESSION zstd, ROW_GROUP_SIZE 122880, RETURN_STATS)").fetchall()
            except duckdb.Error as exc:
                raise DataError("the files cannot be read into a snapshot", where=", ".join(files),
                                found=str(exc).splitlines()[0]) from exc
            sealed = side.submit(_sealed, out)
            report = _check(out, contract or Contract(), chain.connection, _Stats(written[0][1], written[0][4] or {}),
                            release=lambda: side.submit(chain.connection.close))
        if not report.passed:
            raise ContractError(report)
        size = out.stat().st_size
        digest = store.move_file(out, digest=sealed.result())
        return FileSnapshot(digest, report.rows, size, report, time.perf_counter() - started)
    finally:
        for leftover in sorted(work.rglob("*"), reverse=True):
            leftover.unlink() if leftover.is_file() else leftover.rmdir()
        work.rmdir()


def _sealed(path: Path) -> str:
    """The file's SHA-256, the file flushed to disk: what moving it into the store takes, done while its contract
    is checked (hashlib and fsync leave the GIL to the check's threads)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
        os.fsync(fh.fileno())
    return digest.hexdigest()


def _scan(files: list[str], sniff: bool) -> str:
    """The table function over ``files``; CSV options sniffed beforehand when the scan will be bound more than
    once (``sniff``: each ETL step's view binds it again), else left to the one query that reads it."""
    listed = "[" + ", ".join(_literal(f) for f in files) + "]"
    # several files are reconciled by column name; one has nothing to reconcile (and reads with 7% less CPU)
    union = ", union_by_name = true" if len(files) > 1 else ""
    if all(f.lower().endswith((".parquet", ".pq")) for f in files):
        return f"read_parquet({listed}{union})"
    return (_sniffed_csv(files, listed) if sniff else None) or f"read_csv({listed}{union})"


def _hashable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tuple((c["name"], c["type"]) for c in v) if isinstance(v, list) else v for v in row)


def _sniffed_csv(files: list[str], listed: str) -> str | None:
    """``read_csv`` of ``files`` with the dialect and columns DuckDB's sniffer found, given explicitly, when every
    file agrees (else None). DuckDB sniffs a CSV each time a query or view over ``read_csv`` is bound (70-90 ms
    for a 60 MB file here, twice per snapshot); given explicitly, binding takes 2 ms."""
    import duckdb

    con = duckdb.connect()
    try:
        found = {_hashable(con.sql("SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, "
                                   f"Columns, DateFormat, TimestampFormat FROM sniff_csv({_literal(f)})").fetchall()[0])
                 for f in files}
    except duckdb.Error:
        return None  # read_csv itself then says what is wrong with the file
    finally:
        con.close()
    rows: list[tuple[Any, ...]] = [tuple("" if v == "(empty)" else v for v in row) for row in found]  # '(empty)': none
    # a file with no quoted (or escaped) field has none sniffed: it reads the same with its siblings' quote
    quotes = {i: {row[i] for row in rows} - {""} for i in (1, 2)}
    if len({row[:1] + row[3:] for row in rows}) != 1 or any(len(q) > 1 for q in quotes.values()):
        return None  # the files differ: union_by_name reconciles them
    delim, _, _, new_line, comment, skip, header, pairs, dates, timestamps = rows[0]
    quote, escape = (next(iter(quotes[i]), "") for i in (1, 2))
    options = [f"delim = {_literal(delim)}", f"quote = {_literal(quote)}", f"escape = {_literal(escape)}",
               f"new_line = {_literal(new_line)}", f"comment = {_literal(comment)}",
               f"skip = {int(skip)}", f"header = {_literal(bool(header))}",
               "columns = {" + ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in pairs) + "}"]
    options += [f"dateformat = {_literal(dates)}"] * (dates is not None)
    options += [f"timestampformat = {_literal(timestamps)}"] * (timestamps is not None)
    return f"read_csv({listed}, auto_detect = false, {', '.join(options)})"


@dataclass(frozen=True)
class _Stats:
    """What DuckDB's ``COPY ... (RETURN_STATS)`` tells of the file it wrote: its rows, and per column its null
    count and exact smallest and largest values (as text)."""

    rows: int
    columns: dict[str, dict[str, str]]

    def answer(self, name: str, rule: str, rules: Any) -> int | None:
        """The value of rule ``rule``'s aggregate for column ``name`` when the statistics settle it (None: scan).
        A range rule is settled only when it holds: how many values break it takes a scan."""
        column = self.columns.get('"' + name.replace('"', '""') + '"')
        if column is None or "null_count" not in column:
            return None
        if rule in ("nullable", "max_missing"):
            return int(column["null_count"])
        if rule in ("min", "max") and isinstance(getattr(rules, rule), int | float):
            if int(column["null_count"]) == self.rows:
                return 0  # no values: none out of range
            if column.get(f"{rule}_is_exact") != "true":
                return None
            try:
                value = float(column[rule])
            except (KeyError, ValueError):
                return None
            bound = float(getattr(rules, rule))
            return 0 if (value >= bound if rule == "min" else value <= bound) else None
        return None


BYTEMAP_CELLS = 1 << 28  # the most memory (bytes) the duplicate count of an integer column may take


def _bytemap(name: str, stats: _Stats, kind: str) -> range | None:
    """The values a byte map of column ``name`` covers (empty: the column has no values), or None where the
    statistics allow none: not integers, no exact range, or a range wider than eight cells a value (and
    ``BYTEMAP_CELLS``)."""
    column = stats.columns.get('"' + name.replace('"', '""') + '"', {})
    if not _is(kind, "integer") or column.get("min_is_exact") != "true" or column.get("max_is_exact") != "true":
        return None
    values = stats.rows - int(column.get("null_count", stats.rows))
    if values == 0:
        return range(0)
    low, high = int(column["min"]), int(column["max"])
    return range(low, high + 1) if high - low + 1 <= min(8 * values, BYTEMAP_CELLS) else None


def _duplicates(path: Path, name: str, stats: _Stats, kind: str) -> int | None:
    """``count(x) - count(DISTINCT x)`` for an integer column that a byte map covers (``_bytemap``): each value
    marks its cell, read batch by batch, and the duplicates are the values that marked no new cell. Ten times
    faster than DuckDB's hash of the values (identifiers usually are such a column). None where it does not
    apply: the SQL aggregate answers."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    span = _bytemap(name, stats, kind)
    if span is None or not span:
        return None if span is None else 0
    low, values = span.start, stats.rows - int(stats.columns['"' + name.replace('"', '""') + '"']["null_count"])
    seen = np.zeros(len(span), dtype=np.bool_)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=[name], use_threads=False):
        kept = batch.column(0).drop_null()
        # the values' buffer as it is: Array.to_numpy would import pandas (0.3 s) in a process that has none
        dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(kept.type) else 'i'}{kept.type.bit_width // 8}")
        marks = np.frombuffer(kept.buffers()[1], dtype=dtype, count=len(kept), offset=kept.offset * dtype.itemsize)
        seen[marks - low] = True
    return values - int(np.count_nonzero(seen))


def _rowwise(path: Path, rules: list[tuple[str, str]], contract: Contract,
             pool: Executor) -> dict[tuple[str, str], int | None]:
    """How many values break each (column, ``allowed`` or ``pattern``) rule: the same Arrow kernels as
    ``check_contract``, over the file's row groups in ``pool`` (Arrow's regular expressions cost about 40%
    less CPU than DuckDB's). None for a pattern over a column that is not text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from aiforge.data._contract import not_matching, outside_allowed

    if not rules:
        return {}
    names = list(dict.fromkeys(name for name, _ in rules))
    meta = pq.read_metadata(path)  # the footer parsed once, not once per row group
    schema = meta.schema.to_arrow_schema()
    # text read as its dictionary where the writer kept one: an allowed-values rule then tests each distinct value once
    coded = [name for name, rule in rules if rule == "allowed" and pa.types.is_string(schema.field(name).type)]

    def count(group: int) -> list[int | None]:
        # one thread each: the pool already spreads the row groups over the cores
        table = pq.ParquetFile(path, metadata=meta, read_dictionary=coded).read_row_group(group, columns=names,
                                                                                        use_threads=False)
        found: list[int | None] = []
        for name, rule in rules:
            column = table.column(name)
            mask = outside_allowed(column, list(contract.columns[name].allowed or ())) if rule == "allowed" \
                else not_matching(column, contract.columns[name].pattern or "")
            found.append(None if mask is None and rule == "pattern" else
                         0 if mask is None else int(pc.sum(mask).as_py() or 0))
        return found

    parts = list(pool.map(count, range(meta.num_row_groups)))
    totals: dict[tuple[str, str], int | None] = {}
    for i, key in enumerate(rules):
        each = [part[i] for part in parts]
        totals[key] = None if any(v is None for v in each) else sum(v for v in each if v is not None)
    return totals


def _check(path: Path, contract: Contract, con: Any, stats: _Stats | None = None,
           release: Callable[[], object] | None = None) -> ContractReport:
    """The contract's rules as SQL aggregates over the snapshot file (on DuckDB connection ``con``, which may
    read it), in one scan of the columns that need one: the row count, missing values and ranges that hold come
    from ``stats`` (the writer's statistics) where given. ``release`` is called once ``con`` is needed no more
    (before the Arrow kernels and byte maps run, when no aggregate needs the scan)."""
    snap = f"read_parquet({_literal(str(path))})"
    columns = {r[0]: str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {snap}").fetchall()}
    aggregates: list[tuple[str, str, str]] = [("rows", "count", "count(*)")]
    rowwise: list[tuple[str, str]] = []  # allowed values and patterns: the Arrow kernels of check_contract
    checked: list[str] = []
    violations: list[Violation] = []
    for name, rules in contract.columns.items():
        if name not in columns:
            checked.append(f"{name}.present")
            violations.append(Violation(f"{name}.present", "the column is missing", 0))
            continue
        q = '"' + name.replace('"', '""') + '"'
        if rules.type is not None:
            checked.append(f"{name}.type")
            if not _is(columns[name], rules.type):
                violations.append(Violation(f"{name}.type", f"expected {rules.type} values, found "
                                            f"{columns[name]}", 0))
                continue
        if rules.freshness is not None:
            aggregates.append((name, "freshness", f"CAST(max({q}) AS TIMESTAMPTZ) < now() - INTERVAL "
                                                  f"{_literal(_interval(rules.freshness))}"))
        if not rules.nullable:
            aggregates.append((name, "nullable", f"count(*) - count({q})"))
        if rules.max_missing is not None:
            aggregates.append((name, "max_missing", f"count(*) - count({q})"))
        for bound, op in (("min", "<"), ("max", ">")):
            value = getattr(rules, bound)
            if value is not None:
                aggregates.append((name, bound, f"count(*) FILTER (WHERE {q} {op} {_literal(value)})"))
        if rules.allowed is not None:
            rowwise.append((name, "allowed"))
        if rules.unique:
            aggregates.append((name, "unique", f"count({q}) - count(DISTINCT {q})"))
        if rules.pattern is not None:
            rowwise.append((name, "pattern"))
    # answered without a scan: by the statistics, or (unique integers) by a byte map
    mapped = {name for name, rule, _ in aggregates
              if rule == "unique" and stats is not None and _bytemap(name, stats, columns[name]) is not None}
    known = [None if stats is None else stats.rows if rule == "count" else None if rule == "unique"
             else stats.answer(name, rule, contract.columns[name]) for name, rule, _ in aggregates]
    if release is not None and all(value is not None or (rule == "unique" and name in mapped)
                                   for (name, rule, _), value in zip(aggregates, known, strict=True)):
        release()
    # the byte maps of unique rules and the row groups of the Arrow rules share the cores
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        duplicates = {name: pool.submit(_duplicates, path, name, stats, columns[name])
                      for name in mapped if stats is not None}
        counted = _rowwise(path, rowwise, contract, pool)
        known = [duplicates[name].result() if rule == "unique" and name in mapped else value
                 for (name, rule, _), value in zip(aggregates, known, strict=True)]
    scanned = [sql for (_, _, sql), value in zip(aggregates, known, strict=True) if value is None]
    found = iter(con.execute("SELECT " + ", ".join(scanned) + f" FROM {snap}").fetchone() or () if scanned else ())
    values = [next(found) if value is None else value for value in known]
    rows = int(values[0])
    for (name, rule, _), value in [*zip(aggregates[1:], values[1:], strict=True),
                                   *(((name, rule, ""), counted[name, rule]) for name, rule in rowwise)]:
        checked.append(f"{name}.{rule}")
        rules = contract.columns[name]
        if rule == "freshness":
            if value:
                violations.append(Violation(f"{name}.freshness", f"the newest value is older than "
                                            f"{rules.freshness}", rows))
            continue
        if value is None:  # a pattern over values that are not text
            violations.append(Violation(f"{name}.{rule}", f"a pattern needs text values, found {columns[name]}",
                                        rows))
            continue
        count = int(value or 0)
        if rule == "max_missing":
            share = count / rows if rows else 0.0
            if rules.max_missing is not None and share > rules.max_missing:
                violations.append(Violation(f"{name}.max_missing", f"{share:.2%} missing, at most "
                                            f"{rules.max_missing:.2%} allowed", count))
        elif count:
            violations.append(Violation(f"{name}.{rule}", _message(rule, rules), count))
    if contract.rows is not None:
        for bound in ("min", "max"):
            limit = getattr(contract.rows, bound)
            if limit is None:
                continue
            checked.append(f"rows.{bound}")
            if (rows < limit) if bound == "min" else (rows > limit):
                violations.append(Violation(f"rows.{bound}", f"{rows:,} rows, {bound} {limit:,}", rows))
    return ContractReport(rows, checked, violations)


def _is(kind: str, expected: str) -> bool:
    kind = kind.upper()
    integers = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT")
    floats = ("FLOAT", "DOUBLE", "REAL")
    return {
        "integer": kind in integers, "float": kind in floats or kind.startswith("DECIMAL"),
        "number": kind in integers or kind in floats or kind.startswith("DECIMAL"), "string": kind == "VARCHAR",
        "boolean": kind == "BOOLEAN", "timestamp": kind.startswith("TIMESTAMP"), "date": kind == "DATE",
    }[expected]


def _interval(period: str) -> str:
    units = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
    text = period.strip()
    return f"{text[:-1].strip()} {units[text[-1]]}"


def _message(rule: str, rules: Any) -> str:
    return {"nullable": "missing values where none may be", "min": f"values below {rules.min}",
            "max": f"values above {rules.max}", "allowed": f"values outside {rules.allowed}",
            "unique": "values that appear more than once (rows beyond the first)",
            "pattern": f"values not matching {rules.pattern!r}"}[rule]
