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
from aiforge.workspace._schema import ApiKeyRow, AuditRow, ModelVersionRow, RunRow, StageCacheRow, StageRow
from aiforge.workspace._workspace import Workspace, WorkspaceSettings

__all__ = [
    "ApiKey",
    "ApiKeyError",
    "ApiKeyRow",
    "ArtifactStore",
    "AuditEntry",
    "AuditLog",
    "AuditRow",
    "CreatedKey",
    "InvalidKey",
    "KeyStore",
    "ModelVersionRow",
    "Role",
    "RunRow",
    "StageCacheRow",
    "StageRow",
    "UnknownApiKey",
    "Workspace",
    "WorkspaceSettings",
]
