"""Text-to-text generation (translation, summarisation, rewriting) with a local sequence-to-sequence checkpoint
(T5, BART, Marian...: anything ``AutoModelForSeq2SeqLM`` loads from a folder; never a download), behind the
scikit-learn contract every aiforge estimator keeps: ``fit(X, y)`` on source and target texts, ``predict(X)``
the generated texts, ``get_params``/``set_params``, pickling.

``max_epochs=0`` wraps the checkpoint as it is (``fit`` only loads it); otherwise the whole network is
fine-tuned by the one loop (``aiforge.deep._loop.train``): teacher forcing, the mean token cross-entropy per
row, warm-up and cosine schedule, clipping, early stopping on the validation rows, the deadline.

A fitted generator pickles its weights and tokenizer (``save_pretrained`` files, in memory): it loads and
generates on a machine that never saw the checkpoint.
"""

from __future__ import annotations

import io
import math
import tarfile
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from aiforge.deep._checkpoints import LOADING, require_transformers, resolve_checkpoint
from aiforge.deep._loop import TrainConfig, TrainingHistory, train
from aiforge.deep._runtime import choose_device, choose_precision, deterministic, require_torch, torch_threads
from aiforge.deep._text import as_texts

if TYPE_CHECKING:
    import torch

__all__ = ["Seq2SeqGenerator"]

IGNORED = -100  # the label of padding: no loss
CHUNK = 64  # rows per pass when validating or generating


