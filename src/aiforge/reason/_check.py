"""What the ``decision`` section needs, checked before anything runs.

Without the data (``columns`` is None) the expressions are parsed and whitelisted; with the data's columns
and their kinds, every fact a rule or a network node reads must exist and every expression must type-check.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiforge.reason._decide import MODEL_OUTPUTS, fact_kinds
from aiforge.reason._expr import ExpressionError, Kind, compile_expression
from aiforge.reason._rules import RuleSet
from aiforge.spec import DecisionSpec

__all__ = ["decision_problems"]

FieldPath = tuple[str | int, ...]


def decision_problems(spec: DecisionSpec, columns: Mapping[str, Kind] | None = None, *, target: str | None = None,
                      regression: bool = False) -> list[tuple[FieldPath, str]]:
    """Each problem as ``(path under the project file, message)``; none means the section is sound."""
    problems: list[tuple[FieldPath, str]] = []
    for i, rule in enumerate(spec.rules):
        for sub, text in (("when",), rule.when), *((("set", k), v) for k, v in rule.set.items()):
            try:
                compile_expression(text)
            except ExpressionError as exc:
                problems.append((("decision", "rules", i, *sub), f"rule '{rule.name}': {exc}"))
    if problems or columns is None:
        return problems
    inputs = {k: v for k, v in columns.items() if k != target}
    for name in MODEL_OUTPUTS:
        if name in inputs:
            problems.append((("decision",), f"the data has a column '{name}', the name of a model output that rules "
                             "and networks read; rename the column (data.steps: rename)"))
    kinds = fact_kinds(inputs, regression)
    for index, field, message in RuleSet(spec.rules, max_iterations=spec.max_iterations).check(kinds):
        path: FieldPath = ("decision", "rules", index, *field.split(".", 1))
        problems.append((path, message))
    for n, net in enumerate(spec.networks):
        for node, value in net.nodes.items():
            if value.fact == target:
                is_outcome = spec.outcome.network == net.name and spec.outcome.node == node
                if not is_outcome:
                    problems.append((("decision", "networks", n, "nodes", node), f"node '{node}' reads the target "
                                     f"'{target}', which records to decide on do not have; only the outcome node "
                                     "may read it"))
                continue
            if value.fact not in kinds:
                problems.append((("decision", "networks", n, "nodes", node, "fact"),
                                 f"node '{node}' of network '{net.name}' reads '{value.fact}', which is neither a "
                                 f"column of the data nor a model output ({', '.join(MODEL_OUTPUTS)})"))
            elif value.bins is not None and kinds[value.fact] not in ("number", "any"):
                problems.append((("decision", "networks", n, "nodes", node, "bins"),
                                 f"node '{node}' cuts '{value.fact}' into bins, but it is {kinds[value.fact]}"))
    if spec.outcome.model and regression:
        problems.append((("decision", "outcome"), "outcome {model: true} needs class probabilities, but the task "
                         "is a regression; use a network node as the outcome"))
    return problems
