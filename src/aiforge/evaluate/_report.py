"""The run report: one self-contained HTML page (inline CSS and SVG plots, nothing fetched) per training run.

It only renders what earlier stages computed; it never recomputes a metric, so the page, the CLI and
the dashboard always show the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._html import CSS as _CSS
from aiforge.evaluate._html import DASH as _DASH
from aiforge.evaluate._html import e as _e
from aiforge.evaluate._html import figure as _figure
from aiforge.evaluate._html import num as _num
from aiforge.evaluate._html import plain as _plain
from aiforge.evaluate._html import section as _section
from aiforge.evaluate._html import svg as _svg
from aiforge.evaluate._html import table as _table
from aiforge.evaluate._metrics import METRICS
from aiforge.spec import TaskKind

if TYPE_CHECKING:

    from aiforge.data import DatasetSnapshot, DataSplit
    from aiforge.evaluate._checks import CheckResult
    from aiforge.evaluate._evaluation import Evaluation
    from aiforge.evaluate._gate import GateVerdict
    from aiforge.learn import SelectionReport, TaskInfo

__all__ = ["ReportInput", "render_report"]

MAX_IMPORTANCE_BARS = 20
MAX_TOP_VALUES = 5
_COLOR, _GOOD, _BAD = "#2563eb", "#15803d", "#b91c1c"



@dataclass(frozen=True)
class ReportInput:
    """Everything one run produced that the report shows; ``model`` is ``None`` when nothing was registered.

    ``model`` holds ``name``, ``version``, ``status`` ("accepted" or "rejected") and ``alias``;
    ``lineage`` holds spec_hash, snapshot, code_version, libraries, seeds and parent_run.
    """

    project: str
    description: str
    run_id: str
    started_at: str
    target: str
    task: TaskInfo
    snapshot: DatasetSnapshot
    split: DataSplit
    selection: SelectionReport
    evaluation: Evaluation
    verdict: GateVerdict
    model: dict[str, Any] | None
    lineage: dict[str, Any]
    checks: dict[str, CheckResult] = field(default_factory=dict)
    mitigation: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None  # model.compare: a LearnerComparison as JSON


def render_report(inp: ReportInput) -> str:
    """The full HTML document for one run."""
    sections = [
        _header(inp), gate_section(inp.verdict), _metrics(inp.evaluation), _plots(inp),
        _importance(inp.evaluation), *_checks(inp), _decisions(inp.lineage.get("decision")),
        _leaderboard(inp.selection), _comparison(inp.comparison), _data(inp),
        _lineage({k: v for k, v in inp.lineage.items() if k != "decision"}),
    ]
    title = f"{inp.project} · run {inp.run_id}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )


# -- formatting ---------------------------------------------------------------------------------


# -- sections -----------------------------------------------------------------------------------


def _comparison(data: dict[str, Any] | None) -> str:
    from aiforge.evaluate._comparison import LearnerComparison, comparison_section

    return comparison_section(LearnerComparison.from_json(data)) if data else ""


def _header(inp: ReportInput) -> str:
    verdict = inp.verdict
    badge = ("<span class=\"badge pass\">PASSED</span>" if verdict.passed
             else "<span class=\"badge fail\">REJECTED</span>")
    if inp.model is None:
        model = "no model registered"
    else:
        m = inp.model
        alias = f", alias <b>{_e(m['alias'])}</b>" if m.get("alias") else ""
        model = (f"<b>{_e(m.get('name', _DASH))}</b> v{_e(m.get('version', _DASH))} "
                 f"({_e(m.get('status', _DASH))}{alias})")
    description = f"<p class=\"desc\">{_e(inp.description)}</p>" if inp.description else ""
    return (
        f"<section id=\"summary\"><h1>{_e(inp.project)}</h1>{description}"
        f"<p class=\"muted\">run <b>{_e(inp.run_id)}</b> · started {_e(inp.started_at)}</p>"
        f"<p>Task: <b>{_e(inp.task.kind.value)}</b> on target <b>{_e(inp.target)}</b>"
        f" <span class=\"muted\">({_e(inp.task.reason)})</span></p>"
        f"<p>Model: {model}</p><p>{badge} <span>{_e(verdict.summary())}</span></p></section>"
    )


def gate_section(verdict: GateVerdict) -> str:
    """The KPI gate as a section: each KPI's value, threshold, result, margin and message (a failing one on a red
    row)."""
    if not verdict.results:
        return _section("kpis", "KPI gate", f"<p class=\"muted\">{_e(verdict.summary())}</p>")
    rows = [
        ("" if r.passed else "fail",
         [_e(r.kpi), _e(r.metric), _num(r.value), f"{_e(_bound(r.bound))} {_num(r.threshold)}",
          "pass" if r.passed else "<b>FAIL</b>", _num(r.margin), _e(r.message)])
        for r in verdict.results
    ]
    table = _table(["KPI", "metric", "value", "threshold", "result", "margin", "message"], rows, {2, 3, 5})
    return _section("kpis", "KPI gate", table)


def _bound(bound: str) -> str:
    return {">=": "≥", "<=": "≤"}.get(bound, bound)


def _metrics(ev: Evaluation) -> str:
    names = list(ev.metrics) + [n for n in ev.baseline if n not in ev.metrics]
    rows = []
    for name in names:
        metric = METRICS.get(name)
        arrow = "" if metric is None else (" ↑" if metric.higher_is_better else " ↓")
        rows.append(("", [_e(name) + arrow, _num(ev.metrics.get(name)), _num(ev.baseline.get(name))]))
    note = (f"<p class=\"muted\">{ev.n_test} held-out rows; the baseline predicts class priors "
            "(classification), the training mean (regression) or copies the source text (text generation). "
            "↑ higher is better, ↓ lower is better.</p>")
    return _section("metrics", "Test metrics", note + _table(["metric", "model", "baseline"], rows, {1, 2}))


def figures_table(figures: dict[str, float]) -> str:
    """Metrics and check figures by name, each with its direction (↑ higher is better, ↓ lower)."""
    from aiforge.evaluate._checks import CHECK_METRICS

    rows = []
    for name, value in figures.items():
        known = METRICS.get(name) or CHECK_METRICS.get(name.split("[", 1)[0])
        arrow = "" if known is None else (" ↑" if known.higher_is_better else " ↓")
        rows.append(("", [_e(name) + arrow, _num(value)]))
    return _table(["metric", "value"], rows, {1})


def _plots(inp: ReportInput) -> str:
    ev, kind = inp.evaluation, inp.task.kind
    if kind.is_generation and ev.samples:  # texts, where a classifier shows its confusion matrix
        rows = [("", [_e(r["source"]), _e(r["reference"]), _e(r["generated"])]) for r in ev.samples]
        return _section("plots", "Generated texts", f"<p class=\"muted\">{len(rows)} held-out rows drawn at "
                        f"random</p>" + _table(["source", "reference", "generated"], rows, set()))
    figures: list[tuple[str, str]] = []
    if kind is TaskKind.BINARY and "roc" in ev.curves:
        figures.append(("ROC curve", _roc_svg(ev)))
    if kind is TaskKind.BINARY and "pr" in ev.curves:
        figures.append(("Precision-recall curve", _pr_svg(ev)))
    if kind.is_classification and ev.confusion:
        figures.append(("Confusion matrix (rows: actual, columns: predicted)", _confusion_svg(ev.confusion)))
    if kind is TaskKind.REGRESSION and ev.residuals and ev.residuals.get("y_true"):
        figures.append(("Predicted vs actual", _scatter_svg(ev.residuals, inp.target)))
        figures.append(("Residuals (actual − predicted)", _residual_svg(ev.residuals)))
    if not figures:
        return _section("plots", "Plots", "<p class=\"muted\">no plots for this run</p>")
    body = "".join(f"<figure>{svg}<figcaption>{_e(c)}</figcaption></figure>" for c, svg in figures)
    return _section("plots", "Plots", f"<div class=\"plots\">{body}</div>")


def _importance(ev: Evaluation) -> str:
    if not ev.importance:
        return _section("importance", "Feature importance", "<p class=\"muted\">not computed</p>")
    metric = ev.importance_metric or "score"
    note = (f"<p class=\"muted\">Permutation importance on the test split: the loss in {_e(metric)} when one "
            f"column is shuffled (top {min(len(ev.importance), MAX_IMPORTANCE_BARS)} of "
            f"{len(ev.importance)}).</p>")
    return _section("importance", "Feature importance", note + _importance_svg(ev.importance, metric))


_CHECK_TITLES = {
    "fairness": "Fairness", "explain": "Explanations", "robustness": "Robustness", "label_noise":
    "Label noise and outliers", "privacy": "Privacy", "energy": "Energy and carbon",
}
_MAX_DETAIL_ROWS = 25


def _checks(inp: ReportInput) -> list[str]:
    """One section per trustworthiness check: status, method, figures (KPI-able), then its details."""
    out = []
    for name, result in inp.checks.items():
        title = _CHECK_TITLES.get(name, name.replace("_", " ").capitalize())
        if result.status != "ok":
            word = "skipped" if result.status == "skipped" else "<b>failed</b>"
            out.append(_section(f"check-{name}", title, f"<p class=\"muted\">{word}: {_e(result.reason)}</p>"))
            continue
        body = f"<p class=\"muted\">{_e(result.method)} ({result.seconds:.1f} s)</p>" if result.method else ""
        if name == "fairness" and inp.mitigation:
            body += (f"<p>Mitigation <b>{_e(inp.mitigation['method'])}</b> protects "
                     f"<b>{_e(inp.mitigation['attribute'])}</b>; the registered model is "
                     f"<b>{_e(inp.mitigation['learner'])}</b>.</p>")
        if result.metrics:
            rows = [("", [_e(k), _num(v)]) for k, v in result.metrics.items()]
            body += _table(["figure (usable as a KPI)", "value"], rows, {1})
        plots = _check_plots(name, result.details)
        if plots:
            body += "<div class=\"plots\">" + "".join(
                f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>" for caption, svg in plots) + "</div>"
        if name == "explain":
            body += _local_explanations(result.details.get("local", []))
            shown = {k: v for k, v in result.details.items() if k not in ("global", "local", "beeswarm")}
            body += _details(shown)
        else:
            body += _details(result.details)
        out.append(_section(f"check-{name}", title, body))
    return out


def _details(details: dict[str, Any], depth: int = 0) -> str:
    """A check's details, whatever their shape: lists of rows become tables, the rest a definition list."""
    html, plain = [], {}
    for key, value in details.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            html.append(f"<h3>{_e(key.replace('_', ' '))}</h3>" + _rows_table(value))
        elif isinstance(value, dict) and value and depth < 2 and any(
                isinstance(v, list | dict) for v in value.values()):
            html.append(f"<h3>{_e(key.replace('_', ' '))}</h3>" + _details(value, depth + 1))
        elif not key.startswith("_") and not (isinstance(value, list) and len(value) > _MAX_DETAIL_ROWS):
            plain[key] = value
    return (_dl(plain) if plain else "") + "".join(html)


