"""Learners that grow step by step stop a fold at the search's deadline with what they have grown,
and the refit of such a trial uses that size: a slow trial cannot overrun the time budget."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import ACCURACY

from aiforge.learn import LEARNERS, FeatureSet
from aiforge.learn._learners import FIRST_HGB_ITERATIONS, FIRST_TREES, MAX_BOOSTING_ROUNDS, MAX_HGB_ITERATIONS, Fitted
from aiforge.learn._resample import split_resample
from aiforge.learn._search import SearchContext, TrialRecord
from aiforge.learn._select import _refit_params
from aiforge.spec import TaskKind


def _table(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(float)
    return X, y


def _fit(name: str, params: dict, deadline: float | None) -> tuple[object, Fitted]:
    X, y = _table()
    learner = LEARNERS[name]()
    _, params = split_resample(params)
    estimator = learner.build(TaskKind.BINARY, 0, 1, [], params)
    fitted = learner.fit(estimator, X[:3000], y[:3000], [], eval_set=(X[3000:], y[3000:]), deadline=deadline)
    return estimator, fitted


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_boosting_past_its_deadline_stops_at_once_and_keeps_a_usable_model(name: str) -> None:
    params = {**LEARNERS[name].init_config(3000, TaskKind.BINARY), "learning_rate": 0.01}
    estimator, fitted = _fit(name, params, deadline=time.perf_counter() - 1)

    assert fitted.cut
    assert fitted.rounds is not None and 1 <= fitted.rounds <= 2
    X, _ = _table()
    assert estimator.predict_proba(X[3000:]).shape == (1000, 2)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_boosting_with_time_to_spare_is_not_cut_and_stops_early_on_its_own(name: str) -> None:
    params = {**LEARNERS[name].init_config(3000, TaskKind.BINARY), "learning_rate": 0.3}
    _, fitted = _fit(name, params, deadline=time.perf_counter() + 600)

    assert not fitted.cut
    assert fitted.rounds is not None and fitted.rounds < MAX_BOOSTING_ROUNDS


@pytest.mark.parametrize("name", ["random_forest", "extra_trees"])
def test_a_forest_past_its_deadline_keeps_the_first_trees_it_timed(name: str) -> None:
    params = {**LEARNERS[name].init_config(3000, TaskKind.BINARY), "n_estimators": 100, "class_weight": "balanced"}
    estimator, fitted = _fit(name, params, deadline=time.perf_counter() - 1)

    assert fitted == Fitted(FIRST_TREES, cut=True)
    assert len(estimator.estimators_) == FIRST_TREES  # type: ignore[attr-defined]
    assert estimator.get_params()["warm_start"] is False  # type: ignore[attr-defined]


def test_histogram_boosting_past_its_deadline_keeps_the_first_iterations_it_timed() -> None:
    params = {**LEARNERS["hist_gradient_boosting"].init_config(3000, TaskKind.BINARY), "learning_rate": 0.01}
    estimator, fitted = _fit("hist_gradient_boosting", params, deadline=time.perf_counter() - 1)

    assert fitted == Fitted(FIRST_HGB_ITERATIONS, cut=True)
    assert estimator.n_iter_ == FIRST_HGB_ITERATIONS  # type: ignore[attr-defined]
    assert estimator.get_params()["warm_start"] is False  # type: ignore[attr-defined]
    refit = _refit_params(TrialRecord(0, "hist_gradient_boosting", params, "complete", [0.8] * 3, 0.8, 1.0,
                                      rounds=fitted.rounds), 3)
    assert refit["max_iter"] == FIRST_HGB_ITERATIONS


def test_histogram_boosting_in_time_is_the_same_as_one_fit_and_stops_early_on_its_own() -> None:
    params = {**LEARNERS["hist_gradient_boosting"].init_config(3000, TaskKind.BINARY), "learning_rate": 0.3}
    stepped, fitted = _fit("hist_gradient_boosting", params, deadline=time.perf_counter() + 600)
    whole, _ = _fit("hist_gradient_boosting", params, deadline=None)

    assert fitted == Fitted() and stepped.n_iter_ < MAX_HGB_ITERATIONS  # type: ignore[attr-defined]
    X, _ = _table()
    np.testing.assert_allclose(stepped.predict_proba(X), whole.predict_proba(X))  # type: ignore[attr-defined]


def test_a_forest_in_time_grows_every_tree_the_same_as_one_fit() -> None:
    params = {**LEARNERS["random_forest"].init_config(3000, TaskKind.BINARY), "n_estimators": 40}
    stepped, fitted = _fit("random_forest", params, deadline=time.perf_counter() + 600)
    whole, _ = _fit("random_forest", params, deadline=None)

    assert fitted == Fitted()
    X, _ = _table()
    np.testing.assert_allclose(stepped.predict_proba(X), whole.predict_proba(X))  # type: ignore[attr-defined]


def test_a_forest_whose_refit_would_overrun_the_time_left_grows_the_trees_that_time_affords() -> None:
    forest = TrialRecord(0, "random_forest", {"n_estimators": 200}, "complete", [0.8, 0.8], 0.8, 10.0)
    # 5 s per fold on half the rows: 10 s to refit on all of them

    assert _refit_params(forest, 2, seconds_left=60.0)["n_estimators"] == 200
    assert _refit_params(forest, 2, seconds_left=5.0)["n_estimators"] == 100
    assert _refit_params(forest, 2, seconds_left=-3.0)["n_estimators"] == FIRST_TREES
    boosted = TrialRecord(1, "lightgbm", {"learning_rate": 0.1}, "complete", [0.8] * 2, 0.8, 10.0, rounds=100)
    assert _refit_params(boosted, 2, seconds_left=1.0)["n_estimators"] == 150  # boosting is never cut short


def test_the_refit_of_a_cut_forest_grows_the_trees_it_had_and_boosting_scales_its_rounds() -> None:
    forest = TrialRecord(0, "random_forest", {"n_estimators": 300, "max_features": 0.3}, "complete",
                         [0.8, 0.8], 0.8, 4.0, rounds=75)
    boosted = TrialRecord(1, "lightgbm", {"learning_rate": 0.1}, "complete", [0.8] * 4, 0.8, 4.0, rounds=100)
    untouched = TrialRecord(2, "extra_trees", {"n_estimators": 200}, "complete", [0.8] * 4, 0.8, 4.0)

    assert _refit_params(forest, 4)["n_estimators"] == 75
    assert _refit_params(boosted, 4)["n_estimators"] == 125
    assert _refit_params(untouched, 4)["n_estimators"] == 200


def test_a_slow_first_trial_is_cut_at_the_deadline_and_its_later_folds_grow_to_the_same_size() -> None:
    """A LightGBM trial at a tiny learning rate would take far longer than the deadline allows."""
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 20_000
    frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"x{i}" for i in range(20)])
    y = (frame.x0 + frame.x1 * frame.x2 + rng.normal(size=n) > 0).to_numpy(dtype=float)
    folds = [(np.arange(n)[np.arange(n) % 3 != k], np.arange(n)[np.arange(n) % 3 == k]) for k in range(3)]
    ctx = SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=FeatureSet(list(frame.columns), [], []),
                        folds=folds, score=ACCURACY.fn, higher_is_better=True, seed=0, threads_per_trial=1)
    params = {**LEARNERS["lightgbm"].init_config(n, TaskKind.BINARY), "learning_rate": 0.0005}

    started = time.perf_counter()
    record = ctx.evaluate(0, "lightgbm", params, deadline=started + 1.0, anything_done=lambda: False)
    elapsed = time.perf_counter() - started

    assert record.status == "complete"  # nothing else completed: the search must not come back empty
    assert record.rounds is not None and record.rounds < MAX_BOOSTING_ROUNDS
    assert len(record.fold_scores) == 3
    assert elapsed < 1.0 + 3 * 2.0  # the cut fold, then two folds of the same (small) size


def test_a_trial_cut_while_another_has_completed_stops_after_that_fold() -> None:
    import pandas as pd

    rng = np.random.default_rng(2)
    n = 6000
    frame = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    y = (frame.x0 > 0).to_numpy(dtype=float)
    folds = [(np.arange(n)[np.arange(n) % 3 != k], np.arange(n)[np.arange(n) % 3 == k]) for k in range(3)]
    ctx = SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=FeatureSet(list(frame.columns), [], []),
                        folds=folds, score=ACCURACY.fn, higher_is_better=True, seed=0, threads_per_trial=1)

    record = ctx.evaluate(3, "extra_trees", {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1},
                          deadline=time.perf_counter() - 1, anything_done=lambda: True)

    assert record.status == "pruned"
    assert record.error == "stopped: the time budget ran out"
    assert len(record.fold_scores) == 1


def test_a_refit_forest_predicts_in_one_thread() -> None:
    import pandas as pd

    from aiforge.learn._select import _fit_pipeline

    X, y = _table(600)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    features = FeatureSet(list(frame.columns), [])
    pipe = _fit_pipeline("extra_trees", TaskKind.BINARY, features, 0, 2,
                         {"n_estimators": 20, "max_features": 0.5, "min_samples_leaf": 1}, frame, y)

    assert pipe.named_steps["model"].n_jobs == 1
    assert pipe.predict_proba(frame).shape == (600, 2)
