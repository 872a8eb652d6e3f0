"""Trustworthiness checks: each takes a ``CheckContext`` and returns a ``CheckResult``.

A check's ``metrics`` are figures a KPI can gate on. Figures about a sensitive attribute are keyed
``name[attribute]`` (``demographic_parity_difference[sex]``), the label of a KPI with ``sensitive:``.
``details`` holds what the report and the model card show (JSON-able tables), never recomputed there.

Adding a check is one function and one ``@check`` registration; its metric names go in
``CHECK_METRICS`` so that the project file can name them in KPIs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.spec import Checks, TaskKind

if TYPE_CHECKING:
    import pandas as pd

    from aiforge.evaluate._metrics import Metric
    from aiforge.learn import TabularModel

__all__ = [
    "CHECKS",
    "CHECK_METRICS",
    "CheckContext",
    "CheckMetric",
    "CheckResult",
    "check",
    "run_checks",
]


@dataclass(frozen=True)
class CheckResult:
    """What one check found.

    ``status``: ``ok`` (it ran), ``skipped`` (does not apply; ``reason`` says why) or ``failed`` (it
    raised; ``reason`` holds the error). ``method`` says in a line how the figures were measured.
    """

    check: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    reason: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)


@dataclass
class CheckContext:
    """Everything a check may look at. ``train`` and ``test`` hold every column, the target included.

    ``reference`` is the model before fairness mitigation (``None`` when none was applied), for
    with/without comparisons. ``stages`` holds the run's stages so far as
    ``{name: {"seconds": wall, "cpu_seconds": cpu}}`` (for energy).
    """

    model: TabularModel
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    task: TaskKind
    primary: Metric
    seed: int
    checks: Checks
    sensitive: list[str] = field(default_factory=list)
    reference: TabularModel | None = None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def y_test(self) -> Any:
        return self.model.encode_target(self.test[self.target])

    def y_train(self) -> Any:
        return self.model.encode_target(self.train[self.target])


@dataclass(frozen=True)
class CheckMetric:
    """A figure a check reports, as a KPI can name it."""

    name: str
    check: str
    higher_is_better: bool
    description: str
    per_attribute: bool = False  # keyed name[attribute]: a KPI names it with sensitive:
    hint: str = ""  # what to try when a KPI on it fails
    timed: bool = False  # a measure of time or energy: it varies from run to run with the machine's load


# the checks that measure decisions, probabilities or numeric inputs, and why a text generator has none of them
NOT_FOR_GENERATION = {
    "robustness": "its attacks perturb numeric inputs and count flipped decisions; a generator reads text and "
                  "decides no class",
    "label_noise": "it flips training labels; a generator's targets are texts, not labels",
    "privacy": "its membership inference reads the confidence of class decisions; a generator makes none",
    "explain": "its attributions explain a score or a class per input column; a generator reads its source "
               "text whole",
}

CheckFn = Callable[[CheckContext], CheckResult]
CHECKS: dict[str, CheckFn] = {}
CHECK_METRICS: dict[str, CheckMetric] = {}


def check(name: str, metrics: list[CheckMetric]) -> Callable[[CheckFn], CheckFn]:
    """Register a check under ``name`` (its section in ``checks:``) with the metrics it reports."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        for m in metrics:
            CHECK_METRICS[m.name] = m
        return fn

    return register


def run_checks(ctx: CheckContext, names: list[str] | None = None,
               on_step: Callable[[str], None] | None = None) -> dict[str, CheckResult]:
    """Run the enabled checks (all registered ones, or ``names``); a check that raises is recorded as
    ``failed`` with its error, and the others still run."""
    step = on_step or (lambda _m: None)
    out: dict[str, CheckResult] = {}
    declared = [n for n in type(ctx.checks).model_fields if n in CHECKS]  # the project file's order
    for name in names or [*declared, *(n for n in CHECKS if n not in declared)]:
        section = getattr(ctx.checks, name, None)
        if section is not None and not getattr(section, "enabled", True):
            out[name] = CheckResult(name, "skipped", reason=f"disabled in the project file (checks.{name}.enabled)")
            continue
        if ctx.task.is_generation and name in NOT_FOR_GENERATION:
            out[name] = CheckResult(name, "skipped", reason=f"does not apply to text generation: "
                                    f"{NOT_FOR_GENERATION[name]}")
            continue
        step(f"check {name}")
        started = time.perf_counter()
        try:
            result = CHECKS[name](ctx)
        except Exception as exc:  # a broken check must not hide the others
            result = CheckResult(name, "failed", reason=f"{type(exc).__name__}: {exc}")
        out[name] = CheckResult(result.check, result.status, result.metrics, result.details, result.method,
                                result.reason, round(time.perf_counter() - started, 3))
    return out
