"""A fitted ``mlp`` behind aiforge's encoder: compressed as a whole model (``compress_model``), and served by
ONNX Runtime with the same parity check as the scikit-learn pipelines (``plan_inference``), on Adult rows
with missing values and unseen categories."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from test_compiled import _adult
from test_compiled import _model as _fitted

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from aiforge.deep._compress import CompressedMLPClassifier  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.learn import NotCompressible, TabularModel, compress_model, plan_inference  # noqa: E402
from aiforge.learn._compiled import ONNX_PATH, compile_model  # noqa: E402
from aiforge.learn._inference import PROBABILITY_TOLERANCE  # noqa: E402
from aiforge.learn._onnx import convert_estimator  # noqa: E402
from aiforge.spec import CompressSpec, TaskKind  # noqa: E402

SMALL = {"mlp": {"max_epochs": 8, "hidden_width": 32}, "lightgbm": {"n_estimators": 30}}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _scored() -> pd.DataFrame:
    scored = _adult(1600).iloc[1200:].copy()
    scored.loc[scored.index[:5], "workclass"] = "Never-seen-before"  # unseen categories
    return scored


@pytest.fixture(scope="module")
def binary_mlp() -> TabularModel:
    with torch_threads(1):
        return _fitted("mlp", TaskKind.BINARY, _adult(1200), SMALL)


@pytest.mark.parametrize("task", [TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION])
def test_a_registered_mlp_is_served_by_onnx_runtime_within_the_parity_tolerance(task: TaskKind) -> None:
    model = _fitted("mlp", task, _adult(1200), SMALL)
    scored = _scored()

    plan = plan_inference(model, scored, seconds=0.3)

    onnx = plan.record["onnx"]
    assert onnx["converter"] == "torch.onnx" and onnx["bytes"] > 0
    native = model.raw_output(scored)
    scale = max(1.0, float(np.max(np.abs(native)))) if task is TaskKind.REGRESSION else 1.0
    assert onnx["max_abs_diff"] <= PROBABILITY_TOLERANCE * scale
    runtime = compile_model(model, onnx=plan.onnx) if plan.onnx is not None else None
    if plan.path == ONNX_PATH:  # chosen when also not slower for one row; the parity holds either way
        assert runtime is not None and runtime.parity(scored) <= PROBABILITY_TOLERANCE * scale
    else:
        assert "slower for one row" in plan.record["reason"] or "slower for a batch" in plan.record["reason"]


def test_compress_model_keeps_the_encoder_labels_and_threshold(binary_mlp: TabularModel) -> None:
    train, scored = _adult(1200), _scored()
    binary_mlp.threshold = 0.4

    compressed, record = compress_model(binary_mlp, CompressSpec(prune=0.5, structured=True, fine_tune_epochs=2),
                                        train, train["income"], seed=3)

    estimator = compressed.pipeline.named_steps["model"]
    assert type(estimator) is CompressedMLPClassifier and record.widths_after == [16, 16]
    assert compressed.pipeline.named_steps["prep"] is binary_mlp.pipeline.named_steps["prep"]
    assert (compressed.classes, compressed.threshold, compressed.learner) == (binary_mlp.classes, 0.4, "mlp")
    assert len(record.fine_tune_losses) == 2
    agree = np.mean(compressed.predict(scored) == binary_mlp.predict(scored))
    assert agree > 0.8
    conversion = convert_estimator(estimator, len(binary_mlp.input_columns))  # pruned: still exports
    assert conversion.model is not None, conversion.reason


def test_a_quantised_mlp_is_served_natively_with_the_reason(binary_mlp: TabularModel) -> None:
    train = _adult(1200)
    quantised, _ = compress_model(binary_mlp, CompressSpec(quantize="dynamic"), train, train["income"])

    plan = plan_inference(quantised, _scored(), seconds=0.2)

    assert plan.path == "estimator" and plan.onnx is None
    assert "int8-quantised network does not export to ONNX" in plan.record["onnx"]["reason"]
    assert plan.record["max_abs_diff"] == 0.0


def test_another_learner_is_not_compressible() -> None:
    frame = _adult(600)
    model = _fitted("lightgbm", TaskKind.BINARY, frame, SMALL)

    with pytest.raises(NotCompressible, match=r"the chosen learner is lightgbm \(LGBMClassifier\), not a torch"):
        compress_model(model, CompressSpec(prune=0.5), frame, frame["income"])
