"""Group fairness of the served model's decisions on the held-out split (fairlearn).

Per sensitive attribute, and per pair of attributes (``sex&race``) when ``intersections`` is on, every
group's figures are tabled and the gaps between groups become KPI-able figures keyed
``name[attribute]``. Groups with fewer than ``min_group_size`` test rows are listed (``small``) but left
out of the gaps: a rate measured on a handful of rows is noise. Missing values form the group
``(missing)``; a numeric attribute with many distinct values is cut into training quartiles.

- binary: decisions at the model's threshold. Gaps: demographic parity (selection rates: difference
  and ratio), equalized odds (the larger of the true- and false-positive-rate gaps), equal opportunity
  (true-positive-rate gap), and accuracy.
- multiclass: ``accuracy_difference``, and ``demographic_parity_difference`` as the largest, over the
  classes, of the gap between groups in the share of rows predicted as that class (one-vs-rest).
- regression: ``mae_difference`` and ``rmse_difference``.
- text generation: ``chrf_difference``, the gap between groups in chrF of the generated texts.

With a mitigated model (``ctx.reference`` holds the model before mitigation), ``details["comparison"]``
sets the two side by side on the mitigated attribute.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import combinations
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.learn import TabularModel

__all__ = ["FAIRNESS_METRICS", "fairness", "group_table"]

_HINT = ("enable mitigation (checks.fairness.mitigation: reweighing | exponentiated_gradient | "
         "threshold_optimizer, with checks.fairness.constraint naming what to equalise), or look for input "
         "columns that stand in for the attribute")
_ROUND = 6

FAIRNESS_METRICS = [
    CheckMetric("demographic_parity_difference", "fairness", False,
                "Largest gap between groups of the attribute in the share of positive decisions (multiclass: "
                "the largest such gap over the classes, one-vs-rest).", per_attribute=True, hint=_HINT),
    CheckMetric("demographic_parity_ratio", "fairness", True,
                "Smallest group selection rate divided by the largest (1 = parity; the 'four-fifths rule' asks "
                ">= 0.8).", per_attribute=True, hint=_HINT),
    CheckMetric("equalized_odds_difference", "fairness", False,
                "The larger of the gaps between groups in true-positive rate and in false-positive rate.",
                per_attribute=True, hint=_HINT.replace("reweighing | ", "")),
    CheckMetric("equal_opportunity_difference", "fairness", False,
                "Gap between groups in true-positive rate (the share of actual positives the model accepts).",
                per_attribute=True, hint=_HINT.replace("reweighing | ", "")),
    CheckMetric("accuracy_difference", "fairness", False,
                "Gap between groups in accuracy of the decisions.", per_attribute=True, hint=_HINT),
    CheckMetric("mae_difference", "fairness", False,
                "Regression: gap between groups in mean absolute error.", per_attribute=True,
                hint="add input columns that explain the worse-served group's target, or more of its rows"),
    CheckMetric("rmse_difference", "fairness", False,
                "Regression: gap between groups in root mean squared error.", per_attribute=True,
                hint="add input columns that explain the worse-served group's target, or more of its rows"),
    CheckMetric("chrf_difference", "fairness", False,
                "Text generation: gap between groups in chrF (0-100) of the generated texts.", per_attribute=True,
                hint="add training pairs of the worse-served group, or fine-tune longer on them"),
]


def _groups(ctx: CheckContext, attributes: list[str]) -> tuple[dict[str, pd.Series], list[str]]:
    """Each test row's group per attribute (numeric ones with many values by training quartiles) and, with
    ``intersections``, per pair of attributes; the notes say which were grouped by quartiles."""
    from aiforge.learn._mitigate import group_edges, group_labels

    groups: dict[str, pd.Series] = {}
    notes: list[str] = []
    for name in attributes:
        edges = group_edges(ctx.train[name]) if name in ctx.train.columns else None
        groups[name] = group_labels(ctx.test[name], edges)
        if edges is not None:
            notes.append(f"'{name}' is numeric with many values: grouped by training quartiles")
    if ctx.checks.fairness.intersections:
        for a, b in combinations(attributes, 2):
            groups[f"{a}&{b}"] = groups[a].astype(str) + " & " + groups[b].astype(str)
    return groups, notes


def _generation_fairness(ctx: CheckContext, attributes: list[str], y: np.ndarray) -> CheckResult:
    """Text generation: chrF of each group's generated texts, and the gap between the groups large enough."""
    from aiforge.evaluate._metrics import METRICS

    spec = ctx.checks.fairness
    generated = ctx.model.raw_output(ctx.test)
    groups, _ = _groups(ctx, attributes)
    tables: dict[str, list[dict[str, Any]]] = {}
    disparities: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    for key, labels in groups.items():
        values = labels.astype(str).to_numpy()
        table = []
        for group in sorted(set(values.tolist())):
            rows = values == group
            table.append({"group": group, "rows": int(rows.sum()), "small": int(rows.sum()) < spec.min_group_size,
                          "chrf": round(METRICS["chrf"](y[rows], generated[rows]), _ROUND)})
        tables[key] = table
        large = [r["chrf"] for r in table if not r["small"]]
        row: dict[str, Any] = {"attribute": key, "groups": len(large), "excluded_small": len(table) - len(large)}
        if len(large) >= 2:
            metrics[f"chrf_difference[{key}]"] = max(large) - min(large)
            row["chrf_difference"] = round(max(large) - min(large), _ROUND)
        disparities.append(row)
    return CheckResult("fairness", "ok", metrics, {"groups": tables, "disparities": disparities},
                       f"chrF (sacrebleu) of each group's generated texts on {len(y):,} test rows; groups under "
                       f"{spec.min_group_size} rows are listed but not in the gap")


