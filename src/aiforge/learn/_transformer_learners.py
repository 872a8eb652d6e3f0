"""The ``transformer`` learner: a pretrained text encoder from a local checkpoint (``aiforge.deep.TextClassifier`` /
``TextRegressor``; MiniLM by default, ``model.transformer`` names another) over the text columns. Other input
columns are left out (``tfidf`` joins them).

The search tries the modes ``model.transformer.modes`` lists: ``frozen`` (a head on sentence embeddings computed
once per process and reused by every fold, trial and the refit: cheap) first, then ``finetune`` (the whole
encoder learns: costly). Its cost is known before it is paid: a fit first embeds a small batch of its rows and
times it; when the time left to the search's deadline cannot hold the embeddings (frozen) or one epoch of
fine-tuning, the trial ends at once with a message that says so, and the search goes on with the other learners
(``tfidf`` is tried first under any budget: its priority is lower). One that can start but not finish is cut
by the deadline after a step, keeping its best epoch, as every torch learner is.
"""

from __future__ import annotations

import time
from typing import Any

from aiforge.learn._deep_learners import TorchLearner
from aiforge.learn._learners import Fitted, Learner, register
from aiforge.learn._space import Choice, FloatRange, IntRange, SearchSpace
from aiforge.learn._text_learners import TextLearner
from aiforge.spec import ModelSpec, TaskKind

__all__ = ["PROBE_ROWS", "Seq2Seq", "TooCostly", "Transformer"]

PROBE_ROWS = 32  # rows embedded and timed before a fit under a deadline
WARM_ROWS = 4  # ... after these, embedded untimed
COUNTED_ROWS = 2000  # rows whose tokens are counted to cost embedding them all
FINETUNE_COST = 3.0  # a fine-tuning step costs about this many forward passes (forward, backward, update)
MAX_FINETUNE_EPOCHS = 4  # fine-tuning a pretrained encoder converges in a few epochs; more overfits and costs


class TooCostly(RuntimeError):
    """A fit that the time left cannot hold, found before it starts."""


@register
class Transformer(TextLearner, TorchLearner):
    name = "transformer"
    priority = 80  # minutes where tfidf takes seconds: tried after it under a tight budget
    description = ("pretrained transformer encoder on the text columns (MiniLM, or the local checkpoint "
                   "model.transformer names): frozen + head, or fine-tuned, early stopping "
                   "(optional: pip install 'aiforge[transformers]')")
    requires = "transformers"
    extra = "transformers"

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "lr": FloatRange(3e-4, 1e-2, log=True),  # the head's
            "encoder_lr": FloatRange(1e-5, 1e-4, log=True),  # fine-tuning only
            "max_epochs": IntRange(2, 60, log=True),  # frozen; fine-tuning takes at most MAX_FINETUNE_EPOCHS
            "head_width": Choice((0, 128, 256)),
            "dropout": FloatRange(0.0, 0.3),
            "batch_size": Choice((16, 32, 64)),
        }
        if task.is_classification:
            space["class_weight"] = Choice((None, "balanced"))
        return space

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        config: dict[str, Any] = {"lr": 1e-3, "encoder_lr": 5e-5, "max_epochs": 40, "head_width": 0,
                                  "dropout": 0.1, "batch_size": 32}
        return {**config, "class_weight": None} if task.is_classification else config

    @classmethod
    def project_space(cls, model: ModelSpec, task: TaskKind) -> SearchSpace:
        return {"mode": Choice(tuple(model.transformer.modes))}

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        spec = model.transformer
        return {"checkpoint": spec.checkpoint, "max_length": spec.max_length, "device": spec.device}

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        if not self.available():
            raise self.missing_message()
        text = self.text_positions(categorical)
        from aiforge.deep import TextClassifier, TextRegressor

        params = dict(params)
        if params.get("mode") == "finetune":
            params["max_epochs"] = min(int(params.get("max_epochs", MAX_FINETUNE_EPOCHS)), MAX_FINETUNE_EPOCHS)
        else:
            params.pop("encoder_lr", None)
        cls = TextRegressor if task is TaskKind.REGRESSION else TextClassifier
        return cls(text_columns=text, random_state=seed, n_jobs=n_jobs, **params)

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        if deadline is not None:
            check_cost(estimator, X, eval_set[0] if eval_set is not None else None, deadline)
        return super().fit(estimator, X, y, categorical, eval_set=eval_set, deadline=deadline)


