"""Text classification and regression with a pretrained transformer encoder from a local Hugging Face checkpoint
(``aiforge.deep._checkpoints``: MiniLM by default, never a download), trained by the one loop
(``aiforge.deep._loop.train``) as every torch estimator is.

Two modes:

- ``frozen``: the encoder does not learn. Each text's mean-pooled embedding is computed once (batches sorted by
  length, cached in the process: the folds, trials and refit of a search reuse them) and standardised; a small
  head (linear, or one hidden layer) trains on them in seconds.
- ``finetune``: the whole network learns: the encoder at ``encoder_lr``, the head at ``lr``, with the loop's
  warm-up and cosine schedule, gradient clipping, early stopping on the validation rows, mixed precision on a
  GPU. Each batch is cut to its longest text, so short texts cost little.

``X`` is text: a list or 1-D array of strings, or a table (DataFrame, 2-D array) whose columns are joined into
one text per row with the tokenizer's separator; ``text_columns`` (positions) picks the text out of a wider table
(the ``transformer`` learner's inputs: its other columns are left out). Missing values are empty text.

A fitted frozen model keeps its head and the checkpoint's name (the serving machine needs the checkpoint: the
``transformers`` extra ships MiniLM); a fine-tuned one pickles the whole network's weights and needs only the
checkpoint's tokenizer and configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from aiforge.deep._estimators import _Classification, _keep, _Regression, _TorchEstimator

if TYPE_CHECKING:
    import torch

__all__ = ["MODES", "TextClassifier", "TextRegressor", "as_texts"]

MODES = ("frozen", "finetune")
EVAL_CHUNK = 64  # rows per encoder pass when the fine-tuned network validates or predicts


def as_texts(X: Any, separator: str = " | ") -> list[str]:
    """One text per row of ``X`` (strings; a table's columns joined by ``separator``); missing values are empty."""
    import pandas as pd

    def text(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
            return ""
        return str(value)

    if isinstance(X, str):
        raise ValueError("X must hold one text per row (a list of strings or a table of text columns), not one "
                         "string")
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy(dtype=object)
    elif isinstance(X, pd.Series):
        X = X.to_numpy(dtype=object)
    values = np.asarray(X, dtype=object)
    if values.ndim == 1:
        return [text(v) for v in values]
    if values.ndim == 2:
        return [separator.join(t for t in (text(v) for v in row) if t) for row in values]
    raise ValueError(f"X must be a list of texts or a table of text columns, got shape {values.shape}")


class _TextNet:
    """Namespace of the torch modules (built lazily: torch is imported on first use)."""

    @staticmethod
    def build(config: dict[str, Any]) -> torch.nn.Module:
        import torch

        from aiforge.deep._checkpoints import mean_pool, require_transformers
        from aiforge.deep._modules import SeededDropout

        class Head(torch.nn.Module):
            def __init__(self, width: int, hidden: int, dropout: float, n_outputs: int) -> None:
                super().__init__()
                layers: list[torch.nn.Module] = [SeededDropout(dropout)]
                if hidden:
                    layers += [torch.nn.Linear(width, hidden), torch.nn.GELU(), SeededDropout(dropout)]
                layers.append(torch.nn.Linear(hidden or width, n_outputs))
                self.layers = torch.nn.Sequential(*layers)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.layers(x)

        class FrozenNet(torch.nn.Module):
            """A head on standardised sentence embeddings."""

            def __init__(self, width: int, hidden: int, dropout: float, n_outputs: int) -> None:
                super().__init__()
                self.head = Head(width, hidden, dropout, n_outputs)

            def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
                return self.head(embeddings)

        class FinetuneNet(torch.nn.Module):
            """The encoder, mean pooling and a head, trained together on token ids."""

            def __init__(self, encoder: dict[str, Any], hidden: int, dropout: float, n_outputs: int) -> None:
                super().__init__()
                transformers = require_transformers()
                settings = dict(encoder)
                kind = settings.pop("model_type")
                self.encoder = transformers.AutoModel.from_config(transformers.AutoConfig.for_model(kind, **settings))
                # the encoder's dropout draws from the loop's seeded generator: a fit is repeatable
                for parent in list(self.encoder.modules()):
                    for name, child in list(parent.named_children()):
                        if isinstance(child, torch.nn.Dropout):
                            setattr(parent, name, SeededDropout(child.p))
                self.head = Head(int(self.encoder.config.hidden_size), hidden, dropout, n_outputs)

            def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                if self.training:
                    return self._rows(ids, mask)
                return torch.cat([self._rows(ids[i: i + EVAL_CHUNK], mask[i: i + EVAL_CHUNK])
                                  for i in range(0, ids.shape[0], EVAL_CHUNK)])

            def _rows(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                longest = max(1, int(mask.sum(dim=1).max()))  # the batch cut to its longest text
                ids, mask = ids[:, :longest], mask[:, :longest]
                hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
                return self.head(mean_pool(hidden, mask))

        if config["mode"] == "frozen":
            return FrozenNet(config["width"], config["hidden"], config["dropout"], config["n_outputs"])
        return FinetuneNet(config["encoder"], config["hidden"], config["dropout"], config["n_outputs"])


class _Text(_TorchEstimator):
    """Texts into a pretrained encoder: frozen (a head on cached embeddings) or fine-tuned as a whole."""

    _kind: ClassVar[str] = "text"
    checkpoint: str
    mode: str
    max_length: int
    head_width: int
    dropout: float
    encoder_lr: float
    text_columns: list[int] | None

    def _path(self) -> str:
        from aiforge.deep._checkpoints import resolve_checkpoint

        return resolve_checkpoint(self.checkpoint)

    def _array(self, X: Any) -> np.ndarray:
        from aiforge.deep._checkpoints import cached_tokenizer

        tokenizer = cached_tokenizer(getattr(self, "checkpoint_path_", None) or self._path())  # fitted: found once
        separator = f" {tokenizer.sep_token} " if getattr(tokenizer, "sep_token", None) else " | "
        if self.text_columns is not None:  # a table whose other columns this learner leaves out
            table = np.asarray(X.to_numpy(dtype=object) if hasattr(X, "to_numpy") else X, dtype=object)
            if table.ndim != 2 or any(not 0 <= c < table.shape[1] for c in self.text_columns):
                raise ValueError(f"text_columns {self.text_columns!r} must be column positions of X, whose shape "
                                 f"is {table.shape}")
            X = table[:, list(self.text_columns)]
        return np.asarray(as_texts(X, separator), dtype=object)

    def _fit_inputs(self, X: np.ndarray) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 8 <= int(self.max_length) <= 4096:
            raise ValueError(f"max_length must be a number of tokens in [8, 4096], not {self.max_length!r}")
        if self.augment is not None or self.adversarial is not None:
            raise ValueError(f"{type(self).__name__} takes no augment or adversarial training (they move numbers, "
                             "and its inputs are text)")
        self.checkpoint_path_ = self._path()
        self.n_features_in_ = 1
        if self.mode == "frozen":
            vectors = self._embed(X, remember=True)
            from aiforge.deep._estimators import _standardiser

            self.embedding_mean_, self.embedding_scale_ = _standardiser(vectors, (0,), "the embeddings")

    def _embed(self, X: np.ndarray, remember: bool = False) -> np.ndarray:
        from aiforge.deep._checkpoints import embed_texts
        from aiforge.deep._runtime import choose_device, torch_threads

        with torch_threads(self.n_jobs):
            return embed_texts(self.checkpoint_path_, list(X), max_length=int(self.max_length),
                               device=choose_device(self.device), remember=remember)

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.mode == "frozen":
            # the search validates and refits on rows it embedded already: those come from the cache
            vectors = self._embed(X, remember=not hasattr(self, "module_"))
            if len(vectors) == 0:
                return (np.zeros((0, len(self.embedding_mean_)), dtype=np.float32),)
            return (((vectors - self.embedding_mean_) / self.embedding_scale_).astype(np.float32),)
        from aiforge.deep._checkpoints import cached_tokenizer

        tokenizer = cached_tokenizer(self.checkpoint_path_)
        if len(X) == 0:
            return np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1), dtype=np.int64)
        encoded = tokenizer(list(X), truncation=True, max_length=int(self.max_length), padding="longest",
                            padding_side="right", return_tensors="np")
        return (np.asarray(encoded["input_ids"], dtype=np.int64),
                np.asarray(encoded["attention_mask"], dtype=np.int64))

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        hidden = int(self.head_width)
        if hidden < 0:
            raise ValueError(f"head_width must be 0 (a linear head) or a number of hidden units, not {hidden!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")
        config: dict[str, Any] = {"mode": self.mode, "hidden": hidden, "dropout": float(self.dropout),
                                  "n_outputs": n_outputs}
        if self.mode == "frozen":
            return {**config, "width": len(self.embedding_mean_)}
        from aiforge.deep._checkpoints import LOADING, require_transformers

        with LOADING:
            encoder = require_transformers().AutoConfig.from_pretrained(self.checkpoint_path_,
                                                                        local_files_only=True).to_dict()
        keep = {k: v for k, v in encoder.items() if not k.startswith("_") and k not in ("architectures",
                                                                                        "transformers_version")}
        # attention dropout runs inside the attention kernel, out of reach of a seeded generator: off
        keep["attention_probs_dropout_prob"] = 0.0
        keep["attention_dropout"] = 0.0
        return {**config, "encoder": keep}

    def _new_module(self, config: dict[str, Any]) -> torch.nn.Module:
        return _TextNet.build(config)

    def _prepare(self, module: torch.nn.Module) -> None:
        """Fine-tuning starts from the checkpoint's weights (a frozen head needs none)."""
        if self.mode != "finetune":
            return
        from aiforge.deep._checkpoints import LOADING, require_transformers

        with LOADING:
            pretrained = require_transformers().AutoModel.from_pretrained(self.checkpoint_path_,
                                                                          local_files_only=True)
        module.encoder.load_state_dict(pretrained.state_dict())  # type: ignore[union-attr]

    def _train_options(self, module: torch.nn.Module) -> dict[str, Any]:
        if self.mode != "finetune":
            return {}
        from aiforge.deep._loop import ParameterGroup

        if not 0 < self.encoder_lr <= self.lr:
            raise ValueError(f"encoder_lr must be positive and at most lr ({self.lr!r}), not {self.encoder_lr!r}")
        encoder = list(module.encoder.parameters())  # type: ignore[union-attr]
        head = list(module.head.parameters())  # type: ignore[union-attr]
        return {"groups": [ParameterGroup(head), ParameterGroup(encoder, float(self.encoder_lr) / float(self.lr))]}

    def _restore(self, X: np.ndarray, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} takes text: there is no numeric input to perturb")

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        from pathlib import Path

        path = getattr(self, "checkpoint_path_", None)
        if path is not None and not Path(path).is_dir():  # unpickled on another machine: found again there
            self.checkpoint_path_ = self._path()


class TextClassifier(_Classification, ClassifierMixin, _Text):
    """Text classification with a pretrained transformer encoder (MiniLM by default), frozen or fine-tuned.

    >>> from aiforge.deep import TextClassifier
    >>> model = TextClassifier(mode="frozen", max_epochs=30)  # then model.fit(texts, labels)
    """

    def __init__(self, *, checkpoint: str = "minilm", mode: str = "frozen", max_length: int = 128,
                 text_columns: list[int] | None = None, head_width: int = 0, dropout: float = 0.1,
                 class_weight: Any = None, lr: float = 1e-3,
                 encoder_lr: float = 5e-5, weight_decay: float = 1e-2, batch_size: int = 32, max_epochs: int = 30,
                 patience: int | None = 5, schedule: str = "cosine", warmup: float = 0.1,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())


class TextRegressor(_Regression, RegressorMixin, _Text):
    """Text regression with a pretrained transformer encoder (MiniLM by default), frozen or fine-tuned."""

    def __init__(self, *, checkpoint: str = "minilm", mode: str = "frozen", max_length: int = 128,
                 text_columns: list[int] | None = None, head_width: int = 0, dropout: float = 0.1, lr: float = 1e-3,
                 encoder_lr: float = 5e-5,
                 weight_decay: float = 1e-2, batch_size: int = 32, max_epochs: int = 30, patience: int | None = 5,
                 schedule: str = "cosine", warmup: float = 0.1, clip_norm: float | None = 1.0,
                 validation_fraction: float = 0.1, amp: str = "auto", device: str = "auto",
                 n_jobs: int | None = None, random_state: int = 0, time_budget: float | None = None,
                 adversarial: dict[str, Any] | None = None, augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())
