"""Terminal rendering for the CLI: live stage progress, tables, JSON output."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

__all__ = ["RichProgress", "err", "kpi_table", "out", "params_text", "print_json", "table"]

# piped output is not cut to 80 columns: logs and CI read it whole. Markup is off: what is printed (paths, error
# messages, metric names such as accuracy[topic]) is shown as it is; a line that styles itself says markup=True
# and escapes what it interpolates, and tables are built from Text.
out = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, markup=False, width=None if sys.stderr.isatty() else 160)

_MARK = {  # by StageStatus value; the pipeline (and its database layer) is not imported to render errors
    "succeeded": "[green]✓[/]",
    "cached": "[cyan]↺[/]",
    "failed": "[red]✗[/]",
    "interrupted": "[yellow]![/]",
}


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


class RichProgress:
    """One line per finished stage; while a stage runs, a live view of it.

    The view is a spinner over the stage's latest steps, or, once search trials arrive, a leaderboard:
    the best trials first, counts by status, the best score, elapsed time against the budget and the
    latest trial. Steps and trials come from the search's worker threads; ``_lock`` guards what they
    change, and the view is built from a copy taken under it. Rich's ``Live`` draws on a terminal only,
    so piped output gets the finished-stage lines alone.
    """

    def __init__(self, console: Console = err, *, recent: int = 8, rows: int = 8) -> None:
        self.console = console
        self.rows = rows
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._name = ""
        self._started = 0.0
        self._recent: deque[str] = deque(maxlen=recent)
        self._trials: list[dict[str, Any]] = []
        self._after_trials = ""  # the latest step since the latest trial (refit, threshold), shown under the board
        self._spinner = Spinner("dots", style="status.spinner")

    def stage_started(self, name: str) -> None:
        with self._lock:
            self._name, self._started = name, time.monotonic()
            self._recent.clear()
            self._trials.clear()
            self._after_trials = ""
        self._live = Live(console=self.console, get_renderable=self.view, refresh_per_second=8, transient=True)
        self._live.start()

    def stage_step(self, name: str, message: str) -> None:
        with self._lock:
            self._recent.append(message)
            self._after_trials = message

    def stage_trial(self, name: str, trial: dict[str, Any]) -> None:
        with self._lock:
            self._trials.append(trial)
            self._after_trials = ""

    def stage_finished(self, name: str, status: str, seconds: float, note: str) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()  # transient: the view is cleared before the stage's line is printed
        tag = " [cyan](cached)[/]" if status == "cached" else ""
        self.console.print(f"{_MARK.get(str(status), '?')} {name:<9} {seconds:6.2f}s{tag}  [dim]{escape(note)}[/]",
                           markup=True)

    def view(self) -> RenderableType:
        """What the live display shows now (rich's refresh thread calls this several times a second)."""
        with self._lock:
            name, recent, trials, after = self._name, list(self._recent), list(self._trials), self._after_trials
            elapsed = time.monotonic() - self._started
        if not trials:
            self._spinner.update(text=Text.from_markup(
                f"[bold]{name}[/] {escape(recent[-1]) if recent else '…'}"))
            return Group(self._spinner, *(Text(f"  {line}", style="dim") for line in recent[-2::-1]))
        board = self._leaderboard(name, trials, elapsed)
        return Group(board, Text(f"  {after}", style="dim")) if after else board

    def _leaderboard(self, name: str, trials: list[dict[str, Any]], elapsed: float) -> RenderableType:
        last = trials[-1]
        objective, sign = last["objective"], 1.0 if last["higher_is_better"] else -1.0
        ranked = sorted((t for t in trials if t["status"] == "complete" and t["score"] is not None),
                        key=lambda t: (-sign * t["score"], t["number"]))
        counts = Counter(t["status"] for t in trials)
        budget = [f"{elapsed:.0f}s" + (f" / {last['budget_seconds']:g}s" if last["budget_seconds"] else "")]
        if last["budget_trials"]:
            budget.append(f"{len(trials)} / {last['budget_trials']} trials")
        best = (f"best {escape(objective)} [bold]{ranked[0]['score']:.4f}[/] ({escape(ranked[0]['learner'])} "
                f"#{ranked[0]['number'] + 1})" if ranked else "no trial complete yet")
        self._spinner.update(text=Text.from_markup(
            f"[bold]{name}[/] {len(trials)} trials: [green]{counts['complete']} complete[/], "
            f"[yellow]{counts['pruned']} pruned[/], [red]{counts['failed']} failed[/] · {best} · {', '.join(budget)}"))
        board = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        board.add_column("#", justify="right")
        board.add_column("learner")
        board.add_column("status")
        board.add_column(Text(f"{objective} {'↑' if sign > 0 else '↓'}"), justify="right")
        board.add_column("time (s)", justify="right")
        board.add_column("params", max_width=80, no_wrap=True, overflow="ellipsis")
        shown = ranked[: self.rows]
        for t in shown:
            board.add_row(*_trial_cells(t), style="bold" if t is last else None)
        if all(t is not last for t in shown):
            board.add_section()
            board.add_row(*_trial_cells(last), style="dim")
        return Group(self._spinner, board)


def _trial_cells(trial: dict[str, Any]) -> list[Text]:
    status = {"complete": Text("complete", "green"), "pruned": Text("pruned", "yellow")}.get(
        trial["status"], Text("failed", "red"))
    score = "—" if trial["score"] is None else f"{trial['score']:.4f}"
    detail = trial["error"].splitlines()[0] if trial["error"] else params_text(trial["params"])
    return [Text(str(trial["number"] + 1)), Text(trial["learner"]), status, Text(score),
            Text(f"{trial['seconds']:.1f}"), Text(detail)]


def params_text(params: dict[str, Any]) -> str:
    """A configuration on one line: ``k=v`` pairs, floats to four significant digits."""
    return ", ".join(f"{k}={f'{v:.4g}' if isinstance(v, float) else v}" for k, v in params.items())


def kpi_table(results: list[dict[str, Any]]) -> Table:
    from aiforge.evaluate._gate import figure

    table = Table(title="KPI gate", title_justify="left")
    for col in ("KPI", "value", "bound", "result", "margin"):
        table.add_column(col, justify="right" if col in ("value", "margin") else "left")
    for r in results:
        value = "—" if r["value"] is None else figure(r["value"])
        margin = "—" if r["margin"] is None else figure(r["margin"], sign=True)
        verdict = Text("pass", "green") if r["passed"] else Text("FAIL", "red")
        table.add_row(Text(r["kpi"]), Text(value), Text(f"{r['bound']} {r['threshold']:g}"), verdict, Text(margin))
    return table


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A table whose title, headers and cells are shown as they are: no rich markup is read in them, so a
    column named ``text[length]`` or a group ``[topic]`` is printed, not taken for a style tag."""
    t = Table(title=Text(title), title_justify="left")
    for col in columns:
        t.add_column(Text(col))
    for row in rows:
        t.add_row(*(Text("—" if v is None else str(v)) for v in row))
    return t
