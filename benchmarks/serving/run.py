"""Serving benchmark: one LightGBM model on Adult, served by aiforge, by `mlflow models serve` and by
BentoML, driven on loopback by the same load generators, in alternating rounds. Writes RESULTS.md.

    .venv/bin/python benchmarks/serving/run.py            # full run, about 15 minutes on 2 cores
    .venv/bin/python benchmarks/serving/run.py --quick    # smoke run, about 3 minutes
    .venv/bin/python benchmarks/serving/run.py --report-only results/full.json   # RESULTS.md again

Needs `wrk` and `gcc` (Debian: apt-get install -y wrk gcc). The peers' virtual environments
(.venv-mlflow, .venv-bentoml beside this file) are created on first use; see README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from report import write_report  # noqa: E402

ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
AIFORGE = Path(sys.executable).with_name("aiforge")
PEER_REQUIREMENTS = {"mlflow": "mlflow==3.17.2", "bentoml": "bentoml==1.4.40"}
# Pinned to the project's versions in the peers' venvs too, so all three servers run the same numerical
# code; torch is listed so that nothing can pull an unpinned one.
SHARED_PINS = ("numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "joblib", "torch")
PRODUCTS = ("aiforge", "mlflow", "bentoml")
# A server is a product with a process count: "mlflow" runs Plan.workers processes, "mlflow-1w" one (MLflow's
# and BentoML's default; aiforge's too). "aiforge-nolog" is aiforge without its prediction log, "aiforge-shared" aiforge
# with uvicorn's workers on one shared socket (the worker model before per-worker SO_REUSEPORT sockets).
DEFAULT_SERVERS = ("aiforge", "mlflow", "mlflow-1w", "bentoml")
ENV_BASE = {"OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
COMMON_PACKAGES = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "h11", "pydantic", "pandas", "numpy",
                   "scikit-learn", "lightgbm"]
WRK_CONNECTIONS = 16  # wrk runs once per turn, as a cross-check of the closed loop
OVERLOADED_P99_MS = 1000.0  # a fixed rate is overloaded past this p99, below 95 % of it answered per second,
# or with requests unanswered or failed


@dataclass
class Plan:
    rounds: int
    concurrency: list[int]
    rates: list[int]
    closed_seconds: float  # each closed-loop run records this long after closed_warmup
    closed_warmup: float
    rate_seconds: float
    rate_warmup: float
    warmup_seconds: float
    connections: int  # the open-loop generator's connection pool
    workers: int
    floor_calls: int
    train_rows: int | None
    train_trials: int


FULL = Plan(rounds=3, concurrency=[1, 16, 64], rates=[100, 500, 1000, 2000], closed_seconds=6, closed_warmup=1,
            rate_seconds=6,
            rate_warmup=1, warmup_seconds=3, connections=32, workers=2, floor_calls=2000, train_rows=None,
            train_trials=4)
QUICK = Plan(rounds=1, concurrency=[1, 16, 64], rates=[100, 1000], closed_seconds=2, closed_warmup=1,
             rate_seconds=2, rate_warmup=1,
             warmup_seconds=1, connections=32, workers=2, floor_calls=300, train_rows=8000, train_trials=1)


@dataclass
class Server:
    name: str
    product: str
    workers: int
    path: str
    bodies: Path
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    pids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- environments


def venv_dir(peer: str) -> Path:
    return HERE / f".venv-{peer}"


def ensure_peer_venv(peer: str, constraints: Path) -> None:
    """Create the peer's venv (pinned peer, aiforge editable, the project's numerical pins) if missing."""
    venv = venv_dir(peer)
    python = venv / "bin" / "python"
    wanted = PEER_REQUIREMENTS[peer].split("==")[1]
    if python.exists():
        probe = subprocess.run([str(python), "-c", f"import aiforge, {peer}; print({peer}.__version__)"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return
    print(f"setting up {venv} ({PEER_REQUIREMENTS[peer]}, aiforge editable) ...", flush=True)
    base = getattr(sys, "_base_executable", None) or shutil.which("python3.11") or "python3"
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip==25.3"], check=True)
    subprocess.run([*pip, "-c", str(constraints), PEER_REQUIREMENTS[peer], "-e", str(REPO)], check=True)


def shared_constraints(folder: Path) -> Path:
    pins = [line.strip() for line in (REPO / "constraints.txt").read_text().splitlines()
            if line.split("==")[0].strip().lower() in SHARED_PINS]
    path = folder / "constraints-shared.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


def versions(python: Path, modules: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, platform\nout = {'python': platform.python_version()}\n"
            f"for name in {modules!r}:\n    try:\n        out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError:\n        out[name] = 'not installed'\nprint(json.dumps(out))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def tool_versions() -> dict[str, str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False)
    return {"wrk": (wrk.stdout or wrk.stderr).splitlines()[0].split(" Copyright")[0],
            "gcc": gcc.stdout.splitlines()[0] if gcc.stdout else "?"}


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(mem_kb / 2**20, 1)}


# ---------------------------------------------------------------- the model and the request bodies


def train(root: Path, plan: Plan) -> tuple[Path, dict[str, Any]]:
    """`aiforge run` on a LightGBM-only copy of the income example: no ensemble, no mitigation, no checks."""
    project = root / "project"
    (project / "data").mkdir(parents=True)
    lines = ADULT.read_text(encoding="utf-8").splitlines(keepends=True)
    if plan.train_rows:
        lines = lines[: plan.train_rows + 1]
    (project / "data" / "adult.csv").write_text("".join(lines), encoding="utf-8")
    (project / "aiforge.yaml").write_text(f"""name: income
