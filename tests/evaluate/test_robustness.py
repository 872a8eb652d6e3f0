"""Evasion robustness on real models: fragile models break and robust ones do not, HopSkipJump reaches the
analytic distance to a linear boundary, the attack keeps to its limits, and the check on Adult LightGBM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from aiforge.evaluate._checks import CHECK_METRICS, CheckContext, run_checks
from aiforge.evaluate._metrics import default_metric
from aiforge.evaluate._robustness import _Domain, _perturbation_search, _Queries, hop_skip_jump, robustness
from aiforge.learn import TabularModel
from aiforge.learn._encode import TabularEncoder
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import FeatureSet
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, TaskKind

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
CLASSES = ["<=50K", ">50K"]
ADULT_FEATURES = FeatureSet(
    ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"],
    ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"])


def _context(model: TabularModel, train: pd.DataFrame, test: pd.DataFrame, target: str = "y",
             **robustness: Any) -> CheckContext:
    checks = Checks.model_validate({"robustness": robustness})
    return CheckContext(model, train, test, target, model.task, default_metric(model.task), 0, checks)


def _model(estimator: Any, features: FeatureSet, train: pd.DataFrame, task: TaskKind = TaskKind.BINARY,
           target: str = "y", **encoder: Any) -> TabularModel:
    pipe = Pipeline([("prep", TabularEncoder(numeric=features.numeric, categorical=features.categorical,
                                             **encoder)), ("model", estimator)])
    y = train[target].to_numpy()
    pipe.fit(train[features.columns], y)
    classes = [] if task is TaskKind.REGRESSION else [0, 1]
    return TabularModel(pipe, task, classes, features, type(estimator).__name__, target)


def _numeric_frame(n: int, seed: int, **columns: Any) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: make(rng, n) for name, make in columns.items()})


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame, TabularModel]:
    frame = pd.read_csv(ADULT, nrows=6000)
    train, test = frame.iloc[:4500].reset_index(drop=True), frame.iloc[4500:].reset_index(drop=True)
    y = (train["income"] == ">50K").to_numpy(dtype=int)
    config = {**LEARNERS["lightgbm"].init_config(len(train), TaskKind.BINARY), "n_estimators": 150}
    pipe = _fit_pipeline("lightgbm", TaskKind.BINARY, ADULT_FEATURES, 0, 1, config, train, y)
    return train, test, TabularModel(pipe, TaskKind.BINARY, CLASSES, ADULT_FEATURES, "lightgbm", "income")


def test_the_check_on_adult_lightgbm_reports_bounded_figures_quickly(adult: Any) -> None:
    train, test, model = adult
    ctx = _context(model, train, test, "income")
    started = time.perf_counter()
    result = run_checks(ctx, ["robustness"])["robustness"]
    seconds = time.perf_counter() - started
    print(f"\nAdult LightGBM (150 trees), 200 rows: {result.metrics} in {seconds:.2f} s "
          f"(perturbation {result.details['perturbation']['seconds']} s, "
          f"hopskipjump {result.details['hopskipjump']['seconds']} s)")

    assert result.status == "ok", result.reason
    m = result.metrics
    assert set(m) == {"perturbation_success_rate", "accuracy_under_perturbation", "attack_success_rate",
                      "accuracy_under_attack"}
    assert all(name in CHECK_METRICS for name in m)
    accuracy = result.details["accuracy"]
    assert 0.8 < accuracy < 0.9
    assert m["accuracy_under_perturbation"] == pytest.approx(accuracy * (1 - m["perturbation_success_rate"]))
    # a real LightGBM on Adult: some rows break at 0.1 sd with one category changed, most do not
    assert 0.02 < m["perturbation_success_rate"] < 0.7
    assert 0.0 <= m["attack_success_rate"] < 0.5
    assert result.details["rows_attacked"] == 200
    assert seconds < 15  # ~2 s on one idle core; the machine running the tests is shared
    examples = result.details["examples"]
    assert examples and {"attack", "row", "column", "original", "adversarial", "decision"} <= set(examples[0])
    for row in examples:  # the rows are test rows, and what they show is what was changed
        original = test.loc[row["row"], row["column"]]
        assert original == row["original"] and row["adversarial"] != row["original"]
    moved = {r["column"] for r in result.details["columns_moved"]}
    assert moved <= set(ADULT_FEATURES.columns)


def test_the_perturbation_keeps_to_its_limits(adult: Any) -> None:
    train, test, model = adult
    domain = _Domain.learn(train, ADULT_FEATURES, 12)
    rows = test.iloc[:150].reset_index(drop=True)
    labels = model.encode_target(rows["income"])
    for flips in (0, 1, 2):
        queries = _Queries(model, domain, rows)
        found = _perturbation_search(queries, labels, 0.3, flips, 200, np.random.default_rng(1))
        changed = (found.codes >= 0).sum(axis=1)
        assert changed.max() <= flips
        assert found.success.any()
        assert found.queries.max() <= 200 + len(ADULT_FEATURES.columns)  # budget, then one undo per input
        x = queries.numeric
        assert np.all(np.abs(found.numeric - x) <= 0.3 * domain.sd + 1e-9)
        assert np.all((found.numeric >= np.minimum(domain.low, x)) & (found.numeric <= np.maximum(domain.high, x)))
        assert np.all(found.numeric == np.round(found.numeric))  # every Adult numeric input is an integer
        # a reported success is a real change of decision
        hit = np.flatnonzero(found.success)
        decided = queries.decisions(queries.output(queries.frame(hit, found.numeric[hit], found.codes[hit])))
        assert np.all(decided != labels[hit])
        for i in hit:  # the categorical values taken were seen in training
            for j in np.flatnonzero(found.codes[i] >= 0):
                assert domain.levels[j][found.codes[i, j]] in set(train[domain.categorical[j]])


def test_a_deep_tree_on_noise_is_fragile_and_a_wide_margin_model_is_not() -> None:
    gen = {"a": lambda r, n: r.normal(size=n), "b": lambda r, n: r.normal(size=n)}
    train, test = _numeric_frame(2000, 0, **gen), _numeric_frame(400, 1, **gen)
    train["y"] = np.random.default_rng(2).integers(0, 2, len(train))
    test["y"] = np.random.default_rng(3).integers(0, 2, len(test))
    features = FeatureSet(["a", "b"], [])
    tree = _model(DecisionTreeClassifier(random_state=0), features, train)
    fragile = robustness(_context(tree, train, test, epsilon=0.1, max_rows=100))

    # classes 3 sd apart along a: no change of 0.1 sd reaches the boundary
    def side(r: np.random.Generator, n: int) -> np.ndarray:
        return r.choice([-1.0, 1.0], n) * r.uniform(1.5, 3.0, n)

    wide_train, wide_test = _numeric_frame(2000, 4, a=side, b=gen["b"]), _numeric_frame(400, 5, a=side, b=gen["b"])
    wide_train["y"], wide_test["y"] = (wide_train.a > 0).astype(int), (wide_test.a > 0).astype(int)
    linear = _model(LogisticRegression(), features, wide_train, scale=True)
    robust = robustness(_context(linear, wide_train, wide_test, epsilon=0.1, max_rows=100))

    print(f"\nfragile tree: {fragile.metrics}\nwide-margin linear: {robust.metrics}")
    assert fragile.metrics["perturbation_success_rate"] > 0.5
    assert fragile.metrics["attack_success_rate"] > 0.3
    assert robust.metrics["perturbation_success_rate"] == 0.0
    assert robust.metrics["attack_success_rate"] == 0.0
    assert robust.metrics["accuracy_under_attack"] == pytest.approx(1.0)


def test_a_model_on_a_category_needs_as_many_flips_as_the_categories_it_reads() -> None:
    rng = np.random.default_rng(0)
    levels = np.array(["w", "x", "y", "z"], dtype=object)

    def frame(n: int) -> pd.DataFrame:
        f = pd.DataFrame({"noise": rng.normal(size=n), "a": rng.choice(levels, n), "b": rng.choice(levels, n)})
        f["y"] = ((f.a == "x") & (f.b == "y")).astype(int)
        return f

    train, test = frame(3000), frame(2000)
    test = test[(test.a != "x") & (test.b != "y")]  # class 0, two categories away from class 1
    model = _model(DecisionTreeClassifier(random_state=0), FeatureSet(["noise"], ["a", "b"]), train,
                   encoding="onehot")
    rates = {flips: robustness(_context(model, train, test, flips=flips, max_rows=50)).metrics
             for flips in (0, 1, 2)}

    assert rates[0]["perturbation_success_rate"] == rates[1]["perturbation_success_rate"] == 0.0
    assert rates[2]["perturbation_success_rate"] == 1.0
    assert rates[2]["attack_success_rate"] == 0.0  # HopSkipJump moves numeric inputs only


def test_hop_skip_jump_reaches_the_linf_distance_to_a_linear_boundary() -> None:
    rng = np.random.default_rng(0)
    n, d = 60, 4
    a, c = np.array([1.0, -2.0, 0.5, 3.0]), -1.0
    x0 = rng.normal(size=(n, d))
    x0 = x0[x0 @ a + c < 0][:40]
    true = np.abs(x0 @ a + c) / np.abs(a).sum()  # L-inf distance to a.x + c = 0: |a.x0 + c| / ||a||_1
    low, high = np.full_like(x0, -10.0), np.full_like(x0, 10.0)

    def is_adversarial(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.asarray(points @ a + c >= 0)

    start = np.full_like(x0, np.nan)
    while np.isnan(start).any():  # a random adversarial point in the box for every row
        guess = rng.uniform(-10, 10, size=x0.shape)
        fill = np.isnan(start).any(axis=1) & is_adversarial(guess, np.arange(len(x0)))
        start[fill] = guess[fill]
    begin = np.abs(start - x0).max(axis=1)
    found, dist, used = hop_skip_jump(is_adversarial, x0, start, low, high, np.ones_like(x0, dtype=bool),
                                      max_queries=1000, rng=rng)

    ratio = dist / true
    print(f"\nfound / true L-inf distance: median {np.median(ratio):.4f}, max {ratio.max():.4f}; start / true "
          f"median {np.median(begin / true):.1f}; queries <= {used.max()}")
    assert np.all(is_adversarial(found, np.arange(len(x0))))
    assert np.allclose(dist, np.abs(found - x0).max(axis=1))
    assert np.all(ratio >= 1 - 1e-9)  # nothing can beat the true distance
    assert np.median(ratio) < 1.05 and ratio.max() < 1.3
    assert used.max() <= 1000


def test_the_attack_success_rate_matches_the_share_of_rows_within_epsilon_of_a_linear_boundary() -> None:
    gen = {c: (lambda r, n: r.normal(size=n)) for c in ("a", "b", "c")}
    train, test = _numeric_frame(3000, 0, **gen), _numeric_frame(300, 1, **gen)
    for f in (train, test):
        f["y"] = (f.a - 0.5 * f.b + 0.25 * f.c + np.random.default_rng(2).normal(scale=0.3, size=len(f)) > 0)
        f["y"] = f["y"].astype(int)
    features = FeatureSet(["a", "b", "c"], [])
    model = _model(LogisticRegression(), features, train, scale=True)
    ctx = _context(model, train, test, epsilon=0.3, flips=0, max_rows=300)  # every correct row
    result = robustness(ctx)

    # the encoder standardises with the training mean and sd, as the attack does: the boundary in attack
    # units is coef . z + intercept = 0
    estimator = model.pipeline.named_steps["model"]
    correct = model.predict(test) == test["y"].to_numpy()
    distance = np.abs(model.pipeline.decision_function(test[features.columns])) / np.abs(estimator.coef_).sum()
    share = float(np.mean(distance[correct] <= 0.3))
    print(f"\nanalytic share within 0.3 sd: {share:.3f}; HopSkipJump {result.metrics['attack_success_rate']:.3f}; "
          f"perturbation {result.metrics['perturbation_success_rate']:.3f}")
    assert result.details["rows_attacked"] == correct.sum()
    # neither attack can break a row farther than epsilon from the boundary; both find most that are nearer
    assert share - 0.05 <= result.metrics["attack_success_rate"] <= share
    assert share - 0.05 <= result.metrics["perturbation_success_rate"] <= share


def test_regression_reports_how_far_a_bounded_perturbation_moves_the_prediction() -> None:
    gen = {"x": lambda r, n: r.normal(size=n), "other": lambda r, n: r.integers(0, 5, n)}
    train, test = _numeric_frame(1000, 0, **gen), _numeric_frame(300, 1, **gen)
    for f in (train, test):
        f["y"] = 3.0 * f.x
    model = _model(LinearRegression(), FeatureSet(["x", "other"], []), train, TaskKind.REGRESSION)
    result = robustness(_context(model, train, test, epsilon=0.2))

    # moving x by 0.2 of its sd moves y = 3x by 0.2 of its sd, the most any perturbation can
    assert result.status == "ok"
    assert result.metrics == {"perturbation_sensitivity": pytest.approx(0.2, rel=0.02)}
    assert "skipped" in result.details["hopskipjump"]


def test_a_multiclass_model_is_attacked_too() -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    iris = iris.sample(frac=1.0, random_state=0).reset_index(drop=True)
    features = FeatureSet([c for c in iris.columns if c != "target"], [])
    train, test = iris.iloc[:100], iris.iloc[100:]
    pipe = Pipeline([("prep", TabularEncoder(numeric=features.numeric, scale=True)),
                     ("model", LogisticRegression(max_iter=500))]).fit(train[features.columns], train["target"])
    model = TabularModel(pipe, TaskKind.MULTICLASS, [0, 1, 2], features, "linear", "target")
    result = robustness(_context(model, train, test, "target", epsilon=0.5))

    assert result.status == "ok"
    assert 0 < result.metrics["perturbation_success_rate"] < 1
    assert result.metrics["attack_success_rate"] <= result.metrics["perturbation_success_rate"] + 0.1


def test_a_split_without_the_model_inputs_is_a_clear_error(adult: Any) -> None:
    train, test, model = adult
    with pytest.raises(ValueError, match=r"the test split lacks column\(s\) \['age'\].*pass the splits"):
        robustness(_context(model, train, test.drop(columns=["age"]), "income"))
