"""Monitoring: the prediction log, and drift of production data against each version's stored reference."""

from aiforge.monitor._alerts import Alert, AlertStore, StoredAlert, judge_rules, raise_alerts
from aiforge.monitor._drift import (
    ColumnDrift,
    DriftReport,
    DriftSettings,
    WindowCounts,
    column_drift,
    detect_drift,
    detect_drift_in_parquet,
    domain_classifier,
)
from aiforge.monitor._performance import ProductionPerformance, load_outcomes, production_performance
from aiforge.monitor._predlog import COLUMNS, PredictionLog, read_predictions
from aiforge.monitor._report import MonitorReport, monitor_report, render_monitor_report
from aiforge.monitor._window import PredictionWindow, parse_period, prediction_window

__all__ = [
    "COLUMNS",
    "Alert",
    "AlertStore",
    "ColumnDrift",
    "DriftReport",
    "DriftSettings",
    "MonitorReport",
    "PredictionLog",
    "PredictionWindow",
    "ProductionPerformance",
    "StoredAlert",
    "WindowCounts",
    "column_drift",
    "detect_drift",
    "detect_drift_in_parquet",
    "domain_classifier",
    "judge_rules",
    "load_outcomes",
    "monitor_report",
    "parse_period",
    "prediction_window",
    "production_performance",
    "raise_alerts",
    "read_predictions",
    "render_monitor_report",
]
