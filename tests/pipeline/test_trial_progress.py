"""The life cycle's progress: every search trial reaches the face while the train stage runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from conftest import write_income_project

from aiforge.pipeline import StageStatus, load_project, run_project
from aiforge.workspace import WorkspaceSettings


class Collecting:
    """A Progress that keeps every call, in order (trials arrive from the search's worker threads)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def stage_started(self, name: str) -> None:
        self.calls.append(("started", name))

    def stage_step(self, name: str, message: str) -> None:
        with self._lock:
            self.calls.append(("step", name, message))

    def stage_trial(self, name: str, trial: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(("trial", name, trial))

    def stage_finished(self, name: str, status: StageStatus, seconds: float, note: str) -> None:
        self.calls.append(("finished", name, status))

    def trials(self) -> list[dict[str, Any]]:
        return [c[2] for c in self.calls if c[0] == "trial"]


def test_every_trial_of_the_search_reaches_stage_trial_during_the_train_stage(tmp_path: Path) -> None:
    path = write_income_project(tmp_path / "income", rows=800)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "search: {cv: 3}", "search: {strategy: random, cv: 2, budget: {trials: 5}}\n  n_jobs: 2"), encoding="utf-8")
    settings = WorkspaceSettings(root=tmp_path / "ws")
    progress = Collecting()

    result = run_project(load_project(path), settings, progress=progress)

    recorded = {t.number: t for t in result.selection.trials}
    seen = progress.trials()
    assert len(recorded) == 5
    assert sorted(t["number"] for t in seen) == sorted(recorded)
    for event in seen:
        record = recorded[event["number"]]
        assert {k: event[k] for k in record.to_json()} == record.to_json()
        assert event["objective"] == result.selection.objective == "roc_auc"
        assert event["higher_is_better"] is True
        assert (event["budget_seconds"], event["budget_trials"]) == (None, 5)
        assert event["elapsed"] > 0
    assert {c[1] for c in progress.calls if c[0] == "trial"} == {"train"}
    names = [c[:2] for c in progress.calls if c[0] != "step"]
    first, last = names.index(("trial", "train")), len(names) - 1 - names[::-1].index(("trial", "train"))
    assert names[first - 1] == ("started", "train")
    assert names[last + 1] == ("finished", "train")

    again = Collecting()
    run_project(load_project(path), settings, progress=again)
    assert ("finished", "train", StageStatus.CACHED) in again.calls
    assert again.trials() == []