class Seq2SeqGenerator(BaseEstimator):
    """Generate a target text for each source text with a local seq2seq checkpoint, fine-tuned or as it is.

    >>> from aiforge.deep import Seq2SeqGenerator
    >>> model = Seq2SeqGenerator(checkpoint="models/opus-mt-en-de", max_epochs=0)  # then fit(X, y), predict(X)
    """

    def __init__(self, *, checkpoint: str = "", max_source_length: int = 128, max_target_length: int = 64,
                 num_beams: int = 1, lr: float = 5e-5, weight_decay: float = 1e-2, batch_size: int = 16,
                 max_epochs: int = 3, patience: int | None = 2, schedule: str = "cosine", warmup: float = 0.1,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, text_columns: list[int] | None = None) -> None:
        self.checkpoint = checkpoint
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.num_beams = num_beams
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.schedule = schedule
        self.warmup = warmup
        self.clip_norm = clip_norm
        self.validation_fraction = validation_fraction
        self.amp = amp
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.time_budget = time_budget
        self.text_columns = text_columns

    def fit(self, X: Any, y: Any, *, eval_set: tuple[Any, Any] | None = None,
            deadline: float | None = None) -> Seq2SeqGenerator:
        """Load the checkpoint and, unless ``max_epochs`` is 0, fine-tune it on source texts ``X`` and target
        texts ``y`` (``eval_set`` validates each epoch, else ``validation_fraction`` of the rows do)."""
        torch = require_torch(type(self).__name__)
        with LOADING:
            require_transformers(type(self).__name__)
        if not self.checkpoint:
            raise ValueError("Seq2SeqGenerator needs checkpoint: the folder of a local seq2seq model (T5, BART, "
                             "Marian...) as save_pretrained writes it")
        if self.max_epochs < 0:
            raise ValueError(f"max_epochs must be 0 (generate with the checkpoint as it is) or more, not "
                             f"{self.max_epochs!r}")
        path = resolve_checkpoint(self.checkpoint)
        started = time.perf_counter()
        if self.time_budget is not None:
            deadline = min(deadline if deadline is not None else math.inf, started + self.time_budget)
        sources, targets = self._sources(X), as_texts(y)
        if len(sources) != len(targets):
            raise ValueError(f"y must be one target text per source text ({len(sources)}), got {len(targets)}")
        with LOADING:
            auto_tokenizer, auto_model = _auto_classes()
            tokenizer = auto_tokenizer.from_pretrained(path, local_files_only=True)
            model = auto_model.from_pretrained(path, local_files_only=True)
        self.tokenizer_, self.model_ = tokenizer, model
        self.history_: TrainingHistory | None = None
        device = choose_device(self.device)
        if self.max_epochs > 0:
            if eval_set is not None:
                valid_sources, valid_targets = self._sources(eval_set[0]), as_texts(eval_set[1])
            else:
                sources, targets, valid_sources, valid_targets = self._holdout(sources, targets)
            config = TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=int(self.batch_size),
                                 max_epochs=int(self.max_epochs), patience=self.patience,
                                 schedule=self.schedule,  # type: ignore[arg-type]  # TrainConfig checks the name
                                 warmup=self.warmup, clip_norm=self.clip_norm, seed=int(self.random_state))
            inputs = self._pairs(sources, targets)
            valid = None
            if valid_sources:
                pairs = self._pairs(valid_sources, valid_targets)
                valid = (pairs, pairs[2])
            with torch_threads(self.n_jobs), deterministic(device):
                torch.manual_seed(int(self.random_state))  # the checkpoint's own dropout draws from it
                self.history_ = train(_TeacherForced(model), inputs, inputs[2], _token_loss, config, device=device,
                                      precision=choose_precision(self.amp, device), valid=valid, deadline=deadline)
        model.to(device)
        model.eval()
        self.device_ = str(device)
        return self

    def _sources(self, X: Any) -> list[str]:
        """One source text per row: ``X``'s texts, or its ``text_columns`` (positions) joined, from a wider table."""
        if self.text_columns is None:
            return as_texts(X)
        table = np.asarray(X, dtype=object)
        if table.ndim != 2 or any(not 0 <= c < table.shape[1] for c in self.text_columns):
            raise ValueError(f"text_columns {self.text_columns!r} must be column positions of X, whose shape is "
                             f"{table.shape}")
        return as_texts(table[:, list(self.text_columns)])

    def _holdout(self, sources: list[str], targets: list[str]) -> tuple[list[str], ...]:
        held = int(round(len(sources) * self.validation_fraction))
        if held < 2 or len(sources) - held < 2:
            return sources, targets, [], []
        order = np.random.default_rng(self.random_state).permutation(len(sources))
        fit, valid = order[held:], order[:held]
        return ([sources[i] for i in fit], [targets[i] for i in fit], [sources[i] for i in valid],
                [targets[i] for i in valid])

    def _pairs(self, sources: list[str], targets: list[str]) -> tuple[torch.Tensor, ...]:
        """Source ids, source mask and target ids (padding as ``IGNORED``), as tensors."""
        torch = require_torch()
        source = self.tokenizer_(sources, truncation=True, max_length=int(self.max_source_length), padding="longest",
                                 return_tensors="pt")
        target = self.tokenizer_(text_target=targets, truncation=True, max_length=int(self.max_target_length),
                                 padding="longest", return_tensors="pt")
        labels = target["input_ids"].clone()
        labels[target["attention_mask"] == 0] = IGNORED
        return source["input_ids"], source["attention_mask"], labels.to(torch.long)

    def predict(self, X: Any) -> np.ndarray:
        """The generated text for each source text (greedy, or beam search with ``num_beams``)."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")
        torch = require_torch(type(self).__name__)
        sources = self._sources(X)
        out: list[str] = []
        device = next(self.model_.parameters()).device
        with torch_threads(self.n_jobs), torch.inference_mode():
            for start in range(0, len(sources), CHUNK):
                batch = self.tokenizer_(sources[start: start + CHUNK], truncation=True,
                                        max_length=int(self.max_source_length), padding="longest",
                                        return_tensors="pt").to(device)
                ids = self.model_.generate(**batch, max_new_tokens=int(self.max_target_length),
                                           num_beams=int(self.num_beams), do_sample=False)
                out += self.tokenizer_.batch_decode(ids, skip_special_tokens=True)
        return np.asarray([t.strip() for t in out], dtype=object)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        model, tokenizer = state.pop("model_", None), state.pop("tokenizer_", None)
        if model is not None:
            require_transformers(f"saving a {type(self).__name__}")  # offline, quiet: no progress bar per pickle
            with tempfile.TemporaryDirectory() as folder:
                model.to("cpu").save_pretrained(folder)
                tokenizer.save_pretrained(folder)
                model.to(self.device_)
                buffer = io.BytesIO()
                with tarfile.open(fileobj=buffer, mode="w") as archive:
                    archive.add(folder, arcname=".")
            state["_files"] = buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        files = state.pop("_files", None)
        self.__dict__.update(state)
        if files is not None:
            require_transformers(f"loading a {type(self).__name__}")
            with tempfile.TemporaryDirectory() as folder:
                with tarfile.open(fileobj=io.BytesIO(files), mode="r") as archive:
                    archive.extractall(folder, filter="data")
                with LOADING:
                    auto_tokenizer, auto_model = _auto_classes()
                    self.tokenizer_ = auto_tokenizer.from_pretrained(folder, local_files_only=True)
                    model = auto_model.from_pretrained(folder, local_files_only=True)
            model.eval()
            self.model_ = model
            self.device_ = "cpu"


_AUTO: tuple[Any, Any] | None = None


def _auto_classes() -> tuple[Any, Any]:
    """``AutoTokenizer`` and ``AutoModelForSeq2SeqLM``, resolved from transformers' lazy module once (under
    ``_LOADING``): a lazy attribute looked up while another thread imports a transformers module may be missing."""
    global _AUTO
    if _AUTO is None:
        transformers = require_transformers("Seq2SeqGenerator")
        _AUTO = (transformers.AutoTokenizer, transformers.AutoModelForSeq2SeqLM)
    return _AUTO


def _token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each row's mean cross-entropy over its target tokens (padding left out)."""
    torch = require_torch()
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORED,
                                               reduction="none")
    tokens = (labels != IGNORED).sum(dim=1).clamp_min(1)
    return losses.sum(dim=1) / tokens


def _TeacherForced(model: Any) -> torch.nn.Module:  # noqa: N802  (a class made on first use: torch is lazy)
    """``model`` as the loop calls it: (source ids, source mask, target ids) -> the logits of each target token."""
    nn = require_torch().nn

    class TeacherForced(nn.Module):  # type: ignore[name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, labels: Any) -> Any:
            if self.training:
                return self._logits(ids, mask, labels)
            return require_torch().cat([self._logits(ids[i: i + CHUNK], mask[i: i + CHUNK], labels[i: i + CHUNK])
                              for i in range(0, ids.shape[0], CHUNK)])

        def _logits(self, ids: Any, mask: Any, labels: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, labels=labels).logits

    return TeacherForced(model)
