"""Content-addressed artifact store: bytes named by their SHA-256, written atomically, verified on read.

With a cipher the files hold AES-256-GCM ciphertext (``_crypto.py``); the address stays the SHA-256 of
the plaintext, so caching and dedupe work the same, and the hash is checked after decryption.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiforge.errors import ArtifactError
from aiforge.workspace._crypto import HEADER_BYTES, ArtifactCipher, no_key_error, sealed_key_id
from aiforge.workspace._storage import BlobStorage, LocalFolder, blob_storage

__all__ = ["ArtifactStore"]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class ArtifactStore:
    """Immutable blobs, ``ab/cdef…`` by SHA-256, in a local folder or in object storage.

    >>> import tempfile; store = ArtifactStore(Path(tempfile.mkdtemp()))
    >>> digest = store.put_bytes(b"hello")
    >>> store.get_bytes(digest)
    b'hello'
    """

    def __init__(self, root: Path | BlobStorage, cipher: ArtifactCipher | None = None) -> None:
        """``root``: the local folder (or a ``BlobStorage``, see ``at``); ``cipher``: encrypt what is written and
        decrypt what is read (None: plaintext; reading an encrypted blob then fails with an error that asks for the
        key)."""
        self.storage: BlobStorage = LocalFolder(root) if isinstance(root, Path) else root
        self.cipher = cipher

    @classmethod
    def at(cls, location: str | Path, cipher: ArtifactCipher | None = None, *,
           options: Mapping[str, Any] | None = None, cache: Path | None = None) -> ArtifactStore:
        """The store at a local folder or an fsspec URL (``s3://bucket/prefix``, opened with ``options``; reads
        cached in the local folder ``cache``)."""
        return cls(blob_storage(location, options=options, cache=cache), cipher)

    def with_cipher(self, cipher: ArtifactCipher | None) -> ArtifactStore:
        """The same blobs read and written with another cipher (the encryption passes)."""
        return ArtifactStore(self.storage, cipher)

    @property
    def location(self) -> str:
        """The folder or URL the blobs are in."""
        return self.storage.location

    @property
    def root(self) -> Path:
        """The local folder of the blobs (a store in object storage has none: use ``location``)."""
        if not isinstance(self.storage, LocalFolder):
            raise ArtifactError("the artifact store is not a local folder", where=self.location,
                                hint="read artifacts through get_bytes, not their files")
        return self.storage.root

    def path(self, digest: str) -> Path:
        """The local file of a blob (a store in object storage has none: use ``get_bytes``)."""
        return self.root / _name(digest)

    def where(self, digest: str) -> str:
        """The blob's path or URL, for messages."""
        return self.storage.where(_name(digest))

    def exists(self, digest: str) -> bool:
        return self.storage.exists(_name(digest))

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._write_atomically(digest, [self.cipher.seal(digest, data) if self.cipher else data])
        return digest

    def put_file(self, source: Path) -> str:
        """Copy a file into the store (streamed; read whole when encrypting), returning its digest."""
        return self._put_file(source, move=False)

    def move_file(self, source: Path, *, digest: str | None = None) -> str:
        """Move a file the caller wrote (and will not use again) into the store, returning its digest: hashed
        once, then renamed into place where ``source`` is on the store's file system (no copy), copied (or
        uploaded) otherwise; encrypted like ``put_file`` with a cipher. ``source`` is gone afterwards.
        ``digest``: the SHA-256 of the file's bytes where the caller hashed it already (beside other work), so
        that it is not read again; reads verify it as always."""
        return self._put_file(source, move=True, digest=digest)

    def _put_file(self, source: Path, *, move: bool, digest: str | None = None) -> str:
        if self.cipher is not None:
            digest = self.put_bytes(source.read_bytes())
        else:
            if digest is None:
                h = hashlib.sha256()
                with open(source, "rb") as fh:
                    for chunk in iter(lambda: fh.read(_CHUNK), b""):
                        h.update(chunk)
                digest = h.hexdigest()
            if not self.exists(digest):
                self.storage.write_file(_name(digest), source, move=move)
        if move:
            source.unlink(missing_ok=True)
        return digest

    def incoming(self) -> Path:
        """A private local folder for files about to be moved in (``move_file``): on the store's file system
        for a local store, so that moving is a rename."""
        return self.storage.incoming()

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``digest`` (a cached copy that fails the check is
        dropped and the stored blob read again)."""
        try:
            return self._verified(digest)
        except ArtifactError:
            if isinstance(self.storage, LocalFolder):
                raise
            self.storage.forget(_name(digest))
            return self._verified(digest)

    def _verified(self, digest: str) -> bytes:
        name, where = _name(digest), self.where(digest)
        try:
            data = self.storage.read(name)
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"artifact {digest[:12]} is missing from the store",
                where=where,
                hint="the workspace was edited by hand or partially copied; rerun with --force",
            ) from exc
        key_id = sealed_key_id(data)
        if key_id is not None:
            if self.cipher is None:
                raise no_key_error(digest, key_id, where)
            data = self.cipher.open(digest, data, where=where)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactError(
                f"artifact {digest[:12]} is corrupt: its bytes no longer match their hash",
                where=where,
                expected=digest,
                found=actual,
                hint="delete the file (or object) and rerun with --force to rebuild it",
            )
        return data

    def verify(self, digest: str) -> None:
        """Check that the blob is there and still hashes to ``digest`` (raises ArtifactError otherwise)."""
        self.get_bytes(digest)

    def verified_path(self, digest: str) -> Path:
        """The blob's local file, after verifying its hash (in an encrypted store the file holds ciphertext:
        read it through ``get_bytes``)."""
        self.verify(digest)
        return self.path(digest)

    def digests(self) -> Iterator[str]:
        """Every artifact address in the store (in-flight temporary files left out)."""
        for name in self.storage.names():
            digest = name.replace("/", "")
            if _DIGEST.fullmatch(digest):
                yield digest

    def key_id(self, digest: str) -> str | None:
        """The id of the key that encrypted the artifact, or None when it is stored in plaintext."""
        return sealed_key_id(self.storage.read_head(_name(digest), HEADER_BYTES))

    def replace_raw(self, digest: str, blob: bytes) -> None:
        """Replace the stored blob of ``digest`` by ``blob`` atomically (re-encryption; no checks here)."""
        self._write_atomically(digest, [blob])

    def _write_atomically(self, digest: str, chunks: Iterable[bytes]) -> None:
        self.storage.write(_name(digest), chunks)

    def delete(self, digest: str) -> bool:
        """Remove the blob (an erasure's purge); whether there was one."""
        return self.storage.delete(_name(digest))


def _name(digest: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise ArtifactError(
            "not an artifact address", expected="64 lower-case hex digits", found=repr(digest)
        )
    return f"{digest[:2]}/{digest[2:]}"
