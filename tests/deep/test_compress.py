"""Compression of the torch estimators on real small data sets (scikit-learn's digits and breast cancer):
magnitude pruning reaches the sparsity asked, structured pruning makes the MLP narrower (fewer parameters,
the same function as the masked network), fine-tuning keeps the zeros, dynamic and static int8
quantisation make the models smaller and keep them accurate, compressed models pickle exactly, and bad
requests are refused with a message that says what to do."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")

from aiforge.deep import (  # noqa: E402
    CNNClassifier,
    CompressionConfig,
    MLPClassifier,
    MLPRegressor,
    RNNClassifier,
    compress,
)
from aiforge.deep._compress import (  # noqa: E402
    CompressedMLPClassifier,
    _prune,
    _shrink_mlp,
    count_parameters,
)
from aiforge.deep._runtime import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(X) == y))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, ...]:
    data = load_digits()
    return tuple(train_test_split(data.data, data.target, test_size=0.3, random_state=0, stratify=data.target))


@pytest.fixture(scope="module")
def digits_mlp(digits: tuple[np.ndarray, ...]) -> MLPClassifier:
    X_fit, _, y_fit, _ = digits
    with torch_threads(1):
        return MLPClassifier(hidden_width=128, max_epochs=30, lr=3e-3, n_jobs=1, random_state=0).fit(X_fit, y_fit)


def _zeros(layer: Any) -> int:
    return int((layer.weight == 0).sum())


@pytest.mark.parametrize("share", [0.3, 0.5, 0.8])
def test_magnitude_pruning_zeroes_the_asked_share_of_every_layer(digits: tuple[np.ndarray, ...],
                                                                 digits_mlp: MLPClassifier, share: float) -> None:
    X_fit, X_test, y_fit, y_test = digits

    pruned, record = compress(digits_mlp, CompressionConfig(prune=share), X_fit)

    linears = [m for m in pruned.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for layer in linears:  # each layer to the share asked (torch rounds the count of weights)
        assert _zeros(layer) == round(share * layer.weight.numel())
    assert record.sparsity == pytest.approx(share, abs=0.005)
    assert record.parameters_after == record.parameters_before  # dense tensors: zeros, not fewer weights
    assert record.nonzero_after < record.nonzero_before * (1 - share * 0.9)
    assert not any(hasattr(m, "weight_mask") for m in pruned.module_.modules())  # made permanent
    assert type(pruned) is CompressedMLPClassifier and pruned.compression_["prune"] == share
    if share <= 0.5:
        assert _accuracy(pruned, X_test, y_test) >= _accuracy(digits_mlp, X_test, y_test) - 0.03
    assert _zeros(digits_mlp.module_.head) == 0  # the original is left as it was


def test_structured_pruning_cuts_neurons_out_of_the_mlp(digits: tuple[np.ndarray, ...],
                                                        digits_mlp: MLPClassifier) -> None:
    X_fit, X_test, y_fit, y_test = digits

    narrow, record = compress(digits_mlp, CompressionConfig(prune=0.5, structured=True), X_fit)

    assert record.widths_before == [128, 128] and record.widths_after == [64, 64]
    body = narrow.module_.body
    assert [m.out_features for m in body if isinstance(m, torch.nn.Linear)] == [64, 64]
    assert [m.num_features for m in body if isinstance(m, torch.nn.BatchNorm1d)] == [64, 64]
    assert narrow.module_.head.in_features == 64
    assert record.parameters_after < 0.45 * record.parameters_before  # the second layer shrinks on both sides
    assert count_parameters(narrow.module_) == (record.parameters_after, record.nonzero_after)
    assert record.sparsity == pytest.approx(0.5)
    assert any("batch-norm statistics re-estimated" in step for step in record.steps)
    assert _accuracy(narrow, X_test, y_test) > 0.5  # half the neurons gone, no fine-tuning yet


def test_the_narrower_mlp_computes_what_the_masked_one_did(digits: tuple[np.ndarray, ...],
                                                           digits_mlp: MLPClassifier) -> None:
    X_fit, X_test, _, _ = digits
    masked = copy.deepcopy(digits_mlp)
    steps: list[str] = []
    pruned = _prune(masked.module_, CompressionConfig(prune=0.4, structured=True), steps)
    for layer, name in pruned:
        torch.nn.utils.prune.remove(layer, name)
    expected = masked.predict_proba(X_test)

    masked.module_ = _shrink_mlp(masked.module_)  # neurons out, their constant outputs folded into the next layer

    widths = [m.out_features for m in masked.module_.body if isinstance(m, torch.nn.Linear)]
    assert widths == [128 - round(0.4 * 128)] * 2
    assert np.abs(masked.predict_proba(X_test) - expected).max() < 1e-5


def test_structured_pruning_of_a_regressor_without_batch_norm_folds_into_biases() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    model = MLPRegressor(hidden_width=32, batch_norm=False, max_epochs=10, n_jobs=1, random_state=0).fit(X, y)
    masked = copy.deepcopy(model)
    for layer, name in _prune(masked.module_, CompressionConfig(prune=0.5, structured=True), []):
        torch.nn.utils.prune.remove(layer, name)

    narrow, record = compress(model, CompressionConfig(prune=0.5, structured=True), X)

    assert record.widths_after == [16, 16]
    assert np.abs(narrow.predict(X) - masked.predict(X)).max() < 1e-4  # no batch norm: nothing re-estimated


def test_fine_tuning_after_pruning_keeps_the_zeros_and_recovers_accuracy(digits: tuple[np.ndarray, ...],
                                                                         digits_mlp: MLPClassifier) -> None:
    X_fit, X_test, y_fit, y_test = digits
    cut, _ = compress(digits_mlp, CompressionConfig(prune=0.5, structured=True), X_fit)
    sparse, _ = compress(digits_mlp, CompressionConfig(prune=0.9), X_fit)

    tuned_cut, record = compress(digits_mlp, CompressionConfig(prune=0.5, structured=True, fine_tune_epochs=5),
                                 X_fit, y_fit)
    tuned_sparse, sparse_record = compress(digits_mlp, CompressionConfig(prune=0.9, fine_tune_epochs=5), X_fit, y_fit)

    assert len(record.fine_tune_losses) == 5 and record.fine_tune_losses[-1] < record.fine_tune_losses[0]
    assert _accuracy(tuned_cut, X_test, y_test) > _accuracy(cut, X_test, y_test)
    assert _accuracy(tuned_sparse, X_test, y_test) > _accuracy(sparse, X_test, y_test)
    assert sparse_record.sparsity == pytest.approx(0.9, abs=0.005)  # the masks held while it trained
    assert any(step.startswith("fine-tuned 5 epoch(s)") for step in record.steps)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_quantisation_makes_the_mlp_smaller_and_keeps_it_accurate(digits: tuple[np.ndarray, ...],
                                                                       digits_mlp: MLPClassifier, mode: str) -> None:
    X_fit, X_test, _, y_test = digits

    quantised, record = compress(digits_mlp, CompressionConfig(quantize=mode), X_fit)  # type: ignore[arg-type]

    assert record.quantized == {"Linear": 3} and record.backend in ("x86", "fbgemm")
    assert len(pickle.dumps(quantised)) < 0.45 * len(pickle.dumps(digits_mlp))
    assert _accuracy(quantised, X_test, y_test) >= _accuracy(digits_mlp, X_test, y_test) - 0.01
    proba = quantised.predict_proba(X_test)
    assert np.abs(proba - digits_mlp.predict_proba(X_test)).mean() < 0.01  # close, not equal: int8
    assert np.mean(quantised.predict(X_test) == digits_mlp.predict(X_test)) >= 0.97
    assert not any(type(m) is torch.nn.Linear for m in quantised.module_.modules())


def test_breast_cancer_pruned_and_quantised_stays_accurate() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = MLPClassifier(n_jobs=1, random_state=0).fit(X_fit, y_fit)

    small, record = compress(model, CompressionConfig(prune=0.5, structured=True, quantize="static",
                                                      fine_tune_epochs=3), X_fit, y_fit)

    assert _accuracy(small, X_test, y_test) >= _accuracy(model, X_test, y_test) - 0.03
    assert len(pickle.dumps(small)) < 0.3 * len(pickle.dumps(model))  # a quarter of the weights, in int8
    assert record.widths_after == [64, 64] and record.quantized == {"Linear": 3}


def test_the_cnn_quantises_statically_with_its_convolutions_and_prunes_channels() -> None:
    digits = load_digits()
    X_fit, X_test, y_fit, y_test = train_test_split(digits.images, digits.target, test_size=0.3, random_state=0)
    model = CNNClassifier(channels=16, max_epochs=10, lr=3e-3, batch_size=64, n_jobs=1, random_state=0)
    model.fit(X_fit, y_fit)

    quantised, record = compress(model, CompressionConfig(quantize="static", calibration_rows=512), X_fit)
    channels, channel_record = compress(model, CompressionConfig(prune=0.25, structured=True), X_fit)

    assert record.quantized == {"Conv2d": 4, "Linear": 1}
    assert _accuracy(quantised, X_test, y_test) >= _accuracy(model, X_test, y_test) - 0.03
    assert len(pickle.dumps(quantised)) < 0.5 * len(pickle.dumps(model))
    convolutions = [m for m in channels.module_.modules() if isinstance(m, torch.nn.Conv2d)]
    zero_channels = [int((c.weight.flatten(1).abs().sum(dim=1) == 0).sum()) for c in convolutions]
    assert zero_channels == [4, 4, 8, 8]  # 25% of 16, 16, 32 and 32 output channels
    assert channel_record.sparsity == pytest.approx(0.25)


def test_lstm_quantises_dynamically_and_prunes_by_magnitude() -> None:
    rng = np.random.default_rng(0)
    sequences = rng.normal(size=(300, 12, 2)).astype(np.float32)
    labels = (sequences[:, :, 0].mean(axis=1) > 0).astype(int)
    model = RNNClassifier(hidden_size=16, max_epochs=5, n_jobs=1, random_state=0).fit(sequences, labels)

    quantised, record = compress(model, CompressionConfig(quantize="dynamic"), sequences)
    pruned, pruned_record = compress(model, CompressionConfig(prune=0.3), sequences)

    assert record.quantized == {"LSTM": 1, "Linear": 1}
    assert np.abs(quantised.predict_proba(sequences) - model.predict_proba(sequences)).max() < 0.1
    assert pruned_record.sparsity == pytest.approx(0.3, abs=0.01)
    for compressed in (quantised, pruned):
        again = pickle.loads(pickle.dumps(compressed))
        assert np.array_equal(again.predict_proba(sequences), compressed.predict_proba(sequences))


@pytest.mark.parametrize("config", [
    CompressionConfig(prune=0.5),
    CompressionConfig(prune=0.5, structured=True, fine_tune_epochs=1),
    CompressionConfig(quantize="dynamic"),
    CompressionConfig(prune=0.3, structured=True, quantize="static"),
], ids=["magnitude", "structured-fine-tuned", "dynamic", "structured-static"])
def test_a_compressed_estimator_pickles_to_the_same_predictions(digits: tuple[np.ndarray, ...],
                                                                digits_mlp: MLPClassifier,
                                                                config: CompressionConfig) -> None:
    X_fit, X_test, y_fit, _ = digits
    compressed, _ = compress(digits_mlp, config, X_fit, y_fit)

    again = pickle.loads(pickle.dumps(compressed))

    assert type(again) is CompressedMLPClassifier and again.compression_ == compressed.compression_
    assert np.array_equal(again.predict_proba(X_test), compressed.predict_proba(X_test))


def test_a_compressed_estimator_is_not_refit_and_clones_to_the_original_class(
        digits: tuple[np.ndarray, ...], digits_mlp: MLPClassifier) -> None:
    X_fit, _, y_fit, _ = digits
    compressed, _ = compress(digits_mlp, CompressionConfig(quantize="dynamic"), X_fit)

    with pytest.raises(TypeError, match="not trained again: fit a MLPClassifier"):
        compressed.fit(X_fit, y_fit)
    with pytest.raises(ValueError, match="compressed already"):
        compress(compressed, CompressionConfig(prune=0.5), X_fit)
    fresh = clone(compressed)
    assert type(fresh) is MLPClassifier and fresh.get_params() == digits_mlp.get_params()
    assert not hasattr(fresh, "module_")


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "nothing to do: set prune > 0 and/or quantize"),
    ({"prune": 1.0}, r"prune must be a share in \[0, 0.99\]"),
    ({"structured": True, "quantize": "dynamic"}, "structured pruning needs prune > 0"),
    ({"quantize": "float16"}, "quantize must be one of none, dynamic, static"),
    ({"quantize": "dynamic", "fine_tune_epochs": 2}, "fine-tuning follows pruning"),
    ({"prune": 0.5, "fine_tune_epochs": -1}, "fine_tune_epochs must be at least 0"),
    ({"quantize": "static", "calibration_rows": 0}, "calibration_rows must be at least 1"),
])
def test_a_bad_compression_config_says_what_to_set(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompressionConfig(**settings)


def test_compress_refuses_what_it_cannot_do(digits: tuple[np.ndarray, ...]) -> None:
    X_fit, _, y_fit, _ = digits
    rnn = RNNClassifier(hidden_size=8, max_epochs=1, n_jobs=1).fit(X_fit[:100, :16].reshape(100, 8, 2), y_fit[:100])

    with pytest.raises(NotFittedError, match="fit it before compressing it"):
        compress(MLPClassifier(), CompressionConfig(prune=0.5), X_fit)
    with pytest.raises(ValueError, match="structured pruning applies to the MLP and the CNN"):
        compress(rnn, CompressionConfig(prune=0.5, structured=True), X_fit[:100, :16].reshape(100, 8, 2))
    with pytest.raises(ValueError, match="use quantize: dynamic for LSTM and GRU"):
        compress(rnn, CompressionConfig(quantize="static"), X_fit[:100, :16].reshape(100, 8, 2))
    with pytest.raises(TypeError, match="compress takes a fitted aiforge.deep estimator"):
        compress(object(), CompressionConfig(prune=0.5), X_fit)
    with pytest.raises(ValueError, match="fine-tuning needs the training targets"):
        compress(MLPClassifier(max_epochs=1, n_jobs=1).fit(X_fit, y_fit),
                 CompressionConfig(prune=0.5, fine_tune_epochs=1), X_fit)
