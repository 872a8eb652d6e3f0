"""The search engine on small synthetic tables: learner contracts, domains, strategies, budgets,
pruning, early stopping and cross-validation schemes, with real estimators."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY, NEG_RMSE

from aiforge.errors import DataError, SpecError
from aiforge.learn import (
    LEARNERS,
    Choice,
    FeatureSet,
    FloatRange,
    IntRange,
    Objective,
    SelectionReport,
    TabularModel,
    TrialRecord,
    choose_features,
    resolve_task,
    select_and_fit,
)
from aiforge.learn._learners import MAX_BOOSTING_ROUNDS, Fitted, Learner, Linear, by_priority
from aiforge.learn._search import REFIT_SHARE, SearchContext
from aiforge.learn._select import (
    RESERVE_FLOOR,
    RESERVE_MARGIN,
    _refit_estimate,
    ensemble_refit_fits,
    make_folds,
    refit_reserve,
)
from aiforge.learn._space import Domain
from aiforge.pipeline import load_project, preflight
from aiforge.spec import (
    Budget,
    EnsembleSpec,
    ModelSpec,
    ProblemSpec,
    SearchSpec,
    TaskKind,
    load_project_file,
    parse_project_text,
)

TASKS = (TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION)
ROWS = 400  # large enough that every learner's known-good configuration lies inside its space
DEADLINE_ERROR = "stopped: the time budget ran out"




def _objective(kind: TaskKind) -> Objective:
    return NEG_RMSE if kind is TaskKind.REGRESSION else ACCURACY


def _frame(kind: TaskKind, n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Two informative inputs, a category and three noise columns (which make some configurations bad)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    noise = {f"noise{i}": rng.normal(scale=3.0, size=n) for i in range(3)}
    signal = 2 * x1 + np.sin(3 * x2) + (colour == "red") * 1.5 + rng.normal(scale=0.5, size=n)
    if kind is TaskKind.BINARY:
        y: Any = np.where(signal > 0.5, "yes", "no")
    elif kind is TaskKind.MULTICLASS:
        y = np.select([signal < -0.5, signal < 1.5], ["low", "mid"], "high")
    else:
        y = 10 * signal + 3 * x2
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, **noise, "y": y})


def _select(kind: TaskKind, learners: list[str], search: SearchSpec, *, n_jobs: int = 1, seed: int = 3,
            frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, TabularModel, SelectionReport]:
    frame = _frame(kind) if frame is None else frame
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=kind, target="y"), table, where="aiforge.yaml:2 (problem)")
    features = choose_features(table, "y")
    # no ensemble: the model is the best trial refit, so these tests see the search alone
    spec = ModelSpec(learners=learners, search=search, ensemble=EnsembleSpec(enabled=False), seed=seed,
                     n_jobs=n_jobs)
    model, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, features, spec, _objective(kind))
    return frame, model, report


def _known_good(name: str, kind: TaskKind = TaskKind.BINARY) -> dict[str, Any]:
    """The known-good configuration as a search on these tables tries it: their classes are
    balanced, so resampling is not searched."""
    return {k: v for k, v in LEARNERS[name].init_config(ROWS, kind).items() if k != "resample"}


def _contains(domain: Domain, value: Any) -> bool:
    if isinstance(domain, IntRange):
        return isinstance(value, int) and domain.low <= value <= domain.high
    if isinstance(domain, FloatRange):
        return isinstance(value, int | float) and domain.low <= value <= domain.high
    assert isinstance(domain, Choice)
    return value in domain.values


def _outside(space: dict[str, Domain], params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that are not in the space or not inside their domain."""
    return {k: v for k, v in params.items() if k not in space or not _contains(space[k], v)}


# --- every available learner honours the learner contract ----------------------------------------

def _tabular(cls: Any) -> bool:
    """Whether the learner takes these tests' table columns (an image learner takes pixel columns only, a text
    learner needs text columns: tests/nlp/test_tfidf.py runs the tfidf learner's trials)."""
    if cls.reads_text:
        return False
    try:
        cls.input_params(["x1", "x2", "noise0", "noise1", "noise2", "colour"])
    except SpecError:
        return False
    return True


