"""Bad input through the real `aiforge run` (issue 7, criterion 8): a source that is down, a file with a bad row, a
schema change upstream and a wrong key — for every kind of source — each stop the run with a clear error, write
nothing (no run, no snapshot, no artifact) and leave the previous snapshot readable and the same.

One encrypted workspace is made once per module by a good run of a project that stacks a CSV, a Parquet, a JSON
Lines, a SQLite and an HTTP source (a local server with a bearer token) and pseudonymises a column; each case breaks
one thing on a copy of it. The Redis stream has its own project (a real redis-server, tests/conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import workspace_databases
from conftest import EXE, free_port, http_server, serve_env

from aiforge.data import SnapshotLog
from aiforge.pipeline import list_runs
from aiforge.workspace import EncryptionKey, Workspace, WorkspaceSettings

DATA_KEY = EncryptionKey.generate().to_text()
PSEUDONYM_KEY = "a-long-enough-secret-for-the-tests"
TOKEN = "t0k3n"
COLUMNS = ("id", "size_m2", "rooms", "district", "price")
CHECKS = """checks:
  importance: {enabled: false}
  robustness: {enabled: false}
  label_noise: {enabled: false}
  privacy: {enabled: false}
  explain: {enabled: false}
"""


def _rows(start: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(start)
    rows = []
    for i in range(start, start + n):
        size, rooms = round(rng.uniform(30, 200), 1), rng.randint(1, 6)
        district = rng.choice(["north", "south", "centre"])
        price = 2000 * size + 5000 * rooms + {"north": 0, "south": -20000, "centre": 60000}[district]
        rows.append({"id": i, "size_m2": size, "rooms": rooms, "district": district,
                     "price": round(price + rng.gauss(0, 9000), 2)})
    return rows


@dataclass
class Api:
    """A JSON API on a real port: ``records`` at /sales for the bearer ``TOKEN``; ``status`` overrides the reply."""

    url: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    state = Api(records=_rows(240, 60))

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body = 401, {"error": "bad token"}
            elif state.status != 200:
                status, body = state.status, {"error": "unavailable"}
            else:
                status, body = 200, {"data": state.records}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server(Handle) as url:
        state.url = f"{url}/sales"
        yield state


def _env(root: Path, **changes: str | None) -> dict[str, str]:
    env = serve_env(root / "ws") | {"AIFORGE_ENCRYPTION_KEY": DATA_KEY, "AIFORGE_PSEUDONYM_KEY": PSEUDONYM_KEY,
                                    "SHOP_TOKEN": TOKEN}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _aiforge(root: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=_env(root, **env), cwd=root,
                          timeout=300)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text(",".join(COLUMNS) + "\n" + "".join(",".join(str(r[c]) for c in COLUMNS) + "\n" for r in rows),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def base(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of five stacked sources and its encrypted workspace after one good run."""
    root = tmp_path_factory.mktemp("bad-input")
    folder = root / "houses"
    folder.mkdir()
    _write_csv(folder / "part1.csv", _rows(0, 60))
    pq.write_table(pa.Table.from_pylist(_rows(60, 60)), folder / "part2.parquet")
    _write_jsonl(folder / "part3.jsonl", _rows(120, 60))
    with sqlite3.connect(folder / "shop.db") as conn:
        conn.execute("CREATE TABLE sales (id INTEGER, size_m2 REAL, rooms INTEGER, district TEXT, price REAL)")
        conn.executemany("INSERT INTO sales VALUES (:id, :size_m2, :rooms, :district, :price)", _rows(180, 60))
    (folder / "aiforge.yaml").write_text(f"""name: houses
problem: {{task: regression, target: price}}
data:
  sources:
    - {{name: files_csv, type: csv, path: part1.csv}}
    - {{name: files_parquet, type: parquet, path: part2.parquet}}
    - {{name: files_json, type: json, path: part3.jsonl}}
    - {{name: db, type: sql, url: "sqlite:///shop.db", table: sales}}
    - {{name: api, type: http, url: "{api.url}", records_path: data, auth_env: SHOP_TOKEN, retries: 1,
        backoff_seconds: 0.01, timeout_seconds: 5}}
  pii:
    - {{column: district, action: pseudonymise}}
model:
  learners: [linear]
  search: {{cv: 2}}
{CHECKS}""", encoding="utf-8")
    done = _aiforge(root, "run", str(folder / "aiforge.yaml"))
    assert done.returncode == 0, done.stderr
    return root


