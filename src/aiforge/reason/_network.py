"""Discrete Bayesian networks (pgmpy): structure given or learned, tables fitted, exact inference.

A node reads one fact of a record (an input column, or the model's ``probability`` / ``prediction``); a
number is cut into states by the node's ``bins`` (``'<0.1'``, ``'0.1-0.3'``, ``'>=0.3'``), anything else is
a state as written. ``fit_network`` learns the structure when asked (hill climbing with BIC; ties broken
by name, so the same data give the same structure in every process), then the conditional probability
tables with a Dirichlet prior (``pseudo_count`` per cell); the fitted network is
plain JSON (``to_json``), stored in the artifact store and registered with the model version.

``posterior`` answers P(node | evidence) by variable elimination; a missing fact, or a state the network
never saw, is simply not evidence (that is what the network is for: risk under missing evidence). Answers
are cached per evidence, so a batch of records costs one elimination per distinct combination.

pgmpy is the optional ``reason`` extra, imported on first use; its own deprecation warnings are silenced
at that import only.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError, MissingDependency
from aiforge.spec import NetworkSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FittedNetwork", "bin_labels", "fit_network", "state_of"]


def _pgmpy() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pgmpy 1.1 warns about its own deprecated modules on import
            import pgmpy.causal_discovery
            import pgmpy.factors.discrete
            import pgmpy.inference
            import pgmpy.models
            import pgmpy.parameter_estimator

            return pgmpy
    except ImportError as exc:
        raise MissingDependency(
            "Bayesian networks need pgmpy, which is not installed", found=str(exc),
            hint="install the extra: pip install 'aiforge[reason]'") from exc


def bin_labels(bins: list[float]) -> list[str]:
    """The states of a node cut at ``bins``: ``[0.1, 0.3]`` -> ``['<0.1', '0.1-0.3', '>=0.3']``."""
    def show(x: float) -> str:
        return f"{x:g}"
    middle = [f"{show(a)}-{show(b)}" for a, b in zip(bins, bins[1:], strict=False)]
    return [f"<{show(bins[0])}", *middle, f">={show(bins[-1])}"]


def state_of(value: Any, bins: list[float] | None) -> str | None:
    """The state a fact's value falls in (``None``: missing, so not evidence)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if bins is None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    labels = bin_labels(bins)
    for cut, label in zip(bins, labels, strict=False):
        if value < cut:
            return label
    return labels[-1]


@dataclass
class FittedNetwork:
    """A fitted discrete network: nodes with their facts, bins and states, edges, and one table per node
    (``cpds[node] = {"parents": [...], "values": [[P(state | parent states)]...]}``, columns in the order
    pgmpy uses: the last parent varies fastest)."""

    name: str
    facts: dict[str, str]
    bins: dict[str, list[float] | None]
    states: dict[str, list[str]]
    edges: list[tuple[str, str]]
    cpds: dict[str, dict[str, Any]]
    fit: dict[str, Any] = field(default_factory=dict)  # rows, learned or given, BIC, log-likelihood
    _model: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "facts": self.facts, "bins": self.bins, "states": self.states,
                "edges": [list(e) for e in self.edges], "cpds": self.cpds, "fit": self.fit}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FittedNetwork:
        return cls(name=data["name"], facts=dict(data["facts"]), bins=dict(data["bins"]),
                   states={k: list(v) for k, v in data["states"].items()},
                   edges=[(a, b) for a, b in data["edges"]], cpds=dict(data["cpds"]), fit=dict(data.get("fit", {})))

    def evidence(self, facts: Mapping[str, Any], *, exclude: str | None = None) -> dict[str, str]:
        """Each node's state from a record's facts; missing facts and unseen states are left out."""
        out: dict[str, str] = {}
        for node, fact in self.facts.items():
            if node == exclude:
                continue
            state = state_of(facts.get(fact), self.bins[node])
            if state is not None and state in self.states[node]:
                out[node] = state
        return out

    def posterior(self, node: str, evidence: Mapping[str, str]) -> dict[str, float]:
        """P(node | evidence) by variable elimination, as state -> probability."""
        return dict(self._query(node, tuple(sorted(evidence.items()))))

    def model(self) -> Any:
        """The pgmpy ``DiscreteBayesianNetwork`` with its tables (built once)."""
        if self._model is None:
            pgmpy = _pgmpy()
            model = pgmpy.models.DiscreteBayesianNetwork()
            model.add_nodes_from(self.states)
            model.add_edges_from(self.edges)
            for node, cpd in self.cpds.items():
                parents = list(cpd["parents"])
                model.add_cpds(pgmpy.factors.discrete.TabularCPD(
                    node, len(self.states[node]), cpd["values"], evidence=parents or None,
                    evidence_card=[len(self.states[p]) for p in parents] or None,
                    state_names={n: self.states[n] for n in [node, *parents]}))
            model.check_model()
            self._model = model
        return self._model

    @property
    def _query(self) -> Any:
        cached = self.__dict__.get("_cached_query")
        if cached is None:
            inference = _pgmpy().inference.VariableElimination(self.model())
            lock = threading.Lock()  # the server decides in a thread pool; pgmpy promises nothing about threads

            @lru_cache(maxsize=4096)
            def query(node: str, evidence: tuple[tuple[str, str], ...]) -> tuple[tuple[str, float], ...]:
                with lock:
                    factor = inference.query([node], evidence=dict(evidence), show_progress=False)
                names = factor.state_names[node]
                return tuple((str(s), float(p)) for s, p in zip(names, factor.values, strict=True))

            cached = self.__dict__["_cached_query"] = query
        return cached