LEARNER_TASKS = [
    pytest.param(name, task, id=f"{name}-{task.value}")
    for name, cls in sorted(LEARNERS.items()) if cls.available()
    for task in TASKS if task in cls.tasks
]
TABULAR_LEARNER_TASKS = [case for case in LEARNER_TASKS if _tabular(LEARNERS[case.values[0]])]


def _space_cases() -> list[Any]:
    cases = []
    for case in LEARNER_TASKS:
        name, task = case.values
        for n_rows in (100, ROWS, 1_000_000):
            cases.append(pytest.param(name, task, n_rows, id=f"{case.id}-{n_rows}"))
    return cases


@pytest.mark.parametrize(("name", "task", "n_rows"), _space_cases())
def test_the_known_good_configuration_lies_inside_the_search_space(name: str, task: TaskKind, n_rows: int) -> None:
    learner = LEARNERS[name]
    space = learner.search_space(n_rows, task)
    init = learner.init_config(n_rows, task)

    assert set(init) <= set(space)
    assert _outside(space, init) == {}
    for param, domain in space.items():
        assert all(_contains(domain, v) for v in domain.grid(3)), param


def _context(kind: TaskKind, cv: int, *, threads: int = 2) -> SearchContext:
    frame = _frame(kind)
    y = frame.pop("y")
    encoded = y.to_numpy(dtype=float) if kind is TaskKind.REGRESSION else pd.factorize(y, sort=True)[0]
    features = FeatureSet(["x1", "x2", "noise0", "noise1", "noise2"], ["colour"])
    spec = ModelSpec(search=SearchSpec(cv=cv), seed=1)
    _, folds = make_folds(frame, encoded, kind, spec)
    objective = _objective(kind)
    return SearchContext(X=frame, y=encoded, task=kind, features=features, folds=folds, score=objective.fn,
                         higher_is_better=objective.higher_is_better, seed=1, threads_per_trial=threads)


@pytest.mark.parametrize(("name", "task"), TABULAR_LEARNER_TASKS)
def test_one_trial_completes_at_the_known_good_configuration_and_at_a_random_sample(name: str,
                                                                                   task: TaskKind) -> None:
    learner = LEARNERS[name]
    ctx = _context(task, cv=2)
    space = learner.search_space(ROWS, task)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11)).ask()
    sampled = {p: domain.suggest(trial, p) for p, domain in space.items()}
    assert _outside(space, sampled) == {}

    for number, params in enumerate([learner.init_config(ROWS, task), sampled]):
        record = ctx.evaluate(number, name, params, deadline=None)

        assert (record.status, record.error) == ("complete", None), params
        assert (record.number, record.learner, record.params) == (number, name, params)
        assert len(record.fold_scores) == 2 and all(math.isfinite(s) for s in record.fold_scores)
        assert record.score == pytest.approx(float(np.mean(record.fold_scores)))
        assert record.seconds > 0


# --- search-space domains ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "points", "expected"),
    [
        (IntRange(1, 1000, log=True), 4, [1, 10, 100, 1000]),
        (IntRange(0, 100), 5, [0, 25, 50, 75, 100]),
        (IntRange(1, 3), 10, [1, 2, 3]),
        (IntRange(2, 5, log=True), 10, [2, 3, 4, 5]),
        (IntRange(7, 7), 3, [7]),
        (IntRange(1, 100, log=True), 1, [10]),
        (FloatRange(1e-3, 1e3, log=True), 7, [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0]),
        (FloatRange(0.0, 1.0), 5, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (FloatRange(0.4, 1.0), 1, [0.7]),
        (Choice((None, "balanced")), 5, [None, "balanced"]),
        (Choice(("uniform",)), 1, ["uniform"]),
    ],
    ids=["int-log", "int-linear", "int-small-dedup", "int-log-dedup", "int-single", "int-log-midpoint",
         "float-log", "float-linear", "float-midpoint", "choice", "choice-single"],
)
def test_grid_values(domain: Domain, points: int, expected: list[Any]) -> None:
    assert domain.grid(points) == expected


