"""Where state lives: the metadata store, the content-addressed artifact store, settings."""

from aiforge.workspace._artifacts import ArtifactStore
from aiforge.workspace._keys import (
    ApiKey,
    ApiKeyError,
    AuditEntry,
    AuditLog,
    CreatedKey,
    InvalidKey,
    KeyStore,
    Role,
    UnknownApiKey,
)
from aiforge.workspace._schema import (
    AlertRow,
    ApiKeyRow,
    AuditRow,
    DeploymentEventRow,
    DeploymentRow,
    ModelVersionRow,
    OutcomeRow,
    RunRow,
    SnapshotRow,
    StageCacheRow,
    StageRow,
    WatchEventRow,
)
from aiforge.workspace._workspace import Workspace, WorkspaceSettings

__all__ = [
    "AlertRow",
    "ApiKey",
    "ApiKeyError",
    "ApiKeyRow",
    "ArtifactStore",
    "AuditEntry",
    "AuditLog",
    "AuditRow",
    "CreatedKey",
    "DeploymentEventRow",
    "DeploymentRow",
    "InvalidKey",
    "KeyStore",
    "ModelVersionRow",
    "OutcomeRow",
    "Role",
    "RunRow",
    "SnapshotRow",
    "StageCacheRow",
    "StageRow",
    "UnknownApiKey",
    "WatchEventRow",
    "Workspace",
    "WorkspaceSettings",
]
