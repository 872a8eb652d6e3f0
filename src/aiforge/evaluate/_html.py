"""The pieces of aiforge's self-contained HTML pages (run report, monitoring report): inline CSS, tables,
sections, numbers, and matplotlib figures as inline SVG (text kept as text, nothing fetched)."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Collection
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CSS", "DASH", "FRAGMENT_CSS", "e", "figure", "fragment", "num", "plain", "section", "svg", "table"]

DASH = "—"
_ID_REF = re.compile(r'(\sid="|href="#|url\(#)')

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;margin:0;
 background:#f8fafc}
main{max-width:1100px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px 20px;margin:16px 0;overflow-x:auto}
h1{margin:0 0 4px;font-size:26px} h2{margin:0 0 12px;font-size:18px} h3{font-size:15px;margin:8px 0}
.muted{color:#6b7280} .desc{white-space:pre-wrap}
.badge{display:inline-block;padding:6px 16px;border-radius:6px;font-weight:700;font-size:18px;color:#fff}
.badge.pass{background:#15803d} .badge.fail{background:#b91c1c}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fee2e2;color:#7f1d1d} tr.best td{background:#dcfce7;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0;flex:1 1 320px}
figure svg{width:100%;height:auto} figcaption{font-size:12px;color:#6b7280;text-align:center}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{font-weight:600} dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
dd dl{font-family:system-ui,sans-serif}
"""


def _scoped(css: str, scope: str) -> str:
    """``css`` with every selector under ``scope`` (``body`` and ``main`` become the scope itself)."""

    def rule(match: re.Match[str]) -> str:
        selectors = [s.strip() for s in match.group(1).split(",")]
        scoped = [scope if s in ("body", "main") else f"{scope} {s}" for s in selectors]
        return f"{','.join(scoped)}{{{match.group(2)}}}"

    return re.sub(r"([^{}]+)\{([^{}]*)\}", rule, css).replace("\n", "")


# The page's CSS for a piece of HTML inside another page (a Jupyter notebook): it styles nothing outside it.
FRAGMENT_CSS = _scoped(CSS, ".aiforge") + ".aiforge{margin:0;padding:8px}"


def fragment(body: str) -> str:
    """``body`` (already escaped) as one self-contained piece of HTML for a notebook cell (``_repr_html_``)."""
    return f"<div class=\"aiforge\"><style>{FRAGMENT_CSS}</style>{body}</div>"


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def num(value: Any) -> str:
    """Ints as they are, floats with 4 decimals (4 significant digits when very large or small)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return DASH if value is None else e(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return DASH
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4f}"


def table(head: list[str], rows: list[tuple[str, list[str]]], numeric: Collection[int] = ()) -> str:
    """``rows`` are (css class, already-escaped cells); columns in ``numeric`` are right-aligned."""
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = []
    for cls, cells in rows:
        tds = "".join(f"<td class=\"num\">{c}</td>" if i in numeric else f"<td>{c}</td>"
                      for i, c in enumerate(cells))
        body.append(f"<tr class=\"{cls}\">{tds}</tr>" if cls else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(ident: str, title: str, body: str) -> str:
    return f"<section id=\"{ident}\"><h2>{e(title)}</h2>{body}</section>"


def plain(text: Any) -> str:
    """User text for a plot label: ``$`` would otherwise start matplotlib's math mode."""
    return str(text).replace("$", r"\$")


def figure(width: float = 4.6, height: float = 3.6) -> Figure:
    # A bare Figure, not pyplot: no global backend switch in the caller's process, nothing to close.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def svg(fig: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element: text kept as text, ids prefixed to stay unique in the page."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "aiforge-report"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    # rewrite ids and references only inside tags (text content has its < and > escaped)
    return re.sub(r"<[^<>]+>", lambda tag: _ID_REF.sub(rf"\g<1>{prefix}", tag.group(0)), svg)
