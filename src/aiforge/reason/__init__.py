"""Decisions on top of models: rules, Bayesian networks and decision policies."""

from aiforge.reason._check import decision_problems
from aiforge.reason._decide import (
    MODEL_OUTPUTS,
    DecisionBundle,
    decide_records,
    fact_kinds,
    fit_bundle,
    model_outputs,
    summarise,
)
from aiforge.reason._expr import FUNCTIONS, Expression, ExpressionError, Kind, compile_expression, kind_of
from aiforge.reason._network import FittedNetwork, bin_labels, fit_network, state_of
from aiforge.reason._policy import Choice, Decision, RuleConflict, choose, expected_utilities
from aiforge.reason._rules import CompiledRule, Firing, RuleCycle, RuleOutcome, RuleSet
from aiforge.reason._served import Decider, DecideResult, decide_file, decision_rows, model_facts

__all__ = [
    "FUNCTIONS",
    "MODEL_OUTPUTS",
    "Choice",
    "CompiledRule",
    "DecideResult",
    "Decider",
    "Decision",
    "DecisionBundle",
    "Expression",
    "ExpressionError",
    "FittedNetwork",
    "Firing",
    "Kind",
    "RuleConflict",
    "RuleCycle",
    "RuleOutcome",
    "RuleSet",
    "bin_labels",
    "choose",
    "compile_expression",
    "decide_file",
    "decide_records",
    "decision_problems",
    "decision_rows",
    "expected_utilities",
    "fact_kinds",
    "fit_bundle",
    "fit_network",
    "kind_of",
    "model_facts",
    "model_outputs",
    "state_of",
    "summarise",
]
