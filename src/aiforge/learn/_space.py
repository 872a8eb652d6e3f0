"""Search-space domains: what a learner's hyperparameter may be, for sampling, grids and Optuna."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Choice", "Domain", "FloatRange", "IntRange", "SearchSpace"]


class Domain(Protocol):
    """A hyperparameter's set of values."""

    def suggest(self, trial: Any, name: str) -> Any: ...
    def grid(self, points: int) -> list[Any]: ...


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, log=self.log))

    def grid(self, points: int) -> list[int]:
        if self.high <= self.low:
            return [self.low]
        values = _spaced(self.low, self.high, points, self.log)
        return sorted({int(round(v)) for v in values})


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, log=self.log))

    def grid(self, points: int) -> list[float]:
        values = _spaced(self.low, self.high, points, self.log)
        return [min(self.high, max(self.low, float(f"{v:.6g}"))) for v in values]


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def grid(self, points: int) -> list[Any]:
        return list(self.values)


SearchSpace = dict[str, Domain]


def _spaced(low: float, high: float, points: int, log: bool) -> list[float]:
    if points <= 1:
        return [math.sqrt(low * high) if log else (low + high) / 2]
    if log:
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
    return [low + (high - low) * i / (points - 1) for i in range(points)]
