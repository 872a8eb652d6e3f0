"""The project file's ``decision`` section: rules, Bayesian networks and the policy that acts on a model.

```yaml
decision:
  actions: [approve, review, reject]
  outcome: {network: default_risk, node: default}     # or {model: true}: the model's class probabilities
  utility:                                            # action -> outcome state -> utility
    approve: {"no": 300, "yes": -2000}
    review:  {"no": 250, "yes": -400}
    reject:  {"no": 0, "yes": 0}
  rules:
    - {name: minimum_age, when: "age < 21", forbid: [approve], priority: 100}
    - {name: sanctioned, when: "country in ['XX']", require: reject, priority: 1000}
    - {name: thin_file, when: "is_missing(months_employed)", set: {thin: "true"}}
  networks:
    - name: default_risk
      nodes:
        score: {fact: probability, bins: [0.1, 0.3]}
        employment: {fact: employment}
        default: {fact: default}
      edges: [[score, default], [employment, default]]   # or learn: {score: bic}
```

The expressions are checked by ``aiforge.reason`` when the project loads (``pipeline.load_project``): this
module checks shapes only, so that ``spec`` imports nothing above it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

__all__ = ["DecisionSpec", "NetworkLearnSpec", "NetworkNode", "NetworkSpec", "OutcomeSpec", "RuleSpec"]

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(_Strict):
    """A production rule: when its condition holds for a record, it derives facts, forbids actions or
    requires one. Rules are chained forward until nothing changes (docs/reasoning.md)."""

    name: str = Field(pattern=_NAME, description="The rule's name, shown in every explanation.")
    when: str = Field(min_length=1, description="The condition: an expression over input fields, the model's "
                      "outputs (prediction, probability) and facts other rules set, e.g. \"age < 21 and income < "
                      "20000\". A condition on a missing field is unknown, and the rule does not fire.")
    set: dict[str, str] = Field(default_factory=dict, description="Facts this rule derives: name -> expression "
                                "(text literals in quotes: \"'prime'\"). Other rules may read them.")
    forbid: list[str] = Field(default_factory=list, description="Actions the policy may not choose when the rule "
                              "fires (hard limits).")
    require: str | None = Field(None, description="The action taken when the rule fires, whatever the utilities "
                                "(regulatory exclusions).")
    priority: StrictInt = Field(0, description="Higher first. When two fired rules disagree (a fact, or the "
                                "required action), the higher priority wins, then the more specific condition "
                                "(more comparisons), then the rule written first.")
    reason: str = Field("", description="Why the rule exists, in a sentence; shown in explanations.")

    @field_validator("set")
    @classmethod
    def _fact_names(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(f"fact name {name!r} must be an identifier (letters, digits, '_')")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> RuleSpec:
        if not self.set and not self.forbid and self.require is None:
            raise ValueError(f"rule '{self.name}' does nothing: give it set:, forbid: or require:")
        if self.require is not None and self.require in self.forbid:
            raise ValueError(f"rule '{self.name}' both requires and forbids '{self.require}'")
        return self


class NetworkNode(_Strict):
    """A variable of a Bayesian network, read from a fact: an input column, or the model's ``probability`` or
    ``prediction``. Numbers are cut into states by ``bins``; other values are states as they are."""

    fact: str = Field(pattern=_NAME, description="The column, or model output, the node's value comes from.")
    bins: list[float] | None = Field(None, min_length=1, description="Cut points for a numeric fact, increasing: "
                                     "[0.1, 0.3] makes the states '<0.1', '0.1-0.3', '>=0.3'.")

    @field_validator("bins")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"bins must be strictly increasing; got {value}")
        return value


class NetworkLearnSpec(_Strict):
    """Structure learning from the run's data: hill climbing over DAGs, scored by BIC."""

    score: Literal["bic"] = Field("bic", description="The structure score (BIC: log-likelihood less a penalty "
                                  "per parameter).")
    max_indegree: StrictInt = Field(3, ge=1, le=6, description="Most parents a node may have.")
    max_iterations: StrictInt = Field(1000, ge=1, description="Most edge changes the search makes.")


