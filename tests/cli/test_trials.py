"""End to end through the real CLI: a Bayesian search's trials, listed, shown and reported."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import write_income_project

TRIALS = 8
SEARCH = "  search: {strategy: bayesian, cv: 3, budget: {trials: 8}}\n"


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _bayesian_income_project(folder: Path) -> Path:
    """The income example with three learners and a Bayesian search of eight trials."""
    project = write_income_project(folder, rows=1500, learners="[linear, lightgbm, hist_gradient_boosting]")
    text = project.read_text(encoding="utf-8")
    assert "  search: {cv: 3}\n" in text
    project.write_text(text.replace("  search: {cv: 3}\n", SEARCH), encoding="utf-8")
    return project


def _table_numbers(stdout: str) -> list[int]:
    """The '#' column of a trials table (wrapped rows continue with an empty first cell)."""
    return [int(m.group(1)) for m in re.finditer(r"^│\s*(\d+)\s*│", stdout, flags=re.MULTILINE)]


def test_trials_lists_the_search_of_a_run(aiforge, tmp_path: Path) -> None:
    project = _bayesian_income_project(tmp_path / "x")
    aiforge("run", str(project), check=True)
    [run] = _json(aiforge("runs", "--json"))

    listed = _json(aiforge("trials", run["id"], "--sort", "number", "--json"))
    trials = listed["trials"]
    assert listed["total"] == TRIALS
    assert listed["run_id"] == run["id"]
    assert listed["search"]["strategy"] == "bayesian" and listed["search"]["cv_folds"] == 3
    assert "trials" not in listed["search"]
    assert len(trials) == TRIALS
    for t in trials:
        assert {"number", "learner", "params", "score", "status", "seconds"} <= set(t)
        assert t["learner"] in ("linear", "lightgbm", "hist_gradient_boosting")
        assert t["status"] in ("complete", "pruned") and t["seconds"] >= 0
        assert (t["score"] is None) == (t["status"] != "complete")
        assert isinstance(t["params"], dict) and t["params"]
    assert [t["learner"] for t in trials[:3]] == ["lightgbm", "hist_gradient_boosting", "linear"]
    assert any(t["status"] == "complete" for t in trials)

    assert [t["number"] for t in trials] == list(range(TRIALS))
    best_first = _json(aiforge("trials", run["id"], "--limit", "2", "--json"))["trials"]
    assert len(best_first) == 2 and best_first[0]["status"] == "complete"
    scores = [t["score"] for t in trials if t["score"] is not None]
    assert best_first[0]["score"] == max(scores)

    table = aiforge("trials", run["id"], "--sort", "number")
    assert table.returncode == 0, table.stderr
    assert f"{TRIALS} trials, strategy bayesian, objective roc_auc" in table.stdout
    assert _table_numbers(table.stdout) == list(range(1, TRIALS + 1))
    assert all(name in table.stdout for name in ("linear", "lightgbm", "hist_gradient_boosting"))

    best_first = aiforge("trials", run["id"])
    assert best_first.returncode == 0, best_first.stderr
    complete = sorted((t for t in trials if t["status"] == "complete"), key=lambda t: (-t["score"], t["number"]))
    shown = _table_numbers(best_first.stdout)
    assert sorted(shown) == list(range(1, TRIALS + 1))
    assert shown[:len(complete)] == [t["number"] + 1 for t in complete]
    assert f"{complete[0]['score']:.4f}" in best_first.stdout

    shown_run = _json(aiforge("show", run["id"], "--json"))
    [train] = [s for s in shown_run["stages"] if s["name"] == "train"]
    selection = train["outputs"]["selection"]
    assert selection["strategy"] == "bayesian"
    assert [t["number"] for t in selection["trials"]] == list(range(TRIALS))

    report = Path(_json(aiforge("report", run["id"], "--json"))["report"])
    html = report.read_text(encoding="utf-8")
    assert "<figcaption>Optimisation history</figcaption>" in html
    assert "Best configuration" in html
    assert "Strategy <b>bayesian</b>: 8 trials" in html

    unknown = aiforge("trials", "no-such-run")
    assert unknown.returncode == 2
    assert "no run 'no-such-run'" in unknown.stderr and "aiforge runs" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    error = json.loads(aiforge("trials", "no-such-run", "--json").stdout)["error"]
    assert error["code"] == "run" and error["problems"][0]["message"] == "no run 'no-such-run'"
