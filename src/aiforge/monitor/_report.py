"""`aiforge monitor report`: drift of a model's recent predictions against its version's reference, as
JSON and as one self-contained HTML page with a plot per column."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiforge.data import ReferenceProfile
from aiforge.errors import AiforgeError, RegistryError
from aiforge.monitor._decisions import DECISION_DRIFT_PSI, DecisionReport, decision_report
from aiforge.monitor._drift import DriftReport, DriftSettings, detect_drift, domain_classifier
from aiforge.monitor._performance import ProductionPerformance, production_performance
from aiforge.monitor._window import PredictionWindow, outputs_of, prediction_window
from aiforge.registry import ModelRegistry, ModelVersion, OutcomeStore, served_version

__all__ = ["MonitorReport", "drift_html", "monitor_html", "monitor_report", "reference_of", "render_monitor_report"]

PLOTTED_COLUMNS = 30


@dataclass(frozen=True)
class MonitorReport:
    version: ModelVersion
    window: PredictionWindow
    drift: DriftReport
    seconds: float
    performance: ProductionPerformance | None = None
    series: list[dict[str, Any]] | None = None  # drift per period (with ``every``), oldest first
    decisions: DecisionReport | None = None  # the decision policy's live decisions, when it has one and logged some

    def to_json(self) -> dict[str, Any]:
        return {"model": self.version.name, "version": self.version.version, "rows": len(self.window),
                "start": self.window.start.isoformat() if self.window.start else None,
                "end": self.window.end.isoformat() if self.window.end else None, "seconds": round(self.seconds, 3),
                "drift": self.drift.to_json(),
                "performance": self.performance.to_json() if self.performance else None,
                "series": self.series, "decisions": self.decisions.to_json() if self.decisions else None}

    def _repr_html_(self) -> str:
        """The report as Jupyter shows it: production performance and drift per column (no plots)."""
        from aiforge.evaluate import html

        return html.fragment(monitor_html(self))


def reference_of(registry: ModelRegistry, version: ModelVersion) -> ReferenceProfile:
    """The training reference statistics registered with ``version``: what its drift is measured against."""
    if "reference" not in version.documents:
        raise RegistryError(f"{version.name} v{version.version} has no reference statistics",
                            found=", ".join(sorted(version.documents)) or "no documents",
                            hint="it was registered before monitoring existed: run the project again to register "
                            "a version with its reference")
    return ReferenceProfile.from_json(json.loads(registry.document(version, "reference")))


def monitor_report(registry: ModelRegistry, name: str, *, period: timedelta | None = None, last: int | None = None,
                   version: int | None = None, settings: DriftSettings | None = None,
                   domain: bool = True, every: timedelta | None = None) -> MonitorReport:
    """Drift of ``name``'s logged predictions (of the last ``period`` and/or the ``last`` ones) against the
    reference of ``version`` (default: the version that answers now; only its predictions are compared)."""
    import pandas as pd

    started = time.perf_counter()
    versions = registry.versions(name)
    if not versions:
        raise RegistryError(f"no model named '{name}'", hint="list models with 'aiforge models'")
    chosen = next((v for v in versions if v.version == version), None) if version is not None \
        else served_version(versions)
    if chosen is None:
        raise RegistryError(f"model '{name}' has no version {version}" if version is not None
                            else f"model '{name}' has no version that answers",
                            found="versions " + ", ".join(str(v.version) for v in versions))
    reference = reference_of(registry, chosen)
    window = prediction_window(registry.workspace.root / "predictions", name, period=period, last=last,
                               version=chosen.version)
    if len(window) == 0:
        raise AiforgeError(f"no logged predictions of {name} v{chosen.version} in the window",
                           hint="widen --window or --last; predictions are logged by 'aiforge serve' unless "
                           "--no-log-predictions")
    prediction = outputs_of(window.log, reference.meta.get("positive"))
    drift = detect_drift(reference, window.columns, prediction=prediction, settings=settings)
    if domain and "background" in chosen.documents:
        import io

        import pyarrow.parquet as pq

        background = pq.read_table(io.BytesIO(registry.document(chosen, "background"))).to_pandas()
        categorical = [n for n, c in reference.columns.items() if c.kind == "categorical"]
        import numpy as np

        picked = np.sort(np.random.default_rng(0).choice(len(window), min(len(window), 5 * len(background)),
                                                         replace=False))
        sample = window.rows(picked)
        sample = sample.to_pandas() if hasattr(sample, "schema") else sample
        result = domain_classifier(background, sample if len(sample) else pd.DataFrame(), categorical=categorical)
        drift = DriftReport(drift.rows, drift.columns, drift.prediction, drift.settings, result)
    performance = production_performance(window.log, OutcomeStore(registry.workspace), chosen, reference.meta, every)
    series = _drift_series(reference, window, every, settings) if every is not None else None
    decisions = _decisions(registry, chosen, period, last)
    return MonitorReport(chosen, window, drift, time.perf_counter() - started, performance, series, decisions)


def _decisions(registry: ModelRegistry, version: ModelVersion, period: timedelta | None,
               last: int | None) -> DecisionReport | None:
    """The version's logged decisions against its reference; None without a decision layer or decisions."""
    if "decision" not in version.documents:
        return None
    try:
        return decision_report(registry, version, period=period, last=last)
    except AiforgeError:
        return None