def _rows_table(rows: list[dict[str, Any]]) -> str:
    head: list[str] = []
    for row in rows[:_MAX_DETAIL_ROWS]:
        head += [k for k in row if k not in head]
    cells = [("fail" if row.get("small") is True else "",
              [_num(row.get(k)) if isinstance(row.get(k), int | float) and not isinstance(row.get(k), bool)
               else _value(row.get(k)) for k in head]) for row in rows[:_MAX_DETAIL_ROWS]]
    numeric = {i for i, k in enumerate(head) if all(isinstance(r.get(k), int | float) for r in rows[:_MAX_DETAIL_ROWS]
                                                     if r.get(k) is not None)}
    more = (f"<p class=\"muted\">{len(rows) - _MAX_DETAIL_ROWS} more rows not shown</p>"
            if len(rows) > _MAX_DETAIL_ROWS else "")
    return _table([h.replace("_", " ") for h in head], cells, numeric) + more


def _check_plots(name: str, details: dict[str, Any]) -> list[tuple[str, str]]:
    """The plots a check's details call for, where people would rather look than read."""
    rows = details.get("global")
    plots: list[tuple[str, str]] = []
    if name == "explain" and isinstance(rows, list) and rows:
        key = "mean_abs" if "mean_abs" in rows[0] else "importance"
        top = [r for r in rows if key in r][:MAX_IMPORTANCE_BARS][::-1]
        fig = _figure(7.0, 1.2 + 0.3 * len(top))
        ax = fig.subplots()
        ax.barh([_plain(r["feature"]) for r in top], [float(r[key]) for r in top], color=_COLOR)
        if key == "mean_abs":
            ax.set_xlabel(f"mean |contribution| ({_plain(details.get('space', 'model output'))})")
            plots.append(("Global explanation: mean absolute SHAP contribution per input column",
                          _svg(fig, "shap-")))
        else:
            ax.set_xlabel(f"loss in {_plain(details.get('global_metric', 'the metric'))} when shuffled")
            plots.append(("Global explanation: permutation importance", _svg(fig, "perm-")))
        swarm = details.get("beeswarm")
        if isinstance(swarm, list) and swarm:
            plots.append(("SHAP summary: each dot a test row; colour: the input's value (percentile; grey: "
                          "categorical)", _beeswarm_svg(swarm, str(details.get("space", "")))))
    groups = details.get("groups")
    if name == "fairness" and isinstance(groups, dict) and any(  # decisions (a generator's groups have chrF only)
            "selection_rate" in r for rows in groups.values() for r in rows):
        plots.append(("Selection rate and true positive rate per group (hatched: too small to count)",
                      _fairness_svg(groups)))
    stages = details.get("stages")
    if name == "energy" and isinstance(stages, list) and stages:
        fig = _figure(6.0, 1.2 + 0.35 * len(stages))
        ax = fig.subplots()
        ax.barh([_plain(r.get("stage", "?")) for r in stages][::-1],
                [float(r.get("kwh", 0.0)) * 1000 for r in stages][::-1], color=_COLOR)
        ax.set_xlabel("energy (Wh)")
        plots.append(("Energy per stage", _svg(fig, "energy-")))
    return plots


