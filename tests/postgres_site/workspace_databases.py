"""The test suite on PostgreSQL: under ``AIFORGE_TEST_POSTGRES_URL`` every workspace keeps its metadata in a database
of its own on that server, as it would keep an ``aiforge.db`` of its own in its folder.

A workspace whose settings name no database (``WorkspaceSettings(root=...)``, or ``resolve()`` without
``AIFORGE_DB_URL``) gets the database named after its folder, ``<prefix>_<sha1 of the folder>``, created on first
use from a template database that holds the migrated schema (``CREATE DATABASE ... TEMPLATE``: ~50 ms). The test
process installs this in ``tests/conftest.py``; the CLI and server processes the tests start load it from this
folder's ``sitecustomize.py`` (conftest puts the folder on ``PYTHONPATH``), so a test and the processes it starts
agree on the database of each workspace, whatever the fixture scope and however the process finds its workspace
(``--workspace``, ``AIFORGE_WORKSPACE``, ``./.aiforge``). ``WORKSPACE_DATABASES_PREFIX`` (one per pytest worker)
switches it on; a test marked ``sqlite`` unsets it, and the worker drops its databases when its session ends.

Nothing here is imported by aiforge itself: it only fills in the settings' default, the way a team sets
``AIFORGE_DB_URL``.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

SERVER_ENV = "AIFORGE_TEST_POSTGRES_URL"  # the server, by the URL of a database the role may connect to
# set by conftest and inherited by the processes tests start; not AIFORGE_*, which some tests strip from those
URL_ENV = "WORKSPACE_DATABASES_URL"  # SERVER_ENV's value
PREFIX_ENV = "WORKSPACE_DATABASES_PREFIX"  # the databases of one pytest worker
_MODULE = "aiforge.workspace._workspace"
_MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "aiforge" / "workspace" / "migrations" / "versions"
_created: set[str] = set()
_template_ready: set[str] = set()


def active() -> bool:
    return bool(os.environ.get(URL_ENV) and os.environ.get(PREFIX_ENV))


def server_url() -> str:
    return os.environ.get(URL_ENV) or os.environ[SERVER_ENV]


def url_for(root: Path) -> str | None:
    """The database URL of the workspace in ``root`` (None when the suite runs on SQLite)."""
    if not active():
        return None
    from sqlalchemy.engine import make_url

    digest = hashlib.sha1(str(Path(root).absolute()).encode()).hexdigest()[:20]
    name = f"{os.environ[PREFIX_ENV]}_{digest}"
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


def template_name() -> str:
    """The template of this code's schema: a new migration makes a new template."""
    digest = hashlib.sha1()
    for path in sorted(_MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"aiforge_tpl_{digest.hexdigest()[:16]}"


def _admin() -> Any:
    """An autocommit connection to the server's maintenance database (CREATE / DROP DATABASE)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url())
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                           dbname=url.database, autocommit=True, connect_timeout=10)


def _exists(conn: Any, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def ensure_template(migrate: Callable[[str], None]) -> str:
    """The migrated template database, made once per server and schema (``migrate`` brings a URL to head)."""
    name = template_name()
    if name in _template_ready:
        return name
    from sqlalchemy.engine import make_url

    with _admin() as conn:
        if not _exists(conn, name):
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))  # one builder; the others wait
            try:
                if not _exists(conn, name):
                    building = f"{name}_building"
                    conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{building}"')
                    migrate(make_url(server_url()).set(database=building).render_as_string(hide_password=False))
                    conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')  # complete, or absent
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
    _template_ready.add(name)
    return name


def ensure_database(url: str, migrate: Callable[[str], None]) -> None:
    """Create the database ``url`` names from the template, unless it exists (two processes may race here)."""
    import psycopg
    from psycopg import errors
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    prefix = os.environ.get(PREFIX_ENV)
    if not name or not prefix or not name.startswith(f"{prefix}_") or name in _created:
        return
    template = ensure_template(migrate)
    with _admin() as conn:
        for attempt in range(50):
            if _exists(conn, name):
                break
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except errors.DuplicateDatabase:
                break
            except (errors.ObjectInUse, psycopg.errors.UniqueViolation):  # the template copied by another
                time.sleep(0.05 * (attempt + 1))
    _created.add(name)


def copy_workspace(source: Path, target: Path) -> None:
    """Copy the workspace folder ``source`` to ``target`` and, on PostgreSQL, its database to ``target``'s (a
    copy of a folder is a copy of its ``aiforge.db`` on SQLite). No process may have ``source`` open."""
    import shutil

    shutil.copytree(source, target)
    if not active():
        return
    from sqlalchemy.engine import make_url

    old, new = (make_url(url_for(root) or "").database for root in (source, target))
    with _admin() as conn:
        if _exists(conn, str(old)):
            conn.execute(f'CREATE DATABASE "{new}" TEMPLATE "{old}"')
            _created.add(str(new))


def drop_databases(prefix: str) -> int:
    """Drop the databases of one worker (``<prefix>_...``); returns how many."""
    with _admin() as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (prefix.replace("_", r"\_") + r"\_%",))]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return len(names)


def ping() -> None:
    """Raise unless the server answers."""
    with _admin() as conn:
        conn.execute("SELECT 1")


def connections(prefix: str) -> int:
    """Connections open now to the databases of one worker."""
    with _admin() as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s",
                           (prefix.replace("_", r"\_") + r"\_%",)).fetchone()
    return int(row[0]) if row else 0


def patch(module: ModuleType) -> None:
    """Give ``WorkspaceSettings`` the workspace's own database as its default, and create it before the first
    engine opens it."""
    settings_cls = module.WorkspaceSettings
    if getattr(settings_cls, "_test_postgres", False):
        return
    init = settings_cls.__init__
    engine = module._engine

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self.db_url is None and (url := url_for(self.root)) is not None:
            object.__setattr__(self, "db_url", url)

    def migrate(url: str) -> None:
        made = engine(url)
        try:
            module._migrate(made)
        finally:
            made.dispose()

    def _engine(url: str) -> Any:
        if url.startswith("postgresql") and active():
            ensure_database(url, migrate)
        return engine(url)

    settings_cls.__init__ = __init__
    settings_cls._test_postgres = True
    module._engine = _engine


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``aiforge.workspace._workspace`` as it is imported, so a process that never imports aiforge
    (or only its light parts) pays nothing."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != _MODULE:
            return None
        finders = [f for f in sys.meta_path if f is not self and hasattr(f, "find_spec")]
        spec = next((s for f in finders if (s := f.find_spec(fullname, path, target)) is not None), None)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Patch now if aiforge's workspace is loaded, else as soon as it is."""
    if _MODULE in sys.modules:
        patch(sys.modules[_MODULE])
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


__all__ = ["PREFIX_ENV", "SERVER_ENV", "URL_ENV", "active", "connections", "copy_workspace", "drop_databases",
           "ensure_database", "install", "patch", "ping", "template_name", "url_for"]