def _drift_series(reference: ReferenceProfile, window: PredictionWindow, every: timedelta,
                  settings: DriftSettings | None) -> list[dict[str, Any]]:
    """Drift per period of ``every`` within the window: per column its effect size and verdict."""
    import pandas as pd

    series = []
    times = pd.to_datetime(window.log["time"], utc=True)
    for start, index in times.groupby(times.dt.floor(pd.Timedelta(every))).groups.items():
        rows = list(index)
        part = window.rows(rows)
        outputs = outputs_of(window.log.iloc[rows], reference.meta.get("positive"))
        report = detect_drift(reference, part, prediction=outputs, settings=settings)
        series.append({
            "start": pd.Timestamp(start).isoformat(), "rows": len(rows), "drifted": report.drifted,
            "effects": {c.name: c.effect for c in report.columns},
            "prediction": report.prediction.effect if report.prediction else None,
        })
    return series


def render_monitor_report(report: MonitorReport) -> str:
    """The report as one self-contained HTML page."""
    from aiforge.evaluate import html

    d = report.drift
    v = report.version
    ordered = sorted(d.columns, key=lambda c: (not c.drifted, -c.effect))[:PLOTTED_COLUMNS]
    plots = "".join(_plot(c, i) for i, c in enumerate([*([d.prediction] if d.prediction else []), *ordered]))
    over_time = html.section("series", "Drift over time", _series_plot(report.series)) if report.series else ""
    body = (_header(report) + _performance(report.performance) + _decisions_html(report.decisions) + _columns(d)
            + over_time + _domain(d)
            + html.section("plots", "Distributions: training (reference) vs window",
                           f"<div class=\"plots\">{plots}</div>"))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aiforge drift: "
            f"{html.e(v.name)} v{v.version}</title><style>{html.CSS}</style></head><body><main>{body}</main>"
            "</body></html>")


def monitor_html(report: MonitorReport) -> str:
    """The report for a notebook cell: the page without its plots (``render_monitor_report`` has them)."""
    return (_header(report) + _performance(report.performance) + _decisions_html(report.decisions)
            + _columns(report.drift) + _domain(report.drift))


