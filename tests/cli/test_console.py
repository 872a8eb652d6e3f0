"""The live progress view of `aiforge run`: a leaderboard of search trials fed from several threads."""

from __future__ import annotations

import io
import re
import threading
from typing import Any

import pytest
from rich.console import Console

from aiforge.cli._console import RichProgress


def trial(number: int, learner: str, score: float | None, *, status: str = "complete", higher: bool = True,
          error: str | None = None) -> dict[str, Any]:
    """A trial as the train stage reports it: ``TrialRecord.to_json()`` plus the search's settings."""
    return {"number": number, "learner": learner, "params": {"learning_rate": 0.0312345, "num_leaves": 31},
            "status": status, "fold_scores": [] if score is None else [score], "score": score, "seconds": 1.25,
            "rounds": None, "error": error, "objective": "roc_auc" if higher else "rmse",
            "higher_is_better": higher, "elapsed": 2.0, "budget_seconds": 60.0, "budget_trials": 20}


def feed_from_two_threads(progress: RichProgress, trials: list[dict[str, Any]]) -> None:
    start = threading.Barrier(2)

    def worker(mine: list[dict[str, Any]]) -> None:
        start.wait()
        for t in mine:
            progress.stage_step("train", f"trial {t['number'] + 1}: {t['learner']}")
            progress.stage_trial("train", t)

    threads = [threading.Thread(target=worker, args=(trials[k::2],)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def last_frame(text: str) -> list[str]:
    """The lines of the live view's last frame (rich records every frame; control codes are dropped)."""
    return text[text.rindex("train 7 trials:"):].splitlines()


def data_rows(frame: list[str]) -> list[list[str]]:
    return [line.split() for line in frame if line.strip()[:1].isdigit()]


@pytest.mark.parametrize("higher", [True, False], ids=["higher-is-better", "lower-is-better"])
def test_the_leaderboard_lists_the_best_trial_first_with_counts(higher: bool) -> None:
    console = Console(record=True, force_terminal=True, width=160)
    progress = RichProgress(console, rows=3)
    scores = [0.71, 0.93, 0.85, 0.60]  # trials 1-4 complete; best is #2 (higher) or #4 (lower)
    trials = [trial(n, "lightgbm" if n % 2 else "linear", s, higher=higher) for n, s in enumerate(scores)]
    trials += [trial(4, "mlp", None, status="pruned", higher=higher),
               trial(5, "mlp", None, status="failed", error="ValueError: no numbers\ntraceback", higher=higher),
               trial(6, "linear", 0.65, higher=higher)]

    progress.stage_started("train")
    feed_from_two_threads(progress, trials)
    progress.stage_finished("train", "succeeded", 3.5, "best lightgbm (roc_auc 0.9300 in CV, 7 trials)")

    text = console.export_text()
    frame = last_frame(text)
    assert "5 complete, 1 pruned, 1 failed" in frame[0]
    assert re.search(r" · \d+s / 60s, 7 / 20 trials$", frame[0])
    ranked = data_rows(frame)
    if higher:
        assert [r[0] for r in ranked[:3]] == ["2", "3", "1"]
        assert "best roc_auc 0.9300 (lightgbm #2)" in frame[0]
        assert "roc_auc ↑" in frame[1]
    else:
        assert [r[0] for r in ranked[:3]] == ["4", "7", "1"]
        assert "best rmse 0.6000 (lightgbm #4)" in frame[0]
        assert "rmse ↓" in frame[1]
    assert ranked[0][2:5] == ["complete", f"{max(scores) if higher else min(scores):.4f}", "1.2"]
    assert "learning_rate=0.03123, num_leaves=31" in frame[3]
    # the final line follows the (cleared) live view
    assert text.rstrip().splitlines()[-1] == "✓ train       3.50s  best lightgbm (roc_auc 0.9300 in CV, 7 trials)"


def test_the_latest_trial_is_shown_below_the_board_when_it_is_not_among_the_best() -> None:
    console = Console(record=True, force_terminal=True, width=160)
    progress = RichProgress(console, rows=2)
    progress.stage_started("train")
    for t in [trial(0, "linear", 0.8), trial(1, "lightgbm", 0.9), trial(2, "linear", 0.85),
              trial(3, "mlp", None, status="failed", error="ValueError: no numbers\ntraceback"),
              trial(4, "linear", 0.7), trial(5, "linear", 0.75), trial(6, "mlp", None, status="failed",
                                                                       error="MemoryError: too big")]:
        progress.stage_trial("train", t)
    progress.stage_step("train", "refit lightgbm on the whole training split")
    progress.stage_finished("train", "succeeded", 1.0, "done")

    frame = last_frame(console.export_text())
    assert [r[0] for r in data_rows(frame)] == ["2", "3", "7"]
    latest = next(line for line in frame if line.lstrip().startswith("7 "))
    assert "failed" in latest and "MemoryError: too big" in latest
    assert any(line.strip() == "refit lightgbm on the whole training split" for line in frame)


def test_before_any_trial_the_view_shows_the_latest_steps() -> None:
    console = Console(record=True, force_terminal=True, width=160)
    progress = RichProgress(console)
    progress.stage_started("evaluate")
    progress.stage_step("evaluate", "scoring the test split")
    progress.stage_step("evaluate", "permutation importance")
    progress.stage_finished("evaluate", "succeeded", 0.5, "")

    text = console.export_text()
    assert "evaluate permutation importance" in text and "  scoring the test split" in text
    assert text.rstrip().splitlines()[-1].startswith("✓ evaluate")


def test_piped_output_gets_the_finished_stage_lines_alone() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=160)
    progress = RichProgress(console)
    for name in ("split", "train"):
        progress.stage_started(name)
        progress.stage_step(name, "working")
        progress.stage_trial(name, trial(0, "linear", 0.8))
        progress.stage_finished(name, "succeeded" if name == "train" else "cached", 0.25, "ok")

    assert stream.getvalue() == "↺ split       0.25s (cached)  ok\n✓ train       0.25s  ok\n"


def test_table_shows_its_title_headers_and_cells_literally() -> None:
    """Square brackets in names (a drift feature ``text[length]``, a fairness group ``[topic]``) are text, not
    rich markup: nothing is swallowed or styled."""
    from aiforge.cli._console import table

    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(table("drift of [model] v1", ["column", "[bold]kind[/]"],
                        [["text[length]", "numeric"], ["accuracy[topic]", "[topic]"], ["[red]n[/]", None]]))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for literal in ("drift of [model] v1", "[bold]kind[/]", "text[length]", "accuracy[topic]", "[topic]",
                    "[red]n[/]", "—"):
        assert literal in shown


def test_the_cli_consoles_print_text_as_it_is_and_the_kpi_table_names_slices_literally() -> None:
    """Paths, error messages and metric names with square brackets (fairness slices, text features) are printed
    whole by ``out`` and ``err``; only a line that asks for markup is styled."""
    from aiforge.cli._console import err, kpi_table, out

    for console in (out, err):
        with console.capture() as captured:
            console.print("error: p[topic]/data/nowhere[length].csv; accuracy[topic] = 0.5")
            console.print("[red]KPI gate failed:[/] x", markup=True)
        assert captured.get() == "error: p[topic]/data/nowhere[length].csv; accuracy[topic] = 0.5\nKPI gate failed: x\n"
    gate = [{"kpi": "accuracy[topic]", "value": 0.5, "margin": -0.3, "passed": False, "bound": ">=", "threshold": 0.8},
            {"kpi": "f1", "value": 0.9, "margin": 0.1, "passed": True, "bound": ">=", "threshold": 0.8}]
    with out.capture() as captured:
        out.print(kpi_table(gate))
    shown = captured.get()
    assert "accuracy[topic]" in shown and "FAIL" in shown and "pass" in shown and "\\[" not in shown
