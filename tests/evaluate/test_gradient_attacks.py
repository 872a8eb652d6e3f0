"""FGSM and PGD in the robustness check: they run when the model is a torch network (an mlp on Adult), keep to
the check's box (numeric inputs within epsilon sd, integers whole, categoricals fixed), report figures a KPI
gates on with what to try, an adversarially trained mlp does better under them, and for other models they
neither run nor load torch."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.evaluate._checks import CHECK_METRICS, CheckContext, run_checks  # noqa: E402
from aiforge.evaluate._gate import evaluate_gate  # noqa: E402
from aiforge.evaluate._gradient_attacks import GRADIENT_METRICS  # noqa: E402
from aiforge.evaluate._metrics import default_metric  # noqa: E402
from aiforge.learn import TabularModel  # noqa: E402
from aiforge.learn._learners import LEARNERS  # noqa: E402
from aiforge.learn._model import FeatureSet  # noqa: E402
from aiforge.learn._select import _fit_pipeline  # noqa: E402
from aiforge.spec import Checks, Kpi, TaskKind  # noqa: E402

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
CLASSES = ["<=50K", ">50K"]
FEATURES = FeatureSet(["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"],
                      ["workclass", "education", "marital_status", "occupation", "relationship", "sex"])


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT, nrows=4000)
    return frame.iloc[:3000].reset_index(drop=True), frame.iloc[3000:].reset_index(drop=True)


def _mlp(train: pd.DataFrame, **params: Any) -> TabularModel:
    with torch_threads(1):
        config = {**LEARNERS["mlp"].init_config(len(train), TaskKind.BINARY), "max_epochs": 20, **params}
        y = (train["income"] == ">50K").to_numpy(dtype=int)
        pipe = _fit_pipeline("mlp", TaskKind.BINARY, FEATURES, 0, 1, config, train, y)
    return TabularModel(pipe, TaskKind.BINARY, CLASSES, FEATURES, "mlp", "income")


def _check(model: TabularModel, train: pd.DataFrame, test: pd.DataFrame, **robustness: Any) -> Any:
    checks = Checks.model_validate({"robustness": {"max_rows": 200, **robustness}})
    ctx = CheckContext(model, train, test, "income", TaskKind.BINARY, default_metric(TaskKind.BINARY), 0, checks)
    return run_checks(ctx, ["robustness"])["robustness"]


@pytest.fixture(scope="module")
def plain(adult: tuple[pd.DataFrame, pd.DataFrame]) -> TabularModel:
    return _mlp(adult[0])


def test_fgsm_and_pgd_run_on_an_mlp_and_report_figures_a_kpi_gates_on(adult: Any, plain: TabularModel) -> None:
    train, test = adult
    result = _check(plain, train, test, epsilon=0.3)

    assert result.status == "ok", result.reason
    m, accuracy = result.metrics, result.details["accuracy"]
    assert {"fgsm_success_rate", "accuracy_under_fgsm", "pgd_success_rate", "accuracy_under_pgd"} <= set(m)
    assert m["accuracy_under_pgd"] == pytest.approx(accuracy * (1 - m["pgd_success_rate"]))
    assert m["accuracy_under_fgsm"] == pytest.approx(accuracy * (1 - m["fgsm_success_rate"]))
    assert 0.02 < m["pgd_success_rate"] < 0.9  # an undefended MLP on Adult breaks on some rows at 0.3 sd
    for method in ("fgsm", "pgd"):
        found = result.details[method]
        assert found["rows_broken"] == round(m[f"{method}_success_rate"] * 200)
        assert found["epsilon"] == 0.3 and found["seconds"] < 10
    assert result.details["pgd"]["steps"] == 20 and "FGSM and PGD" in result.method
    verdict = evaluate_gate([Kpi(metric="pgd_success_rate", max=0.0)], m)
    assert not verdict.passed
    assert verdict.results[0].message.startswith("robustness check: pgd_success_rate = ")
    assert "model.adversarial: {method: pgd" in verdict.results[0].message  # what to try
    assert all(metric.name in CHECK_METRICS for metric in GRADIENT_METRICS)


def test_the_adversarial_rows_keep_to_the_box_and_change_the_decision(adult: Any, plain: TabularModel) -> None:
    train, test = adult
    result = _check(plain, train, test, epsilon=0.3)
    sd = train[FEATURES.numeric].std(ddof=0)

    shown = [e for e in result.details["examples"] if e["attack"] in ("fgsm", "pgd")]
    assert shown
    for example in shown:
        column = example["column"]
        assert column in FEATURES.numeric  # categoricals are fixed
        original = test.loc[example["row"], column]
        assert original == example["original"]
        assert abs(example["adversarial"] - original) <= 0.3 * sd[column] + 1e-9
        assert float(example["adversarial"]).is_integer()  # Adult's numeric inputs are whole numbers
        assert train[column].min() <= example["adversarial"] <= max(train[column].max(), original)
    rows = {e["row"] for e in shown}
    for row in rows:  # apply every change shown for a row: the model's own decision flips
        record = test.loc[[row]].copy()
        changes = [e for e in shown if e["row"] == row and e["attack"] == "pgd"] or \
            [e for e in shown if e["row"] == row]
        for e in changes:
            if e["attack"] == changes[0]["attack"]:
                record[e["column"]] = e["adversarial"]
        assert plain.predict(record)[0] != test.loc[row, "income"]


def test_an_adversarially_trained_mlp_is_more_accurate_under_pgd(adult: Any, plain: TabularModel) -> None:
    train, test = adult
    robust = _mlp(train, adversarial={"method": "pgd", "epsilon": 0.3, "steps": 7, "ratio": 1.0})

    before, after = _check(plain, train, test, epsilon=0.3), _check(robust, train, test, epsilon=0.3)

    print(f"\nAdult mlp, 0.3 sd: plain {before.metrics}\nadversarially trained {after.metrics}")
    assert after.metrics["accuracy_under_pgd"] > before.metrics["accuracy_under_pgd"] + 0.03
    assert after.details["accuracy"] > 0.75


def test_other_models_get_no_gradient_attack_and_do_not_load_torch(tmp_path: Path) -> None:
    probe = f"""
