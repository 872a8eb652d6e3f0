"""End to end on object storage: the real `aiforge run` keeps its snapshot, model and documents in an S3 bucket (a
real moto_server over HTTP), and the real `aiforge serve` predicts from them with an empty local cache; with a data
key the bucket holds only ciphertext, and without the key the error says so."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXE, FAST_CHECKS, running_server, serve_env, write_income_project
from moto_s3 import CREDENTIALS, MotoS3, moto_s3

from aiforge.registry import ModelRegistry
from aiforge.workspace import EncryptionError, EncryptionKey, Workspace, WorkspaceSettings
from aiforge.workspace._crypto import MAGIC

RECORDS = [{"age": 52, "workclass": "Private", "education": "Masters", "education_num": 14,
            "marital_status": "Married-civ-spouse", "occupation": "Exec-managerial", "relationship": "Husband",
            "race": "White", "sex": "Male", "capital_gain": 15024, "capital_loss": 0, "hours_per_week": 50,
            "native_country": "United-States"}]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as server:
        yield server


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _project(tmp_path: Path) -> Path:
    return write_income_project(tmp_path / "income", rows=600, learners="[linear]", checks=FAST_CHECKS,
                                kpis="  - {metric: roc_auc, min: 0.5}")


def _registered(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, list[str]]:
    """(model artifact, snapshot, documents) of income v1, read from the workspace's metadata."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ws = Workspace.open(WorkspaceSettings.resolve(), create=False)
    try:
        version = ModelRegistry(ws).get("income", 1)
        return version.artifact, str(version.lineage["snapshot"]), list(version.documents.values())
    finally:
        ws.close()


def test_a_run_keeps_its_artifacts_in_the_bucket_and_is_served_from_it(
        s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.bucket()
    env = serve_env(tmp_path / "ws") | s3.env(f"s3://{bucket}/team")
    proc = _run(env, tmp_path, "run", str(_project(tmp_path)))
    assert proc.returncode == 0, proc.stderr

    model, snapshot, documents = _registered(env, monkeypatch)
    keys = set(s3.objects(bucket))
    for digest in (model, snapshot, *documents):
        assert f"team/{digest[:2]}/{digest[2:]}" in keys
    assert not (tmp_path / "ws" / "artifacts").exists()  # nothing went to the local folder

    shutil.rmtree(tmp_path / "ws" / "cache")  # another machine: every read comes from the bucket
    with running_server([], env, tmp_path, tmp_path / "server.log") as server:
        response = server.client.post("/v1/models/income/predict", json={"records": RECORDS})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1 and response.json()["predictions"][0]["label"] in (">50K", "<=50K")
    assert (tmp_path / "ws" / "cache" / "artifacts" / model[:2] / model[2:]).is_file()  # read once, kept by hash

    s3.client().delete_object(Bucket=bucket, Key=f"team/{model[:2]}/{model[2:]}")
    shutil.rmtree(tmp_path / "ws" / "cache")
    (tmp_path / "records.csv").write_text(",".join(RECORDS[0]) + "\n" + ",".join(map(str, RECORDS[0].values())))
    flagged = {k: v for k, v in env.items() if k != "AIFORGE_ARTIFACTS_URL"}  # the flag names the bucket instead
    gone = _run(flagged, tmp_path, "--artifacts", f"s3://{bucket}/team", "predict", "--model", "income",
                "--input", "records.csv", "--output", "out.csv")
    assert gone.returncode == 2, gone.stderr
    assert "missing from the store" in gone.stderr and f"s3://{bucket}/team/{model[:2]}/" in gone.stderr


def test_an_encrypted_run_leaves_only_ciphertext_in_the_bucket(
        s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.bucket()
    key = EncryptionKey.generate()
    env = serve_env(tmp_path / "ws") | s3.env(f"s3://{bucket}/sealed") | {"AIFORGE_ENCRYPTION_KEY": key.to_text()}
    proc = _run(env, tmp_path, "run", str(_project(tmp_path)))
    assert proc.returncode == 0, proc.stderr

    objects = s3.objects(bucket)
    assert len(objects) >= 3 and all(raw.startswith(MAGIC) for raw in objects.values())
    # the snapshot's column names and the data's values appear in no object
    assert not any(b"native_country" in raw or b"Exec-managerial" in raw for raw in objects.values())
    cached = [p for p in (tmp_path / "ws" / "cache").rglob("*") if p.is_file()]
    assert all(p.read_bytes().startswith(MAGIC) for p in cached)  # the local read cache: ciphertext too

    status = _run(env, tmp_path, "encryption", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert f'"{key.id}": {len(objects)}' in status.stdout  # counted in the bucket

    keyless = {k: v for k, v in env.items() if k != "AIFORGE_ENCRYPTION_KEY"}
    refused = _run(keyless, tmp_path, "models")
    assert refused.returncode == 2
    assert "encrypted and no encryption key was given" in refused.stderr and key.id in refused.stderr

    # another machine with the bucket but neither the workspace's state nor the key: the objects say they are sealed
    for name, value in (env | CREDENTIALS).items():
        monkeypatch.setenv(name, value)
    model = _registered(env, monkeypatch)[0]
    other = WorkspaceSettings.resolve(tmp_path / "elsewhere", keyless)
    with pytest.raises(EncryptionError, match="encrypted and no encryption key") as err:
        other.artifact_store().get_bytes(model)
    assert key.id in err.value.render() and f"s3://{bucket}/sealed/" in err.value.render()
