"""How trials are validated: ``cv: auto`` weighs the table against the time budget; a holdout split
is one fold, and its trial models can form the ensemble when there is no time to refit them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY

from aiforge.learn import _select as select_module
from aiforge.learn import choose_features, resolve_task, select_and_fit
from aiforge.learn._select import HOLDOUT_SHARE, make_folds, plan_validation
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind


@pytest.mark.parametrize(("rows", "features", "seconds", "expected"), [
    (500, 30, 30, ("stratified", 5)),            # small: 5 folds
    (1_617, 64, 30, ("stratified", 5)),          # 103k cells in 30 s: 3.4k per second
    (29_000, 14, 30, ("stratified", 3)),         # more than 10k rows
    (3_000, 100, 30, ("stratified", 3)),         # 10k cells per budget second: fewer folds
    (43_200, 21, 30, ("holdout", 1)),            # 30k cells per budget second: one split
    (43_200, 21, 120, ("stratified", 3)),        # the same table with four times the time
    (600_000, 20, None, ("holdout", 1)),         # 12 M cells: a holdout whatever the budget
    (50_000, 20, None, ("stratified", 3)),       # a trial budget only: by size
])
def test_cv_auto_weighs_the_table_against_the_time_budget(rows: int, features: int, seconds: float | None,
                                                          expected: tuple[str, int]) -> None:
    search = SearchSpec(budget=Budget(seconds=seconds) if seconds else Budget(trials=20))
    strategy, folds, why = plan_validation(search, rows, features, TaskKind.BINARY)

    assert (strategy, folds) == expected
    assert why.startswith("cv: auto chose ")
    assert f"{rows:,} rows x {features} features" in why


def test_a_fixed_number_of_folds_or_an_explicit_strategy_is_kept() -> None:
    big = (600_000, 20)
    assert plan_validation(SearchSpec(cv=4), *big, TaskKind.REGRESSION)[:2] == ("kfold", 4)
    assert plan_validation(SearchSpec(cv_strategy="kfold"), *big, TaskKind.BINARY)[:2] == ("kfold", 3)
    assert plan_validation(SearchSpec(cv_strategy="holdout"), 100, 3, TaskKind.BINARY)[:2] == ("holdout", 1)


def test_a_holdout_is_one_stratified_split_of_a_fifth_of_the_rows() -> None:
    y = np.array([0] * 950 + [1] * 50, dtype=float)
    frame = pd.DataFrame({"x": np.arange(1000.0)})
    strategy, folds = make_folds(frame, y, TaskKind.BINARY, ModelSpec(search=SearchSpec(cv_strategy="holdout")))

    assert strategy == "holdout" and len(folds) == 1
    train, valid = folds[0]
    assert len(valid) == int(1000 * HOLDOUT_SHARE)
    assert set(train) | set(valid) == set(range(1000)) and not set(train) & set(valid)
    assert y[valid].sum() == 10  # stratified: the 1:19 ratio is kept


def _binary(n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal = 2 * x1 + np.sin(3 * x2) + (colour == "red") * 1.5 + rng.normal(scale=0.8, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "y": np.where(signal > 0.5, "yes", "no")})


def test_with_no_time_to_refit_a_holdout_ensemble_is_built_from_the_trials_own_models(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select_module, "ensemble_refit_fits", lambda needed, left, single: False)
    frame = _binary()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="aiforge.yaml:2 (problem)")
    search = SearchSpec(strategy="defaults", cv_strategy="holdout", budget=Budget(seconds=60))
    spec = ModelSpec(learners=["linear", "knn", "extra_trees", "lightgbm"], search=search,
                     ensemble=EnsembleSpec(enabled=True, candidates=4), seed=0, n_jobs=1)
    steps: list[str] = []

    model, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec,
                                   ACCURACY, on_step=steps.append)

    assert report.cv_strategy == "holdout" and report.cv_folds == 1
    assert report.ensemble is not None and report.ensemble["kept"]  # it beats the best single trial here
    assert report.ensemble["refit"] is False
    assert report.best == "ensemble" and report.best_params["refit"] is False
    assert any(s.startswith("ensemble of the holdout models") for s in steps)
    assert set(model.predict(frame.drop(columns="y"))) <= {"yes", "no"}
    accuracy = float(np.mean(model.predict(frame.drop(columns="y")) == frame["y"].to_numpy()))
    assert accuracy > 0.8
