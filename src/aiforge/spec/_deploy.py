"""The ``deploy:`` section of the project file: how a new accepted version is rolled out when aiforge
starts the rollout itself (``aiforge monitor watch`` after a retrain)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, field_validator

from aiforge.spec._monitor import _Strict

__all__ = ["GUARDRAIL_NAMES", "DeploySpec"]

# the live figures a rollout judges the challenger on (registry.GUARDRAIL_METRICS describes each)
GUARDRAIL_NAMES = ("error_rate", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "mean_latency_ms")
GuardrailName = Literal["error_rate", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "mean_latency_ms"]


class DeploySpec(_Strict):
    """The rollout of a retrained version against the version that answers (see docs/serving.md)."""

    strategy: Literal["canary", "shadow", "ab"] = Field(
        "canary", description="canary: a growing share of traffic, promoted after the last step; shadow: a copy of "
        "the traffic, promoted by an operator; ab: a fixed split with a significance test.")
    steps: list[StrictInt] = Field(default_factory=lambda: [10, 50, 100], min_length=1,
                                   description="canary: the challenger's share at each step, in percent, ending "
                                   "at 100.")
    guardrails: dict[GuardrailName, float] = Field(
        default_factory=lambda: dict[GuardrailName, float]({"error_rate": 0.01}),
        description="Upper bounds the challenger must keep in every window, e.g. {error_rate: 0.01, p99_latency_ms: "
        "50}; a breach rolls it back at once.")
    min_requests: StrictInt = Field(100, ge=1, description="Challenger requests per window before a step advances.")
    split: StrictInt | None = Field(None, ge=1, le=99, description="ab: the challenger's percent of request keys.")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= s <= 100 for s in steps) or steps != sorted(set(steps)) or steps[-1] != 100:
            raise ValueError(f"steps must be increasing percents from 1 to 100 that end at 100, e.g. [10, 50, 100]; "
                             f"got {steps}")
        return steps

    @field_validator("guardrails")
    @classmethod
    def _bounds(cls, guardrails: dict[str, float]) -> dict[str, float]:
        for name, bound in guardrails.items():
            if not bound >= 0 or (name == "error_rate" and bound > 1):
                raise ValueError(f"guardrail {name}: {bound} is out of range (error_rate: a share from 0 to 1; "
                                 "latencies: milliseconds >= 0)")
        return guardrails

    def guardrail_texts(self) -> list[str]:
        """The guardrails in the deployment store's notation: ``error_rate<=0.01``."""
        return [f"{name}<={bound:g}" for name, bound in self.guardrails.items()]
