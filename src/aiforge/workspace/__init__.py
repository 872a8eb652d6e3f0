"""Where state lives: the metadata store, the content-addressed artifact store, settings."""

from aiforge.workspace._artifacts import ArtifactStore
from aiforge.workspace._crypto import ArtifactCipher, EncryptionError, EncryptionKey
from aiforge.workspace._encryption import (
    EncryptionPass,
    EncryptionState,
    EncryptionStatus,
    enable_encryption,
    encryption_status,
    rotate_encryption,
)
from aiforge.workspace._executor import Executor, ExecutorError, connect_ray
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
from aiforge.workspace._locks import serialize
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
    "ArtifactCipher",
    "ArtifactStore",
    "AuditEntry",
    "AuditLog",
    "AuditRow",
    "CreatedKey",
    "DeploymentEventRow",
    "DeploymentRow",
    "EncryptionError",
    "EncryptionKey",
    "EncryptionPass",
    "EncryptionState",
    "EncryptionStatus",
    "Executor",
    "ExecutorError",
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
    "connect_ray",
    "enable_encryption",
    "encryption_status",
    "rotate_encryption",
    "serialize",
]
