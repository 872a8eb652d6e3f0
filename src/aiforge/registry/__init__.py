"""Model versions with lineage, gate verdicts and aliases (candidate, staging, production, archived);
deployments that roll a challenger out against the champion; outcomes fed back for predictions; bundles
(one verifiable file per version)."""

from aiforge.registry._bundle import (
    BUNDLE_FORMAT,
    Bundle,
    BundleError,
    environment_lock,
    import_bundle,
    make_signing_key,
    public_key_id,
    verify_bundle,
    write_bundle,
)
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
from aiforge.registry._docker import write_docker_context
from aiforge.registry._explain import explain_version
from aiforge.registry._mlflow import export_mlflow, import_mlflow
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
    "BUNDLE_FORMAT",
    "GUARDRAIL_METRICS",
    "Alias",
    "Bundle",
    "BundleError",
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
    "environment_lock",
    "explain_version",
    "export_mlflow",
    "import_bundle",
    "import_mlflow",
    "judge",
    "make_signing_key",
    "public_key_id",
    "served_version",
    "verify_bundle",
    "write_bundle",
    "write_docker_context",
]
