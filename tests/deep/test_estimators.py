"""The scikit-learn estimators over the torch networks, on real small data sets: they learn (to scores an
untrained network cannot reach), are reproducible, respect a time budget, pickle, and refuse bad input
with a message that says what was expected."""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Iterator
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, make_friedman1
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score, recall_score
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")

from aiforge.deep import (  # noqa: E402
    CNNClassifier,
    CNNRegressor,
    MLPClassifier,
    MLPRegressor,
    RNNClassifier,
    RNNRegressor,
)
from aiforge.deep._runtime import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(X) == y))


def test_the_mlp_learns_breast_cancer_beyond_an_untrained_network() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    untrained = MLPClassifier(max_epochs=1, lr=1e-12, n_jobs=1, validation_fraction=0.0).fit(X_fit, y_fit)

    model = MLPClassifier(n_jobs=1, random_state=0).fit(X_fit, y_fit)

    assert _accuracy(model, X_test, y_test) >= 0.95
    assert _accuracy(untrained, X_test, y_test) < 0.9
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1] and model.n_features_in_ == 30
    assert model.history_.stopped in ("early_stopping", "max_epochs") and model.device_ == "cpu"


def test_the_mlp_learns_ten_digits_and_keeps_the_labels_it_was_given() -> None:
    digits = load_digits()
    labels = np.array([f"digit {d}" for d in digits.target])
    X_fit, X_test, y_fit, y_test = train_test_split(digits.data, labels, test_size=0.3, random_state=0)

    model = MLPClassifier(n_jobs=1, random_state=0, max_epochs=40).fit(X_fit, y_fit)

    assert _accuracy(model, X_test, y_test) >= 0.93
    assert set(model.predict(X_test)) <= set(labels) and model.predict_proba(X_test).shape == (len(X_test), 10)


def test_the_mlp_regressor_learns_friedman_one() -> None:
    X, y = make_friedman1(n_samples=1200, noise=0.5, random_state=0)
    y = 1000 + 50 * y  # far from standardised: the estimator scales the target itself
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    model = MLPRegressor(n_jobs=1, random_state=0, lr=3e-3, batch_size=64).fit(X_fit, y_fit)

    assert r2_score(y_test, model.predict(X_test)) >= 0.85
    assert r2_score(y_test, np.full(len(y_test), y_fit.mean())) < 0.01  # what predicting the mean scores


def test_the_mlp_embeds_categorical_codes_and_reads_unseen_ones_as_unknown() -> None:
    rng = np.random.default_rng(0)
    n = 1500
    city = rng.integers(0, 12, size=n)
    income = rng.normal(size=n)
    effect = np.linspace(-2, 2, 12)[rng.permutation(12)]  # no order in the codes: an embedding must learn it
    y = (effect[city] + income + rng.normal(scale=0.3, size=n) > 0).astype(int)
    X = np.column_stack([income, city]).astype(float)

    model = MLPClassifier(categorical=[1], n_jobs=1, random_state=0, max_epochs=40).fit(X[:1000], y[:1000])

    assert _accuracy(model, X[1000:], y[1000:]) >= 0.85
    assert model.cardinalities_ == [13] and model.module_.embeddings[0].num_embeddings == 13
    unseen = np.array([[0.0, 99.0], [0.0, -1.0], [0.0, np.nan]])
    assert model.predict_proba(unseen).shape == (3, 2)
    np.testing.assert_array_equal(model.predict_proba(unseen)[0], model.predict_proba(unseen)[1])


def test_the_cnn_learns_eight_by_eight_digits_as_images() -> None:
    digits = load_digits()
    images = digits.images[:, None, :, :]  # NCHW
    X_fit, X_test, y_fit, y_test = train_test_split(images, digits.target, test_size=0.3, random_state=0)

    model = CNNClassifier(channels=16, blocks=2, max_epochs=15, lr=3e-3, batch_size=64, n_jobs=1,
                          random_state=0).fit(X_fit, y_fit)

    assert _accuracy(model, X_test, y_test) >= 0.93
    assert _accuracy(model, X_test[:, 0], y_test) == _accuracy(model, X_test, y_test)  # (n, H, W): one channel


