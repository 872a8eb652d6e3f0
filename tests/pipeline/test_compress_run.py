"""``model.compress`` through the real ``aiforge run``: the chosen mlp is pruned (and quantised), the compressed
model is the one registered and served, the report shows the table of size, latency and accuracy before and
after, and a KPI on the accuracy drop gates it; ``aiforge validate`` refuses what cannot be compressed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project

pytest.importorskip("torch")

from aiforge.registry import ModelRegistry  # noqa: E402
from aiforge.workspace import Workspace, WorkspaceSettings  # noqa: E402

ONE_TRIAL = "  seed: 7\n  n_jobs: 1\n  ensemble: {enabled: false}\n"


def _project(folder: Path, compress: str, kpis: str, rows: int = 1000) -> Path:
    project = write_income_project(folder, rows=rows, learners="[mlp]", checks=FAST_CHECKS, kpis=kpis)
    text = project.read_text(encoding="utf-8").replace("  seed: 7\n", ONE_TRIAL + f"  compress: {compress}\n")
    project.write_text(text.replace("search: {cv: 3}", "search: {cv: 2}"), encoding="utf-8")
    return project


def _run(project: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "run", str(project)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_aiforge_run_compresses_the_mlp_reports_the_table_and_gates_on_the_accuracy_drop(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "ws")
    kpis = "  - {metric: roc_auc, min: 0.75}\n  - {metric: compression_accuracy_drop, max: 0.05}"
    project = _project(tmp_path / "income", "{prune: 0.5, structured: true, fine_tune_epochs: 10}", kpis)

    run = _run(project, env, tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "compress" in run.stderr + run.stdout  # the stage in the progress
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        registry = ModelRegistry(workspace)
        version = registry.get("income", 1)
        model = registry.load_model(version)
    finally:
        workspace.close()
    estimator = model.pipeline.named_steps["model"]
    assert type(estimator).__name__ == "CompressedMLPClassifier"
    compression = version.lineage["compression"]
    assert compression["widths_after"] == [w // 2 for w in compression["widths_before"]]
    assert compression["parameters_after"] < 0.5 * compression["parameters_before"]
    assert version.metrics["compression_accuracy_drop"] <= 0.05 and version.metrics["compression_size_ratio"] < 0.6
    assert version.status.value == "accepted"
    inference = version.lineage["inference"]  # the pruned network exports; ONNX Runtime serves it when not slower
    assert inference["onnx"]["converter"] == "torch.onnx" and inference["onnx"]["max_abs_diff"] <= 1e-5
    report = next((tmp_path / "ws" / "reports").glob("*.html")).read_text(encoding="utf-8")
    section = report[report.index('id="check-compression"'):]
    for heading in ("before and after", "bytes", "ms per row", "ms per 1000 rows", "accuracy", "roc auc",
                    "compression_accuracy_drop", "widths_after", "fine-tuned 10 epoch(s)"):
        assert heading in section, heading

    records = pd.read_csv(tmp_path / "income" / "data" / "adult.csv").drop(columns=["income"]).tail(50)
    records.to_csv(tmp_path / "new.csv", index=False)
    scored = subprocess.run([str(EXE), "predict", "--model", "income", "--input", str(tmp_path / "new.csv"),
                             "--output", str(tmp_path / "scored.parquet")], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert scored.returncode == 0, scored.stderr
    out = pd.read_parquet(tmp_path / "scored.parquet")
    np.testing.assert_allclose(out[[f"probability_{c}" for c in model.classes]].to_numpy(),
                               model.predict_proba(records), atol=1e-5)

    # quantised too, and a KPI no compressed model can meet: registered as rejected, the gate says why
    strict = "  - {metric: roc_auc, min: 0.75}\n  - {metric: compression_accuracy_drop, max: -0.5}"
    project = _project(tmp_path / "income", "{prune: 0.5, structured: true, fine_tune_epochs: 10, quantize: dynamic}",
                       strict)

    rejected = _run(project, env, tmp_path)

    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        second = ModelRegistry(workspace).get("income", 2)
    finally:
        workspace.close()
    assert second.status.value == "rejected"
    failed = [r for r in second.gate["results"] if not r["passed"]]
    assert [r["kpi"] for r in failed] == ["compression_accuracy_drop"]
    assert failed[0]["message"].startswith("compression check: compression_accuracy_drop = ")
    assert "above the maximum -0.5" in failed[0]["message"]
    assert second.lineage["compression"]["quantized"] == {"Linear": 3}
    assert "int8-quantised network does not export" in second.lineage["inference"]["onnx"]["reason"]


@pytest.mark.parametrize(("compress", "kpi", "learners", "extra", "message"), [
    (None, "compression_accuracy_drop", "[mlp]", "", "KPI 'compression_accuracy_drop' measures compression, but "
     "model.compress is not set"),
    ("{prune: 0.5}", "roc_auc", "[linear, lightgbm]", "", "model.compress compresses a torch network, but "
     "model.learners lists none"),
    ("{}", "roc_auc", "[mlp]", "", "model.compress asks for nothing"),
    ("{quantize: dynamic, fine_tune_epochs: 2}", "roc_auc", "[mlp]", "", "fine_tune_epochs follows pruning"),
    ("{prune: 0.5, quantize: int4}", "roc_auc", "[mlp]", "", "'none', 'dynamic' or 'static'"),
    ("{prune: 0.5}", "roc_auc", "[mlp]", "  fairness: {sensitive: [sex], mitigation: reweighing}",
     "model.compress cannot be combined with checks.fairness.mitigation"),
], ids=["kpi-without-compress", "no-torch-learner", "nothing-asked", "fine-tune-without-pruning", "bad-mode",
        "with-mitigation"])
def test_validate_refuses_what_cannot_be_compressed(tmp_path: Path, compress: str | None, kpi: str, learners: str,
                                                    extra: str, message: str) -> None:
    project = write_income_project(tmp_path / "p", rows=50, learners=learners, kpis=f"  - {{metric: {kpi}, max: 0.1}}"
                                   if kpi.startswith("compression") else f"  - {{metric: {kpi}, min: 0.5}}",
                                   checks=extra)
    if compress is not None:
        text = project.read_text(encoding="utf-8")
        project.write_text(text.replace("  seed: 7\n", f"  seed: 7\n  compress: {compress}\n"), encoding="utf-8")

    proc = subprocess.run([str(EXE), "validate", str(project)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in " ".join(proc.stderr.split()), proc.stderr
