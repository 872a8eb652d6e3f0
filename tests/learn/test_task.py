"""Task detection, feature choice, and cross-validated selection on small synthetic tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY, NEG_RMSE

from aiforge.errors import DataError
from aiforge.learn import (
    LEARNERS,
    FeatureSet,
    Learner,
    SelectionReport,
    TabularModel,
    TaskInfo,
    TrainingFailed,
    choose_features,
    resolve_task,
    select_and_fit,
)
from aiforge.spec import Budget, ModelSpec, ProblemSpec, SearchSpec, TaskKind

WHERE = "aiforge.yaml:2 (problem)"


def _task(values: list[Any], *, task: str = "auto", positive: Any = None, type_: pa.DataType | None = None,
          target: str = "y") -> TaskInfo:
    table = pa.table({"x": list(range(len(values))), "y": pa.array(values, type_)})
    problem = ProblemSpec(task=TaskKind(task), target=target, positive_class=positive)
    return resolve_task(problem, table, where=WHERE)


# --- task detection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind", "classes"),
    [
        (["no", "yes", "no", "no"], TaskKind.BINARY, ["no", "yes"]),
        (["b", "a", "c", "a"], TaskKind.MULTICLASS, ["a", "b", "c"]),
        ([0, 1, 1, 0], TaskKind.BINARY, [0, 1]),
        ([3, 1, 2, 5, 4, 1], TaskKind.MULTICLASS, [1, 2, 3, 4, 5]),
        ([1.0, 2.0, 3.0, 2.0], TaskKind.MULTICLASS, [1.0, 2.0, 3.0]),
        ([0.5, 1.25, 3.75, 2.5], TaskKind.REGRESSION, []),
        (list(range(21)), TaskKind.REGRESSION, []),
        ([True, False, True], TaskKind.BINARY, [False, True]),
    ],
    ids=["text-2", "text-3", "int-0-1", "int-5", "integral-floats", "floats", "int-21", "bool"],
)
def test_auto_detection(values: list[Any], kind: TaskKind, classes: list[Any]) -> None:
    info = _task(values)

    assert info.kind is kind
    assert info.classes == classes
    assert "'y'" in info.reason
    assert info.dropped_rows == 0


def test_twenty_integer_classes_are_still_multiclass_and_the_reason_says_how_to_change_it() -> None:
    info = _task(list(range(20)))

    assert info.kind is TaskKind.MULTICLASS
    assert "set task: regression" in info.reason


def test_an_explicit_task_is_kept_and_explained() -> None:
    info = _task([1, 2, 3, 2, 1], task="regression")

    assert info.kind is TaskKind.REGRESSION
    assert info.reason == "task: regression set in the project file"


@pytest.mark.parametrize(
    ("values", "positive", "classes"),
    [
        (["<=50K", ">50K", "<=50K"], ">50K", ["<=50K", ">50K"]),
        (["<=50K", ">50K", "<=50K"], "<=50K", [">50K", "<=50K"]),
        (["yes", "no", "no"], None, ["no", "yes"]),
        (["Yes", "No", "No"], None, ["No", "Yes"]),
        (["a", "yes"], None, ["a", "yes"]),
        ([1, 0, 0], None, [0, 1]),
        ([1, 0, 0], "0", [1, 0]),
        ([1, 0, 0], 0, [1, 0]),
        (["cat", "dog", "cat"], None, ["cat", "dog"]),
        (["true", "false"], None, ["false", "true"]),
    ],
    ids=["given", "given-first", "yes", "Yes", "yes-sorts-last", "int-1", "int-as-text", "int", "no-hint",
         "true"],
)
def test_the_positive_class_is_the_second_class(values: list[Any], positive: Any, classes: list[Any]) -> None:
    info = _task(values, task="binary", positive=positive)

    assert info.kind is TaskKind.BINARY
    assert info.classes == classes
    assert info.positive_class == classes[1]
    assert repr(classes[1]) in info.reason


def test_a_positive_word_is_found_even_when_it_sorts_first() -> None:
    assert _task(["yes", "zebra"], task="binary").positive_class == "yes"


@pytest.mark.parametrize(
    ("values", "kind"), [([0.5, 1.7, 2.2, 3.9], "regression"), (["a", "b", "c", "a"], "multiclass")]
)
def test_a_positive_class_on_an_auto_task_that_is_not_binary_is_an_error(values: list[Any], kind: str) -> None:
    with pytest.raises(DataError, match=rf"positive_class is set, but .* makes this a {kind} task"):
        _task(values, positive="zzz")


def test_a_wrong_positive_class_lists_the_labels() -> None:
    with pytest.raises(DataError, match=r"positive_class '>50k' is not a label of target 'y'") as info:
        _task(["<=50K", ">50K"], positive=">50k")

    assert info.value.expected == "one of ['<=50K', '>50K']"
    assert info.value.where == WHERE


@pytest.mark.parametrize(
    ("values", "task", "type_", "message"),
    [
        (["a", "b", "c"], "binary", None, r"task is binary, but target 'y' has 3 classes"),
        (["a", "b", "c"], "regression", None, r"regression needs a numeric target, but 'y' holds string"),
        (["same", "same", "same"], "auto", None, r"target column 'y' has a single class, nothing to learn"),
        ([7, 7, 7], "multiclass", None, r"single class"),
        ([None, None], "auto", pa.string(), r"target column 'y' has no values"),
        ([float("nan"), None], "auto", None, r"target column 'y' has no values"),
    ],
    ids=["binary-3", "regression-text", "single-class", "single-int", "all-null", "all-nan"],
)
def test_targets_that_do_not_fit_the_task(values: list[Any], task: str, type_: pa.DataType | None,
                                         message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        _task(values, task=task, type_=type_)
    assert info.value.where == WHERE


def test_a_missing_target_column_suggests_the_closest_name() -> None:
    table = pa.table({"age": [1, 2], "income": ["a", "b"]})

    with pytest.raises(DataError, match="target column 'incme' is not in the data") as info:
        resolve_task(ProblemSpec(target="incme"), table, where=WHERE)

    assert info.value.hint == "did you mean 'income'?"
    assert info.value.expected == "one of the columns: age, income"


def test_a_missing_target_column_without_a_close_name() -> None:
    with pytest.raises(DataError, match="is not in the data") as info:
        resolve_task(ProblemSpec(target="zzz"), pa.table({"age": [1]}), where=WHERE)

    assert info.value.hint == "set problem.target to an existing column"


def test_missing_targets_are_counted_as_dropped_rows() -> None:
    assert _task(["a", None, "b", "a", None]).dropped_rows == 2
    info = _task([1.5, float("nan"), None, 2.5, float("inf"), 0.25])
    assert (info.kind, info.dropped_rows) == (TaskKind.REGRESSION, 3)


def test_task_info_round_trips_as_json() -> None:
    info = _task(["no", "yes", None])

    assert TaskInfo.from_json(info.to_json()) == info
    assert info.to_json()["kind"] == "binary"


# --- feature choice ------------------------------------------------------------------------------


def test_choose_features_sorts_columns_by_kind_and_says_why_it_ignores_some() -> None:
    n = 60
    table = pa.table({
        "age": list(range(n)),
        "spend": [i / 3 for i in range(n)],
        "plan": ["basic", "pro", "team"] * (n // 3),
        "member": [i % 2 == 0 for i in range(n)],
        "customer_id": [f"c{i:04d}" for i in range(n)],
        "empty": pa.array([None] * n, pa.string()),
        "nothing": pa.array([None] * n),
        "signup": pa.array([datetime(2024, 1, 1)] * n, pa.timestamp("ms")),
        "tags": pa.array([[1]] * n, pa.list_(pa.int64())),
        "churn": ["yes", "no"] * (n // 2),
    })

    features = choose_features(table, "churn")

    assert features.numeric == ["age", "spend"]
    assert features.categorical == ["plan", "member"]
    assert set(features.ignored) == {"customer_id", "empty", "nothing", "signup", "tags"}
    assert "identifier" in features.ignored["customer_id"]
    assert features.ignored["empty"] == features.ignored["nothing"] == "every value is missing"
    assert "date/time" in features.ignored["signup"]
    assert "list<item: int64>" in features.ignored["tags"]
    assert features.columns == ["age", "spend", "plan", "member"]


def test_distinct_text_in_a_small_table_is_not_called_an_identifier() -> None:
    table = pa.table({"name": [f"n{i}" for i in range(10)], "y": [0, 1] * 5})

    assert choose_features(table, "y").categorical == ["name"]


# --- selection and fitting -----------------------------------------------------------------------




def _frame(kind: TaskKind, n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal = 2 * x1 + (colour == "red") * 1.5 + rng.normal(scale=0.3, size=n)
    if kind is TaskKind.BINARY:
        y: Any = np.where(signal > 0.5, "yes", "no")
    elif kind is TaskKind.MULTICLASS:
        y = np.select([signal < -0.5, signal < 1.5], ["low", "mid"], "high")
    else:
        y = 10 * signal + 3 * x2
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "y": y})


def _fit(kind: TaskKind, learners: list[str], *, seed: int = 5, budget: Budget | None = None,
         steps: list[str] | None = None) -> tuple[pd.DataFrame, TabularModel, SelectionReport]:
    frame = _frame(kind)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=kind, target="y"), table, where=WHERE)
    features = choose_features(table, "y")
    spec = ModelSpec(learners=learners, search=SearchSpec(cv=3, budget=budget or Budget()), seed=seed, n_jobs=1)
    objective = NEG_RMSE if kind is TaskKind.REGRESSION else ACCURACY
    model, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, features, spec, objective,
                                   on_step=steps.append if steps is not None else None)
    return frame, model, report


@pytest.mark.parametrize(
    ("kind", "labels"),
    [(TaskKind.BINARY, ["no", "yes"]), (TaskKind.MULTICLASS, ["high", "low", "mid"])],
)
def test_a_classifier_speaks_the_users_labels(kind: TaskKind, labels: list[str]) -> None:
    steps: list[str] = []
    frame, model, report = _fit(kind, ["linear", "hist_gradient_boosting"], steps=steps)

    assert isinstance(model, TabularModel)
    assert model.task is kind and model.target == "y"
    assert model.classes == labels if kind is TaskKind.MULTICLASS else model.classes == ["no", "yes"]
    predicted = model.predict(frame)
    assert set(predicted) <= set(labels)
    assert np.mean(predicted == frame["y"].to_numpy()) > 0.8
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [(c.learner, c.status) for c in report.candidates] == [("linear", "ok"),
                                                                   ("hist_gradient_boosting", "ok")]
    assert all(len(c.fold_scores) == 3 and c.mean is not None for c in report.candidates)
    assert report.best == model.learner
    assert report.best in ("linear", "hist_gradient_boosting")
    assert (report.objective, report.cv_folds, report.seed) == ("accuracy", 3, 5)
    assert report.features == {"numeric": ["x1", "x2"], "categorical": ["colour"], "ignored": {}, "text": []}
    assert f"refit {report.best} on the whole training split" in steps
    assert steps[0].startswith("trial 1: hist_gradient_boosting accuracy")  # boosting goes first


def test_a_binary_model_puts_the_positive_class_in_column_one() -> None:
    frame, model, _ = _fit(TaskKind.BINARY, ["linear"])

    proba = model.predict_proba(frame)
    np.testing.assert_array_equal(model.predict(frame), np.where(proba[:, 1] > 0.5, "yes", "no"))
    np.testing.assert_array_equal(model.encode_target(frame["y"]), (frame["y"] == "yes").astype(int))


def test_a_regressor_predicts_numbers_and_has_no_probabilities() -> None:
    frame, model, report = _fit(TaskKind.REGRESSION, ["linear", "hist_gradient_boosting"])

    predicted = model.predict(frame)
    assert predicted.dtype == float and predicted.shape == (len(frame),)
    assert NEG_RMSE.fn(frame["y"].to_numpy(), predicted) > -0.5 * frame["y"].std()
    assert model.classes == []
    with pytest.raises(TypeError, match="not defined for a regression model"):
        model.predict_proba(frame)
    assert [c.status for c in report.candidates] == ["ok", "ok"]


def test_a_trial_budget_skips_the_later_learners() -> None:
    _, model, report = _fit(TaskKind.BINARY, ["linear", "hist_gradient_boosting"], budget=Budget(trials=1))

    # the leaderboard keeps the project file's order; boosting's known-good config runs first
    assert [(c.learner, c.status) for c in report.candidates] == [("linear", "skipped"),
                                                                   ("hist_gradient_boosting", "ok")]
    assert report.candidates[0].error == "budget spent before it was tried"
    assert report.candidates[0].fold_scores == []
    assert [t.learner for t in report.trials] == ["hist_gradient_boosting"]
    assert model.learner == report.best == "hist_gradient_boosting"


class _Broken(Learner):
    name = "broken"

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        raise RuntimeError("this learner cannot be built")


def test_a_learner_that_fails_is_reported_and_the_others_still_compete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "broken", _Broken)
    _, model, report = _fit(TaskKind.BINARY, ["broken", "linear"])

    failed, ok = report.candidates
    assert (failed.learner, failed.status) == ("broken", "failed")
    assert failed.error == "RuntimeError: this learner cannot be built"
    assert (ok.learner, ok.status) == ("linear", "ok")
    assert sorted(t.status for t in report.trials) == ["complete", "failed"]
    assert model.learner == "linear"


def test_when_every_learner_fails_training_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LEARNERS, "broken", _Broken)
    with pytest.raises(TrainingFailed, match="no trial completed") as info:
        _fit(TaskKind.BINARY, ["broken"])
    assert "broken: RuntimeError" in (info.value.found or "")
    assert info.value.exit_code == 1


def test_the_same_seed_gives_the_same_model() -> None:
    frame, first, first_report = _fit(TaskKind.MULTICLASS, ["linear", "hist_gradient_boosting"], seed=9)
    _, again, again_report = _fit(TaskKind.MULTICLASS, ["linear", "hist_gradient_boosting"], seed=9)

    assert [c.fold_scores for c in first_report.candidates] == [c.fold_scores for c in again_report.candidates]
    assert first_report.best == again_report.best
    np.testing.assert_array_equal(first.predict_proba(frame), again.predict_proba(frame))
    assert SelectionReport.from_json(first_report.to_json()).candidates == first_report.candidates


def test_the_model_uses_only_its_feature_columns() -> None:
    frame, model, _ = _fit(TaskKind.BINARY, ["linear"])

    shuffled = frame[["colour", "y", "x2", "x1"]].assign(extra=1)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(frame))
    assert model.features == FeatureSet(["x1", "x2"], ["colour"], {})
