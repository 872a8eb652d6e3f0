"""Opening a workspace: folder, migrations, WAL mode, settings from flags and environment."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from aiforge.errors import WorkspaceError
from aiforge.workspace import RunRow, Workspace, WorkspaceSettings
from aiforge.workspace._workspace import _MIGRATIONS

TABLES = {"runs", "stages", "stage_cache", "model_versions"}


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _versions(ws: Workspace) -> list[str]:
    with ws.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def _add_run(ws: Workspace, run_id: str) -> None:
    with ws.session() as s:
        s.add(RunRow(id=run_id, project="p", status="succeeded", spec_path="/x/aiforge.yaml", spec_hash="0" * 64,
                     spec={}, started_at=datetime.now(UTC), host="h", pid=1, code_version="t", summary={}))


@pytest.mark.sqlite
def test_open_creates_the_folder_database_and_schema(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "down" / ".aiforge"

    ws = Workspace.open(WorkspaceSettings(root=root))
    try:
        assert root.is_dir()
        assert (root / "aiforge.db").is_file()
        assert ws.reports_dir == root / "reports" and ws.reports_dir.is_dir()
        assert ws.artifacts.root == root / "artifacts"
        assert TABLES <= set(inspect(ws.engine).get_table_names())
        assert _versions(ws) == [_head()]
    finally:
        ws.close()


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / ".aiforge")
    ws = Workspace.open(settings)
    _add_run(ws, "run-1")
    digest = ws.artifacts.put_bytes(b"kept")
    ws.close()

    again = Workspace.open(settings)
    try:
        with again.session() as s:
            assert [r.id for r in s.query(RunRow)] == ["run-1"]
        assert again.artifacts.get_bytes(digest) == b"kept"
        assert _versions(again) == [_head()]
    finally:
        again.close()


@pytest.mark.sqlite
def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    try:
        with ws.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        ws.close()
    with sqlite3.connect(tmp_path / ".aiforge" / "aiforge.db") as raw:  # WAL is a property of the file
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_transaction_is_rolled_back(tmp_path: Path) -> None:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    try:
        with pytest.raises(RuntimeError, match="abort"), ws.session() as s:
            s.add(RunRow(id="lost", project="p", status="running", spec_path="x", spec_hash="0" * 64, spec={},
                         started_at=datetime.now(UTC), host="h", pid=1, code_version="t", summary={}))
            s.flush()
            raise RuntimeError("abort")
        with ws.session() as s:
            assert s.get(RunRow, "lost") is None
    finally:
        ws.close()


def test_open_without_create_on_a_missing_folder_raises_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "missing" / ".aiforge"

    with pytest.raises(WorkspaceError, match="no workspace here yet") as info:
        Workspace.open(WorkspaceSettings(root=root), create=False)

    assert info.value.where == str(root)
    assert "AIFORGE_WORKSPACE" in (info.value.hint or "")
    assert not (tmp_path / "missing").exists()


def test_open_without_create_opens_an_existing_workspace(tmp_path: Path) -> None:
    settings = WorkspaceSettings(root=tmp_path / ".aiforge")
    Workspace.open(settings).close()

    ws = Workspace.open(settings, create=False)
    try:
        assert TABLES <= set(inspect(ws.engine).get_table_names())
    finally:
        ws.close()


def test_db_url_puts_the_metadata_elsewhere(tmp_path: Path) -> None:
    other = tmp_path / "shared" / "meta.db"
    other.parent.mkdir()
    settings = WorkspaceSettings(root=tmp_path / ".aiforge", db_url=f"sqlite:///{other}")

    ws = Workspace.open(settings)
    try:
        assert settings.url == f"sqlite:///{other}"
        assert not (tmp_path / ".aiforge" / "aiforge.db").exists()
        assert _versions(ws) == [_head()]
        assert ws.artifacts.root == tmp_path / ".aiforge" / "artifacts"
    finally:
        ws.close()


@pytest.mark.sqlite
def test_resolve_defaults_to_dot_aiforge_in_the_current_folder(tmp_path: Path) -> None:
    settings = WorkspaceSettings.resolve(env={})

    assert settings.root == tmp_path / ".aiforge"  # conftest chdirs into tmp_path
    assert settings.root.is_absolute()
    assert settings.db_url is None
    assert settings.url == f"sqlite:///{tmp_path / '.aiforge' / 'aiforge.db'}"


def test_resolve_reads_the_workspace_from_the_environment_mapping(tmp_path: Path) -> None:
    settings = WorkspaceSettings.resolve(env={"AIFORGE_WORKSPACE": str(tmp_path / "from-env")})

    assert settings.root == tmp_path / "from-env"


def test_resolve_prefers_the_explicit_root_over_the_environment(tmp_path: Path) -> None:
    env = {"AIFORGE_WORKSPACE": str(tmp_path / "from-env")}

    assert WorkspaceSettings.resolve(tmp_path / "flag", env=env).root == tmp_path / "flag"
    assert WorkspaceSettings.resolve(str(tmp_path / "flag"), env=env).root == tmp_path / "flag"


def test_resolve_makes_relative_paths_absolute_and_expands_home(tmp_path: Path) -> None:
    assert WorkspaceSettings.resolve("rel/ws", env={}).root == tmp_path / "rel" / "ws"
    assert WorkspaceSettings.resolve(env={"AIFORGE_WORKSPACE": "envrel"}).root == tmp_path / "envrel"
    assert WorkspaceSettings.resolve("~/ws", env={}).root == Path.home() / "ws"


@pytest.mark.sqlite
def test_resolve_ignores_empty_environment_values(tmp_path: Path) -> None:
    settings = WorkspaceSettings.resolve(env={"AIFORGE_WORKSPACE": "", "AIFORGE_DB_URL": ""})

    assert settings.root == tmp_path / ".aiforge"
    assert settings.db_url is None


def test_resolve_reads_the_database_url(tmp_path: Path) -> None:
    url = "postgresql+psycopg://aiforge@db.internal/aiforge"

    settings = WorkspaceSettings.resolve(tmp_path / "ws", env={"AIFORGE_DB_URL": url})

    assert settings.db_url == url
    assert settings.url == url
    assert settings.root == tmp_path / "ws"


def test_resolve_reads_os_environ_when_no_mapping_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFORGE_WORKSPACE", str(tmp_path / "os-env"))
    monkeypatch.setenv("AIFORGE_DB_URL", "sqlite:////elsewhere/x.db")

    settings = WorkspaceSettings.resolve()

    assert settings.root == tmp_path / "os-env"
    assert settings.url == "sqlite:////elsewhere/x.db"


@pytest.mark.parametrize(("url", "message", "found"), [
    ("notaurl", "the metadata database URL cannot be read", "notaurl"),
    ("mysql://u:secret@db/x", "in SQLite or PostgreSQL, not mysql", "mysql://u:***@db/x"),
    ("postgresql+asyncpg://u:secret@db/x", "driver 'asyncpg' is not installed", "No module named 'asyncpg'"),
])
def test_a_database_url_aiforge_cannot_use_is_a_workspace_error(tmp_path: Path, url: str, message: str,
                                                                  found: str) -> None:
    with pytest.raises(WorkspaceError, match=message) as info:
        Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge", db_url=url))
    assert found in (info.value.found or "") and "secret" not in info.value.render()


def test_an_unreachable_database_server_is_a_workspace_error_without_the_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from conftest import free_port

    url = f"postgres://aiforge:secret@127.0.0.1:{free_port()}/aiforge"  # nothing listens there
    with pytest.raises(WorkspaceError, match="cannot open the metadata database") as info:
        Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge", db_url=url))
    assert info.value.where == f"postgres://aiforge:***@{url.split('@')[1]}"  # as the user wrote it
    assert "refused" in (info.value.found or "") and "secret" not in info.value.render()
    assert "AIFORGE_DB_URL" in (info.value.hint or "")


def test_non_finite_numbers_are_kept_by_sqlite_and_stored_as_null_by_postgresql(tmp_path: Path) -> None:
    ws = Workspace.open(WorkspaceSettings.resolve(tmp_path / ".aiforge"))
    try:
        with ws.session() as s:
            s.add(RunRow(id="nan", project="p", status="succeeded", spec_path="x", spec_hash="0" * 64, spec={},
                         started_at=datetime.now(UTC), host="h", pid=1, code_version="t",
                         summary={"auc": float("nan"), "scores": [1.5, float("inf")]}))
        with ws.session() as s:
            summary = s.get_one(RunRow, "nan").summary
        if ws.engine.dialect.name == "postgresql":
            assert summary == {"auc": None, "scores": [1.5, None]}
        else:
            assert summary["auc"] != summary["auc"] and summary["scores"] == [1.5, float("inf")]
    finally:
        ws.close()
