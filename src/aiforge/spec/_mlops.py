"""The ``ci:`` and ``schedules:`` sections of the project file: how ``aiforge ci`` judges a candidate against
production, and when the project runs by itself (``aiforge schedule``, ``aiforge monitor watch`` or cron)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from aiforge.spec._monitor import _Strict

__all__ = ["CiSpec", "ScheduleSpec", "cron_problem", "with_schedules"]

SCHEDULE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class CiSpec(_Strict):
    """``aiforge ci``: the candidate is compared with the production version on the candidate's own test split."""

    metric: str | None = Field(None, description="The metric both versions are scored by (default: model.search."
                               "metric, else the first KPI metric that fits the task, else the task's default).")
    tolerance: float = Field(0.0, ge=0, description="How much worse than production, by that metric, the candidate "
                             "may score and still pass.")
    require_production: bool = Field(False, description="Fail when no version holds the production alias (default: "
                                     "the first version passes on its KPI gate alone).")


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression (minute hour day-of-month month day-of-week), or
    ``None`` when it is one."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5:
        return (f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'; "
                f"got {len(fields)} in {expression!r}")
    if not croniter.is_valid(expression):
        return f"{expression!r} is not a valid cron expression (e.g. '0 3 * * *': every day at 03:00 UTC)"
    return None


class ScheduleSpec(_Strict):
    """A run of the project at times given by a cron expression (UTC)."""

    name: str = Field(pattern=SCHEDULE_NAME, description="The schedule's name (aiforge schedule remove NAME).",
                      examples=["nightly"])
    cron: str = Field(description="Five cron fields, in UTC: minute hour day-of-month month day-of-week.",
                      examples=["0 3 * * *", "*/30 * * * 1-5"])
    action: Literal["run", "ci"] = Field("run", description="run: the life cycle (retrain, gate, register); ci: "
                                         "aiforge ci (also compares with production).")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return " ".join(value.split())


def with_schedules(text: str, schedules: list[ScheduleSpec]) -> str:
    """Project-file ``text`` with its top-level ``schedules:`` block replaced by ``schedules`` (removed when empty,
    appended when absent); every other line, comments included, is kept as it is."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("schedules:")), None)
    block = []
    if schedules:
        block = ["schedules:\n"] + [
            f"  - {{name: {s.name}, cron: \"{s.cron}\", action: {s.action}}}\n" for s in schedules]
    if start is None:
        if not block:
            return text
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return "".join(lines + block)
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t-"):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines before the next section stay
        end -= 1
    return "".join(lines[:start] + block + lines[end:])