def _fairness_svg(groups: dict[str, list[dict[str, Any]]]) -> str:
    """Per attribute (not pairs), each group's selection rate and true positive rate, side by side."""
    import numpy as np

    shown = [(attr, rows) for attr, rows in groups.items() if "&" not in attr and rows][:4]
    labels: list[str] = []
    selection: list[float] = []
    tpr: list[float] = []
    small: list[bool] = []
    for attr, rows in shown:
        for r in rows[:12]:
            labels.append(f"{_plain(attr)}={_plain(r.get('group'))}")
            selection.append(float(r.get("selection_rate") or 0.0))
            tpr.append(float(r.get("true_positive_rate") or 0.0))
            small.append(bool(r.get("small")))
    fig = _figure(7.0, 1.2 + 0.32 * len(labels))
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    ax.barh(y + 0.2, selection, height=0.4, color=_COLOR, label="selection rate",
            hatch=None, alpha=0.9)
    ax.barh(y - 0.2, tpr, height=0.4, color="#d97706", label="true positive rate", alpha=0.9)
    for yi, is_small in zip(y, small, strict=True):
        if is_small:
            ax.barh(yi, 1.0, height=0.9, color="none", edgecolor="#9ca3af", hatch="//", lw=0)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right", fontsize=7)
    return _svg(fig, "fair-")