@dataclass(frozen=True)
class State:
    runs: list[str]
    snapshots: list[tuple[str, int]]
    artifacts: dict[str, str]  # path under the workspace -> SHA-256 of its bytes (sealed, as on disk)


def _state(root: Path) -> State:
    ws = Workspace.open(WorkspaceSettings(root=root / "ws", encryption_key=DATA_KEY), create=False)
    try:
        runs = [r.id for r in list_runs(ws, project="houses")]
        snapshots = [(r.snapshot, r.rows) for r in SnapshotLog(ws).history("houses")]
        for snapshot, rows in snapshots:  # readable with the key, and the same bytes (the store verifies them)
            assert pq.read_table(io.BytesIO(ws.artifacts.get_bytes(snapshot))).num_rows == rows
    finally:
        ws.close()
    artifacts = {str(p.relative_to(root / "ws")): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted((root / "ws" / "artifacts").rglob("*")) if p.is_file()}
    return State(runs, snapshots, artifacts)


@pytest.fixture
def copy(base: Path, api: Api, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "copy"
    shutil.copytree(base, root, ignore=shutil.ignore_patterns("ws"))
    workspace_databases.copy_workspace(base / "ws", root / "ws")  # its database too, on PostgreSQL
    yield root
    api.records, api.status = _rows(240, 60), 200


def _rewrite_parquet(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _sql(path: Path, statement: str, *params: Any) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(statement, params)


def _project_text(root: Path, old: str, new: str) -> None:
    project = root / "houses" / "aiforge.yaml"
    project.write_text(project.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


Break = Callable[[Path, Api], dict[str, str | None]]  # breaks a copy; returns the environment changes of the run


def _down_http(root: Path, api: Api) -> dict[str, str | None]:
    _project_text(root, api.url, f"http://127.0.0.1:{free_port()}/sales")
    return {}


def _no_change(action: Callable[[Path, Api], Any]) -> Break:
    def run(root: Path, api: Api) -> dict[str, str | None]:
        action(root, api)
        return {}
    return run


CASES: list[Any] = [
    # a source that is down (a file gone, a database gone, an API unreachable or failing)
    pytest.param(_no_change(lambda r, a: (r / "houses" / "part1.csv").unlink()),
                 ["data file for source 'files_csv' not found", "expected: a csv file", "found:    no such file"],
                 id="down-csv"),
    pytest.param(_no_change(lambda r, a: (r / "houses" / "shop.db").unlink()),
                 ["the SQLite database of source 'db' does not exist", "shop.db"], id="down-sql"),
    pytest.param(_down_http, ["source 'api' cannot be reached", "ConnectError", "after 2 tries"], id="down-http"),
    pytest.param(_no_change(lambda r, a: setattr(a, "status", 503)),
                 ["the API of source 'api' refused the request", "HTTP 503 Service Unavailable after 2 tries"],
                 id="failing-http"),
    # a file with a bad row
    pytest.param(_no_change(lambda r, a: _append(r / "houses" / "part1.csv", "999,80.0,3,north,1,2\n")),
                 ["CSV file for source 'files_csv' cannot be parsed", "part1.csv:62",
                  "expected: as many fields in every row as in the header", "Expected 5 columns, got 6"],
                 id="bad-row-csv"),
    pytest.param(_no_change(lambda r, a: _append(r / "houses" / "part3.jsonl", '{"id": 999, "rooms": \n')),
                 ["JSON file for source 'files_json' cannot be parsed", "JSON parse error"], id="bad-row-json"),
    pytest.param(_no_change(lambda r, a: (r / "houses" / "part2.parquet").write_bytes(
        (r / "houses" / "part2.parquet").read_bytes()[:-200])),
                 ["file for source 'files_parquet' is not a readable Parquet file"], id="bad-file-parquet"),
    pytest.param(_no_change(lambda r, a: a.records.append({**_rows(300, 1)[0], "price": "n/a"})),
                 ["record 61 of source 'api' does not fit the records before it",
                  "expected: number values in field 'price'", "found:    text 'n/a'"], id="bad-record-http"),
    pytest.param(_no_change(lambda r, a: _sql(r / "houses" / "shop.db", "INSERT INTO sales VALUES (999, 80.0, "
                                                                          "'three', 'north', 1.0)")),
                 ["1 column(s) changed upstream", "'rooms' of source 'db' changed from number (int64) to text"],
                 id="bad-row-sql"),
    # a schema change upstream: a column renamed, dropped or retyped
    pytest.param(_no_change(lambda r, a: (r / "houses" / "part1.csv").write_text(
        (r / "houses" / "part1.csv").read_text().replace("size_m2", "area_m2", 1))),
                 ["'size_m2' of source 'files_csv' is gone (new: 'area_m2'; renamed?)",
                  "expected: the columns and kinds of values of snapshot", "--accept-schema-change"],
                 id="renamed-csv"),
    pytest.param(_no_change(lambda r, a: _rewrite_parquet(r / "houses" / "part2.parquet",
                                                          lambda t: t.drop_columns(["rooms"]))),
                 ["'rooms' of source 'files_parquet' is gone"], id="dropped-parquet"),
    pytest.param(_no_change(lambda r, a: _write_jsonl(r / "houses" / "part3.jsonl", [
        {**row, "rooms": str(row["rooms"])} for row in _rows(120, 60)])),
                 ["'rooms' of source 'files_json' changed from number (int64) to text (string)"],
                 id="retyped-json"),
    pytest.param(_no_change(lambda r, a: _sql(r / "houses" / "shop.db",
                                              "ALTER TABLE sales RENAME COLUMN district TO area")),
                 ["'district' of source 'db' is gone (new: 'area'; renamed?)"], id="renamed-sql"),
    pytest.param(_no_change(lambda r, a: setattr(a, "records", [
        {("surface" if k == "size_m2" else k): v for k, v in row.items()} for row in a.records])),
                 ["'size_m2' of source 'api' is gone (new: 'surface'; renamed?)"], id="renamed-http"),
    # a wrong key: the workspace's data key, the pseudonymisation key, the API's token
    pytest.param(lambda r, a: {"AIFORGE_ENCRYPTION_KEY": None},
                 ["this workspace is encrypted and no encryption key was given"], id="no-data-key"),
    pytest.param(lambda r, a: {"AIFORGE_ENCRYPTION_KEY": EncryptionKey.generate().to_text()},
                 ["wrong encryption key"], id="wrong-data-key"),
    pytest.param(lambda r, a: {"AIFORGE_PSEUDONYM_KEY": None},
                 ["pseudonymising 'district' needs a secret key in the environment variable AIFORGE_PSEUDONYM_KEY"],
                 id="no-pseudonym-key"),
    pytest.param(lambda r, a: {"AIFORGE_PSEUDONYM_KEY": "another-long-enough-secret"},
                 ["the pseudonymisation key in AIFORGE_PSEUDONYM_KEY is not the one the last snapshot was made with",
                  "data.pii[0].key_env", "--new-pseudonym-key"], id="wrong-pseudonym-key"),
    pytest.param(lambda r, a: {"SHOP_TOKEN": "stolen"},
                 ["the API of source 'api' refused the credentials", "HTTP 401", "SHOP_TOKEN"], id="wrong-token"),
]


@pytest.mark.parametrize(("breaks", "expected"), CASES)
def test_bad_input_stops_the_run_and_leaves_the_workspace_as_it_was(copy: Path, api: Api, breaks: Break,
                                                                    expected: list[str]) -> None:
    before = _state(copy)
    assert len(before.runs) == 1 and len(before.snapshots) == 1
    env = breaks(copy, api)
    done = _aiforge(copy, "run", str(copy / "houses" / "aiforge.yaml"), **env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error["), done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert _state(copy) == before  # no run, no snapshot, no artifact; the snapshot reads back the same


def test_an_accepted_schema_change_makes_a_snapshot_that_records_it(copy: Path) -> None:
    project = str(copy / "houses" / "aiforge.yaml")
    csv = copy / "houses" / "part1.csv"
    csv.write_text(csv.read_text().replace("size_m2", "area_m2", 1))
    checked = _aiforge(copy, "data", "check", project)
    assert checked.returncode == 2 and "'size_m2' of source 'files_csv' is gone" in checked.stderr
    assert _aiforge(copy, "data", "check", project, "--accept-schema-change").returncode == 0
    first = _state(copy)

    done = _aiforge(copy, "run", project, "--accept-schema-change", "--json")
    assert done.returncode == 0, done.stderr
    ws = Workspace.open(WorkspaceSettings(root=copy / "ws", encryption_key=DATA_KEY), create=False)
    try:
        latest, previous = SnapshotLog(ws).history("houses")
    finally:
        ws.close()
    assert latest.parent == previous.snapshot == first.snapshots[0][0]
    assert latest.source("files_csv")["schema"]["area_m2"] == "double"
    assert latest.source("files_csv")["schema_changes_accepted"] == [
        "'size_m2' of source 'files_csv' is gone (new: 'area_m2'; renamed?)"]
    assert "schema_changes_accepted" not in latest.source("db")
    again = _aiforge(copy, "run", project)  # the new columns are now the recorded ones
    assert again.returncode == 0, again.stderr


def test_a_pseudonymisation_key_replaced_on_purpose_is_accepted(copy: Path) -> None:
    project = str(copy / "houses" / "aiforge.yaml")
    assert _aiforge(copy, "data", "check", project, AIFORGE_PSEUDONYM_KEY="another-long-enough-secret").returncode == 2
    done = _aiforge(copy, "run", project, "--new-pseudonym-key", AIFORGE_PSEUDONYM_KEY="another-long-enough-secret")
    assert done.returncode == 0, done.stderr
    assert len(_state(copy).snapshots) == 2
    assert _aiforge(copy, "run", project, AIFORGE_PSEUDONYM_KEY="another-long-enough-secret").returncode == 0
    old = _aiforge(copy, "run", project)  # now the old key is the wrong one
    assert old.returncode == 2 and "is not the one the last snapshot was made with" in old.stderr


def test_a_redis_stream_down_or_changed_upstream_leaves_the_snapshot_and_its_entries(redis_url: str,
                                                                                     tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    stream = f"sales-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "houses"
    folder.mkdir()
    (folder / "aiforge.yaml").write_text(f"""name: houses
problem: {{task: regression, target: price}}
data:
  sources:
    - {{name: sales, type: redis, url_env: SALES_URL, stream: {stream}, group: trainer, json: true,
        timeout_seconds: 2}}
model:
  learners: [linear]
  search: {{cv: 2}}
{CHECKS}""", encoding="utf-8")
    client = redis.Redis.from_url(redis_url)
    try:
        for row in _rows(0, 60):
            client.xadd(stream, {k: json.dumps(v) for k, v in row.items()})
        project = str(folder / "aiforge.yaml")
        assert _aiforge(tmp_path, "run", project, SALES_URL=redis_url).returncode == 0
        before = _state(tmp_path)

        down = _aiforge(tmp_path, "run", project, SALES_URL=f"redis://127.0.0.1:{free_port()}/0")
        assert down.returncode == 2 and "cannot read the Redis stream of source 'sales'" in down.stderr
        assert "check that the server is up" in down.stderr

        for row in _rows(60, 10):  # upstream renamed a field
            client.xadd(stream, {("n_rooms" if k == "rooms" else k): json.dumps(v) for k, v in row.items()})
        changed = _aiforge(tmp_path, "run", project, SALES_URL=redis_url)
        assert changed.returncode == 2, changed.stderr
        assert "'rooms' of source 'sales' is gone (new: 'n_rooms'; renamed?)" in changed.stderr
        assert _state(tmp_path) == before
        assert client.xpending(stream, "trainer")["pending"] == 10  # read, not acknowledged: read again next time
    finally:
        client.delete(stream)
        client.close()
