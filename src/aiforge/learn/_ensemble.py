"""Greedy ensemble selection (Caruana et al., 2004) over the out-of-fold predictions of the best trials.

The ensemble is a weighted average of refit trial models. It is kept only when its pooled
out-of-fold score beats the best single trial's on the same rows: an ensemble that does not
win on validation is not worth its extra prediction time. Prediction time counts: the selection
takes at most ``max_members`` distinct models, then drops the slowest members as long as the
ensemble keeps ``keep_gain`` of its gain over the best single trial, and then, while the members
together take more than ``max_slowdown`` times the best single trial's prediction time, the member
the ensemble misses least.
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
    costs: dict[int, float] | None = None, max_slowdown: float | None = None,
) -> EnsembleChoice | None:
    """Forward selection with replacement: each round adds the trial that helps the average most
    (among the members already chosen, once there are ``max_members``); then the members that cost
    the most prediction time (``costs``) are dropped while ``keep_gain`` of the gain remains; then,
    while the members' summed cost exceeds ``max_slowdown`` times the best single trial's, the member
    whose loss costs the ensemble least."""
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
    if costs and len(weights) > 1 and max_slowdown is not None and best_single in costs:
        limit = max_slowdown * costs[best_single]
        weights, best_score = _within_cost(weights, preds, truth, score, sign, costs, limit, best_score)
    kept = len(weights) > 1 and best_score > single[best_single] + MIN_GAIN
    return EnsembleChoice(weights, sign * best_score, sign * single[best_single], best_single, kept)


def _blend_score(weights: dict[int, float], preds: dict[int, np.ndarray], truth: np.ndarray,
                 score: Callable[[np.ndarray, np.ndarray], float], sign: float) -> float:
    """The signed score of the members' predictions averaged with ``weights`` (re-normalised)."""
    import numpy as np

    total = sum(weights.values())
    blend = np.sum([preds[n] * (v / total) for n, v in weights.items()], axis=0)
    return sign * float(score(truth, blend))


def _within_cost(weights: dict[int, float], preds: dict[int, np.ndarray], truth: np.ndarray,
                 score: Callable[[np.ndarray, np.ndarray], float], sign: float, costs: dict[int, float],
                 limit: float, current: float) -> tuple[dict[int, float], float]:
    """Drop members, each time the one whose absence scores best, until their summed cost is at most
    ``limit`` (or one member is left)."""
    while len(weights) > 1 and sum(costs.get(n, 0.0) for n in weights) > limit:
        options = {gone: {n: v for n, v in weights.items() if n != gone} for gone in weights}
        scores = {gone: _blend_score(rest, preds, truth, score, sign) for gone, rest in options.items()}
        gone = max(scores, key=lambda n: (scores[n], costs.get(n, 0.0), -n))
        weights, current = options[gone], scores[gone]
    total = sum(weights.values())
    return {n: v / total for n, v in weights.items()}, current


def _drop_slow_members(weights: dict[int, float], preds: dict[int, np.ndarray], truth: np.ndarray,
                       score: Callable[[np.ndarray, np.ndarray], float], sign: float, costs: dict[int, float],
                       *, floor: float) -> tuple[dict[int, float], float]:
    """Drop members, slowest first, while the re-weighted ensemble scores at least ``floor``."""

    def scored(w: dict[int, float]) -> float:
        return _blend_score(w, preds, truth, score, sign)

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
