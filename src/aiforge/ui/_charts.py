"""The dashboard's charts: Plotly figures as plain JSON (drawn in the browser by the Plotly JS that the plotly
package ships, served by the dashboard itself: no CDN) and the lineage graph as inline SVG."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from aiforge.pipeline import RunRecord

__all__ = ["comparison_figure", "drift_figure", "lineage_svg", "performance_figure", "timeline_figure"]

_LAYOUT: dict[str, Any] = {"margin": {"l": 110, "r": 20, "t": 30, "b": 40}, "height": 320,
                           "font": {"family": "system-ui, sans-serif", "size": 13, "color": "#1f2937"},
                           "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff"}
_COLOURS = ("#1d4ed8", "#b45309", "#047857", "#b91c1c", "#6d28d9", "#0e7490", "#a21caf", "#4d7c0f")


def timeline_figure(record: RunRecord) -> dict[str, Any] | None:
    """The run's stages as bars on a time axis (seconds since the run started), in order, failed ones red."""
    stages = [s for s in record.stages if s.started_at is not None]
    if not stages:
        return None
    start = record.started_at
    names = [s.name for s in stages]
    offsets = [((s.started_at - start).total_seconds() if s.started_at else 0.0) for s in stages]
    lengths = [max(s.seconds or 0.0, 0.001) for s in stages]
    colours = ["#b91c1c" if s.status == "failed" else "#6b7280" if s.status == "cached" else "#1d4ed8"
               for s in stages]
    return {"data": [{"type": "bar", "orientation": "h", "y": names, "x": lengths, "base": offsets,
                      "marker": {"color": colours},
                      "customdata": [s.status for s in stages],
                      "hovertemplate": "%{y}: %{x:.2f} s (%{customdata})<extra></extra>"}],
            "layout": {**_LAYOUT, "height": 60 + 28 * len(stages),
                       "xaxis": {"title": {"text": "seconds since the run started"}},
                       "yaxis": {"autorange": "reversed"}}}


def drift_figure(series: Sequence[dict[str, Any]], threshold: float | None) -> dict[str, Any] | None:
    """Each input column's drift effect size per period, and the threshold from which a column drifts."""
    if not series:
        return None
    columns = list(dict.fromkeys(c for point in series for c in point.get("effects", {})))
    x = [point["start"] for point in series]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": column, "x": x,
         "y": [point.get("effects", {}).get(column) for point in series],
         "line": {"color": _COLOURS[i % len(_COLOURS)]}}
        for i, column in enumerate(columns)]
    layout: dict[str, Any] = {**_LAYOUT, "height": 360, "yaxis": {"title": {"text": "effect size"}},
                              "legend": {"orientation": "h", "y": -0.2}}
    if threshold is not None:
        layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
                             "line": {"color": "#b91c1c", "dash": "dash"}}]
    return {"data": data, "layout": layout}


def performance_figure(series: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Production metrics per period (from the outcomes fed back)."""
    points = [p for p in series if isinstance(p.get("metrics"), dict)]
    if not points:
        return None
    names = list(dict.fromkeys(m for p in points for m in p["metrics"]))
    x = [p.get("start") for p in points]
    return {"data": [{"type": "scatter", "mode": "lines+markers", "name": m, "x": x,
                      "y": [p["metrics"].get(m) for p in points], "line": {"color": _COLOURS[i % len(_COLOURS)]}}
                     for i, m in enumerate(names)],
            "layout": {**_LAYOUT, "legend": {"orientation": "h", "y": -0.2}}}


def comparison_figure(metrics: dict[str, dict[int, float | None]], versions: Sequence[int]) -> dict[str, Any] | None:
    """The metrics both versions have in [0, 1] (scores and rates), as grouped bars."""
    shown = [m for m, by in metrics.items()
             if all(isinstance(by.get(v), int | float) and 0 <= float(by[v] or 0) <= 1 for v in versions)]
    if not shown:
        return None
    return {"data": [{"type": "bar", "name": f"v{v}", "x": shown, "y": [metrics[m][v] for m in shown],
                      "marker": {"color": _COLOURS[i % len(_COLOURS)]}} for i, v in enumerate(versions)],
            "layout": {**_LAYOUT, "barmode": "group", "margin": {"l": 50, "r": 20, "t": 30, "b": 120},
                       "yaxis": {"range": [0, 1]}}}


def lineage_svg(nodes: Sequence[tuple[str, str, str | None]], base: str = "") -> Markup:
    """A left-to-right chain of boxes joined by arrows: each node is (kind, label, path under ``base`` or None).
    The SVG scales to its container (a phone shows it smaller), and says what it shows to screen readers."""
    width, height, gap = 170, 56, 36
    total = len(nodes) * width + (len(nodes) - 1) * gap
    parts = [f'<svg viewBox="0 0 {total} {height + 4}" role="img" class="lineage" '
             f'aria-label="{escape(" → ".join(f"{k} {label}" for k, label, _ in nodes))}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#374151"/></marker></defs>']
    for i, (kind, label, link) in enumerate(nodes):
        x = i * (width + gap)
        box = (f'<rect x="{x + 1}" y="2" width="{width - 2}" height="{height - 2}" rx="8" fill="#eff6ff" '
               f'stroke="#1d4ed8"/><text x="{x + width / 2}" y="24" text-anchor="middle" font-size="12" '
               f'fill="#374151">{escape(kind)}</text><text x="{x + width / 2}" y="43" text-anchor="middle" '
               f'font-size="13" font-weight="600" fill="#111827">{escape(label)}</text>')
        parts.append(f'<a href="{escape(base + link)}">{box}</a>' if link else box)
        if i:
            parts.append(f'<line x1="{x - gap + 2}" y1="{height / 2 + 1}" x2="{x - 3}" y2="{height / 2 + 1}" '
                         'stroke="#374151" stroke-width="2" marker-end="url(#arrow)"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # every text in it escaped above