def _sequences(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy sine waves, 30 steps, at one of three frequencies (the class) and a random phase; and, as a
    regression target, their mean value over the last ten steps."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 3, size=n)
    frequency = np.array([0.1, 0.25, 0.45])[classes]
    steps = np.arange(30)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    waves = np.sin(2 * np.pi * frequency[:, None] * steps[None, :] + phase[:, None])
    noisy = waves + rng.normal(scale=0.3, size=waves.shape)
    return noisy[:, :, None], classes, waves[:, -10:].mean(axis=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_rnn_tells_frequencies_apart(cell: str) -> None:
    X, y, _ = _sequences(900)

    model = RNNClassifier(cell=cell, hidden_size=32, max_epochs=25, lr=5e-3, batch_size=32, n_jobs=1,
                          random_state=0).fit(X[:600], y[:600])

    assert _accuracy(model, X[600:], y[600:]) >= 0.9  # chance: 1/3


def test_the_rnn_regressor_and_a_bidirectional_network() -> None:
    X, _, target = _sequences(900, seed=1)

    model = RNNRegressor(cell="gru", hidden_size=16, num_layers=2, bidirectional=True, dropout=0.1, max_epochs=15,
                         lr=5e-3, batch_size=32, n_jobs=1, random_state=0).fit(X[:600], target[:600])

    assert r2_score(target[600:], model.predict(X[600:])) >= 0.85  # predicting the mean: 0


def test_the_same_seed_gives_identical_predictions_and_another_seed_does_not() -> None:
    X, y = load_breast_cancer(return_X_y=True)

    def fit(seed: int) -> np.ndarray:
        torch.manual_seed(seed + 123)  # the global generator must not matter
        model = MLPClassifier(dropout=0.3, max_epochs=8, n_jobs=1, random_state=seed).fit(X[:400], y[:400])
        return model.predict_proba(X[400:])

    first = fit(1)
    np.testing.assert_array_equal(first, fit(1))
    assert not np.array_equal(first, fit(2))


def test_a_time_budget_ends_training_early_with_a_usable_model() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    _tiny(MLPClassifier())  # torch's first optimiser step in a process loads more of torch (seconds, once)
    started = time.perf_counter()

    # a constant rate: a cosine schedule over 100,000 epochs would still be warming up at the deadline
    model = MLPClassifier(max_epochs=100_000, patience=None, batch_size=8, time_budget=0.5, schedule="constant",
                          n_jobs=1).fit(X, y)

    assert time.perf_counter() - started < 0.5 + 2.0
    assert model.history_.cut and model.n_epochs_ < 100_000
    assert _accuracy(model, X, y) > 0.8


def test_eval_set_validates_and_validation_fraction_zero_trains_every_epoch() -> None:
    X, y = load_breast_cancer(return_X_y=True)

    held = MLPClassifier(max_epochs=200, patience=3, lr=1e-2, n_jobs=1).fit(X[:300], y[:300],
                                                                              eval_set=(X[300:], y[300:]))
    every = MLPClassifier(max_epochs=6, validation_fraction=0.0, n_jobs=1).fit(X, y)

    assert held.history_.stopped == "early_stopping" and held.n_epochs_ == held.best_epoch_ + 3
    assert all(e.valid_loss is not None for e in held.history_.epochs)
    assert (every.n_epochs_, every.best_epoch_, every.history_.stopped) == (6, 6, "max_epochs")
    assert all(e.valid_loss is None for e in every.history_.epochs)


def test_balanced_class_weights_raise_the_recall_of_a_rare_class() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=3000) > 1.9).astype(int)  # about 4% positive, overlapping
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)

    def recall(class_weight: Any) -> float:
        model = MLPClassifier(class_weight=class_weight, max_epochs=20, n_jobs=1, random_state=0)
        return float(recall_score(y_test, model.fit(X_fit, y_fit).predict(X_test)))

    assert recall("balanced") > recall(None) + 0.2


def test_sample_weights_weigh_rows_as_fairness_mitigation_needs() -> None:
    from aiforge.learn._mitigate import _supports_weights

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    y = (X[:, 0] + rng.normal(size=1000) > 0).astype(int)  # overlapping classes, half positive
    plain = MLPClassifier(max_epochs=10, n_jobs=1).fit(X, y)
    weighted = MLPClassifier(max_epochs=10, n_jobs=1).fit(X, y, sample_weight=np.where(y == 1, 1.0, 0.1))

    assert _supports_weights(plain)
    assert np.mean(weighted.predict(X) == 1) > np.mean(plain.predict(X) == 1) + 0.2
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.15