def _beeswarm_svg(swarm: list[dict[str, Any]], space: str) -> str:
    import numpy as np

    fig = _figure(7.0, 1.2 + 0.4 * len(swarm))
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for i, feature in enumerate(swarm[::-1]):
        points = feature.get("points", [])
        if not points:
            continue
        contributions = np.asarray([float(c) for _, c in points])
        colours = [("#9ca3af" if v is None else (float(v), 0.2, 1.0 - float(v))) for v, _ in points]
        ax.scatter(contributions, i + rng.uniform(-0.25, 0.25, len(points)), s=6, c=colours, linewidths=0)
    ax.set_yticks(range(len(swarm)), [_plain(f["feature"]) for f in swarm[::-1]])
    ax.axvline(0, color="#6b7280", lw=0.8)
    ax.set_xlabel(f"contribution ({_plain(space)}); red: high value, blue: low")
    return _svg(fig, "swarm-")


def _local_explanations(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = []
    for r in rows:
        top = ", ".join(f"{_e(c['feature'])} = {_e(c.get('value'))} ({c['contribution']:+.3f})"
                        for c in r.get("contributions", [])[:5])
        body.append(("", [_e(r.get("row")), _e(r.get("reason", "")), _e(r.get("prediction")), _e(r.get("actual")),
                          _num(r.get("base")), _num(r.get("output")), top]))
    return ("<h3>Local explanations</h3>"
            + _table(["row", "why shown", "predicted", "actual", "base", "output", "top contributions"], body, {4, 5}))


def _costs(sel: SelectionReport, candidate: Any) -> list[str]:
    """A learner's best trial's training seconds per fold (its energy's proxy) and prediction time per row (batched):
    what a text transformer costs beside tfidf, and a forest beside a linear model."""
    best = [t for t in sel.trials if t.learner == candidate.learner and t.status == "complete"
            and t.score == candidate.mean]
    if not best:
        return [_DASH, _DASH]
    trial = best[0]
    fold = trial.seconds / max(1, len(trial.fold_scores))
    return [f"{fold:.2f}", _DASH if trial.predict_ms is None else f"{trial.predict_ms:.3f}"]


def _leaderboard(sel: SelectionReport) -> str:
    sign = 1.0 if sel.higher_is_better else -1.0
    order = sorted(sel.candidates, key=lambda c: (c.mean is None, -sign * (c.mean or 0.0)))
    rows = []
    for c in order:
        best = c.learner == sel.best
        score = _DASH if c.mean is None else f"{_num(c.mean)} ± {_num(c.std)}"
        learner = _e(c.learner) + (" ★" if best else "")
        cls = "best" if best else ("fail" if c.status == "failed" else "")
        rows.append((cls, [learner, _e(c.status), score, f"{c.seconds:.1f}", _e(c.error or "")]))
    direction = "higher" if sel.higher_is_better else "lower"
    counts = {status: sum(t.status == status for t in sel.trials) for status in ("complete", "pruned", "failed")}
    note = (f"<p class=\"muted\">Strategy <b>{_e(sel.strategy)}</b>: {len(sel.trials)} trials "
            f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed) in "
            f"{sel.search_seconds:.1f} s. Objective <b>{_e(sel.objective)}</b> ({direction} is better), "
            f"{_validation_text(sel)} on the training split, seed {sel.seed}; "
            f"best refit in {sel.fit_seconds:.1f} s.</p>")
    head = ["learner", "status", f"CV {sel.objective} (mean ± std)", "trials", "seconds", "fit s / fold",
            "predict ms / row", "error"]
    rows = [(cls, [*cells[:3], str(c.trials), cells[3], *_costs(sel, c), *cells[4:]])
            for (cls, cells), c in zip(rows, order, strict=True)]
    features = _dl({k: sel.features.get(k, []) for k in ("numeric", "categorical", "ignored")})
    history = ""
    if any(t.status == "complete" for t in sel.trials) and len(sel.trials) > 1:
        history = f"<figure>{_history_svg(sel)}<figcaption>Optimisation history</figcaption></figure>"
    best_config = "<h3>Best configuration</h3>" + _dl({"learner": sel.best, **sel.best_params})
    if sel.threshold:
        th = sel.threshold
        goal = f"maximise {th['goal']}" + (f" subject to {th['constraint']}" if th.get("constraint") else "")
        outcome = (f"{_e(th['goal'])} {_num(th['score'])} out of fold (at 0.5: {_num(th['score_at_0_5'])})"
                   if th["feasible"] else "no threshold met the constraint; 0.5 is used")
        best_config += (f"<h3>Decision threshold</h3><p>{_num(th['threshold'])} — tuned to {_e(goal)} on "
                        f"out-of-fold predictions: {outcome}.</p>")
    if sel.frugal:
        fr = sel.frugal
        best_config += (
            f"<h3>Energy weighed against accuracy</h3><p>Trial {fr['chosen']['trial'] + 1} "
            f"({_e(fr['chosen']['learner'])}, {_num(fr['chosen']['score'])}) was chosen over the most accurate, "
            f"trial {fr['most_accurate']['trial'] + 1} ({_e(fr['most_accurate']['learner'])}, "
            f"{_num(fr['most_accurate']['score'])}): within energy_tolerance {_num(fr['tolerance'])}, it trains in "
            f"{_num(fr['chosen']['fit_seconds_per_fold'])} s per fold instead of "
            f"{_num(fr['most_accurate']['fit_seconds_per_fold'])} s.</p>")
    if sel.ensemble:
        ens = sel.ensemble
        verdict = "kept: it beat" if ens["kept"] else "not kept: it did not beat"
        if ens.get("dropped_for_time"):
            verdict = "not kept, for lack of time to refit its members, although it beat"
        elif ens["kept"] and ens.get("refit") is False:
            verdict = ("kept as trained on the holdout split (no time to refit its members on every row): "
                       "it beat")
        best_config += (
            f"<h3>Ensemble</h3><p class=\"muted\">Greedy selection over the best trials' out-of-fold "
            f"predictions scored {_num(ens['score'])}; {verdict} the best single trial "
            f"({_num(ens['best_single_score'])}) on the same rows.</p>"
            + _table(["trial", "learner", "weight"],
                     [("", [str(m["trial"] + 1), _e(m["learner"]), _num(m["weight"])]) for m in ens["members"]],
                     {2})
        )
    return _section("selection", "Model selection",
                    note + _table(head, rows, {2, 3, 4}) + history + best_config + "<h3>Input columns</h3>" + features)


