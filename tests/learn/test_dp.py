"""Differentially private linear models: useful at epsilon 1, useless at 0.01, noisy for real, with the
noise the calibration promises; the budget readable from a fitted model, an ensemble and a search."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from aiforge.learn._dp import (
    DPLinearRegression,
    DPLogisticRegression,
    analytic_gaussian_sigma,
    privacy_budget,
    search_budget,
)
from aiforge.learn._encode import TabularEncoder
from aiforge.learn._ensemble import WeightedEnsemble
from aiforge.spec import TaskKind

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def adult() -> dict[str, Any]:
    """12000 training and 6000 test rows of Adult, standardised and one-hot encoded as dp_linear gets them."""
    frame = pd.read_csv(ADULT).sample(n=18000, random_state=0).reset_index(drop=True)
    numeric = [c for c in frame.columns if c != "income" and pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric and c != "income"]
    y = (frame["income"] == ">50K").to_numpy(dtype=int)
    encoder = TabularEncoder(numeric=numeric, categorical=categorical, encoding="onehot", scale=True,
                             max_categories=50, min_frequency=5)
    train, test = frame.iloc[:12000], frame.iloc[12000:]
    X_train, X_test = encoder.fit_transform(train), encoder.transform(test)
    baseline = LogisticRegression(max_iter=2000).fit(X_train, y[:12000]).score(X_test, y[12000:])
    return {"X": X_train, "y": y[:12000], "X_test": X_test, "y_test": y[12000:], "baseline": baseline}


def _accuracy(data: dict[str, Any], **params: Any) -> float:
    models = [DPLogisticRegression(random_state=s, **params).fit(data["X"], data["y"]) for s in SEEDS]
    scores = [m.score(data["X_test"], data["y_test"]) for m in models]
    return float(np.mean(scores))


def test_accuracy_at_epsilon_1_is_within_a_few_points_of_non_private_logistic_regression(adult: dict[str, Any]) -> None:
    private = _accuracy(adult, epsilon=1.0, alpha=1e-3)

    assert adult["baseline"] > 0.83
    assert private >= adult["baseline"] - 0.03, (private, adult["baseline"])


def test_accuracy_degrades_at_epsilon_0_01(adult: dict[str, Any]) -> None:
    private = _accuracy(adult, epsilon=0.01, alpha=1e-3)

    assert private < adult["baseline"] - 0.05, (private, adult["baseline"])


def test_repeated_fits_draw_fresh_noise_and_a_fixed_seed_repeats_it(adult: dict[str, Any]) -> None:
    X, y = adult["X"][:3000], adult["y"][:3000]
    first = DPLogisticRegression(random_state=1).fit(X, y).coef_
    second = DPLogisticRegression(random_state=2).fit(X, y).coef_
    again = DPLogisticRegression(random_state=1).fit(X, y).coef_
    unseeded = [DPLogisticRegression().fit(X, y).coef_ for _ in range(2)]

    assert np.abs(first - second).max() > 1e-3
    assert np.abs(unseeded[0] - unseeded[1]).max() > 1e-3
    np.testing.assert_allclose(first, again)


def _normalised_weights(model: DPLogisticRegression) -> np.ndarray:
    """The weights on the rows the mechanism saw (clipped, scaled to norm <= 1, intercept column)."""
    root2 = math.sqrt(2.0)
    return np.hstack([model.coef_ * model.data_norm * root2, (model.intercept_ * root2)[:, None]])


@pytest.mark.parametrize("classes", [2, 3])
def test_output_perturbation_noise_has_the_calibrated_scale(classes: int) -> None:
    rng = np.random.default_rng(0)
    n, d, alpha, epsilon = 400, 4, 0.05, 2.0
    X = rng.normal(size=(n, d))
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=n), [0.0] if classes == 2 else [-0.5, 0.5])
    exact = _normalised_weights(DPLogisticRegression(epsilon=1e12, alpha=alpha, mechanism="output",
                                                     random_state=0).fit(X, y))
    noise = np.vstack([_normalised_weights(DPLogisticRegression(epsilon=epsilon, alpha=alpha, mechanism="output",
                                                                random_state=s).fit(X, y)) - exact
                       for s in range(150 if classes == 2 else 60)])
    # each one-vs-rest model gets epsilon / k: noise of density exp(-||b|| n alpha eps_k / 2)
    models = 1 if classes == 2 else classes
    scale = 2.0 / (n * alpha * epsilon / models)
    dim = d + 1
    norms = np.linalg.norm(noise, axis=1)

    assert abs(norms.mean() / (dim * scale) - 1) < 0.08  # E||b|| = dim x scale (Gamma(dim, scale))
    assert abs(noise.std(axis=0).mean() / (math.sqrt(dim + 1) * scale) - 1) < 0.12  # per coordinate
    assert np.abs(noise.mean(axis=0)).max() < 4 * math.sqrt(dim + 1) * scale / math.sqrt(len(noise))


def test_objective_perturbation_draws_the_calibrated_noise_and_adds_regularisation_when_needed() -> None:
    rng = np.random.default_rng(1)
    n, d = 2000, 3
    X = rng.normal(size=(n, d))
    y = (X[:, 1] > 0).astype(int)
    norms = [np.linalg.norm(DPLogisticRegression(epsilon=1.0, alpha=1e-2, random_state=s).fit(X, y).noise_)
             for s in range(120)]
    ratio = 0.25 / (n * 1e-2)
    eps_noise = 1.0 - math.log(1 + 2 * ratio + ratio**2)

    assert abs(np.mean(norms) / ((d + 1) * 2 / eps_noise) - 1) < 0.1
    # at epsilon 0.01 the objective needs extra regularisation and spends half the budget on the noise
    tight = [np.linalg.norm(DPLogisticRegression(epsilon=0.01, alpha=1e-2, random_state=s).fit(X, y).noise_)
             for s in range(60)]
    assert abs(np.mean(tight) / ((d + 1) * 2 / 0.005) - 1) < 0.15


def test_multiclass_is_one_vs_rest_and_scikit_learn_shaped() -> None:
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = DPLogisticRegression(epsilon=30.0, alpha=1e-3, random_state=0).fit(X, y)
    proba = model.predict_proba(X)

    assert model.classes_.tolist() == [0, 1, 2] and model.coef_.shape == (3, X.shape[1])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.score(X, y) > 0.85
    assert (model.epsilon_, model.delta_) == (30.0, 0.0)
    assert model.get_params()["epsilon"] == 30.0


def _regression_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, 50 + X @ np.array([8.0, -5.0, 3.0, 0.0, 1.0]) + rng.normal(scale=3.0, size=n)


def test_dp_linear_regression_is_close_to_ridge_at_epsilon_1_and_degrades_at_0_01() -> None:
    X, y = _regression_data(20000, 0)
    X_test, y_test = _regression_data(5000, 1)
    ridge = Ridge(alpha=1.0).fit(X, y).score(X_test, y_test)
    private = [DPLinearRegression(epsilon=1.0, alpha=1e-4, random_state=s).fit(X, y) for s in SEEDS]
    poor = [DPLinearRegression(epsilon=0.01, alpha=1e-4, random_state=s).fit(X, y).score(X_test, y_test)
            for s in SEEDS]

    assert ridge > 0.9
    assert np.mean([m.score(X_test, y_test) for m in private]) > ridge - 0.05
    assert np.mean(poor) < ridge - 0.1
    assert private[0].delta_ == 1e-5 and private[0].epsilon_ == 1.0
    for model in private:  # found privately: the quartiles (43, 57) widened by twice their distance: ~15, ~85
        lo, hi = model.bounds_y_
        assert 0 < lo < 30 and 70 < hi < 110, model.bounds_y_
    assert not np.allclose(private[0].coef_, private[1].coef_)


def test_analytic_gaussian_sigma_meets_delta_and_beats_the_classic_bound() -> None:
    from scipy.stats import norm

    for epsilon, delta in [(0.5, 1e-5), (1.0, 1e-6), (4.0, 1e-5)]:
        sigma = analytic_gaussian_sigma(1.0, epsilon, delta)
        a, b = 1 / (2 * sigma), epsilon * sigma
        leak = norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b)
        assert leak <= delta * (1 + 1e-6) and leak > 0.9 * delta
        if epsilon < 1:
            assert sigma < math.sqrt(2 * math.log(1.25 / delta)) / epsilon


@pytest.mark.parametrize(("make", "message"), [
    (lambda: DPLogisticRegression(epsilon=0), r"'epsilon' parameter of DPLogisticRegression must be .* > 0"),
    (lambda: DPLogisticRegression(alpha=-1), r"'alpha' parameter .* > 0"),
    (lambda: DPLogisticRegression(mechanism="laplace"), r"'mechanism' .* 'objective' or 'output'"),
    (lambda: DPLinearRegression(delta=0), r"'delta' parameter of DPLinearRegression must be in \(0, 1\)"),
    (lambda: DPLinearRegression(bounds_y=(5, 1)), r"'bounds_y' .* lower < upper"),
])
def test_bad_parameters_get_clear_errors(make: Any, message: str) -> None:
    X, y = _regression_data(50, 0)
    target = y if isinstance(make(), DPLinearRegression) else (y > 50).astype(int)
    with pytest.raises(ValueError, match=message):
        make().fit(X, target)


def _dp_pipeline(epsilon: float, X: np.ndarray, y: np.ndarray) -> Pipeline:
    return Pipeline([("model", DPLogisticRegression(epsilon=epsilon, random_state=0))]).fit(X, y)


def test_privacy_budget_looks_through_pipelines_and_ensembles() -> None:
    X, y = _regression_data(300, 0)
    labels = (y > 50).astype(int)
    first, second = _dp_pipeline(0.5, X, labels), _dp_pipeline(1.5, X, labels)
    plain = Pipeline([("model", LogisticRegression())]).fit(X, labels)

    assert privacy_budget(first) == (0.5, 0.0)
    assert privacy_budget(WeightedEnsemble([(first, 0.5), (second, 0.5)], TaskKind.BINARY)) == (2.0, 0.0)
    assert privacy_budget(WeightedEnsemble([(first, 0.5), (first, 0.5)], TaskKind.BINARY)) == (0.5, 0.0)
    assert privacy_budget(WeightedEnsemble([(first, 0.5), (plain, 0.5)], TaskKind.BINARY)) is None
    assert privacy_budget(plain) is None
    assert privacy_budget(DPLinearRegression(random_state=0).fit(X, y)) == (1.0, 1e-5)


def test_search_budget_counts_every_dp_fit_a_row_took_part_in() -> None:
    trials = [
        {"learner": "dp_linear", "params": {"alpha": 1e-3}, "status": "complete", "fold_scores": [0.8] * 5},
        {"learner": "dp_linear", "params": {"alpha": 1e-2, "epsilon": 0.5}, "status": "pruned", "fold_scores": [0.7]},
        {"learner": "lightgbm", "params": {}, "status": "complete", "fold_scores": [0.9] * 5},
    ]

    # 5 folds: a row is in 4 of the training folds -> 4 x 1.0; the pruned trial fitted once -> 0.5
    assert search_budget(trials, 5, regression=False) == (4.5, 0.0, 6)
    eps, delta, _ = search_budget(trials, 1, regression=True)
    assert eps == 1.5 and delta == pytest.approx(2e-5)


def test_the_dp_linear_learner_trains_in_a_search_and_its_budget_is_read_from_the_model() -> None:
    import pyarrow as pa
    from conftest import ACCURACY

    from aiforge.learn import LEARNERS, choose_features, resolve_task, select_and_fit
    from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec

    frame = pd.read_csv(ADULT, nrows=3000)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="income"), table, where="aiforge.yaml:2 (problem)")
    # no pruning: DP noise is fresh on every fit, so which trial a pruner would stop varies run to run
    spec = ModelSpec(learners=["dp_linear"], search=SearchSpec(strategy="random", cv=3, budget=Budget(trials=3),
                                                              pruner="none"),
                     ensemble=EnsembleSpec(enabled=False), seed=0, n_jobs=1)

    model, report = select_and_fit(frame.drop(columns="income"), frame["income"], task,
                                   choose_features(table, "income"), spec, ACCURACY)

    assert report.best == "dp_linear" and LEARNERS["dp_linear"].encoding == "onehot"
    assert type(model.pipeline.named_steps["model"]).__name__ == "DPLogisticRegression"
    assert privacy_budget(model) == (1.0, 0.0)
    assert (model.predict(frame.head(500)) == frame["income"].head(500)).mean() > 0.75
    eps, _, fits = search_budget(report.trials, report.cv_folds, regression=False)
    assert fits == 9 and eps == 6.0  # 3 trials x 3 folds, each row in 2 of every trial's training folds


@parametrize_with_checks([DPLogisticRegression(random_state=0),
                          DPLinearRegression(random_state=0, bounds_y=(-100, 100))])
def test_the_dp_estimators_pass_scikit_learns_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
