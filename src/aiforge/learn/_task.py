"""Task detection and target checks: what kind of prediction the target column asks for, and why."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec import ProblemSpec, TaskKind

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TaskInfo", "resolve_task"]

MAX_CLASSES_FOR_INTEGER_TARGET = 20
_POSITIVE_WORDS = ("1", "true", "yes", "y", "positive", "pos")


@dataclass(frozen=True)
class TaskInfo:
    """The resolved task: its kind, why, and for classification the labels in model order.

    For binary tasks ``classes`` is ``[negative, positive]``: column 1 of ``predict_proba`` is
    the probability of the positive class.
    """

    kind: TaskKind
    reason: str
    classes: list[Any]
    dropped_rows: int = 0

    @property
    def positive_class(self) -> Any:
        return self.classes[1] if self.kind is TaskKind.BINARY else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskInfo:
        return cls(**{**data, "kind": TaskKind(data["kind"])})


def resolve_task(problem: ProblemSpec, table: pa.Table, *, where: str) -> TaskInfo:
    """Check the target column and settle the task (detecting it when ``task: auto``).

    Works on the Arrow table, so that checking a project needs no pandas. ``where`` locates
    the problem section in the project file, for error messages.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    target = problem.target
    if target not in table.column_names:
        close = difflib.get_close_matches(target, table.column_names, n=1)
        raise DataError(
            f"target column '{target}' is not in the data",
            where=where,
            expected=f"one of the columns: {', '.join(table.column_names[:30])}",
            found=f"'{target}'",
            hint=f"did you mean '{close[0]}'?" if close else "set problem.target to an existing column",
        )
    column = table.column(target)
    dropped = column.null_count
    y = column.drop_null()
    if pa.types.is_floating(y.type):
        y = y.filter(pc.is_finite(y))
        dropped = len(column) - len(y)
    if len(y) == 0:
        raise DataError(
            f"target column '{target}' has no values", where=where, found="every row is missing",
        )
    distinct = pc.count_distinct(y).as_py()
    numeric = pa.types.is_integer(y.type) or pa.types.is_floating(y.type)
    task = problem.task

    if task is TaskKind.AUTO:
        if not numeric:
            task = TaskKind.BINARY if distinct == 2 else TaskKind.MULTICLASS
            reason = f"target '{target}' is categorical with {distinct} distinct values"
        elif distinct == 2:
            task, reason = TaskKind.BINARY, f"numeric target '{target}' has exactly 2 values"
        elif _integral(y) and distinct <= MAX_CLASSES_FOR_INTEGER_TARGET:
            task = TaskKind.MULTICLASS
            reason = (
                f"integer target '{target}' has {distinct} distinct values "
                f"(<= {MAX_CLASSES_FOR_INTEGER_TARGET}); set task: regression to predict it as a number"
            )
        else:
            task = TaskKind.REGRESSION
            reason = f"numeric target '{target}' has {distinct} distinct values"
    else:
        reason = f"task: {task.value} set in the project file"

    if problem.positive_class is not None and task is not TaskKind.BINARY:
        raise DataError(
            f"positive_class is set, but the target '{target}' makes this a {task.value} task",
            where=where, found=f"{reason}; positive_class {problem.positive_class!r}",
            hint="remove positive_class, or set task: binary with a two-valued target",
        )
    if task is TaskKind.TEXT_GENERATION:
        if numeric or pa.types.is_boolean(y.type):
            raise DataError(
                f"text_generation needs a text target, but '{target}' holds {y.type}",
                where=where, found=f"values such as {pc.unique(y).to_pylist()[:3]}",
                hint="pick the column of target texts, or set task: auto for a label or a number",
            )
        return TaskInfo(task, reason, [], dropped)
    if task is TaskKind.REGRESSION:
        if not numeric:
            raise DataError(
                f"regression needs a numeric target, but '{target}' holds {y.type}",
                where=where, found=f"values such as {pc.unique(y).to_pylist()[:3]}",
                hint="set task: multiclass or binary, or pick a numeric target",
            )
        return TaskInfo(task, reason, [], dropped)

    labels = sorted(pc.unique(y).to_pylist(), key=lambda v: (str(type(v)), v))
    if distinct < 2:
        raise DataError(
            f"target column '{target}' has a single class, nothing to learn",
            where=where, found=f"only {labels[0]!r}", hint="check the data export or the target column",
        )
    if task is TaskKind.BINARY:
        if distinct != 2:
            raise DataError(
                f"task is binary, but target '{target}' has {distinct} classes",
                where=where, found=f"{labels[:10]}",
                hint="set task: multiclass, or map the target to two classes",
            )
        positive = _positive(problem, labels, where)
        negative = labels[0] if labels[1] == positive else labels[1]
        return TaskInfo(task, reason + f"; positive class {positive!r}", [negative, positive], dropped)
    return TaskInfo(task, reason, labels, dropped)


def _integral(y: pa.ChunkedArray) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(y.type):
        return True
    return bool(pc.all(pc.equal(y, pc.round(y))).as_py())


def _positive(problem: ProblemSpec, labels: list[Any], where: str) -> Any:
    wanted = problem.positive_class
    if wanted is None:
        for label in labels:
            if str(label).strip().lower() in _POSITIVE_WORDS:
                return label
        return labels[1]
    for label in labels:
        if label == wanted or str(label) == str(wanted):
            return label
    raise DataError(
        f"positive_class {wanted!r} is not a label of target '{problem.target}'",
        where=where, expected=f"one of {labels}", found=repr(wanted),
        hint="copy the label exactly as it appears in the data (quote it in YAML)",
    )
