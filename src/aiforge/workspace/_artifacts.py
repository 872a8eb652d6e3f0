"""Content-addressed artifact store: bytes named by their SHA-256, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from aiforge.errors import ArtifactError

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

    def __init__(self, root: Path) -> None:
        self.root = root

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
            self._write_atomically(digest, [data])
        return digest

    def put_file(self, source: Path) -> str:
        """Copy a file into the store (streamed), returning its digest."""
        h = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        digest = h.hexdigest()
        if not self.exists(digest):
            with open(source, "rb") as fh:
                self._write_atomically(digest, iter(lambda: fh.read(_CHUNK), b""))
        return digest

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
        """A path to the blob for libraries that read files, after verifying its hash."""
        self.get_bytes(digest)
        return self.path(digest)

    def _write_atomically(self, digest: str, chunks: object) -> None:
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:  # type: ignore[attr-defined]
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