@contextmanager
def _quiet_fairlearn() -> Iterator[None]:
    """fairlearn 0.15 uses pandas idioms that pandas 3 deprecates (Pandas4Warning): not the user's to fix."""
    import pandas as pd

    with warnings.catch_warnings():
        category = getattr(pd.errors, "Pandas4Warning", None)
        if category is not None:
            warnings.filterwarnings("ignore", category=category)
        yield


@check("fairness", FAIRNESS_METRICS)
def fairness(ctx: CheckContext) -> CheckResult:
    """Per-group figures and gaps for each sensitive attribute (and pair of them) on the test split."""
    import numpy as np


    spec = ctx.checks.fairness
    attributes = list(dict.fromkeys(ctx.sensitive))
    if not attributes:
        return CheckResult("fairness", "skipped", reason="no sensitive attribute named: set "
                           "checks.fairness.sensitive: [column, ...] (or sensitive: on a fairness KPI)")
    missing = [a for a in attributes if a not in ctx.test.columns]
    if missing:
        raise DataError(f"sensitive attribute(s) {missing} are not columns of the test split",
                        where="checks.fairness.sensitive",
                        expected=f"columns of the data: {', '.join(map(str, ctx.test.columns[:30]))}",
                        found=", ".join(missing), hint="name the columns that hold the attributes")
    model = ctx.model
    y = ctx.y_test()
    if model.task.is_generation:
        return _generation_fairness(ctx, attributes, y)
    output = np.asarray(model.raw_output(ctx.test), dtype=float)
    scores, decisions = _decide(model, output)
    groups, notes = _groups(ctx, attributes)
    tables: dict[str, list[dict[str, Any]]] = {}
    disparities: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    for key, labels in groups.items():
        table = group_table(model.task, y, scores, decisions, labels, spec.min_group_size, model.classes)
        tables[key] = [_rounded(r) for r in table]
        gaps = _gaps(model.task, table, model.classes)
        large = [r["group"] for r in table if not r["small"]]
        small = [r["group"] for r in table if r["small"]]
        row: dict[str, Any] = {"attribute": key, "groups": len(large), "excluded_small": len(small)}
        if len(large) < 2:
            notes.append(f"'{key}': fewer than two groups with at least {spec.min_group_size} test rows, "
                         "so no gap is measured")
        else:
            for metric, value in gaps.items():
                metrics[f"{metric}[{key}]"] = value
                row[metric] = round(value, _ROUND)
        disparities.append(row)
    details: dict[str, Any] = {"groups": tables, "disparities": disparities, "decision": _decision_text(model)}
    if ctx.reference is not None:
        attribute = spec.attribute or str(getattr(model, "attribute", "") or attributes[0])
        if attribute in groups:
            details["comparison"] = _comparison(ctx, y, output, groups[attribute], attribute)
    if notes:
        details["notes"] = notes
    method = (f"fairlearn MetricFrame on {len(y):,} test rows; groups under {spec.min_group_size} rows are "
              f"listed but not in the gaps; {_task_method(model.task)}")
    return CheckResult("fairness", "ok", metrics, details, method)


def _task_method(task: TaskKind) -> str:
    if task is TaskKind.BINARY:
        return "binary decisions at the model's threshold"
    if task is TaskKind.MULTICLASS:
        return ("multiclass: demographic_parity_difference is the largest gap over the classes in the share "
                "predicted as that class")
    return "regression: gaps in mean absolute and root mean squared error"


def _decision_text(model: TabularModel) -> str:
    if model.task is TaskKind.BINARY:
        return f"'{model.classes[1]}' when its probability >= {getattr(model, 'threshold', 0.5):.4g}"
    return "the most probable class" if model.task is TaskKind.MULTICLASS else "the predicted value"


