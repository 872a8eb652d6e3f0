"""Content-addressed artifact store: bytes named by their SHA-256, written atomically, verified on read.

With a cipher the files hold AES-256-GCM ciphertext (``_crypto.py``); the address stays the SHA-256 of
the plaintext, so caching and dedupe work the same, and the hash is checked after decryption.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from aiforge.errors import ArtifactError
from aiforge.workspace._crypto import HEADER_BYTES, ArtifactCipher, no_key_error, sealed_key_id

__all__ = ["ArtifactStore"]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class ArtifactStore:
    """A folder of immutable blobs, ``ab/cdef…`` by SHA-256.

    >>> import tempfile; store = ArtifactStore(Path(tempfile.mkdtemp()))
    >>> digest = store.put_bytes(b"hello")
    >>> store.get_bytes(digest)
    b'hello'
    """

    def __init__(self, root: Path, cipher: ArtifactCipher | None = None) -> None:
        """``cipher``: encrypt what is written and decrypt what is read (None: plaintext files;
        reading an encrypted file then fails with an error that asks for the key)."""
        self.root = root
        self.cipher = cipher

    def path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise ArtifactError(
                "not an artifact address", expected="64 lower-case hex digits", found=repr(digest)
            )
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._write_atomically(digest, [self.cipher.seal(digest, data) if self.cipher else data])
        return digest

    def put_file(self, source: Path) -> str:
        """Copy a file into the store (streamed; read whole when encrypting), returning its digest."""
        if self.cipher is not None:
            return self.put_bytes(source.read_bytes())
        h = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        digest = h.hexdigest()
        if not self.exists(digest):
            with open(source, "rb") as fh:
                self._write_atomically(digest, iter(lambda: fh.read(_CHUNK), b""))
        return digest

    def move_file(self, source: Path) -> str:
        """Move a file the caller wrote (and will not use again) into the store, returning its digest: hashed
        once, then renamed into place where ``source`` is on the store's file system (no copy), copied
        otherwise; encrypted like ``put_file`` with a cipher. ``source`` is gone afterwards."""
        if self.cipher is not None:
            digest = self.put_bytes(source.read_bytes())
            source.unlink()
            return digest
        h = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
            digest = h.hexdigest()
            if self.exists(digest):
                source.unlink()
                return digest
            os.fsync(fh.fileno())
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:  # another file system: copy it in, as put_file does
            self.put_file(source)
            source.unlink()
            return digest
        _fsync_dir(target.parent)
        return digest

    def incoming(self) -> Path:
        """A private folder on the store's file system for files about to be moved in (``move_file``)."""
        folder = self.root / ".incoming"
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=folder))

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``digest``."""
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"artifact {digest[:12]} is missing from the store",
                where=str(path),
                hint="the workspace was edited by hand or partially copied; rerun with --force",
            ) from exc
        key_id = sealed_key_id(data)
        if key_id is not None:
            if self.cipher is None:
                raise no_key_error(digest, key_id, str(path))
            data = self.cipher.open(digest, data, where=str(path))
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactError(
                f"artifact {digest[:12]} is corrupt: its bytes no longer match their hash",
                where=str(path),
                expected=digest,
                found=actual,
                hint="delete the file and rerun with --force to rebuild it",
            )
        return data

    def verified_path(self, digest: str) -> Path:
        """The blob's path, after verifying its hash (in an encrypted store the file holds ciphertext:
        read it through ``get_bytes``)."""
        self.get_bytes(digest)
        return self.path(digest)

    def digests(self) -> Iterator[str]:
        """Every artifact address in the store (in-flight temporary files left out)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for file in sorted(folder.iterdir()):
                    digest = folder.name + file.name
                    if _DIGEST.fullmatch(digest) and file.is_file():
                        yield digest

    def key_id(self, digest: str) -> str | None:
        """The id of the key that encrypted the artifact, or None when it is stored in plaintext."""
        with open(self.path(digest), "rb") as fh:
            return sealed_key_id(fh.read(HEADER_BYTES))

    def replace_raw(self, digest: str, blob: bytes) -> None:
        """Replace the stored file of ``digest`` by ``blob`` atomically (re-encryption; no checks here)."""
        self._write_atomically(digest, [blob])

    def _write_atomically(self, digest: str, chunks: Iterable[bytes]) -> None:
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
