"""tfidf vs the transformer learner (MiniLM frozen + head, MiniLM fine-tuned) on the sentiment example's tweets.

Each learner's known-good configuration is fitted as ``aiforge run`` refits a winner (the learner's encoder and
estimator, ``learn._select._fit_pipeline``) on a stratified sample, then scored on held-out tweets: accuracy,
macro-F1, fit time, CPU seconds, one-row latency (p50/p99 of 200 single-row predictions, one thread, as
served) and energy (``evaluate._energy``'s CPU-time model: the fit, and 1000 predictions).

    python examples/sentiment/prepare_data.py
    python benchmarks/nlp/transformer_vs_tfidf.py --train 3000 --test 2000 [--epochs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "examples" / "sentiment" / "data" / "tweets.csv"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import pyarrow as pa
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from aiforge.evaluate._energy import energy_kwh, resident_bytes
    from aiforge.learn import LEARNERS, choose_features
    from aiforge.learn._model import encode_labels
    from aiforge.learn._select import _fit_pipeline
    from aiforge.spec import EnergyCheck, TaskKind

    frame = pd.read_csv(DATA)[["text", "sentiment"]].dropna()
    train, test = train_test_split(frame, train_size=args.train, test_size=args.test, random_state=0,
                                   stratify=frame["sentiment"])
    classes = sorted(frame["sentiment"].unique())
    features = choose_features(pa.Table.from_pandas(train, preserve_index=False), "sentiment", text=["text"])
    y = encode_labels(train["sentiment"], classes)
    y_test = encode_labels(test["sentiment"], classes)
    fixed = {"checkpoint": "minilm", "max_length": args.max_length, "device": "auto"}
    runs = {
        "tfidf": ("tfidf", LEARNERS["tfidf"].init_config(len(train), TaskKind.MULTICLASS)),
        "transformer frozen": ("transformer", {**LEARNERS["transformer"].init_config(len(train), TaskKind.MULTICLASS),
                                               **fixed, "mode": "frozen"}),
        "transformer finetune": ("transformer", {**LEARNERS["transformer"].init_config(len(train),
                                                                                       TaskKind.MULTICLASS),
                                                 **fixed, "mode": "finetune", "max_epochs": args.epochs,
                                                 "lr": 1e-3, "encoder_lr": 5e-5}),
    }
    spec = EnergyCheck()
    results = []
    for label, (name, params) in runs.items():
        wall, cpu = time.perf_counter(), cpu_seconds()
        pipeline = _fit_pipeline(name, TaskKind.MULTICLASS, features, 0, args.threads, params,
                                 train[["text"]], y)
        fit_wall, fit_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        X_test = test[["text"]]
        predicted = pipeline.predict_proba(X_test).argmax(axis=1)
        rows = [X_test.iloc[i: i + 1] for i in range(200)]
        pipeline.predict_proba(rows[0])
        latencies = []
        for row in rows:
            started = time.perf_counter()
            pipeline.predict_proba(row)
            latencies.append(1000 * (time.perf_counter() - started))
        wall, cpu = time.perf_counter(), cpu_seconds()
        pipeline.predict_proba(X_test.iloc[:1000])
        serve_wall, serve_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        rss = resident_bytes()
        results.append({
            "learner": label, "accuracy": float(accuracy_score(y_test, predicted)),
            "f1_macro": float(f1_score(y_test, predicted, average="macro")),
            "fit_seconds": round(fit_wall, 1), "fit_cpu_seconds": round(fit_cpu, 1),
            "p50_latency_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_latency_ms": round(float(np.percentile(latencies, 99)), 2),
            "training_energy_kwh": energy_kwh(fit_cpu, fit_wall, rss, spec),
            "energy_per_1000_predictions_kwh": energy_kwh(serve_cpu, serve_wall, rss, spec),
        })
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"train": args.train, "test": args.test, "epochs": args.epochs,
                                         "max_length": args.max_length, "results": results}, indent=2))


if __name__ == "__main__":
    main()
