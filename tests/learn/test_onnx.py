"""ONNX Runtime as a serving path: converted estimators agree with the native model on real rows (missing
values and unseen categories included), an estimator that does not convert or does not agree falls back
to the native fast path with the reason, and a missing ONNX Runtime is a note, never an error."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from test_compiled import _adult, ensemble_of
from test_compiled import _model as _fitted

from aiforge.learn import TabularModel, plan_inference
from aiforge.learn._compiled import ONNX_PATH, compile_model
from aiforge.learn._inference import PROBABILITY_TOLERANCE, _choose
from aiforge.learn._onnx import convert_estimator, missing_onnx
from aiforge.spec import TaskKind

SMALL = {"lightgbm": {"n_estimators": 60}, "random_forest": {"n_estimators": 15}}


def _model(learner: str, task: TaskKind, frame: pd.DataFrame) -> TabularModel:
    return _fitted(learner, task, frame, SMALL)


def _scored() -> pd.DataFrame:
    scored = _adult(1600).iloc[1200:].copy()
    scored.loc[scored.index[:5], "workclass"] = "Never-seen-before"  # unseen categories
    return scored


def _onnx(model: TabularModel) -> bytes:
    prep, estimator = model.pipeline.named_steps["prep"], model.pipeline.named_steps["model"]
    width = prep.transform(_scored().head(1)[model.input_columns]).shape[1]
    conversion = convert_estimator(estimator, width)
    assert conversion.model is not None, conversion.reason
    return conversion.model


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION])
@pytest.mark.parametrize("learner", ["lightgbm", "random_forest", "linear"])
def test_onnx_runtime_gives_the_native_output(learner: str, task: TaskKind) -> None:
    model = _model(learner, task, _adult(1200))
    compiled = compile_model(model, onnx=_onnx(model))
    scored = _scored()

    assert compiled.path == ONNX_PATH and not compiled.note
    native = model.raw_output(scored)
    scale = max(1.0, float(np.max(np.abs(native)))) if task is TaskKind.REGRESSION else 1.0
    assert compiled.parity(scored) <= PROBABILITY_TOLERANCE * scale
    one = compiled.raw_output_columns({c: scored[c].tolist()[:1] for c in model.input_columns}, 1)
    assert one.shape == native[:1].shape and np.allclose(one, native[:1], atol=PROBABILITY_TOLERANCE * scale)
    if task is not TaskKind.REGRESSION:  # the labels the server derives are the native ones
        assert (compiled.raw_output_columns({c: scored[c].tolist() for c in model.input_columns}, len(scored))
                .argmax(axis=1) == native.argmax(axis=1)).all()


def test_a_large_batch_runs_on_the_multi_threaded_session() -> None:
    model = _model("lightgbm", TaskKind.BINARY, _adult(1200))
    compiled = compile_model(model, onnx=_onnx(model))
    big = pd.concat([_scored()] * 6)  # 2400 rows: over the one-thread limit

    assert compiled.parity(big) <= PROBABILITY_TOLERANCE
    assert compiled.onnx._parallel is not None


def test_the_plan_records_both_paths_and_chooses_on_evidence() -> None:
    model = _model("lightgbm", TaskKind.BINARY, _adult(1200))
    plan = plan_inference(model, _scored(), seconds=0.2)
    record = plan.record

    assert record["parity_rows"] == 400 and record["tolerance"] == PROBABILITY_TOLERANCE
    assert record["native_fast_path"]["path"] == "lightgbm booster"
    assert record["onnx"]["converter"] == "onnxmltools"
    assert 0 < record["onnx"]["max_abs_diff"] <= PROBABILITY_TOLERANCE  # float32 inside ONNX Runtime
    for path in (record["native_fast_path"], record["onnx"]):
        assert path["latency_ms"]["one_row_ms"] > 0 and path["latency_ms"]["batch_rows"] == 400
        assert path["latency_ms"]["batch_ms"] > 0
    onnx, native = record["onnx"]["latency_ms"], record["native_fast_path"]["latency_ms"]
    faster = onnx["one_row_ms"] <= native["one_row_ms"] and onnx["batch_ms"] <= native["batch_ms"]
    assert (plan.path == ONNX_PATH) is faster
    assert (plan.onnx is not None) is faster
    assert record["reason"].startswith(plan.path)


def test_a_model_that_disagrees_beyond_the_tolerance_keeps_the_native_fast_path() -> None:
    model = _model("lightgbm", TaskKind.BINARY, _adult(1200))
    plan = plan_inference(model, _scored(), seconds=0.1, tolerance=1e-12)

    assert plan.path == "lightgbm booster" and plan.onnx is None
    assert "ONNX Runtime differs from the native model by" in plan.record["reason"]
    assert "(tolerance 1e-12)" in plan.record["reason"]


def test_onnx_runtime_that_is_slower_for_one_row_or_a_batch_is_not_chosen() -> None:
    record = {"path": "estimator",
              "onnx": {"max_abs_diff": 1e-7, "latency_ms": {"one_row_ms": 0.3, "batch_rows": 1000, "batch_ms": 20.0}},
              "native_fast_path": {"latency_ms": {"one_row_ms": 0.2, "batch_rows": 1000, "batch_ms": 30.0}}}
    assert _choose(record, 1e-5) == "estimator: ONNX Runtime is slower for one row (0.300 ms > 0.200 ms)"
    record["onnx"]["latency_ms"]["one_row_ms"] = 0.1
    assert _choose(record, 1e-5) == (f"{ONNX_PATH}: within tolerance (1e-07 <= 1e-05) and not slower than the "
                                     "estimator for one row (0.100 ms <= 0.200 ms) or a batch of 1,000 (20.000 ms "
                                     "<= 30.000 ms)")
    record["onnx"]["latency_ms"]["batch_ms"] = 31.0  # batch scoring would pay for the faster single row
    assert _choose(record, 1e-5) == ("estimator: ONNX Runtime is slower for a batch of 1,000 rows (31.000 ms > "
                                     "30.000 ms)")


class _Majority(ClassifierMixin, BaseEstimator):
    """An estimator no ONNX converter knows."""

    def fit(self, X: Any, y: Any) -> _Majority:
        self.classes_ = np.unique(y)
        self.share_ = float(np.mean(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.tile([1 - self.share_, self.share_], (len(X), 1))


def test_an_estimator_that_does_not_convert_falls_back_with_the_reason() -> None:
    frame = _adult(600)
    fitted = _model("linear", TaskKind.BINARY, frame)
    prep = fitted.pipeline.named_steps["prep"]
    y = (frame["income"] == ">50K").astype(int).to_numpy()
    pipeline = Pipeline([("prep", prep), ("model", _Majority().fit(prep.transform(frame), y))])
    model = TabularModel(pipeline, TaskKind.BINARY, fitted.classes, fitted.features, "majority", "income")
    plan = plan_inference(model, _scored(), seconds=0.1)

    assert plan.path == "estimator" and plan.onnx is None
    assert plan.record["onnx"]["reason"].startswith("skl2onnx could not convert _Majority: ")
    assert plan.record["reason"].startswith("estimator: no ONNX model (skl2onnx could not convert _Majority")
    assert plan.record["native_fast_path"]["latency_ms"]["one_row_ms"] > 0


def test_without_onnx_runtime_the_native_fast_path_serves_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model("lightgbm", TaskKind.BINARY, _adult(1200))
    onnx = _onnx(model)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed

    assert missing_onnx() == "onnxruntime not installed (pip install 'aiforge[onnx]')"
    compiled = compile_model(model, onnx=onnx)
    assert compiled.path == "lightgbm booster" and compiled.onnx is None
    assert compiled.note == ("ONNX Runtime cannot serve here: onnxruntime not installed (pip install "
                             "'aiforge[onnx]'); the lightgbm booster path serves instead")
    assert compiled.parity(_scored()) == 0.0
    plan = plan_inference(model, _scored(), seconds=0.1)
    assert plan.path == "lightgbm booster" and plan.onnx is None
    assert plan.record["onnx"]["reason"] == "onnxruntime not installed (pip install 'aiforge[onnx]')"


def test_an_onnx_model_that_onnx_runtime_cannot_load_is_served_natively_with_a_note() -> None:
    model = _model("lightgbm", TaskKind.BINARY, _adult(1200))
    compiled = compile_model(model, onnx=b"not an ONNX model")

    assert compiled.path == "lightgbm booster" and compiled.onnx is None
    assert compiled.note.startswith("ONNX Runtime cannot serve here: onnxruntime could not load the ONNX model (")
    assert compiled.note.endswith("); the lightgbm booster path serves instead")
    assert compiled.parity(_scored()) == 0.0


def _ensemble(task: TaskKind, last: str = "random_forest") -> TabularModel:
    """Two LightGBM models on one encoder and ``last`` (on its own kind of encoding or the same), fitted on
    Adult as an ensemble's refit fits them."""
    members = [("lightgbm", SMALL["lightgbm"], 0.5), ("lightgbm", {"n_estimators": 20, "num_leaves": 7}, 0.3),
               (last, SMALL.get(last, {}), 0.2)]
    return ensemble_of(task, _adult(1200), members)[0]


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION])
def test_an_ensemble_converts_into_one_onnx_model_with_the_native_output(task: TaskKind) -> None:
    import onnx

    model = _ensemble(task)
    plan = plan_inference(model, _scored(), seconds=0.2)
    record = plan.record
    scored = _scored()

    assert record["native_fast_path"]["path"] == "ensemble fast path"
    assert record["native_fast_path"]["max_abs_diff"] == 0.0
    assert record["onnx"]["converter"] == "onnxmltools+skl2onnx", record["onnx"]
    native = model.raw_output(scored)
    scale = max(1.0, float(np.max(np.abs(native)))) if task is TaskKind.REGRESSION else 1.0
    assert 0 < record["onnx"]["max_abs_diff"] <= PROBABILITY_TOLERANCE * scale
    onnx_model = plan.onnx or convert_onnx_of(model)
    graph = onnx.load_from_string(onnx_model).graph
    encoders = len(compile_model(model).preps)
    assert [i.name for i in graph.input] == [f"input_{k}" for k in range(encoders)]
    assert [o.name for o in graph.output] == ["output"]
    runtime = compile_model(model, onnx=onnx_model)
    assert runtime.path == ONNX_PATH and runtime.parity(scored) <= PROBABILITY_TOLERANCE * scale
    np.testing.assert_allclose(runtime.raw_output(scored), native, rtol=0, atol=PROBABILITY_TOLERANCE * scale)
    assert record["reason"].startswith(plan.path)


