"""The ``mlp`` learner in the life cycle: searched by every strategy for every tabular task, refit with the
epochs early stopping chose, named in a project file, registered by ``aiforge run`` and served by
``aiforge predict`` and ``aiforge serve``; without torch, a clear error that names the extra."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY, ADULT, EXE, FAST_CHECKS, NEG_RMSE, running_server, serve_env, write_income_project

pytest.importorskip("torch")

from aiforge.learn import LEARNERS, SelectionReport, TabularModel, choose_features, resolve_task, select_and_fit  # noqa: E402
from aiforge.learn._learners import FIRST_TREES  # noqa: E402
from aiforge.learn._search import TrialRecord  # noqa: E402
from aiforge.learn._select import _refit_params  # noqa: E402
from aiforge.learn._space import Choice, FloatRange, IntRange  # noqa: E402
from aiforge.registry import ModelRegistry  # noqa: E402
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind  # noqa: E402
from aiforge.workspace import Workspace, WorkspaceSettings  # noqa: E402


def _frame(kind: TaskKind, n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two informative numbers, an informative category with a missing value, and noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue", None], size=n, p=[0.3, 0.3, 0.3, 0.1])
    signal = 2 * x1 + np.sin(3 * x2) + (colour == "red") * 1.5 + rng.normal(scale=0.3, size=n)
    if kind is TaskKind.BINARY:
        y: Any = np.where(signal > 0.5, "yes", "no")
    elif kind is TaskKind.MULTICLASS:
        y = np.select([signal < -0.5, signal < 1.5], ["low", "mid"], "high")
    else:
        y = 10 * signal + 3 * x2
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "noise": rng.normal(size=n), "y": y})


def _select(kind: TaskKind, search: SearchSpec, frame: pd.DataFrame) -> tuple[TabularModel, SelectionReport]:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=kind, target="y"), table, where="aiforge.yaml:2 (problem)")
    spec = ModelSpec(learners=["mlp"], search=search, ensemble=EnsembleSpec(enabled=False), seed=5, n_jobs=1)
    objective = NEG_RMSE if kind is TaskKind.REGRESSION else ACCURACY
    return select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec, objective)


def _inside(space: dict[str, Any], params: dict[str, Any]) -> bool:
    for name, value in params.items():
        domain = space[name]
        if isinstance(domain, IntRange | FloatRange) and not domain.low <= value <= domain.high:
            return False
        if isinstance(domain, Choice) and value not in domain.values:
            return False
    return True


# the grid's second point would be its slowest corner (lr 1e-4 for 200 epochs, batches of 16): two trials
@pytest.mark.parametrize(("kind", "strategy", "trials"), [(TaskKind.BINARY, "bayesian", 3),
                                                          (TaskKind.MULTICLASS, "random", 3),
                                                          (TaskKind.REGRESSION, "grid", 2)])
def test_every_strategy_tunes_the_mlp_and_the_refit_trains_the_epochs_early_stopping_chose(
        kind: TaskKind, strategy: str, trials: int) -> None:
    frame = _frame(kind)
    test = _frame(kind, n=400, seed=1)
    search = SearchSpec(strategy=strategy, cv=2, grid_points=2, budget=Budget(trials=trials))

    model, report = _select(kind, search, frame)

    space = LEARNERS["mlp"].search_space(len(frame), kind)
    assert len(report.trials) == trials and all(t.status == "complete" for t in report.trials), report.trials
    assert all(_inside(space, t.params) for t in report.trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in report.trials}) == trials
    best = next(t for t in report.trials if t.score == report.best_score)
    assert best.rounds is not None and report.best_params["max_epochs"] == best.rounds
    assert model.pipeline.named_steps["model"].n_epochs_ == best.rounds  # the refit trains exactly those
    if kind is TaskKind.REGRESSION:
        truth = test["y"].to_numpy()
        r2 = 1 - np.mean((model.predict(test) - truth) ** 2) / np.var(truth)
        assert r2 > 0.8, r2
    else:
        truth = test["y"].to_numpy()
        majority = pd.Series(truth).value_counts(normalize=True).iloc[0]  # what a constant guess scores
        assert np.mean(model.predict(test) == truth) > majority + 0.25, majority
        assert model.predict_proba(test).shape == (400, len(model.classes))


def test_a_refit_short_of_time_trains_fewer_epochs_never_more_than_chosen() -> None:
    def trial(rounds: int) -> TrialRecord:
        params = LEARNERS["mlp"].init_config(600, TaskKind.BINARY)
        return TrialRecord(0, "mlp", params, "complete", [0.9, 0.9], 0.9, seconds=10.0, rounds=rounds)

    assert _refit_params(trial(40), 2)["max_epochs"] == 40  # the epochs early stopping chose
    assert _refit_params(trial(40), 2, seconds_left=5.0)["max_epochs"] == 20  # half the time: half of them
    assert _refit_params(trial(40), 2, seconds_left=0.0)["max_epochs"] == FIRST_TREES  # at least a few
    assert _refit_params(trial(3), 2, seconds_left=0.0)["max_epochs"] == 3  # never more than chosen


def test_the_search_space_grows_with_the_data() -> None:
    small = LEARNERS["mlp"].search_space(300, TaskKind.BINARY)
    large = LEARNERS["mlp"].search_space(1_000_000, TaskKind.BINARY)

    assert small["hidden_width"].high < large["hidden_width"].high  # type: ignore[attr-defined]
    assert small["batch_size"].high < large["batch_size"].low  # type: ignore[attr-defined]
    assert small["max_epochs"].high > large["max_epochs"].high  # type: ignore[attr-defined]
    assert "class_weight" in small and "class_weight" not in LEARNERS["mlp"].search_space(300, TaskKind.REGRESSION)


# --- without torch ----------------------------------------------------------------------------------


def _without_torch(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` run by this Python as if torch were not installed: without the site hook, on a copy (of links)
    of site-packages that leaves torch out, and aiforge's sources."""
    import torch

    site = Path(torch.__file__).resolve().parents[1]
    farm = tmp_path / "site-packages-without-torch"
    if not farm.exists():
        farm.mkdir()
        for entry in site.iterdir():
            if entry.name.split("-")[0] not in ("torch", "functorch", "torchgen") and entry.suffix != ".pth":
                (farm / entry.name).symlink_to(entry)
    source = Path(__file__).resolve().parents[2] / "src"
    prelude = f"import sys\nsys.path[:0] = [{str(farm)!r}, {str(source)!r}]\n"
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], capture_output=True, text=True,
                          cwd=tmp_path, env=env or dict(os.environ), timeout=120)