def _all_domains() -> list[Any]:
    cases = []
    for case in LEARNER_TASKS:
        name, task = case.values
        for param, domain in LEARNERS[name].search_space(ROWS, task).items():
            cases.append(pytest.param(domain, id=f"{case.id}-{param}"))
    cases.append(pytest.param(FloatRange(0.1234, 0.98765, log=True), id="odd-bounds"))
    return cases


@pytest.mark.parametrize("domain", _all_domains())
@pytest.mark.parametrize("points", [1, 2, 3, 7])
def test_grid_values_lie_inside_their_domain_sorted_and_unique(domain: Domain, points: int) -> None:
    values = domain.grid(points)

    assert values and all(_contains(domain, v) for v in values), values
    assert len(values) == len({repr(v) for v in values})
    if not isinstance(domain, Choice):
        assert values == sorted(values) and len(values) <= points
        if points >= 2 and len(values) >= 2:
            assert (values[0], values[-1]) == pytest.approx((domain.low, domain.high), rel=1e-6)


def test_float_grid_end_points_stay_inside_bounds_with_seven_significant_digits() -> None:
    domain = FloatRange(1.0000004, 2.0)

    assert all(_contains(domain, v) for v in domain.grid(2))


@pytest.mark.parametrize("domain", [FloatRange(1e-4, 10.0, log=True), IntRange(4, 1024, log=True)],
                         ids=["float", "int"])
def test_a_log_grid_has_a_constant_ratio(domain: Domain) -> None:
    values = domain.grid(6)
    ratios = [b / a for a, b in zip(values, values[1:], strict=False)]

    assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=0.05)
    assert ratios[0] > 2


# --- strategies ----------------------------------------------------------------------------------


def test_defaults_tries_each_learners_known_good_configuration_once() -> None:
    learners = ["linear", "knn", "lightgbm"]
    _, model, report = _select(TaskKind.BINARY, learners, SearchSpec(strategy="defaults", cv=3))

    assert [(t.number, t.learner, t.params, t.status) for t in report.trials] == [
        (i, name, _known_good(name), "complete") for i, name in enumerate(by_priority(learners))
    ]
    assert [(c.learner, c.status, c.trials) for c in report.candidates] == [(n, "ok", 1) for n in learners]
    assert report.strategy == "defaults" and model.learner == report.best


def test_grid_tries_the_known_good_configurations_then_grid_points_round_robin() -> None:
    search = SearchSpec(strategy="grid", cv=3, grid_points=2, budget=Budget(trials=7))
    _, _, report = _select(TaskKind.BINARY, ["linear", "knn"], search)

    # knn's n_neighbors range on 400 rows is 3..20; two grid points are its ends
    assert [(t.learner, t.params) for t in report.trials] == [
        ("linear", {"C": 1.0, "class_weight": None}),
        ("knn", {"n_neighbors": 15, "weights": "distance"}),
        ("linear", {"C": 0.001, "class_weight": None}),
        ("knn", {"n_neighbors": 3, "weights": "uniform"}),
        ("linear", {"C": 0.001, "class_weight": "balanced"}),
        ("knn", {"n_neighbors": 3, "weights": "distance"}),
        ("linear", {"C": 100.0, "class_weight": None}),
    ]
    assert [t.number for t in report.trials] == list(range(7))


def test_grid_skips_a_grid_point_equal_to_the_known_good_configuration() -> None:
    _, _, report = _select(TaskKind.REGRESSION, ["linear"], SearchSpec(strategy="grid", cv=3, grid_points=3))

    assert [t.params for t in report.trials] == [{"alpha": 1.0}, {"alpha": 0.001}, {"alpha": 1000.0}]


