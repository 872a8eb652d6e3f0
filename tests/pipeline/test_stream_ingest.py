"""A project fed by a Redis stream through real runs (a real redis-server, tests/conftest.py): each run's snapshot
is the rows ingested before plus the new entries, the entries are acknowledged once the snapshot is recorded, and a
bad entry stops the run with nothing acknowledged and the previous snapshot intact."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aiforge.cli import cli
from aiforge.data import SnapshotLog
from aiforge.errors import DataError
from aiforge.pipeline import run_project
from aiforge.spec import load_project_file
from aiforge.workspace import Workspace, WorkspaceSettings

redis = pytest.importorskip("redis")

PROJECT = """name: houses
problem: {{task: regression, target: price}}
data:
  sources:
    - {{name: sales, type: redis, url: "{url}", stream: {stream}, group: trainer, json: true}}
model:
  learners: [linear]
  search: {{cv: 2}}
checks:
  importance: {{enabled: false}}
  robustness: {{enabled: false}}
  label_noise: {{enabled: false}}
  privacy: {{enabled: false}}
  explain: {{enabled: false}}
"""


def _add(client: Any, stream: str, start: int, n: int) -> None:
    rng = random.Random(start)
    for _ in range(start, start + n):
        size, rooms = round(rng.uniform(30, 200), 1), rng.randint(1, 6)
        price = round(2000 * size + 5000 * rooms + rng.gauss(0, 9000), 2)
        client.xadd(stream, {"size_m2": json.dumps(size), "rooms": json.dumps(rooms), "price": json.dumps(price)})


@pytest.fixture
def stream(redis_url: str, tmp_path: Path) -> Iterator[tuple[Path, str, Any]]:
    name = f"sales-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "houses"
    folder.mkdir()
    (folder / "aiforge.yaml").write_text(PROJECT.format(url=redis_url, stream=name), encoding="utf-8")
    client = redis.Redis.from_url(redis_url)
    yield folder / "aiforge.yaml", name, client
    client.close()


def _history(root: Path) -> list:  # type: ignore[type-arg]
    ws = Workspace.open(WorkspaceSettings(root=root), create=False)
    try:
        return SnapshotLog(ws).history("houses")
    finally:
        ws.close()


def test_each_run_adds_the_new_entries_to_the_rows_before(stream: tuple[Path, str, Any], tmp_path: Path) -> None:
    project, name, client = stream
    settings = WorkspaceSettings(root=tmp_path / "ws")
    _add(client, name, 0, 60)
    run_project(load_project_file(project), settings)
    [one] = _history(tmp_path / "ws")
    sales = one.source("sales")
    assert one.rows == 60 and sales["added_rows"] == 60 and sales["watermark"]["type"] == "redis-stream-id"
    assert client.xpending(name, "trainer")["pending"] == 0  # acknowledged once the snapshot was recorded

    _add(client, name, 60, 30)
    checked = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "validate", str(project), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["rows"] == 90  # validate resumes too: the rows so far plus the new entries
    assert client.xpending(name, "trainer")["pending"] == 30  # delivered to validate, acknowledged by no snapshot
    second = run_project(load_project_file(project), settings)
    two, _ = _history(tmp_path / "ws")
    assert two.parent == one.snapshot and two.rows == 90 and two.source("sales")["added_rows"] == 30
    assert two.source("sales")["previous_rows_artifact"] == sales["rows_artifact"]
    assert second.version.version == 2 and client.xpending(name, "trainer")["pending"] == 0

    run_project(load_project_file(project), settings)  # nothing new: the same snapshot, no history entry
    assert len(_history(tmp_path / "ws")) == 2


def test_a_bad_entry_stops_the_run_and_changes_nothing(stream: tuple[Path, str, Any], tmp_path: Path) -> None:
    project, name, client = stream
    settings = WorkspaceSettings(root=tmp_path / "ws")
    _add(client, name, 0, 40)
    run_project(load_project_file(project), settings)
    _add(client, name, 40, 10)
    bad = client.xadd(name, {"size_m2": "80", "rooms": "3", "price": '"unknown"'})  # the type changed upstream
    with pytest.raises(DataError, match="changed upstream since the last snapshot") as caught:
        run_project(load_project_file(project), settings)
    assert "'price' of source 'sales' changed from number (double) to text (string)" in caught.value.render()
    assert len(_history(tmp_path / "ws")) == 1
    assert client.xpending(name, "trainer")["pending"] == 11  # read, not acknowledged: read again next time

    client.xdel(name, bad)  # fixed upstream: the next run reads the ten good entries again
    run_project(load_project_file(project), settings)
    one, two = reversed(_history(tmp_path / "ws"))
    assert two.rows == 50 and two.parent == one.snapshot and client.xpending(name, "trainer")["pending"] == 0
