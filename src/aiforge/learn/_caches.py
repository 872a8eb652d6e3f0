"""What fits and predictions of one process reuse from each other, and when they must not: a frozen text encoder's
sentence embeddings. ``aiforge.deep`` keeps those caches; these switches reach them only when it is loaded (it
is not, when no text learner ran: nothing is cached then), so that importing them costs nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

__all__ = ["cold_caches", "shared_embeddings"]


@contextmanager
def cold_caches() -> Iterator[None]:
    """Within it, fits reuse nothing another fit of this process computed (a frozen text encoder's sentence
    embeddings): what they cost is what a fit from scratch costs."""
    with _deep("fresh_embeddings"):
        yield


@contextmanager
def shared_embeddings() -> Iterator[None]:
    """Within it, in this thread, each text is embedded once by a frozen encoder, however many predictions read
    it (an ensemble's members; an evaluation's shuffles of the other columns). Not for timing predictions."""
    with _deep("shared_embeddings"):
        yield


def _deep(name: str) -> AbstractContextManager[None]:
    """``aiforge.deep._checkpoints``'s context manager ``name``, or nothing when that module is not loaded."""
    checkpoints = sys.modules.get("aiforge.deep._checkpoints")
    return nullcontext() if checkpoints is None else getattr(checkpoints, name)()
