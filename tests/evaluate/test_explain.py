"""Explanations on real models and real data: additivity in the stated space, one-hot grouping back
to raw columns, zero credit for an input the model ignores, and the explain check on Adult."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aiforge.evaluate._checks import CHECK_METRICS, CheckContext, run_checks
from aiforge.evaluate._explain import explain_rows
from aiforge.evaluate._metrics import METRICS
from aiforge.learn import TabularModel
from aiforge.learn._encode import TabularEncoder
from aiforge.learn._ensemble import WeightedEnsemble
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import FeatureSet, choose_features
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, ExplainCheck, ImportanceCheck, TaskKind

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
CLASSES = ["<=50K", ">50K"]
STRONG = {"relationship", "marital_status", "capital_gain"}


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame, FeatureSet]:
    frame = pd.read_csv(ADULT, nrows=5000)
    frame["constant"] = 1.0  # constant in training: no model can use it
    train, test = frame.iloc[:4000].reset_index(drop=True), frame.iloc[4000:].reset_index(drop=True)
    test = test.assign(constant=np.random.default_rng(0).normal(size=len(test)))  # ...but it varies here
    return train, test, choose_features(pa.Table.from_pandas(train), "income")


def _fit(adult: tuple[pd.DataFrame, pd.DataFrame, FeatureSet], name: str, **params: Any) -> TabularModel:
    train, _, features = adult
    y = (train["income"] == ">50K").to_numpy(dtype=int)
    config = {**LEARNERS[name].init_config(len(train), TaskKind.BINARY), **params}
    pipe = _fit_pipeline(name, TaskKind.BINARY, features, 0, 1, config, train, y)
    return TabularModel(pipe, TaskKind.BINARY, CLASSES, features, name, "income")


@pytest.fixture(scope="module")
def models(adult: tuple[pd.DataFrame, pd.DataFrame, FeatureSet]) -> dict[str, TabularModel]:
    found = {
        "lightgbm": _fit(adult, "lightgbm", n_estimators=80),
        "random_forest": _fit(adult, "random_forest", n_estimators=20, min_samples_leaf=8),
        "linear": _fit(adult, "linear"),
    }
    ensemble = WeightedEnsemble([(found["linear"].pipeline, 0.4), (found["lightgbm"].pipeline, 0.6)], TaskKind.BINARY)
    found["ensemble"] = TabularModel(ensemble, TaskKind.BINARY, CLASSES, adult[2], "ensemble", "income")
    return found


def _background(adult: tuple[pd.DataFrame, pd.DataFrame, FeatureSet]) -> pd.DataFrame:
    return adult[0].sample(40, random_state=1)


@pytest.mark.parametrize(("name", "method", "space"), [
    ("lightgbm", "lightgbm TreeSHAP", "log_odds"),
    ("random_forest", "shap TreeExplainer", "probability"),
    ("linear", "sampling SHAP", "probability"),
    ("ensemble", "sampling SHAP", "probability"),
])
def test_contributions_add_up_to_the_model_output(adult: Any, models: dict[str, TabularModel], name: str,
                                                  method: str, space: str) -> None:
    model, rows = models[name], adult[1].iloc[:30]
    exp = explain_rows(model, rows, background=_background(adult), permutations=16)
    assert exp.method.startswith(method)
    assert exp.space == space
    assert exp.features == model.features.columns
    assert exp.contributions.shape == (30, len(exp.features))
    assert exp.additivity_error() < 1e-9
    p = model.predict_proba(rows)[:, 1]
    shown = 1 / (1 + np.exp(-exp.output)) if space == "log_odds" else exp.output
    np.testing.assert_allclose(shown, p, atol=1e-6)
    assert exp.explained == [">50K"] * 30
    assert np.ptp(exp.base) < 1e-12  # one base value for every row
    assert exp.contributions.std() > 1e-3  # the explanation says something
    payload = json.loads(json.dumps(exp.to_json()))
    first = payload["rows"][0]
    sizes = [abs(c["contribution"]) for c in first["contributions"]]
    assert sizes == sorted(sizes, reverse=True)
    assert first["base"] + sum(c["contribution"] for c in first["contributions"]) == pytest.approx(first["output"])


def test_xgboost_contributions_add_up(adult: Any) -> None:
    pytest.importorskip("xgboost")
    model, rows = _fit(adult, "xgboost", n_estimators=40), adult[1].iloc[:20]
    exp = explain_rows(model, rows, method="tree")
    assert exp.method.startswith("xgboost") and exp.space == "log_odds"
    np.testing.assert_allclose(1 / (1 + np.exp(-exp.output)), model.predict_proba(rows)[:, 1], atol=1e-5)
    assert exp.additivity_error() < 1e-9


def test_histogram_boosting_with_categorical_splits_is_sampled_not_misread(adult: Any) -> None:
    model = _fit(adult, "hist_gradient_boosting", learning_rate=0.3)
    exp = explain_rows(model, adult[1].iloc[:5], background=_background(adult), permutations=8)
    assert exp.method.startswith("sampling") and "categorical splits" in exp.note
    np.testing.assert_allclose(exp.output, model.predict_proba(adult[1].iloc[:5])[:, 1], atol=1e-9)


def test_one_hot_outputs_are_summed_back_to_their_raw_column(adult: Any) -> None:
    import lightgbm
    from sklearn.pipeline import Pipeline

    train, test, features = adult
    prep = TabularEncoder(features.numeric, features.categorical, encoding="onehot", min_frequency=5)
    estimator = lightgbm.LGBMClassifier(n_estimators=60, n_jobs=1, verbose=-1, random_state=0)
    pipe = Pipeline([("prep", prep), ("model", estimator)]).fit(train[features.columns], train["income"] == ">50K")
    model = TabularModel(pipe, TaskKind.BINARY, CLASSES, features, "lightgbm", "income")
    rows = test.iloc[:25]
    exp = explain_rows(model, rows, method="tree")
    sources = prep.output_sources()
    encoded = estimator.predict(prep.transform(rows[features.columns]), pred_contrib=True)[:, :-1]
    assert encoded.shape[1] == len(sources) > len(features.columns)
    for j, column in enumerate(exp.features):
        summed = encoded[:, [i for i, s in enumerate(sources) if s == column]].sum(axis=1)
        np.testing.assert_allclose(exp.contributions[:, j], summed, atol=1e-12)
    relationship = exp.features.index("relationship")
    assert sum(s == "relationship" for s in sources) > 3
    assert np.abs(exp.contributions[:, relationship]).mean() > 0.05


def test_output_sources_name_each_encoded_column_input() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0] * 5, "c": ["a", "b", "a", "b", "rare"] * 4,
                          "d": ["u", "v"] * 10})
    onehot = TabularEncoder(["x"], ["c", "d"], encoding="onehot", min_frequency=5).fit(frame)
    assert onehot.output_sources() == ["x", "c", "c", "c", "d", "d"]  # c: a, b, (infrequent)
    assert len(onehot.output_sources()) == onehot.transform(frame).shape[1]
    assert [n.split("=")[0] for n in onehot.get_feature_names_out()] == onehot.output_sources()
    ordinal = TabularEncoder(["x"], ["c", "d"]).fit(frame)
    assert ordinal.output_sources() == ["x", "c", "d"] and ordinal.transform(frame).shape[1] == 3


@pytest.mark.parametrize("name", ["lightgbm", "linear", "ensemble"])
def test_an_input_the_model_ignores_gets_no_credit(adult: Any, models: dict[str, TabularModel], name: str) -> None:
    model = models[name]
    assert "constant" in model.features.columns
    exp = explain_rows(model, adult[1].iloc[:20], background=_background(adult), permutations=8)
    assert adult[1]["constant"].iloc[:20].std() > 0.5  # it differs from training, yet changes nothing
    constant = exp.features.index("constant")
    assert np.abs(exp.contributions[:, constant]).max() < 1e-9
    assert np.abs(exp.contributions).max() > 0.05


def test_multiclass_explains_the_predicted_class_and_regression_the_value() -> None:
    from sklearn.datasets import load_diabetes, load_iris

    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    features = FeatureSet(numeric=[c for c in iris.columns if c != "species"], categorical=[])
    names = ["setosa", "versicolor", "virginica"]
    y = iris["species"].map(names.index).to_numpy()
    pipe = _fit_pipeline("lightgbm", TaskKind.MULTICLASS, features, 0, 1,
                         {**LEARNERS["lightgbm"].init_config(150, TaskKind.MULTICLASS), "n_estimators": 30}, iris, y)
    model = TabularModel(pipe, TaskKind.MULTICLASS, names, features, "lightgbm", "species")
    exp = explain_rows(model, iris.iloc[::10])
    assert exp.space == "raw_score" and exp.additivity_error() < 1e-9
    assert exp.explained == [str(c) for c in model.predict(iris.iloc[::10])]

    diabetes = load_diabetes(as_frame=True).frame
    features = FeatureSet(numeric=[c for c in diabetes.columns if c != "target"], categorical=[])
    pipe = _fit_pipeline("linear", TaskKind.REGRESSION, features, 0, 1, {"alpha": 1.0}, diabetes,
                         diabetes["target"].to_numpy())
    model = TabularModel(pipe, TaskKind.REGRESSION, [], features, "linear", "target")
    exp = explain_rows(model, diabetes.iloc[:10], background=diabetes.iloc[100:150], permutations=8)
    assert exp.space == "value" and exp.explained == []
    np.testing.assert_allclose(exp.output, model.predict(diabetes.iloc[:10]), rtol=1e-9)
    assert exp.additivity_error() < 1e-9
    # a linear model is additive: a column's credit is coef * (value - its background value) in every
    # ordering, so contributions - coef * value is the same for every row
    coef = pipe.named_steps["model"].coef_ / pipe.named_steps["prep"].stds_
    offset = exp.contributions - coef * diabetes.iloc[:10][features.numeric].to_numpy()
    assert np.ptp(offset, axis=0).max() < 1e-6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "exact"}, r"'method' parameter of explain_rows must be one of auto, tree, sampling"),
    ({"method": "tree"}, r"no exact tree explainer for learner 'linear'"),
    ({}, r"needs background rows: pass background="),
    ({"background": pd.DataFrame({"age": [30]})}, r"background rows must .* hold every input column"),
    ({"permutations": 1, "background": None}, r"'permutations' parameter .* at least 2"),
])
def test_bad_requests_say_what_to_do(adult: Any, models: dict[str, TabularModel], kwargs: dict[str, Any],
                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        explain_rows(models["linear"], adult[1].iloc[:2], **kwargs)


def test_rows_missing_an_input_column_are_refused(adult: Any, models: dict[str, TabularModel]) -> None:
    with pytest.raises(ValueError, match=re.escape("lack the model's input column(s) ['age']")):
        explain_rows(models["lightgbm"], adult[1].drop(columns="age").iloc[:2])


def _context(adult: Any, model: TabularModel, explain: ExplainCheck) -> CheckContext:
    train, test, _ = adult
    return CheckContext(model=model, train=train, test=test.iloc[:1000], target="income", task=TaskKind.BINARY,
                        primary=METRICS["roc_auc"], seed=3,
                        checks=Checks(explain=explain, importance=ImportanceCheck(repeats=2, max_rows=300)))


def test_check_ranks_known_strong_inputs_first_on_adult(adult: Any, models: dict[str, TabularModel]) -> None:
    ctx = _context(adult, models["lightgbm"], ExplainCheck(max_rows=1000, local_rows=5, budget_seconds=10))
    result = run_checks(ctx, ["explain"])["explain"]
    assert result.status == "ok", result.reason
    details = result.details
    assert details["global_kind"] == "shap" and details["space"] == "log_odds"
    assert details["rows_explained"] == 1000 and details["additivity_error"] < 1e-9
    ranked = [r["feature"] for r in details["global"]]
    assert STRONG & set(ranked[:3]), ranked
    assert next(r for r in details["global"] if r["feature"] == "constant")["mean_abs"] == 0.0
    sizes = [r["mean_abs"] for r in details["global"]]
    assert sizes == sorted(sizes, reverse=True) and sum(r["share"] for r in details["global"]) == pytest.approx(1, 1e-3)
    local = details["local"]
    assert [r["reason"] for r in local[:2]] == ["most confident positive", "most confident negative"]
    assert len(local) == 5 and local[0]["output"] > 2 > -2 > local[1]["output"]
    assert all(r["reason"].startswith("borderline") for r in local[2:])
    assert all(len(r["contributions"]) == 10 and r["other"]["features"] == 4 for r in local)
    assert len(details["beeswarm"]) == 10 and len(details["beeswarm"][0]["points"]) == 200
    assert 0 < result.metrics["explain_ms_per_row"] < 200
    assert CHECK_METRICS["explain_ms_per_row"].check == "explain"
    json.dumps(result.to_json())
    assert result.seconds < 6, f"the explain check took {result.seconds:.2f} s"  # ~0.3 s unloaded


def test_check_on_a_model_without_tree_explainer_is_bounded(adult: Any, models: dict[str, TabularModel]) -> None:
    auto = run_checks(_context(adult, models["ensemble"], ExplainCheck(local_rows=3, permutations=8)),
                      ["explain"])["explain"]
    assert auto.status == "ok", auto.reason
    assert auto.details["global_kind"] == "permutation" and auto.details["space"] == "probability"
    assert STRONG & {r["feature"] for r in auto.details["global"][:4]}
    assert len(auto.details["local"]) == 3 and auto.details["method"].startswith("sampling SHAP")

    budget = ExplainCheck(method="shap", max_rows=1000, local_rows=1, permutations=8, budget_seconds=0.5)
    shap = run_checks(_context(adult, models["ensemble"], budget), ["explain"])["explain"]
    assert shap.status == "ok", shap.reason
    assert shap.details["global_kind"] == "shap"
    assert 32 <= shap.details["rows_explained"] < 1000
    assert shap.details["global_seconds"] < 2.5
    assert shap.details["additivity_error"] < 1e-9
