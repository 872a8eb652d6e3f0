"""Fairness mitigation on real Adult rows: each method must really shrink the gap it targets."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from aiforge.errors import DataError, SpecError
from aiforge.learn import TabularModel, choose_features
from aiforge.learn._ensemble import WeightedEnsemble
from aiforge.learn._mitigate import (
    MitigatedModel,
    PostProcessedModel,
    group_edges,
    group_labels,
    mitigate,
    reweighing_weights,
)
from aiforge.learn._model import encode_labels
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import TaskKind

CLASSES = ["<=50K", ">50K"]
LIGHTGBM = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15}


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT).sample(5000, random_state=7).reset_index(drop=True)
    return frame.iloc[:3000].reset_index(drop=True), frame.iloc[3000:].reset_index(drop=True)


def _model(train: pd.DataFrame, learner: str, params: dict[str, Any], exclude: dict[str, str] | None = None,
           target: str = "income", task: TaskKind = TaskKind.BINARY, classes: list[Any] | None = None) -> TabularModel:
    features = choose_features(pa.Table.from_pandas(train), target, exclude)
    classes = classes if classes is not None else CLASSES
    y = train[target].to_numpy(dtype=float) if task is TaskKind.REGRESSION else encode_labels(train[target], classes)
    pipeline = _fit_pipeline(learner, task, features, 0, 1, params, train, y)
    return TabularModel(pipeline, task, classes, features, learner, target)


@pytest.fixture(scope="module")
def lightgbm(adult: tuple[pd.DataFrame, pd.DataFrame]) -> TabularModel:
    return _model(adult[0], "lightgbm", LIGHTGBM)


def _gaps(model: TabularModel, test: pd.DataFrame) -> tuple[float, float, float]:
    y = encode_labels(test["income"], CLASSES)
    decided = (model.predict(test) == ">50K").astype(int)
    return (float(demographic_parity_difference(y, decided, sensitive_features=test["sex"])),
            float(equalized_odds_difference(y, decided, sensitive_features=test["sex"])),
            float((decided == y).mean()))


def test_reweighing_weights_are_kamiran_calders() -> None:
    groups = pd.Series(["a"] * 6 + ["b"] * 4)
    y = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    weights, table = reweighing_weights(groups, y, ["no", "yes"])
    # P(a)=0.6, P(yes)=0.5, P(a, yes)=0.4 -> 0.75; P(b, yes)=0.1 -> 0.4 * 0.5 / 0.1 = 2
    assert weights[0] == pytest.approx(0.6 * 0.5 / 0.4)
    assert weights[6] == pytest.approx(0.4 * 0.5 / 0.1)
    # weighted, the positive rate is the same in both groups: attribute and label independent
    rate = {g: np.average(y[groups == g], weights=weights[groups == g]) for g in ("a", "b")}
    assert rate["a"] == pytest.approx(rate["b"]) == pytest.approx(0.5)
    assert {(r["group"], r["label"]): r["rows"] for r in table}[("b", "yes")] == 1


def test_groups_text_missing_and_quartiles() -> None:
    values = pd.Series([1.0, 2.0, None, 1.0])
    assert group_labels(values).tolist() == ["1", "2", "(missing)", "1"]
    ages = pd.Series(np.arange(20, 80, dtype=float))
    edges = group_edges(ages)
    assert edges is not None and len(edges) == 3
    labels = group_labels(ages, edges)
    assert labels.nunique() == 4 and labels.iloc[0].startswith("[-inf, ")


@pytest.mark.parametrize(("method", "learner", "constraint"), [
    ("reweighing", "lightgbm", "demographic_parity"),
    ("reweighing", "linear", "demographic_parity"),
    ("exponentiated_gradient", "lightgbm", "demographic_parity"),
    ("threshold_optimizer", "lightgbm", "demographic_parity"),
    ("threshold_optimizer", "linear", "demographic_parity"),
])
def test_mitigation_reduces_demographic_parity_gap(adult: tuple[pd.DataFrame, pd.DataFrame],
                                                    lightgbm: TabularModel, method: str, learner: str,
                                                    constraint: str) -> None:
    train, test = adult
    base = lightgbm if learner == "lightgbm" else _model(train, "linear", {"C": 1.0})
    fair = mitigate(base, train, train["income"], method=method, constraint=constraint, attribute="sex",
                    eps=0.02, seed=0, n_jobs=1)
    before, _, accuracy_before = _gaps(base, test)
    after, _, accuracy_after = _gaps(fair, test)
    assert before > 0.12  # Adult's models select men far more often than women
    assert after < 0.75 * before, f"{method}: gap {before:.3f} -> {after:.3f}"
    assert accuracy_after > accuracy_before - 0.04  # fairness at a bounded cost in accuracy
    assert isinstance(fair, MitigatedModel) and fair.learner == f"{learner}+{method}"
    restored = pickle.loads(pickle.dumps(fair))
    assert (restored.predict(test) == fair.predict(test)).all()
    assert set(restored.predict(test.head(20))) <= set(CLASSES)
    proba = restored.predict_proba(test.head(50))
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert fair.mitigation["attribute"] == "sex" and fair.mitigation["seconds"] > 0


def test_equalized_odds_mitigation_reduces_its_gap(adult: tuple[pd.DataFrame, pd.DataFrame],
                                                   lightgbm: TabularModel) -> None:
    train, test = adult
    fair = mitigate(lightgbm, train, train["income"], method="threshold_optimizer", constraint="equalized_odds",
                    attribute="sex", seed=0, n_jobs=1)
    _, before, _ = _gaps(lightgbm, test)
    _, after, _ = _gaps(fair, test)
    assert after < before, f"equalized odds gap {before:.3f} -> {after:.3f}"
    assert {r["group"] for r in fair.mitigation["thresholds"]} == {"Male", "Female"}


def test_exponentiated_gradient_decisions_follow_the_mixture(adult: tuple[pd.DataFrame, pd.DataFrame],
                                                             lightgbm: TabularModel) -> None:
    train, test = adult
    fair = mitigate(lightgbm, train, train["income"], method="exponentiated_gradient", attribute="sex",
                    eps=0.02, seed=0, n_jobs=1)
    info = fair.mitigation
    assert 1 <= info["predictors_used"] <= info["predictors"] and info["iterations"] <= info["max_iter"]
    assert sum(info["weights"]) == pytest.approx(1.0, abs=1e-6)
    # each record is decided by one drawn classifier: per group, the served selection rate is the
    # randomised mixture's expected rate, up to sampling noise
    decided = (fair.predict(test) == ">50K").astype(float)
    expected = fair.pipeline.mixture_pmf(test[fair.features.columns])
    for group in ("Male", "Female"):
        rows = (test["sex"] == group).to_numpy()
        assert decided[rows].mean() == pytest.approx(expected[rows].mean(), abs=0.03)
    # the same record always gets the same answer
    assert (fair.predict(test.iloc[::-1]) == fair.predict(test)[::-1]).all()


def test_threshold_optimizer_needs_the_attribute_at_prediction(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = adult
    base = _model(train, "lightgbm", LIGHTGBM, exclude={"sex": "sensitive attribute, not an input"})
    assert "sex" not in base.input_columns
    fair = mitigate(base, train, train["income"], method="threshold_optimizer", attribute="sex", seed=0, n_jobs=1)
    assert isinstance(fair, PostProcessedModel) and fair.input_columns[-1] == "sex"
    assert _gaps(fair, test)[0] < 0.75 * _gaps(base, test)[0]
    with pytest.raises(DataError, match=r"needs the column\(s\) \['sex'\]"):
        fair.predict(test.drop(columns=["sex"]))
    # a group never seen in training gets the unmitigated decision
    unseen = test.head(200).assign(sex="Nonbinary")
    assert (fair.predict(unseen) == base.predict(unseen)).all()


def test_reweighing_refits_every_member_of_an_ensemble(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = adult
    one, two = _model(train, "lightgbm", LIGHTGBM), _model(train, "linear", {"C": 1.0})
    ensemble = TabularModel(WeightedEnsemble([(one.pipeline, 0.6), (two.pipeline, 0.4)], TaskKind.BINARY),
                            TaskKind.BINARY, CLASSES, one.features, "ensemble", "income", threshold=0.45)
    fair = mitigate(ensemble, train, train["income"], method="reweighing", attribute="sex", seed=0, n_jobs=1)
    assert isinstance(fair.pipeline, WeightedEnsemble) and len(fair.pipeline.members) == 2
    assert [w for _, w in fair.pipeline.members] == [0.6, 0.4]
    assert all(new is not old for (new, _), (old, _) in zip(fair.pipeline.members, ensemble.pipeline.members,
                                                             strict=True))
    assert fair.threshold == 0.45  # reweighing keeps the model's decision threshold
    assert _gaps(fair, test)[0] < _gaps(ensemble, test)[0]


def test_reweighing_works_for_multiclass(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train = adult[0].head(1500)
    classes = sorted(train["relationship"].unique())
    base = _model(train, "lightgbm", {"n_estimators": 20, "num_leaves": 7}, target="relationship",
                  task=TaskKind.MULTICLASS, classes=classes)
    fair = mitigate(base, train, train["relationship"], method="reweighing", attribute="race", n_jobs=1)
    assert fair.predict_proba(train.head(5)).shape == (5, len(classes))
    with pytest.raises(DataError, match="needs a binary classification model"):
        mitigate(base, train, train["relationship"], method="threshold_optimizer", attribute="race")


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"method": "massage"}, SpecError, "unknown fairness mitigation 'massage'"),
    ({"method": "reweighing", "constraint": "parity"}, SpecError, "unknown fairness constraint"),
    ({"method": "reweighing", "attribute": "gender"}, DataError, "'gender' is not a column of the training data"),
])
def test_bad_settings_say_what_to_do(adult: tuple[pd.DataFrame, pd.DataFrame], lightgbm: TabularModel,
                                     kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    train, _ = adult
    settings = {"attribute": "sex", **kwargs}
    with pytest.raises(error, match=message):
        mitigate(lightgbm, train, train["income"], **settings)


def test_regression_cannot_be_mitigated(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = adult
    base = _model(train, "linear", {"alpha": 1.0}, target="hours_per_week", task=TaskKind.REGRESSION, classes=[])
    with pytest.raises(DataError, match="needs a classification model"):
        mitigate(base, train, train["hours_per_week"], method="reweighing", attribute="sex")