class NetworkSpec(_Strict):
    """A discrete Bayesian network (pgmpy): its nodes, and edges given or learned; its conditional probability
    tables are fitted on the run's data and it is registered with the model version."""

    name: str = Field(pattern=_NAME, description="The network's name (outcome: {network: NAME}).")
    nodes: dict[str, NetworkNode] = Field(min_length=2, description="node name -> {fact, bins}.")
    edges: list[tuple[str, str]] | None = Field(None, description="Directed edges [parent, child]; omit them and "
                                                "set learn: to learn the structure from the data.")
    learn: NetworkLearnSpec | None = Field(None, description="Learn the structure (hill climbing, BIC) instead "
                                           "of giving edges.")
    pseudo_count: float = Field(1.0, ge=0, description="Dirichlet pseudo-count per cell of each table (BDeu-style "
                                "smoothing, so a combination of parent states not seen in the data is not 0/0).")

    @model_validator(mode="after")
    def _structure(self) -> NetworkSpec:
        import re

        for node in self.nodes:
            if not re.match(_NAME, node):
                raise ValueError(f"node name {node!r} must be an identifier (letters, digits, '_')")
        if (self.edges is None) == (self.learn is None):
            raise ValueError(f"network '{self.name}' needs edges: or learn: (exactly one)")
        for parent, child in self.edges or []:
            for end in (parent, child):
                if end not in self.nodes:
                    raise ValueError(f"edge [{parent}, {child}] of network '{self.name}' names '{end}', which is "
                                     f"not one of its nodes ({', '.join(self.nodes)})")
            if parent == child:
                raise ValueError(f"edge [{parent}, {child}] of network '{self.name}' is a loop")
        return self


class OutcomeSpec(_Strict):
    """Where the probability of each outcome state comes from: the model's class probabilities, or the
    posterior of a network node given the record's evidence."""

    model: bool = Field(False, description="true: the model's class probabilities (its classes are the states).")
    network: str | None = Field(None, description="The network whose node's posterior is used.")
    node: str | None = Field(None, description="The node of that network (never taken as evidence).")

    @model_validator(mode="after")
    def _one_source(self) -> OutcomeSpec:
        if self.model == (self.network is not None):
            raise ValueError("outcome is {model: true} or {network: NAME, node: NODE}")
        if self.network is not None and self.node is None:
            raise ValueError(f"outcome names network '{self.network}' but no node: add node: NODE")
        return self


class DecisionSpec(_Strict):
    """The decision layer: model outputs and rules, network posteriors, and a utility per action and outcome.
    The chosen action is the allowed one of highest expected utility (``aiforge decide``,
    ``POST /v1/decisions/{name}``)."""

    actions: list[str] = Field(min_length=2, description="The actions the policy chooses from.")
    outcome: OutcomeSpec = Field(description="Where the outcome's probabilities come from.")
    utility: dict[str, dict[str, float]] = Field(description="action -> outcome state -> utility (a cost is "
                                                 "negative); every action and every state.")
    rules: list[RuleSpec] = Field(default_factory=list, description="Rules over the inputs and the model's "
                                  "outputs: derive facts, forbid actions, require one.")
    networks: list[NetworkSpec] = Field(default_factory=list, description="Discrete Bayesian networks (pgmpy).")
    max_iterations: StrictInt = Field(100, ge=1, le=100_000, description="Most rule firings per record before "
                                      "forward chaining is stopped as runaway.")

    @model_validator(mode="after")
    def _consistent(self) -> DecisionSpec:
        twice = sorted({a for a in self.actions if self.actions.count(a) > 1})
        if twice:
            raise ValueError(f"decision.actions lists {', '.join(twice)} more than once")
        for names, what in (([r.name for r in self.rules], "rule"), ([n.name for n in self.networks], "network")):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{what} names must be unique; repeated: {', '.join(repeated)}")
        unknown = sorted(set(self.utility) - set(self.actions))
        missing = [a for a in self.actions if a not in self.utility]
        if unknown or missing:
            raise ValueError("decision.utility needs one row per action"
                             + (f"; not an action: {', '.join(unknown)}" if unknown else "")
                             + (f"; missing: {', '.join(missing)}" if missing else ""))
        states = [sorted(row) for row in self.utility.values()]
        if any(s != states[0] for s in states):
            raise ValueError("every row of decision.utility must name the same outcome states; found "
                             + "; ".join(f"{a}: {', '.join(sorted(r))}" for a, r in self.utility.items()))
        if not states[0]:
            raise ValueError("decision.utility names no outcome state")
        for rule in self.rules:
            for action in [*rule.forbid, *([rule.require] if rule.require else [])]:
                if action not in self.actions:
                    raise ValueError(f"rule '{rule.name}' names action '{action}', which is not one of "
                                     f"decision.actions ({', '.join(self.actions)})")
        if self.outcome.network is not None:
            nets = {n.name: n for n in self.networks}
            net = nets.get(self.outcome.network)
            if net is None:
                raise ValueError(f"outcome names network '{self.outcome.network}', which decision.networks does "
                                 f"not define ({', '.join(nets) or 'none'})")
            if self.outcome.node not in net.nodes:
                raise ValueError(f"outcome names node '{self.outcome.node}', which network '{net.name}' does not "
                                 f"have ({', '.join(net.nodes)})")
        return self

    @property
    def states(self) -> list[str]:
        """The outcome states, in the order the first utility row names them."""
        return list(next(iter(self.utility.values())))
