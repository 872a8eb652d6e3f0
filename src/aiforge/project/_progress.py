"""Progress of a run as plain lines, one per finished stage: what a notebook cell (or a log) shows."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from aiforge.pipeline import SilentProgress

__all__ = ["LineProgress"]

_MARK = {"succeeded": "✓", "cached": "↺", "failed": "✗", "interrupted": "!"}


class LineProgress(SilentProgress):
    """Prints ``✓ train    12.31s  best lightgbm (...)`` when a stage finishes; steps and trials are not shown.

    >>> import io
    >>> out = io.StringIO()
    >>> LineProgress(out).stage_finished("ingest", "cached", 0.01, "snapshot 1a2b, 3 rows")
    >>> out.getvalue()
    '↺ ingest      0.01s (cached)  snapshot 1a2b, 3 rows\\n'
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def stage_finished(self, name: str, status: Any, seconds: float, note: str) -> None:
        tag = " (cached)" if status == "cached" else ""
        stream = self.stream or sys.stdout  # looked up now: a notebook cell replaces sys.stdout per cell
        print(f"{_MARK.get(str(status), '?')} {name:<9} {seconds:6.2f}s{tag}  {note}", file=stream, flush=True)
