"""Decision policies: the action of highest expected utility among those the rules allow.

Expected utility of an action ``a``: EU(a) = sum over outcome states s of P(s) * U(a, s), with P from the
model's class probabilities or a network's posterior, and U the project's utility matrix. The rules bound
the choice: ``forbid`` removes actions, ``require`` decides. When a rule forbids the action another rule
requires, the higher-ranked rule wins (priority, then specificity, then order). Ties between equal expected
utilities go to the action listed first. Forbidding every action is a :class:`RuleConflict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.reason._rules import Firing, RuleOutcome

__all__ = ["Choice", "Decision", "RuleConflict", "choose", "expected_utilities"]


class RuleConflict(AiforgeError):
    """The rules leave no action to take: every action is forbidden and none is required."""

    code = "rule-conflict"
    http_status = 422


def expected_utilities(probabilities: Mapping[str, float], utility: Mapping[str, Mapping[str, float]]
                       ) -> dict[str, float]:
    """EU of each action: ``sum_s P(s) * U(action, s)``; a state without probability counts as 0."""
    return {action: float(sum(probabilities.get(state, 0.0) * u for state, u in row.items()))
            for action, row in utility.items()}


@dataclass(frozen=True)
class Choice:
    action: str
    expected_utility: float
    utilities: dict[str, float]
    allowed: list[str]
    decided_by: str | None  # the rule that required the action, if one did


def choose(actions: Sequence[str], probabilities: Mapping[str, float], utility: Mapping[str, Mapping[str, float]],
           *, forbidden: Mapping[str, str] | None = None, required: str | None = None,
           required_wins: bool = True) -> Choice:
    """The action to take: ``required`` (when it wins over a rule forbidding it), else the allowed action of
    highest expected utility (the first listed on a tie)."""
    forbidden = forbidden or {}
    utilities = expected_utilities(probabilities, utility)
    allowed = [a for a in actions if a not in forbidden]
    if required is not None and (required not in forbidden or required_wins):
        return Choice(required, utilities[required], utilities, allowed, None)
    if not allowed:
        raise RuleConflict(
            "the rules forbid every action", where="decision.rules",
            found="; ".join(f"{a} forbidden by {r}" for a, r in forbidden.items()),
            hint="leave at least one action allowed for every record (e.g. a 'review' action no rule forbids), "
            "or make one rule require an action")
    best = max(allowed, key=lambda a: (utilities[a], -actions.index(a)))
    return Choice(best, utilities[best], utilities, allowed, None)


@dataclass(frozen=True)
class Decision:
    """The decision for one record, with everything that explains it."""

    action: str
    expected_utility: float
    utilities: dict[str, float]
    probabilities: dict[str, float]
    allowed: list[str]
    forbidden: dict[str, str]
    required_by: str | None
    firings: list[Firing]
    unknown_rules: list[str]
    evidence: dict[str, str]
    model: dict[str, Any]  # prediction, probability (binary) or probabilities
    model_only: str | None = None  # the action the model's probabilities alone choose (no rules, no network)
    facts: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, choice: Choice, probabilities: Mapping[str, float], rules: RuleOutcome, evidence: dict[str, str],
           model: dict[str, Any], model_only: str | None, required_by: str | None) -> Decision:
        derived = {k: v for k, v in rules.facts.items() if any(k in f.set for f in rules.firings)}
        return cls(choice.action, choice.expected_utility, choice.utilities, dict(probabilities), choice.allowed,
                   dict(rules.forbidden), required_by, rules.firings, rules.unknown, evidence, model, model_only,
                   derived)

    @property
    def why(self) -> str:
        """One sentence: what decided the action."""
        if self.required_by is not None:
            return f"{self.action}: required by rule '{self.required_by}'"
        best = f"{self.action}: highest expected utility ({self.expected_utility:.4g})"
        if self.forbidden:
            best += " among allowed actions (" + ", ".join(f"{a} forbidden by '{r}'"
                                                          for a, r in self.forbidden.items()) + ")"
        return best

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action, "expected_utility": self.expected_utility, "why": self.why,
            "utilities": self.utilities, "probabilities": self.probabilities, "allowed": self.allowed,
            "forbidden": self.forbidden, "required_by": self.required_by,
            "rules": [f.to_json() for f in self.firings], "unknown_rules": self.unknown_rules,
            "facts": self.facts, "evidence": self.evidence, "model": self.model, "model_only": self.model_only,
        }
