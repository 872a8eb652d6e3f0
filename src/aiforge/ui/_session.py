"""Who is looking at the dashboard: an API key exchanged once for a signed session cookie, roles, CSRF tokens.

A browser logs in with an API key (the server's own keys and roles, ``workspace/_keys.py``); the key is
verified once (scrypt) and the browser gets a cookie that holds the key's id, its role, a CSRF token and an
expiry, signed with HMAC-SHA256 under the dashboard's secret. The secret is a file in the workspace (created
on first use, mode 0600), so every worker of `aiforge serve --workers N` and a restarted server accept the same
cookies. Each request checks the signature and expiry, and whether the key is still active (read from the
workspace at most every ``cache_seconds``): revoking the key ends its sessions. Every action is a POST that
carries the session's CSRF token in a form field; the cookie is ``HttpOnly`` and ``SameSite=Strict``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiforge.errors import AiforgeError
from aiforge.workspace import ApiKey, InvalidKey, KeyStore, Role

__all__ = ["COOKIE", "LOGIN_COOKIE", "Forbidden", "Sessions", "TooManyLogins", "Viewer", "load_secret"]

COOKIE = "aiforge_ui"
LOGIN_COOKIE = "aiforge_ui_login"  # the login form's own CSRF token (double submit: cookie and form field)
SECRET_FILE = "ui-secret"


class Forbidden(InvalidKey):
    """A key that authenticates but may not do this: a role below the one a page or an action needs."""

    http_status = 403


class TooManyLogins(InvalidKey):
    """Login attempts from one address beyond the dashboard's rate (``UiSettings.login_rate``)."""

    http_status = 429


@dataclass(frozen=True)
class Viewer:
    """The person behind a request: a logged-in key (id and role), or anonymous when the dashboard runs with
    authentication off (who may then read every page but act on nothing)."""

    key_id: str | None
    role: Role | None
    csrf: str

    @property
    def anonymous(self) -> bool:
        return self.key_id is None

    @property
    def actor(self) -> str:
        """How this viewer is named in the audit log and in deployment events."""
        return f"ui:key:{self.key_id}" if self.key_id else "ui:anonymous"

    def may(self, role: Role | str) -> bool:
        """Whether this viewer may do what ``role`` may (templates pass the role's name)."""
        return self.role is not None and self.role.allows(Role(role))


def load_secret(root: Path) -> bytes:
    """The dashboard's signing secret, kept in ``root`` (created once, readable by its owner only)."""
    path = root / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it meanwhile
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32))
        fh.flush()
        os.fsync(fh.fileno())
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


class Sessions:
    """Issues and reads session cookies. ``required``: every page needs a login; ``off``: pages are open to
    anonymous readers, actions still need a logged-in key of the right role."""

    def __init__(self, keys: KeyStore, secret: bytes, *, required: bool, lifetime_seconds: float = 8 * 3600,
                 cache_seconds: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.secret = secret
        self.required = required
        self.lifetime_seconds = lifetime_seconds
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}  # key id -> (until, key or None: gone)

    def login(self, presented: str) -> tuple[ApiKey, str]:
        """The key ``presented`` authenticates as and a cookie for it; ``InvalidKey`` or ``Forbidden`` else."""
        key = self.keys.verify(presented.strip())
        if not key.role.allows(Role.OPERATOR):
            raise Forbidden(f"a '{key.role.value}' key cannot use the dashboard",
                            expected="a key with the operator or admin role", found=f"key {key.id} ({key.role.value})",
                            hint="ask an admin for an operator key: aiforge keys create --name NAME --role operator")
        payload: dict[str, object] = {"k": key.id, "r": key.role.value, "c": secrets.token_urlsafe(24),
                   "e": int(self.clock() + self.lifetime_seconds)}
        self._keys[key.id] = (self.clock() + self.cache_seconds, key)
        return key, self._sign(payload)

    def viewer(self, cookie: str | None) -> Viewer | None:
        """Who sent ``cookie``: a logged-in key whose session is valid, else anonymous when login is not
        required, else None (the page asks to log in)."""
        payload = self._read(cookie) if cookie else None
        if payload is not None:
            key = self._key(str(payload["k"]))
            if key is not None and key.state == "active" and key.role.value == payload["r"] \
                    and key.role.allows(Role.OPERATOR):
                return Viewer(key.id, key.role, str(payload["c"]))
        if self.required:
            return None
        return Viewer(None, None, "")

    def forget(self, key_id: str) -> None:
        """Drop the cached state of a key (revoked through the dashboard: its sessions end at once)."""
        self._keys.pop(key_id, None)

    def login_token(self, nonce: str) -> str:
        """The login form's token for the nonce in its cookie."""
        return hmac.new(self.secret, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()

    def _key(self, ident: str) -> ApiKey | None:
        now = self.clock()
        cached = self._keys.get(ident)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            key: ApiKey | None = self.keys.get(ident)
        except AiforgeError:
            key = None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[ident] = (now + self.cache_seconds, key)
        return key

    def _sign(self, payload: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        mac = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _read(self, cookie: str) -> dict[str, object] | None:
        body, _, mac = cookie.partition(".")
        expected = hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()
        if not mac or not hmac.compare_digest(mac, expected):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(payload, dict) or not {"k", "r", "c", "e"} <= payload.keys():
            return None
        expiry = payload["e"]
        if not isinstance(expiry, int) or expiry <= self.clock():
            return None
        return payload
