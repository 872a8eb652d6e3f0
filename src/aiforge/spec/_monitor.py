"""The ``monitor:`` section of the project file: how drift is judged, and which alerts go where."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

__all__ = ["AlertRule", "DriftSpec", "EmailSink", "LogSink", "MonitorSpec", "RetrainSpec", "SinksSpec", "WebhookSink"]

SinkName = Literal["log", "webhook", "email"]
PERIOD = r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftSpec(_Strict):
    """How a column's drift is decided (see docs/monitoring.md)."""

    method: Literal["auto", "psi", "jensen_shannon", "wasserstein", "ks"] = Field(
        "auto", description="The effect size that decides (auto: Wasserstein/σ for numbers, Jensen–Shannon for "
        "categories).")
    threshold: float | None = Field(None, gt=0, description="The effect size from which a column drifts "
                                    "(default 0.1; PSI 0.2).")
    alpha: float = Field(0.05, gt=0, lt=1, description="The significance level the test must also reach.")
    window: str = Field("1d", pattern=PERIOD, description="The period of predictions checked: 30m, 6h, 1d, 2w.")


class AlertRule(_Strict):
    """When to raise an alert, and where to send it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="The rule's name (monitor.retrain.alerts "
                      "names it).", examples=["inputs-drift"])
    when: Literal["drift", "prediction_drift", "domain_drift", "kpi_breach"] = Field(
        description="drift: input columns drifted; prediction_drift: the outputs drifted; domain_drift: the "
        "domain classifier tells the window from training; kpi_breach: a gate KPI fails on the production "
        "outcomes fed back.")
    min_share: float = Field(0.0, ge=0, le=1, description="drift: the share of columns that must drift (0: any).")
    columns: list[str] | None = Field(None, description="drift: only these columns count.")
    severity: Literal["info", "warning", "critical"] = Field("warning", description="How urgent the alert is "
                                                             "(sent with it).")
    sinks: list[SinkName] = Field(default_factory=lambda: list[SinkName](["log"]), min_length=1,
                                  description="Where the alert goes: log, webhook, email (each but log needs its "
                                  "monitor.sinks section).")


class LogSink(_Strict):
    """Alerts appended to a file as JSON lines."""

    path: str | None = Field(None, description="A file alerts are appended to as JSON lines (default: the "
                             "workspace's alerts.log).")


class WebhookSink(_Strict):
    """Alerts POSTed as JSON to a URL."""

    url: str = Field(pattern=r"^https?://", description="Receives each alert as a JSON POST.")
    retries: StrictInt = Field(3, ge=0, le=10, description="Retries after a failure, with exponential backoff.")
    timeout_seconds: float = Field(5.0, gt=0, le=120, description="Connecting, and waiting for the answer.")
    token_env: str | None = Field(None, description="An environment variable holding a bearer token to send.")


class EmailSink(_Strict):
    """Alerts sent by e-mail over SMTP."""

    host: str = Field("localhost", description="The SMTP server.")
    port: StrictInt = Field(25, ge=1, le=65535, description="The SMTP server's port.")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="The From address.",
                        examples=["aiforge@example.com"])
    to: list[str] = Field(min_length=1, description="The recipients.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before logging in.")
    username_env: str | None = Field(None, description="Environment variables holding the SMTP login, if any.")
    password_env: str | None = Field(None, description="The environment variable holding the SMTP password.")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Connecting, and each SMTP command.")


class SinksSpec(_Strict):
    """Where alerts can be sent; an alert rule names the sinks it uses."""

    log: LogSink = Field(LogSink(), description="A JSON-lines file (always available).")
    webhook: WebhookSink | None = Field(None, description="A URL that receives each alert as a JSON POST.")
    email: EmailSink | None = Field(None, description="An SMTP server and recipients.")


class RetrainSpec(_Strict):
    """The closed loop (``aiforge monitor watch``): which alerts retrain the model, on what data, and when a
    retrained version may go out (every KPI gate, then no worse than the version that answers on the newest
    labelled production rows, then the ``deploy:`` rollout)."""

    alerts: list[str] = Field(min_length=1, description="The alert rules (monitor.alerts names) that trigger a "
                              "retrain.")
    feedback: bool = Field(True, description="Besides the project's sources (read again: fresh rows), train on "
                           "the logged production inputs that have an outcome fed back, labelled with it.")
    feedback_window: str = Field("30d", pattern=PERIOD, description="How far back labelled production rows are "
                                 "taken from.")
    min_feedback: StrictInt = Field(100, ge=0, description="feedback: the labelled production rows needed before a "
                                    "retrain (fewer: wait for more outcomes).")
    holdout: float = Field(0.2, ge=0, lt=1, description="The newest share of the labelled production rows kept out "
                           "of training, on which the candidate is compared with the version that answers (0: no "
                           "comparison).")
    tolerance: float = Field(0.0, ge=0, description="How much worse than the answering version, by the search "
                             "metric on the holdout, the candidate may be and still be deployed.")
    cooldown: str = Field("1h", pattern=PERIOD, description="No new retrain of the model within this period after "
                          "one (whatever its outcome).")


class MonitorSpec(_Strict):
    """Production monitoring: drift, alert rules, where alerts go, and the closed loop."""

    drift: DriftSpec = Field(DriftSpec(), description="How a column's drift is decided.")
    alerts: list[AlertRule] = Field(default_factory=list, description="When to raise alerts, and where to send them.")
    sinks: SinksSpec = Field(SinksSpec(), description="The configured destinations of alerts.")
    dedupe: str = Field("1h", pattern=PERIOD, description="The same alert raised again within this period is "
                        "counted, not sent again.")
    every: str = Field("10m", pattern=PERIOD, description="aiforge monitor watch: how often to check.")
    retrain: RetrainSpec | None = Field(None, description="The closed loop: retrain on these alerts and roll the "
                                        "new version out (aiforge monitor watch).")

    @model_validator(mode="after")
    def _sinks_configured(self) -> MonitorSpec:
        for i, rule in enumerate(self.alerts):
            for sink in rule.sinks:
                if sink != "log" and getattr(self.sinks, sink) is None:
                    raise ValueError(f"alert '{rule.name}' (alerts[{i}]) sends to '{sink}', but monitor.sinks has "
                                     f"no '{sink}' section: add monitor.sinks.{sink}")
        names = [r.name for r in self.alerts]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"alert names must be unique; repeated: {', '.join(duplicated)}")
        unknown = [n for n in (self.retrain.alerts if self.retrain else []) if n not in names]
        if unknown:
            raise ValueError(f"monitor.retrain.alerts names {', '.join(unknown)}, which monitor.alerts does not define "
                             f"(alerts: {', '.join(names) or 'none'})")
        return self
