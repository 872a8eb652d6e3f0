"""Checking a table against the project's data contract (``data.contract``) with Arrow kernels: each broken rule
with how many rows break it and a sample of them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec import ColumnRules, Contract

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ContractError", "ContractReport", "Violation", "check_contract"]

SAMPLE_ROWS = 5
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Violation:
    rule: str  # e.g. "age.max", "rows.min"
    message: str
    count: int  # rows that break it (the whole table for table-level rules)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "count": self.count,
                "sample": [{k: _plain(v) for k, v in row.items()} for row in self.sample]}


@dataclass(frozen=True)
class ContractReport:
    rows: int
    checked: list[str]  # every rule checked
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "passed": self.passed, "checked": self.checked,
                "violations": [v.to_json() for v in self.violations]}


class ContractError(DataError):
    """The data break the contract; ``report`` holds every broken rule."""

    code = "contract"

    def __init__(self, report: ContractReport, where: str | None = None) -> None:
        lines = [f"{v.rule}: {v.message} ({v.count:,} rows)"
                 + (f"; e.g. {_show(v.sample[0])}" if v.sample else "") for v in report.violations]
        super().__init__(f"the data break {len(report.violations)} rule(s) of data.contract", where=where,
                         found="; ".join(lines[:8]) + (f"; and {len(lines) - 8} more" if len(lines) > 8 else ""),
                         hint="fix the data (or data.steps), or the contract; 'aiforge data check' shows every "
                         "rule with sample rows")
        self.report = report


def check_contract(table: pa.Table, contract: Contract, *, now: datetime | None = None) -> ContractReport:
    checked: list[str] = []
    violations: list[Violation] = []
    rows = table.num_rows
    if contract.rows is not None:
        for bound, ok in (("min", contract.rows.min is None or rows >= contract.rows.min),
                          ("max", contract.rows.max is None or rows <= contract.rows.max)):
            if getattr(contract.rows, bound) is None:
                continue
            checked.append(f"rows.{bound}")
            if not ok:
                limit = getattr(contract.rows, bound)
                violations.append(Violation(f"rows.{bound}", f"{rows:,} rows, {bound} {limit:,}", rows))
    for name, rules in contract.columns.items():
        if name not in table.column_names:
            checked.append(f"{name}.present")
            violations.append(Violation(f"{name}.present", "the column is missing (after data.steps)", rows))
            continue
        _column(table, name, rules, now or datetime.now(UTC), checked, violations)
    return ContractReport(rows, checked, violations)


def _column(table: pa.Table, name: str, rules: ColumnRules, now: datetime, checked: list[str],
            violations: list[Violation]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    rows = table.num_rows

    def broken(rule: str, message: str, mask: Any) -> None:
        count = int(pc.sum(pc.fill_null(mask, False)).as_py() or 0)
        if count:
            where = pc.indices_nonzero(pc.fill_null(mask, False).combine_chunks() if isinstance(
                mask, pa.ChunkedArray) else pc.fill_null(mask, False))
            sample = table.take(where.slice(0, SAMPLE_ROWS)).to_pylist()
            violations.append(Violation(f"{name}.{rule}", message, count, sample))

    if rules.type is not None:
        checked.append(f"{name}.type")
        if not _is(column.type, rules.type):
            violations.append(Violation(f"{name}.type", f"expected {rules.type} values, found {column.type}", rows))
            return  # the other rules assume the type
    if not rules.nullable:
        checked.append(f"{name}.nullable")
        broken("nullable", "missing values where none may be", pc.is_null(column))
    if rules.max_missing is not None:
        checked.append(f"{name}.max_missing")
        share = column.null_count / rows if rows else 0.0
        if share > rules.max_missing:
            violations.append(Violation(f"{name}.max_missing", f"{share:.2%} missing, at most "
                                        f"{rules.max_missing:.2%} allowed", column.null_count))
    for bound in ("min", "max"):
        value = getattr(rules, bound)
        if value is None:
            continue
        checked.append(f"{name}.{bound}")
        limit = _scalar(value, column.type, f"{name}.{bound}")
        compare = pc.less if bound == "min" else pc.greater
        shown = f"{value:g}" if isinstance(value, float) else value
        broken(bound, f"values {'below' if bound == 'min' else 'above'} {shown}", compare(column, limit))
    if rules.allowed is not None:
        checked.append(f"{name}.allowed")
        outside = outside_allowed(column, rules.allowed)
        if outside is not None:
            found = pc.unique(column.filter(outside)).to_pylist()[:5]
            broken("allowed", f"values outside {rules.allowed}: {', '.join(map(str, found))}", outside)
    if rules.unique:
        checked.append(f"{name}.unique")
        counts = pc.value_counts(column.drop_null())
        repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        if len(repeated):
            shown = ", ".join(map(str, repeated.to_pylist()[:5]))
            broken("unique", f"{len(repeated):,} values appear more than once: {shown}",
                   pc.is_in(column, value_set=repeated))
    if rules.pattern is not None:
        checked.append(f"{name}.pattern")
        unmatched = not_matching(column, rules.pattern)
        if unmatched is not None:
            broken("pattern", f"values not matching {rules.pattern!r}", unmatched)
        else:
            violations.append(Violation(f"{name}.pattern", f"a pattern needs text values, found {column.type}",
                                        rows))
    if rules.freshness is not None:
        checked.append(f"{name}.freshness")
        _fresh(name, column, rules.freshness, now, violations)


def outside_allowed(column: Any, allowed: list[Any]) -> Any:
    """Where ``column`` (an Arrow array or chunked array) holds a value not in ``allowed`` (missing values
    aside), or None for a column of nulls only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(column.type):
        return None
    if pa.types.is_dictionary(column.type):  # each distinct value is tested once, then looked up per row
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        masks = [pc.fill_null(pc.take(outside_allowed(chunk.dictionary, allowed), chunk.indices), False)
                 for chunk in chunks]
        return pa.chunked_array(masks, pa.bool_()) if isinstance(column, pa.ChunkedArray) else masks[0]
    return pc.and_(pc.invert(pc.is_in(column, value_set=pa.array(allowed).cast(column.type))), pc.is_valid(column))


