"""API keys of the server and the audit log of administrative actions, kept in the metadata store.

A key reads ``afk_<id>_<secret>``. Only a salted scrypt hash of the secret is stored; a presented key
is looked up by its id (never by scanning hashes) and its secret compared in constant time. The CLI
(`aiforge keys`, `aiforge audit`) and the server's admin routes are thin faces over this module.

>>> import tempfile
>>> from pathlib import Path
>>> from aiforge.workspace import Workspace, WorkspaceSettings
>>> ws = Workspace.open(WorkspaceSettings(root=Path(tempfile.mkdtemp()) / ".aiforge"))
>>> created = KeyStore(ws).create("ci-bot", Role.PREDICT, actor="cli:me")
>>> KeyStore(ws).verify(created.secret).name
'ci-bot'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from aiforge.errors import AiforgeError
from aiforge.workspace._schema import ApiKeyRow, AuditRow
from aiforge.workspace._workspace import Workspace

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "ApiKeyError",
    "AuditEntry",
    "AuditLog",
    "CreatedKey",
    "InvalidKey",
    "KeyStore",
    "Role",
    "UnknownApiKey",
]

KEY_PREFIX = "afk"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and some tens of ms per hash: verified keys are cached
_SCHEME = f"scrypt:{_SCRYPT['n']}:{_SCRYPT['r']}:{_SCRYPT['p']}"
_NAME_MAX = 64


class Role(StrEnum):
    """What a key may do; each role includes the ones below it: predict < operator < admin."""

    PREDICT = "predict"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.PREDICT: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class ApiKeyError(AiforgeError):
    """An API key request that cannot be done: a bad name or role."""

    code = "keys"
    http_status = 400


class UnknownApiKey(ApiKeyError):
    """No API key has that id."""

    http_status = 404


class InvalidKey(AiforgeError):
    """A presented key does not authenticate: malformed, unknown, wrong secret, revoked or expired."""

    code = "auth"
    http_status = 401


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    @property
    def state(self) -> str:
        """``active``, ``revoked`` or ``expired``."""
        return "revoked" if self.revoked_at else "expired" if self.expired() else "active"

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {"id": self.id, "name": self.name, "role": self.role.value, "state": self.state,
                "created_at": iso(self.created_at), "created_by": self.created_by,
                "expires_at": iso(self.expires_at), "last_used_at": iso(self.last_used_at),
                "revoked_at": iso(self.revoked_at)}


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret: the only time the secret is known to aiforge."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "action": self.action, "target": self.target,
                "outcome": self.outcome, "details": self.details}


def key_id(presented: str) -> str | None:
    """The id part of a presented key (``afk_<id>_<secret>``), or None when it is not of that shape."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2] or len(parts[1]) > 24:
        return None
    return parts[1]


def _hash(secret: str, salt: bytes, scheme: str) -> bytes:
    name, n, r, p = scheme.split(":")
    if name != "scrypt":
        raise InvalidKey("the key's hash scheme is unknown", found=scheme)
    return hashlib.scrypt(secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=32)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.name, Role(row.role), row.created_at, row.created_by, row.expires_at,
                  row.last_used_at, row.revoked_at)


