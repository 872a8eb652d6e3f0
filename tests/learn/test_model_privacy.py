"""model.privacy and model.adversarial from the project file to the fitted model: every trial of a learner that
can use them gets them (recorded with the trial), the refit keeps them, the privacy check reads the spent budget
of an mlp trained by DP-SGD (and what its search spent) and audits it, and a project that asks for privacy from a
learner that cannot train privately, or without opacus, is refused with what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY, ADULT, write_income_project

from aiforge.errors import SpecError
from aiforge.learn import LEARNERS, choose_features, resolve_task, select_and_fit
from aiforge.learn._dp import privacy_budget, search_budget
from aiforge.pipeline import load_project
from aiforge.spec import (
    AdversarialSpec,
    Budget,
    EnsembleSpec,
    ModelSpec,
    PrivacySpec,
    ProblemSpec,
    SearchSpec,
    TaskKind,
)

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")


def _fit(frame: pd.DataFrame, **model: Any) -> tuple[Any, Any]:
    from aiforge.deep._runtime import torch_threads

    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="income"), table, where="aiforge.yaml:2 (problem)")
    spec = ModelSpec(search=SearchSpec(strategy="defaults", cv=2, budget=Budget(trials=2), pruner="none"),
                     ensemble=EnsembleSpec(enabled=False), seed=0, n_jobs=1, **model)
    with torch_threads(1):
        return select_and_fit(frame.drop(columns="income"), frame["income"], task, choose_features(table, "income"),
                              spec, ACCURACY)


def test_model_privacy_trains_the_mlp_by_dp_sgd_and_the_privacy_check_reads_and_audits_it() -> None:
    from aiforge.evaluate._checks import CheckContext
    from aiforge.evaluate._metrics import default_metric
    from aiforge.evaluate._privacy import privacy_check
    from aiforge.spec import Checks

    frame = pd.read_csv(ADULT, nrows=1000)
    train, test = frame.iloc[:800].reset_index(drop=True), frame.iloc[800:].reset_index(drop=True)
    model, report = _fit(train, learners=["mlp"], privacy=PrivacySpec(epsilon=2.0, delta=1e-4))

    (trial,) = report.trials
    assert trial.params["privacy"] == {"epsilon": 2.0, "delta": 1e-4, "max_grad_norm": 1.0}
    network = model.pipeline.named_steps["model"]
    assert type(network).__name__ == "MLPClassifier" and network.privacy == trial.params["privacy"]
    assert 0 < network.epsilon_ <= 2.0 and network.privacy_.steps == network.privacy_.planned_steps
    assert privacy_budget(model) == (network.epsilon_, 1e-4)
    spent, _, fits = search_budget(report.trials, report.cv_folds, regression=False)
    assert fits == 2 and spent == pytest.approx(2.0)  # 2 folds, each row in the training part of 1

    checks = Checks.model_validate({"privacy": {"max_rows": 200}})
    ctx = CheckContext(model, train, test, "income", TaskKind.BINARY, default_metric(TaskKind.BINARY), 0, checks,
                       extra={"trials": [t.to_json() for t in report.trials], "cv_folds": report.cv_folds})
    result = privacy_check(ctx)
    assert result.status == "ok"
    assert (result.metrics["privacy_epsilon"], result.metrics["privacy_delta"]) == (network.epsilon_, 1e-4)
    assert result.metrics["privacy_epsilon_spent"] == pytest.approx(network.epsilon_ + 2.0)
    assert 0.35 < result.metrics["membership_inference_auc"] < 0.65
    assert result.details["attacks"] and result.details["members"] == 200


def test_model_privacy_is_dp_linear_s_budget_too() -> None:
    privacy = ModelSpec(privacy=PrivacySpec(epsilon=0.5, delta=1e-6))
    assert LEARNERS["dp_linear"].fixed_params(privacy, TaskKind.BINARY) == {"epsilon": 0.5}
    assert LEARNERS["dp_linear"].fixed_params(privacy, TaskKind.REGRESSION) == {"epsilon": 0.5, "delta": 1e-6}
    assert LEARNERS["dp_linear"].fixed_params(ModelSpec(), TaskKind.BINARY) == {}
    assert LEARNERS["mlp"].fixed_params(privacy, TaskKind.BINARY) == {
        "privacy": {"epsilon": 0.5, "delta": 1e-6, "max_grad_norm": 1.0}}


def test_model_adversarial_trains_every_mlp_trial_and_the_refit_adversarially() -> None:
    frame = pd.read_csv(ADULT, nrows=1200)
    model, report = _fit(frame, learners=["mlp", "linear"],
                         adversarial=AdversarialSpec(method="fgsm", epsilon=0.2, ratio=0.5))

    mlp_trials = [t for t in report.trials if t.learner == "mlp"]
    assert mlp_trials and all(t.params["adversarial"] == {"method": "fgsm", "epsilon": 0.2, "steps": 7, "ratio": 0.5}
                              for t in mlp_trials)
    assert all("adversarial" not in t.params for t in report.trials if t.learner == "linear")
    if report.best == "mlp":
        assert model.pipeline.named_steps["model"].history_.adversarial_rows > 0
    assert LEARNERS["linear"].fixed_params(ModelSpec(adversarial=AdversarialSpec()), TaskKind.BINARY) == {}


@pytest.mark.parametrize(("learners", "privacy", "message"), [
    ("[lightgbm, mlp]", "{epsilon: 1.0}",
     "model.privacy trains every learner with differential privacy, but 'lightgbm' cannot train privately"),
    ("[mlp]", "{epsilon: 0}", "greater than 0"),
    ("[mlp]", "{epsilon: 1.0, delta: 1.5}", "less than 1"),
    ("[mlp]", "{epsilon: 1.0, noise: 2}", "valid keys here: delta, epsilon, max_grad_norm"),
])
def test_a_project_asking_for_privacy_it_cannot_have_is_refused(tmp_path: Path, learners: str, privacy: str,
                                                                message: str) -> None:
    project = write_income_project(tmp_path, rows=100, learners=f"{learners}\n  privacy: {privacy}")

    with pytest.raises(SpecError) as caught:
        load_project(project)

    text = str(caught.value)
    assert message in text
    assert "(model.privacy" in text  # where: the file, the line and the field


def test_without_opacus_validate_names_the_privacy_extra(tmp_path: Path) -> None:
    import opacus

    project = write_income_project(tmp_path / "income", rows=100, learners="[mlp]\n  privacy: {epsilon: 1.0}")
    site = Path(opacus.__file__).resolve().parents[1]
    farm = tmp_path / "site-packages-without-opacus"
    farm.mkdir()
    for entry in site.iterdir():
        if entry.name.split("-")[0] not in ("opacus", "opt_einsum") and entry.suffix != ".pth":
            (farm / entry.name).symlink_to(entry)
    source = Path(__file__).resolve().parents[2] / "src"
    code = (f"import sys\nsys.path[:0] = [{str(farm)!r}, {str(source)!r}]\n"
            f"from aiforge.cli import main\nsys.argv = ['aiforge', 'validate', {str(project)!r}]\nmain()")
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")}, timeout=120)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "learner 'mlp' trains privately with the optional package 'opacus', which is not installed" in proc.stderr
    assert "pip install 'aiforge[privacy]', or remove 'mlp' from model.learners" in proc.stderr
    assert "model.privacy" in proc.stderr
