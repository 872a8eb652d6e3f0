"""What compression does to the torch estimators: size, latency and accuracy before and after, on
scikit-learn's digits (an MLP on the 64 pixels, a CNN on the 8x8 images) and breast cancer (an MLP).

Each network is fitted once (seeded); each compression of ``aiforge.deep.compress`` is applied to it and
measured the same way: bytes of the pickled estimator (and gzip-compressed), parameters not zero, the median
milliseconds of a one-row prediction and of a 1000-row batch (one torch thread, the variants taking turns),
and test accuracy. Writes ``benchmarks/deep/COMPRESSION.md``.

    .venv/bin/python benchmarks/deep/compression.py      # about a minute on one core
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import pickle
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from aiforge.deep import CNNClassifier, CompressionConfig, MLPClassifier, compress  # noqa: E402
from aiforge.deep._compress import count_parameters  # noqa: E402

HERE = Path(__file__).resolve().parent
ONE_ROW_CALLS = 200
BATCHES = 15
BATCH_ROWS = 1000

VARIANTS: list[tuple[str, CompressionConfig | None]] = [
    ("original (float32)", None),
    ("magnitude 50%", CompressionConfig(prune=0.5)),
    ("magnitude 80% + 5 epochs", CompressionConfig(prune=0.8, fine_tune_epochs=5)),
    ("structured 50%", CompressionConfig(prune=0.5, structured=True)),
    ("structured 50% + 5 epochs", CompressionConfig(prune=0.5, structured=True, fine_tune_epochs=5)),
    ("dynamic int8", CompressionConfig(quantize="dynamic")),
    ("static int8", CompressionConfig(quantize="static")),
    ("structured 50% + 5 epochs + static int8",
     CompressionConfig(prune=0.5, structured=True, fine_tune_epochs=5, quantize="static")),
]


def datasets() -> list[tuple[str, Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    digits = load_digits()
    cancer = load_breast_cancer()
    out = []
    X_fit, X_test, y_fit, y_test = train_test_split(digits.data, digits.target, test_size=0.3, random_state=0,
                                                    stratify=digits.target)
    out.append(("digits, MLP 2 x 256", MLPClassifier(hidden_width=256, max_epochs=40, lr=3e-3, n_jobs=1),
                X_fit, X_test, y_fit, y_test))
    X_fit, X_test, y_fit, y_test = train_test_split(digits.images, digits.target, test_size=0.3, random_state=0,
                                                    stratify=digits.target)
    out.append(("digits 8x8, CNN 16-32 channels", CNNClassifier(channels=16, max_epochs=15, lr=3e-3, batch_size=64,
                                                                n_jobs=1), X_fit, X_test, y_fit, y_test))
    X_fit, X_test, y_fit, y_test = train_test_split(cancer.data, cancer.target, test_size=0.3, random_state=0,
                                                    stratify=cancer.target)
    out.append(("breast cancer, MLP 2 x 128", MLPClassifier(n_jobs=1), X_fit, X_test, y_fit, y_test))
    return out


def latencies(models: dict[str, Any], X_test: np.ndarray) -> dict[str, tuple[float, float]]:
    """Median ms of a one-row predict_proba and of a 1000-row batch, the models taking turns (each first in its
    turn as often as the others)."""
    batch = X_test[np.random.default_rng(0).choice(len(X_test), size=BATCH_ROWS)]
    one: dict[str, list[float]] = {name: [] for name in models}
    many: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.predict_proba(X_test[:1])
        model.predict_proba(batch)
    names = list(models)
    for i in range(ONE_ROW_CALLS):
        for name in names[i % len(names):] + names[:i % len(names)]:  # each goes first in turn
            started = time.perf_counter()
            models[name].predict_proba(X_test[i % len(X_test): i % len(X_test) + 1])
            one[name].append(time.perf_counter() - started)
    for i in range(BATCHES):
        for name in names[i % len(names):] + names[:i % len(names)]:
            model = models[name]
            started = time.perf_counter()
            model.predict_proba(batch)
            many[name].append(time.perf_counter() - started)
    return {name: (statistics.median(one[name]) * 1e3, statistics.median(many[name]) * 1e3) for name in models}


def main() -> None:
    torch.set_num_threads(1)
    lines = [
        "# Compression of the torch estimators: size, latency, accuracy", "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `.venv/bin/python benchmarks/deep/compression.py` "
        f"on {platform.machine()}, {os.cpu_count()} cores (shared with other work), Python "
        f"{platform.python_version()}, torch {torch.__version__} (quantised engine "
        f"{torch.backends.quantized.engine}), one torch thread. Latency: median of {ONE_ROW_CALLS} one-row "
        f"`predict_proba` calls and of {BATCHES} batches of {BATCH_ROWS} rows, the variants taking turns (each "
        "as often first). "
        "Bytes: the pickled estimator (what the registry stores). Compression and fine-tuning on the training "
        "split; accuracy on the test split (30%).", "",
    ]
    for title, estimator, X_fit, X_test, y_fit, y_test in datasets():
        print(title, file=sys.stderr)
        estimator.fit(X_fit, y_fit)
        models: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for name, config in VARIANTS:
            if config is None:
                models[name] = estimator
                continue
            started = time.perf_counter()
            models[name], _ = compress(estimator, config, X_fit, y_fit)
            seconds[name] = time.perf_counter() - started
        timed = latencies(models, X_test)
        lines += [f"## {title}", "", "| variant | bytes | gzip bytes | parameters not zero | ms per row | "
                  "ms per 1000 rows | accuracy | compression s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, model in models.items():
            stored = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
            total, nonzero = count_parameters(model.module_)
            accuracy = float(np.mean(model.predict(X_test) == y_test))
            one, many = timed[name]
            lines.append(f"| {name} | {len(stored):,} | {len(gzip.compress(stored, 6)):,} | {nonzero:,} of {total:,} | "
                         f"{one:.3f} | {many:.2f} | {accuracy:.4f} | "
                         f"{seconds[name]:.2f} |" if name in seconds else
                         f"| {name} | {len(stored):,} | {len(gzip.compress(stored, 6)):,} | {nonzero:,} of {total:,} | "
                         f"{one:.3f} | {many:.2f} | {accuracy:.4f} | — |")
        lines.append("")
    text = "\n".join(lines)
    (HERE / "COMPRESSION.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
