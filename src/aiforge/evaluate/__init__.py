"""Evaluation: metrics, held-out evaluation, trustworthiness checks, KPI gates, the run report."""

from aiforge.evaluate import _energy, _fairness, _label_noise, _privacy, _robustness  # noqa: F401  (the checks register on import)
from aiforge.evaluate import _html as html  # the parts of aiforge's HTML pages, for the other reports
from aiforge.evaluate._card import ModelCard, render_model_card
from aiforge.evaluate._checks import CHECK_METRICS, CHECKS, CheckContext, CheckMetric, CheckResult, run_checks
from aiforge.evaluate._comparison import Candidate, LearnerComparison, compare_models, shown_metrics
from aiforge.evaluate._compression import compression_result, compression_skipped
from aiforge.evaluate._evaluation import Evaluation, evaluate_model
from aiforge.evaluate._explain import Explanation, explain_rows
from aiforge.evaluate._gate import GateVerdict, KpiResult, evaluate_gate
from aiforge.evaluate._metrics import METRICS, Metric, compute_metrics, decided, default_metric, metrics_for
from aiforge.evaluate._report import ReportInput, render_report

__all__ = [
    "CHECKS",
    "CHECK_METRICS",
    "METRICS",
    "Candidate",
    "CheckContext",
    "CheckMetric",
    "CheckResult",
    "Evaluation",
    "Explanation",
    "GateVerdict",
    "KpiResult",
    "LearnerComparison",
    "Metric",
    "ModelCard",
    "ReportInput",
    "compare_models",
    "compression_result",
    "compression_skipped",
    "compute_metrics",
    "decided",
    "default_metric",
    "evaluate_gate",
    "evaluate_model",
    "explain_rows",
    "html",
    "metrics_for",
    "render_model_card",
    "render_report",
    "run_checks",
    "shown_metrics",
]
