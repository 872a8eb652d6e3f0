"""SMOTE as a searchable option of every classifier: it oversamples the training rows of a fold
(and of the refit), never the validation rows, and it is only searched on imbalanced classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY

from aiforge.learn import LEARNERS, choose_features, resolve_task, select_and_fit
from aiforge.learn._resample import IMBALANCED_RATIO, is_imbalanced, resample, split_resample
from aiforge.learn._search import SearchContext
from aiforge.learn._select import _fit_pipeline, make_folds
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind


def test_imbalance_is_the_rarest_class_against_the_commonest() -> None:
    assert is_imbalanced(np.array([0] * 100 + [1] * 10))
    assert not is_imbalanced(np.array([0] * 100 + [1] * int(100 * IMBALANCED_RATIO)))
    assert is_imbalanced(np.array([0] * 100 + [1] * 90 + [2] * 5))  # multiclass: one rare class is enough
    assert not is_imbalanced(np.array([1] * 50))


def test_smote_brings_every_class_to_the_majoritys_count_with_new_rows() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(330, 4))
    y = np.array([0] * 300 + [1] * 20 + [2] * 10, dtype=float)

    Xr, yr = resample("smote", X, y, [], seed=0)

    assert np.bincount(yr.astype(int)).tolist() == [300, 300, 300]
    np.testing.assert_array_equal(Xr[:330], X)  # the original rows come first, unchanged
    assert resample("none", X, y, [], seed=0) == (X, y)


def test_smote_nc_never_interpolates_ordinal_coded_categories() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=200), rng.integers(0, 4, size=200).astype(float)])
    y = np.array([0] * 180 + [1] * 20)

    Xr, yr = resample("smote", X, y, [1], seed=0)

    assert (yr == 1).sum() == 180
    assert set(np.unique(Xr[:, 1])) <= {0.0, 1.0, 2.0, 3.0}


def test_only_categorical_inputs_use_smote_n_and_a_class_of_one_row_is_left_alone() -> None:
    X = np.array([[0.0, 1.0]] * 40 + [[1.0, 2.0]] * 6 + [[2.0, 0.0]])
    y = np.array([0] * 40 + [1] * 6 + [2])

    Xr, yr = resample("smote", X, y, [0, 1], seed=0)
    assert len(yr) == len(y)  # the one-row class has no neighbour: nothing is synthesised

    Xr, yr = resample("smote", X[:46], y[:46], [0, 1], seed=0)
    assert (yr == 1).sum() == 40 and set(map(tuple, Xr[46:])) == {(1.0, 2.0)}


def test_an_unknown_resampling_method_is_refused() -> None:
    assert split_resample({"C": 1.0, "resample": "smote"}) == ("smote", {"C": 1.0})
    assert split_resample({"C": 1.0}) == ("none", {"C": 1.0})
    with pytest.raises(ValueError, match="unknown resample method 'adasyn'"):
        split_resample({"resample": "adasyn"})


def _imbalanced(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    shop = rng.choice([f"s{i}" for i in range(6)], size=n)
    signal = 1.5 * x1 - x2 + (shop == "s0") * 1.0 + rng.normal(scale=0.7, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "shop": shop, "y": np.where(signal > 3.0, "rare", "common")})


def test_resampling_is_searched_on_imbalanced_classes_only() -> None:
    frame = _imbalanced()
    y = (frame.pop("y") == "rare").to_numpy(dtype=float)
    assert is_imbalanced(y)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    features = choose_features(table, None)
    _, folds = make_folds(frame, y, TaskKind.BINARY, ModelSpec(search=SearchSpec(cv=3)))
    ctx = SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=features, folds=folds, score=ACCURACY.fn,
                        higher_is_better=True, seed=0, threads_per_trial=1)

    for name in ("linear", "lightgbm", "random_forest", "knn", "xgboost"):
        assert ctx.space(name, 3000)["resample"].values == ("none", "smote")  # type: ignore[attr-defined]
        assert ctx.init_config(name, 3000)["resample"] == "none"

    balanced = SearchContext(X=frame, y=np.arange(3000) % 2, task=TaskKind.BINARY, features=features, folds=folds,
                             score=ACCURACY.fn, higher_is_better=True, seed=0, threads_per_trial=1)
    assert "resample" not in balanced.space("linear", 3000)
    assert "resample" not in balanced.init_config("linear", 3000)
    assert "resample" not in LEARNERS["linear"].search_space(3000, TaskKind.REGRESSION)


def test_smote_raises_the_minority_recall_of_a_linear_model() -> None:
    """The reason to search it: an unweighted linear model misses most of a rare class."""
    frame, test = _imbalanced(seed=2), _imbalanced(seed=3)
    y = (frame.pop("y") == "rare").to_numpy(dtype=float)
    truth = (test.pop("y") == "rare").to_numpy()
    features = choose_features(pa.Table.from_pandas(frame, preserve_index=False), None)

    recall = {}
    for method in ("none", "smote"):
        pipe = _fit_pipeline("linear", TaskKind.BINARY, features, 0, 1,
                             {"C": 1.0, "class_weight": None, "resample": method}, frame, y)
        predicted = pipe.predict(test[features.columns]) == 1
        recall[method] = (predicted & truth).sum() / truth.sum()

    assert recall["smote"] > recall["none"] + 0.2, recall


def test_a_search_on_imbalanced_classes_tries_smote_and_the_winner_refits_with_it() -> None:
    frame = _imbalanced(n=2000, seed=4)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y", positive_class="rare"), table,
                        where="aiforge.yaml:2 (problem)")
    search = SearchSpec(strategy="grid", cv=3, grid_points=2, budget=Budget(trials=6))
    spec = ModelSpec(learners=["linear"], search=search, ensemble=EnsembleSpec(enabled=False), seed=0, n_jobs=1)

    model, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec,
                                   ACCURACY)

    tried = {t.params.get("resample") for t in report.trials if t.status == "complete"}
    assert tried == {"none", "smote"}
    assert set(model.predict(frame.drop(columns="y"))) <= {"rare", "common"}
