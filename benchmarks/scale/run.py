"""Scaling on Ray, measured on this machine: trials per minute with 1, 2 and 4 Ray workers (CPU slots of a local
Ray node, one fold task each) beside the local executor, and batch scoring of generated rows (10M by default)
with `aiforge predict`, local threads vs Ray Data. Runs alternate between the settings, each figure is the
median over the rounds; writes ``RESULTS.md`` beside this script with the versions, the machine and its load.

    .venv/bin/python benchmarks/scale/run.py                            # 3 rounds, 10M rows scored
    .venv/bin/python benchmarks/scale/run.py --rounds 1 --score-rows 1000000 --results /tmp/scale.md

The search: 12 trials of a random search over linear and lightgbm (3-fold CV, 20,000 rows x 8 columns,
trials_in_flight = the workers); the clock runs from the first ask to the last tell (the cluster's start is
apart). Scoring: the model an `aiforge run` registered (lightgbm) scores a Parquet file; the whole
`aiforge predict` process is timed, Ray's connection included, the cluster's start not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXE = Path(sys.executable).with_name("aiforge")
RAY = Path(sys.executable).with_name("ray")
WORKERS = (1, 2, 4)
TRIALS = 12
SEARCH_ROWS = 20_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A one-node Ray cluster with ``cpus`` worker slots (`ray start --head --block`), stopped by its process group."""

    def __init__(self, cpus: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="aiforge-scale-"))
        port = _port()
        self.address = f"127.0.0.1:{port}"
        argv = [str(RAY), "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}",
                "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
                f"--temp-dir={self.folder / 't'}", "--object-store-memory=2000000000"]
        for flag in ("--node-manager-port", "--object-manager-port", "--metrics-export-port",
                     "--runtime-env-agent-port", "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port"):
            argv += [flag, str(_port())]
        with (self.folder / "ray.log").open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        deadline = time.monotonic() + 120
        while not list((self.folder / "t").glob("session_*/sockets/raylet*")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.folder / "ray.log").read_text())
            time.sleep(0.5)
        time.sleep(2)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


SEARCH_CODE = """
import json, sys, time
import numpy as np, pandas as pd, pyarrow as pa
from aiforge.evaluate import METRICS
from aiforge.learn import choose_features, resolve_task, select_and_fit
from aiforge.spec import Budget, EnsembleSpec, ModelSpec, ProblemSpec, SearchSpec, TaskKind
from aiforge.workspace import Executor
address, workers = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
n = %d
X = {f"x{i}": rng.normal(size=n) for i in range(6)}
colour = rng.choice(["red", "green", "blue", "grey"], size=n)
signal = X["x0"] * 2 + np.sin(3 * X["x1"]) + X["x2"] * X["x3"] + (colour == "red") + rng.normal(scale=0.8, size=n)
frame = pd.DataFrame({**X, "colour": colour, "y": np.where(signal > 0.3, "yes", "no")})
table = pa.Table.from_pandas(frame, preserve_index=False)
task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="bench")
spec = ModelSpec(learners=["linear", "lightgbm"], seed=1, n_jobs=workers, ensemble=EnsembleSpec(enabled=False),
                 search=SearchSpec(strategy="random", cv=3, budget=Budget(trials=%d)))
executor = None if address == "local" else Executor("ray", address, trials_in_flight=workers)
_, report = select_and_fit(frame.drop(columns="y"), frame["y"], task, choose_features(table, "y"), spec,
                           METRICS["roc_auc"].objective(), executor=executor)
print(json.dumps({"search_seconds": report.search_seconds, "trials": len(report.trials),
                  "best": report.best_score}))
"""