def convert_onnx_of(model: TabularModel) -> bytes:
    """The ensemble's ONNX model, as the plan converts it (when the plan chose the native path on timing)."""
    from aiforge.learn._onnx import convert_ensemble

    compiled = compile_model(model)
    columns = {c: _scored()[c].tolist()[:1] for c in model.input_columns}
    widths = [int(m.shape[1]) for m in compiled.encode_columns(columns, 1)]
    conversion = convert_ensemble([(m.estimator, m.prep, m.weight) for m in compiled.members], widths, model.task)
    assert conversion.model is not None, conversion.reason
    return conversion.model


def test_an_ensemble_with_a_member_that_does_not_convert_or_too_many_tree_nodes_stays_native(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import aiforge.learn._onnx as onnx_module

    mixed = plan_inference(_ensemble(TaskKind.BINARY, "hist_gradient_boosting"), _scored(), seconds=0.1)
    assert mixed.path == "ensemble fast path" and mixed.onnx is None
    assert mixed.record["onnx"]["reason"].startswith("member 3 (HistGradientBoostingClassifier) does not convert: ")

    monkeypatch.setattr(onnx_module, "MAX_ENSEMBLE_NODES", 100)
    large = plan_inference(_ensemble(TaskKind.BINARY), _scored(), seconds=0.1)
    assert large.path == "ensemble fast path" and large.onnx is None
    assert "nodes, more than the 100 an ensemble's ONNX model may hold" in large.record["onnx"]["reason"]
