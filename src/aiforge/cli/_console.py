"""Terminal rendering for the CLI: live stage progress, tables, JSON output."""

from __future__ import annotations

import json
import sys
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["RichProgress", "err", "out", "print_json"]

# piped output is not cut to 80 columns: logs and CI read it whole
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

_MARK = {  # by StageStatus value; the pipeline (and its database layer) is not imported to render errors
    "succeeded": "[green]✓[/]",
    "cached": "[cyan]↺[/]",
    "failed": "[red]✗[/]",
    "interrupted": "[yellow]![/]",
}


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


class RichProgress:
    """One line per finished stage; while a stage runs, a spinner over its latest steps (the trials)."""

    def __init__(self, console: Console = err, *, recent: int = 8) -> None:
        self.console = console
        self._status: Any = None
        self._recent: deque[str] = deque(maxlen=recent)

    def stage_started(self, name: str) -> None:
        self._recent.clear()
        self._status = self.console.status(f"[bold]{name}[/] …", spinner="dots")
        self._status.start()

    def stage_step(self, name: str, message: str) -> None:
        if self._status is None:
            return
        self._recent.append(message)
        lines = [Text.from_markup(f"[bold]{name}[/] {escape(message)}")]
        lines += [Text(f"  {line}", style="dim") for line in list(self._recent)[-2::-1]]
        self._status.update(Group(*lines))

    def stage_finished(self, name: str, status: str, seconds: float, note: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        tag = " [cyan](cached)[/]" if status == "cached" else ""
        self.console.print(f"{_MARK.get(str(status), '?')} {name:<9} {seconds:6.2f}s{tag}  [dim]{escape(note)}[/]")


def kpi_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="KPI gate", title_justify="left")
    for col in ("KPI", "value", "bound", "result", "margin"):
        table.add_column(col, justify="right" if col in ("value", "margin") else "left")
    for r in results:
        value = "—" if r["value"] is None else f"{r['value']:.4f}"
        margin = "—" if r["margin"] is None else f"{r['margin']:+.4f}"
        verdict = "[green]pass[/]" if r["passed"] else "[red]FAIL[/]"
        table.add_row(r["kpi"], value, f"{r['bound']} {r['threshold']:g}", verdict, margin)
    return table


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("—" if v is None else str(v) for v in row))
    return t
