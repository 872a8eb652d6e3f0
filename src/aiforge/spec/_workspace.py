"""The ``workspace:`` section of the project file: where the work runs (this machine, or a Ray cluster).

The same project file runs on both: ``AIFORGE_EXECUTOR`` and ``AIFORGE_RAY_ADDRESS`` override these
fields (read by ``aiforge.workspace.WorkspaceSettings``), so moving to a cluster changes only settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aiforge.spec._monitor import _Strict

__all__ = ["WorkspaceSpec"]


class WorkspaceSpec(_Strict):
    """Where trials, cross-validation folds and batch scoring run (docs/scaling.md)."""

    executor: Literal["local", "ray"] = Field(
        "local", description="local: threads on this machine; ray: trials and CV folds as Ray tasks on the cluster "
        "at `address` (the extra 'ray'). AIFORGE_EXECUTOR overrides it.")
    address: str | None = Field(
        None, description="The Ray cluster: host:port of its head (GCS), ray://host:10001 (Ray Client), 'auto' (the "
        "cluster this machine belongs to) or 'local' (start one in this process). AIFORGE_RAY_ADDRESS overrides it.",
        examples=["auto", "10.0.0.5:6379", "ray://head:10001"])
    trials_in_flight: int | None = Field(
        None, ge=1, description="ray: trials asked from the search at once, their folds run in parallel. Results are a "
        "function of the seed and this number only; 1 gives the local executor's results with n_jobs: 1 exactly. "
        "Default: the cluster's CPUs divided by the folds.")
    cpus_per_task: float = Field(1.0, gt=0, description="ray: CPUs a fold task reserves (and the threads it trains "
                                 "with, rounded down, at least 1).")

    @model_validator(mode="after")
    def _address_needs_ray(self) -> WorkspaceSpec:
        if self.address is not None and self.executor != "ray":
            raise ValueError("address names a Ray cluster: set executor: ray as well (or drop address)")
        return self