def search_once(address: str, workers: int, rows: int, trials: int) -> dict[str, Any]:
    code = SEARCH_CODE % (rows, trials)
    proc = subprocess.run([sys.executable, "-c", code, address, str(workers)], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_scoring_workspace(folder: Path, rows: int) -> tuple[dict[str, str], Path]:
    """A project trained by `aiforge run` on 20,000 generated rows, and ``rows`` rows to score (Parquet)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(n: int, seed: int, start: int = 0) -> pa.Table:
        rng = np.random.default_rng(seed)
        cols = {f"x{i}": rng.normal(size=n) for i in range(6)}
        colour = np.array(["red", "green", "blue", "grey"])[rng.integers(0, 4, n)]
        signal_ = cols["x0"] * 2 + np.sin(3 * cols["x1"]) + cols["x2"] * cols["x3"] + (colour == "red")
        y = np.where(signal_ + rng.normal(scale=0.8, size=n) > 0.3, "yes", "no")
        return pa.table({"id": np.arange(start, start + n), **cols, "colour": colour, "y": y})

    (folder / "data").mkdir(parents=True)
    pq.write_table(table(20_000, 1), folder / "data" / "train.parquet")
    (folder / "aiforge.yaml").write_text("""name: scale
problem: {task: binary, target: y}
kpis:
  - {metric: roc_auc, min: 0.6}
data:
  sources:
    - {name: train, type: parquet, path: data/train.parquet}
  split: {test_size: 0.2, seed: 1}
model:
  learners: [lightgbm]
  search: {strategy: defaults, cv: 3}
checks:
  robustness: {enabled: false}
  label_noise: {enabled: false}
  privacy: {enabled: false}
  explain: {enabled: false}
""")
    env = {**os.environ, "AIFORGE_WORKSPACE": str(folder / "ws"), "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.run([str(EXE), "run", str(folder / "aiforge.yaml"), "--json"], capture_output=True, text=True,
                          env=env, cwd=folder, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    source = folder / "score.parquet"
    with pq.ParquetWriter(source, table(1, 2).drop(["y"]).schema) as writer:
        for start in range(0, rows, 1_000_000):
            writer.write_table(table(min(1_000_000, rows - start), 3 + start, start).drop(["y"]))
    return env, source


def score_once(env: dict[str, str], source: Path, output: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([str(EXE), "predict", "--model", "scale", "--input", str(source), "--output", str(output),
                           "--keep", "id", "--chunk-rows", "200000", "--json"], capture_output=True, text=True, env=env,
                          timeout=3600)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    output.unlink()
    return seconds


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--score-rows", type=int, default=10_000_000)
    parser.add_argument("--score-workers", type=int, default=2, help="Ray CPU slots when scoring")
    parser.add_argument("--score-rounds", type=int, default=None, help="rounds of scoring (default: --rounds)")
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--search-rows", type=int, default=SEARCH_ROWS)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    import numpy
    import ray

    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    loads = [load()]
    search: dict[str, list[dict[str, Any]]] = {}
    scoring: dict[str, list[float]] = {"local": [], "ray": []}
    settings = ["local", *[f"ray-{w}" for w in WORKERS]]
    with tempfile.TemporaryDirectory(prefix="aiforge-scale-data-") as tmp:
        env, source = make_scoring_workspace(Path(tmp), args.score_rows)
        print(f"scoring data ready: {args.score_rows:,} rows ({source.stat().st_size / 1e6:.0f} MB), load {load()}",
              flush=True)
        for round_ in range(args.rounds):
            order = settings if round_ % 2 == 0 else list(reversed(settings))
            for setting in order:
                if setting == "local":
                    result = search_once("local", 2, args.search_rows, args.trials)
                else:
                    workers = int(setting.split("-")[1])
                    cluster = Cluster(workers)
                    try:
                        result = search_once(cluster.address, workers, args.search_rows, args.trials)
                    finally:
                        cluster.stop()
                search.setdefault(setting, []).append(result)
                print(f"round {round_ + 1} {setting}: {result['trials']} trials in {result['search_seconds']:.1f} s"
                      f" (load {load()})", flush=True)
                loads.append(load())
            if round_ >= (args.score_rounds if args.score_rounds is not None else args.rounds):
                continue
            for kind in (["local", "ray"] if round_ % 2 == 0 else ["ray", "local"]):
                output = Path(tmp) / "scored.parquet"
                if kind == "local":
                    seconds = score_once(env, source, output)
                else:
                    cluster = Cluster(args.score_workers)
                    try:
                        seconds = score_once({**env, "AIFORGE_EXECUTOR": "ray",
                                              "AIFORGE_RAY_ADDRESS": cluster.address}, source, output)
                    finally:
                        cluster.stop()
                scoring[kind].append(seconds)
                print(f"round {round_ + 1} scoring {kind}: {args.score_rows:,} rows in {seconds:.1f} s "
                      f"(load {load()})", flush=True)
                loads.append(load())
    lines = [
        "# Scaling on Ray: trials per minute and batch scoring",
        "",
        f"Run {started_at} by `benchmarks/scale/run.py --rounds {args.rounds} --score-rounds {args.score_rounds} "
        f"--score-rows {args.score_rows} --trials {args.trials} --search-rows {args.search_rows}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, Ray {ray.__version__}, "
        f"NumPy {numpy.__version__}. Load average (1/5/15 min) before and after each measure: "
        f"{'; '.join(loads)}. The machine is shared with other work: read the ratios, not the absolute figures.",
        "",
        f"## Search: {args.trials} trials (random search, linear + lightgbm, 3-fold CV, {args.search_rows:,} rows)",
        "",
        "Ray N: a local Ray node with N CPU slots, trials_in_flight N, every fold a task. local: the local",
        "executor's threads (n_jobs 2). Median over the rounds; trials per minute = trials / search seconds.",
        "",
        "| executor | search seconds (median) | trials per minute | each round (s) |",
        "|---|---:|---:|---|",
    ]
    for setting in settings:
        runs = search[setting]
        med = statistics.median(r["search_seconds"] for r in runs)
        each = ", ".join(f"{r['search_seconds']:.1f}" for r in runs)
        lines.append(f"| {setting} | {med:.1f} | {60 * args.trials / med:.1f} | {each} |")
    lines += [
        "",
        f"## Batch scoring: {args.score_rows:,} rows, `aiforge predict` (lightgbm, 8 input columns, --keep id)",
        "",
        f"local: threads over 200,000-row chunks; ray: Ray Data on a local node with {args.score_workers} CPU slots "
        "(each block read and scored by one task), the output written by the driver in input order. Whole process "
        "timed, from the start of `aiforge predict` to its exit (imports, model load and Ray connection included).",
        "",
        "| executor | seconds (median) | rows per second | each round (s) |",
        "|---|---:|---:|---|",
    ]
    for kind in ("local", "ray"):
        med = statistics.median(scoring[kind])
        each = ", ".join(f"{s:.1f}" for s in scoring[kind])
        lines.append(f"| {kind} | {med:.1f} | {args.score_rows / med:,.0f} | {each} |")
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
