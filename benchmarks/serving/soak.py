"""Soak test of `aiforge serve` (issue 5, criterion 7): a steady open-loop load for some minutes while
the server process's memory is sampled. Writes SOAK.md beside this file.

    .venv/bin/python benchmarks/serving/soak.py                               # 5 minutes at 200 requests/s
    .venv/bin/python benchmarks/serving/soak.py --minutes 0.5 --out /tmp/SOAK.md   # smoke run, about 1 minute

It trains a small LightGBM model on the Adult example in a temporary workspace, makes a `predict` API
key, and starts `aiforge serve` as in production: authentication on, prediction log on (the default),
one worker. An asyncio + httpx generator then sends requests at fixed times (open loop: a late answer
never delays the next request, and latency is measured from the time the request was due, so a stall
shows up in it): mostly single-record `/v1` predictions, some batches, some invalid requests (a record
missing a field, a value of the wrong type, malformed JSON, a model that does not exist under a new name
each time). Every few seconds it reads the server's resident memory (psutil when installed, else
/proc/PID/status), its threads and open files, and what the prediction log has written to disk.

Verdict: "stable" when the resident memory at the end is within GROWTH_MB of the memory at the end of
the warm-up and the second half's least-squares slope is under SLOPE_MB_PER_MINUTE; else "growing".
After the load, the server is stopped with SIGTERM and the prediction log's rows are counted: each
answered prediction must be in it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
AIFORGE = Path(sys.executable).with_name("aiforge")
GROWTH_MB = 20.0  # resident memory may end at most this much above where the warm-up left it ...
SLOPE_MB_PER_MINUTE = 1.0  # ... and may not still be climbing faster than this over the second half
BATCH_ROWS = 32
PROJECT = """name: income
problem: {{task: binary, target: income, positive_class: ">50K"}}
kpis:
  - {{metric: roc_auc, min: 0.80}}
data:
  sources: [{{name: census, type: csv, path: {data}}}]
  split: {{test_size: 0.25, seed: 7}}
model:
  learners: [lightgbm]
  search: {{cv: 3}}
  seed: 7
checks:
  importance: {{repeats: 2, max_rows: 300}}
  robustness: {{enabled: false}}
  label_noise: {{enabled: false}}
  privacy: {{enabled: false}}
  explain: {{enabled: false}}
