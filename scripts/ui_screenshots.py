"""Screenshots of the dashboard's main pages for the docs and the README, taken in Debian's Chromium.

    .venv/bin/python scripts/ui_screenshots.py            # writes docs/images/ui-*.png (about 6 minutes)

A temporary workspace gets two versions of the `income` example (the first 1,500 and 2,000 rows of its data,
run by the library as `aiforge run` runs it), 1,200 held-out rows predicted through the server in six batches
30 s apart, oldest people last (so the age column drifts over time), a canary of v2 against v1 and an admin
key; the real `aiforge serve` serves it with the dashboard under /ui, and Playwright logs in and takes each
page at 1280 px (and the runs page at a phone's 390 px). Set AIFORGE_CHROMIUM to use another Chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
AIFORGE = Path(sys.executable).with_name("aiforge")
ADULT = REPO / "examples" / "income" / "data" / "adult.csv"
PROJECT = """name: income
problem: {{task: binary, target: income, positive_class: ">50K"}}
kpis:
  - {{metric: roc_auc, min: 0.8}}
data:
  sources:
    - {{name: census, type: csv, path: data/adult.csv}}
  split: {{test_size: 0.25, seed: 7}}
model: {{learners: [linear, lightgbm], search: {{cv: 3}}, seed: 7}}
checks:
  importance: {{repeats: 2, max_rows: 300}}
  robustness: {{enabled: false}}
  label_noise: {{enabled: false}}
  privacy: {{enabled: false}}
"""
BATCHES, PERIOD_SECONDS = 6, 30
PAGES = {"ui-runs.png": "/runs", "ui-run.png": None, "ui-models.png": "/models",
         "ui-compare.png": "/models/income/compare?a=1&b=2", "ui-lineage.png": "/models/income/2",
         "ui-deployment.png": "/deployments/income",
         "ui-monitoring.png": f"/monitoring/income?window=1h&every={PERIOD_SECONDS}s",
         "ui-data.png": "/data"}


def _project(folder: Path, rows: int) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    lines = ADULT.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "data" / "adult.csv").write_text("".join(lines[:rows + 1]), encoding="utf-8")
    (folder / "aiforge.yaml").write_text(PROJECT.format(), encoding="utf-8")
    return folder / "aiforge.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    from playwright.sync_api import sync_playwright

    from aiforge import Project
    from aiforge.registry import Alias, DeploymentStore, ModelRegistry
    from aiforge.workspace import KeyStore, Role, Workspace, WorkspaceSettings

    chromium = os.environ.get("AIFORGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiforge-shots-") as tmp:
        root = Path(tmp)
        ws_root = root / "ws"
        for rows in (1500, 2000):
            Project.load(_project(root / f"income-{rows}", rows), workspace=ws_root).run()
        settings = WorkspaceSettings(root=ws_root)
        ws = Workspace.open(settings, create=False)
        key = KeyStore(ws).create("screenshots", Role.ADMIN, actor="scripts/ui_screenshots.py").secret
        ModelRegistry(ws).promote("income", 1, Alias.PRODUCTION)
        ws.close()
        port = _free_port()
        env = {**os.environ, "AIFORGE_WORKSPACE": str(ws_root)}
        server = subprocess.Popen([str(AIFORGE), "serve", "--port", str(port), "--refresh-seconds", "0.2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if client.get("/v2/health/ready").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("aiforge serve did not start")
                    time.sleep(0.3)
                rows = [dict(zip(_header(), line.rstrip("\n").split(","), strict=True))
                        for line in ADULT.read_text(encoding="utf-8").splitlines()[25_001:26_201]]
                records = sorted(({k: _value(v) for k, v in r.items() if k != "income"} for r in rows),
                                 key=lambda r: (r["age"] if isinstance(r["age"], int) else 0))
                # real traffic in BATCHES periods of PERIOD_SECONDS, each older than the last: age drifts over time
                for batch in range(BATCHES):
                    part = records[batch * len(records) // BATCHES:(batch + 1) * len(records) // BATCHES]
                    for i in range(0, len(part), 100):
                        assert client.post("/v1/models/income/predict", json={"records": part[i:i + 100]}).is_success
                    if batch < BATCHES - 1:
                        time.sleep(PERIOD_SECONDS)
                ws = Workspace.open(settings, create=False)
                DeploymentStore(ws).create("income", 2, "canary", actor="key:screenshots", steps=[10, 50, 100],
                                           guardrails=["error_rate<0.01", "p99_latency_ms<50"], min_requests=500)
                ws.close()
                time.sleep(2)  # the prediction log is flushed every second
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                context = browser.new_context(viewport={"width": 1280, "height": 860})
                page = context.new_page()
                page.goto(f"{url}/ui/login")
                page.get_by_label("API key").fill(key)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(re.compile(r"/ui/runs$"))
                for name, path in PAGES.items():
                    if path is None:  # the newest run's page
                        page.goto(f"{url}/ui/runs")
                        page.locator("table tbody tr th a").first.click()
                    else:
                        page.goto(f"{url}/ui{path}")
                    if page.locator(".chart").count():
                        page.locator(".chart .main-svg").first.wait_for()
                    page.screenshot(path=str(IMAGES / name))
                    print("wrote", IMAGES / name)
                phone = browser.new_context(viewport={"width": 390, "height": 844},
                                            storage_state=context.storage_state())
                tab = phone.new_page()
                tab.goto(f"{url}/ui/deployments/income")
                tab.screenshot(path=str(IMAGES / "ui-phone.png"))
                print("wrote", IMAGES / "ui-phone.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


def _header() -> list[str]:
    return ADULT.read_text(encoding="utf-8").splitlines()[0].split(",")


def _value(text: str) -> object:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


if __name__ == "__main__":
    main()
