"""A registered version's decisions: its model and decision bundle loaded from the registry, applied to
records (the server), or to a file (``aiforge decide``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError, RegistryError
from aiforge.reason._decide import MODEL_OUTPUTS, DecisionBundle, decide_records, summarise
from aiforge.reason._policy import Decision
from aiforge.registry import ModelRegistry, ModelVersion

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DecideResult", "Decider", "decide_file", "decision_rows", "model_facts"]


def model_facts(label: Any, probabilities: Sequence[float] | None, class_keys: Sequence[str]) -> dict[str, Any]:
    """A record's model facts from a prediction: ``prediction``, and for classification ``probability`` (binary:
    of the positive class, the second; multiclass: of the predicted one) and ``probabilities``."""
    if probabilities is None or not class_keys:
        return {"prediction": label}
    row = [float(p) for p in probabilities]
    if len(class_keys) == 2:
        probability = row[1]
    else:
        probability = row[list(class_keys).index(str(label))] if str(label) in class_keys else max(row)
    return {"prediction": label, "probability": probability, "probabilities": dict(zip(class_keys, row, strict=True))}


@dataclass
class Decider:
    """A version with its decision bundle: ``Decider.load(registry, version)``."""

    version: ModelVersion
    model: Any
    bundle: DecisionBundle

    @classmethod
    def load(cls, registry: ModelRegistry, version: ModelVersion, model: Any = None) -> Decider:
        """The version's bundle (hash verified) and, unless given, its model."""
        if "decision" not in version.documents:
            raise RegistryError(
                f"{version.name} v{version.version} has no decision layer",
                found="documents: " + (", ".join(sorted(version.documents)) or "none"),
                hint="add a decision: section to the project file (docs/reasoning.md) and run it again")
        bundle = DecisionBundle.from_bytes(registry.document(version, "decision"))
        return cls(version, model if model is not None else registry.load_model(version), bundle)

    @property
    def extra_facts(self) -> list[str]:
        """Facts the rules and networks read that are not inputs of the model (nor its outputs, nor derived):
        a record may carry them beside the model's inputs."""
        inputs = set(getattr(self.model, "input_columns", []) or [])
        derived = set(self.bundle.rules.derived)
        read = {n for r in self.bundle.rules.rules for n in r.reads}
        read |= {node.fact for net in self.bundle.spec.networks for node in net.nodes.values()}
        return sorted(read - inputs - derived - set(MODEL_OUTPUTS))

    def decide(self, facts: Sequence[dict[str, Any]], models: Sequence[dict[str, Any]]) -> list[Decision]:
        """Decisions for records given their facts and their model facts (``model_facts``)."""
        return [self.bundle.decide(f, m) for f, m in zip(facts, models, strict=True)]


def decision_rows(decisions: Sequence[Decision], states: Sequence[str]) -> dict[str, list[Any]]:
    """The output columns of decisions: action, expected utility, why, the model-only action, the rules that
    fired, the forbidden actions, the required-by rule and one probability per outcome state."""
    columns: dict[str, list[Any]] = {
        "action": [d.action for d in decisions],
        "expected_utility": [d.expected_utility for d in decisions],
        "why": [d.why for d in decisions],
        "model_only_action": [d.model_only for d in decisions],
        "rules_fired": [",".join(f.rule for f in d.firings if f.overruled_by is None) for d in decisions],
        "forbidden": [",".join(d.forbidden) for d in decisions],
        "required_by": [d.required_by for d in decisions],
    }
    for state in states:
        columns[f"probability_{state}"] = [d.probabilities.get(state) for d in decisions]
    return columns


@dataclass(frozen=True)
class DecideResult:
    rows: int
    seconds: float
    output: Path
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "seconds": round(self.seconds, 3), "output": str(self.output), **self.summary}


def decide_file(decider: Decider, source: Path, output: Path, *, keep: Sequence[str] = (),
                truth: str | None = None) -> DecideResult:
    """Decide every record of ``source`` (.csv or .parquet) into ``output`` (.csv or .parquet, by suffix): the
    ``keep`` columns, then the decision columns (``decision_rows``). With ``truth`` (a column holding each
    record's actual outcome state) the summary adds the realised utility of the policy and of the model alone.
    The output appears only when complete."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    started = time.perf_counter()
    frame = _read(source)
    wanted = list(getattr(decider.model, "input_columns", []) or [])
    missing = [c for c in wanted if c not in frame.columns]
    absent = [c for c in [*keep, *([truth] if truth else [])] if c not in frame.columns]
    if missing or absent:
        raise DataError(f"{source} lacks columns the decision needs: {', '.join(missing + absent)}",
                        where=str(source), expected=", ".join(wanted), found=", ".join(map(str, frame.columns)),
                        hint="the model's input columns are required; --keep and --truth name columns of the file")
    if truth is not None:
        states = [str(_state(v)) for v in frame[truth].tolist()]
        unknown = sorted(set(states) - set(decider.bundle.spec.states))
        if unknown:
            raise DataError(f"--truth column '{truth}' holds values that are not outcome states",
                            where=str(source), expected=", ".join(decider.bundle.spec.states),
                            found=", ".join(unknown[:10]), hint="name the column holding the actual outcome")
    inputs = frame.drop(columns=[truth]) if truth else frame
    decisions = decide_records(decider.bundle, decider.model, inputs)
    columns = {k: frame[k].tolist() for k in keep}
    columns.update(decision_rows(decisions, decider.bundle.spec.states))
    table = pa.table(columns)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    if output.suffix.lower() == ".csv":
        pacsv.write_csv(table, tmp)
    else:
        pq.write_table(table, tmp)
    os.replace(tmp, output)
    summary = summarise(decider.bundle, decisions, states if truth is not None else None)
    summary = {"model": decider.version.name, "version": decider.version.version, **summary}
    return DecideResult(len(decisions), time.perf_counter() - started, output, summary)


def _read(source: Path) -> pd.DataFrame:
    import pandas as pd

    if not source.is_file():
        raise DataError("input file not found", where=str(source), hint="check the path")
    suffix = source.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(source)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(source)
    raise DataError("cannot read this kind of file", where=str(source), expected=".csv or .parquet",
                    found=suffix or "no suffix")


def _state(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