def not_matching(column: Any, pattern: str) -> Any:
    """Where the text ``column`` holds a value that ``pattern`` does not match whole (missing values aside), or
    None when the column is not text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):  # each distinct value is matched once, then looked up per row
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        coded = [not_matching(chunk.dictionary, pattern) for chunk in chunks]
        if any(mask is None for mask in coded):
            return None
        masks = [pc.fill_null(pc.take(mask, chunk.indices), False) for mask, chunk in zip(coded, chunks, strict=True)]
        return pa.chunked_array(masks, pa.bool_()) if isinstance(column, pa.ChunkedArray) else masks[0]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    matches = pc.match_substring_regex(column, pattern=f"^(?:{pattern})$")
    return pc.and_(pc.invert(matches), pc.is_valid(column))


def _fresh(name: str, column: pa.ChunkedArray, period: str, now: datetime, violations: list[Violation]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", period)
    assert match is not None  # the spec's pattern
    age = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    if not (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
        violations.append(Violation(f"{name}.freshness", f"freshness needs timestamps or dates, found {column.type}",
                                    len(column)))
        return
    newest = pc.max(column).as_py()
    if newest is None:
        violations.append(Violation(f"{name}.freshness", "no value at all", len(column)))
        return
    if not isinstance(newest, datetime):
        newest = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
    elif newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    if now - newest > age:
        violations.append(Violation(f"{name}.freshness", f"the newest value is {newest.isoformat()}, older than "
                                    f"{period}", len(column)))


def _is(kind: pa.DataType, expected: str) -> bool:
    import pyarrow as pa

    return {
        "integer": pa.types.is_integer(kind), "float": pa.types.is_floating(kind),
        "number": pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind),
        "string": pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind),
        "boolean": pa.types.is_boolean(kind), "timestamp": pa.types.is_timestamp(kind),
        "date": pa.types.is_date(kind),
    }[expected]


def _scalar(value: float | str, kind: pa.DataType, rule: str) -> Any:
    import pyarrow as pa

    try:
        if isinstance(value, str):
            return pa.scalar(value).cast(kind)
        if pa.types.is_integer(kind) and float(value).is_integer():
            return pa.scalar(int(value)).cast(kind)
        return pa.scalar(float(value)) if pa.types.is_integer(kind) else pa.scalar(value).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DataError(f"data.contract {rule}: {value!r} cannot be compared with a {kind} column",
                        found=str(exc).splitlines()[0]) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _show(row: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={_plain(v)!r}" for k, v in list(row.items())[:6])
    return "{" + text + (", ..." if len(row) > 6 else "") + "}"
