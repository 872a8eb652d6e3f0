"""Where an artifact store's blobs physically live: a local folder, or object storage through fsspec.

Both hold a blob under its relative name (``ab/cdef…``) and make each write atomic: the local folder by a
temporary file renamed into place, object storage by a single PUT (or a multipart upload, which S3 shows only
once it is complete), so a reader never sees a partial blob. Hashing, encryption and verification are the
artifact store's (``_artifacts.py``), the same over either.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiforge.errors import ArtifactError, MissingDependency, WorkspaceError

__all__ = ["BlobStorage", "LocalFolder", "ObjectFolder", "blob_storage", "is_object_url"]

_CHUNK = 1 << 20
_LOCAL_SCHEMES = ("", "file")


class BlobStorage(Protocol):
    """Immutable named blobs; every write is atomic (a reader sees the whole blob or none)."""

    @property
    def location(self) -> str: ...  # the folder or URL, for messages

    def where(self, name: str) -> str: ...  # one blob's path or URL, for messages

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...  # FileNotFoundError when missing

    def read_head(self, name: str, size: int) -> bytes: ...

    def write(self, name: str, chunks: Iterable[bytes]) -> None: ...

    def write_file(self, name: str, source: Path, *, move: bool) -> None: ...

    def names(self) -> Iterator[str]: ...  # every blob's name, in-flight temporary files left out

    def delete(self, name: str) -> bool: ...  # whether there was one

    def forget(self, name: str) -> None: ...  # drop any local copy, so the next read fetches the stored blob

    def incoming(self) -> Path: ...  # a private local folder for files about to be written with move=True


def is_object_url(location: str | Path) -> bool:
    """Whether ``location`` names object storage (``s3://…``, ``gs://…``, ``memory://…``), not a local folder."""
    if isinstance(location, Path):
        return False
    scheme = urlsplit(location).scheme
    return scheme not in _LOCAL_SCHEMES and not (len(scheme) == 1 and os.name == "nt")  # C:\ is a drive


def blob_storage(location: str | Path, *, options: Mapping[str, Any] | None = None,
                 cache: Path | None = None) -> BlobStorage:
    """The storage at ``location``: a local folder (a path or ``file://``), else an fsspec URL opened with
    ``options`` (e.g. ``endpoint_url`` for an S3-compatible server), reads cached in ``cache``."""
    if not is_object_url(location):
        text = str(location)
        return LocalFolder(Path(text.removeprefix("file://")).expanduser().absolute())
    # listings never cached: other processes add and delete objects (a stale listing would say a deleted one exists)
    return ObjectFolder(str(location), {"use_listings_cache": False, **(options or {})}, cache)


class LocalFolder:
    """Blobs as files of a folder, written to a temporary file and renamed into place (fsync'd)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def path(self, name: str) -> Path:
        return self.root / name

    def where(self, name: str) -> str:
        return str(self.path(name))

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def read_head(self, name: str, size: int) -> bytes:
        with open(self.path(name), "rb") as fh:
            return fh.read(size)

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        target = self.path(name)
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

    def write_file(self, name: str, source: Path, *, move: bool) -> None:
        if move:
            with open(source, "rb") as fh:
                os.fsync(fh.fileno())
            target = self.path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, target)
                _fsync_dir(target.parent)
                return
            except OSError:  # another file system: copy it in, then drop the source
                pass
        with open(source, "rb") as fh:
            self.write(name, iter(lambda: fh.read(_CHUNK), b""))
        if move:
            source.unlink()

    def names(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for file in sorted(folder.iterdir()):
                    if file.is_file() and not file.name.startswith("."):
                        yield f"{folder.name}/{file.name}"

    def delete(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def forget(self, name: str) -> None:
        """Nothing to drop: the folder is the store itself."""

    def incoming(self) -> Path:
        folder = self.root / ".incoming"
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=folder))


class ObjectFolder:
    """Blobs as objects under a URL prefix (``s3://bucket/prefix``), through fsspec.

    Each blob is written with one call (a PUT, or a multipart upload that the server shows only when it is
    complete): no partial object is ever visible at a blob's name. Reads are kept in ``cache`` (a local folder;
    the stored bytes, so ciphertext in an encrypted store); a cached copy is used only while the object still
    exists (one HEAD request), and the artifact store verifies its hash like any read.
    """

    def __init__(self, url: str, options: dict[str, Any], cache: Path | None) -> None:
        self.url = url.rstrip("/")
        self.cache = cache
        protocol = urlsplit(url).scheme
        try:
            import fsspec

            self.fs = fsspec.filesystem(protocol, **options)
        except ImportError as exc:
            extra = {"s3": "s3", "s3a": "s3"}.get(protocol)
            raise MissingDependency(
                f"artifacts at '{url}' need the fsspec driver for '{protocol}://', which is not installed",
                found=str(exc), hint=f"pip install 'aiforge[{extra}]'" if extra else
                "install the fsspec implementation of that protocol (see fsspec's list of known implementations)",
            ) from exc
        except ValueError as exc:  # fsspec: unknown protocol
            raise WorkspaceError("the artifact store's URL names an unknown storage protocol", where=url,
                                 expected="a local folder or an fsspec URL such as s3://bucket/prefix",
                                 found=str(exc)) from exc
        self._root = self.fs._strip_protocol(self.url)  # bucket/prefix, as the file system names it

    @property
    def location(self) -> str:
        return self.url

    def where(self, name: str) -> str:
        return f"{self.url}/{name}"

    def _key(self, name: str) -> str:
        return f"{self._root}/{name}"

    def exists(self, name: str) -> bool:
        return bool(self._call(name, lambda: self.fs.exists(self._key(name))))

    def read(self, name: str) -> bytes:
        cache = self.cache
        cached = cache / name if cache is not None else None
        if cached is not None and cached.is_file():
            if self.exists(name):  # not served once the object is gone (an erasure)
                return cached.read_bytes()
            cached.unlink(missing_ok=True)
            raise FileNotFoundError(self.where(name))
        data: bytes = self._call(name, lambda: self.fs.cat_file(self._key(name)))
        if cache is not None:
            LocalFolder(cache).write(name, [data])
        return data

    def read_head(self, name: str, size: int) -> bytes:
        head: bytes = self._call(name, lambda: self.fs.cat_file(self._key(name), start=0, end=size))
        return head

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        data = b"".join(chunks)
        self._call(name, lambda: self.fs.pipe_file(self._key(name), data))
        self.forget(name)

    def write_file(self, name: str, source: Path, *, move: bool) -> None:
        self._call(name, lambda: self.fs.put_file(str(source), self._key(name)))
        self.forget(name)
        if move:
            source.unlink()

    def names(self) -> Iterator[str]:
        try:
            found = self._call("", lambda: self.fs.find(self._root))
        except FileNotFoundError:
            return
        prefix = self._root + "/"
        for key in sorted(found):
            name = key.removeprefix(prefix)
            folder, _, file = name.partition("/")
            if len(folder) == 2 and file and "/" not in file and not file.startswith("."):
                yield name

    def delete(self, name: str) -> bool:
        self.forget(name)
        if not self.exists(name):  # S3 answers a DELETE of a missing key with success
            return False
        try:
            self._call(name, lambda: self.fs.rm_file(self._key(name)))
        except FileNotFoundError:
            return False
        return True

    def forget(self, name: str) -> None:
        if self.cache is not None:
            (self.cache / name).unlink(missing_ok=True)

    def incoming(self) -> Path:
        base = self.cache / ".incoming" if self.cache is not None else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="aiforge-incoming-", dir=base))

    def _call(self, name: str, call: Any) -> Any:
        """``call()``, its storage errors (other than a missing object: FileNotFoundError) said as an ArtifactError
        naming the URL."""
        try:
            return call()
        except FileNotFoundError as exc:
            if "bucket" in str(exc).lower():  # s3fs says a missing bucket as a missing file too
                raise _storage_error(self.url, exc) from exc
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            raise _storage_error(self.where(name) if name else self.url, exc) from exc
        except Exception as exc:  # botocore's and aiohttp's own errors are not OSErrors
            if type(exc).__module__.split(".")[0] in ("botocore", "aiobotocore", "aiohttp"):
                raise _storage_error(self.where(name) if name else self.url, exc) from exc
            raise


def _storage_error(where: str, exc: BaseException) -> ArtifactError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ArtifactError(
        "the artifact store cannot be reached or refused the request", where=where, found=f"{type(exc).__name__}: "
        f"{text}", hint="check AIFORGE_ARTIFACTS_URL (the bucket must exist), AIFORGE_S3_ENDPOINT_URL and the "
        "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE)",
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

