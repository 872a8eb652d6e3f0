"""`aiforge ci` end to end: a candidate as good as production passes, a weaker one fails with its regression in
the Markdown summary, and bad input exits 2 with nothing run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, registered_income

PRIVATE = "  privacy: {epsilon: 0.05}\n"  # dp_linear at a tiny budget: a much weaker model on the same split


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """`income` v1 (linear) registered and promoted to production; returns its folder and environment."""
    root = tmp_path_factory.mktemp("ci")
    env = registered_income(root, rows=800, learners="[linear]")
    promoted = subprocess.run([str(EXE), "promote", "income", "1", "--to", "production"], env=env, cwd=root,
                              capture_output=True, text=True, timeout=60)
    assert promoted.returncode == 0, promoted.stderr
    return root, env


def _ci(root: Path, env: dict[str, str], project: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "ci", str(project), "--summary", str(summary), "--json"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_the_production_model_itself_passes(production: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = production
    proc = _ci(root, env, root / "income" / "aiforge.yaml", tmp_path / "summary.md")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["passed"] and out["problems"] == []
    comparison = out["comparison"]
    assert comparison["production_version"] == 1 and comparison["metric"] == "roc_auc"
    assert comparison["candidate"] == pytest.approx(comparison["production"]) and comparison["rows"] == 200
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## aiforge ci: income passed") and "| roc_auc | " in summary


def test_a_weaker_candidate_fails_on_its_regression(production: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = production
    project = root / "income" / "aiforge.yaml"
    weaker = project.with_name("weaker.yaml")
    text = project.read_text().replace("[linear]", "[dp_linear]").replace("  seed: 7\n", "  seed: 7\n" + PRIVATE)
    weaker.write_text(text.replace("roc_auc, min: 0.5", "roc_auc, min: 0.0") + "ci: {tolerance: 0.01}\n")
    proc = _ci(root, env, weaker, tmp_path / "summary.md")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["gate"]["passed"] and not out["passed"]  # the KPI gate passed: the comparison failed it
    c = out["comparison"]
    assert c["production_version"] == 1 and c["rows"] == 200 and c["tolerance"] == 0.01
    assert c["candidate"] < c["production"] - 0.01 and not c["passed"]
    assert out["model"]["status"] == "accepted" and out["model"]["version"] >= 2
    summary = (tmp_path / "summary.md").read_text()
    assert "failed ❌" in summary and "regression: roc_auc" in summary and "❌ fail" in summary


def test_bad_input_exits_2_with_a_summary_and_nothing_run(production: tuple[Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    root, env = production
    bad = tmp_path / "aiforge.yaml"
    bad.write_text((root / "income" / "aiforge.yaml").read_text().replace("data/adult.csv", str(
        root / "income" / "data" / "adult.csv")) + "ci: {metric: roc_acu}\n")
    runs = subprocess.run([str(EXE), "runs", "--json"], env=env, cwd=root, capture_output=True, text=True)
    proc = _ci(root, env, bad, tmp_path / "summary.md")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["problems"][0]["where"].endswith("(ci.metric)")
    summary = (tmp_path / "summary.md").read_text()
    assert "stopped ❌" in summary and "unknown metric 'roc_acu'" in summary and "did you mean 'roc_auc'" in summary
    after = subprocess.run([str(EXE), "runs", "--json"], env=env, cwd=root, capture_output=True, text=True)
    assert json.loads(after.stdout) == json.loads(runs.stdout)


def test_the_workflow_template_calls_commands_and_options_that_exist() -> None:
    import shlex

    import click
    import yaml

    from aiforge.cli import cli

    workflow = yaml.safe_load((Path(__file__).parents[2] / "examples" / "ci" / "aiforge-ci.yml").read_text())
    steps = workflow["jobs"]["model"]["steps"]
    calls = [shlex.split(line.split(">")[0]) for s in steps for line in s.get("run", "").splitlines()
             if line.strip().startswith("aiforge ")]
    assert [c[1] for c in calls] == ["ci", "promote"]
    for call in calls:
        command = cli.commands[call[1]]
        options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
        assert {a for a in call[2:] if a.startswith("--")} <= options, call