class AuditLog:
    """Append-only record of administrative actions: who, what, on what, with which outcome."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def append(self, actor: str, action: str, target: str, outcome: str = "ok",
               details: dict[str, Any] | None = None) -> None:
        with self.workspace.session() as s:
            _append(s, actor, action, target, outcome, details)

    def entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self.workspace.session() as s:
            rows = s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()
            return [AuditEntry(r.at, r.actor, r.action, r.target, r.outcome, dict(r.details or {})) for r in rows]


def _append(session: Any, actor: str, action: str, target: str, outcome: str,
            details: dict[str, Any] | None) -> None:
    session.add(AuditRow(at=datetime.now(UTC), actor=actor[:128], action=action[:40], target=target[:255],
                         outcome=outcome[:20], details=details or {}))


class KeyStore:
    """Create, verify, revoke and list API keys; every change is appended to the audit log with it."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def create(self, name: str, role: Role | str, *, actor: str, expires_at: datetime | None = None) -> CreatedKey:
        """A new key. ``actor`` is who asked (``cli:<user>`` or ``key:<id>``), for the audit log."""
        name = name.strip()
        if not name or len(name) > _NAME_MAX or not name.isprintable():
            raise ApiKeyError("a key's name must be 1 to 64 printable characters", found=repr(name),
                              hint="name keys after who uses them, e.g. --name ci-bot")
        try:
            role = Role(role)
        except ValueError as exc:
            raise ApiKeyError("unknown role", expected=", ".join(r.value for r in Role), found=str(role)) from exc
        if expires_at is not None and expires_at.tzinfo is None:
            raise ApiKeyError("an expiry must be a time-zone aware timestamp", found=str(expires_at))
        ident, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        now = datetime.now(UTC)
        row = ApiKeyRow(id=ident, name=name, role=role.value, scheme=_SCHEME, salt=salt.hex(),
                        hash=_hash(secret, salt, _SCHEME).hex(), created_at=now, created_by=actor[:128],
                        expires_at=expires_at, last_used_at=None, revoked_at=None)
        with self.workspace.session() as s:
            s.add(row)
            expiry = expires_at.isoformat() if expires_at else None
            _append(s, actor, "key.create", ident, "ok", {"name": name, "role": role.value, "expires_at": expiry})
        return CreatedKey(_key(row), f"{KEY_PREFIX}_{ident}_{secret}")

    def verify(self, presented: str, *, touch: bool = True) -> ApiKey:
        """The key ``presented`` authenticates as; :class:`InvalidKey` saying why when it does not.

        ``touch`` records the time as the key's last use (the server verifies a key against the
        database at most once per cache period, so this is a write per key per period, not per request).
        """
        ident = key_id(presented)
        if ident is None:
            raise InvalidKey("the API key is malformed", expected=f"{KEY_PREFIX}_<id>_<secret>")
        with self.workspace.session() as s:
            row = s.get(ApiKeyRow, ident)
            if row is None:
                raise InvalidKey("unknown API key", found=ident)
            digest = _hash(presented.split("_", 2)[2], bytes.fromhex(row.salt), row.scheme)
            if not hmac.compare_digest(digest, bytes.fromhex(row.hash)):
                raise InvalidKey("wrong API key secret", found=ident)
            key = _key(row)
            if key.revoked_at is not None:
                raise InvalidKey("the API key is revoked", found=ident)
            if key.expired():
                raise InvalidKey("the API key has expired", found=f"{ident}, expired {key.expires_at}")
            if touch:
                row.last_used_at = datetime.now(UTC)
        return key

    def revoke(self, ident: str, *, actor: str) -> ApiKey:
        """Revoke a key for good (revoking it again changes nothing, and is audited as such)."""
        with self.workspace.session() as s:
            row = s.get(ApiKeyRow, ident)
            if row is None:
                _append(s, actor, "key.revoke", ident, "not_found", {})
            else:
                already = row.revoked_at is not None
                if not already:
                    row.revoked_at = datetime.now(UTC)
                _append(s, actor, "key.revoke", ident, "unchanged" if already else "ok", {"name": row.name})
                return _key(row)
        raise UnknownApiKey(f"no API key with id '{ident}'", hint="'aiforge keys list' shows the keys and their ids")

    def get(self, ident: str) -> ApiKey:
        with self.workspace.session() as s:
            row = s.get(ApiKeyRow, ident)
            if row is None:
                raise UnknownApiKey(f"no API key with id '{ident}'",
                                    hint="'aiforge keys list' shows the keys and their ids")
            return _key(row)

    def list(self) -> list[ApiKey]:
        """Every key (revoked and expired ones too), oldest first."""
        with self.workspace.session() as s:
            return [_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))]

    def active_count(self) -> int:
        """Keys that could authenticate now (neither revoked nor expired)."""
        now = datetime.now(UTC)
        with self.workspace.session() as s:
            rows = s.scalars(select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))).all()
            return sum(1 for r in rows if not _key(r).expired(now))
