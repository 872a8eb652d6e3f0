"""The serving fast path gives exactly the native output, for every learner and task, from plain columns
with missing values and unseen categories, and falls back to the native path where it cannot compile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from aiforge.learn import LEARNERS, TabularModel, choose_features
from aiforge.learn._compiled import compile_model
from aiforge.learn._ensemble import WeightedEnsemble
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import TaskKind


def _adult(rows: int = 1500) -> pd.DataFrame:
    frame = pd.read_csv(ADULT, nrows=rows)
    frame.loc[::7, "age"] = np.nan  # missing numbers
    frame.loc[::11, "occupation"] = None  # missing categories
    return frame


def _model(learner: str, task: TaskKind, frame: pd.DataFrame,
           overrides: dict[str, dict[str, Any]] | None = None, encoders: dict[Any, Any] | None = None) -> TabularModel:
    """``learner`` fitted on ``frame`` for ``task`` with its default configuration (``overrides`` per learner:
    smaller settings for faster tests; ``encoders``: shared between the members of an ensemble, as its refit
    shares them)."""
    target = {"regression": "hours_per_week", "multiclass": "relationship"}.get(task.value, "income")
    data = frame.drop(columns=[target])
    features = choose_features(pa.Table.from_pandas(data, preserve_index=False), "")
    classes = sorted(frame[target].astype(str).unique()) if task.is_classification else []
    y = (frame[target].to_numpy(dtype=float) if task is TaskKind.REGRESSION
         else np.array([classes.index(str(v)) for v in frame[target]]))
    params = {**LEARNERS[learner].init_config(len(frame), task), **(overrides or {}).get(learner, {})}
    pipeline = _fit_pipeline(learner, task, features, 0, 1, params, data, y, encoders)
    return TabularModel(pipeline, task, classes, features, learner, target)


def ensemble_of(task: TaskKind, frame: pd.DataFrame, members: list[tuple[str, dict[str, Any], float]]
                ) -> tuple[TabularModel, int]:
    """A weighted ensemble of (learner, its settings, weight) fitted on ``frame`` as an ensemble's refit fits
    them (one encoder per kind of encoding), and how many encoders it has."""
    encoders: dict[Any, Any] = {}
    fitted = [(_model(name, task, frame, {name: settings}, encoders), w) for name, settings, w in members]
    first = fitted[0][0]
    return TabularModel(WeightedEnsemble([(m.pipeline, w) for m, w in fitted], task), task, first.classes,
                        first.features, "ensemble", first.target), len(encoders)


LEARNER_NAMES = ["lightgbm", "linear", "random_forest", "hist_gradient_boosting", "knn", "xgboost"]


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION])
@pytest.mark.parametrize("learner", LEARNER_NAMES)
def test_the_fast_path_matches_the_native_output(learner: str, task: TaskKind) -> None:
    frame = _adult()
    model = _model(learner, task, frame)
    compiled = compile_model(model)
    scored = _adult(2000).iloc[1500:].copy()
    scored.loc[scored.index[:5], "workclass"] = "Never-seen-before"  # unseen categories

    assert not compiled.native
    assert compiled.parity(scored) <= 1e-9
    columns: dict[str, Any] = {c: scored[c].tolist() for c in model.input_columns}
    one = compiled.raw_output_columns({c: v[:1] for c, v in columns.items()}, 1)
    assert np.allclose(one, model.raw_output(scored.iloc[:1]), atol=1e-9)
    if learner == "lightgbm" and task is not TaskKind.REGRESSION:
        assert compiled.path == "lightgbm booster"
    assert np.allclose(compiled.raw_output(scored), model.raw_output(scored), atol=1e-9)  # from a DataFrame
    if task is TaskKind.REGRESSION:
        assert np.allclose(compiled.predict(scored), model.predict(scored), atol=1e-9)
    else:
        assert list(compiled.predict(scored)) == list(model.predict(scored))
        assert np.allclose(compiled.predict_proba(scored), model.predict_proba(scored), atol=1e-9)


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.REGRESSION])
def test_a_large_dataframe_is_predicted_in_chunks_with_the_native_answers(task: TaskKind) -> None:
    from aiforge.learn import whole_batches
    from aiforge.learn._model import PARALLEL_ROWS

    model = _model("lightgbm", task, _adult())
    compiled = compile_model(model)
    big = pd.concat([_adult(2000).iloc[1500:]] * 3, ignore_index=True)  # 1,500 rows: several chunks
    assert len(big) >= 4 * PARALLEL_ROWS

    expected = model.raw_output(big)
    assert np.allclose(compiled.raw_output(big), expected, atol=1e-9)
    with whole_batches():  # batch scoring's own pool: one chunk, whole
        assert np.allclose(compiled.raw_output(big), expected, atol=1e-9)
    model.threshold = 0.3  # the tuned decision threshold decides binary labels on this path too
    if task is TaskKind.BINARY:
        assert list(compiled.predict(big)) == list(model.predict(big))
        assert (compiled.predict(big) == model.classes[1]).sum() > (expected[:, 1] >= 0.5).sum()


def test_none_and_nan_are_both_missing() -> None:
    frame = _adult()
    compiled = compile_model(_model("lightgbm", TaskKind.BINARY, frame))
    record = frame.iloc[[0]]
    as_none = {c: [None if c in ("age", "occupation") else record[c].iloc[0]] for c in compiled.model.input_columns}
    as_nan = {c: [float("nan") if c == "age" else v[0]] for c, v in as_none.items()}
    assert np.allclose(compiled.raw_output_columns(as_none, 1), compiled.raw_output_columns(as_nan, 1))


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION])
def test_an_ensemble_compiles_member_by_member_with_the_same_answers(task: TaskKind) -> None:
    ensemble, encoders = ensemble_of(task, _adult(), [("lightgbm", {"n_estimators": 40}, 0.4),
                                                      ("lightgbm", {"n_estimators": 20, "num_leaves": 7}, 0.3),
                                                      ("random_forest", {"n_estimators": 10}, 0.2),
                                                      ("linear", {}, 0.1)])
    compiled = compile_model(ensemble)
    rows = _adult(1800).iloc[1500:]

    assert not compiled.native and compiled.path == "ensemble fast path"
    assert len(compiled.preps) == encoders < 4  # each encoder runs once per batch
    assert compiled.members[0].prep == compiled.members[1].prep  # the two LightGBM models share theirs
    assert [m.booster for m in compiled.members] == [True, True, False, False]  # LightGBM through its booster
    assert compiled.parity(rows) == 0.0  # the same floats, summed in the same order
    assert np.array_equal(compiled.raw_output(rows), ensemble.raw_output(rows))
    one = compiled.raw_output_columns({col: rows[col].tolist()[:1] for col in ensemble.input_columns}, 1)
    assert np.array_equal(one, ensemble.raw_output(rows.iloc[:1]))
    if task is not TaskKind.REGRESSION:
        assert list(compiled.predict(rows)) == list(ensemble.predict(rows))


def test_an_ensemble_over_another_encoder_falls_back_to_the_native_path() -> None:
    frame = _adult()
    a = _model("lightgbm", TaskKind.BINARY, frame)
    odd = Pipeline([("prep", FunctionTransformer(lambda X: a.pipeline.named_steps["prep"].transform(X))),
                    ("model", a.pipeline.named_steps["model"])])
    ensemble = TabularModel(WeightedEnsemble([(a.pipeline, 0.5), (odd, 0.5)], TaskKind.BINARY), TaskKind.BINARY,
                            a.classes, a.features, "ensemble", "income")
    compiled = compile_model(ensemble)
    rows = _adult(1800).iloc[1500:]

    assert compiled.native and compiled.path == "native (WeightedEnsemble)"
    assert compiled.parity(rows) == 0.0
    assert np.array_equal(compiled.predict_proba(rows), ensemble.predict_proba(rows))
