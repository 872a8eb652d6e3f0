"""Fine-tuning a pretrained network against training from scratch, at equal wall time, on a small labelled
subset: 1000 Fashion-MNIST training images (a seeded random choice; scikit-learn's digits when the Debian
package ``dataset-fashion-mnist`` is missing), scored on 2000 test images.

Four ways to spend the same ``--seconds`` of training each:

1. EfficientNet-Lite0 with its ImageNet weights, backbone frozen, a new head (``TransferClassifier``);
2. the same, the whole backbone unfrozen after 2 epochs of the head, at a tenth of the head's learning rate;
3. EfficientNet-Lite0 from random weights (``weights=None``), everything trained;
4. the small CNN (``CNNClassifier``, 32-64 channels) from scratch on the 28 x 28 images.

EfficientNet sees the images resized to ``--size`` pixels (64: CPU-friendly). Equal time: each method's cost of
an epoch is measured first (short fits), and the method then trains as many epochs as fit in the budget (the
cosine schedule spread over them), with ``time_budget`` as a hard stop; the best epoch on the 10% validation
rows is kept. A backbone frozen for the whole fit computes each image's features once (the first epoch): its
later epochs cost the head alone. Writes ``benchmarks/deep/TRANSFER.md``.

    .venv/bin/python benchmarks/deep/transfer.py --seconds 90     # about 10 minutes on one core
    .venv/bin/python benchmarks/deep/transfer.py --seconds 90 --size 96 --append   # the same at 96 x 96
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aiforge.deep import CNNClassifier, TransferClassifier, load_fashion_mnist  # noqa: E402
from aiforge.deep._datasets import FASHION_MNIST_DIR  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402

HERE = Path(__file__).resolve().parent
TRAIN_ROWS, TEST_ROWS = 1000, 2000


def data() -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if FASHION_MNIST_DIR.is_dir():
        train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
        fit = rng.choice(len(train.labels), TRAIN_ROWS, replace=False)
        held = rng.choice(len(test.labels), TEST_ROWS, replace=False)
        return ("Fashion-MNIST (28 x 28 grey)", train.images[fit].astype(np.float32), train.labels[fit],
                test.images[held].astype(np.float32), test.labels[held])
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_fit, X_test, y_fit, y_test = train_test_split(digits.images.astype(np.float32), digits.target,
                                                    train_size=TRAIN_ROWS, random_state=0, stratify=digits.target)
    return "scikit-learn digits (8 x 8 grey)", X_fit, y_fit, X_test, y_test


def methods(size: int, threads: int) -> list[tuple[str, Any, int]]:
    """(name, estimator, epochs of the head alone before the backbone unfreezes)."""
    common: dict[str, Any] = {"n_jobs": threads, "patience": None, "random_state": 0, "batch_size": 64}
    return [
        ("EfficientNet-Lite0, ImageNet weights, frozen backbone + new head",
         TransferClassifier(image_size=size, lr=3e-3, **common), 0),
        ("EfficientNet-Lite0, ImageNet weights, all unfrozen after 2 epochs (backbone at lr/10)",
         TransferClassifier(image_size=size, lr=3e-3, unfreeze="all", unfreeze_after=2, backbone_lr=0.1, **common), 2),
        ("EfficientNet-Lite0 from scratch (random weights)",
         TransferClassifier(image_size=size, lr=3e-3, weights=None, unfreeze="all", **common), 0),
        ("small CNN (32-64 channels) from scratch, 28 x 28",
         CNNClassifier(channels=32, blocks=2, lr=3e-3, **common), 0),
    ]


def planned_epochs(model: Any, X: np.ndarray, y: np.ndarray, frozen_epochs: int, seconds: float) -> int:
    """Epochs that fit in ``seconds``, from calibration fits: the first epoch and a later one (a frozen backbone's
    features are computed in the first epoch only), or the head's epochs and then the unfrozen ones."""
    if frozen_epochs:
        head = model.set_params(max_epochs=1, time_budget=None).fit(X, y).history_.epochs[0].seconds
        whole = model.set_params(max_epochs=1, unfreeze_after=0).fit(X, y).history_.epochs[0].seconds
        model.set_params(unfreeze_after=frozen_epochs)
        return frozen_epochs + max(1, int((seconds - frozen_epochs * head) / whole))
    first, later = (e.seconds for e in model.set_params(max_epochs=2, time_budget=None).fit(X, y).history_.epochs)
    return 1 + max(0, int((seconds - first) / later))


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0, help="training time of each method")
    parser.add_argument("--size", type=int, default=64, help="EfficientNet's input size in pixels")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=HERE / "TRANSFER.md")
    parser.add_argument("--append", action="store_true", help="add this run's section to --out (another size)")
    args = parser.parse_args()
    name, X, y, X_test, y_test = data()
    rows = []
    started, load_before = time.perf_counter(), load()
    with torch_threads(args.threads):
        for label, model, frozen_epochs in methods(args.size, args.threads):
            epochs = planned_epochs(model, X, y, frozen_epochs, args.seconds)
            model.set_params(max_epochs=epochs, time_budget=args.seconds)
            tic = time.perf_counter()
            model.fit(X, y)
            fit_seconds = time.perf_counter() - tic
            accuracy = float(np.mean(model.predict(X_test) == y_test))
            history = model.history_
            rows.append((label, fit_seconds, len(history.epochs), epochs, history.best_epoch, accuracy))
            print(f"{label}: {accuracy:.3f} in {fit_seconds:.1f} s ({len(history.epochs)}/{epochs} epochs)",
                  flush=True)
    write(args, name, rows, time.perf_counter() - started, load_before, load())


def write(args: argparse.Namespace, name: str, rows: list[tuple[Any, ...]], total: float, before: str,
          after: str) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = [
        "# Transfer learning against training from scratch, at equal wall time",
        "",
        f"Written by `benchmarks/deep/transfer.py --seconds {args.seconds:g} --size {args.size} --threads "
        f"{args.threads}` on {dt.date.today().isoformat()} (commit {commit}), {total / 60:.1f} minutes in all.",
        "",
        f"- data: {name}, {TRAIN_ROWS} training images (90% fit, 10% validate each epoch), {TEST_ROWS} test images;",
        f"- EfficientNet-Lite0 sees them resized to {args.size} x {args.size} (one grey channel repeated to three); "
        "the small CNN at their own size;",
        f"- each method trains for at most {args.seconds:g} s: as many epochs as its measured epoch times allow "
        "(cosine schedule over them, `time_budget` as a hard stop), the best validation epoch kept; a backbone "
        "frozen for the whole fit computes each image's features in its first epoch only;",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores shared with other work, {args.threads} torch "
        f"thread(s); load average (1, 5, 15 min) {before} before, {after} after: timings under such load move "
        "by tens of percent, so the epochs each method got are shown;",
        f"- Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"{'aiforge ' + commit}.",
        "",
        "| method | fit seconds | epochs (planned) | best epoch | test accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, seconds, done, planned, best, accuracy in rows:
        lines.append(f"| {label} | {seconds:.1f} | {done} ({planned}) | {best} | {accuracy:.3f} |")
    lines += ["", "Fit seconds include the whole `fit` (standardisation, loading the weights, validation each epoch); "
              "prediction on the test images is not counted.", ""]
    if args.append and args.out.exists():
        lines[0] = f"## {args.size} x {args.size} pixels"
        args.out.write_text(args.out.read_text() + "\n" + "\n".join(lines))
    else:
        args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
