"""Logging in to the dashboard, roles and CSRF, on a real server: the dashboard (uvicorn on a free port, in a
thread) over a real SQLite workspace whose keys the tests create. No model is needed: the pages read an empty
workspace, and an action on a model that was never deployed answers 409 once the role and token pass."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import free_port

from aiforge.ui import UiSettings, create_ui
from aiforge.ui._session import COOKIE, Sessions, load_secret
from aiforge.workspace import KeyStore, Role, Workspace, WorkspaceSettings

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Dashboard:
    url: str
    keys: dict[str, str]  # role -> presented key
    settings: WorkspaceSettings


@contextmanager
def _serving(settings: WorkspaceSettings, auth: str | None, login_burst: int = 10) -> Iterator[str]:
    port = free_port()
    app = create_ui(UiSettings(workspace=settings, auth=auth, login_burst=login_burst))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    settings = WorkspaceSettings(root=tmp_path_factory.mktemp("ui-session") / "ws")
    ws = Workspace.open(settings)
    store = KeyStore(ws)
    keys = {role.value: store.create(f"{role.value}-key", role, actor="test").secret for role in Role}
    ws.close()
    with _serving(settings, None) as url:  # keys exist: login required
        yield Dashboard(url, keys, settings)


def _login(url: str, key: str, then: str = "/models") -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/login", params={"next": then})
    token = CSRF.search(form.text)
    assert token is not None
    return client, client.post("/login", data={"csrf": token.group(1), "key": key, "next": then})


def _csrf(client: httpx.Client, path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found is not None, path
    return found.group(1)


def test_pages_need_a_login_and_a_predict_key_sees_nothing(dashboard: Dashboard) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=30) as anonymous:
        for path in ("/runs", "/models", "/deployments", "/monitoring", "/data", "/keys"):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    client, refused = _login(dashboard.url, dashboard.keys["predict"])
    with closing(client):
        assert refused.status_code == 403
        assert "a &#39;predict&#39; key cannot use the dashboard" in refused.text
        assert COOKIE not in client.cookies
        assert client.get("/runs").status_code == 303
    client, wrong = _login(dashboard.url, dashboard.keys["operator"][:-3] + "xyz")
    with closing(client):
        assert wrong.status_code == 401 and "wrong API key secret" in wrong.text
        assert client.get("/runs").status_code == 303


def test_an_operator_reads_and_acts_but_does_not_manage_keys(dashboard: Dashboard) -> None:
    client, done = _login(dashboard.url, dashboard.keys["operator"])
    with closing(client):
        assert done.status_code == 303 and done.headers["location"] == "/models"  # back where the login was asked
        cookie = done.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        page = client.get("/runs")
        assert page.status_code == 200 and "No runs yet" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        keys = client.get("/keys")
        assert keys.status_code == 403 and "needs the &#39;admin&#39; role" in keys.text
        assert ">Keys<" not in page.text  # the menu shows no page the viewer may not open
        token = _csrf(client, "/runs")
        # no token, another session's token, then the right one: only the last reaches the registry
        assert client.post("/deployments/income/promote", data={}).status_code == 403
        assert client.post("/deployments/income/promote", data={"csrf": "x" * 32}).status_code == 403
        reached = client.post("/deployments/income/rollback", data={"csrf": token})
        assert reached.status_code == 409 and "income has no active deployment" in reached.text


def test_a_forged_or_tampered_cookie_is_no_session(dashboard: Dashboard) -> None:
    client, done = _login(dashboard.url, dashboard.keys["admin"], then="/\\evil.example/x")
    with closing(client):
        assert done.headers["location"] == "/runs"  # a login never sends the browser to another site
        real = client.cookies[COOKIE]
        body, mac = real.split(".")
        for forged in (body + "." + "0" * len(mac), body[:-2] + "xx." + mac, "garbage"):
            with httpx.Client(base_url=dashboard.url, timeout=30, cookies={COOKIE: forged}) as other:
                assert other.get("/runs").status_code == 303


def test_an_admin_creates_and_revokes_keys_and_a_revoked_key_is_logged_out(dashboard: Dashboard) -> None:
    admin, _ = _login(dashboard.url, dashboard.keys["admin"])
    with closing(admin):
        created = admin.post("/keys", data={"csrf": _csrf(admin, "/keys"), "name": "from-the-ui", "role": "operator"})
        assert created.status_code == 201
        secret = re.search(r'id="secret" readonly value="(afk_[^"]+)"', created.text)
        assert secret is not None
        bad = admin.post("/keys", data={"csrf": _csrf(admin, "/keys"), "name": " ", "role": "operator"})
        assert bad.status_code == 400 and "1 to 64 printable characters" in bad.text
        operator, logged = _login(dashboard.url, secret.group(1))
        with closing(operator):
            assert logged.status_code == 303 and operator.get("/runs").status_code == 200
            ident = secret.group(1).split("_")[1]
            revoked = admin.post(f"/keys/{ident}/revoke", data={"csrf": _csrf(admin, "/keys")})
            assert revoked.status_code == 303 and "revoked" in admin.get(revoked.headers["location"]).text
            assert operator.get("/runs").status_code == 303  # the session ended with its key
    ws = Workspace.open(dashboard.settings, create=False)
    try:
        assert KeyStore(ws).get(ident).state == "revoked"
    finally:
        ws.close()


def test_with_auth_off_pages_are_read_only(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    Workspace.open(settings).close()
    with _serving(settings, None) as url, httpx.Client(base_url=url, timeout=30) as client:  # no keys: off
        page = client.get("/models")
        assert page.status_code == 200 and "read-only" in page.text
        acted = client.post("/deployments/income/promote", data={"csrf": ""})
        assert acted.status_code == 303 and acted.headers["location"].startswith("/login")


def test_a_session_expires_and_the_secret_is_kept_in_the_workspace(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    ws = Workspace.open(settings)
    try:
        presented = KeyStore(ws).create("op", Role.OPERATOR, actor="test").secret
        secret = load_secret(ws.root)
        assert load_secret(ws.root) == secret and (ws.root / "ui-secret").stat().st_mode & 0o077 == 0
        now = [1_000_000.0]
        sessions = Sessions(KeyStore(ws), secret, required=True, lifetime_seconds=60, clock=lambda: now[0])
        key, cookie = sessions.login(presented)
        viewer = sessions.viewer(cookie)
        assert viewer is not None and viewer.key_id == key.id and viewer.may("operator") and not viewer.may("admin")
        other = Sessions(KeyStore(ws), load_secret(ws.root), required=True, clock=lambda: now[0])
        assert other.viewer(cookie) is not None  # another worker accepts the same cookie
        now[0] += 61
        assert sessions.viewer(cookie) is None
    finally:
        ws.close()


def test_login_attempts_are_limited_per_address(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    ws = Workspace.open(settings)
    try:
        KeyStore(ws).create("op", Role.OPERATOR, actor="test")
    finally:
        ws.close()
    with _serving(settings, None, login_burst=3) as url:
        codes = []
        for _ in range(4):
            client, answer = _login(url, "afk_000000000000_guess")
            client.close()
            codes.append(answer.status_code)
        assert codes == [401, 401, 401, 429]
        assert "too many login attempts" in answer.text and int(answer.headers["retry-after"]) >= 1