def _decisions_html(report: DecisionReport | None) -> str:
    """The decision policy: each action's share live and in the reference (PSI), each rule's firing rate."""
    if report is None:
        return ""
    from aiforge.evaluate import html

    verdict = "drifted" if report.drifted else "no drift"
    head = (f"<p class=\"muted\">{report.records} decisions; action shares against the reference (the held-out "
            f"split at registration): PSI {report.psi:.3f} ({verdict}, threshold {DECISION_DRIFT_PSI}); mean "
            f"expected utility {report.mean_expected_utility:.4g} (reference "
            f"{report.reference_mean_expected_utility:.4g}).</p>")
    actions = html.table(["action", "share", "reference"], [("", [html.e(a), html.num(s), html.num(
        report.reference_shares.get(a))]) for a, s in report.shares.items()], numeric=(1, 2))
    rules = html.table(["rule", "firing rate", "reference"], [("", [html.e(r), html.num(v), html.num(
        report.reference_firing_rates.get(r))]) for r, v in report.firing_rates.items()], numeric=(1, 2))
    return html.section("decisions", "Decisions", head + actions + rules)


def drift_html(d: DriftReport) -> str:
    """A drift report for a notebook cell: which columns drifted, every measure per column, the domain classifier."""
    from aiforge.evaluate import html

    flagged = ", ".join(d.drifted) or "none"
    reference = d.columns[0].reference_rows if d.columns else 0
    head = (f"<section><h1>Drift of {d.rows} rows</h1><p class=\"muted\">against the reference of {reference} "
            f"training rows. Columns drifted: <b>{html.e(flagged)}</b> ({d.share_drifted:.0%}).</p></section>")
    return head + _columns(d) + _domain(d)


def _header(report: MonitorReport) -> str:
    from aiforge.evaluate import html

    d = report.drift
    v = report.version
    span = f"{report.window.start:%Y-%m-%d %H:%M} – {report.window.end:%Y-%m-%d %H:%M} UTC" \
        if report.window.start and report.window.end else "the whole log"
    flagged = ", ".join(d.drifted) or "none"
    return (f"<h1>Drift of {html.e(v.name)} v{v.version}</h1><p class=\"muted\">{len(report.window)} predictions "
            f"({html.e(span)}) against the reference of {d.columns[0].reference_rows if d.columns else 0} training "
            f"rows. Columns drifted: <b>{html.e(flagged)}</b> ({d.share_drifted:.0%}).</p>")


def _columns(d: DriftReport) -> str:
    from aiforge.evaluate import html

    rows = []
    for c in [*(d.columns), *([d.prediction] if d.prediction else [])]:
        cells = [html.e(c.name), html.e(c.kind), html.num(c.psi), html.num(c.jensen_shannon), html.num(c.ks),
                 html.num(c.wasserstein), html.e(f"{c.test} {c.p_value:.3g}"), html.num(c.missing_window),
                 html.e(f"{c.method} ≥ {c.threshold:g}"), "<b>drift</b>" if c.drifted else "—"]
        rows.append(("fail" if c.drifted else "", cells))
    table = html.table(["column", "kind", "PSI", "Jensen–Shannon", "KS", "Wasserstein/σ", "test p", "missing",
                        "rule", "verdict"], rows, numeric=range(2, 8))
    return html.section("columns", "Per column", table)


def _domain(d: DriftReport) -> str:
    from aiforge.evaluate import html

    if not d.domain or d.domain.get("auc") is None:
        return ""
    top = ", ".join(f"{t['column']} ({t['share']:.0%})" for t in d.domain.get("top_columns", []))
    return html.section("domain", "Can a model tell the window from training?", (
        f"<p>Cross-validated ROC AUC of a classifier between {d.domain['rows']} training rows and as many "
        f"window rows: <b>{d.domain['auc']:.3f}</b> (0.5: indistinguishable; drift at ≥ "
        f"{d.domain['threshold']}). It leaned most on: {html.e(top or '—')}.</p>"))


