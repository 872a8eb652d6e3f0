"""Run the AutoML benchmark: every (tool, data set, budget, seed) in its own process, results to JSONL.

    .venv/bin/python benchmarks/automl/run.py --quick                 # smoke run: 10 s, 1 seed, 3 data sets
    .venv/bin/python benchmarks/automl/run.py                         # the full run (budgets 30,120; seeds 0,1,2)
    .venv/bin/python benchmarks/automl/run.py --budgets 30 --seeds 0  # a part of it; rerun to resume

Each run is a subprocess of the tool's own virtual environment (``worker.py``), so that every
peak-memory figure is that run's alone and a crash or a time-out is recorded, not fatal. The
harness scores every tool itself, from its test-set predictions, with the same metric code.
Keys already in the results file are skipped, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402

TOOLS = ["aiforge", "flaml", "autogluon", "lightgbm", "optuna"]
PYTHONS = {
    "aiforge": ROOT / ".venv" / "bin" / "python",
    "lightgbm": ROOT / ".venv" / "bin" / "python",
    "optuna": ROOT / ".venv" / "bin" / "python",
    "flaml": HERE / ".venv-flaml" / "bin" / "python",
    "autogluon": HERE / ".venv-autogluon" / "bin" / "python",
}
RESULTS = HERE / "results"
TIMEOUT_FACTOR = 3
TIMEOUT_MARGIN_S = 120
QUICK = {"budgets": [10.0], "seeds": [0], "datasets": datasets.QUICK}


def score(metric: str, y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """The one scoring function for every tool."""
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

    if metric == "roc_auc":
        return float(roc_auc_score(y, pred[:, 1]))
    if metric == "log_loss":
        # Rows renormalised to sum 1 for every tool alike (float32 outputs drift by ~1e-7).
        pred = pred / pred.sum(axis=1, keepdims=True)
        return float(log_loss(y, pred, labels=list(range(n_classes))))
    if metric == "rmse":
        return float(mean_squared_error(y, pred) ** 0.5)
    raise ValueError(f"unknown metric {metric!r}")


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1024**2, 1),
            "os": platform.platform(), "python": platform.python_version(), "aiforge_commit": _commit()}


def _commit() -> str | None:
    """The checked-out commit, read from .git without running git (the working tree may differ)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


# --- memory of a process tree, from /proc --------------------------------------------------------

def _tree_rss_mb(root: int) -> float:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            pid, ppid = int(entry.name), int(fields[1])
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(ppid, []).append(pid)
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1024**2


