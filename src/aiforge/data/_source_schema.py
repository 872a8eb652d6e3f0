"""Schema changes upstream: each snapshot records the columns and types of every source it read, and the next read
of a source is compared with them before anything is trained on it.

A column that is gone (dropped or renamed upstream) or whose kind of values changed (numbers that now read as text,
timestamps as text, ...) stops the run, naming the source, the column and the change, unless the user accepts it
(``aiforge run --accept-schema-change``). Types of one kind are one kind (int64 and double are numbers; a column that
held integers and now holds a decimal is not a change), and a column with no value at all in this read (Arrow's
null type) fits any kind. Columns that appear are reported beside a column that is gone (a rename), and are not a
change on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiforge.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SchemaChange", "SchemaChanged", "schema_changes", "source_schema"]


@dataclass(frozen=True)
class SchemaChange:
    """One column of one source that is gone or holds another kind of values than at the last snapshot."""

    source: str
    column: str
    before: str  # the Arrow type recorded with the last snapshot
    after: str | None  # the Arrow type read now; None: the column is gone
    added: tuple[str, ...] = ()  # columns of this source that are new in this read (a rename's new name)

    def describe(self) -> str:
        column = f"'{self.column}' of source '{self.source}'"
        if self.after is None:
            new = f" (new: {', '.join(repr(a) for a in self.added)}; renamed?)" if self.added else ""
            return f"{column} is gone{new}"
        return f"{column} changed from {_kind(self.before)} ({self.before}) to {_kind(self.after)} ({self.after})"


class SchemaChanged(DataError):
    """Sources changed their columns since the last snapshot; ``changes`` lists each column."""

    code = "schema_change"

    def __init__(self, changes: Sequence[SchemaChange], where: str, snapshot: str) -> None:
        described = [c.describe() for c in changes]
        super().__init__(
            f"{len(changes)} column(s) changed upstream since the last snapshot: "
            + ", ".join(f"'{c.column}'" for c in changes[:5]) + (" ..." if len(changes) > 5 else ""),
            where=where, expected=f"the columns and kinds of values of snapshot {snapshot[:12]}",
            found="; ".join(described[:8]) + (f"; and {len(described) - 8} more" if len(described) > 8 else ""),
            hint="restore the columns upstream; if the change is meant (data.steps and data.contract follow it), rerun "
            "with --accept-schema-change: the new snapshot records the new columns")
        self.changes = list(changes)


def source_schema(table: pa.Table) -> dict[str, str]:
    """The columns of a source as read, with their Arrow types: what a snapshot records of it."""
    return {field.name: str(field.type) for field in table.schema}


def schema_changes(source: str, recorded: Mapping[str, str], table: pa.Table) -> list[SchemaChange]:
    """The columns of ``recorded`` (a source's schema at the last snapshot) that ``table`` (the source read now)
    lacks or holds another kind of values in."""
    now = source_schema(table)
    added = tuple(name for name in now if name not in recorded)
    changes = []
    for name, before in recorded.items():
        after = now.get(name)
        if after is None:
            changes.append(SchemaChange(source, name, before, None, added))
        elif _kind(before) != _kind(after) and "null" not in (_kind(before), _kind(after)):
            changes.append(SchemaChange(source, name, before, after))
    return changes


def _kind(arrow_type: str) -> str:
    """The kind of values an Arrow type (as text) holds: number, text, boolean, timestamp, date, null, or the type
    itself for the rest (lists, structs)."""
    text = arrow_type.strip()
    if text.startswith(("int", "uint", "float", "double", "halffloat", "decimal")):
        return "number"
    if text in ("string", "large_string", "string_view") or text.startswith(("dictionary<values=string",
                                                                             "dictionary<values=large_string")):
        return "text"
    if text == "bool":
        return "boolean"
    if text.startswith("timestamp"):
        return "timestamp"
    if text.startswith("date"):
        return "date"
    if text == "null":
        return "null"
    return text
