"""Forward chaining of the project's rules over one record's facts, with an explanation.

The engine repeats one step until nothing changes (a fixed point): among the rules whose condition is
``True`` and that would change something, the highest ranked fires. The rank is the conflict resolution:
higher ``priority`` first, then the more specific condition (more comparisons), then the rule written first.
A rule that would overwrite a fact, or the required action, settled by a higher-ranked rule is *overruled*
instead (the explanation says by whom); it does not fire again until the facts it reads change.

Two guards stop runaway rule sets: a state of the facts seen before (rules undoing each other) is a
:class:`RuleCycle` naming the rules of the loop, and more than ``max_iterations`` firings is a
:class:`RuleCycle` too (a rule that keeps changing its own fact, e.g. ``n = n + 1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiforge.errors import AiforgeError
from aiforge.reason._expr import Expression, Kind, compile_expression
from aiforge.spec import RuleSpec

__all__ = ["CompiledRule", "Firing", "RuleCycle", "RuleOutcome", "RuleSet"]


class RuleCycle(AiforgeError):
    """Forward chaining did not reach a fixed point: rules undo each other, or one keeps firing."""

    code = "rule-cycle"
    http_status = 422


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its condition and values compiled; ``rank`` orders rules for conflict resolution."""

    spec: RuleSpec
    index: int
    when: Expression
    set: dict[str, Expression]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def rank(self) -> tuple[int, int, int]:
        return (-self.spec.priority, -self.when.conditions, self.index)

    @property
    def reads(self) -> frozenset[str]:
        return self.when.names.union(*(e.names for e in self.set.values()))


