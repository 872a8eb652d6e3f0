"""What resampling, synthetic rows and augmentation do for the recall of a rare class (issue 8, criterion 4).

(a) Tables. Adult (examples/income, ``income > 50K`` thinned to 5 % of the rows) and a scikit-learn generated
set (3 % minority): each of aiforge's linear, lightgbm and mlp learners, fitted as aiforge refits a winner
(``learn._select._fit_pipeline``: its encoder, then the resampling on the training rows only) with its
known-good configuration and each way of handling the imbalance: none, class weights (``class_weight:
balanced``), SMOTE, ADASYN and synthetic rows (a Gaussian copula per class). Measured on a test split thinned
alike (so the test has the imbalance the model will meet), at the model's own decision (probability 0.5):
minority recall, precision, F1, balanced accuracy, and ROC AUC (which no decision threshold moves).

(b) Images. A small labelled subset of Fashion-MNIST (Debian's dataset-fashion-mnist: 100 training images of
each class, 8 of the rare one) and scikit-learn's 8x8 digits (the rare digit cut to a tenth), a small CNN
trained with and without augmentation, and with class weights: the rare class's recall, precision and F1 on
the whole test split, and the accuracy over all classes. Digits are not flipped (a mirrored 2 is no 2).

Every figure is the median over the seeds (each seed draws its own subsample, split and initial weights).
One torch thread, so that the run stays modest on a shared machine. Writes benchmarks/deep/AUGMENTATION.md.

    .venv/bin/python benchmarks/deep/augment.py                      # 3 seeds: about 10 minutes of one core
    .venv/bin/python benchmarks/deep/augment.py --part images --epochs 60   # rewrite the (b) section only
    .venv/bin/python benchmarks/deep/augment.py --quick              # 1 seed, fewer rows: a smoke run, writes nothing

With ``--part``, the other part's section of an existing AUGMENTATION.md is kept as it was; each section
says when and under what load it ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from aiforge.deep import CNNClassifier, load_fashion_mnist  # noqa: E402
from aiforge.learn import LEARNERS, choose_features  # noqa: E402
from aiforge.learn._select import _fit_pipeline  # noqa: E402
from aiforge.spec import TaskKind  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
METHODS: list[tuple[str, dict[str, Any]]] = [
    ("none", {"class_weight": None, "resample": "none"}),
    ("class weights", {"class_weight": "balanced", "resample": "none"}),
    ("SMOTE", {"class_weight": None, "resample": "smote"}),
    ("ADASYN", {"class_weight": None, "resample": "adasyn"}),
    ("synthetic (copula)", {"class_weight": None, "resample": "synthetic"}),
]
LEARNER_NAMES = ("linear", "lightgbm", "mlp")
MLP_EPOCHS = 20  # the refit trains this many (aiforge's search would pick it by early stopping)
LIGHTGBM_ROUNDS = 300  # likewise: a refit without a validation fold would grow 3,000
Table = tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]


# --- (a) tables ------------------------------------------------------------------------------------------

def _thin(frame: pd.DataFrame, y: np.ndarray, share: float, rng: np.random.Generator) -> tuple[Any, Any]:
    """Keep every negative row and only as many positives as make them ``share`` of the rows."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    keep_pos = rng.choice(pos, size=int(round(share / (1 - share) * len(neg))), replace=False)
    rows = np.sort(np.concatenate([neg, keep_pos]))
    return frame.iloc[rows].reset_index(drop=True), y[rows]


def adult(seed: int, rows: int) -> Table:
    frame = pd.read_csv(ADULT)
    y = (frame.pop("income") == ">50K").to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(frame), size=min(rows, len(frame)), replace=False)
    frame, y = frame.iloc[pick].reset_index(drop=True), y[pick]
    X_fit, X_test, y_fit, y_test = train_test_split(frame, y, test_size=0.3, random_state=seed, stratify=y)
    X_fit, y_fit = _thin(X_fit.reset_index(drop=True), y_fit, 0.05, rng)
    X_test, y_test = _thin(X_test.reset_index(drop=True), y_test, 0.05, rng)
    return X_fit, y_fit, X_test, y_test


