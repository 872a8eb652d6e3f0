"""Evaluation: metrics, held-out evaluation, KPI gates, and the HTML run report."""

from aiforge.evaluate._evaluation import Evaluation, evaluate_model
from aiforge.evaluate._gate import GateVerdict, KpiResult, evaluate_gate
from aiforge.evaluate._metrics import METRICS, Metric, compute_metrics, decided, default_metric, metrics_for
from aiforge.evaluate._report import ReportInput, render_report

__all__ = [
    "METRICS",
    "Evaluation",
    "GateVerdict",
    "KpiResult",
    "Metric",
    "ReportInput",
    "compute_metrics",
    "decided",
    "default_metric",
    "evaluate_gate",
    "evaluate_model",
    "metrics_for",
    "render_report",
]