def run_one(tool: str, split_dir: Path, budget: float, seed: int, out: Path) -> dict[str, Any]:
    """Start the worker, sample its tree's RSS every 0.1 s, kill the whole group past the time-out."""
    timeout = TIMEOUT_FACTOR * budget + TIMEOUT_MARGIN_S
    cmd = [str(PYTHONS[tool]), str(HERE / "worker.py"), "--tool", tool, "--split", str(split_dir),
           "--budget", f"{budget:g}", "--seed", str(seed), "--out", str(out)]
    # OMP_WAIT_POLICY=PASSIVE: with OpenMP's default spin-waiting, LightGBM on 2 threads slows down
    # by 100-1000x whenever another process holds a core (measured here: 0.03 s -> 10-34 s).
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with open(out / "stdout.log", "w") as so, open(out / "stderr.log", "w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, env=env, start_new_session=True, cwd=out)
        peak, status = 0.0, None
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(proc.pid))
            if time.perf_counter() - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = "timeout"
                break
            time.sleep(0.1)
    wall = time.perf_counter() - started
    record: dict[str, Any] = {"wall_s": round(wall, 2), "peak_rss_mb": round(peak, 1), "timeout_s": timeout,
                              "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    if status == "timeout":
        return {**record, "status": "timeout", "error": f"killed after {timeout:g} s"}
    if proc.returncode != 0 or not (out / "result.json").exists():
        tail = (out / "stderr.log").read_text()[-2000:]
        return {**record, "status": "failed", "error": f"exit {proc.returncode}: {tail}"}
    return {**record, "status": "ok", **json.loads((out / "result.json").read_text())}


def prepare_split(name: str, seed: int, cache: Path) -> tuple[Path, dict[str, Any]]:
    """Write the data set's seeded split once; every tool reads the same files."""
    split_dir = cache / f"{name}-seed{seed}"
    meta_file = split_dir / "meta.json"
    if meta_file.exists():
        return split_dir, json.loads(meta_file.read_text())
    ds = datasets.load(name)
    train, test = datasets.split(ds, seed)
    split_dir.mkdir(parents=True, exist_ok=True)
    train.to_parquet(split_dir / "train.parquet", index=False)
    test.to_parquet(split_dir / "test.parquet", index=False)
    meta = {**datasets.describe(ds), "dataset": name, "seed": seed, "n_train": len(train), "n_test": len(test),
            "n_classes": int(ds.y.nunique()) if ds.task != "regression" else 0}
    np.save(split_dir / "y_test.npy", test["target"].to_numpy())
    meta_file.write_text(json.dumps(meta, indent=2))
    return split_dir, meta


def done_keys(path: Path, retry_failed: bool) -> set[tuple[str, str, float, int]]:
    keys = set()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["status"] == "ok" or not retry_failed:
                    keys.add((r["tool"], r["dataset"], float(r["budget"]), int(r["seed"])))
    return keys


def plan(tools: list[str], names: list[str], budgets: list[float], seeds: list[int]) -> list[tuple[Any, ...]]:
    """Budget by budget, seed by seed, data set by data set; within each, the tools take turns going
    first (rotated per data set), so no tool always runs right after the same neighbour."""
    order = []
    for budget in budgets:
        for seed in seeds:
            for i, name in enumerate(names):
                k = (i + seed) % len(tools)
                for tool in tools[k:] + tools[:k]:
                    order.append((tool, name, budget, seed))
    return order


def _csv(value: str, all_values: list[str]) -> list[str]:
    items = all_values if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in all_values]
    if unknown:
        raise SystemExit(f"unknown {unknown}; choose from {all_values} or 'all'")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="30,120", help="seconds, comma-separated (default 30,120)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    parser.add_argument("--datasets", default="all", help=f"'all' or some of: {','.join(datasets.LOADERS)}")
    parser.add_argument("--tools", default="all", help=f"'all' or some of: {','.join(TOOLS)}")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: budget 10 s, seed 0, data sets " + ",".join(datasets.QUICK))
    parser.add_argument("--results", type=Path, default=None,
                        help="JSONL file (default results/results.jsonl, results/quick.jsonl with --quick)")
    parser.add_argument("--retry-failed", action="store_true", help="rerun keys recorded as failed or timed out")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = parser.parse_args()

    tools = _csv(args.tools, TOOLS)
    if args.quick:
        budgets, seeds, names = QUICK["budgets"], QUICK["seeds"], QUICK["datasets"]
    else:
        budgets = [float(b) for b in args.budgets.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        names = _csv(args.datasets, list(datasets.LOADERS))
    results = args.results or RESULTS / ("quick.jsonl" if args.quick else "results.jsonl")
    results.parent.mkdir(parents=True, exist_ok=True)
    cache = RESULTS / "splits"
    missing = sorted({t for t in tools if not PYTHONS[t].exists()})
    if missing:
        raise SystemExit(f"no virtual environment for {missing}: run benchmarks/automl/setup.sh first")

    skip = done_keys(results, args.retry_failed)
    todo = [key for key in plan(tools, names, budgets, seeds) if key not in skip]
    print(f"{len(todo)} runs to do ({len(skip)} keys already recorded in {results} are skipped)", flush=True)
    if args.dry_run:
        for key in todo:
            print(*key)
        return
    if args.retry_failed and results.exists():
        kept = [line for line in results.read_text().splitlines()
                if line.strip() and json.loads(line)["status"] == "ok"]
        results.write_text("".join(f"{line}\n" for line in kept))

    host = machine()
    for n, (tool, name, budget, seed) in enumerate(todo, 1):
        split_dir, meta = prepare_split(name, seed, cache)
        with tempfile.TemporaryDirectory(prefix=f"run-{tool}-") as tmp:
            out = Path(tmp)
            outcome = run_one(tool, split_dir, budget, seed, out)
            if outcome["status"] == "ok":
                pred = np.load(out / "pred.npy")
                y = np.load(split_dir / "y_test.npy")
                try:
                    outcome["score"] = score(meta["metric"], y, pred, meta["n_classes"])
                except ValueError as exc:  # e.g. NaN predictions
                    outcome.update(status="failed", error=f"scoring: {exc}")
            elif (out / "aiforge_run.log").exists():
                outcome["error"] += "\n" + (out / "aiforge_run.log").read_text()[-1500:]
            for log in ("aiforge_run.log", "flaml.log"):  # kept beside the results (git-ignored) to diagnose
                if (out / log).exists():
                    logs = results.parent / "logs"
                    logs.mkdir(exist_ok=True)
                    shutil.copy(out / log, logs / f"{tool}-{name}-{budget:g}s-seed{seed}.log")
        record = {"tool": tool, "dataset": name, "budget": budget, "seed": seed, "task": meta["task"],
                  "metric": meta["metric"], "n_train": meta["n_train"], "n_test": meta["n_test"],
                  **outcome, "machine": host, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
        with results.open("a") as f:
            f.write(json.dumps(record) + "\n")
        shown = f"{record['score']:.4f}" if "score" in record else record["status"]
        print(f"[{n}/{len(todo)}] {tool:9s} {name:17s} budget {budget:g}s seed {seed}: {meta['metric']} {shown} "
              f"fit {record.get('fit_s', float('nan')):.1f}s peak {record['peak_rss_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
