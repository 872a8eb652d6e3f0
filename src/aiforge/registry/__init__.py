"""Model versions with lineage, gate verdicts and aliases (candidate, staging, production, archived);
deployments that roll a challenger out against the champion; outcomes fed back for predictions."""

from aiforge.registry._deployments import (
    GUARDRAIL_METRICS,
    Deployment,
    DeploymentError,
    DeploymentEvent,
    DeploymentState,
    DeploymentStore,
    Guardrail,
    Strategy,
    Verdict,
    Window,
    judge,
)
from aiforge.registry._explain import explain_version
from aiforge.registry._outcomes import OutcomeStore
from aiforge.registry._registry import (
    Alias,
    ModelRegistry,
    ModelVersion,
    PromotionRefused,
    VersionStatus,
    served_version,
)

__all__ = [
    "GUARDRAIL_METRICS",
    "Alias",
    "Deployment",
    "DeploymentError",
    "DeploymentEvent",
    "DeploymentState",
    "DeploymentStore",
    "Guardrail",
    "ModelRegistry",
    "ModelVersion",
    "OutcomeStore",
    "PromotionRefused",
    "Strategy",
    "VersionStatus",
    "Verdict",
    "Window",
    "explain_version",
    "judge",
    "served_version",
]