def generated(seed: int, rows: int) -> Table:
    X, y = make_classification(n_samples=rows, n_features=12, n_informative=6, n_redundant=2, weights=[0.97],
                               class_sep=0.8, flip_y=0.01, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    X_fit, X_test, y_fit, y_test = train_test_split(frame, y.astype(float), test_size=0.3, random_state=seed,
                                                    stratify=y)
    return X_fit.reset_index(drop=True), y_fit, X_test.reset_index(drop=True), y_test


def _scores(truth: np.ndarray, decided: np.ndarray, proba: np.ndarray | None) -> dict[str, float]:
    return {"recall": recall_score(truth, decided, zero_division=0.0),
            "precision": precision_score(truth, decided, zero_division=0.0),
            "f1": f1_score(truth, decided, zero_division=0.0),
            "balanced_accuracy": balanced_accuracy_score(truth, decided),
            **({"roc_auc": roc_auc_score(truth, proba)} if proba is not None else {})}


def run_table(name: str, load: Callable[[int, int], Table], seeds: list[int], rows: int) -> list[dict[str, Any]]:
    results = []
    for seed in seeds:
        X_fit, y_fit, X_test, y_test = load(seed, rows)
        features = choose_features(pa.Table.from_pandas(X_fit, preserve_index=False), None)
        for learner in LEARNER_NAMES:
            init = LEARNERS[learner].init_config(len(X_fit), TaskKind.BINARY)
            if learner == "mlp":
                init["max_epochs"] = MLP_EPOCHS
            if learner == "lightgbm":
                init["n_estimators"] = LIGHTGBM_ROUNDS
            for method, params in METHODS:
                started = time.perf_counter()
                pipe = _fit_pipeline(learner, TaskKind.BINARY, features, seed, 1, {**init, **params}, X_fit, y_fit)
                proba = pipe.predict_proba(X_test[features.columns])[:, 1]
                scores = _scores(y_test, (proba >= 0.5).astype(float), proba)
                results.append({"data": name, "learner": learner, "method": method, "seed": seed,
                                "seconds": time.perf_counter() - started, **scores})
        minority = int(y_fit.sum())
        print(f"  {name} seed {seed}: {len(y_fit)} training rows ({minority} minority), {len(y_test)} test rows "
              f"({int(y_test.sum())} minority)", flush=True)
    return results


# --- (b) images ------------------------------------------------------------------------------------------

IMAGE_CONFIGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "fashion": [
        ("none", {}),
        ("flip + crop 2 + noise 0.05", {"augment": {"flip": True, "crop": 2, "noise": 0.05}}),
        ("flip + crop 2 + rotate 10 + cutout 8", {"augment": {"flip": True, "crop": 2, "rotate": 10.0, "cutout": 8}}),
        ("class weights", {"class_weight": "balanced"}),
        ("flip + crop 2 + noise 0.05, class weights",
         {"augment": {"flip": True, "crop": 2, "noise": 0.05}, "class_weight": "balanced"}),
    ],
    "digits": [
        ("none", {}),
        ("crop 1 + rotate 10 + noise 0.05", {"augment": {"crop": 1, "rotate": 10.0, "noise": 0.05}}),
        ("class weights", {"class_weight": "balanced"}),
        ("crop 1 + rotate 10 + noise 0.05, class weights",
         {"augment": {"crop": 1, "rotate": 10.0, "noise": 0.05}, "class_weight": "balanced"}),
    ],
}
FASHION_RARE = 0  # T-shirt/top: easily taken for a shirt, so a rare one is easily missed
DIGITS_RARE = 8  # an 8 is easily taken for a 3 or a 9


