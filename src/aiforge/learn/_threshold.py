"""Decision threshold for binary models, tuned on out-of-fold predictions for the metric the user names.

E.g. maximise F1, or maximise precision subject to recall >= 0.8. Tuning on out-of-fold
predictions keeps the held-out test split untouched for the KPI gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ThresholdGoal", "tune_threshold"]

AtThreshold = Callable[["np.ndarray", "np.ndarray", float], float]
MAX_CANDIDATES = 400


@dataclass(frozen=True)
class ThresholdGoal:
    """Maximise ``score`` (of truth, positive-class probability, threshold), optionally subject to a bound."""

    label: str
    score: AtThreshold
    constraint: AtThreshold | None = None
    minimum: float | None = None
    maximum: float | None = None
    constraint_label: str | None = None

    def feasible(self, y: np.ndarray, p: np.ndarray, t: float) -> bool:
        if self.constraint is None:
            return True
        value = self.constraint(y, p, t)
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)


def tune_threshold(y: np.ndarray, p: np.ndarray, goal: ThresholdGoal) -> dict[str, Any]:
    """The threshold among the predictions' quantiles that best meets ``goal``; 0.5 if none is feasible."""
    import numpy as np

    candidates = np.unique(np.round(np.quantile(p, np.linspace(0.0, 1.0, MAX_CANDIDATES)), 6))
    best: tuple[float, float] | None = None
    for t in candidates:
        if not goal.feasible(y, p, float(t)):
            continue
        score = goal.score(y, p, float(t))
        if best is None or score > best[1] + 1e-12:
            best = (float(t), score)
    at_half = goal.score(y, p, 0.5)
    if best is None:
        return {"threshold": 0.5, "feasible": False, "goal": goal.label, "constraint": goal.constraint_label,
                "score": at_half, "score_at_0_5": at_half}
    return {"threshold": best[0], "feasible": True, "goal": goal.label, "constraint": goal.constraint_label,
            "score": best[1], "score_at_0_5": at_half}
