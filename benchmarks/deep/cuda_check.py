"""The same torch learners on the CPU and on CUDA: each estimator of ``aiforge.deep`` is fitted twice with the same
seed and data, once with ``device="cpu"`` and once with ``device="auto"`` (CUDA, with the automatic mixed
precision that ``amp="auto"`` picks there), and its held-out accuracy, fit time, device and precision are
compared. It checks that the code that trains on the CPU also trains on a GPU, to about the same accuracy (mixed
precision and different kernels make the numbers differ a little, not the quality), and writes
``benchmarks/deep/CUDA.md``. On a machine without CUDA it writes that it measured nothing.

    .venv/bin/python benchmarks/deep/cuda_check.py              # where torch.cuda.is_available()
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aiforge.deep import (  # noqa: E402
    CNNClassifier,
    MLPClassifier,
    MLPRegressor,
    RNNClassifier,
    TransferClassifier,
    load_fashion_mnist,
)

HERE = Path(__file__).resolve().parent


def _fashion(train: int, test: int) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(0).permutation(60_000)[:train]
    tr, te = load_fashion_mnist("train"), load_fashion_mnist("test")
    return tr.images[order][:, None], tr.labels[order], te.images[:test][:, None], te.labels[:test]


def _sequences(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sine waves of 3 frequencies (the class), 40 steps, 2 features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    t = np.linspace(0, 4 * np.pi, 40)
    phase = rng.uniform(0, 2 * np.pi, (rows, 1))
    wave = np.sin((labels[:, None] + 1) * t[None] / 2 + phase)
    X = np.stack([wave + rng.normal(0, 0.4, wave.shape), rng.normal(0, 1, wave.shape)], axis=2)
    return X.astype("float32"), labels


def cases() -> list[tuple[str, Any, Any, tuple[np.ndarray, ...], str]]:
    Xtr, ytr, Xte, yte = _fashion(12_000, 2_000)
    flat = (Xtr.reshape(len(Xtr), -1).astype("float32") / 255, ytr, Xte.reshape(len(Xte), -1).astype("float32") / 255,
            yte)
    small = _fashion(1_000, 1_000)
    seq_tr, seq_te = _sequences(3_000, 0), _sequences(1_000, 1)
    rng = np.random.default_rng(0)
    reg_X = rng.normal(size=(6_000, 20)).astype("float32")
    reg_y = reg_X[:, :5].sum(axis=1) + np.sin(reg_X[:, 5] * 2) + rng.normal(0, 0.1, 6_000)
    common = {"random_state": 0, "validation_fraction": 0.1}
    return [
        ("cnn (Fashion-MNIST, 12k images)", CNNClassifier, {**common, "max_epochs": 8, "batch_size": 128},
         (Xtr, ytr, Xte, yte), "accuracy"),
        ("mlp (Fashion-MNIST pixels, 12k rows)", MLPClassifier, {**common, "max_epochs": 15, "batch_size": 256},
         flat, "accuracy"),
        ("rnn (GRU, 3k sequences of 40 steps)", RNNClassifier, {**common, "max_epochs": 15, "batch_size": 128},
         (seq_tr[0], seq_tr[1], seq_te[0], seq_te[1]), "accuracy"),
        ("mlp regressor (6k rows, 20 features)", MLPRegressor, {**common, "max_epochs": 30, "batch_size": 256},
         (reg_X[:5_000], reg_y[:5_000], reg_X[5_000:], reg_y[5_000:]), "r2"),
        ("efficientnet-lite0 transfer, frozen (1k images, 96x96)", TransferClassifier,
         {**common, "max_epochs": 6, "batch_size": 64, "image_size": 96, "unfreeze": 0}, small, "accuracy"),
    ]


def score(estimator: Any, X: np.ndarray, y: np.ndarray, metric: str) -> float:
    predicted = estimator.predict(X)
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    residual = np.sum((y - predicted) ** 2)
    return float(1 - residual / np.sum((y - y.mean()) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "CUDA.md")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    lines = ["# The torch learners on the CPU and on CUDA", "",
             f"Measured {started:%Y-%m-%d %H:%M} UTC by `python benchmarks/deep/cuda_check.py`", "",
             f"- Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU cores "
             f"(torch threads: {torch.get_num_threads()})"]
    if not torch.cuda.is_available():
        lines += ["- GPU: none (torch.cuda.is_available() is False): nothing was measured."]
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print("no CUDA device: nothing measured")
        return
    props = torch.cuda.get_device_properties(0)
    lines += [f"- GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}", "- Same estimator, seed, data and parameters on both devices; "
              "`amp=\"auto\"`: float32 on the CPU, bfloat16 autocast on CUDA", "",
              "| learner | metric | CPU | CUDA | CUDA precision | epochs (CPU / CUDA) | fit s (CPU / CUDA) |",
              "|---|---|---:|---:|---|---|---|"]
    for name, cls, params, (Xtr, ytr, Xte, yte), metric in cases():
        row: dict[str, Any] = {}
        for device in ("cpu", "auto"):
            estimator = cls(device=device, **params)
            began = time.perf_counter()
            estimator.fit(Xtr, ytr)
            row[device] = (score(estimator, Xte, yte, metric), time.perf_counter() - began, estimator.n_epochs_,
                           estimator.device_, estimator.history_.precision)
            print(f"{name:<55} {estimator.device_:<6} {estimator.history_.precision:<9} {metric} "
                  f"{row[device][0]:.4f} fit {row[device][1]:.1f} s", flush=True)
        cpu, gpu = row["cpu"], row["auto"]
        if not gpu[3].startswith("cuda"):
            raise SystemExit(f"{name}: device='auto' trained on {gpu[3]}, not CUDA")
        lines.append(f"| {name} | {metric} | {cpu[0]:.4f} | {gpu[0]:.4f} | {gpu[4]} | {cpu[2]} / {gpu[2]} | "
                     f"{cpu[1]:.1f} / {gpu[1]:.1f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
