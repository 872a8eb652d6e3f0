"""Incremental ingestion through real runs: a rerun reads only the rows above the watermark, the snapshot is the
previous rows plus them and records its parent, an unchanged source keeps its snapshot, and the history is in the
workspace (SQLite file sources here; the SQL pushdown is tested in tests/data/test_sql_json.py)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from aiforge.data import SnapshotLog
from aiforge.errors import DataError
from aiforge.pipeline import run_project
from aiforge.spec import load_project_file
from aiforge.workspace import Workspace, WorkspaceSettings

PROJECT = """name: houses
problem: {task: regression, target: price}
data:
  sources:
    - {name: sales, type: sql, url: "sqlite:///shop.db", table: sales, incremental: {column: sold_at}}
    - {name: extra, type: csv, path: extra.csv}
model:
  learners: [linear]
  search: {cv: 2}
checks:
  importance: {enabled: false}
  robustness: {enabled: false}
  label_noise: {enabled: false}
  privacy: {enabled: false}
  explain: {enabled: false}
"""


def _rows(start: int, n: int) -> list[tuple[int, str, float, int, float]]:
    rng = random.Random(start)
    out = []
    for i in range(start, start + n):
        size = rng.uniform(30, 200)
        rooms = rng.randint(1, 6)
        out.append((i, f"2026-11-{1 + i // 100:02d}T{i % 24:02d}:00:00", round(size, 1), rooms,
                    round(2000 * size + 5000 * rooms + rng.gauss(0, 9000), 2)))
    return out


def _add(db: Path, rows: list[tuple[int, str, float, int, float]]) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sales (id INTEGER, sold_at TEXT, size_m2 REAL, rooms INTEGER, "
                     "price REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", rows)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "houses"
    folder.mkdir()
    _add(folder / "shop.db", _rows(0, 300))
    (folder / "extra.csv").write_text("id,size_m2,rooms,price\n9999,80.0,3,175000.0\n", encoding="utf-8")
    (folder / "aiforge.yaml").write_text(PROJECT, encoding="utf-8")
    return folder / "aiforge.yaml"


def _history(root: Path) -> list:  # type: ignore[type-arg]
    ws = Workspace.open(WorkspaceSettings(root=root), create=False)
    try:
        return SnapshotLog(ws).history("houses")
    finally:
        ws.close()


def test_a_rerun_ingests_only_the_new_rows_and_records_the_parent(project: Path, tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    first = run_project(load_project_file(project), settings)
    [one] = _history(tmp_path / "ws")
    sales = one.source("sales")
    assert one.parent is None and one.rows == 301 and sales["added_rows"] == 300
    assert sales["watermark"] == {"type": "string", "value": "2026-11-03T23:00:00"}

    _add(project.parent / "shop.db", _rows(300, 50))
    second = run_project(load_project_file(project), settings)
    two, _ = _history(tmp_path / "ws")
    assert two.parent == one.snapshot and two.rows == 351 and two.snapshot != one.snapshot
    assert two.source("sales")["added_rows"] == 50 and two.source("sales")["rows"] == 350
    assert two.source("sales")["previous_rows_artifact"] == sales["rows_artifact"]
    assert two.source("extra")["rows"] == 1 and "added_rows" not in two.source("extra")
    assert second.version.version == 2 and first.version.version == 1

    # nothing new: the same snapshot, so the ingest is cached and no history entry is added
    run_project(load_project_file(project), settings)
    assert len(_history(tmp_path / "ws")) == 2


def test_a_source_that_loses_its_watermark_column_is_refused(project: Path, tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / "ws")
    run_project(load_project_file(project), settings)
    db = project.parent / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE sales RENAME COLUMN sold_at TO sold_on")
    with pytest.raises(DataError, match="sold_at"):
        run_project(load_project_file(project), settings)
    assert len(_history(tmp_path / "ws")) == 1


def test_erased_rows_stay_erased_when_an_incremental_source_resumes(project: Path, tmp_path: Path) -> None:
    from aiforge.pipeline import erase_rows

    settings = WorkspaceSettings(root=tmp_path / "ws")
    run_project(load_project_file(project), settings)
    ws = Workspace.open(settings, create=False)
    try:
        done = erase_rows(ws, "houses", "id < 10", actor="test", project_file=load_project_file(project))
    finally:
        ws.close()
    assert done.removed == 10 and done.sources_to_clean == ["extra (csv)"]
    _add(project.parent / "shop.db", _rows(300, 50))
    run_project(load_project_file(project), settings)
    latest = _history(tmp_path / "ws")[0]
    assert latest.parent == done.snapshot
    assert latest.source("sales")["rows"] == 290 + 50 and latest.rows == 341
