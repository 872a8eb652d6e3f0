"""API keys and the audit log in the metadata store: salted hashes only, lookup by id, revocation, expiry."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from aiforge.workspace import (
    ApiKeyError,
    AuditLog,
    InvalidKey,
    KeyStore,
    Role,
    UnknownApiKey,
    Workspace,
    WorkspaceSettings,
)
from aiforge.workspace._keys import key_id


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.open(WorkspaceSettings(root=tmp_path / ".aiforge"))
    yield workspace
    workspace.close()


def test_migration_0003_adds_the_key_and_audit_tables(ws: Workspace) -> None:
    tables = set(inspect(ws.engine).get_table_names())
    assert {"api_keys", "audit_log"} <= tables
    columns = {c["name"] for c in inspect(ws.engine).get_columns("api_keys")}
    assert {"id", "name", "role", "salt", "hash", "expires_at", "last_used_at", "revoked_at"} <= columns


@pytest.mark.sqlite  # reads the SQLite file's dump
def test_a_key_is_stored_as_a_salted_hash_and_verifies_by_its_id(ws: Workspace) -> None:
    store = KeyStore(ws)
    one = store.create("ci-bot", Role.PREDICT, actor="cli:me")
    two = store.create("ci-bot", "admin", actor="cli:me")
    assert one.secret.startswith(f"afk_{one.key.id}_") and key_id(one.secret) == one.key.id
    assert store.verify(one.secret).role is Role.PREDICT and store.verify(two.secret).role is Role.ADMIN

    db = sqlite3.connect(ws.root / "aiforge.db")
    rows = db.execute("SELECT id, salt, hash FROM api_keys").fetchall()
    dump = "\n".join(db.iterdump())
    db.close()
    for created in (one, two):
        assert created.secret.split("_", 2)[2] not in dump  # the secret is nowhere in the database
    assert len({salt for _, salt, _ in rows}) == 2  # a salt per key
    assert store.get(one.key.id).last_used_at is not None  # verify() recorded the use


@pytest.mark.parametrize(("presented", "reason"), [
    ("", "malformed"),
    ("Bearer afk_x_y", "malformed"),
    ("afk__secret", "malformed"),
    ("afk_000000000000_secret", "unknown API key"),
])
def test_malformed_and_unknown_keys_are_refused(ws: Workspace, presented: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        KeyStore(ws).verify(presented)


def test_wrong_secret_revoked_and_expired_keys_are_refused(ws: Workspace) -> None:
    store = KeyStore(ws)
    good = store.create("a", Role.OPERATOR, actor="cli:me")
    with pytest.raises(InvalidKey, match="wrong API key secret"):
        store.verify(good.secret[:-2] + ("AA" if not good.secret.endswith("AA") else "BB"))

    assert store.revoke(good.key.id, actor="cli:me").state == "revoked"
    with pytest.raises(InvalidKey, match="revoked"):
        store.verify(good.secret)
    assert store.revoke(good.key.id, actor="cli:me").state == "revoked"  # again: a no-op

    old = store.create("b", Role.PREDICT, actor="cli:me", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(InvalidKey, match="expired"):
        store.verify(old.secret)
    later = store.create("c", Role.PREDICT, actor="cli:me", expires_at=datetime.now(UTC) + timedelta(days=1))
    assert store.verify(later.secret).state == "active"

    assert [k.state for k in store.list()] == ["revoked", "expired", "active"]
    assert store.active_count() == 1


def test_bad_requests_name_the_problem(ws: Workspace) -> None:
    store = KeyStore(ws)
    with pytest.raises(ApiKeyError, match="1 to 64 printable"):
        store.create("  ", Role.PREDICT, actor="cli:me")
    with pytest.raises(ApiKeyError, match="unknown role"):
        store.create("x", "root", actor="cli:me")
    with pytest.raises(UnknownApiKey, match="no API key with id 'nope'"):
        store.revoke("nope", actor="cli:me")


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.ADMIN.allows(Role.PREDICT)
    assert Role.OPERATOR.allows(Role.PREDICT) and not Role.OPERATOR.allows(Role.ADMIN)
    assert not Role.PREDICT.allows(Role.OPERATOR)


def test_every_key_change_is_audited_newest_first(ws: Workspace) -> None:
    store = KeyStore(ws)
    created = store.create("ci-bot", Role.ADMIN, actor="cli:alice")
    store.revoke(created.key.id, actor="key:abc")
    with pytest.raises(UnknownApiKey):
        store.revoke("missing", actor="cli:bob")
    AuditLog(ws).append("key:abc", "server.reload", "models", "ok", {"serving": {"income": 2}})

    entries = AuditLog(ws).entries()
    assert [(e.actor, e.action, e.target, e.outcome) for e in entries] == [
        ("key:abc", "server.reload", "models", "ok"),
        ("cli:bob", "key.revoke", "missing", "not_found"),
        ("key:abc", "key.revoke", created.key.id, "ok"),
        ("cli:alice", "key.create", created.key.id, "ok"),
    ]
    assert entries[-1].details == {"name": "ci-bot", "role": "admin", "expires_at": None}
    assert entries[0].at.tzinfo is not None
    assert len(AuditLog(ws).entries(limit=2)) == 2
