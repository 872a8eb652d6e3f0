"""Monitoring: the prediction log, drift of production data against each version's stored reference,
production KPIs from delayed labels, alerts, and the closed loop (watch -> retrain -> gate -> rollout)."""

from aiforge.monitor._alerts import Alert, AlertStore, StoredAlert, judge_rules, raise_alerts
from aiforge.monitor._decisions import DECISION_DRIFT_PSI, DecisionLog, DecisionReport, decision_report
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
from aiforge.monitor._report import MonitorReport, monitor_report, reference_of, render_monitor_report
from aiforge.monitor._watch import (
    ACTIONS,
    Comparison,
    WatchCycle,
    WatchEvent,
    WatchJournal,
    labelled_production_rows,
    watch_once,
)
from aiforge.monitor._window import PredictionWindow, parse_period, prediction_window

__all__ = [
    "ACTIONS",
    "DECISION_DRIFT_PSI",
    "DecisionLog",
    "DecisionReport",
    "decision_report",
    "COLUMNS",
    "Alert",
    "AlertStore",
    "ColumnDrift",
    "Comparison",
    "DriftReport",
    "DriftSettings",
    "MonitorReport",
    "PredictionLog",
    "PredictionWindow",
    "ProductionPerformance",
    "StoredAlert",
    "WatchCycle",
    "WatchEvent",
    "WatchJournal",
    "WindowCounts",
    "column_drift",
    "detect_drift",
    "detect_drift_in_parquet",
    "domain_classifier",
    "judge_rules",
    "labelled_production_rows",
    "load_outcomes",
    "monitor_report",
    "parse_period",
    "prediction_window",
    "production_performance",
    "raise_alerts",
    "read_predictions",
    "reference_of",
    "render_monitor_report",
    "watch_once",
]
