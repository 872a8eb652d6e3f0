"""Where and how torch runs: the import (with the error that says how to install it), the device, mixed
precision, the thread budget and seeded construction.

Torch keeps some state per process (its intra-op thread count, its global random generator). The search
fits several trials at once in threads, so that state is touched only here: the thread count is set while
at least one fit or prediction runs and restored when the last ends, and modules are built under a lock
with the global generator seeded and then put back as it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiforge.errors import MissingDependency

if TYPE_CHECKING:
    import torch

__all__ = ["AMP_MODES", "DEVICES", "INSTALL_HINT", "Precision", "choose_device", "choose_precision", "deterministic",
           "require_torch", "resolve_threads", "seeded", "torch_threads"]

INSTALL_HINT = "pip install 'aiforge[deep]'"
DEVICES = ("auto", "cpu", "cuda")
AmpMode = Literal["auto", "off", "bfloat16", "float16"]
AMP_MODES: tuple[AmpMode, ...] = ("auto", "off", "bfloat16", "float16")
T = TypeVar("T")


def require_torch(what: str = "aiforge.deep") -> Any:
    """The ``torch`` module, or a MissingDependency that names the extra to install."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency(f"the optional package 'torch' is not installed: {what} needs it",
                                expected="torch (the 'deep' extra)", found=f"{type(exc).__name__}: {exc}",
                                hint=INSTALL_HINT) from exc
    return torch


def choose_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when torch sees one, else the CPU; ``cpu`` or ``cuda`` as asked
    (``cuda`` without a CUDA device is an error, not a silent fallback)."""
    torch = require_torch()
    if requested not in DEVICES and not requested.startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), not {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was asked for, but torch sees no CUDA device here "
                         f"(torch {torch.__version__}); use device='auto' or 'cpu'")
    return torch.device(requested)


@dataclass(frozen=True)
class Precision:
    """How a forward pass computes: ``dtype`` None is plain float32; otherwise autocast to that type, with a
    gradient scaler for float16 (whose small range underflows gradients without one)."""

    dtype: torch.dtype | None

    @property
    def name(self) -> str:
        return "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")

    @property
    def scaled(self) -> bool:
        torch = require_torch()
        return self.dtype is torch.float16


def choose_precision(mode: str, device: torch.device) -> Precision:
    """``auto``: mixed precision on CUDA (bfloat16 where the GPU supports it, else float16), float32 on the CPU
    (where autocast is slower than float32 on most processors); ``off``, ``bfloat16`` and ``float16`` as asked."""
    torch = require_torch()
    if mode not in AMP_MODES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, not {mode!r}")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return Precision(None)
    if mode == "auto":
        return Precision(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Precision(torch.bfloat16 if mode == "bfloat16" else torch.float16)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


def resolve_threads(n_jobs: int | None) -> int | None:
    """Threads for ``n_jobs``: None leaves torch's setting; -1 (or 0) is every core; else at most the cores."""
    if n_jobs is None:
        return None
    cores = os.cpu_count() or 1
    return cores if n_jobs in (-1, 0) else max(1, min(n_jobs, cores))


@contextmanager
def torch_threads(n_jobs: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n_jobs`` (see ``resolve_threads``) while the block runs.

    The setting is global to the process: concurrent blocks (trials in parallel threads) share it, the
    last to enter decides, and the setting from before the first is restored when the last one leaves.
    """
    global _threads_users, _threads_before
    threads = resolve_threads(n_jobs)
    if threads is None:
        yield
        return
    torch = require_torch()
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
        _threads_users += 1
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0 and torch.get_num_threads() != _threads_before:
                torch.set_num_threads(_threads_before)


_seed_lock = threading.Lock()


def seeded(seed: int, build: Callable[[], T]) -> T:
    """``build()`` (a module's construction: its initial weights) with torch's global generator seeded, then
    restored: the same seed, the same initial weights, whatever else runs in the process."""
    torch = require_torch()
    with _seed_lock, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU generator alone: modules are built on the CPU
        return build()


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """On CUDA, cuDNN's deterministic algorithms (and no benchmarking, which picks algorithms by timing) while
    the block runs; the flags are restored after. On the CPU the loop's operations are deterministic already."""
    if device.type != "cuda":
        yield
        return
    torch = require_torch()
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = before
