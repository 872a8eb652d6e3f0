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
from aiforge.monitor._schedule import (
    ScheduleState,
    crontab_lines,
    due_fire_time,
    fire_times,
    run_due_schedules,
    schedule_states,
)
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
    "COLUMNS",
    "DECISION_DRIFT_PSI",
    "Alert",
    "AlertStore",
    "ColumnDrift",
    "Comparison",
    "DecisionLog",
    "DecisionReport",
    "DriftReport",
    "DriftSettings",
    "MonitorReport",
    "PredictionLog",
    "PredictionWindow",
    "ProductionPerformance",
    "ScheduleState",
    "StoredAlert",
    "WatchCycle",
    "WatchEvent",
    "WatchJournal",
    "WindowCounts",
    "column_drift",
    "crontab_lines",
    "decision_report",
    "detect_drift",
    "detect_drift_in_parquet",
    "domain_classifier",
    "due_fire_time",
    "fire_times",
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
    "run_due_schedules",
    "schedule_states",
    "watch_once",
]