@dataclass(frozen=True)
class Firing:
    """One step of the chaining: a rule that fired (or was overruled), why, and what it did."""

    rule: str
    because: str  # the condition, with the values of the facts it read
    set: dict[str, Any] = field(default_factory=dict)
    forbid: list[str] = field(default_factory=list)
    require: str | None = None
    overruled_by: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "because": self.because}
        for key in ("set", "forbid", "require", "overruled_by", "reason"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class RuleOutcome:
    """What the rules concluded for a record: the facts (inputs plus derived), forbidden actions, the
    required action (and the rule that required it), and every firing in order."""

    facts: dict[str, Any]
    forbidden: dict[str, str]  # action -> the rule that forbade it
    required: str | None
    required_by: str | None
    firings: list[Firing]
    unknown: list[str]  # rules whose condition could not be decided (a fact it reads is missing)

    @property
    def fired(self) -> list[str]:
        return [f.rule for f in self.firings if f.overruled_by is None]


class RuleSet:
    """The project's rules, compiled once: ``RuleSet(specs).run(facts)`` for each record.

    >>> from aiforge.spec import RuleSpec
    >>> rules = RuleSet([RuleSpec(name="young", when="age < 21", forbid=["approve"])])
    >>> rules.run({"age": 19}).forbidden
    {'approve': 'young'}
    """

    def __init__(self, specs: Sequence[RuleSpec], *, max_iterations: int = 100) -> None:
        self.max_iterations = max_iterations
        self.rules = [CompiledRule(spec, i, compile_expression(spec.when),
                                   {k: compile_expression(v) for k, v in spec.set.items()})
                      for i, spec in enumerate(specs)]
        self._ordered = sorted(self.rules, key=lambda r: r.rank)

    @property
    def derived(self) -> list[str]:
        """The facts rules set, in the order first written."""
        return list(dict.fromkeys(name for r in self.rules for name in r.set))

    def check(self, kinds: Mapping[str, Kind]) -> list[tuple[int, str, str]]:
        """Type-check every rule against the kinds of the input facts: ``(rule index, field, message)``
        for each problem (field: ``when`` or ``set.NAME``). Derived facts take the kind of their value."""
        known: dict[str, Kind] = dict(kinds)
        problems: list[tuple[int, str, str]] = []
        pending = list(self.rules)
        for _ in range(len(pending) + 1):  # derived facts may be read before the rule setting them is written
            for rule in pending:
                for name, expression in rule.set.items():
                    try:
                        kind = expression.check(known)
                    except ValueError:
                        continue
                    if known.get(name, kind) not in (kind, "any") and kind != "any":
                        continue
                    known.setdefault(name, kind)
        for rule in self.rules:
            for name, expression in rule.set.items():
                if name in kinds:
                    problems.append((rule.index, f"set.{name}", f"rule '{rule.name}' sets '{name}', which is an "
                                     "input or a model output: rules derive new facts, they do not change evidence"))
                    continue
                try:
                    kind = expression.check(known)
                except ValueError as exc:
                    problems.append((rule.index, f"set.{name}", str(exc)))
                    continue
                if kind not in (known[name], "any") and known[name] != "any":
                    problems.append((rule.index, f"set.{name}", f"rule '{rule.name}' sets '{name}' to {kind}, "
                                     f"but another rule sets it to {known[name]}"))
            try:
                kind = rule.when.check(known)
            except ValueError as exc:
                problems.append((rule.index, "when", str(exc)))
                continue
            if kind not in ("bool", "any"):
                problems.append((rule.index, "when", f"the condition of rule '{rule.name}' is {kind}, not a "
                                 f"condition: {rule.when.text!r} (compare it, e.g. x > 0)"))
        return problems

    def run(self, facts: Mapping[str, Any]) -> RuleOutcome:
        """Chain the rules forward over ``facts`` (a record's inputs and model outputs) to a fixed point."""
        state = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in facts.items()}
        settled: dict[str, CompiledRule] = {}  # fact or '!require' -> the rule that set it last
        forbidden: dict[str, str] = {}
        required: str | None = None
        firings: list[Firing] = []
        done: dict[str, tuple[Any, ...]] = {}  # rule -> the values it read when it last fired or was overruled
        seen: dict[tuple[Any, ...], int] = {}
        changed = True
        for _ in range(self.max_iterations + len(self.rules) + 1):
            key = _freeze(state, forbidden, required)
            if changed and key in seen:
                loop = [f.rule for f in firings[seen[key]:]]
                raise RuleCycle(
                    "the rules undo each other: forward chaining returned to a state it had already been in",
                    where="decision.rules", found=" -> ".join(loop + loop[:1]),
                    hint="make the conditions exclusive, or have one rule test that the other has not fired "
                    "(e.g. is_missing(fact))")
            seen.setdefault(key, len(firings))
            if sum(f.overruled_by is None for f in firings) > self.max_iterations:
                break
            step = self._next(state, forbidden, required, done)
            if step is None:
                unknown = [r.name for r in self.rules if r.when.evaluate(state) is None]
                return RuleOutcome(facts=state, forbidden=forbidden, required=required,
                                   required_by=settled["!require"].name if required else None,
                                   firings=firings, unknown=unknown)
            rule, values = step
            done[rule.name] = _reading(rule, state)
            because = _because(rule, state)
            overruled: CompiledRule | None = None
            for name, value in values.items():
                holder = settled.get(name)
                if holder is not None and holder.rank < rule.rank and state.get(name) != value:
                    overruled = holder
            if rule.spec.require is not None and required not in (None, rule.spec.require):
                holder = settled["!require"]
                if holder.rank < rule.rank:
                    overruled = holder
            changed = overruled is None
            if overruled is not None:
                firings.append(Firing(rule.name, because, set=values, forbid=list(rule.spec.forbid),
                                      require=rule.spec.require, overruled_by=overruled.name,
                                      reason=rule.spec.reason))
                continue
            for name, value in values.items():
                state[name] = value
                settled[name] = rule
            for action in rule.spec.forbid:
                forbidden.setdefault(action, rule.name)
            if rule.spec.require is not None:
                required = rule.spec.require
                settled["!require"] = rule
            firings.append(Firing(rule.name, because, set=values, forbid=list(rule.spec.forbid),
                                  require=rule.spec.require, reason=rule.spec.reason))
        raise RuleCycle(
            f"the rules fired more than {self.max_iterations} times without reaching a fixed point",
            where="decision.rules", found=", ".join(sorted({f.rule for f in firings[-10:]})) + " kept firing",
            hint="a rule that keeps changing a fact it reads (e.g. n = n + 1) needs a condition that becomes "
            "false; or raise decision.max_iterations")

    def _next(self, state: dict[str, Any], forbidden: dict[str, str], required: str | None,
              done: dict[str, tuple[Any, ...]]) -> tuple[CompiledRule, dict[str, Any]] | None:
        for rule in self._ordered:
            if done.get(rule.name) == _reading(rule, state):
                continue  # refraction: nothing it reads has changed since it last fired
            if rule.when.evaluate(state) is not True:
                continue
            values = {name: _plain(e.evaluate(state)) for name, e in rule.set.items()}
            changes = (any(state.get(k) != v for k, v in values.items())
                       or any(a not in forbidden for a in rule.spec.forbid)
                       or (rule.spec.require is not None and required != rule.spec.require))
            if changes:
                return rule, values
        return None


def _reading(rule: CompiledRule, state: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(state.get(n) for n in sorted(rule.reads))


def _freeze(state: Mapping[str, Any], forbidden: Mapping[str, str], required: str | None) -> tuple[Any, ...]:
    return (tuple(sorted((k, repr(v)) for k, v in state.items())), tuple(sorted(forbidden)), required)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _because(rule: CompiledRule, state: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{n}={state.get(n)!r}" for n in sorted(rule.when.names))
    return f"{rule.when.text}" + (f" with {shown}" if shown else "")
