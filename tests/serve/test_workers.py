"""`aiforge serve --workers 2` end to end: each worker accepts on its own socket (SO_REUSEPORT), so the
kernel spreads connections over both; SIGTERM stops every worker with its prediction log flushed; a worker
that dies is replaced while the other answers; a taken port is a clear error.

Which worker holds a connection is read from ``/proc``: the server side of each TCP connection
(``/proc/net/tcp``) and the socket inodes each worker process has open (``/proc/PID/fd``).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import EXE, RunningServer, free_port, registered_income, running_server
from test_server import adult_records

from aiforge.monitor import read_predictions

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-worker sockets (SO_REUSEPORT) are Linux's")
CONNECTIONS = 16


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("workers")
    return root, registered_income(root, rows=800, learners="[lightgbm]")


def _all_listening(server: RunningServer) -> set[int]:
    """The worker pids once every worker listens (the server answers as soon as one does)."""
    deadline = time.monotonic() + 60
    while "workers, one socket each" not in server.log.read_text():
        assert server.process.poll() is None and time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.1)
    return _workers(server)


def _workers(server: RunningServer) -> set[int]:
    """The worker processes: the supervisor's children that hold a listening socket."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(c) for c in children if _sockets(int(c), listening=True)}


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (an ended one whose parent is gone may stay a zombie a while)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _sockets(pid: int, *, listening: bool = False) -> set[str]:
    """Socket inodes open in process ``pid`` (only listening TCP sockets with ``listening``)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = fd.readlink().as_posix()
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except FileNotFoundError:  # the process has just ended
        return set()
    if listening:
        inodes &= {row[9] for row in _tcp_rows() if row[3] == "0A"}
    return inodes


def _tcp_rows() -> list[list[str]]:
    text = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    return [line.split() for line in text.splitlines()[1:] if line.strip() and not line.lstrip().startswith("sl")]


def _holders(server: RunningServer, client_ports: list[int]) -> Counter[int]:
    """How many of the connections from ``client_ports`` each worker holds."""
    port = int(server.url.rsplit(":", 1)[1])
    inodes = {row[9] for row in _tcp_rows()
              if int(row[1].rsplit(":", 1)[1], 16) == port and int(row[2].rsplit(":", 1)[1], 16) in client_ports}
    return Counter({pid: len(_sockets(pid) & inodes) for pid in _workers(server)})


def _connections(server: RunningServer, n: int,
                 context: ssl.SSLContext | None = None) -> list[http.client.HTTPConnection]:
    host, port = server.url.split("://")[1].rsplit(":", 1)
    conns: list[http.client.HTTPConnection] = []
    for _ in range(n):
        conn = (http.client.HTTPSConnection(host, int(port), timeout=30, context=context) if context
                else http.client.HTTPConnection(host, int(port), timeout=30))
        conn.connect()
        conns.append(conn)
    return conns


def _predict(conn: http.client.HTTPConnection, start: int) -> list[str]:
    """One prediction of two records on the kept-alive connection ``conn``; the ids answered."""
    conn.request("POST", "/v1/models/income/predict", body=json.dumps({"records": adult_records(2, start=start)}),
                 headers={"content-type": "application/json"})
    answer = conn.getresponse()
    body = answer.read()
    assert answer.status == 200, body
    return [p["id"] for p in json.loads(body)["predictions"]]


def test_connections_spread_over_both_workers_and_sigterm_flushes_every_prediction(
        workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    with running_server(["--workers", "2"], env, root, root / "spread.log") as server:
        workers = _all_listening(server)
        assert len(workers) == 2, server.log.read_text()
        conns = _connections(server, CONNECTIONS)
        ids = [i for round_ in range(3) for n, conn in enumerate(conns) for i in _predict(conn, 2 * (16 * round_ + n))]
        holders = _holders(server, [c.sock.getsockname()[1] for c in conns])
        # each connection is held by one worker, and both hold some (all on one: odds 2 in 65,536)
        assert sum(holders.values()) == CONNECTIONS and set(holders) == workers and min(holders.values()) >= 1, holders
        for conn in conns:
            conn.close()

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0, server.log.read_text()
        log = server.log.read_text()
        assert log.count("Application shutdown complete") == 2, log  # each worker ran its shutdown
        assert not any(_running(pid) for pid in workers)
    assert "uvloop" in log and "HttpToolsProtocol" in log  # each worker on uvicorn's fast loop and parser

    rows = read_predictions(root / "ws" / "predictions", "income")
    assert sorted(rows["id"]) == sorted(ids) and len(ids) == 3 * 2 * CONNECTIONS
    files = list((root / "ws" / "predictions").rglob("*.parquet"))
    assert {int(re.match(r"\d+-(\d+)-", f.name)[1]) for f in files} == workers  # type: ignore[index]


def _certificate(folder: Path) -> tuple[Path, Path] | None:
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return cert, key


@pytest.fixture
def https(tmp_path: Path) -> Iterator[tuple[list[str], ssl.SSLContext | None]]:
    """Server options and client context for HTTPS where openssl can make a certificate, else plain HTTP."""
    made = _certificate(tmp_path)
    if made is None:
        yield [], None
    else:
        yield ["--ssl-certfile", str(made[0]), "--ssl-keyfile", str(made[1])], ssl.create_default_context(
            cafile=str(made[0]))


def test_a_worker_that_dies_is_replaced_while_the_other_answers(
        workspace: tuple[Path, dict[str, str]], https: tuple[list[str], ssl.SSLContext | None]) -> None:
    root, env = workspace
    options, context = https
    scheme = "https" if context else "http"
    with running_server(["--workers", "2", "--no-log-predictions", *options], env, root, root / "restart.log",
                        scheme=scheme, verify=context or True) as server:
        first = _all_listening(server)
        assert len(first) == 2, server.log.read_text()
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 45
        port = int(server.url.rsplit(":", 1)[1])
        # connections the kernel queued at its socket until it closed are reset; the socket closes with the
        # process's last thread, which can be after its main thread shows as a zombie: watch the socket itself
        while sum(1 for row in _tcp_rows() if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port) > 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        answered = resets = 0
        while victim in (workers := _workers(server)) or len(workers) < 2:  # until its replacement listens
            try:
                with httpx.Client(base_url=server.url, verify=context or True, timeout=10) as fresh:  # a new connection
                    answer = fresh.post("/v1/models/income/predict",
                                        json={"records": adult_records(1, start=answered)})
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                # a connection the kernel had already handed to the dying socket is reset; a client (or load
                # balancer) retries, as here — rare, and never once the replacement listens
                resets += 1
                assert resets <= 3, server.log.read_text()
                continue
            assert answer.status_code == 200, answer.text
            answered += 1
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.05)
        assert answered > 0 and victim not in workers and len(workers) == 2
        assert f"[{victim}] died (signal 9): starting another" in server.log.read_text()

        conns = _connections(server, CONNECTIONS, context)  # the new worker takes its share
        for n, conn in enumerate(conns):
            _predict(conn, n)
        holders = _holders(server, [c.sock.getsockname()[1] for c in conns])
        assert set(holders) == workers and min(holders.values()) >= 1, holders
        for conn in conns:
            conn.close()

        server.client.close()  # (an idle TLS connection would hold a graceful shutdown up to its timeout)
        server.process.kill()  # the supervisor killed outright: its workers notice and stop by themselves
        server.process.wait()
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.2)


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain-listener", "another-reuseport-group"])
def test_a_taken_port_is_an_error_naming_it(workspace: tuple[Path, dict[str, str]], reuse_port: bool) -> None:
    root, env = workspace
    port = free_port()
    with socket.socket() as taken:
        if reuse_port:  # what another `aiforge serve --workers N` holds: workers must not join its group
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = subprocess.run([str(EXE), "serve", "--workers", "2", "--port", str(port)], capture_output=True,
                              text=True, env=env, cwd=root, timeout=60)
    assert proc.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}: the port is in use" in proc.stderr, proc.stderr
    assert "--port" in proc.stderr and "Started parent process" not in proc.stderr