def _plot(column: Any, index: int) -> str:
    from aiforge.evaluate import html

    fig = html.figure(4.6, 3.0)
    ax = fig.subplots()
    hist = column.histogram
    ref, win = hist.get("reference", []), hist.get("window", [])
    if column.kind == "categorical":
        labels = [str(x)[:14] for x in hist.get("categories", [])]
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], ref, width=0.4, label="training", color="#94a3b8")
        ax.bar([x + 0.2 for x in xs], win, width=0.4, label="window", color="#2563eb")
        ax.set_xticks(list(xs), [html.plain(x) for x in labels], rotation=45, ha="right", fontsize=7)
    else:
        edges = hist.get("edges", [])
        groups = max(1, len(ref) // 20)  # 100 fine bins shown as about 20
        ref_g = [sum(ref[i:i + groups]) for i in range(0, len(ref), groups)]
        win_g = [sum(win[i:i + groups]) for i in range(0, len(win), groups)]
        labels = [f"{edges[min(i, len(edges) - 1)]:.3g}" if edges else "" for i in range(0, len(ref), groups)]
        xs = range(len(ref_g))
        ax.step(list(xs), ref_g, where="mid", label="training", color="#94a3b8", linewidth=2)
        ax.step(list(xs), win_g, where="mid", label="window", color="#2563eb", linewidth=2)
        ax.set_xticks(list(xs)[::max(1, len(xs) // 6)], labels[::max(1, len(xs) // 6)], fontsize=7)
        ax.set_xlabel("equal-frequency bins of training (lower edge)", fontsize=7)
    ax.set_ylabel("share", fontsize=8)
    ax.legend(fontsize=7)
    title = f"{column.name}: {'DRIFT' if column.drifted else 'ok'} ({column.method} {column.effect:.3g})"
    ax.set_title(html.plain(title), fontsize=9, color="#b91c1c" if column.drifted else "#1f2937")
    return f"<figure>{html.svg(fig, f'm{index}-')}<figcaption>{html.e(column.name)}</figcaption></figure>"


def _performance(perf: ProductionPerformance | None) -> str:
    from aiforge.evaluate import html

    if perf is None or not perf.labelled:
        return html.section("performance", "Production performance", "<p class=\"muted\">No outcomes fed back for "
                            "these predictions yet (POST /v1/models/NAME/feedback or aiforge monitor labels).</p>")
    if not perf.metrics:
        return html.section("performance", "Production performance", f"<p>{perf.labelled} of {perf.predictions} "
                            "predictions have an outcome: too few (or one class only) to score.</p>")
    rows = [("", [html.e(k), html.num(v)]) for k, v in perf.metrics.items()]
    breaches = "".join(f"<li><b>{html.e(b['message'])}</b></li>" for b in perf.breaches)
    verdict = f"<p style=\"color:#b91c1c\">KPIs breached in production:</p><ul>{breaches}</ul>" if breaches \
        else "<p>Every KPI the version was gated on still holds in production.</p>"
    return html.section("performance", "Production performance", (
        f"<p>{perf.labelled} of {perf.predictions} predictions have an outcome.</p>" + verdict
        + html.table(["metric", "production"], rows, numeric=[1])))


def _series_plot(series: list[dict[str, Any]]) -> str:
    """Each column's effect size per period (the eight that moved most), with the threshold."""
    from aiforge.evaluate import html

    columns = sorted(series[0]["effects"], key=lambda c: -max(p["effects"].get(c, 0.0) for p in series))[:8]
    fig = html.figure(7.5, 3.4)
    ax = fig.subplots()
    xs = list(range(len(series)))
    for column in columns:
        ax.plot(xs, [p["effects"].get(column, 0.0) for p in series], marker="o", markersize=3,
                label=html.plain(column))
    step = max(1, len(xs) // 8)
    ax.set_xticks(xs[::step], [p["start"][:16].replace("T", " ") for p in series][::step], rotation=30, ha="right",
                  fontsize=7)
    ax.set_ylabel("effect size", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    table = html.table(["period start", "predictions", "drifted"],
                       [("fail" if p["drifted"] else "", [html.e(p["start"]), str(p["rows"]),
                                                          html.e(", ".join(p["drifted"]) or "—")]) for p in series],
                       numeric=[1])
    return f"<figure>{html.svg(fig, 'series-')}</figure>{table}"
