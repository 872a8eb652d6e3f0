"""The networks: an MLP for tabular rows, a small CNN for images, a recurrent network for sequences.

Each is a plain ``torch.nn.Module`` built from keyword arguments of plain values, so that an estimator can
store how to rebuild it (``build_module(kind, **config)``) beside its weights. Dropout draws its masks from
the training loop's own generator (``SeededDropout``), not torch's global one, so that fits running side by
side in threads stay reproducible.

This module imports torch: it is imported only once torch is known to be installed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

__all__ = ["MODULES", "SeededDropout", "SequenceRNN", "SmallCNN", "TabularMLP", "build_module", "embedding_size"]


class SeededDropout(nn.Module):
    """Dropout whose masks come from ``generator`` when one is set (the training loop sets its own), else
    from torch's global generator as ``nn.Dropout`` does."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {p!r}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None:
            return functional.dropout(x, self.p, training=True)
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def embedding_size(cardinality: int, largest: int = 16) -> int:
    """Width of a category's embedding: grows slowly with its number of levels (fast.ai's rule of thumb),
    at most ``largest``."""
    return int(min(largest, max(2, round(1.6 * cardinality ** 0.56))))


class TabularMLP(nn.Module):
    """Numeric inputs and one embedding per categorical input, concatenated, through ``depth`` blocks of
    Linear -> BatchNorm -> ReLU -> Dropout of ``width`` units, then a linear head of ``n_outputs``."""

    def __init__(self, n_numeric: int, cardinalities: list[int], n_outputs: int, *, width: int = 128,
                 depth: int = 2, dropout: float = 0.1, batch_norm: bool = True, max_embedding: int = 16) -> None:
        super().__init__()
        sizes = [embedding_size(c, max_embedding) for c in cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c, size) for c, size in zip(cardinalities, sizes, strict=True))
        width_in = n_numeric + sum(sizes)
        if width_in == 0:
            raise ValueError("an MLP needs at least one input column")
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(width_in if i == 0 else width, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [nn.ReLU(), SeededDropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width if depth else width_in, n_outputs)

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        parts = [numeric, *(embedding(codes[:, i]) for i, embedding in enumerate(self.embeddings))]
        x = torch.cat(parts, dim=1) if len(parts) > 1 else numeric
        return self.head(self.body(x))


class SmallCNN(nn.Module):
    """``blocks`` blocks of two 3x3 convolutions (BatchNorm, ReLU) and a 2x2 max-pool, doubling the channels
    from ``channels``; then the mean over the image, dropout and a linear head. Images are NCHW float tensors
    of any size."""

    def __init__(self, in_channels: int, n_outputs: int, *, channels: int = 32, blocks: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = in_channels
        for b in range(blocks):
            width = channels * 2 ** b
            layers += [nn.Conv2d(width_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            width_in = width
        self.features = nn.Sequential(*layers)
        self.dropout = SeededDropout(dropout)
        self.head = nn.Linear(width_in, n_outputs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # the mean over height and width (not AdaptiveAvgPool2d, whose CUDA backward is not deterministic)
        pooled = self.features(images).mean(dim=(2, 3))
        return self.head(self.dropout(pooled))


class SequenceRNN(nn.Module):
    """``layers`` recurrent layers (LSTM or GRU, optionally bidirectional) with dropout after each, over
    (batch, time, features) sequences; the state after the last step (and, bidirectional, after the first
    step backwards) goes to a linear head."""

    def __init__(self, n_features: int, n_outputs: int, *, cell: str = "lstm", hidden_size: int = 64,
                 layers: int = 1, bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        kinds: dict[str, type[nn.Module]] = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in kinds:
            raise ValueError(f"cell must be one of {', '.join(kinds)}, not {cell!r}")
        if layers < 1:
            raise ValueError(f"num_layers must be at least 1, not {layers}")
        directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.recurrent = nn.ModuleList(
            kinds[cell](n_features if i == 0 else hidden_size * directions, hidden_size, batch_first=True,
                        bidirectional=bidirectional) for i in range(layers))
        self.dropouts = nn.ModuleList(SeededDropout(dropout) for _ in range(layers))
        self.head = nn.Linear(hidden_size * directions, n_outputs)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        x = sequences
        for recurrent, dropout in zip(self.recurrent, self.dropouts, strict=True):
            x, _ = recurrent(x)
            x = dropout(x)
        if self.bidirectional:
            last = torch.cat([x[:, -1, : self.hidden_size], x[:, 0, self.hidden_size:]], dim=1)
        else:
            last = x[:, -1, :]
        return self.head(last)


MODULES: dict[str, type[nn.Module]] = {"mlp": TabularMLP, "cnn": SmallCNN, "rnn": SequenceRNN}


def build_module(kind: str, **config: Any) -> nn.Module:
    """The network ``kind`` (a key of ``MODULES``) built from ``config``."""
    return MODULES[kind](**config)