@register
class Seq2Seq(Learner):
    """Text generation (``problem.task: text_generation``): the local seq2seq checkpoint ``model.seq2seq`` names
    (``aiforge.deep.Seq2SeqGenerator``) generates the target text from the text columns, joined as the
    transformer learner joins them; as it is (``max_epochs`` 0) or fine-tuned a few epochs, early stopping on the
    fold's validation rows, cut by the search's deadline after a step."""

    row_parallel = False  # batches are already parallel (torch threads) or padded per batch
    name = "seq2seq"
    priority = 80
    description = ("text generation with a local seq2seq checkpoint (T5, BART, Marian: model.seq2seq), as it is "
                   "or fine-tuned; problem.task: text_generation only (optional: pip install "
                   "'aiforge[transformers]')")
    requires = "transformers"
    extra = "transformers"
    encoding = "source"
    reads_text = True
    tasks = frozenset({TaskKind.TEXT_GENERATION})
    size_param = "max_epochs"

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        return {
            "lr": FloatRange(1e-5, 1e-3, log=True),  # AdamW on a pretrained seq2seq network
            "max_epochs": Choice((0, 1, 3, 8)),  # 0: the checkpoint as it is, which a fine-tuning must beat
            "batch_size": Choice((8, 16, 32)),
        }

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        # a few epochs at 3e-4, early stopping on the validation rows: the usual fine-tuning of a T5-small
        return {"lr": 3e-4, "max_epochs": 3, "batch_size": 16}

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        spec = model.seq2seq
        if spec is None:
            return {}
        return {"checkpoint": spec.checkpoint, "max_source_length": spec.max_source_length,
                "max_target_length": spec.max_target_length, "num_beams": spec.num_beams, "device": spec.device}

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        if not self.available():
            raise self.missing_message()
        if not categorical:
            raise ValueError("the seq2seq learner needs a source text column: name it in data.text_columns")
        from aiforge.deep import Seq2SeqGenerator

        return Seq2SeqGenerator(text_columns=list(categorical), random_state=seed, n_jobs=n_jobs, **params)

    fit = TorchLearner.fit  # epochs as the size: early stopping on the fold, the epochs it chose in the refit


def check_cost(estimator: Any, X: Any, X_valid: Any, deadline: float) -> float:
    """Seconds the fit's first pass needs (embedding the rows not cached yet, or one fine-tuning epoch), from
    ``PROBE_ROWS`` rows embedded and timed (after ``WARM_ROWS`` untimed: loading the encoder and a first call's
    allocations are no per-row cost); ``TooCostly`` when the time left to ``deadline`` cannot hold it.

    Embedding is costed per token: the probe's rows pad to the longest of them, while the fit embeds its rows in
    batches sorted by length, which pad little; the tokens to embed are counted on up to ``COUNTED_ROWS`` of
    them. Fine-tuning is costed per row: its batches are drawn at random and pad as the probe does. A frozen fit
    while another fit of the process embeds with the same encoder costs nothing to start: it waits for those
    embeddings and takes them from the cache."""
    import numpy as np

    from aiforge.deep._checkpoints import (
        cached_tokenizer,
        embed_texts,
        embedding_in_progress,
        resolve_checkpoint,
        uncached,
    )
    from aiforge.deep._runtime import choose_device, torch_threads

    texts = estimator._array(X)
    valid = estimator._array(X_valid) if X_valid is not None else np.zeros(0, dtype=object)
    path, length = resolve_checkpoint(estimator.checkpoint), int(estimator.max_length)
    if estimator.mode != "finetune" and embedding_in_progress(path, length):
        return 0.0
    probe = list(texts[WARM_ROWS: WARM_ROWS + PROBE_ROWS]) or list(texts[:PROBE_ROWS])
    device = choose_device(estimator.device)
    with torch_threads(estimator.n_jobs):
        embed_texts(path, list(texts[:WARM_ROWS]), max_length=length, device=device, cached=False)
        started = time.perf_counter()
        embed_texts(path, probe, max_length=length, device=device, cached=False)
    seconds = time.perf_counter() - started
    per_row = seconds / max(1, len(probe))
    if estimator.mode == "finetune":
        needed = per_row * (FINETUNE_COST * len(texts) + len(valid))
        what, rate = f"one epoch of fine-tuning on {len(texts):,} rows", f"{1000 * per_row:.1f} ms a row"
    else:  # the rows a fold, trial or refit before embedded come from the cache
        tokenizer = cached_tokenizer(path)

        def tokens(rows: list[str]) -> list[int]:
            if not rows:
                return []
            return [len(ids) for ids in tokenizer(rows, truncation=True, max_length=length)["input_ids"]]

        padded = len(probe) * max(tokens(probe), default=1)
        missing = uncached(path, [*texts, *valid], length)
        counted = tokens(missing[:: max(1, len(missing) // COUNTED_ROWS)])
        total = sum(counted) / max(1, len(counted)) * len(missing)
        needed = seconds / max(1, padded) * total
        what = f"embedding {len(missing):,} rows (~{total:,.0f} tokens)"
        rate = f"{1e6 * seconds / max(1, padded):.0f} µs a token"
    left = deadline - time.perf_counter()
    if needed > left:
        raise TooCostly(f"skipped: {what} needs ~{needed:.0f} s ({rate} measured on {len(probe)} rows), the "
                        f"budget has {max(0.0, left):.0f} s left; raise model.search.budget.seconds, lower "
                        f"model.transformer.max_length, or use mode frozen")
    return needed
