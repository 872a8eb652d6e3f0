"""The workspace: where aiforge keeps state — a metadata database and an artifact store.

Environment variables are read here and nowhere else:
``AIFORGE_WORKSPACE`` (folder, default ``./.aiforge``), ``AIFORGE_DB_URL``
(any SQLAlchemy URL, default SQLite in WAL mode inside the workspace folder), and the data key that
encrypts artifacts at rest: ``AIFORGE_ENCRYPTION_KEY`` (base64 of 32 bytes) or
``AIFORGE_ENCRYPTION_KEY_FILE`` (a file holding it, not readable by other users); where the work runs:
``AIFORGE_EXECUTOR`` (``local`` or ``ray``) and ``AIFORGE_RAY_ADDRESS``, over the project file's ``workspace:``;
where artifacts live: ``AIFORGE_ARTIFACTS_URL`` (a folder or an fsspec URL such as ``s3://bucket/prefix``, default
``artifacts/`` in the workspace folder) and ``AIFORGE_S3_ENDPOINT_URL`` (an S3-compatible server; the credentials
and region come from the standard ``AWS_*`` variables or profiles, read by botocore).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from aiforge.errors import WorkspaceError
from aiforge.workspace._artifacts import ArtifactStore
from aiforge.workspace._crypto import ArtifactCipher, EncryptionError, EncryptionKey

__all__ = ["Workspace", "WorkspaceSettings"]

_MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class WorkspaceSettings:
    """Where the workspace lives; built from flags first, then the environment."""

    root: Path
    db_url: str | None = None
    encryption_key: str | None = field(default=None, repr=False)  # base64 of the 32-byte data key
    encryption_key_file: Path | None = None
    executor: str | None = None  # AIFORGE_EXECUTOR: local | ray, over the project file's workspace.executor
    ray_address: str | None = None  # AIFORGE_RAY_ADDRESS, over workspace.address
    artifacts_url: str | None = None  # AIFORGE_ARTIFACTS_URL (or --artifacts): a folder or s3://bucket/prefix
    s3_endpoint_url: str | None = None  # AIFORGE_S3_ENDPOINT_URL: an S3-compatible server (MinIO, Ceph, moto)

    @classmethod
    def resolve(
        cls, root: str | Path | None = None, env: Mapping[str, str] | None = None, *, artifacts_url: str | None = None
    ) -> WorkspaceSettings:
        env = os.environ if env is None else env
        chosen = root or env.get("AIFORGE_WORKSPACE") or ".aiforge"
        key_file = env.get("AIFORGE_ENCRYPTION_KEY_FILE") or None
        return cls(root=Path(chosen).expanduser().absolute(), db_url=env.get("AIFORGE_DB_URL") or None,
                   encryption_key=env.get("AIFORGE_ENCRYPTION_KEY") or None,
                   encryption_key_file=Path(key_file).expanduser().absolute() if key_file else None,
                   executor=env.get("AIFORGE_EXECUTOR") or None, ray_address=env.get("AIFORGE_RAY_ADDRESS") or None,
                   artifacts_url=artifacts_url or env.get("AIFORGE_ARTIFACTS_URL") or None,
                   s3_endpoint_url=env.get("AIFORGE_S3_ENDPOINT_URL") or None)

    def key(self) -> EncryptionKey | None:
        """The data key these settings name (read and checked now), or None when they name none."""
        if self.encryption_key and self.encryption_key_file:
            raise EncryptionError(
                "two encryption keys are set", expected="AIFORGE_ENCRYPTION_KEY or AIFORGE_ENCRYPTION_KEY_FILE",
                found="both", hint="unset one of them",
            )
        if self.encryption_key_file is not None:
            return EncryptionKey.from_file(self.encryption_key_file)
        if self.encryption_key:
            return EncryptionKey.from_text(self.encryption_key, source="AIFORGE_ENCRYPTION_KEY")
        return None

    def artifact_store(self, cipher: ArtifactCipher | None = None) -> ArtifactStore:
        """The artifact store these settings name: ``artifacts_url`` (object storage read through a cache in the
        workspace folder) or the workspace's ``artifacts`` folder."""
        if not self.artifacts_url:
            return ArtifactStore(self.root / "artifacts", cipher)
        options = {"endpoint_url": self.s3_endpoint_url} if self.s3_endpoint_url else {}
        return ArtifactStore.at(self.artifacts_url, cipher, options=options, cache=self.root / "cache" / "artifacts")

    @property
    def url(self) -> str:
        return self.db_url or f"sqlite:///{self.root / 'aiforge.db'}"

    @property
    def exists(self) -> bool:
        """Whether a workspace is here already: its folder, and its SQLite database unless ``db_url`` names another."""
        return self.root.exists() and (self.db_url is not None or (self.root / "aiforge.db").exists())