import sys
import pandas as pd
from aiforge.evaluate._checks import CheckContext, run_checks
from aiforge.evaluate._metrics import default_metric
from aiforge.evaluate._gradient_attacks import torch_network
from aiforge.learn import TabularModel
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import FeatureSet
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, TaskKind
frame = pd.read_csv({str(ADULT)!r}, nrows=2000)
train, test = frame.iloc[:1500].reset_index(drop=True), frame.iloc[1500:].reset_index(drop=True)
features = FeatureSet({FEATURES.numeric!r}, {FEATURES.categorical!r})
config = {{**LEARNERS["lightgbm"].init_config(1500, TaskKind.BINARY), "n_estimators": 50}}
pipe = _fit_pipeline("lightgbm", TaskKind.BINARY, features, 0, 1, config, train,
                     (train["income"] == ">50K").to_numpy(dtype=int))
model = TabularModel(pipe, TaskKind.BINARY, ["<=50K", ">50K"], features, "lightgbm", "income")
checks = Checks.model_validate({{"robustness": {{"max_rows": 50, "attack": "none"}}}})
ctx = CheckContext(model, train, test, "income", TaskKind.BINARY, default_metric(TaskKind.BINARY), 0, checks)
result = run_checks(ctx, ["robustness"])["robustness"]
print("NETWORK", torch_network(model), "FIGURES", sorted(result.metrics), "TORCH", "torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=180,
                          env=dict(os.environ))

    assert proc.stdout.strip() == ("NETWORK None FIGURES ['accuracy_under_perturbation', "
                                   "'perturbation_success_rate'] TORCH False"), proc.stderr