problem:
  task: binary
  target: income
  positive_class: ">50K"
kpis:
  - {{metric: roc_auc, min: 0.80}}
data:
  sources:
    - {{name: census, type: csv, path: data/adult.csv}}
  split: {{test_size: 0.2, stratify: true, seed: 42}}
model:
  learners: [lightgbm]
  search: {{strategy: bayesian, cv: 3, metric: roc_auc, budget: {{trials: {plan.train_trials}}}}}
  ensemble: {{enabled: false}}
  seed: 42
checks:
  importance: {{enabled: false}}
  robustness: {{enabled: false}}
  label_noise: {{enabled: false}}
  privacy: {{enabled: false}}
  explain: {{enabled: false}}
  energy: {{enabled: false}}
""", encoding="utf-8")
    workspace = root / "workspace"
    env = {**os.environ, **ENV_BASE, "AIFORGE_WORKSPACE": str(workspace)}
    started = time.perf_counter()
    proc = subprocess.run([str(AIFORGE), "run", str(project / "aiforge.yaml"), "--json"], capture_output=True,
                          text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"aiforge run failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n{proc.stdout[-2000:]}")
    model = json.loads(proc.stdout)["model"]
    info = {"train_seconds": round(time.perf_counter() - started, 1), "version": model["version"],
            "rows": len(lines) - 1, "trials": plan.train_trials,
            "roc_auc": model["metrics"].get("roc_auc"), "inference_path": model["lineage"]["inference"]["path"],
            "inference": model["lineage"]["inference"]}
    return workspace, info


def write_bodies(root: Path, count: int = 1000) -> dict[str, Path]:
    """1,000 complete rows of Adult (no missing value, so that each server's input schema takes them as they
    are), one request body per line in each server's own format; every request holds one row."""
    import pandas as pd

    frame = pd.read_csv(ADULT).dropna().drop(columns=["income"])
    frame = frame.sample(count, random_state=0)
    records = json.loads(frame.to_json(orient="records"))
    formats = {"rows": lambda r: r, "aiforge": lambda r: {"records": [r]},
               "mlflow": lambda r: {"dataframe_records": [r]}, "bentoml": lambda r: {"records": [r]}}
    paths = {}
    for name, shape in formats.items():
        paths[name] = root / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(shape(r)) + "\n" for r in records), encoding="utf-8")
    return paths


