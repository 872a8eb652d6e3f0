"""Monitoring: the prediction log, and drift of production data against each version's stored reference."""

from aiforge.monitor._drift import (
    ColumnDrift,
    DriftReport,
    DriftSettings,
    column_drift,
    detect_drift,
    domain_classifier,
)
from aiforge.monitor._predlog import COLUMNS, PredictionLog, read_predictions

__all__ = [
    "COLUMNS",
    "ColumnDrift",
    "DriftReport",
    "DriftSettings",
    "PredictionLog",
    "column_drift",
    "detect_drift",
    "domain_classifier",
    "read_predictions",
]