def _decide(model: TabularModel, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, decisions) from the raw output: positive-class probability and 0/1 decisions at the model's
    threshold (binary), probabilities and class indices (multiclass), or the values twice (regression)."""
    if model.task is TaskKind.BINARY:
        return output[:, 1], (output[:, 1] >= getattr(model, "threshold", 0.5)).astype(int)
    if model.task is TaskKind.MULTICLASS:
        return output, output.argmax(axis=1)
    return output, output


def _tpr(y: np.ndarray, d: np.ndarray) -> float:
    positives = y == 1
    return float(d[positives].mean()) if positives.any() else float("nan")


def _fpr(y: np.ndarray, d: np.ndarray) -> float:
    negatives = y == 0
    return float(d[negatives].mean()) if negatives.any() else float("nan")


def group_table(task: TaskKind, y: np.ndarray, scores: np.ndarray, decisions: np.ndarray, groups: pd.Series,
                min_group_size: int, classes: list[Any]) -> list[dict[str, Any]]:
    """One row per group (largest first): its size, whether it is too small to compare, and its figures.

    Rates a group cannot have (a true-positive rate without actual positives, an AUC with one class)
    are ``None``.
    """
    import numpy as np
    from fairlearn.metrics import MetricFrame, count, selection_rate
    from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

    labels = groups.to_numpy(dtype=object)
    if task is TaskKind.BINARY:
        metric_fns: dict[str, Any] = {"count": count, "selection_rate": selection_rate, "accuracy": accuracy_score,
                                      "true_positive_rate": _tpr, "false_positive_rate": _fpr}
        y_pred: Any = decisions
    elif task is TaskKind.MULTICLASS:
        metric_fns = {"count": count, "accuracy": accuracy_score}
        for k, name in enumerate(classes):
            metric_fns[f"selection_rate[{name}]"] = _class_rate(k)
        y_pred = decisions
    else:
        metric_fns = {"count": count, "mae": mean_absolute_error, "rmse": _rmse, "mean_prediction": _mean_pred,
                      "mean_target": _mean_true}
        y_pred = scores
    with _quiet_fairlearn():
        frame = MetricFrame(metrics=metric_fns, y_true=y, y_pred=y_pred, sensitive_features=labels).by_group
    rows = []
    for group, values in frame.iterrows():
        n = int(values["count"])
        row: dict[str, Any] = {"group": str(group), "count": n, "small": n < min_group_size}
        for name in metric_fns:
            if name != "count":
                row[name] = _clean(values[name])
        if task is TaskKind.BINARY:
            mine = labels == group
            both = len(np.unique(y[mine])) == 2
            row["roc_auc"] = float(roc_auc_score(y[mine], scores[mine])) if both else None
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["count"], r["group"]))


def _class_rate(k: int) -> Any:
    def rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float((y_pred == k).mean())

    return rate


def _rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(((y_pred - y_true) ** 2).mean() ** 0.5)


def _mean_pred(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(y_pred.mean())


def _mean_true(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(y_true.mean())


def _clean(value: Any) -> float | None:
    import math

    number = float(value)
    return None if math.isnan(number) else number


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, _ROUND) if isinstance(v, float) else v for k, v in row.items()}


def _gaps(task: TaskKind, table: list[dict[str, Any]], classes: list[Any]) -> dict[str, float]:
    """The between-group gaps over the groups large enough to compare (a rate a group lacks is skipped)."""
    rows = [r for r in table if not r["small"]]

    def spread(name: str) -> float:
        values = [r[name] for r in rows if r.get(name) is not None]
        return float(max(values) - min(values)) if len(values) >= 2 else float("nan")

    if task is TaskKind.BINARY:
        rates = [r["selection_rate"] for r in rows]
        ratio = min(rates) / max(rates) if max(rates) > 0 else float("nan")
        tpr, fpr = spread("true_positive_rate"), spread("false_positive_rate")
        return {"demographic_parity_difference": spread("selection_rate"), "demographic_parity_ratio": ratio,
                "equalized_odds_difference": max(tpr, fpr), "equal_opportunity_difference": tpr,
                "accuracy_difference": spread("accuracy")}
    if task is TaskKind.MULTICLASS:
        per_class = [spread(f"selection_rate[{c}]") for c in classes]
        return {"demographic_parity_difference": max(per_class), "accuracy_difference": spread("accuracy")}
    return {"mae_difference": spread("mae"), "rmse_difference": spread("rmse")}


def _comparison(ctx: CheckContext, y: np.ndarray, output: np.ndarray, groups: pd.Series,
                attribute: str) -> list[dict[str, Any]]:
    """The model before and after mitigation on the same test rows: primary metric, accuracy and the gaps
    on the mitigated attribute."""
    import numpy as np

    from aiforge.evaluate._metrics import decided

    assert ctx.reference is not None
    spec = ctx.checks.fairness
    served = str(getattr(ctx.model, "method", "") or ctx.model.learner.partition("+")[2] or "mitigation")
    rows = []
    for label, model in (("without mitigation", ctx.reference), (f"with {served}", ctx.model)):
        out = output if model is ctx.model else np.asarray(model.raw_output(ctx.test), dtype=float)
        scores, decisions = _decide(model, out)
        threshold = getattr(model, "threshold", 0.5)
        labelled = decided(out, threshold) if model.task is TaskKind.BINARY else out
        primary = ctx.primary(y, labelled if ctx.primary.labels else out)
        table = group_table(model.task, y, scores, decisions, groups, spec.min_group_size, model.classes)
        row: dict[str, Any] = {"model": label, "learner": model.learner, ctx.primary.name: round(primary, _ROUND)}
        if model.task.is_classification:
            row["accuracy"] = round(float((decisions == y).mean()), _ROUND)
        row.update({f"{k}[{attribute}]": round(v, _ROUND)
                    for k, v in _gaps(model.task, table, model.classes).items()})
        rows.append(row)
    return rows
