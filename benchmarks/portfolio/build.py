"""Learn aiforge's warm-start portfolio from the meta-training data sets in ``datasets.py``.

1. Collect: on every data set, aiforge's own Bayesian search runs each learner alone
   (``--trials`` trials, 3-fold CV); its best configurations are the candidates.
2. Score: every candidate of a learner is cross-validated on every data set of the same task
   kind (with the same folds), and so is the learner's hand-written known-good configuration.
3. Normalise: per data set, a configuration's regret is (best - its score) / (best - median),
   over that learner's candidates (scores signed so that higher is better). The median, not the
   worst, sets the scale: one diverging configuration must not make every other look perfect.
4. Select: greedily, per learner and task kind, up to ``--size`` configurations, each time the one
   that most lowers the mean over data sets of the smallest regret among those chosen.

Writes ``src/aiforge/learn/portfolio.json`` and prints the table for the README. Rebuild with:
    .venv/bin/python benchmarks/portfolio/build.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
import datasets  # noqa: E402

from aiforge.errors import AiforgeError  # noqa: E402
from aiforge.evaluate import METRICS  # noqa: E402
from aiforge.learn import (  # noqa: E402
    LEARNERS,
    _portfolio,  # noqa: E402
    choose_features,
    select_and_fit,
)
from aiforge.learn._model import encode_labels  # noqa: E402
from aiforge.learn._portfolio import FORMAT, fit_to_space  # noqa: E402
from aiforge.learn._search import SearchContext  # noqa: E402
from aiforge.learn._select import make_folds  # noqa: E402
from aiforge.learn._task import resolve_task  # noqa: E402
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "aiforge" / "learn" / "portfolio.json"
RESULTS = Path(__file__).parent / "results"
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
KEEP = 1  # candidates per (data set, learner): its best configuration


def _prepare(meta: datasets.MetaSet) -> dict[str, Any]:
    frame = meta.X.copy()
    frame["target"] = meta.y.to_numpy()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    kind = TaskKind(meta.task)
    problem = ProblemSpec(task=kind, target="target", positive_class=1 if kind is TaskKind.BINARY else None)
    task = resolve_task(problem, table, where=f"{meta.name} (meta-training set)")
    features = choose_features(table, "target")
    X = frame.drop(columns="target")
    y = frame["target"]
    y_enc = y.to_numpy(dtype=float) if kind is TaskKind.REGRESSION else encode_labels(y, task.classes)
    return {"meta": meta, "task": task, "features": features, "X": X, "y": y, "y_enc": y_enc, "kind": kind}


def _collect(data: dict[str, Any], name: str, trials: int) -> list[dict[str, Any]]:
    metric = METRICS[METRIC[data["meta"].task]]
    spec = ModelSpec(learners=[name], search=SearchSpec(strategy="bayesian", cv=3, budget=Budget(trials=trials)),
                     ensemble=EnsembleSpec(enabled=False), seed=0, n_jobs=2)
    try:
        _, report = select_and_fit(data["X"], data["y"], data["task"], data["features"], spec, metric.objective())
    except AiforgeError as exc:  # a learner that fails on this data set contributes no candidate
        print(f"collect {data['meta'].name:16} {name:24} failed: {exc.message}", flush=True)
        return []
    sign = 1.0 if metric.higher_is_better else -1.0
    done = sorted((t for t in report.trials if t.status == "complete"), key=lambda t: -sign * (t.score or 0.0))
    return [dict(t.params) for t in done[:KEEP]]


def _context(data: dict[str, Any]) -> SearchContext:
    metric = METRICS[METRIC[data["meta"].task]]
    spec = ModelSpec(search=SearchSpec(cv=3), seed=0)
    _, folds = make_folds(data["X"], data["y_enc"], data["kind"], spec, len(data["features"].columns))
    return SearchContext(X=data["X"], y=data["y_enc"], task=data["kind"], features=data["features"], folds=folds,
                         score=metric.fn, higher_is_better=metric.higher_is_better, seed=0, threads_per_trial=2)


def _score(ctx: SearchContext, data: dict[str, Any], name: str, params: dict[str, Any]) -> float | None:
    space = ctx.space(name, len(data["X"]))
    fitted = {**ctx.init_config(name, len(data["X"])), **fit_to_space(params, space)}
    record = ctx.evaluate(0, name, fitted, deadline=None)
    return None if record.score is None else ctx.signed(record.score)


def _regrets(scores: dict[str, list[float | None]]) -> dict[str, list[float]]:
    """Per data set: (best - score) / (best - median) of the signed scores; a failure counts as 2."""
    out: dict[str, list[float]] = {}
    for dataset, row in scores.items():
        ok = [s for s in row if s is not None]
        best, median = max(ok), statistics.median(ok)
        scale = best - median if best > median else (best - min(ok) if best > min(ok) else 1.0)
        out[dataset] = [2.0 if s is None else min(2.0, (best - s) / scale) for s in row]
    return out


def _greedy(regrets: dict[str, list[float]], size: int) -> list[int]:
    chosen: list[int] = []
    n = len(next(iter(regrets.values())))
    for _ in range(size):
        def mean_min(extra: int) -> float:
            return statistics.fmean(min(row[i] for i in [*chosen, extra]) for row in regrets.values())

        remaining = [i for i in range(n) if i not in chosen]
        if not remaining:
            break
        pick = min(remaining, key=lambda i: (mean_min(i), i))
        if chosen and mean_min(pick) >= statistics.fmean(min(row[i] for i in chosen) for row in regrets.values()):
            break  # nothing left lowers the regret
        chosen.append(pick)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8, help="Bayesian trials per (data set, learner)")
    parser.add_argument("--size", type=int, default=3, help="configurations kept per learner and task kind")
    parser.add_argument("--datasets", default="all", help="'all' or some of: " + ",".join(datasets.LOADERS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    # the searches that collect candidates must not start from the portfolio being rebuilt
    _portfolio._load = lambda: {}  # type: ignore[assignment]
    started = time.perf_counter()
    names = list(datasets.LOADERS) if args.datasets == "all" else args.datasets.split(",")
    prepared = [_prepare(datasets.LOADERS[n]()) for n in names]
    learners = [n for n, cls in LEARNERS.items() if cls.available()]

    candidates: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}  # (learner, kind) -> (origin, params)
    for data in prepared:
        for name in learners:
            if data["kind"] not in LEARNERS[name].tasks:
                continue
            t0 = time.perf_counter()
            for params in _collect(data, name, args.trials):
                candidates.setdefault((name, data["meta"].task), []).append((data["meta"].name, params))
            print(f"collect {data['meta'].name:16} {name:24} {time.perf_counter() - t0:5.1f}s", flush=True)

    learned: dict[str, dict[str, list[dict[str, Any]]]] = {}
    init_regret: dict[str, dict[str, float]] = {}
    table: list[tuple[str, str, int, float, float, float]] = []
    matrices: dict[str, Any] = {}  # learner/kind -> the signed CV scores of every configuration on every data set
    for (name, kind), found in sorted(candidates.items()):
        same_kind = [d for d in prepared if d["meta"].task == kind]
        scores: dict[str, list[float | None]] = {}
        for data in same_kind:
            ctx = _context(data)
            init = ctx.init_config(name, len(data["X"]))
            scores[data["meta"].name] = [_score(ctx, data, name, p) for _, p in found] + [_score(ctx, data, name, init)]
        scores = {d: row for d, row in scores.items() if any(v is not None for v in row)}
        if not scores:
            continue
        matrices[f"{name}/{kind}"] = {"configs": [o for o, _ in found] + ["known-good"], "scores": scores}
        regrets = _regrets(scores)
        init_index = len(found)
        candidate_regrets = {d: row[:init_index] for d, row in regrets.items()}
        chosen = _greedy(candidate_regrets, args.size)
        if not chosen:
            continue
        first = statistics.fmean(row[chosen[0]] for row in regrets.values())
        together = statistics.fmean(min(row[i] for i in chosen) for row in regrets.values())
        init_mean = statistics.fmean(row[init_index] for row in regrets.values())
        with_init = statistics.fmean(min(row[init_index], *(row[i] for i in chosen)) for row in regrets.values())
        learned.setdefault(name, {})[kind] = [
            {"params": found[i][1], "from": found[i][0],
             "mean_regret": round(statistics.fmean(row[i] for row in regrets.values()), 4)} for i in chosen]
        init_regret.setdefault(name, {})[kind] = round(init_mean, 4)
        table.append((name, kind, len(same_kind), init_mean, first, min(together, with_init)))
        print(f"select  {name:24} {kind:10} known-good {init_mean:.3f}  portfolio first {first:.3f}  "
              f"known-good + portfolio {with_init:.3f}", flush=True)

    result = {
        "format": FORMAT, "built": dt.date.today().isoformat(), "built_by": "benchmarks/portfolio/build.py",
        "settings": {"trials": args.trials, "cv": 3, "keep_per_search": KEEP, "size": args.size,
                     "metrics": METRIC, "regret": "(best - score) / (best - median) per data set, capped at 2"},
        "datasets": [{"name": d["meta"].name, "task": d["meta"].task, "rows": len(d["X"]),
                      "features": len(d["features"].columns), "categorical": len(d["features"].categorical),
                      "source": d["meta"].source} for d in prepared],
        "learners": learned,
        "init_config_mean_regret": init_regret,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.write_text(json.dumps(result, indent=1, default=_json) + "\n", encoding="utf-8")
    RESULTS.mkdir(exist_ok=True)  # the score matrices, for later analysis (e.g. leave-one-data-set-out)
    (RESULTS / "matrices.json").write_text(json.dumps(matrices, default=_json) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out} in {result['build_seconds']:.0f} s\n")
    print("| learner | task | data sets | known-good config | portfolio's first | known-good + portfolio |")
    print("|---|---|---|---|---|---|")
    for name, kind, n, init_mean, first, both in table:
        print(f"| {name} | {kind} | {n} | {init_mean:.3f} | {first:.3f} | {both:.3f} |")


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


if __name__ == "__main__":
    main()
