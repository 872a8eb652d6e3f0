"""The membership-inference audit tells an overfit model from a regularised one, and reports the DP budget."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT

from aiforge.evaluate._checks import CHECK_METRICS, CheckContext
from aiforge.evaluate._metrics import default_metric
from aiforge.evaluate._privacy import membership_attack, privacy_check
from aiforge.learn import TabularModel, choose_features
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, PrivacyCheck, TaskKind

TARGET = "income"
CLASSES = ["<=50K", ">50K"]


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT).sample(n=4000, random_state=0).reset_index(drop=True)
    return frame.iloc[:2500].reset_index(drop=True), frame.iloc[2500:].reset_index(drop=True)


def _context(adult: tuple[pd.DataFrame, pd.DataFrame], learner: str, params: dict[str, Any],
             **extra: Any) -> CheckContext:
    train, test = adult
    features = choose_features(pa.Table.from_pandas(train, preserve_index=False), TARGET)
    y = np.array([CLASSES.index(v) for v in train[TARGET]])
    pipeline = _fit_pipeline(learner, TaskKind.BINARY, features, 0, 1, params, train, y)
    model = TabularModel(pipeline, TaskKind.BINARY, CLASSES, features, learner, TARGET)
    return CheckContext(model=model, train=train, test=test, target=TARGET, task=TaskKind.BINARY,
                        primary=default_metric(TaskKind.BINARY), seed=0,
                        checks=Checks(privacy=PrivacyCheck(max_rows=1000)), extra=extra)


@pytest.mark.parametrize(("learner", "params", "auc"), [
    # 1-NN predicts 0/1: members all score loss 0, non-members too unless misclassified (AUC ~ 0.5 + error/2)
    ("knn", {"n_neighbors": 1, "weights": "uniform"}, 0.56),
    # fully grown trees without bootstrap: every member sits in its own leaves
    ("extra_trees", {"n_estimators": 50, "max_features": 0.5, "min_samples_leaf": 1}, 0.75),
])
def test_an_overfit_model_leaks_membership(adult: tuple[pd.DataFrame, pd.DataFrame], learner: str,
                                           params: dict[str, Any], auc: float) -> None:
    result = privacy_check(_context(adult, learner, params))

    assert result.status == "ok"
    assert result.metrics["membership_inference_auc"] > auc
    assert result.metrics["membership_advantage"] > 0.12
    assert "privacy_epsilon" not in result.metrics
    assert "not trained with differential privacy" in result.details["differential_privacy"]
    assert result.details["train_loss_mean"] < result.details["test_loss_mean"]
    assert {a["attack"] for a in result.details["attacks"]} == {"loss_threshold", "confidence"}


def test_a_strongly_regularised_logistic_model_barely_leaks(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    result = privacy_check(_context(adult, "linear", {"C": 1e-3}))

    assert abs(result.metrics["membership_inference_auc"] - 0.5) < 0.04
    assert result.metrics["membership_advantage"] < 0.08
    se = result.details["attacks"][0]["auc_standard_error"]
    assert 0.005 < se < 0.03


def test_a_dp_model_reports_its_budget_and_what_the_search_spent(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials = [{"learner": "dp_linear", "params": {"alpha": 1e-3, "epsilon": 0.5}, "status": "complete",
               "fold_scores": [0.8, 0.8, 0.8]}]
    result = privacy_check(_context(adult, "dp_linear", {"alpha": 1e-3, "epsilon": 0.5}, trials=trials, cv_folds=3))
    dp = result.details["differential_privacy"]

    assert (result.metrics["privacy_epsilon"], result.metrics["privacy_delta"]) == (0.5, 0.0)
    assert result.metrics["privacy_epsilon_spent"] == pytest.approx(1.5)  # the model + 2 folds per row
    assert dp["search_fits"] == 3 and dp["advantage_bound"] == pytest.approx(np.expm1(0.5))
    assert result.metrics["membership_advantage"] <= dp["advantage_bound"]
    assert abs(result.metrics["membership_inference_auc"] - 0.5) < 0.05


def test_the_attack_scores_are_the_textbook_ones() -> None:
    separated = membership_attack(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    mixed = membership_attack(np.array([0.0, 2.0]), np.array([1.0, 3.0]))

    assert separated == {"auc": 1.0, "advantage": 1.0}
    assert mixed["auc"] == pytest.approx(0.25)


def test_too_few_rows_skip_the_audit_and_every_metric_is_declared(adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ctx = _context(adult, "linear", {"C": 1.0})
    ctx.test = ctx.test.head(5)

    result = privacy_check(ctx)

    assert result.status == "skipped" and "too few labelled rows" in result.reason
    for name in ("membership_inference_auc", "membership_advantage", "privacy_epsilon", "privacy_delta",
                 "privacy_epsilon_spent"):
        assert CHECK_METRICS[name].check == "privacy" and not CHECK_METRICS[name].higher_is_better
        assert CHECK_METRICS[name].hint


def test_a_dp_profile_of_the_numeric_inputs_is_noisy_but_close_and_spends_its_budget(
        adult: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ctx = _context(adult, "linear", {})
    ctx.checks = Checks(privacy=PrivacyCheck(max_rows=500, profile_epsilon=4.0, profile_bounds={"age": (17, 100)}))
    train = adult[0]
    profiles = [privacy_check(ctx).details["dp_profile"] for _ in range(3)]

    numeric = ctx.model.features.numeric
    for profile in profiles:
        assert profile["epsilon"] == 4.0 and [c["column"] for c in profile["columns"]] == numeric
        assert sum(c["epsilon"] for c in profile["columns"]) == pytest.approx(4.0)
        age = next(c for c in profile["columns"] if c["column"] == "age")
        assert age["range"].endswith("(given)")
        # mean of age clipped to [17, 100] over 2500 rows: noise scale 83 / 2500 / (share / 3) ~ 0.1
        assert abs(age["mean"] - train["age"].mean()) < 2.0
        assert abs(sum(age["histogram"]) - len(train)) < 200
        hours = next(c for c in profile["columns"] if c["column"] == "hours_per_week")
        assert "private" in hours["range"]
    # the noise is real: three releases differ
    assert len({next(c["mean"] for c in p["columns"] if c["column"] == "age") for p in profiles}) == 3