def test_grid_without_a_budget_tries_the_known_good_configuration_and_every_point_once() -> None:
    _, _, report = _select(TaskKind.BINARY, ["knn"], SearchSpec(strategy="grid", cv=2, grid_points=2))

    assert [t.params for t in report.trials] == [
        {"n_neighbors": 15, "weights": "distance"},
        {"n_neighbors": 3, "weights": "uniform"}, {"n_neighbors": 3, "weights": "distance"},
        {"n_neighbors": 20, "weights": "uniform"}, {"n_neighbors": 20, "weights": "distance"},
    ]
    assert [t.status for t in report.trials] == ["complete"] * 5


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_a_trial_budget_records_exactly_that_many_trials_starting_from_the_known_good_ones(strategy: str) -> None:
    learners = ["linear", "knn", "lightgbm"]
    _, model, report = _select(TaskKind.BINARY, learners, SearchSpec(strategy=strategy, cv=3,
                                                                      budget=Budget(trials=8)))

    assert [t.number for t in report.trials] == list(range(8))
    assert [(t.learner, t.params) for t in report.trials[:3]] == [
        (name, _known_good(name)) for name in by_priority(learners)
    ]
    for t in report.trials:
        assert t.status in ("complete", "pruned"), t.error
        assert _outside(LEARNERS[t.learner].search_space(ROWS, TaskKind.BINARY), t.params) == {}
    assert sum(c.trials for c in report.candidates) == 8
    assert report.strategy == strategy and model.learner == report.best


def _signature(report: SelectionReport) -> list[tuple[Any, ...]]:
    return [(t.number, t.learner, t.params, t.status, t.fold_scores, t.score, t.rounds) for t in report.trials]


def test_bayesian_search_on_one_core_is_reproducible() -> None:
    search = SearchSpec(strategy="bayesian", cv=3, budget=Budget(trials=8))
    frame, first, first_report = _select(TaskKind.MULTICLASS, ["linear", "knn", "lightgbm"], search)
    _, again, again_report = _select(TaskKind.MULTICLASS, ["linear", "knn", "lightgbm"], search)

    assert _signature(first_report) == _signature(again_report)
    assert (first_report.best, first_report.best_params) == (again_report.best, again_report.best_params)
    np.testing.assert_array_equal(first.predict_proba(frame), again.predict_proba(frame))


def test_bayesian_search_on_two_cores_completes_its_trial_budget() -> None:
    search = SearchSpec(strategy="bayesian", cv=3, budget=Budget(trials=8))
    frame, model, report = _select(TaskKind.BINARY, ["linear", "knn", "lightgbm"], search, n_jobs=2)

    assert sorted(t.number for t in report.trials) == list(range(8))
    assert any(t.status == "complete" for t in report.trials)
    assert set(model.predict(frame)) <= {"yes", "no"}


# --- time budget ---------------------------------------------------------------------------------


class _Slow(Linear):
    """The linear learner, but each fit takes a while: a trial that the deadline cuts."""

    name = "slow"
    pause = 0.6  # seconds per fit

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        time.sleep(self.pause)
        return super().fit(estimator, X, y, categorical, eval_set, deadline)


class _Slower(_Slow):
    """Slow enough that a loaded machine (CI runs two test processes on two cores) still finishes the linear
    trial and one of this learner's folds within the budget, and never all five."""

    pause = 2.5


def test_a_time_budget_stops_a_search_of_many_learners_and_still_returns_a_model() -> None:
    learners = [name for name, cls in LEARNERS.items() if cls.available() and _tabular(cls)]
    search = SearchSpec(strategy="random", cv=3, pruner="none", budget=Budget(seconds=2))
    frame = _frame(TaskKind.BINARY, n=3000)

    started = time.perf_counter()
    _, model, report = _select(TaskKind.BINARY, learners, search, frame=frame)
    elapsed = time.perf_counter() - started

    assert elapsed < 2 + 15
    assert report.search_seconds < 2 + 15
    assert set(model.predict(frame)) <= {"yes", "no"}
    assert any(t.status == "complete" for t in report.trials)
    for t in report.trials:
        assert t.status in ("complete", "pruned"), t.error
        if t.status == "pruned":  # with pruner none, only the deadline cuts a trial
            assert t.error == DEADLINE_ERROR and len(t.fold_scores) < 3


