"""Encryption at rest of artifacts: AES-256-GCM, one random nonce per file, keys named by an id.

A sealed artifact file is ``MAGIC | version | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The associated data is the header's first 16 bytes plus the artifact's address (the SHA-256 of the
plaintext), so a file moved to another address, or relabelled with another key id, fails its tag.
The key id is derived from the key (a hash, not the key), so a wrong key is named before any
decryption is tried. ``cryptography`` is imported only when a file is sealed or opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiforge.errors import ArtifactError, WorkspaceError

__all__ = ["ArtifactCipher", "EncryptionError", "EncryptionKey", "sealed_key_id"]

MAGIC = b"AIFGENC"
FORMAT_VERSION = 1
_ID_BYTES = 8
_NONCE_BYTES = 12
_PREFIX = len(MAGIC) + 1 + _ID_BYTES  # what the associated data binds: magic, version, key id
HEADER_BYTES = _PREFIX + _NONCE_BYTES
_MAX_PLAINTEXT = 2**31 - 1  # one AES-GCM call (cryptography's limit)
KEY_HINT = ("set AIFORGE_ENCRYPTION_KEY_FILE to the key file (or AIFORGE_ENCRYPTION_KEY to the base64 key); "
            "'aiforge encryption status' shows which key id the workspace expects")


class EncryptionError(WorkspaceError):
    """An encryption key is missing, malformed, unsafe, or not the one the workspace was encrypted with."""

    code = "encryption"


@dataclass(frozen=True)
class EncryptionKey:
    """A 256-bit data key and where it came from (the secret never appears in a repr).

    >>> key = EncryptionKey.generate()
    >>> EncryptionKey.from_text(key.to_text(), source="test").id == key.id
    True
    """

    secret: bytes = field(repr=False)
    source: str = "generated"

    @property
    def id(self) -> str:
        """16 hex digits that name the key without revealing it."""
        return self._id_bytes.hex()

    @property
    def _id_bytes(self) -> bytes:
        return hashlib.sha256(b"aiforge-encryption-key-id\0" + self.secret).digest()[:_ID_BYTES]

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(os.urandom(32))

    def to_text(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")

    @classmethod
    def from_text(cls, text: str, *, source: str) -> EncryptionKey:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EncryptionError(
                "the encryption key is not valid base64", where=source,
                expected="the base64 text of 32 random bytes (44 characters)",
                found=f"{len(text.strip())} characters", hint="generate one with 'aiforge encryption init'",
            ) from exc
        if len(secret) != 32:
            raise EncryptionError(
                "the encryption key has the wrong length", where=source,
                expected="32 bytes (AES-256), base64-encoded", found=f"{len(secret)} bytes",
                hint="generate one with 'aiforge encryption init'",
            )
        return cls(secret, source)

    @classmethod
    def from_file(cls, path: Path) -> EncryptionKey:
        """Read a key file; one that other users may read is refused (as ssh refuses such a private key)."""
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii")
        except FileNotFoundError as exc:
            raise EncryptionError("the encryption key file does not exist", where=str(path),
                                  hint="check AIFORGE_ENCRYPTION_KEY_FILE; create a key with "
                                  "'aiforge encryption init --key-file FILE'") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise EncryptionError(f"the encryption key file cannot be read: {exc}", where=str(path)) from exc
        if os.name == "posix" and mode & (stat.S_IROTH | stat.S_IWOTH):
            raise EncryptionError(
                "the encryption key file is readable or writable by every user, so it is refused",
                where=str(path), expected="permissions 0600 (owner only) or 0640",
                found=f"permissions {stat.S_IMODE(mode):04o}", hint=f"chmod 600 {path}",
            )
        return cls.from_text(text, source=str(path))

    def write_file(self, path: Path) -> None:
        """Write the key to a new file, owner-only (0600) from its creation; an existing file is kept."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise EncryptionError("the key file already exists; it is not overwritten", where=str(path),
                                  hint="choose a new file name (a key that was overwritten cannot be recovered)"
                                  ) from exc
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(self.to_text() + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def sealed_key_id(head: bytes) -> str | None:
    """The key id of a sealed file from its first bytes, or None for a plaintext file."""
    if len(head) >= _PREFIX and head.startswith(MAGIC):
        return head[len(MAGIC) + 1:_PREFIX].hex()
    return None


class ArtifactCipher:
    """Seals new artifacts with ``key``; opens those sealed with it or with any of ``also``."""

    def __init__(self, key: EncryptionKey, also: Iterable[EncryptionKey] = ()) -> None:
        self.key = key
        self._keys = {k.id: k for k in (key, *also)}

    def seal(self, digest: str, plaintext: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(plaintext) > _MAX_PLAINTEXT:
            raise EncryptionError(
                "an artifact is too large to encrypt in one piece", expected="at most 2 GiB",
                found=f"{len(plaintext):,} bytes", hint="store it in an unencrypted workspace, or split it",
            )
        prefix = MAGIC + bytes([FORMAT_VERSION]) + self.key._id_bytes
        nonce = os.urandom(_NONCE_BYTES)
        return prefix + nonce + AESGCM(self.key.secret).encrypt(nonce, plaintext, prefix + digest.encode())

    def open(self, digest: str, blob: bytes, *, where: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key_id = sealed_key_id(blob)
        if blob[len(MAGIC)] != FORMAT_VERSION or len(blob) < HEADER_BYTES + 16:
            raise ArtifactError(f"artifact {digest[:12]} has an unknown encryption format or is cut short",
                                where=where, expected=f"format {FORMAT_VERSION}, at least {HEADER_BYTES + 16} bytes",
                                found=f"format {blob[len(MAGIC)]}, {len(blob)} bytes",
                                hint="a newer aiforge wrote it, or it was truncated; restore it from a backup")
        key = self._keys.get(key_id or "")
        if key is None:
            raise EncryptionError(
                f"artifact {digest[:12]} is encrypted with another key than the one given", where=where,
                expected=f"the key with id {key_id}", found=f"key id {', '.join(self._keys)}", hint=KEY_HINT,
            )
        try:
            return AESGCM(key.secret).decrypt(blob[_PREFIX:HEADER_BYTES], blob[HEADER_BYTES:],
                                              blob[:_PREFIX] + digest.encode())
        except InvalidTag as exc:
            raise ArtifactError(
                f"artifact {digest[:12]} failed its authenticity check: the encrypted file was modified, "
                "or moved here from another address", where=where, expected=f"a file sealed for {digest[:12]}",
                hint="restore the file from a backup, or delete it and rerun with --force to rebuild it",
            ) from exc


def no_key_error(digest: str, key_id: str, where: str) -> EncryptionError:
    return EncryptionError(f"artifact {digest[:12]} is encrypted and no encryption key was given",
                           where=where, expected=f"the key with id {key_id}", hint=KEY_HINT)
