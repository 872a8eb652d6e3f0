"""DP-SGD (Opacus) inside aiforge.deep's loop: the budget spent never exceeds the target, stopping early
spends less, the noise grows as epsilon shrinks, a model trained with a tiny epsilon leaks less membership
than an overfitted one, and without opacus the error names the extra."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from aiforge.deep import MLPClassifier, MLPRegressor  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.evaluate._privacy import membership_attack  # noqa: E402
from aiforge.learn._dp import privacy_budget  # noqa: E402

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    return X_fit, X_test, y_fit, y_test


@pytest.mark.parametrize("epsilon", [0.3, 1.0, 8.0])
def test_dp_sgd_spends_at_most_the_target_epsilon_and_records_it(cancer: tuple[np.ndarray, ...],
                                                                 epsilon: float) -> None:
    X_fit, X_test, y_fit, y_test = cancer
    model = MLPClassifier(max_epochs=20, batch_size=32, lr=0.03, validation_fraction=0.0, n_jobs=1, random_state=0,
                          privacy={"epsilon": epsilon, "delta": 1e-5}).fit(X_fit, y_fit)

    spent = model.privacy_
    assert spent.steps == spent.planned_steps == 20 * int(np.ceil(len(X_fit) / 32))
    assert 0.9 * epsilon <= model.epsilon_ <= epsilon  # calibrated to the target, never above it
    assert model.delta_ == 1e-5 and spent.max_grad_norm == 1.0 and spent.accountant == "rdp"
    assert privacy_budget(model) == (model.epsilon_, 1e-5)
    assert model.history_.to_json()["privacy"]["epsilon"] == model.epsilon_
    assert model.module_config_["batch_norm"] is False  # batch norm mixes rows: no per-row gradient
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.module_.modules())
    if epsilon >= 1.0:  # 0.90-0.95 over 12 fits at epsilon 1 (fresh noise each time); the majority class: 0.63
        assert float(np.mean(model.predict(X_test) == y_test)) >= 0.8


def test_the_noise_grows_as_epsilon_shrinks_and_stopping_early_spends_less(cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, _, y_fit, _ = cancer
    settings: dict[str, Any] = {"batch_size": 32, "n_jobs": 1, "random_state": 0}
    tight = MLPClassifier(max_epochs=10, validation_fraction=0.0, privacy={"epsilon": 0.5}, **settings).fit(X_fit,
                                                                                                          y_fit)
    loose = MLPClassifier(max_epochs=10, validation_fraction=0.0, privacy={"epsilon": 5.0}, **settings).fit(X_fit,
                                                                                                          y_fit)
    stopped = MLPClassifier(max_epochs=100, time_budget=0.3, privacy={"epsilon": 2.0}, **settings).fit(X_fit, y_fit)

    assert tight.privacy_.noise_multiplier > 2 * loose.privacy_.noise_multiplier
    assert stopped.history_.stopped == "deadline"
    assert stopped.privacy_.steps < stopped.privacy_.planned_steps
    assert stopped.epsilon_ < 2.0


def test_a_tiny_epsilon_leaks_less_membership_than_an_overfitted_network() -> None:
    """Adult: 300 members and 300 non-members drawn from the same 4,000 rows; the loss-threshold attack of the
    privacy check. On this draw the overfitted MLP's AUC is 0.63; 15 fits at epsilon 0.1 (fresh noise each)
    gave 0.47-0.52, within the attack's sampling error of 0.5 (its standard error here: 0.024)."""
    frame = pd.read_csv(ADULT, nrows=4000)
    categorical = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex",
                   "native_country"]
    codes = np.column_stack([pd.factorize(frame[c])[0] for c in categorical]).astype(float)
    X = np.column_stack([frame[ADULT_NUMERIC].to_numpy(dtype=float), codes])
    y = (frame["income"] == ">50K").to_numpy(dtype=int)
    order = np.random.default_rng(1).permutation(len(X))
    members, outsiders = order[:300], order[300:600]
    shared: dict[str, Any] = {"categorical": list(range(5, 13)), "hidden_width": 128, "dropout": 0.0,
                              "weight_decay": 0.0, "validation_fraction": 0.0, "n_jobs": 1, "random_state": 0}
    overfit = MLPClassifier(**shared, max_epochs=60, patience=None, lr=1e-2, batch_size=32)
    private = MLPClassifier(**shared, max_epochs=20, lr=0.03, batch_size=64, privacy={"epsilon": 0.1})

    def audit(model: MLPClassifier) -> float:
        model.fit(X[members], y[members])

        def score(rows: np.ndarray) -> np.ndarray:  # minus the loss of the true class
            return np.log(np.clip(model.predict_proba(X[rows])[np.arange(len(rows)), y[rows]], 1e-12, 1.0))

        return membership_attack(score(members), score(outsiders))["auc"]

    leaky, tight = audit(overfit), audit(private)

    assert leaky >= 0.6
    assert tight <= 0.5 + 3 * 0.024 and tight <= leaky - 0.06
    assert private.epsilon_ <= 0.1


