"""The decision layer of a model version: fitted once at registration, then applied to records.

A :class:`DecisionBundle` is what the registry keeps beside the model (the ``decision`` document): the
project's ``decision`` section, the fitted networks and a reference (decisions on the held-out split:
their distribution, the rules' firing rates, mean utilities), against which production is monitored.
``decide_records`` runs model -> rules -> networks -> policy for a table of records.

The facts of a record are its input fields plus the model's outputs: ``prediction`` (the label, or the
value of a regression) and, for classification, ``probability`` (binary: of the positive class; multiclass:
of the predicted class).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.reason._expr import Kind
from aiforge.reason._network import FittedNetwork, fit_network
from aiforge.reason._policy import Decision, choose
from aiforge.reason._rules import RuleSet
from aiforge.spec import DecisionSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MODEL_OUTPUTS", "DecisionBundle", "decide_records", "fact_kinds", "fit_bundle", "model_outputs",
           "summarise"]

MODEL_OUTPUTS = ("prediction", "probability")
BUNDLE_FORMAT = 1


def model_outputs(model: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each record's model facts: ``prediction`` and, for classification, ``probability`` and
    ``probabilities`` (class -> probability, the classes as text)."""
    import numpy as np

    classes = getattr(model, "classes", None)
    labels = np.asarray(model.predict(frame), dtype=object)
    if not classes:
        return [{"prediction": float(v)} for v in labels]
    proba = np.asarray(model.predict_proba(frame), dtype=float)
    names = [str(c) for c in classes]
    out = []
    for label, row in zip(labels, proba, strict=True):
        probability = float(row[1]) if len(names) == 2 else float(row[names.index(str(label))])
        out.append({"prediction": _plain(label), "probability": probability,
                    "probabilities": dict(zip(names, map(float, row), strict=True))})
    return out