def fit_network(spec: NetworkSpec, frame: pd.DataFrame) -> FittedNetwork:
    """Fit ``spec`` on ``frame`` (one column per fact its nodes read): learn the structure if asked, then
    the tables. Rows missing any node's fact are left out; a node with fewer than two states seen, or no rows
    left, is a ``DataError``."""
    import pandas as pd

    pgmpy = _pgmpy()
    missing = sorted({n.fact for n in spec.nodes.values()} - set(frame.columns))
    if missing:
        raise DataError(f"network '{spec.name}' reads facts the data does not have: {', '.join(missing)}",
                        where=f"decision.networks ({spec.name})", found=", ".join(map(str, frame.columns[:20])),
                        hint="a node's fact is an input column, or the model's probability / prediction")
    table = pd.DataFrame({node: [state_of(v, n.bins) for v in frame[n.fact].tolist()]
                          for node, n in spec.nodes.items()}).dropna().astype(str)
    if table.empty:
        raise DataError(f"network '{spec.name}': no row has a value for every node",
                        where=f"decision.networks ({spec.name})", hint="check the nodes' facts for missing values")
    states: dict[str, list[str]] = {}
    for node, n in spec.nodes.items():
        seen = set(table[node])
        states[node] = [s for s in bin_labels(n.bins) if s in seen] if n.bins else sorted(seen)
        if len(states[node]) < 2:
            raise DataError(f"network '{spec.name}': node '{node}' takes one value in the data ({states[node]})",
                            where=f"decision.networks ({spec.name}).nodes.{node}",
                            hint="a node needs at least two states: pick another fact, or other bins")
    if spec.learn is not None:
        search = _ordered_search(pgmpy)(
            scoring_method="bic-d", max_indegree=spec.learn.max_indegree, max_iter=spec.learn.max_iterations,
            return_type="dag", show_progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            search.fit(table)
        edges = sorted((str(a), str(b)) for a, b in search.causal_graph_.edges())
    else:
        edges = [(a, b) for a, b in spec.edges or []]
    model = pgmpy.models.DiscreteBayesianNetwork()
    model.add_nodes_from(spec.nodes)
    try:
        model.add_edges_from(edges)
    except ValueError as exc:
        raise DataError(f"network '{spec.name}' is not acyclic", where=f"decision.networks ({spec.name}).edges",
                        found=str(exc), hint="a Bayesian network is a DAG: remove an edge of the cycle") from exc
    estimator = pgmpy.parameter_estimator.DiscreteBayesianEstimator(
        state_names=states, prior_type="dirichlet", pseudo_counts=spec.pseudo_count + 1e-12)
    model.fit(table, estimator=estimator)
    cpds: dict[str, dict[str, Any]] = {}
    for cpd in model.get_cpds():
        node = cpd.variable
        parents = list(cpd.variables[1:])
        values = cpd.get_values()
        cpds[node] = {"parents": parents, "values": [[float(x) for x in row] for row in values]}
    network = FittedNetwork(name=spec.name, facts={k: n.fact for k, n in spec.nodes.items()},
                            bins={k: n.bins for k, n in spec.nodes.items()}, states=states, edges=edges, cpds=cpds,
                            fit={"rows": len(table), "structure": "learned (hill climbing, BIC)" if spec.learn
                                 else "given", "pseudo_count": spec.pseudo_count})
    network.fit["log_likelihood"] = round(_log_likelihood(network, table), 4)
    parameters = sum((len(states[n]) - 1) * math.prod(len(states[p]) for p in c["parents"]) for n, c in cpds.items())
    network.fit["parameters"] = parameters
    network.fit["bic"] = round(network.fit["log_likelihood"] - 0.5 * math.log(len(table)) * parameters, 4)
    return network


def _ordered_search(pgmpy: Any) -> Any:
    """pgmpy's hill climbing with ties broken by name. pgmpy walks the candidate edges of a step as a set, whose
    order follows Python's per-process string hashing, and keeps the first of equal score changes: as BIC gives
    X -> Y and Y -> X the same score while neither has parents, the learned structure changed from one process to
    the next. Candidates taken in sorted order make it the same every run."""
    base = pgmpy.causal_discovery.HillClimbSearch

    class OrderedHillClimbSearch(base):  # type: ignore[misc, valid-type]
        def _legal_operations_dag(self, *args: Any, **kwargs: Any) -> Any:
            return iter(sorted(super()._legal_operations_dag(*args, **kwargs), key=lambda op: repr(op[0])))

    return OrderedHillClimbSearch


def _log_likelihood(network: FittedNetwork, table: pd.DataFrame) -> float:
    """Sum over rows and nodes of log P(node's state | its parents' states), from the fitted tables."""
    import numpy as np

    total = 0.0
    for node, cpd in network.cpds.items():
        parents = cpd["parents"]
        values = np.asarray(cpd["values"])
        rows = table[node].map({s: i for i, s in enumerate(network.states[node])}).to_numpy()
        column = np.zeros(len(table), dtype=int)
        for parent in parents:  # the last parent varies fastest
            column = column * len(network.states[parent]) + table[parent].map(
                {s: i for i, s in enumerate(network.states[parent])}).to_numpy()
        total += float(np.log(values[rows, column]).sum())
    return total
