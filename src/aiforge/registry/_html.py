"""Model versions as HTML for a notebook cell (``_repr_html_``): one version with its metrics, KPI gate and
lineage; a list of versions as a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiforge.evaluate import GateVerdict
from aiforge.evaluate import html as h

if TYPE_CHECKING:
    from aiforge.registry._registry import ModelVersion

__all__ = ["version_html", "versions_html"]

SHOWN_METRICS = 2  # per row of a list of versions
_LINEAGE = ("project_file", "snapshot", "split", "code_version", "parent_run", "spec_hash")


def _status(v: ModelVersion) -> str:
    cls = "pass" if v.status.value == "accepted" else "fail"
    return f"<span class=\"badge {cls}\">{h.e(v.status.value)}</span>"


def version_html(v: ModelVersion) -> str:
    """One version: status, alias, learner, run; its metrics and check figures; its KPI gate; its lineage."""
    from aiforge.evaluate._report import figures_table, gate_section

    alias = f" · alias <b>{h.e(v.alias.value)}</b>" if v.alias else " · no alias"
    head = (f"<section><h1>{h.e(v.name)} v{v.version}</h1><p>{_status(v)}{alias}</p>"
            f"<p class=\"muted\">learner <b>{h.e(v.learner)}</b> · run {h.e(v.run_id)} · registered "
            f"{h.e(f'{v.created_at:%Y-%m-%d %H:%M}')} UTC</p></section>")
    gate = gate_section(GateVerdict.from_json(v.gate)) if v.gate else ""
    lineage = "".join(f"<dt>{h.e(key)}</dt><dd>{h.e(v.lineage[key])}</dd>" for key in _LINEAGE if key in v.lineage)
    return (head + gate + h.section("metrics", "Metrics and check figures", figures_table(v.metrics))
            + (h.section("lineage", "Lineage", f"<dl>{lineage}</dl>") if lineage else ""))


def versions_html(versions: Sequence[ModelVersion]) -> str:
    """A table of versions: name, version, status, alias, learner, the first metrics, run, registered."""
    if not versions:
        return "<p class=\"muted\">No registered versions.</p>"
    rows = [("fail" if v.status.value != "accepted" else "",
             [h.e(v.name), str(v.version), h.e(v.status.value), h.e(v.alias.value) if v.alias else h.DASH,
              h.e(v.learner), h.e(", ".join(f"{k} {h.num(val)}" for k, val in list(v.metrics.items())[:SHOWN_METRICS])),
              h.e(v.run_id), h.e(f"{v.created_at:%Y-%m-%d %H:%M}")]) for v in versions]
    return h.table(["name", "version", "status", "alias", "learner", "metrics", "run", "registered"], rows, {1})
