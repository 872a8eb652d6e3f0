"""Dashboard benchmark: the server time of the list pages of `aiforge ui` on a big workspace. Writes RESULTS.md.

    .venv/bin/python benchmarks/ui/run.py              # 10,000 runs, 1,000 model versions; about a minute
    .venv/bin/python benchmarks/ui/run.py --requests 5 # fewer requests per page (smoke)

A fresh workspace (SQLite, as `aiforge init` makes it) is filled through the workspace's own tables with runs,
stages, snapshots and model versions shaped like those `aiforge run` records (summaries with the 14 test figures
and the gate, versions with metrics, gate and lineage). The real `aiforge ui` serves it on a free port with login
required; the benchmark logs in with an operator key, then requests each page in turn, several times, and reads
the server's own time from the ``Server-Timing`` header the dashboard sets (session check, library calls and
rendering; not the network or the client). The goal is under 200 ms per list page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
AIFORGE = Path(sys.executable).with_name("aiforge")
GOAL_MS = 200.0
PROJECTS = ("income", "churn", "fraud", "credit", "demand")
MODELS = tuple(f"model-{i:02d}" for i in range(10))
FIGURES = ("roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "precision", "recall", "log_loss", "brier",
           "training_energy_kwh", "training_co2e_g", "total_energy_kwh", "serving_energy_kwh_per_1000",
           "serving_co2e_g_per_1000")
STAGES = ("ingest", "validate", "split", "train", "evaluate", "checks", "gate", "register", "report")


def fill(root: Path, runs: int, versions: int) -> str:
    """A workspace at ``root`` with ``runs`` runs (their stages and snapshots) and ``versions`` model versions;
    returns an operator key."""
    from aiforge.workspace import (
        KeyStore,
        ModelVersionRow,
        Role,
        RunRow,
        SnapshotRow,
        StageRow,
        Workspace,
        WorkspaceSettings,
    )

    ws = Workspace.open(WorkspaceSettings(root=root))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rng = __import__("random").Random(7)
    try:
        with ws.session() as s:
            for i in range(runs):
                began = start + dt.timedelta(minutes=7 * i)
                run_id = f"{began:%Y%m%d-%H%M%S}-{i:04x}"
                project = PROJECTS[i % len(PROJECTS)]
                passed = rng.random() > 0.2
                figures = {f: round(rng.random(), 4) for f in FIGURES}
                model = {"name": project, "version": i // len(PROJECTS) + 1,
                         "status": "accepted" if passed else "rejected", "alias": "candidate" if passed else None}
                s.add(RunRow(id=run_id, project=project, status="succeeded" if passed else "rejected",
                             spec_path=f"/projects/{project}/aiforge.yaml", spec_hash=secrets.token_hex(32), spec={},
                             started_at=began, ended_at=began + dt.timedelta(seconds=40 + 30 * rng.random()),
                             host="bench", pid=1, code_version="0.1.0", error=None,
                             summary={"task": "binary", "learner": rng.choice(["linear", "lightgbm", "mlp"]),
                                      "metrics": figures, "passed": passed,
                                      "gate": "all 2 KPI(s) passed" if passed else "roc_auc = 0.71 < 0.8",
                                      "model": model, "report": f"/reports/{run_id}.html", "report_artifact": None}))
                for position, name in enumerate(STAGES):
                    s.add(StageRow(run_id=run_id, position=position, name=name, status="succeeded",
                                   input_hash=secrets.token_hex(32), started_at=began + dt.timedelta(seconds=position),
                                   ended_at=began + dt.timedelta(seconds=position + 1), outputs={}, error=None))
                if i % 10 == 0:
                    s.add(SnapshotRow(project=project, snapshot=secrets.token_hex(32), parent=None, run_id=run_id,
                                      created_at=began, rows=30_000 + i, sources=[{"name": "census", "rows": 30_000}]))
                if i % 500 == 499:
                    s.flush()
            for i in range(versions):
                name = MODELS[i % len(MODELS)]
                results = [{"kpi": "roc_auc", "metric": "roc_auc", "value": 0.9, "bound": ">=", "threshold": 0.8,
                            "passed": True, "margin": 0.1, "message": "roc_auc = 0.9 >= 0.8 (margin +0.1)"}]
                s.add(ModelVersionRow(name=name, version=i // len(MODELS) + 1, status="accepted", alias="candidate",
                                      run_id=f"run-{i:05d}", artifact=secrets.token_hex(32), learner="lightgbm",
                                      metrics={f: round(rng.random(), 4) for f in FIGURES},
                                      gate={"passed": True, "results": results},
                                      lineage={"snapshot": secrets.token_hex(32), "split": secrets.token_hex(32),
                                               "code_version": "0.1.0", "seeds": {"split": 7, "model": 7}},
                                      created_at=start + dt.timedelta(minutes=70 * i), documents={}))
        return KeyStore(ws).create("bench", Role.OPERATOR, actor="benchmark").secret
    finally:
        ws.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(root: Path, key: str, pages: list[str], requests: int) -> dict[str, dict[str, Any]]:
    port = _free_port()
    env = {**os.environ, "AIFORGE_WORKSPACE": str(root), "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("AIFORGE_DB_URL", None)
    server = subprocess.Popen([str(AIFORGE), "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    form = client.get("/login")
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("aiforge ui did not start") from None
                    time.sleep(0.2)
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            assert client.post("/login", data={"csrf": token.group(1), "key": key}).status_code == 303
            results: dict[str, dict[str, Any]] = {}
            for path in pages:
                for _ in range(2):  # warm: templates compiled, the session's key cached
                    client.get(path)
                server_ms, wall_ms = [], []
                for _ in range(requests):
                    started = time.perf_counter()
                    response = client.get(path)
                    wall_ms.append(1000 * (time.perf_counter() - started))
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
                    timing = re.search(r"dur=([\d.]+)", response.headers.get("server-timing", ""))
                    assert timing is not None, path
                    server_ms.append(float(timing.group(1)))
                results[path] = {"median": statistics.median(server_ms), "p95": _p95(server_ms), "max": max(server_ms),
                                 "wall_median": statistics.median(wall_ms), "bytes": len(response.content)}
                print(f"{path:45s} server median {results[path]['median']:7.1f} ms  p95 {results[path]['p95']:7.1f}"
                      f"  max {results[path]['max']:7.1f}  ({results[path]['bytes']:,} bytes)", flush=True)
            return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def write_results(results: dict[str, dict[str, Any]], runs: int, versions: int, requests: int, load: tuple[str, str],
                  fill_seconds: float) -> None:
    worst = max(r["p95"] for r in results.values())
    lines = [
        "# Dashboard list pages on a big workspace",
        "",
        f"Written by `benchmarks/ui/run.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: {runs:,} runs (with "
        f"{len(STAGES)} stages each and a snapshot every tenth), {versions:,} model versions of {len(MODELS)} models, "
        f"in a fresh SQLite workspace (filled in {fill_seconds:.0f} s); the real `aiforge ui` on loopback, login "
        f"required, {requests} requests per page after 2 to warm up. Server time is the dashboard's own "
        "`Server-Timing` (session check, library calls, rendering).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Load (`uptime`) before: {load[0]}; after: {load[1]} — shared with other work, so the figures are "
        "upper bounds.",
        "",
        f"Goal: under {GOAL_MS:.0f} ms per list page. Worst p95: **{worst:.1f} ms** "
        f"({'met' if worst < GOAL_MS else 'NOT met'}).",
        "",
        "| page | server median ms | server p95 ms | server max ms | wall median ms | bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path, r in results.items():
        lines.append(f"| `{path}` | {r['median']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | {r['wall_median']:.1f} "
                     f"| {r['bytes']:,} |")
    lines += ["", "Lists are read a page (50 rows) at a time: `list_runs(offset=)` and `count_runs`, "
              "`ModelRegistry.page` and `count`; the data page reads the snapshot log up to the page asked for.", ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave RESULTS.md as it is.")
    args = parser.parse_args()
    load_before = os.popen("uptime").read().strip().split("load average:")[-1].strip()
    with tempfile.TemporaryDirectory(prefix="aiforge-ui-bench-") as tmp:
        root = Path(tmp) / "ws"
        started = time.perf_counter()
        key = fill(root, args.runs, args.versions)
        fill_seconds = time.perf_counter() - started
        print(f"filled {args.runs:,} runs and {args.versions:,} versions in {fill_seconds:.1f} s", flush=True)
        pages = ["/runs", "/runs?page=100", f"/runs?page={args.runs // 50}", "/runs?project=income&page=20",
                 "/models", "/models?page=10", f"/models?name={MODELS[3]}&page=2", "/data", "/data?page=10",
                 "/deployments", f"/models/{MODELS[0]}/{args.versions // len(MODELS)}"]
        results = measure(root, key, pages, args.requests)
    load_after = os.popen("uptime").read().strip().split("load average:")[-1].strip()
    if not args.no_write:
        write_results(results, args.runs, args.versions, args.requests, (load_before, load_after), fill_seconds)
        print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
