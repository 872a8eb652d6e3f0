"""Which key a workspace is encrypted with, and the passes that encrypt or re-encrypt its artifacts.

The workspace records its state in ``encryption.json`` beside the database (it holds key ids, never
keys): the key id new artifacts are sealed with, every key id whose files may still exist (two while a
rotation runs), the retired ones, and the phase. Opening checks the given key against it first, so a
missing or wrong key fails at once with the id that is expected. ``enable`` and ``rotate`` replace one
file at a time atomically and skip the files already done, so a pass that is killed is resumed by
running it again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from aiforge.errors import ArtifactError
from aiforge.workspace._artifacts import ArtifactStore
from aiforge.workspace._crypto import KEY_HINT, ArtifactCipher, EncryptionError, EncryptionKey

__all__ = ["EncryptionPass", "EncryptionState", "EncryptionStatus", "enable_encryption", "encryption_status",
           "rotate_encryption"]

STATE_FILE = "encryption.json"
Phase = Literal["enabling", "encrypted", "rotating"]


@dataclass(frozen=True)
class EncryptionState:
    """What ``encryption.json`` says: the current key id, the ids still in use, the retired ones."""

    key_id: str
    key_ids: tuple[str, ...]
    phase: Phase = "encrypted"
    retired: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"format": 1, "phase": self.phase, "key_id": self.key_id, "key_ids": list(self.key_ids),
                "retired": list(self.retired)}


@dataclass(frozen=True)
class EncryptionStatus:
    """Whether a workspace is encrypted, and how many artifact files each key id (or none) holds."""

    root: Path
    state: EncryptionState | None
    files: dict[str, int] = field(default_factory=dict)  # key id, or "plaintext" -> count

    def to_json(self) -> dict[str, Any]:
        return {"workspace": str(self.root), "encrypted": self.state is not None,
                **(self.state.to_json() if self.state else {}), "files": self.files}


@dataclass(frozen=True)
class EncryptionPass:
    """What an ``enable`` or ``rotate`` pass did."""

    key_id: str
    converted: int
    skipped: int
    retired: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "converted": self.converted, "skipped": self.skipped,
                "retired": self.retired}


def read_state(root: Path) -> EncryptionState | None:
    path = root / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EncryptionState(key_id=data["key_id"], key_ids=tuple(data["key_ids"]), phase=data["phase"],
                               retired=tuple(data.get("retired", ())))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EncryptionError("the workspace's encryption state cannot be read", where=str(path),
                              expected='JSON with "key_id", "key_ids" and "phase"', found=str(exc),
                              hint="restore the file from a backup: it names the key the artifacts need") from exc


def write_state(root: Path, state: EncryptionState) -> None:
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-encryption-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state.to_json(), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_cipher(root: Path, key: EncryptionKey | None, *, create: bool,
                artifacts: ArtifactStore | None = None) -> ArtifactCipher | None:
    """The cipher for a workspace being opened, after checking ``key`` against its recorded state.

    A key given to a workspace with no artifacts yet encrypts it from the start; a key given to one
    whose artifacts are plaintext is refused (``aiforge encryption enable`` converts them). ``artifacts``: the
    workspace's store (default: its ``artifacts`` folder). A folder without the state whose store already holds
    encrypted artifacts (object storage shared by several machines) takes the state from them: the key must be
    the one they were sealed with.
    """
    state = read_state(root)
    if state is None:
        if key is None:
            return None
        store = _store(root, artifacts)
        first = next(store.digests(), None)
        sealed_by = store.key_id(first) if first is not None else None
        if sealed_by is not None:
            state = EncryptionState(key_id=sealed_by, key_ids=(sealed_by,))
            check_key(root, state, key)
            if create:
                write_state(root, state)
            return ArtifactCipher(key)
        if first is not None:
            raise EncryptionError(
                "an encryption key is set, but this workspace's artifacts are stored unencrypted", where=str(root),
                expected="an encrypted workspace", found="plaintext artifacts",
                hint="encrypt them in place with 'aiforge encryption enable', or unset AIFORGE_ENCRYPTION_KEY "
                "and AIFORGE_ENCRYPTION_KEY_FILE to use the workspace as it is",
            )
        if create:
            write_state(root, EncryptionState(key_id=key.id, key_ids=(key.id,)))
        return ArtifactCipher(key)
    check_key(root, state, key)
    assert key is not None
    return ArtifactCipher(key)


def check_key(root: Path, state: EncryptionState, key: EncryptionKey | None) -> None:
    expected = " or ".join(f"the key with id {k}" for k in state.key_ids)
    if key is None:
        raise EncryptionError("this workspace is encrypted and no encryption key was given", where=str(root),
                              expected=expected, hint=KEY_HINT)
    if key.id in state.retired:
        raise EncryptionError(
            "the encryption key given was retired by 'aiforge encryption rotate'", where=str(root),
            expected=expected, found=f"key id {key.id} (from {key.source})",
            hint="use the new key the workspace was rotated to",
        )
    if key.id not in state.key_ids:
        raise EncryptionError("wrong encryption key for this workspace", where=str(root), expected=expected,
                              found=f"key id {key.id} (from {key.source})", hint=KEY_HINT)


def _store(root: Path, artifacts: ArtifactStore | None, cipher: ArtifactCipher | None = None) -> ArtifactStore:
    return (artifacts or ArtifactStore(root / "artifacts")).with_cipher(cipher)


def encryption_status(root: Path, *, artifacts: ArtifactStore | None = None) -> EncryptionStatus:
    """The recorded state and a count of artifact files per key id; needs no key."""
    store = _store(root, artifacts)
    files = Counter(store.key_id(d) or "plaintext" for d in store.digests())
    return EncryptionStatus(root, read_state(root), dict(sorted(files.items())))


def enable_encryption(root: Path, key: EncryptionKey, *, on_file: Callable[[str], None] | None = None,
                      artifacts: ArtifactStore | None = None) -> EncryptionPass:
    """Encrypt every plaintext artifact of the workspace at ``root`` with ``key``, one atomic file at a time.

    The state is recorded first (phase ``enabling``), so from then on the workspace opens only with
    the key; files already under ``key`` are skipped, so running it again resumes a pass that died.
    ``on_file`` is called after each file converted.
    """
    state = read_state(root)
    if state is None:
        state = EncryptionState(key_id=key.id, key_ids=(key.id,), phase="enabling")
        write_state(root, state)
    elif state.phase == "rotating":
        raise EncryptionError("a key rotation of this workspace is unfinished", where=str(root),
                              expected="an unencrypted or encrypted workspace", found="phase 'rotating'",
                              hint="finish it: rerun 'aiforge encryption rotate --new-key-file FILE' with the same "
                              "new key")
    else:
        check_key(root, state, key)
    converted, skipped = _convert(_store(root, artifacts, ArtifactCipher(key)), key, on_file)
    write_state(root, replace(state, phase="encrypted"))
    return EncryptionPass(key.id, converted, skipped)


def rotate_encryption(root: Path, old: EncryptionKey, new: EncryptionKey, *,
                      on_file: Callable[[str], None] | None = None,
                      artifacts: ArtifactStore | None = None) -> EncryptionPass:
    """Re-encrypt every artifact under ``new``; then ``old`` is retired and may be destroyed.

    The state is recorded first (phase ``rotating``, both key ids in use, new artifacts under
    ``new``); files already under ``new`` are skipped, so running it again with the same keys resumes.
    """
    state = read_state(root)
    if state is None:
        raise EncryptionError("this workspace is not encrypted, so there is no key to rotate", where=str(root),
                              hint="encrypt it first with 'aiforge encryption enable'")
    if state.phase == "enabling":
        raise EncryptionError("encrypting this workspace is unfinished", where=str(root),
                              found="phase 'enabling'", hint="finish it first: rerun 'aiforge encryption enable'")
    if new.id == old.id:
        raise EncryptionError("the new key is the key in use", found=f"key id {new.id} twice",
                              hint="generate a new key with 'aiforge encryption init --key-file FILE'")
    if state.phase == "rotating" and state.key_id != new.id:
        raise EncryptionError("another key rotation of this workspace is unfinished", where=str(root),
                              expected=f"the new key with id {state.key_id}", found=f"new key id {new.id}",
                              hint="finish that rotation first: rerun it with the same --new-key-file")
    if state.phase == "encrypted":
        check_key(root, state, old)
        state = EncryptionState(key_id=new.id, key_ids=(old.id, new.id), phase="rotating", retired=state.retired)
        write_state(root, state)
    elif old.id not in state.key_ids:
        check_key(root, state, old)
    converted, skipped = _convert(_store(root, artifacts, ArtifactCipher(new, also=[old])), new, on_file)
    write_state(root, EncryptionState(key_id=new.id, key_ids=(new.id,), retired=(*state.retired, old.id)))
    return EncryptionPass(new.id, converted, skipped, retired=old.id)


def _convert(store: ArtifactStore, key: EncryptionKey,
             on_file: Callable[[str], None] | None) -> tuple[int, int]:
    """Seal every file not yet under ``key``; passes repeat until one finds nothing left (a file another
    process wrote during a pass, under the old key or none, is caught by the next). (converted, skipped)"""
    converted = 0
    while True:
        files = found = 0
        for digest in store.digests():
            files += 1
            if store.key_id(digest) == key.id:
                continue
            _reseal(store, digest, key)
            found += 1
            if on_file is not None:
                on_file(digest)
        converted += found
        if not found:
            return converted, files - converted


def _reseal(store: ArtifactStore, digest: str, key: EncryptionKey) -> None:
    """Decrypt (or read) and verify the artifact, then replace its file by one sealed with ``key``."""
    try:
        plaintext = store.get_bytes(digest)
    except EncryptionError:
        raise
    except ArtifactError as exc:
        exc.hint = (exc.hint or "") + "; the pass stopped before this file, and resumes after it is fixed"
        raise
    store.replace_raw(digest, ArtifactCipher(key).seal(digest, plaintext))