def _validation_text(sel: SelectionReport) -> str:
    shown = ("a holdout validation split" if sel.cv_strategy == "holdout"
             else f"{sel.cv_folds}-fold {_e(sel.cv_strategy)} cross-validation")
    return f"{shown} ({_e(sel.validation)})" if sel.validation else shown


def _history_svg(sel: SelectionReport) -> str:
    """Each trial's CV score by trial number, one colour per learner, and the best so far."""
    fig = _figure(7.5, 3.4)
    ax = fig.subplots()
    done = [t for t in sel.trials if t.status == "complete" and t.score is not None]
    palette = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563", "#db2777"]
    for i, learner in enumerate(sorted({t.learner for t in done})):
        mine = [t for t in done if t.learner == learner]
        ax.scatter([t.number + 1 for t in mine], [float(t.score or 0.0) for t in mine], s=18,
                   color=palette[i % len(palette)], label=_plain(learner), zorder=3)
    best: list[float] = []
    for t in sorted(done, key=lambda t: t.number):
        score = float(t.score or 0.0)
        better = not best or (score > best[-1] if sel.higher_is_better else score < best[-1])
        best.append(score if better else best[-1])
    ax.step([t.number + 1 for t in sorted(done, key=lambda t: t.number)], best, where="post", color="#111827",
            lw=1.2, label="best so far")
    ax.set(xlabel="trial", ylabel=f"CV {_plain(sel.objective)}")
    ax.legend(loc="best", fontsize=7, ncols=2)
    return _svg(fig, "hist-")


