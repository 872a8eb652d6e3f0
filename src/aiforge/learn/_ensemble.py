"""Greedy ensemble selection (Caruana et al., 2004) over the out-of-fold predictions of the best trials.

The ensemble is a weighted average of refit trial models. It is kept only when its pooled
out-of-fold score beats the best single trial's on the same rows: an ensemble that does not
win on validation is not worth its extra prediction time. Prediction time counts: the selection
takes at most ``max_members`` distinct models, and then drops the slowest members as long as the
ensemble keeps ``keep_gain`` of its gain over the best single trial.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.learn._caches import shared_embeddings
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
    higher_is_better: bool, *, rounds: int = 20, max_members: int = 50, keep_gain: float = 1.0,
    costs: dict[int, float] | None = None,
) -> EnsembleChoice | None:
    """Forward selection with replacement: each round adds the trial that helps the average most
    (among the members already chosen, once there are ``max_members``); then the members that cost
    the most prediction time (``costs``) are dropped while ``keep_gain`` of the gain remains."""
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
        pool = sorted(set(chosen)) if len(set(chosen)) >= max_members else numbers
        trial_scores = {n: sign * float(score(truth, (total + preds[n]) / (len(chosen) + 1))) for n in pool}
        pick = max(pool, key=lambda n: (trial_scores[n], -n))
        chosen.append(pick)
        total = total + preds[pick]
        history.append((trial_scores[pick], len(chosen)))
    best_score, size = max(history, key=lambda h: (h[0], -h[1]))
    counts = Counter(chosen[:size])
    weights = {n: c / size for n, c in sorted(counts.items())}
    if costs and len(weights) > 1 and keep_gain < 1.0:
        floor = single[best_single] + keep_gain * (best_score - single[best_single])
        weights, best_score = _drop_slow_members(weights, preds, truth, score, sign, costs, floor=floor)
    kept = len(weights) > 1 and best_score > single[best_single] + MIN_GAIN
    return EnsembleChoice(weights, sign * best_score, sign * single[best_single], best_single, kept)


def _drop_slow_members(weights: dict[int, float], preds: dict[int, np.ndarray], truth: np.ndarray,
                       score: Callable[[np.ndarray, np.ndarray], float], sign: float, costs: dict[int, float],
                       *, floor: float) -> tuple[dict[int, float], float]:
    """Drop members, slowest first, while the re-weighted ensemble scores at least ``floor``."""
    import numpy as np

    def scored(w: dict[int, float]) -> float:
        total = sum(w.values())
        blend = np.sum([preds[n] * (v / total) for n, v in w.items()], axis=0)
        return sign * float(score(truth, blend))

    current = scored(weights)
    for number in sorted(weights, key=lambda n: -costs.get(n, 0.0)):
        if len(weights) == 1:
            break
        rest = {n: v for n, v in weights.items() if n != number}
        without = scored(rest)
        if without >= floor:
            weights, current = rest, without
    total = sum(weights.values())
    return {n: v / total for n, v in weights.items()}, current


class WeightedEnsemble:
    """A weighted average of fitted pipelines' probabilities (classification) or values (regression).

    Members that share one fitted encoder (``prep`` step) are fed its output computed once.
    """

    def __init__(self, members: list[tuple[Any, float]], task: TaskKind) -> None:
        self.members = members
        self.task = task

    def _outputs(self, X: Any, method: str) -> Any:
        with shared_embeddings():  # members on one frozen text encoder: one embedding per text
            return self._weighted(X, method)

    def _weighted(self, X: Any, method: str) -> Any:
        encoded: dict[int, Any] = {}
        total: Any = 0
        for pipe, weight in self.members:
            steps = getattr(pipe, "named_steps", None)
            if steps is None or "prep" not in steps:
                total = total + weight * getattr(pipe, method)(X)
                continue
            prep = steps["prep"]
            if id(prep) not in encoded:
                encoded[id(prep)] = prep.transform(X)
            total = total + weight * getattr(steps["model"], method)(encoded[id(prep)])
        return total

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._outputs(X, "predict_proba")

    def predict(self, X: Any) -> np.ndarray:
        if self.task is TaskKind.REGRESSION:
            return self._outputs(X, "predict")
        return self.predict_proba(X).argmax(axis=1)

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        raise TypeError("a WeightedEnsemble is assembled from fitted members; it is not fitted itself")
