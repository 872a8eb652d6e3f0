"""Greedy ensemble selection (Caruana et al., 2004) over the out-of-fold predictions of the best trials.

The ensemble is a weighted average of refit trial models. It is kept only when its pooled
out-of-fold score beats the best single trial's on the same rows: an ensemble that does not
win on validation is not worth its extra prediction time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EnsembleChoice", "WeightedEnsemble", "select_ensemble"]

MIN_GAIN = 1e-4


@dataclass(frozen=True)
class EnsembleChoice:
    """Which trials the greedy selection picked, how often, and whether the ensemble won."""

    weights: dict[int, float]  # trial number -> weight (sums to 1)
    score: float  # pooled out-of-fold score of the ensemble
    best_single_score: float  # pooled out-of-fold score of the best single trial, same rows
    best_single: int
    kept: bool
    dropped_for_time: bool = False  # it won, but refitting its members would overrun the time budget
    refit: bool = True  # False: its members are the holdout split's models, used as they are (no time to refit)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["weights"] = {str(k): v for k, v in self.weights.items()}
        return data


def select_ensemble(
    oof: dict[int, np.ndarray], y: np.ndarray, rows: np.ndarray, score: Callable[[np.ndarray, np.ndarray], float],
    higher_is_better: bool, *, rounds: int = 20,
) -> EnsembleChoice | None:
    """Forward selection with replacement: each round adds the trial that helps the average most."""
    import numpy as np

    if len(oof) < 2:
        return None
    sign = 1.0 if higher_is_better else -1.0
    numbers = sorted(oof)
    preds = {n: oof[n][rows] for n in numbers}
    truth = y[rows]
    single = {n: sign * float(score(truth, preds[n])) for n in numbers}
    best_single = max(numbers, key=lambda n: (single[n], -n))
    total = np.zeros_like(preds[best_single])
    chosen: list[int] = []
    history: list[tuple[float, int]] = []
    for _ in range(rounds):
        trial_scores = {n: sign * float(score(truth, (total + preds[n]) / (len(chosen) + 1))) for n in numbers}
        pick = max(numbers, key=lambda n: (trial_scores[n], -n))
        chosen.append(pick)
        total = total + preds[pick]
        history.append((trial_scores[pick], len(chosen)))
    best_score, size = max(history, key=lambda h: (h[0], -h[1]))
    counts = Counter(chosen[:size])
    weights = {n: c / size for n, c in sorted(counts.items())}
    kept = len(weights) > 1 and best_score > single[best_single] + MIN_GAIN
    return EnsembleChoice(weights, sign * best_score, sign * single[best_single], best_single, kept)


class WeightedEnsemble:
    """A weighted average of fitted pipelines' probabilities (classification) or values (regression)."""

    def __init__(self, members: list[tuple[Any, float]], task: TaskKind) -> None:
        self.members = members
        self.task = task

    def predict_proba(self, X: Any) -> np.ndarray:
        return sum(weight * pipe.predict_proba(X) for pipe, weight in self.members)

    def predict(self, X: Any) -> np.ndarray:
        if self.task is TaskKind.REGRESSION:
            return sum(weight * pipe.predict(X) for pipe, weight in self.members)
        return self.predict_proba(X).argmax(axis=1)

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        raise TypeError("a WeightedEnsemble is assembled from fitted members; it is not fitted itself")