@pytest.mark.parametrize("strategy", ["defaults", "random"])
def test_a_trial_running_at_the_deadline_is_pruned_and_later_learners_are_skipped(
        strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "slow", _Slower)
    search = SearchSpec(strategy=strategy, cv=5, pruner="none", budget=Budget(seconds=8))
    _, model, report = _select(TaskKind.BINARY, ["linear", "slow", "knn"], search)

    assert [(t.learner, t.status) for t in report.trials] == [("linear", "complete"), ("slow", "pruned")]
    cut = report.trials[1]
    assert cut.error == DEADLINE_ERROR and 1 <= len(cut.fold_scores) < 5 and cut.score is None
    assert [(c.learner, c.status, c.error) for c in report.candidates] == [
        ("linear", "ok", None), ("slow", "skipped", DEADLINE_ERROR),
        ("knn", "skipped", "budget spent before it was tried"),
    ]
    assert model.learner == "linear"


def test_a_time_budget_shorter_than_the_first_trial_still_returns_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "slow", _Slow)
    search = SearchSpec(strategy="defaults", cv=3, budget=Budget(seconds=0.3))
    _, model, report = _select(TaskKind.BINARY, ["slow", "linear"], search)

    assert model.learner in ("slow", "linear")
    assert any(t.status == "complete" for t in report.trials)


# --- pruning -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pruner", ["median", "successive_halving"])
def test_a_pruner_stops_unpromising_trials_after_their_first_folds(pruner: str) -> None:
    search = SearchSpec(strategy="bayesian", cv=3, pruner=pruner, budget=Budget(trials=15))
    _, _, report = _select(TaskKind.BINARY, ["linear", "knn"], search)

    pruned = [t for t in report.trials if t.status == "pruned"]
    assert len(report.trials) == 15
    assert pruned, [t.fold_scores for t in report.trials]
    for t in pruned:
        assert 1 <= len(t.fold_scores) < 3 and t.score is None
        assert t.error == "pruned: worse than other trials after the same folds"
    assert all(len(t.fold_scores) == 3 for t in report.trials if t.status == "complete")


def test_pruner_none_prunes_nothing_without_a_deadline() -> None:
    search = SearchSpec(strategy="bayesian", cv=3, pruner="none", budget=Budget(trials=15))
    _, _, report = _select(TaskKind.BINARY, ["linear", "knn"], search)

    assert [t.status for t in report.trials] == ["complete"] * 15


# --- early stopping ------------------------------------------------------------------------------


def test_lightgbm_stops_early_and_the_refit_uses_the_rounds_it_chose() -> None:
    _, model, report = _select(TaskKind.BINARY, ["lightgbm"], SearchSpec(cv=3))

    [trial] = report.trials
    assert isinstance(trial.rounds, int) and 1 <= trial.rounds < MAX_BOOSTING_ROUNDS
    expected = int(trial.rounds * (1 + 1 / 3))
    assert model.pipeline.named_steps["model"].n_estimators == expected
    assert report.best_params == {**trial.params, "n_estimators": expected}


def test_a_learner_without_early_stopping_records_no_rounds() -> None:
    _, model, report = _select(TaskKind.REGRESSION, ["linear"], SearchSpec(cv=3))

    assert report.trials[0].rounds is None
    assert "n_estimators" not in report.best_params


# --- cross-validation schemes --------------------------------------------------------------------


def _folds(kind: TaskKind, X: pd.DataFrame, y: np.ndarray, **search: Any) -> tuple[str, list[Any]]:
    return make_folds(X, y, kind, ModelSpec(search=SearchSpec(**search), seed=4))


def _assert_partition(folds: list[Any], n: int) -> None:
    """Every row is validated exactly once, never in its own fold's training rows."""
    valid = np.concatenate([va for _, va in folds])
    assert sorted(valid.tolist()) == list(range(n))
    for train, va in folds:
        assert not set(train.tolist()) & set(va.tolist())


def test_group_folds_never_split_a_group() -> None:
    rng = np.random.default_rng(2)
    customers = rng.choice([f"c{i:02d}" for i in range(40)], size=ROWS)
    X = pd.DataFrame({"customer": customers, "x": rng.normal(size=ROWS)})
    y = rng.integers(0, 2, ROWS)

    strategy, folds = _folds(TaskKind.BINARY, X, y, cv=4, cv_strategy="group", group_column="customer")

    assert strategy == "group" and len(folds) == 4
    _assert_partition(folds, ROWS)
    for train, valid in folds:
        assert not set(customers[train]) & set(customers[valid])