def test_without_torch_validate_names_the_extra_and_the_estimators_say_so(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=200, learners="[linear, mlp]")
    env = {**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")}

    validate = _without_torch("import importlib.util\nassert importlib.util.find_spec('torch') is None\n"
                              f"from aiforge.cli import main\nsys.argv = ['aiforge', 'validate', {str(project)!r}]\n"
                              "main()", tmp_path, env)
    fit = _without_torch("from aiforge.deep import MLPClassifier\nfrom aiforge.errors import MissingDependency\n"
                         "try:\n    MLPClassifier().fit([[0.0], [1.0]], [0, 1])\n"
                         "except MissingDependency as exc:\n    print('MISSING', exc.message, '|', exc.hint)\n",
                         tmp_path)

    assert validate.returncode == 2, validate.stderr
    assert "learner 'mlp' needs the optional package 'torch'" in validate.stderr
    assert "pip install 'aiforge[deep]', or remove 'mlp' from model.learners" in validate.stderr
    assert "model.learners[1]" in validate.stderr
    assert fit.stdout.strip() == ("MISSING the optional package 'torch' is not installed: MLPClassifier needs it | "
                                  "pip install 'aiforge[deep]'"), fit.stderr
    assert not (tmp_path / "ws").exists()


def test_validating_a_project_that_names_mlp_imports_no_torch(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=200, learners="[mlp]")
    probe = ("import sys\nfrom aiforge.cli import cli\ntry:\n"
             f"    cli(['validate', {str(project)!r}], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
             "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sklearn'}))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "AIFORGE_WORKSPACE": str(tmp_path / "ws")})

    assert "is valid" in proc.stdout and "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


# --- end to end -------------------------------------------------------------------------------------


def _records(n: int) -> list[dict[str, Any]]:
    numeric = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}
    with ADULT.open(encoding="utf-8") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), 3000, 3000 + n))
    return [{k: (int(v) if k in numeric and v != "" else (v or None)) for k, v in row.items() if k != "income"}
            for row in rows]


def test_aiforge_run_registers_an_mlp_that_predict_and_serve_answer_with(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "ws")
    project = write_income_project(tmp_path / "income", rows=1500, learners="[mlp]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.8}")
    # one core, and the best trial alone (not an ensemble of the two), so that the registered estimator is the mlp
    text = project.read_text(encoding="utf-8").replace("  seed: 7\n",
                                                       "  seed: 7\n  n_jobs: 1\n  ensemble: {enabled: false}\n")
    project.write_text(text.replace("search: {cv: 3}", "search: {cv: 2, strategy: random, budget: {trials: 2}}"),
                       encoding="utf-8")

    run = subprocess.run([str(EXE), "run", str(project)], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr

    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        registry = ModelRegistry(workspace)
        version = registry.get("income", 1)
        model = registry.load_model(version)
    finally:
        workspace.close()
    assert model.learner == "mlp" and version.metrics["roc_auc"] >= 0.8
    estimator = model.pipeline.named_steps["model"]
    assert type(estimator).__name__ == "MLPClassifier" and estimator.get_params()["n_jobs"] == 1
    inference = version.lineage["inference"]  # the network and its input handling, exported by torch.onnx
    assert inference["onnx"]["converter"] == "torch.onnx" and inference["onnx"]["max_abs_diff"] <= 1e-5
    assert inference["path"] in ("onnxruntime", "estimator")  # ONNX Runtime when it is not slower for one row

    records = _records(200)
    frame = pd.DataFrame(records)
    pd.DataFrame(records).to_csv(tmp_path / "new.csv", index=False)
    scored = subprocess.run([str(EXE), "predict", "--model", "income", "--input", str(tmp_path / "new.csv"),
                             "--output", str(tmp_path / "scored.parquet")], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert scored.returncode == 0, scored.stderr
    out = pd.read_parquet(tmp_path / "scored.parquet")
    np.testing.assert_allclose(out[[f"probability_{c}" for c in model.classes]].to_numpy(),
                               model.predict_proba(frame), atol=1e-5)  # ONNX Runtime's float32, within parity

    with running_server([], env, tmp_path, tmp_path / "server.log") as server:
        response = server.client.post("/v1/models/income/predict", json={"records": records[:20]})
    assert response.status_code == 200, response.text
    served = [p["probabilities"][">50K"] for p in response.json()["predictions"]]
    np.testing.assert_allclose(served, model.predict_proba(frame.head(20))[:, 1], atol=1e-5)
