"""API keys on a real server: the whole route x credential matrix, revocation, audit, rate limit, TLS.

One `aiforge serve` process over a workspace with one model (`income` v1, registered by the real
`aiforge run`) and keys made by the real `aiforge keys` commands; the server starts with no --auth
flag, so it requires keys because the workspace has some.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EXE, registered_income, running_server, serve_env

from aiforge.serve import ServeSettings, create_app
from aiforge.workspace import AuditLog, KeyStore, Role, Workspace, WorkspaceSettings

KEY_CACHE_SECONDS = 0.5
RECORD = {"age": 39, "workclass": "State-gov", "education": "Bachelors", "education_num": 13,
          "marital_status": "Never-married", "occupation": "Adm-clerical", "relationship": "Not-in-family",
          "race": "White", "sex": "Male", "capital_gain": 2174, "capital_loss": 0, "hours_per_week": 40,
          "native_country": "United-States"}
TENSORS = {"inputs": [{"name": k, "shape": [1], "datatype": "INT64" if isinstance(v, int) else "BYTES", "data": [v]}
                      for k, v in RECORD.items()]}


@dataclass
class Served:
    url: str
    workspace: Path
    env: dict[str, str]
    client: httpx.Client
    log: Path
    secrets: dict[str, str]  # credential kind -> the key to present
    ids: dict[str, str]  # credential kind -> key id

    def aiforge(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=self.env, timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("auth")
    env = registered_income(root, rows=600, learners="[linear]")

    def cli_key(name: str, role: str) -> dict[str, Any]:
        made = subprocess.run([str(EXE), "keys", "create", "--name", name, "--role", role, "--json"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert made.returncode == 0, made.stderr
        return dict(json.loads(made.stdout))

    admin = cli_key("root", "admin")
    revoked = cli_key("gone", "admin")
    revoke = subprocess.run([str(EXE), "keys", "revoke", revoked["id"]], capture_output=True, text=True, env=env,
                            timeout=120)
    assert revoke.returncode == 0 and f"revoked key {revoked['id']}" in revoke.stdout, revoke.stderr
    ws = Workspace.open(WorkspaceSettings(root=root / "ws"), create=False)
    store = KeyStore(ws)
    made = {"predict": store.create("app", Role.PREDICT, actor="test"),
            "operator": store.create("ops", Role.OPERATOR, actor="test"),
            "expired": store.create("old", Role.ADMIN, actor="test",
                                    expires_at=datetime.now(UTC) - timedelta(minutes=1)),
            "victim": store.create("victim", Role.PREDICT, actor="test")}
    ws.close()
    secrets = {k: c.secret for k, c in made.items()} | {"admin": admin["secret"], "revoked": revoked["secret"],
                                                         "bad": f"afk_{admin['id']}_not-the-secret"}
    ids = {k: c.key.id for k, c in made.items()} | {"admin": admin["id"], "revoked": revoked["id"]}

    with running_server(["--key-cache-seconds", str(KEY_CACHE_SECONDS)], env, root, root / "server.log") as running:
        yield Served(running.url, root / "ws", env, running.client, running.log, secrets, ids)


# -- the matrix ----------------------------------------------------------------------------------

OPEN, PREDICT, OPERATOR, ADMIN = None, Role.PREDICT, Role.OPERATOR, Role.ADMIN
ROUTES: list[tuple[str, str, Any, Role | None, int]] = [  # method, path, body, role needed, code when allowed
    ("GET", "/v2/health/live", None, OPEN, 200),
    ("GET", "/v2/health/ready", None, OPEN, 200),
    ("GET", "/v2", None, PREDICT, 200),
    ("GET", "/v2/models/income", None, PREDICT, 200),
    ("GET", "/v2/models/income/versions/1", None, PREDICT, 200),
    ("GET", "/v2/models/income/ready", None, PREDICT, 200),
    ("POST", "/v2/models/income/infer", TENSORS, PREDICT, 200),
    ("POST", "/v2/models/income/versions/1/infer", TENSORS, PREDICT, 200),
    ("GET", "/v1/models", None, PREDICT, 200),
    ("GET", "/metrics", None, PREDICT, 200),
    ("POST", "/v1/models/income/predict", {"records": [RECORD]}, PREDICT, 200),
    ("POST", "/v1/models/income/versions/1/predict", {"records": [RECORD]}, PREDICT, 200),
    ("POST", "/v1/models/income/explain", {"records": [RECORD], "top": 3}, PREDICT, 200),
    ("POST", "/v1/models/income/versions/1/explain", {"records": [RECORD], "top": 3}, PREDICT, 200),
    ("POST", "/v1/models/income/feedback", {"outcomes": [{"id": "p-1", "outcome": 1}]}, PREDICT, 200),
    # income takes a table, not images; it has no decision section: the role is checked before either answer
    ("POST", "/v1/models/income/predict/images", {"images": ["aGVsbG8="]}, PREDICT, 422),
    ("POST", "/v1/models/income/versions/1/predict/images", {"images": ["aGVsbG8="]}, PREDICT, 422),
    ("POST", "/v1/decisions/income", {"records": [RECORD]}, PREDICT, 404),
    # text analysis needs no model; an empty list is refused after the role check (spaCy is never loaded here)
    ("POST", "/v1/nlp/entities", {"texts": []}, PREDICT, 422),
    ("POST", "/v1/nlp/pos", {"texts": []}, PREDICT, 422),
    ("POST", "/v1/admin/reload", None, OPERATOR, 200),
    ("GET", "/v1/admin/deployments", None, OPERATOR, 200),
    ("POST", "/v1/admin/deployments", {"name": "income", "version": 1}, OPERATOR, 409),  # nothing to roll out against
    ("GET", "/v1/admin/deployments/income", None, OPERATOR, 409),  # never deployed
    ("POST", "/v1/admin/deployments/income/rollback", None, OPERATOR, 409),  # none active
    ("POST", "/v1/admin/deployments/income/promote", {"reason": "matrix"}, OPERATOR, 409),
    ("GET", "/v1/admin/keys", None, ADMIN, 200),
    ("POST", "/v1/admin/keys", {"name": "matrix", "role": "predict"}, ADMIN, 201),
    ("DELETE", "/v1/admin/keys/{victim}", None, ADMIN, 200),
    ("GET", "/v1/admin/audit", None, ADMIN, 200),
]
CREDENTIALS = ["none", "bad", "revoked", "expired", "predict", "operator", "admin"]
RANK = {"predict": Role.PREDICT, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def _expected(needed: Role | None, credential: str, allowed: int) -> int:
    if needed is None:
        return allowed
    role = RANK.get(credential)
    if role is None:
        return 401
    return allowed if role.allows(needed) else 403


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(("method", "path", "body", "needed", "allowed"), ROUTES,
                         ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_every_route_answers_every_credential_as_its_role_says(
        served: Served, method: str, path: str, body: Any, needed: Role | None, allowed: int, credential: str) -> None:
    headers = {} if credential == "none" else {"Authorization": f"Bearer {served.secrets[credential]}"}
    response = served.client.request(method, path.format(victim=served.ids["victim"]), json=body, headers=headers)
    expected = _expected(needed, credential, allowed)
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="aiforge"'
        assert response.json()["error"]


def test_the_matrix_covers_every_operation_of_the_openapi_document(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    missing = []
    for path, operations in spec["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))
        for method in operations:
            if not any(m == method.upper() and pattern.fullmatch(p) for m, p, *_ in ROUTES):
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes the auth matrix does not test: {missing}"


def test_the_server_chose_required_because_the_workspace_has_keys(served: Served) -> None:
    assert "authentication required (the workspace has" in served.log.read_text()


@pytest.mark.parametrize(("headers", "code"), [
    ({"X-API-Key": "{predict}"}, 200),
    ({"Authorization": "Basic {predict}"}, 401),  # only the Bearer scheme
    ({"Authorization": "Bearer"}, 401),
    ({"X-API-Key": "not-a-key"}, 401),
])
def test_the_key_may_come_in_either_header(served: Served, headers: dict[str, str], code: int) -> None:
    sent = {k: v.format(**served.secrets) for k, v in headers.items()}
    assert served.client.get("/v1/models", headers=sent).status_code == code


def test_a_revocation_elsewhere_takes_effect_within_the_key_cache_period(served: Served) -> None:
    ws = Workspace.open(WorkspaceSettings(root=served.workspace), create=False)
    try:
        created = KeyStore(ws).create("short-lived", Role.PREDICT, actor="test")
        bearer = {"Authorization": f"Bearer {created.secret}"}
        assert served.client.get("/v1/models", headers=bearer).status_code == 200
        KeyStore(ws).revoke(created.key.id, actor="test")
    finally:
        ws.close()
    revoked_at = time.monotonic()
    while served.client.get("/v1/models", headers=bearer).status_code == 200:
        assert time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 1.0, "the revoked key still works"
        time.sleep(0.05)


def test_keys_made_and_revoked_over_the_api_work_and_stop_at_once(served: Served) -> None:
    admin = {"Authorization": f"Bearer {served.secrets['admin']}"}
    made = served.client.post("/v1/admin/keys", json={"name": "via-api", "role": "operator", "expires_days": 3},
                              headers=admin)
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith(f"afk_{key['id']}_") and key["role"] == "operator" and key["expires_at"]
    as_new = {"X-API-Key": key["secret"]}
    assert served.client.post("/v1/admin/reload", headers=as_new).json() == {"serving": {"income": 1}}
    listed = served.client.get("/v1/admin/keys", headers=admin).json()
    assert key["id"] in {k["id"] for k in listed} and all("secret" not in k for k in listed)

    assert served.client.delete(f"/v1/admin/keys/{key['id']}", headers=admin).json()["state"] == "revoked"
    assert served.client.post("/v1/admin/reload", headers=as_new).status_code == 401  # no cache period here
    assert served.client.delete("/v1/admin/keys/nope", headers=admin).status_code == 404
    bad = served.client.post("/v1/admin/keys", json={"name": "x", "role": "root"}, headers=admin)
    assert bad.status_code == 422


def test_admin_actions_and_refusals_are_audited_and_a_flood_writes_little(served: Served) -> None:
    flood = {"Authorization": f"Bearer afk_flood0000000_{'x' * 20}"}
    for _ in range(30):
        assert served.client.get("/v1/admin/audit", headers=flood).status_code == 401
    admin = {"Authorization": f"Bearer {served.secrets['admin']}"}
    assert served.client.post("/v1/admin/reload", headers=admin).status_code == 200
    entries = served.client.get("/v1/admin/audit", params={"limit": 10_000}, headers=admin).json()

    floods = [e for e in entries if e["actor"] == "key:flood0000000"]
    assert 1 <= len(floods) <= 2, floods  # at most one row a second per key id and address
    assert floods[0]["action"] == "auth.denied" and floods[0]["outcome"] == "401"
    assert floods[0]["details"]["address"] == "127.0.0.1" and floods[0]["target"] == "/v1/admin/audit"
    assert entries[0]["action"] == "server.reload" and entries[0]["actor"] == f"key:{served.ids['admin']}"
    actions = {(e["action"], e["outcome"]) for e in entries}
    assert {("key.create", "ok"), ("key.revoke", "ok"), ("auth.denied", "403")} <= actions
    assert any(e["actor"].startswith("cli:") and e["action"] == "key.revoke" for e in entries)

    shown = served.aiforge("audit", "--limit", "5", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["action"] for e in json.loads(shown.stdout)] == [e["action"] for e in entries[:5]]
    assert "server.reload" in served.aiforge("audit").stdout


def test_keys_list_shows_state_and_use_but_never_a_secret(served: Served) -> None:
    listed = served.aiforge("keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = {k["id"]: k for k in json.loads(listed.stdout)}
    assert keys[served.ids["revoked"]]["state"] == "revoked"
    assert keys[served.ids["expired"]]["state"] == "expired"
    assert keys[served.ids["admin"]]["state"] == "active" and keys[served.ids["admin"]]["last_used_at"]
    assert not any(s.split("_", 2)[2] in listed.stdout for s in served.secrets.values())
    table = served.aiforge("keys", "list")
    assert "root" in table.stdout and "revoked" in table.stdout
    missing = served.aiforge("keys", "revoke", "nope")
    assert missing.returncode == 2 and "no API key with id 'nope'" in missing.stderr


def test_rate_limit_per_key_answers_429_with_retry_after(served: Served) -> None:
    settings = ServeSettings(workspace=WorkspaceSettings(root=served.workspace), preload=False, rate_limit=2)
    app = create_app(settings)
    one = {"Authorization": f"Bearer {served.secrets['predict']}"}
    other = {"Authorization": f"Bearer {served.secrets['operator']}"}

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [*[await client.get("/v1/models", headers=one) for _ in range(4)],
                    await client.get("/v1/models", headers=other), await client.get("/v2/health/live")]

    try:
        responses = asyncio.run(calls())
    finally:
        app.state.auth.keys.workspace.close()
    assert [r.status_code for r in responses] == [200, 200, 429, 429, 200, 200]  # a bucket per key
    assert responses[2].headers["retry-after"] == "1" and "rate limit" in responses[2].json()["error"]


# -- TLS, and auth off when the workspace has no keys ---------------------------------------------


def test_https_with_a_certificate_and_auth_off_without_keys(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("neither the cryptography package nor the openssl command is available to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    Workspace.open(WorkspaceSettings(root=tmp_path / "ws")).close()  # an empty workspace: no keys, no models
    context = ssl.create_default_context(cafile=str(cert))
    with running_server(["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], serve_env(tmp_path / "ws"),
                        tmp_path, tmp_path / "server.log", scheme="https", verify=context) as running:
        assert running.client.get("/v1/models").json() == []  # auth off: prediction routes are open
        assert running.client.get("/v1/admin/keys").status_code == 401  # admin routes never are
        with pytest.raises(httpx.TransportError):
            httpx.get(running.url.replace("https:", "http:") + "/v2/health/live", timeout=5)
    assert "WARNING: authentication is OFF (the workspace has no API keys)" in (tmp_path / "server.log").read_text()
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:  # the refused admin request was audited even with auth off
        assert [e.action for e in AuditLog(ws).entries()] == ["auth.denied"]
    finally:
        ws.close()