def test_time_series_folds_validate_on_later_rows() -> None:
    rng = np.random.default_rng(3)
    days = rng.permutation(ROWS)  # shuffled, one row per day
    X = pd.DataFrame({"day": days, "x": rng.normal(size=ROWS)})

    strategy, folds = _folds(TaskKind.REGRESSION, X, rng.normal(size=ROWS), cv=4, cv_strategy="time_series",
                             time_column="day")

    assert strategy == "time_series" and len(folds) == 4
    for train, valid in folds:
        assert days[train].max() < days[valid].min()
        assert len(set(train.tolist()) | set(valid.tolist())) == len(train) + len(valid)


def test_time_series_folds_keep_rows_of_one_time_together() -> None:
    rng = np.random.default_rng(0)
    days = rng.integers(0, 20, 200)  # ten rows a day
    X = pd.DataFrame({"day": days, "x": rng.normal(size=200)})

    _, folds = _folds(TaskKind.BINARY, X, rng.integers(0, 2, 200), cv=4, cv_strategy="time_series",
                      time_column="day")

    for train, valid in folds:
        assert days[train].max() < days[valid].min()


@pytest.mark.parametrize("cv_strategy", ["stratified", "auto"])
def test_stratified_folds_keep_class_proportions(cv_strategy: str) -> None:
    y = np.array([1] * 100 + [0] * 300)
    X = pd.DataFrame({"x": np.arange(ROWS)})

    strategy, folds = _folds(TaskKind.BINARY, X, y, cv=4, cv_strategy=cv_strategy)

    assert strategy == "stratified"
    _assert_partition(folds, ROWS)
    assert [int(y[valid].sum()) for _, valid in folds] == [25, 25, 25, 25]


def test_auto_folds_for_regression_are_plain_kfold() -> None:
    y = np.arange(ROWS, dtype=float)
    strategy, folds = _folds(TaskKind.REGRESSION, pd.DataFrame({"x": y}), y, cv=5)

    assert strategy == "kfold" and len(folds) == 5
    _assert_partition(folds, ROWS)


@pytest.mark.parametrize(
    ("kind", "search", "expected"),
    [
        (TaskKind.BINARY, {}, "stratified"),
        (TaskKind.REGRESSION, {}, "kfold"),
        (TaskKind.MULTICLASS, {"cv_strategy": "kfold"}, "kfold"),
        (TaskKind.BINARY, {"cv_strategy": "group", "group_column": "colour"}, "group"),
        (TaskKind.REGRESSION, {"cv_strategy": "time_series", "time_column": "x1"}, "time_series"),
    ],
    ids=["auto-classification", "auto-regression", "kfold", "group", "time-series"],
)
def test_select_and_fit_reports_the_cross_validation_it_used(kind: TaskKind, search: dict[str, Any],
                                                             expected: str) -> None:
    _, _, report = _select(kind, ["linear"], SearchSpec(cv=3, **search))

    assert (report.cv_strategy, report.cv_folds) == (expected, 3)
    assert len(report.trials[0].fold_scores) == 3


def _write_churn_project(folder: Path, search: str, *, task: str = "binary", target: str = "churn") -> Path:
    """A small project whose rows belong to 30 customers."""
    rng = np.random.default_rng(5)
    n = 300
    customer = rng.choice([f"cust{i:02d}" for i in range(30)], size=n)
    spend = rng.normal(50, 20, size=n)
    frame = pd.DataFrame({
        "customer": customer, "spend": spend.round(2), "plan": rng.choice(["basic", "pro"], size=n),
        "churn": np.where(spend + rng.normal(0, 10, size=n) < 45, "yes", "no"),
    })
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "customers.csv", index=False)
    path = folder / "aiforge.yaml"
    path.write_text(
        f"""name: churn
problem:
  task: {task}
  target: {target}
data:
  sources:
    - {{name: customers, type: csv, path: customers.csv}}
model:
  learners: [linear]
  search:
    cv: 3
{search}
""",
        encoding="utf-8",
    )
    return path


