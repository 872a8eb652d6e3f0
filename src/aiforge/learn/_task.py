"""Task detection and target checks: what kind of prediction the target column asks for, and why."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec import ProblemSpec, TaskKind

if TYPE_CHECKING:
    import pandas as pd

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


def resolve_task(problem: ProblemSpec, frame: pd.DataFrame, *, where: str) -> TaskInfo:
    """Check the target column and settle the task (detecting it when ``task: auto``).

    ``where`` locates the problem section in the project file, for error messages.
    """
    import pandas as pd

    target = problem.target
    if target not in frame.columns:
        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        raise DataError(
            f"target column '{target}' is not in the data",
            where=where,
            expected=f"one of the columns: {', '.join(map(str, frame.columns[:30]))}",
            found=f"'{target}'",
            hint=f"did you mean '{close[0]}'?" if close else "set problem.target to an existing column",
        )
    y = frame[target]
    dropped = int(y.isna().sum())
    y = y.dropna()
    if y.empty:
        raise DataError(
            f"target column '{target}' has no values", where=where, found="every row is missing",
        )
    distinct = y.nunique()
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
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

    if task is TaskKind.REGRESSION:
        if not numeric:
            raise DataError(
                f"regression needs a numeric target, but '{target}' holds text",
                where=where, found=f"values such as {list(y.astype(str).unique()[:3])}",
                hint="set task: multiclass or binary, or pick a numeric target",
            )
        return TaskInfo(task, reason, [], dropped)

    labels = sorted(y.unique().tolist(), key=lambda v: (str(type(v)), v))
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


def _integral(y: pd.Series) -> bool:
    import numpy as np

    values = y.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


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