def fashion(seed: int, per_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(train.labels == c), replace=False,
                                      size=per_class // 10 if c == FASHION_RARE else per_class) for c in range(10)])
    scale = np.float32(1 / 255)
    return (train.images[rows].astype(np.float32) * scale, train.labels[rows],
            test.images.astype(np.float32) * scale, test.labels)


def digits(seed: int, per_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_digits()
    images, labels = data.images.astype(np.float32) / 16, data.target
    X_fit, X_test, y_fit, y_test = train_test_split(images, labels, test_size=0.4, random_state=seed, stratify=labels)
    rng = np.random.default_rng(seed)
    rare = np.flatnonzero(y_fit == DIGITS_RARE)
    drop = rng.choice(rare, size=len(rare) - max(2, len(rare) // 10), replace=False)
    keep = np.setdiff1d(np.arange(len(y_fit)), drop)
    return X_fit[keep], y_fit[keep], X_test, y_test


def run_images(name: str, seeds: list[int], per_class: int, epochs: int) -> list[dict[str, Any]]:
    rare = FASHION_RARE if name == "fashion" else DIGITS_RARE
    load = fashion if name == "fashion" else digits
    cnn = ({"channels": 8, "blocks": 2, "batch_size": 32} if name == "fashion"
           else {"channels": 16, "blocks": 1, "batch_size": 32})
    results = []
    for seed in seeds:
        X_fit, y_fit, X_test, y_test = load(seed, per_class)
        for config, params in IMAGE_CONFIGS[name]:
            started = time.perf_counter()
            model = CNNClassifier(**cnn, lr=3e-3, max_epochs=epochs, patience=max(5, epochs // 4),
                                  validation_fraction=0.15, n_jobs=1, device="auto", random_state=seed, **params)
            model.fit(X_fit, y_fit)
            decided = model.predict(X_test)
            scores = _scores(y_test == rare, decided == rare, None)
            results.append({"data": name, "config": config, "seed": seed, "seconds": time.perf_counter() - started,
                            "accuracy": float((decided == y_test).mean()), "epochs": model.n_epochs_,
                            "device": model.device_, **scores})
        print(f"  {name} seed {seed}: {len(y_fit)} training images ({int((y_fit == rare).sum())} of the rare class "
              f"{rare}), {len(y_test)} test images", flush=True)
    return results


# --- the report ------------------------------------------------------------------------------------------

def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def table_section(results: list[dict[str, Any]], name: str, title: str) -> list[str]:
    lines = [f"### {title}", "", "| learner | handling | minority recall | precision | F1 | balanced accuracy | "
             "ROC AUC | fit s |", "|---|---|---|---|---|---|---|---|"]
    for learner in LEARNER_NAMES:
        for method, _ in METHODS:
            rows = [r for r in results if r["data"] == name and r["learner"] == learner and r["method"] == method]
            lines.append(f"| {learner} | {method} | {_median(rows, 'recall'):.3f} | {_median(rows, 'precision'):.3f} "
                         f"| {_median(rows, 'f1'):.3f} | {_median(rows, 'balanced_accuracy'):.3f} | "
                         f"{_median(rows, 'roc_auc'):.3f} | {_median(rows, 'seconds'):.1f} |")
    lines.append("")
    for learner in LEARNER_NAMES:
        def med(method: str, key: str, learner: str = learner) -> float:
            return _median([r for r in results if r["data"] == name and r["learner"] == learner
                            and r["method"] == method], key)
        best_f1 = max((m for m, _ in METHODS), key=lambda m: med(m, "f1"))
        best_recall = max((m for m, _ in METHODS), key=lambda m: med(m, "recall"))
        lines.append(f"- {learner}: the highest minority recall with {best_recall} ({med(best_recall, 'recall'):.3f} "
                     f"against {med('none', 'recall'):.3f} with none), the highest F1 with {best_f1} "
                     f"({med(best_f1, 'f1'):.3f} against {med('none', 'f1'):.3f}).")
    return [*lines, ""]


def image_section(results: list[dict[str, Any]], name: str, title: str) -> list[str]:
    lines = [f"### {title}", "", "| training | rare recall | rare precision | rare F1 | accuracy (all classes) | "
             "epochs | fit s |", "|---|---|---|---|---|---|---|"]
    for config, _ in IMAGE_CONFIGS[name]:
        rows = [r for r in results if r["data"] == name and r["config"] == config]
        lines.append(f"| {config} | {_median(rows, 'recall'):.3f} | {_median(rows, 'precision'):.3f} | "
                     f"{_median(rows, 'f1'):.3f} | {_median(rows, 'accuracy'):.3f} | {_median(rows, 'epochs'):.0f} "
                     f"| {_median(rows, 'seconds'):.1f} |")
    per_seed = []
    for config, _ in IMAGE_CONFIGS[name]:
        rows = sorted((r for r in results if r["data"] == name and r["config"] == config), key=lambda r: r["seed"])
        per_seed.append(f"{config}: " + ", ".join(f"{r['recall']:.2f}" for r in rows))
    return [*lines, "", "Rare recall per seed: " + "; ".join(per_seed) + ".", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed and fewer rows; print, write nothing")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--part", choices=("all", "tables", "images"), default="all")
    parser.add_argument("--epochs", type=int, default=60, help="the CNN's most epochs (early stopping may end sooner)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(1 if args.quick else args.seeds))
    rows, gen_rows, per_class, epochs = (4000, 4000, 40, 6) if args.quick else (12000, 8000, 80, args.epochs)
    results: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    if args.part in ("all", "tables"):
        print("(a) tables", flush=True)
        started, load_before = time.perf_counter(), os.getloadavg()
        results += run_table("adult", adult, seeds, rows)
        results += run_table("generated", generated, seeds, gen_rows)
        tables_run = _run_line(started, load_before, len(seeds))
    if args.part in ("all", "images"):
        print("(b) images", flush=True)
        started, load_before = time.perf_counter(), os.getloadavg()
        images += run_images("fashion", seeds, per_class, epochs)
        images += run_images("digits", seeds, per_class, epochs)
        images_run = _run_line(started, load_before, len(seeds))
    path = HERE / "AUGMENTATION.md"
    kept = _sections(path.read_text(encoding="utf-8")) if path.exists() and args.part != "all" else {}
    lines = [
        "# Augmentation and synthetic data: the recall of a rare class",
        "",
        "Written by `benchmarks/deep/augment.py`; each part says when it ran and under what load. Every figure is "
        "a median over the seeds; each seed draws its own subsample, split and initial weights.",
        "",
    ]
    if results:
        lines += [
            "## (a) Tables: none, class weights, SMOTE, ADASYN, synthetic rows", "", tables_run, "",
            "aiforge's learners with their known-good configuration, fitted as aiforge refits a winner: the encoder, "
            "then the resampling of the training rows only (never the test rows). Decisions at probability 0.5. "
            f"The mlp trains {MLP_EPOCHS} epochs and lightgbm grows {LIGHTGBM_ROUNDS} trees (aiforge's search would "
            "pick both by early stopping on its validation folds). ROC AUC ranks the test rows by probability, "
            "which a decision threshold does not change: where resampling raises recall but not ROC AUC, it has "
            "mostly moved the threshold, which `model.threshold` can also do.", "",
        ]
        lines += table_section(results, "adult", f"Adult, income > 50K thinned to 5 % ({rows:,} rows drawn, "
                                                 "70 % for training)")
        lines += table_section(results, "generated", f"make_classification, 3 % minority ({gen_rows:,} rows, "
                                                     "12 features, class_sep 0.8, 1 % labels flipped)")
    elif "a" in kept:
        lines += [kept["a"]]
    if images:
        lines += [
            "## (b) Images: augmentation and the rare class", "", images_run, "",
            f"A small CNN (`CNNClassifier`), at most {epochs} epochs with early stopping (patience "
            f"{max(5, epochs // 4)}) on a stratified 15 % of the training images; augmentation applies to training "
            "batches only. Measured on the whole test split.", "",
        ]
        lines += image_section(images, "fashion", f"Fashion-MNIST, {per_class} training images per class, "
                                                  f"{per_class // 10} of T-shirt/top (8 channels, 2 blocks)")
        lines += image_section(images, "digits", "digits 8x8, 60 % for training, the digit 8 cut to a tenth "
                                                 "(16 channels, 1 block)")
    elif "b" in kept:
        lines += [kept["b"]]
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    if not args.quick:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _run_line(started: float, load_before: tuple[float, float, float], seeds: int) -> str:
    return (f"Run on {dt.date.today().isoformat()}: {(time.perf_counter() - started) / 60:.1f} minutes, {seeds} seeds; "
            f"Python {platform.python_version()}, torch {torch.__version__}, one torch thread, {platform.machine()} "
            f"{os.cpu_count()} cores; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after (a "
            "shared machine: read the seconds as rough).")


def _sections(text: str) -> dict[str, str]:
    """The "## (a)" and "## (b)" sections of an AUGMENTATION.md, by letter."""
    found: dict[str, str] = {}
    for part in text.split("\n## (")[1:]:
        found[part[0]] = "## (" + part.rstrip() + "\n"
    return found


if __name__ == "__main__":
    raise SystemExit(main())
