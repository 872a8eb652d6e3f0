"""The workspace: where aiforge keeps state — a metadata database and an artifact store.

Environment variables are read here and nowhere else:
``AIFORGE_WORKSPACE`` (folder, default ``./.aiforge``) and ``AIFORGE_DB_URL``
(any SQLAlchemy URL, default SQLite in WAL mode inside the workspace folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from aiforge.errors import WorkspaceError
from aiforge.workspace._artifacts import ArtifactStore

__all__ = ["Workspace", "WorkspaceSettings"]

_MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class WorkspaceSettings:
    """Where the workspace lives; built from flags first, then the environment."""

    root: Path
    db_url: str | None = None

    @classmethod
    def resolve(
        cls, root: str | Path | None = None, env: Mapping[str, str] | None = None
    ) -> WorkspaceSettings:
        env = os.environ if env is None else env
        chosen = root or env.get("AIFORGE_WORKSPACE") or ".aiforge"
        return cls(root=Path(chosen).expanduser().absolute(), db_url=env.get("AIFORGE_DB_URL") or None)

    @property
    def url(self) -> str:
        return self.db_url or f"sqlite:///{self.root / 'aiforge.db'}"


class Workspace:
    """An opened workspace. Open it only when about to write or read state.

    >>> import tempfile
    >>> ws = Workspace.open(WorkspaceSettings(root=Path(tempfile.mkdtemp()) / ".aiforge"))
    >>> ws.artifacts.get_bytes(ws.artifacts.put_bytes(b"x"))
    b'x'
    """

    def __init__(self, settings: WorkspaceSettings, engine: Engine) -> None:
        self.settings = settings
        self.root = settings.root
        self.engine = engine
        self.artifacts = ArtifactStore(settings.root / "artifacts")
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: WorkspaceSettings, *, create: bool = True) -> Workspace:
        """Open (and if needed create and migrate) the workspace."""
        missing = not settings.root.exists() or (
            settings.db_url is None and not (settings.root / "aiforge.db").exists()
        )
        if missing and not create:
            raise WorkspaceError(
                "no workspace here yet",
                where=str(settings.root),
                hint="run 'aiforge run aiforge.yaml' first, or point --workspace / "
                "AIFORGE_WORKSPACE at an existing one",
            )
        settings.root.mkdir(parents=True, exist_ok=True)
        (settings.root / "reports").mkdir(exist_ok=True)
        engine = _engine(settings.url)
        _migrate(engine)
        return cls(settings, engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def close(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver's own BEGIN is replaced below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # take the write lock at the start: read-then-write transactions (the next version
            # number, say) cannot interleave between processes
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is current)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