def run_peer(peer: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    python = REPO / ".venv" / "bin" / "python" if peer == "aiforge" else venv_dir(peer) / "bin" / "python"
    proc = subprocess.run([str(python), str(HERE / "peer.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **ENV_BASE, **env}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"peer.py {args[0]} in {peer}'s venv failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_server(name: str, root: Path, workspace: Path, bodies: dict[str, Path], workers: int) -> Server:
    """The server variant ``name``: a product (aiforge, mlflow, bentoml), "-1w" for one worker process,
    "-nolog" (aiforge) for no prediction log, "-shared" (aiforge) for uvicorn's workers on one shared socket."""
    product, *options = name.split("-")
    if (product not in PRODUCTS or not set(options) <= {"1w", "nolog", "shared"}
            or (set(options) & {"nolog", "shared"} and product != "aiforge")):
        raise SystemExit(f"unknown server {name!r}: a product ({', '.join(PRODUCTS)}) with -1w, or aiforge-nolog, "
                         "aiforge-shared")
    if "1w" in options:
        workers = 1
    port = free_port()
    path_env = {"PATH": f"{venv_dir(product) / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "VIRTUAL_ENV": str(venv_dir(product))}
    if product == "aiforge":
        command = [str(AIFORGE), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        if "nolog" in options:
            command.append("--no-log-predictions")
        if "shared" in options:
            command.append("--shared-socket")
        return Server(name, product, workers, "/v1/models/income/predict", bodies["aiforge"], command,
                      {"AIFORGE_WORKSPACE": str(workspace)}, root, port)
    if product == "mlflow":
        return Server(name, product, workers, "/invocations", bodies["mlflow"],
                      [str(venv_dir("mlflow") / "bin" / "mlflow"), "models", "serve", "-m", str(root / "mlflow-model"),
                       "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers",
                       str(workers)],
                      {**path_env, "MLFLOW_TRACKING_URI": f"file://{root / 'mlruns'}"}, root, port)
    return Server(name, product, workers, "/predict", bodies["bentoml"],
                  [str(venv_dir("bentoml") / "bin" / "bentoml"), "serve", "bento_service:Income", "--working-dir",
                   str(HERE), "--host", "127.0.0.1", "--port", str(port)],
                  {**path_env, "BENTOML_HOME": str(root / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "True",
                   "SERVING_BENCH_WORKERS": str(workers)}, HERE, port)


def post(port: int, path: str, body: str, timeout: float = 10.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if response.status == 200 else data[:300]
    finally:
        conn.close()


def start(server: Server, root: Path, label: str) -> float:
    """Start the server and wait for its first answered prediction; the seconds that took."""
    server.log = root / f"{server.name}-{label}.log"
    started = time.perf_counter()
    server.proc = subprocess.Popen(server.command, cwd=server.cwd, env={**os.environ, **ENV_BASE, **server.env},
                                   stdout=server.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    first = server.bodies.read_text(encoding="utf-8").splitlines()[0]
    deadline = started + 240
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited ({server.proc.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            status, _ = post(server.port, server.path, first, timeout=5)
            if status == 200:
                server.pids = tree(server.proc.pid)
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.25)
    stop(server)
    raise SystemExit(f"{server.name} did not answer within 240 s; log: {server.log}")


def tree(root_pid: int) -> list[int]:
    """root_pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def stop(server: Server) -> None:
    """SIGTERM to the server's processes (all started here), SIGKILL to any left after 20 s."""
    if server.proc is None:
        return
    pids = tree(server.proc.pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.proc.wait()
    server.proc = None


def parity(server: Server, reference: list[float]) -> float:
    """Largest difference between the server's P(>50K) and the in-process model's, on the first rows."""
    worst = 0.0
    for i, body in enumerate(server.bodies.read_text(encoding="utf-8").splitlines()[: len(reference)]):
        status, answer = post(server.port, server.path, body)
        if status != 200:
            raise SystemExit(f"{server.name} answered {status}: {answer!r}")
        if server.product == "aiforge":
            p = answer["predictions"][0]["probabilities"][">50K"]
        elif server.product == "mlflow":
            p = answer["predictions"][0][1]
        else:
            p = answer[0][1]
        worst = max(worst, abs(p - reference[i]))
    return worst


# ---------------------------------------------------------------- load generators


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def connections_per_process(pids: list[int], port: int) -> list[int]:
    """How many established connections to ``port`` each of ``pids`` holds (those holding any), largest first:
    shows how the kernel spread the generator's connections over a server's worker processes."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    counts = []
    for pid in pids:
        try:
            links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        held = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def measured(server: Server, command: list[str], sample_after: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a load generator; its JSON result, the CPU seconds of the server and of the generator, and how
    its connections were spread over the server's processes ``sample_after`` seconds into the run."""
    load = os.getloadavg()
    server_before, gen_before = cpu_seconds(server.pids), children_cpu()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(sample_after)
    spread = connections_per_process(server.pids, server.port)
    stdout, stderr = proc.communicate()
    server_cpu, gen_cpu = cpu_seconds(server.pids) - server_before, children_cpu() - gen_before
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return result, {"server_cpu_s": round(server_cpu, 3), "generator_cpu_s": round(gen_cpu, 3),
                    "load1": round(load[0], 2), "load5": round(load[1], 2), "connections_per_process": spread}


def wrk(server: Server, concurrency: int, seconds: float) -> dict[str, Any]:
    """Closed loop, as fast as the server answers: wrk, one thread, ``concurrency`` connections."""
    result, extra = measured(server, [
        "wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(HERE / "post.lua"),
        f"http://127.0.0.1:{server.port}{server.path}", "--", str(server.bodies)], min(1.5, seconds / 2))
    rps = result["requests"] / (result["duration_us"] / 1e6)
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "non_2xx", "timeouts"))
    return {"kind": "wrk", "concurrency": concurrency, "rps": round(rps, 1), "requests": result["requests"],
            "errors": errors, "p50_ms": result["p50_us"] / 1e3, "p99_ms": result["p99_us"] / 1e3, **extra}


def closed_loop(server: Server, loadgen: Path, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    """Closed loop, as fast as the server answers: loadgen.c with RATE 0 and ``concurrency`` connections."""
    result, extra = measured(server, [
        str(loadgen), "127.0.0.1", str(server.port), server.path, str(server.bodies), "0", f"{seconds:g}",
        f"{warmup:g}", str(concurrency)], warmup + min(0.5, seconds / 2))
    return {"kind": "closed", "concurrency": concurrency, "rps": result["achieved_rps"],
            "requests": result["completed"], "errors": result["errors"] + result["non_200"],
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "loadgen": result, **extra}


def fixed_rate(server: Server, loadgen: Path, rate: int, plan: Plan) -> dict[str, Any]:
    """Open loop at ``rate`` requests per second: the C generator (loadgen.c)."""
    result, extra = measured(server, [
        str(loadgen), "127.0.0.1", str(server.port), server.path, str(server.bodies), str(rate),
        f"{plan.rate_seconds:g}", f"{plan.rate_warmup:g}", str(plan.connections)], plan.rate_warmup + 0.5)
    overloaded = bool(result["unfinished"] or result["errors"] or result["non_200"]
                      or result["p99_ms"] > OVERLOADED_P99_MS or result["achieved_rps"] < 0.95 * rate)
    return {"kind": "rate", **result, "overloaded": overloaded, **extra}


def turn(server: Server, plan: Plan, loadgen: Path, root: Path, label: str,
         reference: list[float]) -> dict[str, Any]:
    """One server's share of a round: start it, check its answers, warm it up, closed-loop runs, fixed-rate
    runs, stop it."""
    load = os.getloadavg()[0]
    startup = start(server, root, label)
    runs: list[dict[str, Any]] = []
    try:
        agreement = parity(server, reference)
        closed_loop(server, loadgen, 16, plan.warmup_seconds, 0)
        for c in plan.concurrency:
            runs.append(closed_loop(server, loadgen, c, plan.closed_seconds, plan.closed_warmup))
            r = runs[-1]
            print(f"  {server.name:8s} c={c:<3d} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 "
                  f"{r['p99_ms']:7.2f} ms  errors {r['errors']}  load {r['load1']}  "
                  f"spread {r['connections_per_process']}", flush=True)
        runs.append(wrk(server, WRK_CONNECTIONS, plan.closed_seconds))
        r = runs[-1]
        print(f"  {server.name:8s} wrk c={WRK_CONNECTIONS} {r['rps']:8.1f} req/s  "
              f"spread {r['connections_per_process']}", flush=True)
        for rate in plan.rates:
            if any(r["kind"] == "rate" and r["overloaded"] for r in runs):
                runs.append({"kind": "rate", "rate": float(rate), "skipped": True})
                continue
            runs.append(fixed_rate(server, loadgen, rate, plan))
            r = runs[-1]
            print(f"  {server.name:8s} {rate:5d}/s  p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
                  f"answered {r['completed']}/{r['scheduled']}{'  OVERLOADED' if r['overloaded'] else ''}  "
                  f"load {r['load1']}", flush=True)
    finally:
        stop(server)
    return {"server": server.name, "label": label, "startup_s": round(startup, 2), "load1_at_start": load,
            "processes": len(server.pids), "max_abs_diff": agreement, "runs": runs}


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, short runs (~3 min)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workers", type=int, help="processes per server (default 2: one per core)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help="server variants, in this order each round before rotating; a product (aiforge, "
                             "mlflow, bentoml), optionally -1w (one worker process), aiforge-nolog or aiforge-shared")
    parser.add_argument("--out", type=Path, help="default RESULTS.md (full) or results/QUICK.md (--quick)")
    parser.add_argument("--report-only", type=Path, metavar="JSON", help="write the report from saved results")
    args = parser.parse_args()

    results_dir = HERE / "results"
    if args.report_only:
        data = json.loads(args.report_only.read_text())
        out = args.out or (HERE / "RESULTS.md" if not data["quick"] else results_dir / "QUICK.md")
        out.write_text(write_report(data), encoding="utf-8")
        print(f"wrote {out}")
        return
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan.rounds = args.rounds
    if args.workers:
        plan.workers = args.workers
    chosen = args.servers.split(",")
    products = {name.split("-")[0] for name in chosen}
    for tool in ("wrk", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"'{tool}' is not installed: apt-get install -y wrk gcc")

    began = time.perf_counter()
    results_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiforge-serving-") as tmp:
        root = Path(tmp)
        constraints = shared_constraints(root)
        for peer in ("mlflow", "bentoml"):
            if peer in products:
                ensure_peer_venv(peer, constraints)
        loadgen = root / "loadgen"
        subprocess.run(["gcc", "-O2", "-o", str(loadgen), str(HERE / "loadgen.c"), "-lm"], check=True)

        print("training the model (aiforge run, LightGBM only) ...", flush=True)
        workspace, model = train(root, plan)
        print(f"  {model}", flush=True)
        bodies = write_bodies(root)
        ws = [str(workspace)]
        if "mlflow" in products:
            run_peer("mlflow", ["export-mlflow", *ws, str(root / "mlflow-model"), str(bodies["rows"])], {})
        if "bentoml" in products:
            run_peer("bentoml", ["export-bentoml", *ws, str(bodies["rows"])],
                     {"BENTOML_HOME": str(root / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "True"})

        print("in-process time per row ...", flush=True)
        floors = {"aiforge": run_peer("aiforge", ["floor", "aiforge", *ws, str(bodies["rows"]),
                                                  str(plan.floor_calls)], {})}
        floors["aiforge"]["load1"] = os.getloadavg()[0]
        if "mlflow" in products:
            floors["mlflow"] = run_peer("mlflow", ["floor", "mlflow", *ws, str(bodies["rows"]),
                                                   str(plan.floor_calls), str(root / "mlflow-model")], {})
            floors["mlflow"]["load1"] = os.getloadavg()[0]
        if "bentoml" in products:
            floors["bentoml"] = run_peer("bentoml", ["floor", "bentoml", *ws, str(bodies["rows"]),
                                                     str(plan.floor_calls)], {})
            floors["bentoml"]["load1"] = os.getloadavg()[0]
        print(f"  {json.dumps(floors)}", flush=True)

        servers = {name: make_server(name, root, workspace, bodies, plan.workers) for name in chosen}
        reference = reference_probabilities(workspace, bodies["rows"])

        turns = []
        order = list(servers)
        for r in range(plan.rounds):
            rotation = order[r % len(order):] + order[: r % len(order)]
            print(f"round {r + 1}/{plan.rounds}: {', '.join(rotation)}", flush=True)
            for name in rotation:
                turns.append({"round": r + 1, **turn(servers[name], plan, loadgen, root, f"r{r + 1}", reference)})

    data = {
        "quick": args.quick, "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "uncommitted": subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                                      capture_output=True, text=True, check=False).stdout.split("\n")[:-1],
        "wall_minutes": round((time.perf_counter() - began) / 60, 1), "plan": plan.__dict__, "machine": machine(),
        "tools": tool_versions(), "model": model, "floors": floors, "turns": turns,
        "servers": {n: {"product": s.product, "workers": s.workers, "command": shown_command(s, root),
                        "path": s.path} for n, s in servers.items()},
        "versions": {
            "aiforge": versions(REPO / ".venv" / "bin" / "python",
                                ["aiforge", *COMMON_PACKAGES]),
            **{peer: versions(venv_dir(peer) / "bin" / "python", [peer, *COMMON_PACKAGES])
               for peer in ("mlflow", "bentoml") if peer in products},
        },
    }
    raw = results_dir / ("quick.json" if args.quick else "full.json")
    raw.write_text(json.dumps(data, indent=1), encoding="utf-8")
    out = args.out or (results_dir / "QUICK.md" if args.quick else HERE / "RESULTS.md")
    out.write_text(write_report(data), encoding="utf-8")
    print(f"wrote {raw} and {out} ({data['wall_minutes']} min)")


def shown_command(server: Server, root: Path) -> str:
    """The server's command line as a reader would type it: no temporary folder, no random port."""
    words = [Path(server.command[0]).name, *server.command[1:]]
    return " ".join(words).replace(str(root), "$TMP").replace(str(server.port), "$PORT").replace(str(HERE) , ".")


def reference_probabilities(workspace: Path, rows: Path, count: int = 20) -> list[float]:
    """P(>50K) of the first rows from the registered model, in this process (the native pipeline)."""
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from peer import load_model

    model = load_model(str(workspace))
    frame = pd.DataFrame([json.loads(line) for line in rows.read_text().splitlines()[:count]])
    return [float(p) for p in model.predict_proba(frame)[:, list(model.classes).index(">50K")]]


if __name__ == "__main__":
    main()
