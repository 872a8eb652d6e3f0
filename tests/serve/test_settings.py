"""The server's settings travel to its worker processes as JSON: every workspace setting arrives."""

from __future__ import annotations

from pathlib import Path

from aiforge.serve import ServeSettings
from aiforge.workspace import WorkspaceSettings


def test_worker_processes_get_the_same_workspace_and_artifact_store(tmp_path: Path) -> None:
    workspace = WorkspaceSettings(root=tmp_path / "ws", db_url="postgresql+psycopg://db/aiforge",
                                  encryption_key_file=tmp_path / "key", artifacts_url="s3://bucket/prefix",
                                  s3_endpoint_url="http://127.0.0.1:9000")
    settings = ServeSettings(workspace=workspace, max_batch=7)

    again = ServeSettings.from_json(settings.to_json())

    assert again.workspace.artifacts_url == "s3://bucket/prefix"
    assert again.workspace.s3_endpoint_url == "http://127.0.0.1:9000"
    assert (again.workspace.root, again.workspace.db_url, again.workspace.encryption_key_file) == (
        workspace.root, workspace.db_url, workspace.encryption_key_file)
    assert again.max_batch == 7
