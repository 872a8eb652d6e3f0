"""FGSM and PGD against the torch networks, and adversarial training: the attacks find exactly the rows a
linear boundary lets them flip, keep to their box and to the inputs they may move, PGD is at least as strong
as FGSM, and training on PGD examples makes an MLP more accurate under PGD at the same budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")

from aiforge.deep import MLPClassifier, MLPRegressor  # noqa: E402
from aiforge.deep._adversarial import AdversarialTraining, attack  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return X_fit, X_test, y_fit, y_test


class _Linear(torch.nn.Module):
    """Two logits whose difference is w.x + b: the closest L-inf adversarial of a row is known."""

    def __init__(self, w: np.ndarray, b: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float32))
        self.b = b

    def forward(self, x: Any) -> Any:
        score = x @ self.w + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)


def _wrong(outputs: Any, target: Any) -> Any:
    return outputs.argmax(dim=1) != target


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_on_a_linear_boundary_the_attacks_flip_exactly_the_rows_within_epsilon_of_it(method: str) -> None:
    rng = np.random.default_rng(0)
    w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    label = (x @ w > 0).astype(np.int64)
    eps = 0.3
    # a row flips iff its margin |w.x| is below what an L-inf step of eps can remove: eps * ||w||_1
    breakable = np.abs(x @ w) < eps * np.abs(w).sum()
    module = _Linear(w, 0.0).eval()
    inputs = (torch.from_numpy(x),)

    loss = torch.nn.CrossEntropyLoss(reduction="none")

    (adversarial,), fooled = attack(module, inputs, torch.from_numpy(label), loss, (inputs[0] - eps,),
                                    (inputs[0] + eps,), method=method, steps=20,
                                    generator=torch.Generator().manual_seed(0), wrong=_wrong)

    assert fooled is not None
    assert 20 < breakable.sum() < 380
    np.testing.assert_array_equal(fooled.numpy(), breakable)
    moved = np.abs(adversarial.numpy() - x).max(axis=1)
    assert moved.max() <= eps + 1e-6
    flipped = ((adversarial.numpy() @ w) > 0).astype(int) != label
    np.testing.assert_array_equal(flipped, breakable)  # the rows returned are the adversarial ones


def test_the_attack_moves_only_the_numeric_columns_and_keeps_to_the_bounds_given(
        cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, X_test, y_fit, y_test = cancer
    codes_fit = (X_fit[:, 0] > np.median(X_fit[:, 0])).astype(float) + (X_fit[:, 1] > 20)
    codes_test = (X_test[:, 0] > np.median(X_fit[:, 0])).astype(float) + (X_test[:, 1] > 20)
    X_fit = np.column_stack([X_fit, codes_fit])
    X_test = np.column_stack([X_test, codes_test])
    model = MLPClassifier(categorical=[30], max_epochs=30, n_jobs=1, random_state=0).fit(X_fit, y_fit)
    low, high = X_test * 0.97, X_test * 1.02  # 3 % down, 2 % up: breast cancer's inputs are all positive

    adversarial, fooled = model.attack(X_test, y_test, method="pgd", low=low, high=high, steps=10)

    assert adversarial.shape == X_test.shape and fooled.shape == (len(X_test),)
    np.testing.assert_array_equal(adversarial[:, 30], X_test[:, 30])  # the category codes stay
    assert (adversarial[:, :30] >= low[:, :30] - 1e-3 * np.abs(low[:, :30])).all()
    assert (adversarial[:, :30] <= high[:, :30] + 1e-3 * np.abs(high[:, :30])).all()
    assert np.array_equal(model.predict(adversarial) != y_test, fooled)


def test_pgd_is_at_least_as_strong_as_fgsm_and_both_grow_with_epsilon(cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, X_test, y_fit, y_test = cancer
    model = MLPClassifier(max_epochs=60, n_jobs=1, random_state=0).fit(X_fit, y_fit)
    clean_error = float(np.mean(model.predict(X_test) != y_test))

    rates = {(method, eps): float(model.attack(X_test, y_test, method=method, epsilon=eps, steps=20)[1].mean())
             for method in ("fgsm", "pgd") for eps in (0.01, 0.1, 0.3)}

    assert rates[("pgd", 0.01)] <= clean_error + 0.03  # a tiny budget breaks little beyond the clean errors
    for method in ("fgsm", "pgd"):
        assert rates[(method, 0.01)] <= rates[(method, 0.1)] <= rates[(method, 0.3)]
    for eps in (0.1, 0.3):
        assert rates[("pgd", eps)] >= rates[("fgsm", eps)]
    assert rates[("pgd", 0.3)] >= clean_error + 0.15  # an undefended MLP is fragile at 0.3 sd


def test_adversarial_training_makes_the_mlp_more_accurate_under_pgd_at_the_same_budget(
        cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, X_test, y_fit, y_test = cancer
    eps = 0.3
    settings: dict[str, Any] = {"max_epochs": 60, "n_jobs": 1, "random_state": 0}
    plain = MLPClassifier(**settings).fit(X_fit, y_fit)
    robust = MLPClassifier(**settings, adversarial={"method": "pgd", "epsilon": eps, "steps": 7,
                                                    "ratio": 1.0}).fit(X_fit, y_fit)

    def under_pgd(model: MLPClassifier) -> float:
        return 1.0 - float(model.attack(X_test, y_test, method="pgd", epsilon=eps, steps=20)[1].mean())

    assert float(np.mean(robust.predict(X_test) == y_test)) >= 0.9  # still accurate on clean rows
    assert under_pgd(robust) >= under_pgd(plain) + 0.1
    assert robust.history_.adversarial_rows > 0 and plain.history_.adversarial_rows == 0


def test_adversarial_training_is_reproducible_and_works_for_regression(cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, _, y_fit, _ = cancer
    settings: dict[str, Any] = {"max_epochs": 5, "n_jobs": 1, "random_state": 3,
                                "adversarial": {"method": "fgsm", "epsilon": 0.2, "ratio": 0.5}}
    first = MLPClassifier(**settings).fit(X_fit, y_fit)
    second = MLPClassifier(**settings).fit(X_fit, y_fit)
    regressor = MLPRegressor(**settings).fit(X_fit[:, 1:], X_fit[:, 0])

    np.testing.assert_array_equal(first.predict_proba(X_fit), second.predict_proba(X_fit))
    assert regressor.history_.adversarial_rows > 0 and np.isfinite(regressor.predict(X_fit[:, 1:])).all()


@pytest.mark.parametrize(("adversarial", "message"), [
    ({"method": "cw"}, r"method must be one of fgsm, pgd, not 'cw'"),
    ({"epsilon": 0}, r"epsilon must be a positive number of standardised units, not 0"),
    ({"ratio": 1.5}, r"ratio must be a share of each batch in \(0, 1\], not 1.5"),
    ({"steps": 0}, r"steps must be a whole number >= 1, not 0"),
    ({"eps": 0.1}, r"unknown setting\(s\) \['eps'\]; the settings are method, epsilon, steps and ratio"),
    ("pgd", r"adversarial must be None or a dict"),
])
def test_bad_adversarial_settings_are_refused_with_what_was_expected(adversarial: Any, message: str) -> None:
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(ValueError, match=message):
        MLPClassifier(max_epochs=1, adversarial=adversarial).fit(X, (X[:, 0] > 0).astype(int))


def test_an_attack_needs_a_bounded_box_and_a_fitted_model(cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, X_test, y_fit, y_test = cancer
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        MLPClassifier().attack(X_test, y_test, epsilon=0.1)
    model = MLPClassifier(max_epochs=2, n_jobs=1).fit(X_fit, y_fit)
    with pytest.raises(ValueError, match="give epsilon .standardised units., or both low and high"):
        model.attack(X_test, y_test, low=X_test)
    with pytest.raises(ValueError, match="method must be one of fgsm, pgd, not 'deepfool'"):
        model.attack(X_test, y_test, method="deepfool", epsilon=0.1)
    assert AdversarialTraining.from_param(None) is None
