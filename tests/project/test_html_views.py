"""Every object a notebook shows renders as one small, self-contained piece of HTML: its values escaped (markup
written into a project, a column or a message stays text), its tags balanced, nothing fetched, its CSS scoped to
itself so that it restyles nothing else in the notebook's page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import write_income_project

from aiforge.evaluate import GateVerdict, KpiResult, html
from aiforge.monitor import ColumnDrift, DriftReport, DriftSettings
from aiforge.pipeline import RunRecord, StageRecord
from aiforge.project import Comparison, Project, RunList, Validation, VersionList
from aiforge.registry import Alias, ModelVersion, VersionStatus

FRAGMENT_CSS, fragment = html.FRAGMENT_CSS, html.fragment
EVIL = '<script>alert("x")</script>&'
ALLOWED = {"div", "style", "section", "h1", "h2", "p", "span", "b", "table", "thead", "tbody", "tr", "th", "td",
           "dl", "dt", "dd", "ul", "li"}
VOID: set[str] = set()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        self.attributes += attrs
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_fragment(html: str) -> str:
    """Asserts the shape every ``_repr_html_`` must have; returns the text a reader sees."""
    assert html.startswith(f'<div class="aiforge"><style>{FRAGMENT_CSS}</style>') and html.endswith("</div>")
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    assert parser.seen <= ALLOWED, f"unexpected tags: {parser.seen - ALLOWED}"
    assert {name for name, _ in parser.attributes} <= {"class", "id", "style"}
    assert not re.search(r"(https?:|url\()", html), "a fragment fetches nothing"
    assert len(html) < 40_000
    return "".join(parser.text)


def _gate() -> dict[str, Any]:
    return GateVerdict(False, [KpiResult(EVIL, EVIL, 0.5, ">=", 0.9, False, -0.4, EVIL)]).to_json()


def _version(number: int = 1) -> ModelVersion:
    return ModelVersion(name=EVIL, version=number, status=VersionStatus.REJECTED, alias=Alias.CANDIDATE,
                        run_id=EVIL, artifact="0" * 64, learner=EVIL, metrics={EVIL: 0.5, "roc_auc": 0.7 + number / 10},
                        gate=_gate(), lineage={"project_file": EVIL, "snapshot": EVIL}, created_at=WHEN)


def _run(stages: bool = True) -> RunRecord:
    gate = StageRecord("gate", "succeeded", EVIL, WHEN, WHEN, {"verdict": _gate()}, None)
    failed = StageRecord(EVIL, "failed", None, WHEN, None, {}, EVIL + "\nsecond line")
    return RunRecord(id=EVIL, project=EVIL, status="rejected", spec_path=EVIL, spec_hash="0" * 64, started_at=WHEN,
                     ended_at=WHEN, code_version=EVIL, error=EVIL,
                     summary={"learner": EVIL, "gate": EVIL, "report": EVIL, "metrics": {EVIL: 1.0},
                              "model": {"name": EVIL, "version": 1, "status": EVIL, "alias": EVIL}},
                     stages=[gate, failed] if stages else [])


def _drift() -> DriftReport:
    column = ColumnDrift(name=EVIL, kind="categorical", reference_rows=100, window_rows=50, missing_reference=0.0,
                         missing_window=0.1, psi=0.5, jensen_shannon=0.3, p_value=1e-5, test=EVIL, method=EVIL,
                         effect=0.3, threshold=0.1, drifted=True)
    domain = {"auc": 0.9, "rows": 100, "threshold": 0.7, "drifted": True,
              "top_columns": [{"column": EVIL, "share": 1.0}]}
    return DriftReport(50, [column], None, DriftSettings(), domain)


def _validation() -> Validation:
    return Validation(EVIL, Path(EVIL), "0" * 64, True, task=EVIL, task_reason=EVIL, rows=3, features=[EVIL],
                      ignored={EVIL: EVIL}, personal_data=[EVIL], k_anonymity=EVIL)


def _project(tmp_path: Path) -> Project:
    path = write_income_project(tmp_path / "income", rows=50)
    text = path.read_text(encoding="utf-8").replace('  positive_class: ">50K"\n',
                                                    '  positive_class: ">50K"\n  description: \'' + EVIL + "'\n")
    path.write_text(text, encoding="utf-8")
    return Project.load(path, workspace=tmp_path / "ws")


VIEWS: dict[str, Callable[[Path], Any]] = {
    "gate": lambda _: GateVerdict.from_json(_gate()),
    "version": lambda _: _version(),
    "versions": lambda _: VersionList([_version(1), _version(2)]),
    "run": lambda _: _run(),
    "run-as-listed": lambda _: _run(stages=False),
    "runs": lambda _: RunList([_run(), _run(stages=False)]),
    "drift": lambda _: _drift(),
    "validation": lambda _: _validation(),
    "comparison": lambda _: Comparison([_version(1), _version(2)]),
    "project": _project,
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_is_a_small_self_contained_fragment_with_its_values_escaped(name: str, tmp_path: Path) -> None:
    html = VIEWS[name](tmp_path)._repr_html_()
    text = check_fragment(html)
    assert EVIL in text, "the hostile value is shown, as text"
    assert "<script" not in html and "&lt;script&gt;" in html


def test_the_fragment_css_styles_only_the_fragment() -> None:
    rules = re.findall(r"([^{}]+)\{[^{}]*\}", FRAGMENT_CSS)
    assert len(rules) > 20
    for rule in rules:
        for selector in rule.split(","):
            assert selector == ".aiforge" or selector.startswith(".aiforge "), selector
    assert fragment("<p>x</p>") == f'<div class="aiforge"><style>{FRAGMENT_CSS}</style><p>x</p></div>'


def test_the_checker_catches_what_it_must() -> None:
    for bad in ("<p>open", "<p>x</b>", '<p><img src="https://example.org/x.png"></p>', "<script>x</script>"):
        with pytest.raises(AssertionError):
            check_fragment(fragment(bad))


def test_a_comparison_marks_the_best_value_and_each_kpi_verdict() -> None:
    html = Comparison([_version(1), _version(2)])._repr_html_()
    assert "<b>0.9000</b>" in html and "<b>0.8000</b>" not in html  # roc_auc: higher is better
    assert html.count("<b>FAIL</b>") == 2