def test_a_group_column_is_not_a_feature_and_groups_the_folds(tmp_path: Path) -> None:
    path = _write_churn_project(tmp_path / "churn", "    cv_strategy: group\n    group_column: customer")
    pf = preflight(load_project(path))

    assert "customer" not in pf.features.columns
    assert pf.features.ignored["customer"] == "it holds the cross-validation groups"
    assert pf.features.columns == ["spend", "plan"]

    frame = pf.table.to_pandas()
    model, report = select_and_fit(frame, frame["churn"], pf.task, pf.features, pf.project.spec.model,
                                   pf.objective.objective())
    assert report.cv_strategy == "group"
    assert "customer" not in report.features["numeric"] + report.features["categorical"]
    assert model.features.columns == ["spend", "plan"]


@pytest.mark.parametrize(
    ("strategy", "message"),
    [("group", r"cv_strategy: group needs group_column"), ("time_series", r"cv_strategy: time_series needs "
                                                                          r"time_column")],
)
def test_a_cv_strategy_without_its_column_is_a_spec_error(strategy: str, message: str) -> None:
    text = f"""name: churn
problem: {{task: binary, target: churn}}
data:
  sources: [{{name: c, type: csv, path: c.csv}}]
model:
  search: {{cv: 3, cv_strategy: {strategy}}}
"""
    with pytest.raises(SpecError, match=message) as info:
        parse_project_text(text, Path("proj") / "aiforge.yaml")

    assert "aiforge.yaml:6" in (info.value.where or "")


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


@pytest.mark.parametrize(
    ("search", "field", "message"),
    [
        ("    cv_strategy: group\n    group_column: account", "group_column",
         r"group_column 'account' is not a column of the data"),
        ("    cv_strategy: time_series\n    time_column: signup", "time_column",
         r"time_column 'signup' is not a column of the data"),
    ],
    ids=["group", "time"],
)
def test_a_cv_column_missing_from_the_data_is_a_data_error_at_its_line(tmp_path: Path, search: str, field: str,
                                                                       message: str) -> None:
    path = _write_churn_project(tmp_path / "churn", search)

    with pytest.raises(DataError, match=message) as info:
        preflight(load_project(path))

    assert info.value.where == f"{path}:{_line_of(path, field + ':')} (model.search.{field})"
    assert "customer" in (info.value.expected or "")


def test_stratified_folds_on_a_regression_task_are_a_data_error(tmp_path: Path) -> None:
    path = _write_churn_project(tmp_path / "churn", "    cv_strategy: stratified", task="regression",
                                target="spend")

    with pytest.raises(DataError, match="cv_strategy: stratified needs a classification task") as info:
        preflight(load_project(path))

    assert info.value.where == f"{path}:{_line_of(path, 'cv_strategy:')} (model.search.cv_strategy)"
    assert info.value.hint == "use cv_strategy: kfold or auto"


# --- optional learners ---------------------------------------------------------------------------


class _NeedsAbsentPackage(Linear):
    """A learner whose optional package is not installed (xgboost is, in the test environment)."""

    name = "xgboost"
    requires = "aiforge_no_such_package"
    extra = "xgboost"


def test_an_optional_learner_whose_package_is_missing_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "xgboost", _NeedsAbsentPackage)
    path = _write_churn_project(tmp_path / "churn", "")
    path.write_text(path.read_text(encoding="utf-8").replace("[linear]", "[linear, xgboost]"), encoding="utf-8")
    assert load_project_file(path).spec.model.learners == ["linear", "xgboost"]

    with pytest.raises(SpecError, match="learner 'xgboost' needs the optional package 'aiforge_no_such_pa") as info:
        load_project(path)

    assert "pip install 'aiforge[xgboost]'" in (info.value.hint or "")
    assert info.value.where == f"{path}:{_line_of(path, 'learners:')} (model.learners[1])"


def test_xgboost_is_installed_for_the_tests_so_its_contract_runs() -> None:
    assert LEARNERS["xgboost"].available()
    assert issubclass(LEARNERS["xgboost"], Learner)


# --- the report ----------------------------------------------------------------------------------


