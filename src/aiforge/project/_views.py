"""What a ``Project`` returns besides the library's own objects: a validation, lists of runs and versions, and
a comparison of versions; each renders as HTML in Jupyter (``_repr_html_``), every value escaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.evaluate import html as h

if TYPE_CHECKING:
    from aiforge.pipeline import Preflight, RunRecord
    from aiforge.registry import ModelVersion
    from aiforge.spec import ProjectFile

__all__ = ["Comparison", "RunList", "Validation", "VersionList"]


@dataclass(frozen=True)
class Validation:
    """A project file checked with its data, nothing written: what ``aiforge validate`` prints."""

    project: str
    path: Path
    spec_hash: str
    data_checked: bool
    task: str | None = None
    task_reason: str | None = None
    rows: int | None = None
    features: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    personal_data: list[str] = field(default_factory=list)  # one line per column found holding personal data
    k_anonymity: str | None = None

    @classmethod
    def of(cls, project: ProjectFile, checked: Preflight | None) -> Validation:
        if checked is None:
            return cls(project.spec.name, project.path, project.sha256, data_checked=False)
        found = []
        pii = checked.pii
        for finding in pii.findings if pii is not None else []:
            kinds = ", ".join(f"{kind} in {share:.0%}" for kind, share in finding.kinds.items())
            done = f"data.pii: {finding.action}" if finding.action else "no data.pii action: kept as it is"
            found.append(f"'{finding.column}': {kinds} of sampled values ({done})")
        return cls(project.spec.name, project.path, project.sha256, data_checked=True, task=checked.task.kind.value,
                   task_reason=checked.task.reason, rows=checked.table.num_rows, features=checked.features.columns,
                   ignored=dict(checked.features.ignored), personal_data=found,
                   k_anonymity=pii.k_anonymity.summary() if pii is not None and pii.k_anonymity is not None else None)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "path": str(self.path), "valid": True}

    def _repr_html_(self) -> str:
        lines = [f"<h1>✓ {h.e(self.project)} is valid</h1><p class=\"muted\">{h.e(self.path)} · spec "
                 f"{h.e(self.spec_hash[:12])}</p>"]
        if not self.data_checked:
            lines.append("<p class=\"muted\">The file only: its data was not read.</p>")
        else:
            lines.append(f"<p>Task <b>{h.e(self.task)}</b> <span class=\"muted\">({h.e(self.task_reason)})</span>; "
                         f"{self.rows} rows, {len(self.features)} input columns: {h.e(', '.join(self.features))}.</p>")
            rows = [("", [h.e(column), h.e(why)]) for column, why in self.ignored.items()]
            if rows:
                lines.append(h.section("ignored", "Ignored columns", h.table(["column", "why"], rows)))
            if self.personal_data:
                found = "".join(f"<li>{h.e(line)}</li>" for line in self.personal_data)
                lines.append(h.section("pii", "Personal data", f"<ul>{found}</ul>"))
            if self.k_anonymity:
                lines.append(f"<p>k-anonymity: {h.e(self.k_anonymity)}</p>")
        return h.fragment("".join(lines))


class RunList(list["RunRecord"]):
    """Runs, newest first; a table in Jupyter (each run shows itself in full)."""

    def _repr_html_(self) -> str:
        from aiforge.pipeline._html import runs_html

        return h.fragment(runs_html(self))


class VersionList(list["ModelVersion"]):
    """Model versions, oldest first; a table in Jupyter (each version shows itself in full)."""

    def _repr_html_(self) -> str:
        from aiforge.registry._html import versions_html

        return h.fragment(versions_html(self))


def _higher_is_better(metric: str) -> bool | None:
    from aiforge.evaluate import CHECK_METRICS, METRICS

    known = METRICS.get(metric) or CHECK_METRICS.get(metric.split("[", 1)[0])
    return None if known is None else known.higher_is_better


@dataclass(frozen=True)
class Comparison:
    """Model versions side by side: each metric and check figure, and each KPI's verdict."""

    versions: list[ModelVersion]

    @property
    def metrics(self) -> dict[str, dict[int, float | None]]:
        """Metric -> version number -> value (None: that version has no such figure)."""
        names = list(dict.fromkeys(name for v in self.versions for name in v.metrics))
        return {name: {v.version: v.metrics.get(name) for v in self.versions} for name in names}

    @property
    def kpis(self) -> dict[str, dict[int, bool | None]]:
        """KPI (``label bound threshold``) -> version number -> passed (None: not a KPI of that version)."""
        found: dict[str, dict[int, bool | None]] = {}
        for v in self.versions:
            for r in v.gate.get("results", []):
                found.setdefault(f"{r['kpi']} {r['bound']} {r['threshold']:g}", {})[v.version] = r["passed"]
        return {kpi: {v.version: passed.get(v.version) for v in self.versions} for kpi, passed in found.items()}

    def best(self, metric: str) -> int | None:
        """The version with the best value of ``metric`` (None: the direction is unknown, or no version has it)."""
        higher = _higher_is_better(metric)
        values = {n: x for n, x in self.metrics.get(metric, {}).items() if x is not None and x == x}
        if higher is None or not values:
            return None
        return (max if higher else min)(values, key=lambda n: (values[n], -n if higher else n))

    def _repr_html_(self) -> str:
        head = [f"v{v.version} ({v.status.value}{', ' + v.alias.value if v.alias else ''})" for v in self.versions]
        numbers = range(1, len(self.versions) + 1)
        kpi_rows = [("" if all(p is not False for p in by.values()) else "fail",
                     [h.e(kpi), *(h.DASH if p is None else "pass" if p else "<b>FAIL</b>" for p in by.values())])
                    for kpi, by in self.kpis.items()]
        metric_rows = []
        for name, by in self.metrics.items():
            best = self.best(name)
            higher = _higher_is_better(name)
            arrow = "" if higher is None else (" ↑" if higher else " ↓")
            metric_rows.append(("", [h.e(name) + arrow, *(f"<b>{h.num(x)}</b>" if n == best and len(by) > 1
                                                          else h.num(x) for n, x in by.items())]))
        count = len(self.versions)
        title = (f"<h1>{h.e(', '.join(dict.fromkeys(v.name for v in self.versions)))}: {count} "
                 f"version{'' if count == 1 else 's'} compared</h1>")
        return h.fragment(
            title + (h.section("kpis", "KPI gate", h.table(["KPI", *head], kpi_rows)) if kpi_rows else "")
            + h.section("metrics", "Metrics and check figures (best in bold)",
                        h.table(["metric", *head], metric_rows, numbers)))
