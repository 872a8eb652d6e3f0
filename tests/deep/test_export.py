"""ONNX export of the torch estimators, run by ONNX Runtime: the outputs match the estimator's own (inputs
standardised, categorical codes embedded with the unknown row for negative, missing and unseen codes,
softmax or the target's units), pruned networks export, and what cannot export says why."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.datasets import load_digits

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from aiforge.deep import (  # noqa: E402
    CNNClassifier,
    CNNRegressor,
    CompressionConfig,
    MLPClassifier,
    MLPRegressor,
    RNNClassifier,
    compress,
    export_onnx,
)
from aiforge.deep._runtime import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _run(onnx_model: bytes, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["output"], {"input": np.asarray(X, dtype=np.float32)})[0])


def _table(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two numbers and two categorical code columns (one with -1 codes), the label depending on both kinds."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n) * 10 + 3, rng.integers(0, 4, n),
                         rng.integers(-1, 6, n)]).astype(np.float32)
    y = (X[:, 0] + (X[:, 2] == 1) - 0.5 * (X[:, 3] == 2) > 0.2).astype(int)
    return X, y


def _awkward(X: np.ndarray) -> np.ndarray:
    """Rows whose codes the estimator maps to "unknown": unseen, negative, missing, fractional."""
    odd = X.copy()
    odd[:5, 2] = 9
    odd[5:10, 3] = -1
    odd[10:15, 2] = np.nan
    odd[15:20, 3] = 2.7
    return odd


def test_the_mlp_classifier_exports_its_whole_prediction() -> None:
    X, y = _table()
    model = MLPClassifier(categorical=[2, 3], max_epochs=10, n_jobs=1, random_state=0).fit(X, y)
    rows = _awkward(X)

    onnx_model = export_onnx(model)

    out = _run(onnx_model, rows)
    assert out.shape == (len(rows), 2)
    assert np.abs(out - model.predict_proba(rows)).max() < 1e-5
    assert _run(onnx_model, rows[:1]).shape == (1, 2)  # the batch size is free


def test_the_mlp_regressor_exports_values_in_the_targets_units() -> None:
    X, _ = _table()
    target = 50 + 20 * X[:, 0] + 5 * (X[:, 2] == 3)
    model = MLPRegressor(categorical=[2, 3], max_epochs=10, n_jobs=1, random_state=0).fit(X, target)

    out = _run(export_onnx(model), _awkward(X))

    assert out.shape == (len(X),)
    assert np.abs(out - model.predict(_awkward(X))).max() < 1e-5 * np.abs(target).max()


def test_a_table_without_categorical_columns_exports() -> None:
    X, y = _table()
    model = MLPClassifier(max_epochs=5, n_jobs=1).fit(X[:, :2], y)

    assert np.abs(_run(export_onnx(model), X[:, :2]) - model.predict_proba(X[:, :2])).max() < 1e-5


def test_the_cnn_exports_and_takes_images_of_any_size() -> None:
    digits = load_digits()
    classifier = CNNClassifier(channels=8, max_epochs=3, n_jobs=1).fit(digits.images[:600], digits.target[:600])
    regressor = CNNRegressor(channels=8, max_epochs=3, n_jobs=1).fit(digits.images[:600], digits.target[:600] * 1.0)
    images = digits.images[600:800, None].astype(np.float32)

    assert np.abs(_run(export_onnx(classifier), images) - classifier.predict_proba(images)).max() < 1e-5
    assert np.abs(_run(export_onnx(regressor), images) - regressor.predict(images)).max() < 1e-4
    larger = np.random.default_rng(0).normal(size=(3, 1, 12, 10)).astype(np.float32)
    assert np.abs(_run(export_onnx(classifier), larger) - classifier.predict_proba(larger)).max() < 1e-5


@pytest.mark.parametrize("structured", [False, True])
def test_a_pruned_mlp_exports(structured: bool) -> None:
    X, y = _table()
    model = MLPClassifier(categorical=[2, 3], hidden_width=32, max_epochs=10, n_jobs=1).fit(X, y)
    pruned, _ = compress(model, CompressionConfig(prune=0.5, structured=structured), X)

    assert np.abs(_run(export_onnx(pruned), X) - pruned.predict_proba(X)).max() < 1e-5


def test_what_does_not_export_says_why() -> None:
    X, y = _table()
    model = MLPClassifier(max_epochs=3, n_jobs=1).fit(X, y)
    quantised, _ = compress(model, CompressionConfig(quantize="dynamic"), X)
    rnn = RNNClassifier(hidden_size=4, max_epochs=1, n_jobs=1).fit(X.reshape(-1, 2, 2), y)

    with pytest.raises(ValueError, match="int8-quantised network does not export to ONNX"):
        export_onnx(quantised)
    with pytest.raises(ValueError, match="covers the MLP and the CNN estimators, not RNNClassifier"):
        export_onnx(rnn)
    with pytest.raises(ValueError, match="not fitted yet"):
        export_onnx(MLPClassifier())
