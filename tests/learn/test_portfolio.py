"""The warm-start portfolio: configurations fitted into the search space at hand and tried after
the known-good ones; the packaged portfolio was learned from data sets outside the benchmark."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ACCURACY

from aiforge.learn import LEARNERS, FeatureSet
from aiforge.learn import _portfolio as portfolio_module
from aiforge.learn._portfolio import fit_to_space, portfolio_configs
from aiforge.learn._search import SearchContext, warm_start
from aiforge.learn._select import make_folds
from aiforge.learn._space import Choice, FloatRange, IntRange
from aiforge.spec import ModelSpec, SearchSpec, TaskKind

BENCHMARK_DATA_SETS = {"breast_cancer", "digits", "diabetes", "adult", "fair", "anes96", "randhie",
                       "synth_imbalanced", "synth_regression"}


def test_a_configuration_is_fitted_into_the_space_at_hand() -> None:
    space = {"leaves": IntRange(4, 64), "rate": FloatRange(0.01, 0.3, log=True), "weight": Choice((None, "balanced"))}
    params = {"leaves": 511, "rate": 0.001, "weight": "balanced_subsample", "gone": 3, "flag": True}

    assert fit_to_space(params, space) == {"leaves": 64, "rate": 0.01}
    assert fit_to_space({"leaves": 7.6, "rate": 0.1, "weight": None}, space) == {"leaves": 8, "rate": 0.1,
                                                                                    "weight": None}


def test_the_portfolio_of_a_learner_and_task_comes_in_its_order_without_duplicates() -> None:
    space = LEARNERS["lightgbm"].search_space(1000, TaskKind.BINARY)
    portfolio = {"format": 1, "learners": {"lightgbm": {"binary": [
        {"params": {"learning_rate": 0.02, "num_leaves": 2000}},
        {"params": {"learning_rate": 0.1, "num_leaves": 15}},
        {"params": {"learning_rate": 0.02, "num_leaves": 4000}},  # the same as the first, once fitted
    ]}}}

    configs = portfolio_configs("lightgbm", space, TaskKind.BINARY, portfolio)

    assert configs == [{"learning_rate": 0.02, "num_leaves": 100}, {"learning_rate": 0.1, "num_leaves": 15}]
    assert portfolio_configs("lightgbm", space, TaskKind.REGRESSION, portfolio) == []
    assert portfolio_configs("knn", space, TaskKind.BINARY, portfolio) == []


def _context(n: int = 600) -> SearchContext:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    y = (frame.x1 > 0).to_numpy(dtype=float)
    _, folds = make_folds(frame, y, TaskKind.BINARY, ModelSpec(search=SearchSpec(cv=3)))
    return SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=FeatureSet(["x1", "x2"], []), folds=folds,
                         score=ACCURACY.fn, higher_is_better=True, seed=0, threads_per_trial=1)


def test_a_search_starts_from_the_known_good_configurations_then_the_portfolio_round_robin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    portfolio: dict[str, Any] = {"format": 1, "learners": {
        "lightgbm": {"binary": [{"params": {"learning_rate": 0.02}}, {"params": {"learning_rate": 0.2}}]},
        "linear": {"binary": [{"params": {"C": 1.0, "class_weight": None}}, {"params": {"C": 10.0}}]},
    }}
    monkeypatch.setattr(portfolio_module, "_load", lambda: portfolio)
    ctx = _context()
    learners = ["linear", "lightgbm"]
    spaces = {name: ctx.space(name, 600) for name in learners}

    queue = warm_start(ctx, learners, 600, spaces)

    init = {name: ctx.init_config(name, 600) for name in learners}
    assert queue == [
        ("lightgbm", init["lightgbm"]), ("linear", init["linear"]),
        ("lightgbm", {**init["lightgbm"], "learning_rate": 0.02}),
        ("lightgbm", {**init["lightgbm"], "learning_rate": 0.2}),  # linear's first is its known-good one
        ("linear", {**init["linear"], "C": 10.0}),
    ]


def _packaged() -> dict[str, Any]:
    path = resources.files("aiforge.learn").joinpath("portfolio.json")
    assert path.is_file(), "src/aiforge/learn/portfolio.json: rebuild with benchmarks/portfolio/build.py"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_the_packaged_portfolio_was_learned_outside_the_benchmark_and_fits_every_space() -> None:
    data = _packaged()

    assert data["format"] == 1 and data["built_by"] == "benchmarks/portfolio/build.py"
    names = {d["name"] for d in data["datasets"]}
    assert len(names) >= 12 and not names & BENCHMARK_DATA_SETS
    assert {d["task"] for d in data["datasets"]} == {"binary", "multiclass", "regression"}
    assert (Path(__file__).parents[2] / "benchmarks" / "portfolio" / "README.md").is_file()
    for name, by_task in data["learners"].items():
        learner = LEARNERS[name]
        for task_name, entries in by_task.items():
            task = TaskKind(task_name)
            assert task in learner.tasks and entries
            for n_rows in (200, 20_000, 2_000_000):
                space = learner.search_space(n_rows, task)
                for entry in entries:
                    assert set(entry["params"]) <= set(space), (name, task_name, entry)
                assert portfolio_configs(name, space, task, data)