"""


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_mb: float
    threads: int
    fds: int
    log_files: int
    cpu_seconds: float  # the server's user + system CPU time so far


@dataclass
class Outcome:
    kind: str  # single, batch, invalid
    status: int | str  # the HTTP status, or the transport error's name
    latency_ms: float  # from the time the request was due to the end of the answer
    predicted: int  # records predicted (2xx answers)


@dataclass
class Run:
    args: argparse.Namespace
    started_at: str = ""
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    samples: list[Sample] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    sent_seconds: float = 0.0
    late_sends: int = 0  # requests sent more than 10 ms after they were due (the generator fell behind)
    server_counts: dict[str, int] = field(default_factory=dict)  # /metrics: requests by status
    logged_rows: int = 0
    shutdown_seconds: float = 0.0
    train_seconds: float = 0.0


# -- the server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(root: Path, rows: int) -> tuple[dict[str, str], float]:
    """A workspace under ``root`` with `income` v1 trained on the first ``rows`` rows of Adult."""
    (root / "data").mkdir(parents=True)
    with ADULT.open(encoding="utf-8") as src, (root / "data" / "adult.csv").open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    (root / "aiforge.yaml").write_text(PROJECT.format(data="data/adult.csv"), encoding="utf-8")
    env = {**os.environ, "AIFORGE_WORKSPACE": str(root / "ws"), "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("AIFORGE_DB_URL", None)
    started = time.perf_counter()
    run = subprocess.run([str(AIFORGE), "run", str(root / "aiforge.yaml")], env=env, cwd=root, capture_output=True,
                         text=True, timeout=1800)
    if run.returncode != 0:
        raise SystemExit(f"aiforge run failed:\n{run.stderr}")
    return env, time.perf_counter() - started


def make_key(env: dict[str, str]) -> str:
    made = subprocess.run([str(AIFORGE), "keys", "create", "--name", "soak", "--role", "predict", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        raise SystemExit(f"aiforge keys create failed:\n{made.stderr}")
    return str(json.loads(made.stdout)["secret"])


def start_server(env: dict[str, str], root: Path, port: int, options: list[str]) -> subprocess.Popen[bytes]:
    with (root / "server.log").open("w") as log:
        server = subprocess.Popen([str(AIFORGE), "serve", "--port", str(port), *options], env=env, cwd=root,
                                  stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{(root / 'server.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not get ready in 120 s")
        time.sleep(0.2)


# -- what is measured -------------------------------------------------------------------------------


def _read_proc(pid: int) -> tuple[float, int, int, float]:
    """Resident MB, threads, open files and CPU seconds of process ``pid``."""
    try:
        import psutil

        process = psutil.Process(pid)
        times = process.cpu_times()
        return (process.memory_info().rss / 2**20, process.num_threads(), process.num_fds(),
                times.user + times.system)
    except ImportError:
        pass
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mb = int(fields["VmRSS"].split()[0]) / 1024
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (rss_mb, int(fields["Threads"]), len(os.listdir(f"/proc/{pid}/fd")),
            (int(stat[11]) + int(stat[12])) / ticks)


class Sampler(threading.Thread):
    """Reads the server's resources every ``every`` seconds until stopped."""

    def __init__(self, pid: int, predictions: Path, every: float, t0: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.pid, self.predictions, self.every, self.t0 = pid, predictions, every, t0
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def sample(self) -> None:
        rss, threads, fds, cpu = _read_proc(self.pid)
        files = sum(1 for _ in self.predictions.glob("*/*/*.parquet")) if self.predictions.exists() else 0
        self.samples.append(Sample(time.monotonic() - self.t0, rss, threads, fds, files, cpu))

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()


def records(inputs: list[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    """Real Adult rows (after the ones the model was trained on) as records of the model's inputs."""
    kinds = {i["name"]: i["datatype"] for i in inputs}
    out = []
    with ADULT.open(encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i < rows:
                continue
            record: dict[str, Any] = {}
            for name, datatype in kinds.items():
                text = row[name].strip()
                if text in ("", "?"):
                    record[name] = None
                elif datatype == "INT64":
                    record[name] = int(float(text))
                elif datatype == "FP64":
                    record[name] = float(text)
                else:
                    record[name] = text
            out.append(record)
            if len(out) >= 5000:
                break
    return out


def request_plan(pool: list[dict[str, Any]], share_batch: float, share_invalid: float,
                 seed: int) -> Any:
    """An endless sequence of (kind, path, body bytes, records) for the generator, the same for a seed."""
    rng = random.Random(seed)
    unknown = 0
    while True:
        draw = rng.random()
        if draw < share_invalid:
            unknown += 1
            record = dict(rng.choice(pool))
            variant = rng.randrange(4)
            if variant == 0:
                record.pop(rng.choice(list(record)))  # a record missing a field: 422
                yield "invalid", "/v1/models/income/predict", json.dumps({"records": [record]}).encode(), 1
            elif variant == 1:
                record[rng.choice(list(record))] = [1, 2]  # a value of the wrong type: 422
                yield "invalid", "/v1/models/income/predict", json.dumps({"records": [record]}).encode(), 1
            elif variant == 2:
                yield "invalid", "/v1/models/income/predict", b'{"records": [{"age": 39,', 1  # malformed JSON: 422
            else:  # a model that does not exist, a new name each time (nothing may be kept per name): 404
                yield "invalid", f"/v1/models/nope-{unknown}/predict", json.dumps({"records": [record]}).encode(), 1
        elif draw < share_invalid + share_batch:
            batch = rng.sample(pool, BATCH_ROWS)
            yield "batch", "/v1/models/income/predict", json.dumps({"records": batch}).encode(), BATCH_ROWS
        else:
            yield "single", "/v1/models/income/predict", json.dumps({"records": [rng.choice(pool)]}).encode(), 1


class Pool:
    """Keep-alive HTTP/1.1 connections over asyncio streams: a load generator must cost far less per
    request than the server it loads, and on two shared cores httpx's client does not (it fell seconds
    behind at 200 requests/s while the server idled)."""

    def __init__(self, host: str, port: int, size: int, headers: dict[str, str]) -> None:
        self.host, self.port, self.size = host, port, size
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items()).encode()
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # opened on first use

    async def post(self, path: str, body: bytes) -> int:
        connection = await self.idle.get()
        try:
            if connection is None:
                connection = await asyncio.open_connection(self.host, self.port)
            reader, writer = connection
            writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.head
                         + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except BaseException:  # an error or a timeout: the connection may hold half an answer
            if connection is not None:
                connection[1].close()
            connection = None
            raise
        finally:
            self.idle.put_nowait(connection)
        return status

    async def close(self) -> None:
        while not self.idle.empty():
            connection = self.idle.get_nowait()
            if connection is not None:
                connection[1].close()


async def drive(url: str, key: str, plan: Any, rate: float, seconds: float, connections: int,
                run: Run) -> None:
    """Send ``rate`` requests a second for ``seconds``, each at its due time, whatever the answers do."""
    host, port = url.removeprefix("http://").split(":")
    pool = Pool(host, int(port), connections, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    loop = asyncio.get_running_loop()

    async def one(due: float, kind: str, path: str, body: bytes, rows: int) -> None:
        try:
            status: int | str = await asyncio.wait_for(pool.post(path, body), timeout=30)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            status = type(exc).__name__
        predicted = rows if status == 200 else 0
        run.outcomes.append(Outcome(kind, status, 1000 * (loop.time() - due), predicted))

    tasks: set[asyncio.Task[None]] = set()
    start = loop.time()
    n = 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -0.010:
            run.late_sends += 1
        task = asyncio.create_task(one(due, *next(plan)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    run.sent_seconds = loop.time() - start
    await asyncio.gather(*tasks)
    await pool.close()


def server_statuses(text: str) -> dict[str, int]:
    """Requests to the predict route by status, from the Prometheus text."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("aiforge_requests_total{") and 'route="/v1/models/{name}/predict"' in line:
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[status] += int(line.rsplit(" ", 1)[1])
    return dict(counts)


def logged_rows(predictions: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for f in predictions.glob("*/*/*.parquet"))


# -- the figures ------------------------------------------------------------------------------------


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def figures(run: Run) -> dict[str, Any]:
    warm = run.args.warmup
    after = [s for s in run.samples if s.t >= warm]
    start, end = after[0], after[-1]
    half = [s for s in after if s.t >= (start.t + end.t) / 2]
    per_minute = 60 * slope([(s.t, s.rss_mb) for s in half])
    growth = end.rss_mb - start.rss_mb
    ok = [o for o in run.outcomes if isinstance(o.status, int) and 200 <= o.status < 300]
    by_kind = {kind: [o.latency_ms for o in ok if o.kind == kind] for kind in ("single", "batch")}
    cpu = (end.cpu_seconds - start.cpu_seconds) / (end.t - start.t) if end.t > start.t else 0.0
    return {
        "rss_start_mb": start.rss_mb, "rss_start_at_s": start.t, "rss_end_mb": end.rss_mb,
        "rss_max_mb": max(s.rss_mb for s in run.samples), "rss_before_load_mb": run.samples[0].rss_mb,
        "growth_mb": growth, "slope_mb_per_min": per_minute,
        "stable": growth < GROWTH_MB and per_minute < SLOPE_MB_PER_MINUTE,
        "threads": (start.threads, end.threads), "fds": (start.fds, end.fds),
        "log_files": end.log_files, "server_cpu_share": cpu,
        "sent": len(run.outcomes), "achieved_rate": len(run.outcomes) / run.sent_seconds,
        "late_sends": run.late_sends,
        "statuses": Counter(str(o.status) for o in run.outcomes),
        "statuses_by_kind": {k: Counter(str(o.status) for o in run.outcomes if o.kind == k)
                             for k in ("single", "batch", "invalid")},
        "predicted": sum(o.predicted for o in run.outcomes),
        "latency": {k: (percentile(v, 50), percentile(v, 99), max(v, default=float("nan")))
                    for k, v in by_kind.items()},
    }


def versions() -> dict[str, str]:
    names = ("aiforge", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "httpx", "lightgbm",
             "numpy", "pandas", "pyarrow", "scikit-learn", "psutil")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0.0)
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}"


def report(run: Run, f: dict[str, Any]) -> str:
    a = run.args
    lat = f["latency"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(f["statuses"].items()))
    kinds = "; ".join(f"{k} {dict(sorted(v.items()))}" for k, v in f["statuses_by_kind"].items())
    server = ", ".join(f"{k}: {v}" for k, v in sorted(run.server_counts.items()))
    answered_ok = sum(v for k, v in f["statuses"].items() if k.startswith("2"))
    timeline = []
    every = max(1, round(15 / a.sample_seconds))
    for s in run.samples[::every] + ([run.samples[-1]] if (len(run.samples) - 1) % every else []):
        timeline.append(f"| {s.t:6.0f} | {s.rss_mb:7.1f} | {s.threads:3d} | {s.fds:3d} | {s.log_files:4d} |")
    versions_text = ", ".join(f"{k} {v}" for k, v in versions().items())
    mix = (f"{100 * (1 - a.batch - a.invalid):.0f}% one record, {100 * a.batch:.0f}% {BATCH_ROWS} records, "
           f"{100 * a.invalid:.0f}% invalid")
    return f"""# Soak test of `aiforge serve`

{a.minutes:g} minutes at {a.rate:g} requests/s against one `aiforge serve` process, memory sampled
every {a.sample_seconds:g} s. Made by `benchmarks/serving/soak.py` (see its docstring for the method); run on
{run.started_at}:

    .venv/bin/python benchmarks/serving/soak.py{"".join(" " + arg for arg in sys.argv[1:])}

The server runs as in production: one worker, authentication on (a `predict` key), the prediction log
on. The model is LightGBM trained by `aiforge run` on the first {a.rows} rows of Adult (in {run.train_seconds:.0f} s);
requests use the rows after those. Request mix: {mix}
(a missing field, a value of the wrong type, malformed JSON, an unknown model under a new name each
time). Open loop: each request is sent at its due time whatever the earlier answers do; latency runs
from that due time to the end of the answer.

## Verdict: **{"stable" if f["stable"] else "growing"}**

Stable means: resident memory at the end within {GROWTH_MB:g} MB of where the {a.warmup:g} s warm-up left
it, and its least-squares slope over the second half under {SLOPE_MB_PER_MINUTE:g} MB/minute.

| figure | value |
|---|---|
| resident memory before the load | {f["rss_before_load_mb"]:.1f} MB |
| after the warm-up (t = {f["rss_start_at_s"]:.0f} s) | {f["rss_start_mb"]:.1f} MB |
| at the end | {f["rss_end_mb"]:.1f} MB |
| growth after the warm-up | {f["growth_mb"]:+.1f} MB |
| slope over the second half | {f["slope_mb_per_min"]:+.2f} MB/minute |
| maximum | {f["rss_max_mb"]:.1f} MB |
| threads, open files (after warm-up → end) | {f["threads"][0]} → {f["threads"][1]}, {f["fds"][0]} → {f["fds"][1]} |
| requests sent | {f["sent"]} in {run.sent_seconds:.1f} s: {f["achieved_rate"]:.1f}/s \
(sent > 10 ms late: {f["late_sends"]}) |
| answers by status | {statuses} |
| by kind | {kinds} |
| the server's own count (`/metrics`, predict route) | {server} |
| records predicted / rows in the prediction log after SIGTERM | {f["predicted"]} / {run.logged_rows} \
({f["log_files"]} Parquet files during the load; shutdown took {run.shutdown_seconds:.1f} s) |
| latency, one record: p50 / p99 / max | {lat["single"][0]:.1f} / {lat["single"][1]:.1f} / {lat["single"][2]:.1f} ms |
| latency, {BATCH_ROWS} records: p50 / p99 / max | {lat["batch"][0]:.1f} / {lat["batch"][1]:.1f} / \
{lat["batch"][2]:.1f} ms |
| server CPU (after warm-up) | {100 * f["server_cpu_share"]:.0f}% of one core |

{answered_ok} answers were 2xx; no request may get a 5xx or go unanswered.

## Resident memory over time

| t (s) | RSS (MB) | threads | open files | log files |
|---:|---:|---:|---:|---:|
{chr(10).join(timeline)}

## Machine and versions

- {machine()}; load average (1, 5, 15 min) before: {", ".join(f"{x:.2f}" for x in run.load_before)}; after:
  {", ".join(f"{x:.2f}" for x in run.load_after)}. The load generator runs on the same machine, and the
  machine is shared: other work may have run at the same time (the load averages say how much).
- Python {platform.python_version()}; {versions_text}.
"""


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of load before the start memory is taken (default: 30, at most a fifth)")
    parser.add_argument("--sample-seconds", type=float, default=2.0, help="how often the memory is read")
    parser.add_argument("--batch", type=float, default=0.05, help=f"share of {BATCH_ROWS}-record requests")
    parser.add_argument("--invalid", type=float, default=0.05, help="share of invalid requests")
    parser.add_argument("--connections", type=int, default=64, help="the generator's connection pool")
    parser.add_argument("--rows", type=int, default=5000, help="Adult rows the model is trained on")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "SOAK.md", help="where the report goes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    parser.add_argument("--serve-option", action="append", default=[],
                        help="an option for `aiforge serve`, e.g. --serve-option=--refresh-seconds=60 (repeatable)")
    args = parser.parse_args()
    seconds = 60 * args.minutes
    if args.warmup is None:
        args.warmup = min(30.0, seconds / 5)
    run = Run(args, started_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              load_before=os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="aiforge-soak-"))
    server = None
    try:
        print(f"training in {root} ...", flush=True)
        env, run.train_seconds = prepare(root, args.rows)
        key = make_key(env)
        port = free_port()
        server = start_server(env, root, port, args.serve_option)
        url = f"http://127.0.0.1:{port}"
        inputs = httpx.get(f"{url}/v2/models/income", headers={"Authorization": f"Bearer {key}"}).json()["inputs"]
        plan = request_plan(records(inputs, args.rows), args.batch, args.invalid, args.seed)
        sampler = Sampler(server.pid, root / "ws" / "predictions", args.sample_seconds, time.monotonic())
        sampler.sample()
        sampler.start()
        print(f"driving {url} at {args.rate:g}/s for {seconds:g} s ...", flush=True)
        asyncio.run(drive(url, key, plan, args.rate, seconds, args.connections, run))
        sampler.stop.set()
        sampler.join()
        sampler.sample()
        run.samples = sampler.samples
        metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"})
        run.server_counts = server_statuses(metrics.text)
        stopping = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        run.shutdown_seconds = time.perf_counter() - stopping
        run.logged_rows = logged_rows(root / "ws" / "predictions")
        run.load_after = os.getloadavg()
        if "Traceback" in (root / "server.log").read_text():
            print((root / "server.log").read_text()[-3000:], file=sys.stderr)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    f = figures(run)
    notes = ""  # the hand-written findings below the figures survive a new run
    if args.out.exists() and "\n## Notes" in (old := args.out.read_text(encoding="utf-8")):
        notes = "\n## Notes" + old.split("\n## Notes", 1)[1]
    args.out.write_text(report(run, f) + notes, encoding="utf-8")
    print(f"{'stable' if f['stable'] else 'GROWING'}: RSS {f['rss_start_mb']:.1f} -> {f['rss_end_mb']:.1f} MB "
          f"({f['growth_mb']:+.1f}), slope {f['slope_mb_per_min']:+.2f} MB/min, max {f['rss_max_mb']:.1f} MB; "
          f"{f['sent']} requests at {f['achieved_rate']:.1f}/s, statuses {dict(f['statuses'])}, "
          f"p50/p99 single {f['latency']['single'][0]:.1f}/{f['latency']['single'][1]:.1f} ms; "
          f"predicted {f['predicted']}, logged {run.logged_rows}; report: {args.out}")


if __name__ == "__main__":
    main()
