"""The dashboard end to end: the real `aiforge serve` (the dashboard mounted under /ui) over a workspace with two
versions of `income` registered as `aiforge run` registers them, logged predictions with outcomes fed back, a
canary of v2 against v1 and an operator key; pages read over HTTP, and clicked through in a real browser
(Playwright driving Debian's Chromium, one browser for the module: never `playwright install`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FAST_CHECKS, RunningServer, running_server, serve_env, write_income_project

from aiforge.registry import Alias, DeploymentStore, ModelRegistry
from aiforge.workspace import KeyStore, Role, Workspace, WorkspaceSettings

RUN_BOTH = ("import sys, aiforge\n"
            "for path in sys.argv[2:]:\n"
            "    assert aiforge.Project.load(path, workspace=sys.argv[1]).run().status.value == 'succeeded'\n")
CHROMIUM = os.environ.get("AIFORGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
RECORD = {"age": 39, "workclass": "State-gov", "education": "Bachelors", "education_num": 13,
          "marital_status": "Never-married", "occupation": "Adm-clerical", "relationship": "Not-in-family",
          "race": "White", "sex": "Male", "capital_gain": 2174, "capital_loss": 0, "hours_per_week": 40,
          "native_country": "United-States"}


@dataclass
class Site:
    server: RunningServer
    ui: str  # the dashboard's base URL
    key: str  # an operator key
    settings: WorkspaceSettings

    def workspace(self) -> Workspace:
        return Workspace.open(self.settings, create=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui")
    env = serve_env(root / "ws")
    # two versions: the same project on 300 rows, then on 420 (a new snapshot and model), run by the library as
    # `aiforge run` runs it, in one process (the second run costs a few seconds, not a second start-up)
    projects = [str(write_income_project(root / f"income-{rows}", rows=rows, learners="[linear]", checks=FAST_CHECKS,
                                         kpis="  - {metric: roc_auc, min: 0.5}")) for rows in (300, 420)]
    done = subprocess.run([sys.executable, "-c", RUN_BOTH, str(root / "ws"), *projects], capture_output=True,
                          text=True, env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    settings = WorkspaceSettings(root=root / "ws")
    ws = Workspace.open(settings, create=False)
    try:
        key = KeyStore(ws).create("ui-operator", Role.OPERATOR, actor="test").secret
        ModelRegistry(ws).promote("income", 1, Alias.PRODUCTION)
    finally:
        ws.close()
    with running_server(["--refresh-seconds", "0.2"], env, root, root / "serve.log",
                        headers={"Authorization": f"Bearer {key}"}) as server:
        predicted = server.client.post("/v1/models/income/predict", json={"records": [RECORD] * 200})
        assert predicted.status_code == 200, predicted.text  # the fast lane still answers with /ui mounted
        assert predicted.json()["version"] == 1
        ids = [p["id"] for p in predicted.json()["predictions"]]
        outcomes = [{"id": i, "outcome": "<=50K" if n % 3 else ">50K"} for n, i in enumerate(ids)]
        assert server.client.post("/v1/models/income/feedback", json={"outcomes": outcomes}).status_code == 200
        ws = Workspace.open(settings, create=False)
        try:  # then a canary of v2 against v1, which the server picks up
            DeploymentStore(ws).create("income", 2, "canary", actor="test", steps=[10, 50, 100],
                                       guardrails=["error_rate<0.5"], min_requests=1000)
        finally:
            ws.close()
        yield Site(server, server.url + "/ui", key, settings)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/services.sh installs it")
        pytest.skip("no chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(site: Site, browser: Any) -> Iterator[Any]:
    """A logged-in tab at 1280 px, as a person gets it: the login page, the key typed, the button pressed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.goto(site.ui + "/runs")
    assert "/ui/login" in tab.url
    tab.get_by_label("API key").fill(site.key)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(re.compile(r"/ui/runs$"))
    yield tab
    context.close()


def _logged_in(site: Site) -> httpx.Client:
    client = httpx.Client(base_url=site.server.url, timeout=30)
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    assert client.post("/ui/login", data={"csrf": token.group(1), "key": site.key}).status_code == 303
    return client