def test_dp_models_draw_fresh_noise_pickle_and_regress(cancer: tuple[np.ndarray, ...]) -> None:
    X_fit, _, y_fit, _ = cancer
    settings: dict[str, Any] = {"max_epochs": 5, "validation_fraction": 0.0, "n_jobs": 1, "random_state": 0,
                                "privacy": {"epsilon": 1.0}}
    first = MLPClassifier(**settings).fit(X_fit, y_fit)
    second = MLPClassifier(**settings).fit(X_fit, y_fit)
    regressor = MLPRegressor(**settings).fit(X_fit[:, 1:], X_fit[:, 0])
    loaded = pickle.loads(pickle.dumps(first))

    assert not np.array_equal(first.predict_proba(X_fit), second.predict_proba(X_fit))  # noise from OS entropy
    np.testing.assert_array_equal(loaded.predict_proba(X_fit), first.predict_proba(X_fit))
    assert loaded.epsilon_ == first.epsilon_
    assert regressor.epsilon_ <= 1.0 and np.isfinite(regressor.predict(X_fit[:, 1:])).all()
    refit = first.set_params(privacy=None).fit(X_fit, y_fit)  # a refit without privacy forgets the budget
    assert privacy_budget(refit) is None and not hasattr(refit, "epsilon_")


@pytest.mark.parametrize(("privacy", "amp", "message"), [
    ({"epsilon": -1}, "auto", r"epsilon must be a finite number > 0, not -1"),
    ({"epsilon": 1.0, "delta": 1.0}, "auto", r"delta must be in \(0, 1\), not 1.0"),
    ({"epsilon": 1.0, "noise": 2}, "auto", r"unknown setting\(s\) \['noise'\]"),
    ({"delta": 1e-5}, "auto", r"privacy must be None or a dict with at least epsilon"),
    ({"epsilon": 1.0}, "bfloat16", r"DP-SGD trains in float32: mixed precision \(bfloat16\) is not supported"),
])
def test_bad_privacy_settings_are_refused_with_what_was_expected(privacy: Any, amp: str, message: str) -> None:
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(ValueError, match=message):
        MLPClassifier(max_epochs=1, amp=amp, privacy=privacy).fit(X, (X[:, 0] > 0).astype(int))


def test_without_opacus_a_private_fit_names_the_extra(tmp_path: Path) -> None:
    import opacus

    site = Path(opacus.__file__).resolve().parents[1]
    farm = tmp_path / "site-packages-without-opacus"
    farm.mkdir()
    for entry in site.iterdir():
        if entry.name.split("-")[0] not in ("opacus", "opt_einsum") and entry.suffix != ".pth":
            (farm / entry.name).symlink_to(entry)
    source = Path(__file__).resolve().parents[2] / "src"
    code = (f"import sys\nsys.path[:0] = [{str(farm)!r}, {str(source)!r}]\n"
            "import importlib.util\nassert importlib.util.find_spec('opacus') is None\n"
            "from aiforge.deep import MLPClassifier\nfrom aiforge.errors import MissingDependency\n"
            "try:\n    MLPClassifier(max_epochs=1, privacy={'epsilon': 1.0}).fit([[0.0], [1.0], [2.0]], [0, 1, 1])\n"
            "except MissingDependency as exc:\n    print('MISSING', exc.message, '|', exc.hint)\n")
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ), timeout=120)

    assert proc.stdout.strip() == ("MISSING the optional package 'opacus' is not installed: differentially private "
                                   "training needs it | pip install 'aiforge[privacy]'"), proc.stderr
