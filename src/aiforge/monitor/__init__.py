"""Monitoring: drift of production data against each version's stored reference."""

from aiforge.monitor._drift import (
    ColumnDrift,
    DriftReport,
    DriftSettings,
    column_drift,
    detect_drift,
    domain_classifier,
)

__all__ = ["ColumnDrift", "DriftReport", "DriftSettings", "column_drift", "detect_drift", "domain_classifier"]
