"""MiniLM on the sentiment tweets on a CUDA GPU: fine-tuned and frozen, on the whole corpus (80/20 stratified).

Checks what a CPU cannot: the transformer estimators' CUDA path (mixed precision, deterministic kernels, the
encoder's dropout from the loop's seeded generator) and a model trained on the GPU pickled and predicting on
the CPU. Prints one JSON line per result.

    python benchmarks/nlp/cuda_finetune.py --checkpoint FOLDER --data examples/sentiment/data/tweets.csv
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="minilm")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=0, help="a stratified sample of this many tweets (0: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    import pandas as pd
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from aiforge.deep import TextClassifier
    from aiforge.nlp import TextNormalizer

    frame = pd.read_csv(args.data)[["text", "sentiment"]].dropna()
    if args.rows:
        frame, _ = train_test_split(frame, train_size=args.rows, random_state=0, stratify=frame["sentiment"])
    normalize = TextNormalizer().normalize
    texts = [normalize(t) for t in frame["text"]]
    X_train, X_test, y_train, y_test = train_test_split(texts, frame["sentiment"].to_numpy(), test_size=0.2,
                                                        random_state=0, stratify=frame["sentiment"])
    print(json.dumps({"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                      "torch": torch.__version__, "train": len(X_train), "test": len(X_test)}), flush=True)

    def fitted(mode: str, seed: int = 0) -> tuple[TextClassifier, float]:
        model = TextClassifier(checkpoint=args.checkpoint, mode=mode, device=args.device, max_length=64,
                               max_epochs=args.epochs if mode == "finetune" else 60, patience=3 if mode == "finetune"
                               else 8, batch_size=32 if mode == "finetune" else 64, lr=1e-3, encoder_lr=5e-5,
                               random_state=seed)
        started = time.perf_counter()
        model.fit(X_train, y_train)
        return model, time.perf_counter() - started

    for mode in ("frozen", "finetune"):
        model, seconds = fitted(mode)
        proba = model.predict_proba(X_test)
        predicted = model.classes_[proba.argmax(axis=1)]
        model.set_params(n_jobs=1)
        model.predict_proba(X_test[:1])
        latencies = []
        for text in X_test[:200]:
            started = time.perf_counter()
            model.predict_proba([text])
            latencies.append(1000 * (time.perf_counter() - started))
        result = {"mode": mode, "accuracy": accuracy_score(y_test, predicted),
                  "f1_macro": f1_score(y_test, predicted, average="macro"), "fit_seconds": round(seconds, 1),
                  "epochs": model.n_epochs_, "best_epoch": model.best_epoch_, "stopped": model.history_.stopped,
                  "precision": model.history_.precision, "train_device": model.device_,
                  "p50_latency_ms": round(float(np.percentile(latencies, 50)), 2),
                  "p99_latency_ms": round(float(np.percentile(latencies, 99)), 2)}
        if mode == "finetune":
            loaded = pickle.loads(pickle.dumps(model))  # its weights load on the CPU
            cpu = loaded.predict_proba(X_test[:256])
            result["pickled_on_cpu_max_abs_diff"] = float(np.abs(cpu - proba[:256]).max())
            result["pickled_on_cpu_same_decisions"] = float((cpu.argmax(1) == proba[:256].argmax(1)).mean())
            again, _ = fitted(mode)
            result["refit_same_seed_max_abs_diff"] = float(np.abs(again.predict_proba(X_test[:256])
                                                                  - proba[:256]).max())
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