def _data(inp: ReportInput) -> str:
    snap, split = inp.snapshot, inp.split
    facts = {
        "snapshot": snap.id, "rows": snap.n_rows,
        "rows dropped (missing target)": inp.task.dropped_rows,
        "train / test rows": f"{split.n_train} / {split.n_test}",
        "split": f"{'stratified' if split.stratified else 'random'}, seed {split.seed}",
        "sources": [s.get("location", s.get("name", "")) for s in snap.sources],
    }
    if inp.task.classes:
        facts["classes"] = inp.task.classes
    rows = []
    for col in snap.columns:
        if col.kind == "numeric":
            summary = f"min {_num(col.min)} · max {_num(col.max)} · mean {_num(col.mean)}"
        elif col.top_values:
            summary = ", ".join(f"{_e(v)} ({n})" for v, n in col.top_values[:MAX_TOP_VALUES])
        else:
            summary = _DASH
        name = _e(col.name) + (" <b>(target)</b>" if col.name == inp.target else "")
        rows.append(("", [name, _e(col.kind), _e(col.dtype), f"{col.missing_rate * 100:.1f}%",
                          str(col.distinct), summary]))
    table = _table(["column", "kind", "type", "missing", "distinct", "range / top values"], rows, {3, 4})
    return _section("data", "Data", _dl(facts) + "<h3>Column profile</h3>" + table + _personal_data(snap))