def _tiny(estimator: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``estimator`` fitted for two epochs on data of its shape; returns it with the rows it predicts."""
    rng = np.random.default_rng(0)
    name = type(estimator).__name__
    shape = {"MLP": (60, 5), "CNN": (60, 2, 6, 6), "RNN": (60, 7, 3)}[name[:3]]
    X = rng.normal(size=shape)
    y = rng.integers(0, 3, size=60) if name.endswith("Classifier") else rng.normal(size=60)
    return estimator.set_params(max_epochs=2, n_jobs=1).fit(X, y), X, y


ESTIMATORS = [MLPClassifier(), MLPRegressor(), CNNClassifier(channels=4), CNNRegressor(channels=4),
              RNNClassifier(hidden_size=8), RNNRegressor(hidden_size=8, cell="gru")]
IDS = [type(e).__name__ for e in ESTIMATORS]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_a_fitted_estimator_pickles_with_its_weights_and_predicts_the_same(estimator: Any) -> None:
    model, X, _ = _tiny(clone(estimator))
    before = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)

    for restored in (pickle.loads(pickle.dumps(model)), _joblib_round_trip(model)):
        after = restored.predict_proba(X) if hasattr(restored, "predict_proba") else restored.predict(X)
        np.testing.assert_array_equal(before, after)
        assert not restored.module_.training and restored.history_ == model.history_
    assert "_weights" in model.__getstate__() and "module_" not in model.__getstate__()


def _joblib_round_trip(model: Any) -> Any:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_parameters_round_trip_and_predicting_before_fit_raises(estimator: Any) -> None:
    estimator = clone(estimator)
    params = estimator.get_params()
    assert clone(estimator).get_params() == params
    assert type(estimator)(**params).get_params() == params
    assert estimator.set_params(lr=0.5).get_params()["lr"] == 0.5
    with pytest.raises(NotFittedError, match=f"this {type(estimator).__name__} is not fitted yet: call fit first"):
        estimator.predict(np.zeros((2, 5)))


BAD_INPUT = [
    (MLPClassifier(), np.zeros((10, 2, 2)), np.arange(10) % 2, None,
     r"MLPClassifier expects a table \(rows x columns\), got shape \(10, 2, 2\)"),
    (MLPClassifier(), np.zeros((10, 2)), np.zeros(10), None, "a classifier needs at least 2 classes in y, found 1"),
    (MLPClassifier(), np.array([[1.0, np.nan]] * 10), np.arange(10) % 2, None,
     "the numeric columns of X hold missing or infinite values: impute them first"),
    (MLPClassifier(categorical=[3]), np.zeros((10, 2)), np.arange(10) % 2, None,
     r"categorical must list distinct column positions in \[0, 2\), got \[3\]"),
    (MLPClassifier(), np.zeros((10, 2)), np.arange(9) % 2, None,
     r"y must be one value per row of X \(10 rows\), got shape \(9,\)"),
    (MLPClassifier(), np.zeros((10, 2)), np.arange(10) % 2, (np.zeros((2, 2)), np.array([0, 7])),
     r"labels \[7\] are not among the classes seen in training \[0, 1\]"),
    (MLPClassifier(validation_fraction=1.0), np.zeros((10, 2)), np.arange(10) % 2, None,
     r"validation_fraction must be in \[0, 1\), not 1.0"),
    (MLPClassifier(schedule="linear"), np.zeros((10, 2)), np.arange(10) % 2, None,
     "schedule must be one of cosine, onecycle, constant, not 'linear'"),
    (MLPClassifier(device="tpu"), np.zeros((10, 2)), np.arange(10) % 2, None,
     r"device must be one of auto, cpu, cuda \(or cuda:N\), not 'tpu'"),
    (MLPClassifier(dropout=1.0), np.zeros((10, 2)), np.arange(10) % 2, None,
     r"dropout must be in \[0, 1\), not 1.0"),
    (MLPRegressor(), np.zeros((10, 2)), np.array([1.0] * 9 + [np.inf]), None, "y holds missing or infinite values"),
    (MLPRegressor(), np.zeros((10, 2)), np.zeros(10), "weights",
     "sample_weight must be finite, non-negative numbers, not all zero"),
    (CNNClassifier(), np.zeros((10, 8)), np.arange(10) % 2, None,
     r"CNNClassifier expects images as \(n, channels, height, width\) or \(n, height, width\), got shape \(10, 8\)"),
    (RNNClassifier(cell="rnn"), np.zeros((10, 5)), np.arange(10) % 2, None,
     "cell must be one of lstm, gru, not 'rnn'"),
    (RNNRegressor(), np.zeros((10, 0)), np.zeros(10), None,
     r"RNNRegressor expects sequences as \(n, time steps, features\) or \(n, time steps\), got shape \(10, 0, 1\)"),
]


@pytest.mark.parametrize(("estimator", "X", "y", "eval_set", "message"), BAD_INPUT,
                         ids=[f"{type(e).__name__}-{i}" for i, (e, *_) in enumerate(BAD_INPUT)])
def test_bad_input_is_refused_with_what_was_expected(estimator: Any, X: np.ndarray, y: np.ndarray,
                                                     eval_set: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        if eval_set == "weights":
            clone(estimator).fit(X, y, sample_weight=-np.ones(len(y)))
        else:
            clone(estimator).fit(X, y, eval_set=eval_set)


def test_predicting_rows_of_another_shape_is_refused() -> None:
    model, _, _ = _tiny(MLPClassifier())
    with pytest.raises(ValueError, match="X has 4 columns, but MLPClassifier was fitted on 5"):
        model.predict(np.zeros((3, 4)))
    cnn, _, _ = _tiny(CNNClassifier(channels=4))
    with pytest.raises(ValueError, match="the images have 3 channels, but CNNClassifier was fitted on 2"):
        cnn.predict(np.zeros((3, 3, 6, 6)))
    assert model.predict(np.zeros((0, 5))).shape == (0,)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_asking_for_cuda_without_a_cuda_device_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ValueError, match="device 'cuda' was asked for, but torch sees no CUDA device here"):
        MLPClassifier(device="cuda").fit(np.zeros((10, 2)), np.arange(10) % 2)
