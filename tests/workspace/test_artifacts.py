"""The artifact store: content addressing, atomic writes, verified reads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiforge.errors import ArtifactError
from aiforge.workspace import ArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _temp_files(root: Path) -> list[Path]:
    return [p for p in _all_files(root) if p.name.startswith(".tmp-")]


def test_digest_is_the_sha256_of_the_bytes_and_names_the_file(store: ArtifactStore) -> None:
    data = b"a model, or a snapshot"
    digest = store.put_bytes(data)

    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == store.root / digest[:2] / digest[2:]
    assert store.path(digest).read_bytes() == data
    assert store.exists(digest)
    assert store.get_bytes(digest) == data


def test_empty_bytes_are_a_valid_artifact(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"")

    assert digest == hashlib.sha256(b"").hexdigest()
    assert store.get_bytes(digest) == b""


def test_putting_the_same_bytes_twice_stores_one_file_and_does_not_rewrite_it(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same")
    stat_before = store.path(first).stat()

    second = store.put_bytes(b"same")

    assert second == first
    assert _all_files(store.root) == [store.path(first)]
    stat_after = store.path(first).stat()
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (stat_before.st_ino, stat_before.st_mtime_ns)


def test_different_bytes_get_different_addresses(store: ArtifactStore) -> None:
    assert store.put_bytes(b"one") != store.put_bytes(b"two")
    assert len(_all_files(store.root)) == 2


def test_put_file_streams_a_large_file_to_the_same_address_as_put_bytes(tmp_path: Path) -> None:
    data = os.urandom(2 * (1 << 20) + 12345)  # more than two read chunks
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    by_file = ArtifactStore(tmp_path / "a")
    by_bytes = ArtifactStore(tmp_path / "b")

    digest = by_file.put_file(source)

    assert digest == by_bytes.put_bytes(data) == hashlib.sha256(data).hexdigest()
    assert by_file.get_bytes(digest) == data
    assert by_file.put_file(source) == digest  # idempotent too
    assert _all_files(by_file.root) == [by_file.path(digest)]


def test_put_file_of_bytes_already_stored_reuses_them(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"shared content")
    source = tmp_path / "copy.txt"
    source.write_bytes(b"shared content")

    assert store.put_file(source) == digest
    assert _all_files(store.root) == [store.path(digest)]


def test_a_flipped_byte_is_detected_on_read(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"important bytes" * 100)
    path = store.path(digest)
    raw = bytearray(path.read_bytes())
    raw[17] ^= 0x01
    path.write_bytes(bytes(raw))

    with pytest.raises(ArtifactError, match=rf"artifact {digest[:12]} is corrupt") as info:
        store.get_bytes(digest)
    assert info.value.expected == digest
    assert info.value.found == hashlib.sha256(bytes(raw)).hexdigest()
    assert info.value.where == str(path)
    assert digest in str(info.value)
    with pytest.raises(ArtifactError, match="corrupt"):
        store.verified_path(digest)


def test_a_truncated_file_is_detected_on_read(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"0123456789")
    store.path(digest).write_bytes(b"01234")

    with pytest.raises(ArtifactError, match="corrupt"):
        store.get_bytes(digest)


def test_a_missing_artifact_is_an_artifact_error(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match=rf"artifact {digest[:12]} is missing from the store") as info:
        store.get_bytes(digest)
    assert info.value.where == str(store.path(digest))
    with pytest.raises(ArtifactError, match="missing"):
        store.verified_path(digest)


def test_a_deleted_artifact_is_missing(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"soon gone")
    store.path(digest).unlink()

    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match="missing"):
        store.get_bytes(digest)


def test_verified_path_points_at_the_blob(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"for a library that reads files")

    path = store.verified_path(digest)

    assert path == store.path(digest)
    assert path.read_bytes() == b"for a library that reads files"


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "abc",
        "A" * 64,  # upper case
        "g" * 64,  # not hex
        "a" * 63,
        "a" * 65,
        "../" + "a" * 61,
        "a" * 64 + "\n",  # '$' would match before a final newline
        " " + "a" * 63,
    ],
)
def test_a_string_that_is_not_a_digest_is_rejected(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(ArtifactError, match="not an artifact address") as info:
        store.path(digest)
    assert info.value.expected == "64 lower-case hex digits"
    assert info.value.found == repr(digest)
    with pytest.raises(ArtifactError, match="not an artifact address"):
        store.get_bytes(digest)
    with pytest.raises(ArtifactError, match="not an artifact address"):
        store.exists(digest)


def test_writes_leave_no_temp_files(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"x" * 5000)
    for i in range(5):
        store.put_bytes(f"blob {i}".encode())
    store.put_file(source)
    store.put_bytes(b"blob 0")

    assert _temp_files(store.root) == []
    assert len(_all_files(store.root)) == 6


def test_put_file_on_a_folder_raises_and_leaves_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()

    with pytest.raises(IsADirectoryError):
        store.put_file(folder)

    assert _all_files(store.root) == []


def test_put_file_on_a_missing_path_raises_and_leaves_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "nope.bin")

    assert _all_files(store.root) == []


def test_a_write_that_fails_midway_removes_its_temp_file(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"first half" + b"second half").hexdigest()

    def chunks() -> Iterator[bytes]:
        yield b"first half"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        store._write_atomically(digest, chunks())

    assert _temp_files(store.root) == []
    assert not store.exists(digest)
    assert _all_files(store.root) == []


def test_an_interrupted_write_removes_its_temp_file(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never finished").hexdigest()

    def chunks() -> Iterator[bytes]:
        yield b"never"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store._write_atomically(digest, chunks())

    assert _all_files(store.root) == []


def test_move_file_renames_a_file_into_the_store_without_copying_it(store: ArtifactStore) -> None:
    source = store.incoming() / "snapshot.parquet"
    source.write_bytes(b"parquet bytes" * 1000)
    inode = source.stat().st_ino

    digest = store.move_file(source)

    assert digest == hashlib.sha256(b"parquet bytes" * 1000).hexdigest()
    assert not source.exists()
    assert store.path(digest).stat().st_ino == inode  # the same file, renamed
    assert store.get_bytes(digest) == b"parquet bytes" * 1000
    assert list(store.digests()) == [digest]  # the incoming folder is not an artifact


def test_move_file_takes_a_digest_the_caller_computed_and_reads_still_verify_it(store: ArtifactStore) -> None:
    source = store.incoming() / "snapshot.parquet"
    source.write_bytes(b"hashed beside other work")
    digest = hashlib.sha256(b"hashed beside other work").hexdigest()

    assert store.move_file(source, digest=digest) == digest
    assert not source.exists() and store.get_bytes(digest) == b"hashed beside other work"

    wrong = store.incoming() / "wrong.parquet"
    wrong.write_bytes(b"other bytes")
    named = store.move_file(wrong, digest="0" * 64)  # a caller's mistake is caught where the blob is read
    with pytest.raises(ArtifactError):
        store.get_bytes(named)


def test_move_file_of_bytes_already_stored_drops_the_source(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"same")
    source = tmp_path / "again"
    source.write_bytes(b"same")
    before = store.path(digest).stat().st_ino

    assert store.move_file(source) == digest
    assert not source.exists()
    assert store.path(digest).stat().st_ino == before
