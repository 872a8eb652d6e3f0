"""The warm-start portfolio: configurations that worked well across many data sets, per learner
and task, tried right after the known-good ones by the random and Bayesian searches.

``portfolio.json`` beside this module is built by ``benchmarks/portfolio/build.py`` from data sets
that the AutoML benchmark does not use (how, and how to rebuild it: ``benchmarks/portfolio/README.md``).
A configuration is fitted into the learner's search space for the data at hand (spaces depend on
the number of rows), so a portfolio built on small tables stays valid on large ones.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from aiforge.learn._space import Choice, Domain, FloatRange, IntRange
from aiforge.spec import TaskKind

__all__ = ["fit_to_space", "portfolio_configs"]

FORMAT = 1


@cache
def _load() -> dict[str, Any]:
    """The packaged portfolio; empty when there is none (the search then starts from the known-good
    configurations alone)."""
    path = resources.files("aiforge.learn").joinpath("portfolio.json")
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        return {}
    return data


def portfolio_configs(name: str, space: dict[str, Domain], task: TaskKind,
                      portfolio: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The learner's portfolio for ``task``, in the order it was chosen, each fitted into ``space``
    (parameters the space has not are dropped; those it has and a configuration lacks are left out,
    for the search to sample)."""
    data = _load() if portfolio is None else portfolio
    entries = data.get("learners", {}).get(name, {}).get(task.value, [])
    configs: list[dict[str, Any]] = []
    for entry in entries:
        params = fit_to_space(entry.get("params", {}), space)
        if params and params not in configs:
            configs.append(params)
    return configs


def fit_to_space(params: dict[str, Any], space: dict[str, Domain]) -> dict[str, Any]:
    """``params`` restricted to ``space``'s parameters, numbers clipped into their ranges; a choice
    the space does not offer is left out."""
    fitted: dict[str, Any] = {}
    for key, value in params.items():
        domain = space.get(key)
        if isinstance(domain, IntRange) and isinstance(value, int | float) and not isinstance(value, bool):
            fitted[key] = int(min(domain.high, max(domain.low, round(value))))
        elif isinstance(domain, FloatRange) and isinstance(value, int | float) and not isinstance(value, bool):
            fitted[key] = float(min(domain.high, max(domain.low, value)))
        elif isinstance(domain, Choice) and value in domain.values:
            fitted[key] = value
    return fitted
