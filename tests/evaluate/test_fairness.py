"""The fairness check on real Adult rows: its figures against a hand computation and fairlearn's own."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT
from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference

from aiforge.errors import DataError
from aiforge.evaluate import CHECK_METRICS, METRICS
from aiforge.evaluate._checks import CheckContext, run_checks
from aiforge.evaluate._fairness import fairness
from aiforge.learn import TabularModel, choose_features
from aiforge.learn._mitigate import mitigate
from aiforge.learn._model import encode_labels
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, FairnessCheck, TaskKind

CLASSES = ["<=50K", ">50K"]


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT).sample(5000, random_state=3).reset_index(drop=True)
    return frame.iloc[:3000].reset_index(drop=True), frame.iloc[3000:].reset_index(drop=True)


def _model(train: pd.DataFrame, target: str = "income", task: TaskKind = TaskKind.BINARY,
           classes: list[Any] | None = None, threshold: float = 0.5) -> TabularModel:
    features = choose_features(pa.Table.from_pandas(train), target)
    classes = CLASSES if classes is None else classes
    y = train[target].to_numpy(dtype=float) if task is TaskKind.REGRESSION else encode_labels(train[target], classes)
    pipeline = _fit_pipeline("lightgbm", task, features, 0, 1, {"n_estimators": 40, "num_leaves": 15}, train, y)
    return TabularModel(pipeline, task, classes, features, "lightgbm", target, threshold)


@pytest.fixture(scope="module")
def model(adult: tuple[pd.DataFrame, pd.DataFrame]) -> TabularModel:
    return _model(adult[0], threshold=0.4)


def _ctx(model: TabularModel, adult: tuple[pd.DataFrame, pd.DataFrame], sensitive: list[str],
         target: str = "income", **fairness_settings: Any) -> CheckContext:
    train, test = adult
    primary = METRICS["roc_auc"] if model.task is TaskKind.BINARY else METRICS[
        "accuracy" if model.task is TaskKind.MULTICLASS else "rmse"]
    return CheckContext(model=model, train=train, test=test, target=target, task=model.task, primary=primary,
                        seed=0, checks=Checks(fairness=FairnessCheck(**fairness_settings)), sensitive=sensitive)


def test_group_figures_match_a_hand_computation(model: TabularModel,
                                                adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    test = adult[1]
    result = fairness(_ctx(model, adult, ["sex"]))
    assert result.status == "ok"
    female = next(r for r in result.details["groups"]["sex"] if r["group"] == "Female")
    rows = (test["sex"] == "Female").to_numpy()
    y = encode_labels(test["income"], CLASSES)[rows]
    decided = (model.predict_proba(test)[:, 1] >= 0.4)[rows]  # the model's threshold, not 0.5
    assert female["count"] == rows.sum() and not female["small"]
    assert female["selection_rate"] == pytest.approx(decided.mean(), abs=1e-6)
    assert female["accuracy"] == pytest.approx((decided == y).mean(), abs=1e-6)
    assert female["true_positive_rate"] == pytest.approx(decided[y == 1].mean(), abs=1e-6)
    assert female["false_positive_rate"] == pytest.approx(decided[y == 0].mean(), abs=1e-6)
    assert 0.8 < female["roc_auc"] <= 1.0
    # the gaps are fairlearn's own figures on the same decisions
    y_all = encode_labels(test["income"], CLASSES)
    d_all = (model.predict_proba(test)[:, 1] >= 0.4).astype(int)
    m = result.metrics
    assert m["demographic_parity_difference[sex]"] == pytest.approx(
        demographic_parity_difference(y_all, d_all, sensitive_features=test["sex"]), abs=1e-9)
    assert m["demographic_parity_ratio[sex]"] == pytest.approx(
        demographic_parity_ratio(y_all, d_all, sensitive_features=test["sex"]), abs=1e-9)
    assert m["equalized_odds_difference[sex]"] == pytest.approx(
        equalized_odds_difference(y_all, d_all, sensitive_features=test["sex"]), abs=1e-9)
    male = next(r for r in result.details["groups"]["sex"] if r["group"] == "Male")
    assert m["equal_opportunity_difference[sex]"] == pytest.approx(
        abs(male["true_positive_rate"] - female["true_positive_rate"]), abs=1e-5)
    assert m["demographic_parity_difference[sex]"] > 0.1  # Adult's well-known gap is measured
    assert "0.4" in result.details["decision"]
    json.dumps(result.to_json(), allow_nan=False)  # details the report and the run record can store


def test_intersections_and_small_groups(model: TabularModel, adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = fairness(_ctx(model, adult, ["sex", "race"], min_group_size=30))
    groups = result.details["groups"]
    assert set(groups) == {"sex", "race", "sex&race"}
    cells = {r["group"]: r for r in groups["sex&race"]}
    assert "Female & White" in cells and not cells["Female & White"]["small"]
    small = [r for r in groups["race"] if r["small"]]
    assert small and all(r["count"] < 30 for r in small)  # e.g. 'Other' has few test rows
    large = [r for r in groups["race"] if not r["small"]]
    rates = [r["selection_rate"] for r in large]
    assert result.metrics["demographic_parity_difference[race]"] == pytest.approx(max(rates) - min(rates), abs=1e-5)
    every = [r["selection_rate"] for r in groups["race"]]
    assert max(every) - min(every) != pytest.approx(max(rates) - min(rates))  # the small group would change it
    assert "demographic_parity_difference[sex&race]" in result.metrics
    assert {d["attribute"]: d["excluded_small"] for d in result.details["disparities"]}["race"] == len(small)
    without = fairness(_ctx(model, adult, ["sex", "race"], intersections=False))
    assert "sex&race" not in without.details["groups"]


def test_missing_values_form_a_group(model: TabularModel, adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = adult
    holed = test.copy()
    holed.loc[holed.index[:60], "race"] = None
    ctx = _ctx(model, (train, holed), ["race"])
    groups = {r["group"]: r for r in fairness(ctx).details["groups"]["race"]}
    assert groups["(missing)"]["count"] == 60


def test_numeric_attribute_is_grouped_by_quartiles(model: TabularModel,
                                                   adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = fairness(_ctx(model, adult, ["age"]))
    assert len(result.details["groups"]["age"]) == 4
    assert any("quartiles" in note for note in result.details["notes"])


def test_without_attributes_it_is_skipped(model: TabularModel, adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = fairness(_ctx(model, adult, []))
    assert result.status == "skipped" and "checks.fairness.sensitive" in result.reason


def test_a_missing_column_is_a_clear_error(model: TabularModel, adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(DataError, match=r"\['gender'\] are not columns of the test split"):
        fairness(_ctx(model, adult, ["sex", "gender"]))
    recorded = run_checks(_ctx(model, adult, ["gender"]), ["fairness"])["fairness"]
    assert recorded.status == "failed" and "gender" in recorded.reason


def test_comparison_with_and_without_mitigation(model: TabularModel,
                                                adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = adult
    fair = mitigate(model, train, train["income"], method="threshold_optimizer", attribute="sex", seed=0, n_jobs=1)
    ctx = _ctx(fair, adult, ["sex", "race"], attribute="sex")
    ctx.reference = model
    result = fairness(ctx)
    before, after = result.details["comparison"]
    assert before["model"] == "without mitigation" and after["model"] == "with threshold_optimizer"
    assert after["demographic_parity_difference[sex]"] < 0.5 * before["demographic_parity_difference[sex]"]
    assert 0.8 < after["roc_auc"] <= before["roc_auc"] + 0.01 and after["accuracy"] > before["accuracy"] - 0.05
    assert result.metrics["demographic_parity_difference[sex]"] == pytest.approx(
        after["demographic_parity_difference[sex]"], abs=1e-5)  # the figures are the served model's
    assert not any("unmitigated" in k for k in result.metrics)


def test_multiclass_and_regression(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = adult
    classes = sorted(train["relationship"].unique())
    multi = _model(train, "relationship", TaskKind.MULTICLASS, classes)
    result = fairness(_ctx(multi, adult, ["sex"], target="relationship"))
    predicted = multi.predict(test)
    y = test["relationship"].to_numpy()
    accuracy = {g: (predicted[rows] == y[rows]).mean() for g in ("Male", "Female")
                for rows in [(test["sex"] == g).to_numpy()]}
    assert result.metrics["accuracy_difference[sex]"] == pytest.approx(
        abs(accuracy["Male"] - accuracy["Female"]), abs=1e-5)
    wife = {g: (predicted[(test["sex"] == g).to_numpy()] == "Wife").mean() for g in ("Male", "Female")}
    assert result.metrics["demographic_parity_difference[sex]"] >= abs(wife["Male"] - wife["Female"]) - 1e-9
    assert "equalized_odds_difference[sex]" not in result.metrics

    regression = _model(train, "hours_per_week", TaskKind.REGRESSION, [])
    result = fairness(_ctx(regression, adult, ["sex"], target="hours_per_week"))
    error = np.abs(regression.predict(test) - test["hours_per_week"].to_numpy())
    mae = {g: error[(test["sex"] == g).to_numpy()].mean() for g in ("Male", "Female")}
    assert result.metrics["mae_difference[sex]"] == pytest.approx(abs(mae["Male"] - mae["Female"]), abs=1e-5)
    assert {"mae", "rmse"} <= set(result.details["groups"]["sex"][0])


def test_metrics_are_registered_for_kpis() -> None:
    for name in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                 "equal_opportunity_difference", "accuracy_difference", "mae_difference"):
        metric = CHECK_METRICS[name]
        assert metric.check == "fairness" and metric.per_attribute and metric.hint
    assert "exponentiated_gradient" in CHECK_METRICS["demographic_parity_difference"].hint
    assert CHECK_METRICS["demographic_parity_ratio"].higher_is_better
