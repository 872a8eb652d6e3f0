"""Peak memory of the running benchmark process, shared by run.py and etl_larger_than_memory.py."""

from __future__ import annotations

from pathlib import Path


def peak_mb() -> float:
    """This process's peak resident memory since it started, in MB (VmHWM: unlike ru_maxrss, which keeps the
    parent's high-water mark across fork and exec, it starts afresh with the program)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")
