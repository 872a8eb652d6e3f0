"""Model versions with lineage, gate verdicts and aliases (candidate, staging, production, archived)."""

from aiforge.registry._explain import explain_version
from aiforge.registry._registry import Alias, ModelRegistry, ModelVersion, PromotionRefused, VersionStatus

__all__ = ["Alias", "ModelRegistry", "ModelVersion", "PromotionRefused", "VersionStatus", "explain_version"]