def _personal_data(snap: DatasetSnapshot) -> str:
    """Personal data found on ingest (examples masked) and what data.pii did; nothing for older snapshots."""
    pii = snap.pii
    if pii is None:
        return ""
    done = {a["column"]: a for a in pii.actions}
    rows = []
    for f in pii.findings:
        kinds = ", ".join(f"{k} ({share * 100:.0f}%)" for k, share in f.kinds.items())
        action = _e(f.action) if f.action else "<b>none: kept as it is</b>"
        rows.append(("" if f.action else "fail", [_e(f.column), _e(kinds), _e(", ".join(f.examples)), action]))
    for column, a in done.items():
        if not any(f.column == column for f in pii.findings):
            rows.append(("", [_e(column), _DASH, _DASH, _e(a["action"])]))
    body = (_table(["column", "personal data (share of sampled values)", "examples (masked)", "data.pii action"],
                   rows, set()) if rows else "<p class=\"muted\">none found</p>")
    facts: dict[str, Any] = {"sampled rows": pii.sampled_rows, "names": pii.names}
    if pii.k_anonymity is not None:
        facts["k-anonymity"] = pii.k_anonymity.summary()
    return "<h3>Personal data</h3>" + body + _dl(facts)


def _decisions(decision: dict[str, Any] | None) -> str:
    """The decision layer (``decision:``) on the held-out split: each action's share beside the model alone's,
    mean expected and realised utility of both, each rule's firing rate, and the fitted networks."""
    if not decision:
        return ""
    ref = decision["reference"]
    only = ref.get("model_only") or {}
    rows = [("", [_e(a), _num(n), _num(ref["shares"][a]), _num(only.get("shares", {}).get(a))])
            for a, n in ref["actions"].items()]
    body = (f"<p class=\"muted\">The policy decided the {ref['records']} held-out rows (without their target): "
            "model probabilities, rules and network posteriors against the utility matrix; 'model alone' chooses "
            "by the model's probabilities, without rules or networks.</p>"
            + _table(["action", "records", "share", "model alone"], rows, {1, 2, 3}))
    utility = [("", [_e("mean expected utility"), _num(ref.get("mean_expected_utility")),
                     _num(only.get("mean_expected_utility"))])]
    if "realised_mean_utility" in ref:
        utility.append(("", [_e("realised mean utility (the actual outcomes)"), _num(ref["realised_mean_utility"]),
                             _num(only.get("realised_mean_utility"))]))
    if "agreement" in only:
        utility.append(("", [_e("same action as the model alone"), _num(only["agreement"]), _DASH]))
    body += _table(["", "policy", "model alone"], utility, {1, 2})
    rules = [("", [_e(r), _num(v)]) for r, v in ref.get("rule_firing_rates", {}).items()]
    if rules:
        body += _table(["rule", "firing rate"], rules, {1})
    for name, net in decision.get("networks", {}).items():
        edges = ", ".join(f"{a} → {b}" for a, b in net.get("edges", []))
        body += (f"<p>Network <b>{_e(name)}</b> ({_e(net.get('structure'))}, {_num(net.get('rows'))} rows): "
                 f"{_e(edges) or 'no edges'}; BIC {_num(net.get('bic'))}.</p>")
    return _section("decisions", "Decisions", body)


