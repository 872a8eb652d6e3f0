"""The artifact store's contract over both storages, a local folder and S3 (a real moto_server over HTTP), and what
only object storage does: objects at the content address, a local read cache checked by hash, its errors."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto_s3 import CREDENTIALS, MotoS3, moto_s3

from aiforge.errors import ArtifactError, MissingDependency, WorkspaceError
from aiforge.workspace import (
    ArtifactCipher,
    ArtifactStore,
    EncryptionError,
    EncryptionKey,
    Workspace,
    WorkspaceSettings,
)
from aiforge.workspace._crypto import MAGIC
from aiforge.workspace._encryption import enable_encryption, encryption_status

PLAIN = b"a model's bytes, or a snapshot's: plaintext that must not reach the bucket"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def _s3_store(s3: MotoS3, tmp_path: Path, cipher: ArtifactCipher | None = None, *,
              bucket: str | None = None, cache: str = "cache") -> tuple[ArtifactStore, str]:
    bucket = bucket or s3.bucket()
    return ArtifactStore.at(f"s3://{bucket}/team/artifacts", cipher, options={"endpoint_url": s3.endpoint},
                            cache=tmp_path / cache), bucket


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore.at(tmp_path / "artifacts")
    return _s3_store(request.getfixturevalue("s3"), tmp_path)[0]


# -- the contract, over both storages ----------------------------------------------------------------------------


def test_put_and_get_by_sha256_address(store: ArtifactStore) -> None:
    digest = store.put_bytes(PLAIN)

    assert digest == hashlib.sha256(PLAIN).hexdigest()
    assert store.exists(digest) and store.get_bytes(digest) == PLAIN
    assert store.where(digest).endswith(f"{digest[:2]}/{digest[2:]}")
    assert store.put_bytes(PLAIN) == digest  # the same bytes once
    assert list(store.digests()) == [digest]


def test_files_are_copied_or_moved_in(store: ArtifactStore, tmp_path: Path) -> None:
    kept, moved = tmp_path / "kept.bin", store.incoming() / "moved.bin"
    kept.write_bytes(b"copied in" * 1000)
    moved.write_bytes(b"moved in" * 1000)

    assert store.get_bytes(store.put_file(kept)) == kept.read_bytes()
    digest = store.move_file(moved)

    assert not moved.exists()
    assert store.get_bytes(digest) == b"moved in" * 1000
    assert sorted(store.digests()) == sorted([hashlib.sha256(kept.read_bytes()).hexdigest(), digest])


def test_a_missing_artifact_says_where_it_was_looked_for(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match="missing from the store") as err:
        store.get_bytes(digest)
    assert err.value.where == store.where(digest)
    with pytest.raises(ArtifactError, match="not an artifact address"):
        store.exists("../../etc/passwd")


def test_a_deleted_artifact_is_gone(store: ArtifactStore) -> None:
    digest = store.put_bytes(PLAIN)
    store.get_bytes(digest)  # cached where the storage caches

    assert store.delete(digest) and not store.delete(digest)
    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match="missing"):
        store.get_bytes(digest)


def test_encrypted_blobs_need_their_key(store: ArtifactStore) -> None:
    key = EncryptionKey.generate()
    sealed = store.with_cipher(ArtifactCipher(key))
    digest = sealed.put_bytes(PLAIN)

    assert sealed.get_bytes(digest) == PLAIN
    assert sealed.key_id(digest) == key.id
    with pytest.raises(EncryptionError, match="encrypted") as err:
        store.get_bytes(digest)
    assert key.id in err.value.render()
    with pytest.raises(EncryptionError):
        store.with_cipher(ArtifactCipher(EncryptionKey.generate())).get_bytes(digest)


# -- object storage only -------------------------------------------------------------------------------------------


def test_objects_sit_at_the_content_address_under_the_prefix(s3: MotoS3, tmp_path: Path) -> None:
    store, bucket = _s3_store(s3, tmp_path)
    digest = store.put_bytes(PLAIN)

    assert s3.objects(bucket) == {f"team/artifacts/{digest[:2]}/{digest[2:]}": PLAIN}
    assert store.location == f"s3://{bucket}/team/artifacts"
    with pytest.raises(ArtifactError, match="not a local folder"):
        store.path(digest)


def test_a_corrupt_object_is_detected(s3: MotoS3, tmp_path: Path) -> None:
    store, bucket = _s3_store(s3, tmp_path)
    digest = store.put_bytes(PLAIN)
    s3.client().put_object(Bucket=bucket, Key=f"team/artifacts/{digest[:2]}/{digest[2:]}", Body=b"bit rot")

    fresh = _s3_store(s3, tmp_path, bucket=bucket, cache="other-cache")[0]
    with pytest.raises(ArtifactError, match="corrupt") as err:
        fresh.get_bytes(digest)
    assert err.value.where == f"s3://{bucket}/team/artifacts/{digest[:2]}/{digest[2:]}"
    assert err.value.found == hashlib.sha256(b"bit rot").hexdigest()


def test_the_read_cache_is_checked_by_hash_and_by_the_object(s3: MotoS3, tmp_path: Path) -> None:
    store, bucket = _s3_store(s3, tmp_path)
    digest = store.put_bytes(PLAIN)
    assert store.get_bytes(digest) == PLAIN
    cached = tmp_path / "cache" / digest[:2] / digest[2:]
    assert cached.read_bytes() == PLAIN

    cached.write_bytes(b"a corrupted cache file")  # dropped, and the object read again
    assert store.get_bytes(digest) == PLAIN and cached.read_bytes() == PLAIN

    assert list(store.digests()) == [digest]  # a listing, not kept: the next answers come from the bucket
    s3.client().delete_object(Bucket=bucket, Key=f"team/artifacts/{digest[:2]}/{digest[2:]}")  # erased elsewhere
    assert not store.exists(digest)
    with pytest.raises(ArtifactError, match="missing"):
        store.get_bytes(digest)
    assert not cached.exists()


def test_a_missing_bucket_is_a_clear_error(s3: MotoS3, tmp_path: Path) -> None:
    store = ArtifactStore.at("s3://no-such-bucket-here/artifacts", options={"endpoint_url": s3.endpoint},
                             cache=tmp_path / "cache")

    with pytest.raises(ArtifactError, match="cannot be reached or refused") as err:
        store.put_bytes(PLAIN)
    assert "AIFORGE_ARTIFACTS_URL" in (err.value.hint or "")


def test_an_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    from conftest import free_port

    # one attempt (botocore's retries take ~6 s): options reach s3fs as they are
    store = ArtifactStore.at("s3://bucket/artifacts", options={"endpoint_url": f"http://127.0.0.1:{free_port()}",
                                                               "config_kwargs": {"retries": {"max_attempts": 1}}})

    with pytest.raises(ArtifactError, match="cannot be reached") as err:
        store.put_bytes(PLAIN)
    assert "EndpointConnectionError" in (err.value.found or "")
    assert (err.value.where or "").startswith("s3://bucket/artifacts/")


def test_a_missing_driver_names_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    probe = ("import sys; sys.modules['s3fs'] = None\n"  # as if the s3 extra were not installed
             "from aiforge.workspace import ArtifactStore\n"
             "try:\n    ArtifactStore.at('s3://bucket/artifacts')\nexcept Exception as exc:\n    print(exc.render())")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
    assert "error[dependency]" in shown and "pip install 'aiforge[s3]'" in shown
    if importlib.util.find_spec("gcsfs") is None:  # no dependency of aiforge's
        with pytest.raises(MissingDependency, match="driver for 'gs://'"):
            ArtifactStore.at("gs://bucket/artifacts")


def test_an_unknown_protocol_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="unknown storage protocol"):
        ArtifactStore.at("nosuchfs://bucket/artifacts")


def test_encryption_at_rest_on_s3_leaves_only_ciphertext_in_the_bucket(s3: MotoS3, tmp_path: Path) -> None:
    key = EncryptionKey.generate()
    store, bucket = _s3_store(s3, tmp_path, ArtifactCipher(key))
    digest = store.put_bytes(PLAIN)
    assert store.get_bytes(digest) == PLAIN

    (raw,) = s3.objects(bucket).values()
    assert raw.startswith(MAGIC) and PLAIN not in raw
    cached = (tmp_path / "cache" / digest[:2] / digest[2:]).read_bytes()
    assert PLAIN not in cached  # the local read cache holds the object's bytes: ciphertext too

    other_machine = _s3_store(s3, tmp_path, bucket=bucket, cache="no-key-cache")[0]
    with pytest.raises(EncryptionError, match="encrypted and no encryption key") as err:
        other_machine.get_bytes(digest)
    assert key.id in err.value.render() and err.value.where == store.where(digest)


def _workspace_settings(s3: MotoS3, root: Path, bucket: str, **extra: str) -> WorkspaceSettings:
    env = s3.env(f"s3://{bucket}/ws") | extra
    return WorkspaceSettings.resolve(root, env)


def test_the_store_is_chosen_by_flag_then_environment_then_the_workspace_folder(tmp_path: Path) -> None:
    env = {"AIFORGE_ARTIFACTS_URL": "s3://from-env/p", "AIFORGE_S3_ENDPOINT_URL": "http://127.0.0.1:9"}

    assert WorkspaceSettings.resolve(tmp_path, env, artifacts_url="s3://from-flag/p").artifacts_url == "s3://from-flag/p"
    chosen = WorkspaceSettings.resolve(tmp_path, env)
    assert (chosen.artifacts_url, chosen.s3_endpoint_url) == ("s3://from-env/p", "http://127.0.0.1:9")
    assert chosen.artifact_store().location == "s3://from-env/p"
    assert WorkspaceSettings.resolve(tmp_path, {}).artifact_store().root == tmp_path.absolute() / "artifacts"
    assert WorkspaceSettings.resolve(tmp_path, {"AIFORGE_ARTIFACTS_URL": str(tmp_path / "shared")}
                                     ).artifact_store().root == tmp_path / "shared"


def test_a_workspace_keeps_its_artifacts_in_the_bucket_and_encrypts_them(s3: MotoS3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    ws = Workspace.open(_workspace_settings(s3, tmp_path / "ws", bucket))
    try:
        digest = ws.artifacts.put_bytes(PLAIN)
    finally:
        ws.close()
    assert not (tmp_path / "ws" / "artifacts").exists()
    assert list(s3.objects(bucket)) == [f"ws/{digest[:2]}/{digest[2:]}"]

    key = EncryptionKey.generate()
    settings = _workspace_settings(s3, tmp_path / "ws", bucket, AIFORGE_ENCRYPTION_KEY=key.to_text())
    with pytest.raises(EncryptionError, match="stored unencrypted"):  # checked against the bucket's objects
        Workspace.open(settings)
    done = enable_encryption(settings.root, key, artifacts=settings.artifact_store())
    assert (done.converted, done.skipped) == (1, 0)
    assert encryption_status(settings.root, artifacts=settings.artifact_store()).files == {key.id: 1}
    assert all(PLAIN not in raw for raw in s3.objects(bucket).values())
    ws = Workspace.open(settings)
    try:
        assert ws.artifacts.get_bytes(digest) == PLAIN
    finally:
        ws.close()


def test_another_machine_opens_the_shared_bucket_with_the_key_alone(s3: MotoS3, tmp_path: Path) -> None:
    bucket, key = s3.bucket(), EncryptionKey.generate()
    ws = Workspace.open(_workspace_settings(s3, tmp_path / "one", bucket, AIFORGE_ENCRYPTION_KEY=key.to_text()))
    try:
        digest = ws.artifacts.put_bytes(PLAIN)
    finally:
        ws.close()

    # a second folder (its metadata elsewhere, e.g. PostgreSQL) has no encryption state: the objects give it
    ws = Workspace.open(_workspace_settings(s3, tmp_path / "two", bucket, AIFORGE_ENCRYPTION_KEY=key.to_text()))
    try:
        assert ws.encrypted and ws.artifacts.get_bytes(digest) == PLAIN
    finally:
        ws.close()
    assert (tmp_path / "two" / "encryption.json").is_file()

    wrong = _workspace_settings(s3, tmp_path / "three", bucket,
                                AIFORGE_ENCRYPTION_KEY=EncryptionKey.generate().to_text())
    with pytest.raises(EncryptionError, match="wrong encryption key") as err:
        Workspace.open(wrong)
    assert key.id in err.value.render()
    assert not (tmp_path / "three" / "encryption.json").exists()


def test_snapshots_go_to_the_bucket(s3: MotoS3, tmp_path: Path) -> None:
    from aiforge.data import file_snapshot

    store, bucket = _s3_store(s3, tmp_path)
    csv = tmp_path / "rows.csv"
    csv.write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(500)))

    snap = file_snapshot([csv], store)

    assert list(s3.objects(bucket)) == [f"team/artifacts/{snap.id[:2]}/{snap.id[2:]}"]
    table = pq.read_table(io.BytesIO(store.get_bytes(snap.id)))
    assert table.num_rows == snap.rows == 500
    assert table.column("amount").to_pylist()[:3] == [0.0, 1.5, 3.0]
    assert not list((tmp_path / "cache" / ".incoming").rglob("*.parquet"))  # the local file went up, then away
    assert isinstance(table, pa.Table)
