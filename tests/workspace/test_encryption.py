"""Encryption at rest: sealed artifacts, keys and their checks, enable and rotate passes that resume."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from aiforge.errors import ArtifactError
from aiforge.workspace import (
    ArtifactCipher,
    ArtifactStore,
    EncryptionError,
    EncryptionKey,
    Workspace,
    WorkspaceSettings,
    enable_encryption,
    encryption_status,
    rotate_encryption,
)

PLAIN = b"age,sex,income\n39,Male,>50K\n" * 50


@pytest.fixture
def key() -> EncryptionKey:
    return EncryptionKey.generate()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _settings(root: Path, key: EncryptionKey | None) -> WorkspaceSettings:
    return WorkspaceSettings(root=root, encryption_key=key.to_text() if key else None)


def _plain_workspace(root: Path, n: int = 5) -> list[str]:
    ws = Workspace.open(WorkspaceSettings(root=root))
    digests = [ws.artifacts.put_bytes(PLAIN + bytes([i])) for i in range(n)]
    ws.close()
    return digests


class Crash(Exception):
    pass


def _crash_after(n: int):  # noqa: ANN202
    seen: list[str] = []

    def hook(digest: str) -> None:
        seen.append(digest)
        if len(seen) == n:
            raise Crash(digest)

    return hook


# -- the sealed file ---------------------------------------------------------------------------------


def test_round_trip_keeps_the_plaintext_address_and_hides_the_bytes(tmp_path: Path, key: EncryptionKey) -> None:
    store = ArtifactStore(tmp_path / "a", ArtifactCipher(key))
    digest = store.put_bytes(PLAIN)

    assert digest == hashlib.sha256(PLAIN).hexdigest()
    raw = store.path(digest).read_bytes()
    assert b"income" not in raw and b"Male" not in raw and raw.startswith(b"AIFGENC\x01")
    assert store.key_id(digest) == key.id
    assert store.get_bytes(digest) == PLAIN
    assert store.put_bytes(PLAIN) == digest and len(_files(tmp_path / "a")) == 1  # dedupe still works
    source = tmp_path / "model.bin"
    source.write_bytes(PLAIN * 3)
    assert store.get_bytes(store.put_file(source)) == PLAIN * 3
    assert b"income" not in store.path(hashlib.sha256(PLAIN * 3).hexdigest()).read_bytes()


def test_the_same_plaintext_is_sealed_with_a_fresh_nonce(tmp_path: Path, key: EncryptionKey) -> None:
    cipher = ArtifactCipher(key)
    digest = hashlib.sha256(PLAIN).hexdigest()
    assert cipher.seal(digest, PLAIN) != cipher.seal(digest, PLAIN)


def test_tampered_ciphertext_is_detected(tmp_path: Path, key: EncryptionKey) -> None:
    store = ArtifactStore(tmp_path / "a", ArtifactCipher(key))
    digest = store.put_bytes(PLAIN)
    path = store.path(digest)
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="failed its authenticity check") as info:
        store.get_bytes(digest)
    assert "hash" not in info.value.message


def test_a_sealed_file_moved_to_another_address_is_detected(tmp_path: Path, key: EncryptionKey) -> None:
    store = ArtifactStore(tmp_path / "a", ArtifactCipher(key))
    a, b = store.put_bytes(b"model A"), store.put_bytes(b"model B")
    shutil.copyfile(store.path(a), store.path(b))
    with pytest.raises(ArtifactError, match="moved here from another address"):
        store.get_bytes(b)


def test_reading_without_or_with_a_wrong_key_names_the_key(tmp_path: Path, key: EncryptionKey) -> None:
    digest = ArtifactStore(tmp_path / "a", ArtifactCipher(key)).put_bytes(PLAIN)
    with pytest.raises(EncryptionError, match="is encrypted and no encryption key was given") as info:
        ArtifactStore(tmp_path / "a").get_bytes(digest)
    assert key.id in (info.value.expected or "")
    other = EncryptionKey.generate()
    with pytest.raises(EncryptionError, match="encrypted with another key") as info:
        ArtifactStore(tmp_path / "a", ArtifactCipher(other)).get_bytes(digest)
    assert key.id in (info.value.expected or "") and other.id in (info.value.found or "")


# -- keys --------------------------------------------------------------------------------------------


def test_key_file_is_written_owner_only_and_never_overwritten(tmp_path: Path, key: EncryptionKey) -> None:
    path = tmp_path / "key"
    key.write_file(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert EncryptionKey.from_file(path).id == key.id
    with pytest.raises(EncryptionError, match="already exists"):
        EncryptionKey.generate().write_file(path)
    assert EncryptionKey.from_file(path).id == key.id


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_world_readable_key_file_is_refused(tmp_path: Path, key: EncryptionKey) -> None:
    path = tmp_path / "key"
    key.write_file(path)
    path.chmod(0o644)
    with pytest.raises(EncryptionError, match="readable or writable by every user") as info:
        EncryptionKey.from_file(path)
    assert info.value.found == "permissions 0644" and "chmod 600" in (info.value.hint or "")


@pytest.mark.parametrize(("text", "message"), [
    ("not base64!", "not valid base64"),
    ("c2hvcnQ=", "wrong length"),
])
def test_malformed_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(EncryptionError, match=message):
        EncryptionKey.from_text(text, source="AIFORGE_ENCRYPTION_KEY")


def test_settings_read_the_key_from_the_environment(tmp_path: Path, key: EncryptionKey) -> None:
    path = tmp_path / "key"
    key.write_file(path)
    by_file = WorkspaceSettings.resolve(tmp_path / "ws", env={"AIFORGE_ENCRYPTION_KEY_FILE": str(path)})
    by_text = WorkspaceSettings.resolve(tmp_path / "ws", env={"AIFORGE_ENCRYPTION_KEY": key.to_text()})
    assert by_file.key().id == by_text.key().id == key.id  # type: ignore[union-attr]
    assert key.to_text() not in repr(by_text)
    both = WorkspaceSettings.resolve(tmp_path / "ws", env={"AIFORGE_ENCRYPTION_KEY_FILE": str(path),
                                                           "AIFORGE_ENCRYPTION_KEY": key.to_text()})
    with pytest.raises(EncryptionError, match="two encryption keys"):
        both.key()


# -- the workspace -----------------------------------------------------------------------------------


def test_a_new_workspace_opened_with_a_key_is_encrypted_and_needs_it(tmp_path: Path, key: EncryptionKey) -> None:
    root = tmp_path / "ws"
    ws = Workspace.open(_settings(root, key))
    digest = ws.artifacts.put_bytes(PLAIN)
    ws.close()
    assert ws.encrypted and json.loads((root / "encryption.json").read_text())["key_id"] == key.id

    with pytest.raises(EncryptionError, match="encrypted and no encryption key was given") as info:
        Workspace.open(_settings(root, None), create=False)
    assert key.id in (info.value.expected or "") and "AIFORGE_ENCRYPTION_KEY_FILE" in (info.value.hint or "")

    wrong = EncryptionKey.generate()
    before = {p: p.stat().st_mtime_ns for p in _files(root)}
    with pytest.raises(EncryptionError, match="wrong encryption key") as info:
        Workspace.open(_settings(root, wrong))
    assert key.id in (info.value.expected or "") and wrong.id in (info.value.found or "")
    assert {p: p.stat().st_mtime_ns for p in _files(root)} == before  # nothing written

    ws = Workspace.open(_settings(root, key), create=False)
    assert ws.artifacts.get_bytes(digest) == PLAIN
    ws.close()


def test_a_key_on_a_plaintext_workspace_asks_for_enable(tmp_path: Path, key: EncryptionKey) -> None:
    _plain_workspace(tmp_path / "ws")
    with pytest.raises(EncryptionError, match="artifacts are stored unencrypted") as info:
        Workspace.open(_settings(tmp_path / "ws", key))
    assert "aiforge encryption enable" in (info.value.hint or "")
    assert not (tmp_path / "ws" / "encryption.json").exists()


def test_enable_encrypts_every_artifact_and_resumes_after_a_crash(tmp_path: Path, key: EncryptionKey) -> None:
    root = tmp_path / "ws"
    digests = _plain_workspace(root)
    with pytest.raises(Crash):
        enable_encryption(root, key, on_file=_crash_after(2))
    status = encryption_status(root)
    assert status.state is not None and status.state.phase == "enabling"
    assert status.files == {key.id: 2, "plaintext": 3}
    with pytest.raises(EncryptionError, match="no encryption key"):  # already refused without the key
        Workspace.open(_settings(root, None), create=False)
    assert not [p for p in _files(root / "artifacts") if p.name.startswith(".tmp-")]

    done = enable_encryption(root, key)
    assert (done.converted, done.skipped) == (3, 2)
    assert encryption_status(root).files == {key.id: 5}
    assert encryption_status(root).state.phase == "encrypted"  # type: ignore[union-attr]
    assert all(PLAIN not in p.read_bytes() for p in _files(root / "artifacts"))
    ws = Workspace.open(_settings(root, key), create=False)
    assert [ws.artifacts.get_bytes(d)[:-1] for d in digests] == [PLAIN] * 5
    ws.close()


def test_a_file_written_unencrypted_during_a_pass_is_caught_by_the_next(tmp_path: Path, key: EncryptionKey) -> None:
    root = tmp_path / "ws"
    _plain_workspace(root, 2)
    late: list[str] = []

    def another_writer(digest: str) -> None:  # a process without the key, still open while enable runs
        if not late:
            late.append(ArtifactStore(root / "artifacts").put_bytes(b"late plaintext"))

    done = enable_encryption(root, key, on_file=another_writer)
    assert (done.converted, done.skipped) == (3, 0)
    assert encryption_status(root).files == {key.id: 3}


def test_enable_stops_at_a_corrupt_plaintext_file(tmp_path: Path, key: EncryptionKey) -> None:
    root = tmp_path / "ws"
    digests = _plain_workspace(root, 2)
    ArtifactStore(root / "artifacts").path(digests[1]).write_bytes(b"bit rot")
    with pytest.raises(ArtifactError, match="corrupt") as info:
        enable_encryption(root, key)
    assert "resumes" in (info.value.hint or "")


def test_rotate_re_encrypts_resumes_and_retires_the_old_key(tmp_path: Path, key: EncryptionKey) -> None:
    root = tmp_path / "ws"
    digests = _plain_workspace(root)
    enable_encryption(root, key)
    new = EncryptionKey.generate()

    with pytest.raises(Crash):
        rotate_encryption(root, key, new, on_file=_crash_after(3))
    assert encryption_status(root).files == {key.id: 2, new.id: 3}
    ws = Workspace.open(_settings(root, new), create=False)  # mid-rotation, new artifacts go under the new key
    assert ws.artifacts.key_id(ws.artifacts.put_bytes(b"written mid-rotation")) == new.id
    ws.close()
    with pytest.raises(EncryptionError, match="another key rotation"):
        rotate_encryption(root, key, EncryptionKey.generate())

    done = rotate_encryption(root, key, new)
    assert (done.converted, done.skipped, done.retired) == (2, 4, key.id)
    assert encryption_status(root).files == {new.id: 6}
    with pytest.raises(EncryptionError, match="retired"):
        Workspace.open(_settings(root, key), create=False)
    ws = Workspace.open(_settings(root, new), create=False)
    assert [ws.artifacts.get_bytes(d)[:-1] for d in digests] == [PLAIN] * 5
    ws.close()


@pytest.mark.parametrize(("setup", "message"), [
    ("plain", "not encrypted, so there is no key to rotate"),
    ("same", "the new key is the key in use"),
    ("wrong", "wrong encryption key"),
])
def test_rotate_refuses_what_it_cannot_do(tmp_path: Path, key: EncryptionKey, setup: str, message: str) -> None:
    root = tmp_path / "ws"
    _plain_workspace(root, 1)
    if setup != "plain":
        enable_encryption(root, key)
    old = EncryptionKey.generate() if setup == "wrong" else key
    new = key if setup == "same" else EncryptionKey.generate()
    before = {p: p.read_bytes() for p in _files(root / "artifacts")}
    with pytest.raises(EncryptionError, match=message):
        rotate_encryption(root, old, new)
    assert {p: p.read_bytes() for p in _files(root / "artifacts")} == before


def test_move_file_encrypts_like_put_file(tmp_path: Path, key: EncryptionKey) -> None:
    store = ArtifactStore(tmp_path / "a", ArtifactCipher(key))
    source = store.incoming() / "snapshot.parquet"
    source.write_bytes(PLAIN)

    digest = store.move_file(source)

    assert not source.exists()
    assert digest == hashlib.sha256(PLAIN).hexdigest()
    assert store.path(digest).read_bytes().startswith(b"AIFGENC\x01")
    assert store.get_bytes(digest) == PLAIN