class Workspace:
    """An opened workspace. Open it only when about to write or read state.

    >>> import tempfile
    >>> ws = Workspace.open(WorkspaceSettings(root=Path(tempfile.mkdtemp()) / ".aiforge"))
    >>> ws.artifacts.get_bytes(ws.artifacts.put_bytes(b"x"))
    b'x'
    """

    def __init__(self, settings: WorkspaceSettings, engine: Engine, cipher: ArtifactCipher | None = None) -> None:
        self.settings = settings
        self.root = settings.root
        self.engine = engine
        self.artifacts = settings.artifact_store(cipher)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: WorkspaceSettings, *, create: bool = True) -> Workspace:
        """Open (and if needed create and migrate) the workspace.

        An encrypted workspace opens only with its key: a missing or wrong one fails here, before
        anything is written. A new workspace opened with a key is encrypted from the start.
        """
        from aiforge.workspace._encryption import open_cipher

        key = settings.key()
        if not settings.exists and not create:
            raise WorkspaceError(
                "no workspace here yet",
                where=str(settings.root),
                hint="run 'aiforge run aiforge.yaml' first, or point --workspace / "
                "AIFORGE_WORKSPACE at an existing one",
            )
        settings.root.mkdir(parents=True, exist_ok=True)
        # a missing or wrong key fails before any write
        cipher = open_cipher(settings.root, key, create=True, artifacts=settings.artifact_store())
        (settings.root / "reports").mkdir(exist_ok=True)
        engine = _engine(settings.url)
        try:
            _migrate(engine)
        except OperationalError as exc:  # the server is down, the password wrong, the database missing...
            engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise WorkspaceError(
                "cannot open the metadata database", where=_shown(settings.url),
                found=reason[0] if reason else type(exc).__name__,
                hint="check that the server runs and that the URL's host, port, user, password and database are "
                "right (the database must exist; aiforge creates its tables): AIFORGE_DB_URL",
            ) from exc
        return cls(settings, engine, cipher)

    @property
    def encrypted(self) -> bool:
        """Whether artifacts are encrypted at rest (then plaintext copies, such as reports, are not kept)."""
        return self.artifacts.cipher is not None

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


_SUPPORTED = "sqlite:///PATH, or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


def _shown(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.rpartition("@")[2]


def _database_url(url: str) -> URL:
    """``url`` checked: SQLite or PostgreSQL (``postgres://`` and a bare ``postgresql://`` mean psycopg 3)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise WorkspaceError("the metadata database URL cannot be read", where="AIFORGE_DB_URL",
                             expected=_SUPPORTED, found=_shown(url)) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    if backend != "sqlite":
        raise WorkspaceError(f"aiforge keeps its metadata in SQLite or PostgreSQL, not {backend}",
                             where="AIFORGE_DB_URL", expected=_SUPPORTED, found=_shown(url),
                             hint="unset AIFORGE_DB_URL for SQLite in the workspace folder")
    return parsed


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _strict_json(value: Any) -> str:
    """JSON as PostgreSQL takes it: NaN and infinities (which SQLite keeps) are stored as null."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _engine(url: str) -> Engine:
    parsed = _database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})

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
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10},
                             json_serializer=_strict_json)
    except ImportError as exc:
        raise WorkspaceError(f"the PostgreSQL driver '{parsed.get_driver_name()}' is not installed",
                             where=_shown(url), found=str(exc), expected=_SUPPORTED,
                             hint="pip install 'aiforge[postgres]' (psycopg 3)") from exc


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
        if conn.dialect.name == "postgresql":  # processes opening a new database at once migrate it one at a time
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(8215004310541297)")  # (SQLite: BEGIN IMMEDIATE)
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