def test_every_page_answers_with_what_the_library_holds(site: Site) -> None:
    with closing(_logged_in(site)) as client:
        runs = client.get("/ui/runs")
        assert runs.status_code == 200 and "page 1 of 1 (2 in all)" in runs.text
        run_ids = re.findall(r'href="/ui/runs/([0-9a-f-]+)"', runs.text)
        assert len(run_ids) == 2 and "all 1 KPI(s) passed" in runs.text
        run = client.get(f"/ui/runs/{run_ids[0]}")
        assert "roc_auc" in run.text and 'class="figure"' in run.text and "<iframe" in run.text
        report = client.get(f"/ui/runs/{run_ids[0]}/report")
        assert report.status_code == 200 and report.headers["content-security-policy"].startswith("sandbox")
        models = client.get("/ui/models")
        assert ">v1<" in models.text and ">v2<" in models.text
        model = client.get("/ui/models/income/2")
        assert "<svg" in model.text and "data snapshot" in model.text and "Lineage" in model.text
        snapshot = re.search(r'href="/ui/data/([0-9a-f]{64})"', model.text)
        assert snapshot is not None
        profile = client.get(f"/ui/data/{snapshot.group(1)}")
        assert profile.status_code == 200 and "hours_per_week" in profile.text
        data = client.get("/ui/data")
        ids = re.findall(r'href="/ui/data/([0-9a-f]{64})"', data.text)
        assert len(ids) == 2
        diff = client.get("/ui/data/diff", params={"a": ids[1][:10], "b": ids[0][:10]})
        assert diff.status_code == 200 and "300 → 420 rows (+120)" in diff.text
        plotly = client.get("/ui/static/plotly.min.js")
        assert plotly.status_code == 200 and len(plotly.content) > 1_000_000  # the plotly package's own bundle
        deadline = time.monotonic() + 20  # the prediction log is flushed every second
        while "predictions of v1" not in (monitoring := client.get("/ui/monitoring/income",
                                                                   params={"window": "1d", "every": "1h"})).text:
            assert time.monotonic() < deadline, monitoring.text
            time.sleep(0.5)
        assert "Drift per input column" in monitoring.text and 'class="figure"' in monitoring.text
        assert "200 of 200 predictions have an outcome" in monitoring.text  # production KPIs from the feedback
        assert re.search(r'<th scope="row">accuracy</th><td class="n">0\.\d+', monitoring.text), monitoring.text


def test_a_run_is_clicked_through_with_its_plots(page: Any) -> None:
    page.get_by_role("link", name="Runs").click()
    page.locator("table tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]+$"))
    assert page.get_by_role("heading", name="KPI gate").is_visible()
    page.locator(".chart .plot .main-svg").first.wait_for()  # Plotly drew the stage timeline, offline
    assert page.locator("table caption", has_text="Stages in order").is_visible()
    frame = page.frame_locator("iframe.report")
    frame.locator("body").wait_for()
    assert frame.locator("svg").count() > 0  # the report's plots, inside its sandboxed frame


def test_two_versions_are_compared_side_by_side(page: Any) -> None:
    page.get_by_role("link", name="Models").click()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/ui/models/income/compare\?a=1&b=2$"))
    assert page.get_by_role("heading", name="income: v1 and v2 side by side").is_visible()
    row = page.locator("tr", has=page.locator("th", has_text=re.compile(r"^roc_auc$")))
    assert row.locator("td").count() == 2 and row.locator("b").count() == 1  # the better one in bold
    page.locator(".chart .plot .main-svg").first.wait_for()


def test_a_canary_is_rolled_back_then_promoted_from_the_browser(page: Any, site: Site) -> None:
    page.get_by_role("link", name="Deployments").click()
    page.get_by_role("link", name="income", exact=True).first.click()
    assert page.get_by_role("img", name=re.compile("challenger v2 10%")).is_visible()
    assert page.locator(".steps li[aria-current=step]").inner_text() == "10%"
    page.get_by_role("button", name="Roll back to v1").click()
    assert page.get_by_role("status").inner_text() == "rolled back income v2; v1 answers"
    ws = site.workspace()
    try:
        assert DeploymentStore(ws).active("income") == []
        DeploymentStore(ws).create("income", 2, "canary", actor="test", steps=[20, 100], min_requests=1000)
    finally:
        ws.close()
    page.reload()
    page.get_by_role("button", name="Promote v2 to production").click()
    assert page.get_by_role("status").inner_text() == "income v2 is production; v1 is archived"
    ws = site.workspace()
    try:
        assert ModelRegistry(ws).by_alias("income", Alias.PRODUCTION).version == 2  # type: ignore[union-attr]
        events = [e.kind for d in DeploymentStore(ws).recent("income") for e in DeploymentStore(ws).events(d.id)]
        assert "rolled_back" in events and "promoted" in events
    finally:
        ws.close()
    deadline = time.monotonic() + 10  # the running server follows the promotion within --refresh-seconds
    while (answer := site.server.client.post("/v1/models/income/predict", json={"records": [RECORD]})
           .json())["version"] != 2:
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)


def test_keyboard_contrast_and_widths(page: Any, browser: Any, site: Site) -> None:
    page.goto(site.ui + "/deployments")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    low = page.evaluate(_CONTRAST)
    assert low == [], f"text below 4.5:1 contrast: {low}"
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
    try:
        tab = phone.new_page()
        for path in ("/runs", "/models", "/deployments", "/models/income/2"):
            tab.goto(site.ui + path)
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"  # wide tables scroll in their box
    finally:
        phone.close()


# Each visible text element's colour against the first opaque background behind it (WCAG 2 relative luminance).
_CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => {
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                       if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3); } return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll("a, button, th, td, p, span, h1, h2, h3, label, caption, li, dt, dd")) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return low;
}"""