def test_the_selection_report_round_trips_through_json_with_its_trials() -> None:
    search = SearchSpec(strategy="bayesian", cv=3, budget=Budget(trials=6))
    _, _, report = _select(TaskKind.BINARY, ["linear", "knn", "lightgbm"], search)

    data = json.loads(json.dumps(report.to_json()))
    again = SelectionReport.from_json(data)

    assert again == report
    assert len(again.trials) == 6 and all(isinstance(t, TrialRecord) for t in again.trials)
    assert data["trials"][0]["params"] == _known_good("lightgbm")
    assert data["strategy"] == "bayesian"


def test_known_good_configurations_run_cheap_and_strong_learners_first() -> None:
    # under a tight budget on a large table, boosting must have run once before slow learners
    assert by_priority(["knn", "random_forest", "linear", "extra_trees", "hist_gradient_boosting", "lightgbm"]) == [
        "lightgbm", "hist_gradient_boosting", "linear", "extra_trees", "random_forest", "knn"]



@pytest.mark.parametrize(
    ("needed", "left", "single", "fits"),
    [(10.0, 20.0, 2.0, True), (30.0, 20.0, 2.0, False), (3.0, -5.0, 4.0, True), (5.0, -5.0, 4.0, False)],
)
def test_an_ensemble_is_refit_only_when_its_members_fit_the_time_left(
    needed: float, left: float, single: float, fits: bool
) -> None:
    assert ensemble_refit_fits(needed, left, single) is fits


def test_the_reserve_kept_for_the_refits_follows_the_best_trials_between_a_floor_and_a_cap() -> None:
    def trial(number: int, score: float, seconds: float, status: str = "complete") -> TrialRecord:
        return TrialRecord(number, "linear", {}, status, [score] * 3, score if status == "complete" else None,
                           seconds=seconds)

    # lower is better (an error); 2 refits; ensembles of at most 2 members from the 3 best trials
    reserve = refit_reserve(100.0, 2, 3, 2, 3, lambda v: -v)
    cap = REFIT_SHARE * 2 * 100.0
    assert reserve([]) == cap  # nothing known yet: the fixed share
    assert reserve([trial(0, 1.0, 60.0, "pruned")]) == cap
    assert reserve([trial(0, 1.0, 0.3)]) == RESERVE_FLOOR * 100.0  # a fast winner: the floor
    # the two slowest of the three best (lowest) trials count, not the fast one nor the slow fourth, the worst:
    # 3 s per fold -> a 4.5 s refit
    trials = [trial(0, 0.5, 9.0), trial(1, 0.4, 0.3), trial(2, 0.45, 9.0), trial(3, 0.9, 300.0)]
    assert reserve(trials) == pytest.approx(RESERVE_MARGIN * 2 * (4.5 + 4.5))
    assert reserve([trial(0, 0.5, 300.0)]) == cap  # never more than the fixed share
    alone = refit_reserve(100.0, 1, 3, 1, 3, lambda v: -v)  # no ensemble: the best trial's refit
    assert alone(trials) == pytest.approx(max(RESERVE_FLOOR * 100.0, RESERVE_MARGIN * 0.15))
    assert refit_reserve(None, 1, 3, 1, 3, lambda v: v)([trial(0, 0.5, 9.0)]) == 0.0  # no time budget


def test_a_search_of_fast_trials_uses_the_budget_a_fixed_refit_share_would_leave() -> None:
    search = SearchSpec(strategy="random", cv=3, pruner="none", budget=Budget(seconds=6))
    _, _, report = _select(TaskKind.BINARY, ["linear"], search)

    # linear trials on 400 rows take milliseconds: the reserve is the floor, not REFIT_SHARE of the budget
    assert report.search_seconds > 6 * (1 - REFIT_SHARE / 2 - RESERVE_FLOOR)
    assert report.search_seconds < 6 + 5


def test_the_refit_estimate_scales_a_trials_time_per_fold_to_the_whole_split() -> None:
    trial = TrialRecord(0, "linear", {}, "complete", [0.9, 0.9, 0.9], 0.9, seconds=6.0)
    assert _refit_estimate(trial, 3) == pytest.approx(2.0 * 3 / 2)  # a fold trained on 2/3 of the rows
    holdout = TrialRecord(0, "linear", {}, "complete", [0.9], 0.9, seconds=2.0)
    assert _refit_estimate(holdout, 1) == pytest.approx(2.0 / 0.8)
