"""Shared fixtures: small real projects on real files, in temporary folders."""

from __future__ import annotations

import csv
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aiforge.learn import Objective

sys.path.insert(0, str(Path(__file__).with_name("postgres_site")))
import workspace_databases  # noqa: E402  (the suite on PostgreSQL: see its docstring)

REPO = Path(__file__).resolve().parents[1]
ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
EXE = Path(sys.executable).with_name("aiforge")
# the checks that cost seconds per run, off: for tests that need a registered model, not its audit
FAST_CHECKS = ("  robustness: {enabled: false}\n  label_noise: {enabled: false}\n  privacy: {enabled: false}\n"
               "  explain: {enabled: false}")


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(np.argmax(proba, axis=1) == y))


def _neg_rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return -float(np.sqrt(np.mean((y - pred) ** 2)))


# simple objectives for tests that call the learn package directly (higher is better for both)
ACCURACY = Objective("accuracy", True, _accuracy)
NEG_RMSE = Objective("neg_rmse", True, _neg_rmse)


@pytest.fixture(scope="session", autouse=True)
def _postgres_workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """With ``AIFORGE_TEST_POSTGRES_URL`` set (.ci/services.sh sets it, so CI runs the suite once, on PostgreSQL),
    every workspace the tests and their CLI and server processes open keeps its metadata in a PostgreSQL database of
    its own, made from a migrated template; without it, in its SQLite file. A test marked ``sqlite`` stays on SQLite.
    This worker's databases are dropped when its session ends."""
    if not os.environ.get(workspace_databases.SERVER_ENV):
        yield
        return
    import hashlib

    try:
        workspace_databases.ping()
    except Exception as exc:  # the suite was asked to run on PostgreSQL: never fall back to SQLite silently
        pytest.fail(f"{workspace_databases.SERVER_ENV} is set but the server does not answer: {exc}")
    seed = f"{tmp_path_factory.getbasetemp()}:{os.getpid()}:{time.time_ns()}"
    prefix = "aift_" + hashlib.sha1(seed.encode()).hexdigest()[:10]
    saved = {k: os.environ.get(k) for k in (workspace_databases.PREFIX_ENV, workspace_databases.URL_ENV, "PYTHONPATH")}
    site = str(Path(workspace_databases.__file__).parent)
    os.environ[workspace_databases.PREFIX_ENV] = prefix
    os.environ[workspace_databases.URL_ENV] = os.environ[workspace_databases.SERVER_ENV]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, saved["PYTHONPATH"]) if p)
    workspace_databases.install()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        workspace_databases.drop_databases(prefix)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Tests never see the developer's workspace or database settings."""
    for var in ("AIFORGE_WORKSPACE", "AIFORGE_DB_URL", "AIFORGE_ENCRYPTION_KEY", "AIFORGE_ENCRYPTION_KEY_FILE",
                "AIFORGE_ARTIFACTS_URL", "AIFORGE_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    if request.node.get_closest_marker("sqlite"):  # about SQLite itself (its file, WAL): never on PostgreSQL
        monkeypatch.delenv(workspace_databases.PREFIX_ENV, raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.chdir(tmp_path)


def write_income_project(folder: Path, *, rows: int = 2500, kpis: str = "  - {metric: roc_auc, min: 0.80}",
                         learners: str = "[linear, lightgbm]", extra: str = "", checks: str = "") -> Path:
    """A small copy of the Adult example (first ``rows`` rows) with its project file; ``checks`` are
    lines added to its ``checks:`` section (e.g. ``"  fairness: {sensitive: [sex]}"``)."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    with ADULT.open(encoding="utf-8") as src, (folder / "data" / "adult.csv").open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    project = folder / "aiforge.yaml"
    project.write_text(
        f"""name: income
problem:
  task: binary
  target: income
  positive_class: ">50K"
kpis:
{kpis}
data:
  sources:
    - {{name: census, type: csv, path: data/adult.csv}}
  split: {{test_size: 0.25, seed: 7}}
model:
  learners: {learners}
  search: {{cv: 3}}
  seed: 7
checks:
  importance: {{repeats: 2, max_rows: 300}}
{checks + chr(10) if checks else ""}{extra}""",
        encoding="utf-8",
    )
    return project


def write_regression_project(folder: Path, *, rows: int = 600) -> Path:
    """A synthetic regression problem: price from size, rooms and district."""
    rng = random.Random(3)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    with (folder / "data" / "houses.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["size_m2", "rooms", "district", "price"])
        for _ in range(rows):
            size = rng.uniform(30, 200)
            rooms = rng.randint(1, 6)
            district = rng.choice(["north", "south", "centre"])
            price = 2000 * size + 5000 * rooms + {"north": 0, "south": -20000, "centre": 60000}[district]
            w.writerow([round(size, 1), rooms, district, round(price + rng.gauss(0, 15000), 2)])
    project = folder / "aiforge.yaml"
    project.write_text(
        """name: houses
problem: {task: auto, target: price}
kpis:
  - {metric: r2, min: 0.8}
data:
  sources: [{name: houses, type: csv, path: data/houses.csv}]
model:
  learners: [linear, hist_gradient_boosting]
  search: {cv: 3}
""",
        encoding="utf-8",
    )
    return project


@pytest.fixture
def income_project(tmp_path: Path) -> Path:
    return write_income_project(tmp_path / "income")


@pytest.fixture
def regression_project(tmp_path: Path) -> Path:
    return write_regression_project(tmp_path / "houses")


AiforgeRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def aiforge(tmp_path: Path) -> AiforgeRunner:
    """Run the real `aiforge` console script in a subprocess, with its own workspace folder."""
    workspace = tmp_path / "ws"
    exe = Path(sys.executable).with_name("aiforge")

    def run(*args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AIFORGE_WORKSPACE": str(workspace), "COLUMNS": "200"}
        proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=tmp_path)
        if check and proc.returncode != 0:
            raise AssertionError(f"aiforge {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    run.workspace = workspace  # type: ignore[attr-defined]
    return run


# -- a real `aiforge serve` process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` answering on a free port of 127.0.0.1 (http.server, a thread per request) until the block
    ends; yields the server's base URL, ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def serve_env(workspace: Path) -> dict[str, str]:
    """The environment of a server (and of CLI calls) over ``workspace``."""
    env = {k: v for k, v in os.environ.items() if k != "AIFORGE_DB_URL"}
    return env | {"AIFORGE_WORKSPACE": str(workspace), "OMP_WAIT_POLICY": "PASSIVE", "COLUMNS": "200"}


def registered_income(root: Path, *, rows: int, learners: str, kpi: float = 0.5,
                      checks: str = FAST_CHECKS) -> dict[str, str]:
    """`income` v1 registered by the real `aiforge run` in ``root/ws`` (the project in ``root/income``, its
    first ``rows`` rows, gated on ``roc_auc >= kpi``); returns the environment of that workspace."""
    env = serve_env(root / "ws")
    project = write_income_project(root / "income", rows=rows, learners=learners, checks=checks,
                                   kpis=f"  - {{metric: roc_auc, min: {kpi}}}")
    proc = subprocess.run([str(EXE), "run", str(project)], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return env


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    client: httpx.Client
    url: str
    log: Path


@contextmanager
def running_server(args: list[str], env: dict[str, str], cwd: Path, log: Path, *, scheme: str = "http",
                   **client_options: Any) -> Iterator[RunningServer]:
    """`aiforge serve --port P *args` on a free port, ready (``/v2/health/ready``) when entered and
    stopped (SIGTERM, then SIGKILL after 15 s) on exit; its output goes to ``log``."""
    port = free_port()
    url = f"{scheme}://127.0.0.1:{port}"
    with log.open("w") as fh:
        process = subprocess.Popen([str(EXE), "serve", "--port", str(port), *args], env=env, cwd=cwd, stdout=fh,
                                   stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=url, timeout=30, **client_options)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if client.get("/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not get ready in 60 s"
            time.sleep(0.1)
        yield RunningServer(process, client, url, log)
    finally:
        client.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- a real redis-server -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on a free port in a temporary folder, for the session; the tests skip without redis-server
    (apt-get install redis-server; .ci/services.sh installs it) and fail under CI=true."""
    import shutil

    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed: .ci/services.sh installs it")
        pytest.skip("no redis-server (apt-get install redis-server)")
    pytest.importorskip("redis")
    import redis

    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = folder / "redis.log"
    with log.open("w") as fh:
        process = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                    "--save", "", "--appendonly", "no"], stdout=fh, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with redis.Redis.from_url(url, socket_timeout=1) as client:
                    client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start in 30 s:\n" + log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
