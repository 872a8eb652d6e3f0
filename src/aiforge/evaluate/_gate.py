"""KPI gates: every KPI in the project file is checked, and the verdict says which failed and by how much."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from aiforge.evaluate._checks import CHECK_METRICS
from aiforge.evaluate._metrics import METRICS
from aiforge.spec import Kpi

__all__ = ["GateVerdict", "KpiResult", "evaluate_gate"]

_HINTS = {
    True: "try more or stronger learners (model.learners), more cross-validation folds, a larger "
    "budget, or more informative input columns",
    False: "try more or stronger learners (model.learners), a larger budget, or more informative "
    "input columns",
}


@dataclass(frozen=True)
class KpiResult:
    """One KPI against its threshold. ``margin`` > 0 is room to spare, < 0 the shortfall."""

    kpi: str
    metric: str
    value: float | None
    bound: str  # ">=" or "<="
    threshold: float
    passed: bool
    margin: float | None
    message: str


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    results: list[KpiResult]

    @property
    def failures(self) -> list[KpiResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        if not self.results:
            return "no KPIs declared: nothing gates this model (add kpis: to the project file)"
        if self.passed:
            return f"all {len(self.results)} KPI(s) passed"
        return "; ".join(r.message for r in self.failures)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateVerdict:
        return cls(passed=data["passed"], results=[KpiResult(**r) for r in data["results"]])

    def _repr_html_(self) -> str:
        """The KPI table, as Jupyter shows the verdict."""
        from aiforge.evaluate._html import fragment
        from aiforge.evaluate._report import gate_section

        return fragment(gate_section(self))


def evaluate_gate(kpis: list[Kpi], metrics: dict[str, float]) -> GateVerdict:
    """Check every KPI (each bound separately) against the measured metrics and check figures
    (a KPI with ``sensitive:`` reads the figure ``metric[attribute]``)."""
    results: list[KpiResult] = []
    for kpi in kpis:
        value = metrics.get(kpi.label)
        for bound, threshold in ((">=", kpi.min), ("<=", kpi.max)):
            if threshold is None:
                continue
            results.append(_check(kpi, value, bound, threshold))
    return GateVerdict(passed=all(r.passed for r in results), results=results)


def figure(value: float, *, sign: bool = False) -> str:
    """4 decimals, or 4 significant digits for values too small for them (energy in kWh)."""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:+.4g}" if sign else f"{value:.4g}"
    return f"{value:+.4f}" if sign else f"{value:.4f}"


def _check(kpi: Kpi, value: float | None, bound: str, threshold: float) -> KpiResult:
    check = CHECK_METRICS.get(kpi.metric)
    if value is None or math.isnan(value):
        why = (f"the {check.check} check did not measure it" if check is not None
               else "it could not be measured on the test split")
        hint = f": {check.hint}" if check is not None and check.hint else ""
        return KpiResult(kpi.label, kpi.metric, None, bound, threshold, False, None,
                         f"{kpi.label}: {why}, so it cannot pass{hint}")
    margin = value - threshold if bound == ">=" else threshold - value
    passed = margin >= 0
    if passed:
        message = f"{kpi.label} = {figure(value)} {bound} {threshold:g} (margin {figure(margin, sign=True)})"
    else:
        word = "below the minimum" if bound == ">=" else "above the maximum"
        metric = METRICS.get(kpi.metric)
        hint = check.hint if check is not None and check.hint else _HINTS[metric.higher_is_better if metric else True]
        where = f"{check.check} check: " if check is not None else ""
        message = f"{where}{kpi.label} = {figure(value)} is {figure(abs(margin))} {word} {threshold:g}: {hint}"
    return KpiResult(kpi.label, kpi.metric, value, bound, threshold, passed, margin, message)
