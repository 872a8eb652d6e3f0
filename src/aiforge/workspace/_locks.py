"""Read-then-write transactions that concurrent processes must take one at a time (the next version number, the
one active deployment of a model, an upsert by key), on either metadata store.

SQLite already runs them one at a time: every transaction of the workspace starts with ``BEGIN IMMEDIATE``, which
takes the database's write lock. PostgreSQL runs transactions side by side (READ COMMITTED), so two of them could
read the same "latest version" and both write after it; ``serialize`` takes a transaction-level advisory lock on
the key there, held until the transaction commits or rolls back.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["serialize"]


def lock_id(*key: str) -> int:
    """The signed 64-bit advisory-lock number of ``key`` (stable across processes and versions)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def serialize(session: Session, *key: str) -> None:
    """Wait until no other transaction holds ``key``, then hold it until this one ends.

    >>> lock_id("model_versions", "income") == lock_id("model_versions", "income")
    True
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(*key)})
