"""Runs as HTML for a notebook cell (``_repr_html_``): one run with its stages, KPI gate and metrics; a list of
runs as a table. The same figures as 'aiforge show' and 'aiforge runs'."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiforge.evaluate import GateVerdict
from aiforge.evaluate import html as h

if TYPE_CHECKING:
    from aiforge.pipeline._lifecycle import RunResult
    from aiforge.pipeline._runs import RunRecord

__all__ = ["result_html", "run_html", "runs_html"]

_PASSING = ("succeeded",)


def _badge(status: str) -> str:
    cls = "pass" if status in _PASSING else "fail" if status in ("rejected", "failed", "interrupted") else ""
    return f"<span class=\"badge {cls}\">{h.e(status)}</span>" if cls else f"<b>{h.e(status)}</b>"


def _model(model: dict[str, Any] | None) -> str:
    if not model:
        return h.DASH
    alias = f", {model['alias']}" if model.get("alias") else ""
    return h.e(f"{model['name']} v{model['version']} ({model['status']}{alias})")


def _seconds(value: float | None) -> str:
    return h.DASH if value is None else f"{value:.1f} s"


def run_html(record: RunRecord) -> str:
    """One run: status, model, duration; its KPI gate; its stages; its test metrics and check figures."""
    from aiforge.evaluate._report import figures_table, gate_section

    summary = record.summary
    head = (f"<section><h1>{h.e(record.project)} · run {h.e(record.id)}</h1><p>{_badge(record.status)} "
            f"{h.e(summary.get('gate', ''))}</p>"
            f"<p class=\"muted\">started {h.e(f'{record.started_at:%Y-%m-%d %H:%M:%S}')} UTC · "
            f"{_seconds(record.seconds)} · learner <b>{h.e(summary.get('learner') or h.DASH)}</b> · model "
            f"{_model(summary.get('model'))}</p>"
            + (f"<p class=\"muted\">report: {h.e(summary['report'])}</p>" if summary.get("report") else "")
            + (f"<p class=\"desc\" style=\"color:#b91c1c\">{h.e(record.error)}</p>" if record.error else "")
            + "</section>")
    verdict = next((s.outputs.get("verdict") for s in record.stages if s.name == "gate"), None)
    gate = gate_section(GateVerdict.from_json(verdict)) if verdict else ""
    stages = h.table(["stage", "status", "time", "input hash", "error"], [
        ("fail" if s.status == "failed" else "",
         [h.e(s.name), h.e(s.status), _seconds(s.seconds), h.e((s.input_hash or "")[:12]) or h.DASH,
          h.e(s.error.splitlines()[0]) if s.error else h.DASH]) for s in record.stages], {2})
    metrics = summary.get("metrics") or {}
    if not record.stages:  # a run as listed (list_runs) is read without its stages
        stages = (f"<p class=\"muted\">Not read with this run: get_run({h.e(repr(record.id))}) reads it with its "
                  "stages and KPI gate.</p>")
    return (head + gate + h.section("stages", "Stages", stages)
            + (h.section("metrics", "Test metrics and check figures", figures_table(metrics)) if metrics else ""))


def runs_html(records: Sequence[RunRecord]) -> str:
    """A table of runs, newest first: id, project, status, duration, learner, model."""
    if not records:
        return "<p class=\"muted\">No runs yet.</p>"
    rows = [("fail" if r.status in ("rejected", "failed", "interrupted") else "",
             [h.e(r.id), h.e(r.project), h.e(r.status), _seconds(r.seconds), h.e(r.summary.get("learner") or h.DASH),
              _model(r.summary.get("model")), h.e(f"{r.started_at:%Y-%m-%d %H:%M}")]) for r in records]
    return h.table(["run", "project", "status", "duration", "learner", "model", "started"], rows, {3})


def result_html(result: RunResult) -> str:
    """What a run just produced: its status and the version it registered, with that version's KPI gate."""
    from aiforge.registry._html import version_html

    head = (f"<section><h1>run {h.e(result.run_id)}</h1><p>{_badge(result.status.value)} "
            f"{h.e(result.verdict.summary())}</p><p class=\"muted\">report: {h.e(result.report_path)}</p></section>")
    return head + version_html(result.version)
