"""The HTML run report: sections, inline plots, the gate badge, escaping, and no remote resources."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pyarrow as pa
import pytest

from aiforge.data import DatasetSnapshot, DataSplit, profile_table
from aiforge.evaluate import Evaluation, GateVerdict, KpiResult
from aiforge.evaluate._report import ReportInput, render_report
from aiforge.learn import CandidateResult, SelectionReport, TaskInfo
from aiforge.spec import TaskKind

SECTIONS = ("summary", "kpis", "metrics", "plots", "importance", "selection", "data", "lineage")
FAILED_MESSAGE = "recall = 0.6000 is 0.1000 below the minimum 0.7: try more or stronger learners"

LINEAGE = {
    "spec_hash": "abc123",
    "snapshot": "f" * 64,
    "code_version": "0.1.0+g1234",
    "libraries": {"scikit-learn": "1.5.0", "lightgbm": "4.3.0"},
    "seeds": {"split": 7, "model": 7},
    "parent_run": None,
}


def _snapshot(table: pa.Table) -> DatasetSnapshot:
    return DatasetSnapshot(id="f" * 64, n_rows=table.num_rows, columns=profile_table(table),
                           sources=[{"name": "main", "location": "data/churn.csv", "sha256": "0" * 64}])


def _selection(objective: str, higher: bool, best: str) -> SelectionReport:
    return SelectionReport(
        objective=objective, higher_is_better=higher, cv_folds=3, seed=7, best=best,
        candidates=[
            CandidateResult("linear", "ok", [0.81, 0.79, 0.80], 0.80, 0.0082, 0.4),
            CandidateResult("lightgbm", "ok", [0.86, 0.84, 0.85], 0.85, 0.0082, 1.9),
            CandidateResult("broken", "failed", [], seconds=0.1, error="ValueError: bad <input>"),
            CandidateResult("forest", "skipped", error="time budget spent"),
        ],
        features={"numeric": ["age", "spend"], "categorical": ["plan"], "ignored": ["id"]},
        fit_seconds=0.7,
    )


def _binary(verdict: GateVerdict, description: str = "Predict churn.") -> ReportInput:
    table = pa.table({
        "id": list(range(8)),
        "age": [23, 35, None, 51, 44, 29, 60, 38],
        "spend": [10.5, 3.25, 8.0, 1.0, 0.5, 12.0, 7.75, 2.0],
        "plan": ["basic", "pro", "basic", None, "pro", "basic", "team", "basic"],
        "churn": ["yes", "no", "no", "yes", "no", "no", "yes", "no"],
    })
    evaluation = Evaluation(
        task="binary", n_test=4,
        metrics={"roc_auc": 0.875, "pr_auc": 0.8, "accuracy": 0.75, "recall": 0.6, "log_loss": float("nan")},
        baseline={"roc_auc": 0.5, "pr_auc": 0.4, "accuracy": 0.6, "recall": 0.0, "log_loss": 0.673},
        confusion={"labels": ["no", "yes"], "matrix": [[2, 0], [1, 1]]},
        curves={"roc": {"fpr": [0.0, 0.0, 0.5, 1.0], "tpr": [0.0, 0.5, 1.0, 1.0]},
                "pr": {"recall": [1.0, 0.5, 0.0], "precision": [0.5, 1.0, 1.0]}},
        importance=[{"feature": "spend", "mean": 0.12, "std": 0.03},
                    {"feature": "age", "mean": 0.04, "std": 0.01},
                    {"feature": "plan", "mean": -0.01, "std": 0.02}],
        importance_metric="roc_auc",
    )
    return ReportInput(
        project="churn", description=description, run_id="run-0042", started_at="2024-05-01T12:00:00+00:00",
        target="churn", task=TaskInfo(TaskKind.BINARY, "target 'churn' is categorical with 2 distinct values",
                                      ["no", "yes"]),
        snapshot=_snapshot(table), split=DataSplit("a" * 64, 6, 2, True, 7),
        selection=_selection("roc_auc", True, "lightgbm"), evaluation=evaluation, verdict=verdict,
        model={"name": "churn", "version": 3, "status": "rejected" if not verdict.passed else "accepted",
               "alias": None},
        lineage=LINEAGE,
    )


def _regression() -> ReportInput:
    table = pa.table({"rooms": [2, 3, 4, 3, 5, 1], "area": [50.0, 70.5, 90.0, 65.0, 120.0, 30.0],
                      "price": [100.0, 150.0, 190.0, 140.0, 260.0, 70.0]})
    y_true = [100.0, 150.0, 190.0, 140.0, 260.0, 70.0]
    y_pred = [t + d for t, d in zip(y_true, [5, -8, 12, -3, -20, 4], strict=True)]
    evaluation = Evaluation(
        task="regression", n_test=6, metrics={"rmse": 12.5, "r2": 0.93}, baseline={"rmse": 60.2, "r2": 0.0},
        residuals={"y_true": y_true, "y_pred": y_pred},
        importance=[{"feature": "area", "mean": 40.0, "std": 4.0}], importance_metric="rmse",
    )
    verdict = GateVerdict(True, [KpiResult("rmse", "rmse", 12.5, "<=", 20.0, True, 7.5,
                                           "rmse = 12.5000 <= 20 (margin +7.5000)")])
    return ReportInput(
        project="house prices", description="", run_id="run-7", started_at="2024-05-02T08:30:00Z",
        target="price",
        task=TaskInfo(TaskKind.REGRESSION, "numeric target 'price' has 6 distinct values", []),
        snapshot=_snapshot(table), split=DataSplit("b" * 64, 4, 2, False, 1),
        selection=_selection("rmse", False, "linear"), evaluation=evaluation, verdict=verdict,
        model={"name": "houses", "version": 1, "status": "accepted", "alias": "production"}, lineage=LINEAGE,
    )


FAILED = GateVerdict(False, [
    KpiResult("AUC", "roc_auc", 0.875, ">=", 0.8, True, 0.075, "AUC = 0.8750 >= 0.8 (margin +0.0750)"),
    KpiResult("recall", "recall", 0.6, ">=", 0.7, False, -0.1, FAILED_MESSAGE),
])


class _Structure(HTMLParser):
    """Collects section ids (in order), svg count, and every src/href attribute value."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.svgs = 0
        self.links: list[str] = []
        self.script_tags = 0
        self.failed_rows: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        self.svgs += tag == "svg"
        self.script_tags += tag == "script"
        if tag == "tr" and a.get("class") == "fail":
            self._row = []
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            self.failed_rows.append("".join(self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._row.append(data)


def _parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser


def _svg_of(page: str, figure_caption: str) -> str:
    match = re.search(r"<figure>(<svg.*?</svg>)\s*<figcaption>" + re.escape(figure_caption), page, re.S)
    assert match, f"no plot captioned {figure_caption!r}"
    return match.group(1)


def test_binary_report_has_every_section_in_order_and_its_plots() -> None:
    page = render_report(_binary(FAILED))
    assert page.startswith("<!DOCTYPE html>")
    found = _parse(page)
    assert found.sections == list(SECTIONS)
    assert found.svgs == 4  # ROC, precision-recall, confusion matrix, importance
    roc = _svg_of(page, "ROC curve")
    assert "AUC = 0.8750" in roc and "chance" in roc
    confusion = _svg_of(page, "Confusion matrix")
    assert ">yes</text>" in confusion and ">no</text>" in confusion
    assert "roc_auc" in page[page.index('id="importance"'):page.index('id="selection"')]
    assert "residual" not in page.lower()


def test_a_failed_kpi_gives_the_rejected_badge_and_a_red_row_with_its_message() -> None:
    page = render_report(_binary(FAILED))
    assert "REJECTED" in page and ">PASSED<" not in page
    found = _parse(page)
    assert len(found.failed_rows) == 2  # the failed KPI and the failed candidate learner
    assert any(row.startswith("recall") and FAILED_MESSAGE in row for row in found.failed_rows)
    assert "tr.fail td{background:#fee2e2" in page


def test_passing_and_missing_kpis_give_the_passed_badge() -> None:
    passed = render_report(_binary(GateVerdict(True, FAILED.results[:1])))
    assert ">PASSED<" in passed and "REJECTED" not in passed
    no_kpis = render_report(_binary(GateVerdict(True, [])))
    assert ">PASSED<" in no_kpis and "no KPIs declared" in no_kpis


def test_regression_report_plots_predictions_and_residuals_without_classification_plots() -> None:
    page = render_report(_regression())
    found = _parse(page)
    assert found.sections == list(SECTIONS)
    assert found.svgs == 3  # predicted vs actual, residual histogram, importance
    assert "perfect prediction" in _svg_of(page, "Predicted vs actual")
    assert "residual (actual − predicted)" in _svg_of(page, "Residuals")
    assert "ROC" not in page and "Confusion" not in page
    assert "production" in page and ">PASSED<" in page


def test_tables_show_metrics_leaderboard_profile_and_lineage() -> None:
    page = render_report(_binary(FAILED))
    assert re.search(r"<td>roc_auc ↑</td><td class=\"num\">0\.8750</td><td class=\"num\">0\.5000</td>", page)
    assert re.search(r"<td>log_loss ↓</td><td class=\"num\">—</td>", page)  # NaN renders as a dash
    best = r"<tr class=\"best\"><td>lightgbm ★</td><td>ok</td><td class=\"num\">0\.8500 ± 0\.0082"
    assert re.search(best, page)
    assert page.index("lightgbm ★") < page.index(">linear<")  # ranked by the objective
    assert "fit s / fold" in page and "predict ms / row" in page  # each learner's costs beside its score
    assert "ValueError: bad &lt;input&gt;" in page and "time budget spent" in page
    assert "<td>6 / 2</td>" in page.replace("<dd>", "<td>").replace("</dd>", "</td>")
    assert re.search(r"<td>age</td><td>numeric</td><td>int64</td><td class=\"num\">12\.5%</td>", page)
    assert "basic (4), pro (2), team (1)" in page
    assert "churn <b>(target)</b>" in page
    assert "<dt>libraries</dt><dd><dl><dt>scikit-learn</dt><dd>1.5.0</dd>" in page
    assert "<dt>parent_run</dt><dd>—</dd>" in page


def test_user_strings_are_escaped() -> None:
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    inp = _binary(FAILED, description=hostile)
    page = render_report(
        ReportInput(**{**inp.__dict__, "project": "<b>proj</b>", "run_id": 'r"1',
                       "lineage": {"<k>": {"v": "<v>"}}})
    )
    found = _parse(page)
    assert found.script_tags == 0 and "<script" not in page.lower() and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page
    assert "&lt;b&gt;proj&lt;/b&gt;" in page and "r&quot;1" in page
    assert "<dt>&lt;k&gt;</dt><dd><dl><dt>v</dt><dd>&lt;v&gt;</dd>" in page


@pytest.mark.parametrize("make", [lambda: _binary(FAILED), _regression], ids=["binary", "regression"])
def test_the_page_is_self_contained(make) -> None:
    page = render_report(make())
    found = _parse(page)
    # only in-page SVG references and inline images (the heatmap's raster)
    assert found.links and all(link.startswith(("#", "data:image/png;base64,")) for link in found.links)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I)
    assert "@import" not in page and "<link" not in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several inline SVGs, still unique ids


def test_dollar_signs_in_labels_do_not_break_plots() -> None:
    inp = _binary(FAILED)
    evaluation = Evaluation(**{**inp.evaluation.__dict__,
                               "importance": [{"feature": "price_$_a$b", "mean": 0.1, "std": 0.0}]})
    page = render_report(ReportInput(**{**inp.__dict__, "evaluation": evaluation}))
    assert "price_$_a$b" in page
