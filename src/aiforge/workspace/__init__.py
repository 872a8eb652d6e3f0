"""Where state lives: the metadata store, the content-addressed artifact store, settings."""

from aiforge.workspace._artifacts import ArtifactStore
from aiforge.workspace._schema import ModelVersionRow, RunRow, StageCacheRow, StageRow
from aiforge.workspace._workspace import Workspace, WorkspaceSettings

__all__ = [
    "ArtifactStore",
    "ModelVersionRow",
    "RunRow",
    "StageCacheRow",
    "StageRow",
    "Workspace",
    "WorkspaceSettings",
]
