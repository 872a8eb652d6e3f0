"""SMOTE, ADASYN and synthetic rows as searchable options of every classifier: they oversample the training
rows of a fold (and of the refit), never the validation rows; SMOTE and ADASYN are searched on imbalanced
classes, and model.resample names the methods to search instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY

from aiforge.learn import LEARNERS, Learner, choose_features, resolve_task, select_and_fit
from aiforge.learn._learners import RandomForest
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
    with pytest.raises(ValueError, match="unknown resample method 'adasin': expected one of none, smote, adasyn, "
                       "synthetic"):
        split_resample({"resample": "adasin"})
    with pytest.raises(ValueError, match="unknown resample method 'smot'"):
        resample("smot", np.zeros((4, 1)), np.array([0, 0, 0, 1]), [], seed=0)


def test_adasyn_oversamples_the_rows_near_other_classes_and_keeps_categories_whole() -> None:
    rng = np.random.default_rng(4)
    common = rng.normal(size=(300, 2))
    rare = rng.normal(loc=1.5, size=(30, 2))  # overlapping the common class on one side
    codes = rng.integers(0, 4, size=330).astype(float)
    X = np.column_stack([np.vstack([common, rare]), codes])
    y = np.array([0] * 300 + [1] * 30)

    Xr, yr = resample("adasyn", X, y, [2], seed=0)

    assert abs((yr == 1).sum() - 300) <= 10  # ADASYN rounds each row's share: about the majority's count
    np.testing.assert_array_equal(Xr[:330], X)
    new = Xr[330:]
    assert set(np.unique(new[:, 2])) <= {0.0, 1.0, 2.0, 3.0}
    # each new row's category is that of the nearest real rare row in the numeric columns
    scale = X[:, :2].std(axis=0)
    nearest = np.argmin((((new[:, None, :2] - rare[None, :, :]) / scale) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(new[:, 2], codes[300:][nearest])
    # the new rows lean towards the common class: ADASYN's weighting, where SMOTE spreads evenly
    smote = resample("smote", X, y, [2], seed=0)[0][330:]
    assert new[:, 0].mean() < smote[:, 0].mean()


def test_adasyn_leaves_separated_classes_alone_and_needs_a_numeric_column() -> None:
    X = np.vstack([np.zeros((50, 2)), np.full((10, 2), 100.0)]) + np.random.default_rng(0).normal(size=(60, 2))
    y = np.array([0] * 50 + [1] * 10)
    Xr, yr = resample("adasyn", X, y, [], seed=0)
    assert Xr is X and yr is y  # no rare row has a common neighbour: nothing for ADASYN to weigh
    with pytest.raises(ValueError, match="adasyn interpolates numeric columns.*use smote"):
        resample("adasyn", np.round(np.abs(X)), y, [0, 1], seed=0)


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

    for name in ("linear", "lightgbm", "random_forest", "knn", "xgboost", "mlp"):
        assert ctx.space(name, 3000)["resample"].values == ("none", "smote", "adasyn")  # type: ignore[attr-defined]
        assert ctx.init_config(name, 3000)["resample"] == "none"

    named = SearchContext(X=frame, y=np.arange(3000) % 2, task=TaskKind.BINARY, features=features, folds=folds,
                          score=ACCURACY.fn, higher_is_better=True, seed=0, threads_per_trial=1,
                          resamplers=("synthetic", "adasyn"))
    assert named.space("mlp", 3000)["resample"].values == ("synthetic", "adasyn")  # even on balanced classes
    assert named.init_config("mlp", 3000)["resample"] == "synthetic"

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
    for method in ("none", "smote", "adasyn", "synthetic"):
        pipe = _fit_pipeline("linear", TaskKind.BINARY, features, 0, 1,
                             {"C": 1.0, "class_weight": None, "resample": method}, frame, y)
        predicted = pipe.predict(test[features.columns]) == 1
        recall[method] = (predicted & truth).sum() / truth.sum()

    assert min(recall["smote"], recall["adasyn"], recall["synthetic"]) > recall["none"] + 0.2, recall


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
    assert tried == {"none", "smote", "adasyn"}
    assert set(model.predict(frame.drop(columns="y"))) <= {"rare", "common"}


class _Recording(RandomForest):
    """The random forest (inputs ordinal-coded, unscaled), keeping a copy of every training set it is fitted on."""

    name = "recording_forest"
    seen: list[np.ndarray] = []

    def fit(self, estimator: object, X: object, y: object, categorical: list[int],
            eval_set: tuple[object, object] | None = None, deadline: float | None = None) -> object:
        self.seen.append(np.array(X, copy=True))
        return super().fit(estimator, X, y, categorical, eval_set=eval_set, deadline=deadline)


@pytest.fixture
def recording() -> object:
    LEARNERS[_Recording.name] = _Recording
    _Recording.seen = []
    try:
        yield _Recording
    finally:
        del LEARNERS[_Recording.name]


@pytest.mark.parametrize("method", ["smote", "adasyn", "synthetic"])
def test_resampling_sees_the_training_rows_of_a_fold_only(recording: type[Learner], method: str) -> None:
    """The rare rows a fold validates on are moved far away: no row a fold trains on may come near them."""
    frame = _imbalanced(n=900, seed=5)
    y = (frame.pop("y") == "rare").to_numpy(dtype=float)
    features = choose_features(pa.Table.from_pandas(frame, preserve_index=False), None)
    _, folds = make_folds(frame, y, TaskKind.BINARY, ModelSpec(search=SearchSpec(cv=3)))
    first_valid = folds[0][1]
    marked = first_valid[y[first_valid] == 1]
    frame.loc[marked, "x1"] = 1000.0
    ctx = SearchContext(X=frame, y=y, task=TaskKind.BINARY, features=features, folds=folds, score=ACCURACY.fn,
                        higher_is_better=True, seed=0, threads_per_trial=1)

    params = {"n_estimators": 10, "max_features": 0.5, "min_samples_leaf": 2, "class_weight": None,
              "resample": method}
    record = ctx.evaluate(0, recording.name, params, deadline=None)

    assert record.status == "complete", record.error
    first, second, _ = recording.seen  # type: ignore[attr-defined]
    x1 = features.columns.index("x1")  # the numeric columns come first, as they are
    assert len(first) > len(folds[0][0])  # the fold was oversampled
    assert second[:, x1].max() == 1000.0  # the second fold trains on the marked rows
    assert first[:, x1].max() < 10.0  # the first, which validates on them, never saw one, nor a row made from one
