"""Alerts: the rules of the project file judged on a monitoring report, deduplicated, sent, remembered.

An alert's *fingerprint* says what it is about (rule, model, version, and the drifted columns or the
breached KPIs). Raised again within the dedupe period, it is counted on the stored alert and not sent
again; after the period, or when what it is about changes, it is a new alert and is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from aiforge.monitor._report import MonitorReport
from aiforge.monitor._sinks import deliver
from aiforge.spec import AlertRule, MonitorSpec
from aiforge.workspace import AlertRow, Workspace, serialize

__all__ = ["Alert", "AlertStore", "StoredAlert", "judge_rules", "raise_alerts"]


@dataclass(frozen=True)
class Alert:
    rule: str
    kind: str
    severity: str
    model: str
    version: int
    message: str
    details: dict[str, Any]
    fingerprint: str
    sinks: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "severity": self.severity, "model": self.model,
                "version": self.version, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class StoredAlert:
    id: int
    rule: str
    kind: str
    severity: str
    model: str
    version: int
    message: str
    details: dict[str, Any]
    first_at: datetime
    last_at: datetime
    count: int
    deliveries: dict[str, str]
    new: bool = False  # raised (and sent) just now, rather than counted on an earlier alert

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["first_at"], data["last_at"] = self.first_at.isoformat(), self.last_at.isoformat()
        return data


def judge_rules(rules: list[AlertRule], report: MonitorReport) -> list[Alert]:
    """The alerts ``report`` raises under ``rules``."""
    drift = report.drift
    model, version = report.version.name, report.version.version
    alerts = []
    for rule in rules:
        subject: list[str] = []
        details: dict[str, Any] = {"window_rows": len(report.window)}
        message = ""
        if rule.when == "drift":
            counted = [c for c in drift.columns if rule.columns is None or c.name in rule.columns]
            drifted = [c for c in counted if c.drifted]
            share = len(drifted) / len(counted) if counted else 0.0
            if drifted and share >= rule.min_share:
                subject = sorted(c.name for c in drifted)
                details |= {"columns": {c.name: {"method": c.method, "effect": c.effect, "p_value": c.p_value}
                                        for c in drifted}, "share": round(share, 4)}
                message = (f"{model} v{version}: {len(drifted)} of {len(counted)} input columns drifted "
                           f"({', '.join(subject)}) over {len(report.window)} predictions")
        elif rule.when == "prediction_drift" and drift.prediction is not None and drift.prediction.drifted:
            subject = ["prediction"]
            details |= {"method": drift.prediction.method, "effect": drift.prediction.effect}
            message = (f"{model} v{version}: the predictions drifted ({drift.prediction.method} "
                       f"{drift.prediction.effect:.3g})")
        elif rule.when == "domain_drift" and drift.domain and drift.domain.get("drifted"):
            subject = ["domain"]
            details |= {"auc": drift.domain["auc"], "top_columns": drift.domain.get("top_columns", [])}
            message = f"{model} v{version}: a classifier tells production from training (AUC {drift.domain['auc']})"
        elif rule.when == "kpi_breach" and report.performance is not None and report.performance.breaches:
            subject = sorted(b["metric"] for b in report.performance.breaches)
            details |= {"breaches": report.performance.breaches, "labelled": report.performance.labelled}
            message = f"{model} v{version}: " + "; ".join(b["message"] for b in report.performance.breaches)
        if message:
            alerts.append(Alert(rule.name, rule.when, rule.severity, model, version, message, details,
                                f"{rule.name}:{model}:v{version}:{','.join(subject)}", tuple(rule.sinks)))
    return alerts


class AlertStore:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def record(self, alert: Alert, dedupe: timedelta, now: datetime | None = None) -> tuple[StoredAlert, bool]:
        """Store ``alert``, or count it on the same one raised within ``dedupe``; ``True`` when it is new
        (and so should be sent)."""
        now = now or datetime.now(UTC)
        with self.workspace.session() as s:
            serialize(s, "alerts", alert.fingerprint)  # raised by two processes at once: one alert, counted twice
            recent = s.scalars(select(AlertRow).where(AlertRow.fingerprint == alert.fingerprint,
                                                      AlertRow.last_at >= now - dedupe)
                               .order_by(AlertRow.last_at.desc())).first()
            if recent is not None:
                recent.count += 1
                recent.last_at = now
                s.flush()
                return _stored(recent), False
            row = AlertRow(fingerprint=alert.fingerprint, rule=alert.rule, kind=alert.kind, severity=alert.severity,
                           model=alert.model, version=alert.version, message=alert.message, details=alert.details,
                           first_at=now, last_at=now, count=1, deliveries={})
            s.add(row)
            s.flush()
            return _stored(row, new=True), True

    def delivered(self, ident: int, deliveries: dict[str, str]) -> None:
        with self.workspace.session() as s:
            row = s.get_one(AlertRow, ident)
            row.deliveries = deliveries

    def recent(self, limit: int = 50, model: str | None = None) -> list[StoredAlert]:
        with self.workspace.session() as s:
            query = select(AlertRow).order_by(AlertRow.last_at.desc(), AlertRow.id.desc()).limit(limit)
            if model is not None:
                query = query.where(AlertRow.model == model)
            return [_stored(r) for r in s.scalars(query)]


def _stored(row: AlertRow, new: bool = False) -> StoredAlert:
    return StoredAlert(row.id, row.rule, row.kind, row.severity, row.model, row.version, row.message,
                       dict(row.details), row.first_at, row.last_at, row.count, dict(row.deliveries or {}), new)


def raise_alerts(workspace: Workspace, spec: MonitorSpec, report: MonitorReport) -> list[StoredAlert]:
    """Judge ``spec``'s rules on ``report``; store each alert, and send the new ones to their sinks."""
    from aiforge.monitor._window import parse_period

    store = AlertStore(workspace)
    raised = []
    for alert in judge_rules(spec.alerts, report):
        stored, new = store.record(alert, parse_period(spec.dedupe))
        if new:
            deliveries = deliver(alert.payload() | {"id": stored.id, "at": stored.first_at.isoformat()},
                                 list(alert.sinks), spec.sinks, workspace.root)
            store.delivered(stored.id, deliveries)
            stored = StoredAlert(**{**vars(stored), "deliveries": deliveries})
        raised.append(stored)
    return raised