def _lineage(lineage: dict[str, Any]) -> str:
    body = _dl(lineage) if lineage else "<p class=\"muted\">no lineage recorded</p>"
    return _section("lineage", "Lineage", body)


def _dl(data: dict[str, Any]) -> str:
    """A definition list; nested dicts become nested lists, lists are comma-separated."""
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_value(v)}</dd>" for k, v in data.items())
    return f"<dl>{items}</dl>"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return _dl(value) if value else _DASH
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) if value else _DASH
    if value is None or isinstance(value, float):
        return _num(value)
    return _e(value)


# -- plots (matplotlib, rendered to inline SVG) ----------------------------------------------------


def _roc_svg(ev: Evaluation) -> str:
    fpr, tpr = ev.curves["roc"]["fpr"], ev.curves["roc"]["tpr"]
    auc = ev.metrics.get("roc_auc")
    if auc is None or math.isnan(auc):
        auc = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    fig = _figure()
    ax = fig.subplots()
    ax.plot(fpr, tpr, color=_COLOR, lw=2, label=f"model (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], color="#9ca3af", ls="--", lw=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return _svg(fig, "roc-")


def _pr_svg(ev: Evaluation) -> str:
    recall, precision = ev.curves["pr"]["recall"], ev.curves["pr"]["precision"]
    ap = ev.metrics.get("pr_auc")
    label = "model" if ap is None or math.isnan(ap) else f"model (PR AUC = {ap:.4f})"
    fig = _figure()
    ax = fig.subplots()
    ax.plot(recall, precision, color=_COLOR, lw=2, label=label)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")
    return _svg(fig, "pr-")


def _confusion_svg(confusion: dict[str, Any]) -> str:
    import numpy as np

    labels = [_plain(label) for label in confusion["labels"]]
    matrix = np.asarray(confusion["matrix"], dtype=float)
    n = len(labels)
    size = min(3.2 + 0.45 * n, 9.0)
    fig = _figure(size, size)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues", vmin=0)
    if n <= 30:
        top = matrix.max() or 1.0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=9,
                        color="white" if matrix[i, j] > top / 2 else "black")
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="predicted", ylabel="actual")
    return _svg(fig, "cm-")


def _scatter_svg(residuals: dict[str, list[float]], target: str) -> str:
    y_true, y_pred = residuals["y_true"], residuals["y_pred"]
    lo, hi = min(min(y_true), min(y_pred)), max(max(y_true), max(y_pred))
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=8, alpha=0.5, color=_COLOR, linewidths=0)
    ax.plot([lo, hi], [lo, hi], color=_BAD, ls="--", lw=1, label="perfect prediction")
    ax.set(xlabel=f"actual {_plain(target)}", ylabel=f"predicted {_plain(target)}")
    ax.legend(loc="upper left")
    return _svg(fig, "pva-")


def _residual_svg(residuals: dict[str, list[float]]) -> str:
    import numpy as np

    errors = np.asarray(residuals["y_true"], dtype=float) - np.asarray(residuals["y_pred"], dtype=float)
    fig = _figure()
    ax = fig.subplots()
    ax.hist(errors, bins=min(40, max(5, len(errors) // 10)), color=_COLOR, alpha=0.8)
    ax.axvline(0, color=_BAD, ls="--", lw=1)
    ax.set(xlabel="residual (actual − predicted)", ylabel="rows")
    return _svg(fig, "res-")


def _importance_svg(importance: list[dict[str, Any]], metric: str) -> str:
    top = importance[:MAX_IMPORTANCE_BARS][::-1]
    fig = _figure(7.0, 1.2 + 0.3 * len(top))
    ax = fig.subplots()
    means = [float(r["mean"]) for r in top]
    colors = [_GOOD if m >= 0 else _BAD for m in means]
    ax.barh([_plain(r["feature"]) for r in top], means, xerr=[float(r.get("std", 0.0)) for r in top],
            color=colors, alpha=0.85, capsize=3)
    ax.axvline(0, color="#6b7280", lw=0.8)
    ax.set_xlabel(f"loss in {_plain(metric)} when the column is shuffled")
    return _svg(fig, "imp-")