@dataclass
class DecisionBundle:
    """The decision section, the fitted networks and the reference, as registered with a model version."""

    spec: DecisionSpec
    networks: dict[str, FittedNetwork]
    classes: list[str] | None  # the model's classes as text (None: regression)
    reference: dict[str, Any] = field(default_factory=dict)
    _rules: RuleSet | None = field(default=None, repr=False)

    @property
    def rules(self) -> RuleSet:
        if self._rules is None:
            self._rules = RuleSet(self.spec.rules, max_iterations=self.spec.max_iterations)
        return self._rules

    def to_bytes(self) -> bytes:
        return json.dumps({"format": BUNDLE_FORMAT, "spec": self.spec.model_dump(mode="json"),
                           "networks": [n.to_json() for n in self.networks.values()], "classes": self.classes,
                           "reference": self.reference}, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> DecisionBundle:
        doc = json.loads(data)
        networks = [FittedNetwork.from_json(n) for n in doc["networks"]]
        return cls(DecisionSpec.model_validate(doc["spec"]), {n.name: n for n in networks}, doc["classes"],
                   doc.get("reference", {}))

    @property
    def model_only_possible(self) -> bool:
        """Whether the model's classes are the outcome states, so a model-only policy can be compared."""
        return self.classes is not None and sorted(self.classes) == sorted(self.spec.states)

    def decide(self, facts: Mapping[str, Any], model: Mapping[str, Any]) -> Decision:
        """The decision for one record from its facts (inputs and model outputs)."""
        spec = self.spec
        outcome = self.rules.run({**facts, "prediction": model.get("prediction"),
                                  "probability": model.get("probability")})
        evidence: dict[str, str] = {}
        if spec.outcome.network is not None and spec.outcome.node is not None:
            network = self.networks[spec.outcome.network]
            evidence = network.evidence(outcome.facts, exclude=spec.outcome.node)
            probabilities = network.posterior(spec.outcome.node, evidence)
        else:
            probabilities = dict(model.get("probabilities") or {})
        required_wins = True
        if outcome.required is not None and outcome.required in outcome.forbidden:
            ranks = {r.name: r.rank for r in self.rules.rules}
            required_wins = ranks[outcome.required_by or ""] < ranks[outcome.forbidden[outcome.required]]
        choice = choose(spec.actions, probabilities, spec.utility, forbidden=outcome.forbidden,
                        required=outcome.required, required_wins=required_wins)
        model_only = None
        if self.model_only_possible and model.get("probabilities"):
            model_only = choose(spec.actions, model["probabilities"], spec.utility).action
        required_by = outcome.required_by if outcome.required is not None and choice.action == outcome.required \
            and required_wins else None
        shown = {k: v for k, v in model.items() if k != "probabilities" or len(v) > 2}
        return Decision.of(choice, probabilities, outcome, evidence, shown, model_only, required_by)


def decide_records(bundle: DecisionBundle, model: Any, frame: pd.DataFrame) -> list[Decision]:
    """Decisions for every record of ``frame`` (the model's input columns, and any other facts rules read)."""
    outputs = model_outputs(model, frame)
    records = frame.to_dict(orient="records")
    return [bundle.decide({k: _plain(v) for k, v in r.items()}, o) for r, o in zip(records, outputs, strict=True)]


def fit_bundle(spec: DecisionSpec, model: Any, train: pd.DataFrame, test: pd.DataFrame, target: str,
               ) -> DecisionBundle:
    """Fit the networks and build the reference. A network whose nodes read a model output is fitted on the
    held-out ``test`` rows (the model's outputs on its own training rows would be over-confident), any other on
    the ``train`` rows; the reference is the decisions on ``test`` (without its target)."""
    classes = [str(c) for c in model.classes] if getattr(model, "classes", None) else None
    if spec.outcome.model:
        if classes is None:
            raise DataError("decision.outcome is the model's class probabilities, but the model is a regression",
                            where="decision.outcome", hint="use a network's node as the outcome")
        if sorted(classes) != sorted(spec.states):
            raise DataError("decision.utility's states are not the model's classes",
                            where="decision.utility", expected=", ".join(classes), found=", ".join(spec.states),
                            hint="name one utility column per class of the target")
    networks: dict[str, FittedNetwork] = {}
    scored: dict[str, pd.DataFrame] = {}
    for net in spec.networks:
        uses_model = any(n.fact in MODEL_OUTPUTS for n in net.nodes.values())
        key = "test" if uses_model else "train"
        if key not in scored:
            rows = (test if uses_model else train).reset_index(drop=True)
            if uses_model:
                outputs = model_outputs(model, rows)
                rows = rows.assign(prediction=[o["prediction"] for o in outputs],
                                   probability=[o.get("probability") for o in outputs])
            scored[key] = rows
        networks[net.name] = fit_network(net, scored[key])
    bundle = DecisionBundle(spec, networks, classes)
    outcome_node = spec.outcome.node if spec.outcome.network else None
    if outcome_node is not None:
        states = networks[spec.outcome.network or ""].states[outcome_node]
        if sorted(states) != sorted(spec.states):
            raise DataError(f"decision.utility's states are not the states of node '{outcome_node}'",
                            where="decision.utility", expected=", ".join(states), found=", ".join(spec.states),
                            hint="name one utility column per state the node takes in the data")
    inputs = test.drop(columns=[target])
    decisions = decide_records(bundle, model, inputs)
    truth = [str(_state(v)) for v in test[target].tolist()]
    bundle.reference = summarise(bundle, decisions, truth if set(truth) <= set(spec.states) else None)
    return bundle


def _state(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def summarise(bundle: DecisionBundle, decisions: Sequence[Decision], truth: Sequence[str] | None = None,
              ) -> dict[str, Any]:
    """Counts and shares of each action, the rules' firing rates, mean expected utility, and beside them the
    model-only policy's; with ``truth`` (each record's actual outcome state) the realised mean utility of both."""
    spec = bundle.spec
    n = len(decisions)
    actions = Counter(d.action for d in decisions)
    fired = Counter(name for d in decisions for name in {f.rule for f in d.firings if f.overruled_by is None})
    out: dict[str, Any] = {
        "records": n,
        "actions": {a: actions.get(a, 0) for a in spec.actions},
        "shares": {a: actions.get(a, 0) / n if n else 0.0 for a in spec.actions},
        "rule_firing_rates": {r.name: fired.get(r.name, 0) / n if n else 0.0 for r in spec.rules},
        "mean_expected_utility": _mean([d.expected_utility for d in decisions]),
        "required_by_rules": sum(d.required_by is not None for d in decisions),
    }
    only = [d.model_only for d in decisions]
    if n and all(a is not None for a in only):
        counted = Counter(only)
        out["model_only"] = {
            "actions": {a: counted.get(a, 0) for a in spec.actions},
            "shares": {a: counted.get(a, 0) / n for a in spec.actions},
            "mean_expected_utility": _mean([d.utilities[a] for d, a in zip(decisions, only, strict=True)
                                            if a is not None]),
            "agreement": sum(d.action == a for d, a in zip(decisions, only, strict=True)) / n,
        }
    if truth is not None and n:
        out["realised_mean_utility"] = _mean([spec.utility[d.action][t] for d, t in zip(decisions, truth,
                                                                                         strict=True)])
        if "model_only" in out:
            out["model_only"]["realised_mean_utility"] = _mean(
                [spec.utility[a][t] for a, t in zip(only, truth, strict=True) if a is not None])
    return out


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def fact_kinds(columns: Mapping[str, Kind], regression: bool) -> dict[str, Kind]:
    """The kinds of a record's facts: its columns, plus the model's outputs."""
    return {**columns, "prediction": "number" if regression else "any",
            **({} if regression else {"probability": "number"})}

