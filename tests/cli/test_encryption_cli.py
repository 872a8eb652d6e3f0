"""`aiforge encryption` end to end: a real run in an encrypted workspace, scoring with and without the key,
enable on a plaintext workspace, rotation to a new key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
from conftest import ADULT, EXE, FAST_CHECKS, write_income_project

from aiforge.serve import ServeSettings
from aiforge.workspace import Workspace, WorkspaceSettings


def _cli(tmp_path: Path, *args: str, key_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFORGE_")}
    env |= {"AIFORGE_WORKSPACE": str(tmp_path / "ws"), "COLUMNS": "200", "OMP_WAIT_POLICY": "PASSIVE"}
    if key_file is not None:
        env["AIFORGE_ENCRYPTION_KEY_FILE"] = str(key_file)
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def _json(proc: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _new_key(tmp_path: Path, name: str) -> tuple[Path, str]:
    made = _json(_cli(tmp_path, "encryption", "init", "--key-file", name, "--json"))
    path = tmp_path / name
    assert made["key_file"] == name and "key" not in made and (path.stat().st_mode & 0o777) == 0o600
    return path, made["key_id"]


def test_an_encrypted_workspace_runs_scores_rotates_and_refuses_a_missing_or_wrong_key(tmp_path: Path) -> None:
    key, key_id = _new_key(tmp_path, "data.key")
    project = write_income_project(tmp_path / "income", rows=800, learners="[linear]", checks=FAST_CHECKS)
    done = _json(_cli(tmp_path, "run", str(project), "--json", key_file=key))
    artifacts = [p for p in (tmp_path / "ws" / "artifacts").rglob("*") if p.is_file()]
    assert artifacts and all(p.read_bytes().startswith(b"AIFGENC\x01") for p in artifacts)
    assert not list((tmp_path / "ws" / "reports").glob("*.html"))  # no plaintext copy of the report
    status = _json(_cli(tmp_path, "encryption", "status", "--json"))  # needs no key
    assert status["encrypted"] and status["key_id"] == key_id and status["files"] == {key_id: len(artifacts)}

    [version] = _json(_cli(tmp_path, "models", "--json", key_file=key))
    assert version["status"] == "accepted"
    missing = _cli(tmp_path, "models")
    assert missing.returncode == 2
    assert "this workspace is encrypted and no encryption key was given" in missing.stderr
    assert f"the key with id {key_id}" in missing.stderr and "AIFORGE_ENCRYPTION_KEY_FILE" in missing.stderr
    wrong, wrong_id = _new_key(tmp_path, "wrong.key")
    refused = _cli(tmp_path, "models", key_file=wrong)
    assert refused.returncode == 2 and "wrong encryption key" in refused.stderr and wrong_id in refused.stderr

    pd.read_csv(ADULT, nrows=200).drop(columns=["income"]).to_csv(tmp_path / "in.csv", index=False)
    score = ("predict", "--model", "income", "--input", "in.csv", "--output")
    assert _json(_cli(tmp_path, *score, "out.parquet", "--json", key_file=key))["rows"] == 200
    no_key = _cli(tmp_path, *score, "nokey.parquet")
    assert no_key.returncode == 2 and "no encryption key was given" in no_key.stderr
    assert not (tmp_path / "nokey.parquet").exists()
    report = Path(_json(_cli(tmp_path, "report", done["run_id"], "--json", key_file=key))["report"])
    assert "roc_auc" in report.read_text(encoding="utf-8")  # decrypted on request

    new, new_id = _new_key(tmp_path, "data-2.key")
    rotated = _json(_cli(tmp_path, "encryption", "rotate", "--new-key-file", str(new), "--json", key_file=key))
    assert rotated == {"key_id": new_id, "converted": len(artifacts), "skipped": 0, "retired": key_id}
    retired = _cli(tmp_path, "models", key_file=key)
    assert retired.returncode == 2 and "retired" in retired.stderr
    assert _json(_cli(tmp_path, *score, "out2.parquet", "--json", key_file=new))["rows"] == 200
    assert _json(_cli(tmp_path, "encryption", "status", "--json"))["files"] == {new_id: len(artifacts)}


def test_enable_encrypts_a_plaintext_workspace_in_place(tmp_path: Path) -> None:
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"))
    digests = [ws.artifacts.put_bytes(f"plaintext snapshot {i}".encode()) for i in range(3)]
    ws.close()
    assert _json(_cli(tmp_path, "encryption", "status", "--json")) == {
        "workspace": str(tmp_path / "ws"), "encrypted": False, "files": {"plaintext": 3}}
    key, key_id = _new_key(tmp_path, "data.key")
    refused = _cli(tmp_path, "runs", key_file=key)
    assert refused.returncode == 2 and "aiforge encryption enable" in refused.stderr

    no_key = _cli(tmp_path, "encryption", "enable")
    assert no_key.returncode == 2 and "no encryption key was given" in no_key.stderr
    assert _json(_cli(tmp_path, "encryption", "enable", "--key-file", str(key), "--json")) == {
        "key_id": key_id, "converted": 3, "skipped": 0, "retired": None}
    again = _cli(tmp_path, "encryption", "enable", key_file=key)
    # the console wraps its lines at the terminal's width, and the message holds the (temporary) folder's path
    assert again.returncode == 0 and "0 artifacts encrypted now, 3 already were" in " ".join(again.stderr.split())
    assert all(b"plaintext" not in p.read_bytes() for p in (tmp_path / "ws" / "artifacts").rglob("*") if p.is_file())
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws", encryption_key_file=key), create=False)
    assert ws.artifacts.get_bytes(digests[0]) == b"plaintext snapshot 0"
    ws.close()
    assert _cli(tmp_path, "runs", "--json", key_file=key).returncode == 0
    (tmp_path / "loose.key").write_text(key.read_text())
    (tmp_path / "loose.key").chmod(0o644)
    loose = _cli(tmp_path, "runs", key_file=tmp_path / "loose.key")
    assert loose.returncode == 2 and "readable or writable by every user" in loose.stderr


def test_server_workers_receive_the_key(tmp_path: Path) -> None:
    settings = ServeSettings(workspace=WorkspaceSettings(root=tmp_path, encryption_key_file=tmp_path / "k"))
    assert ServeSettings.from_json(settings.to_json()).workspace == settings.workspace
    settings = ServeSettings(workspace=WorkspaceSettings(root=tmp_path, encryption_key="a2V5"))
    assert ServeSettings.from_json(settings.to_json()).workspace.encryption_key == "a2V5"
