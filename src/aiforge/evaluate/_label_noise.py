"""Poisoning and label noise: which training rows look mislabelled, and which inputs look out of place?

Labels: out-of-fold predictions of a fast, independent model (LightGBM, 100 rounds of 15 leaves, one thread) on up to
``max_rows`` training rows. Classification: confident learning (cleanlab's ``find_label_issues``, pruned
by the estimated noise rates), each row scored by its self-confidence (the out-of-fold probability of its
given label). Regression: a row is flagged when its out-of-fold residual is an outlier, a robust z-score
(residual minus the median, over 1.4826 x MAD) beyond 3.5.

Inputs: an isolation forest on the numeric inputs and the frequency of each categorical value; a row is
an outlier when its anomaly score lies more than ``outlier_z`` robust standard deviations above the
median score (so that the share flagged is a finding, not a setting).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check
from aiforge.spec import LabelNoiseCheck, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.learn import FeatureSet

__all__ = ["classification_issues", "label_noise", "regression_issues"]

_ROUNDS = 100
_RESIDUAL_Z = 3.5  # Iglewicz & Hoaglin's cut-off for a robust z-score
_MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal data

METRICS = [
    CheckMetric("label_issue_rate", "label_noise", False,
                "Share of the examined training rows whose label looks wrong: confident learning (cleanlab) on "
                "out-of-fold probabilities (classification), or an out-of-fold residual beyond a robust "
                "z-score of 3.5 (regression).",
                hint="review the rows listed in details.label_issues (mislabelled or poisoned rows), fix or drop "
                     "them and retrain; find where they come from (a source, a labeller, a date range)"),
    CheckMetric("outlier_rate", "label_noise", False,
                "Share of the examined training rows whose inputs an isolation forest finds anomalous (score "
                "beyond outlier_z robust standard deviations above the median).",
                hint="review the rows listed in details.outliers (entry errors, another population, injected "
                     "rows), fix or drop them, or add data validation rules (data.contract) that reject them"),
]


@check("label_noise", METRICS)
def label_noise(ctx: CheckContext) -> CheckResult:
    """Flag training rows with suspicious labels (out-of-fold confident learning) and outlying inputs."""
    import numpy as np

    spec = ctx.checks.label_noise
    model = ctx.model
    lacking = [c for c in [*model.features.columns, ctx.target] if c not in ctx.train.columns]
    if lacking:
        raise ValueError(f"label_noise check: the training split lacks column(s) {lacking} that the model "
                         f"{model.learner!r} was trained on (inputs {model.features.columns}, target "
                         f"{ctx.target!r}); pass the split the model was trained on")
    if not model.features.columns:
        return CheckResult("label_noise", "skipped", reason="the model uses no input column")
    rng = np.random.default_rng(ctx.seed)
    at = np.arange(len(ctx.train))
    if len(at) > spec.max_rows:
        at = np.sort(rng.choice(len(at), size=spec.max_rows, replace=False))
    rows = ctx.train.iloc[at]
    y = model.encode_target(rows[ctx.target])
    if len(rows) < 2 * spec.folds:
        return CheckResult("label_noise", "skipped", reason=f"{len(rows)} training rows are too few for "
                           f"{spec.folds}-fold out-of-fold predictions")
    labels = rows.index
    if model.task is TaskKind.REGRESSION:
        flagged, z, predicted, label_method = regression_issues(rows, y, model.features, spec.folds, ctx.seed)
        ranked = np.flatnonzero(flagged)[np.argsort(-np.abs(z[flagged]), kind="stable")][: spec.top_rows]
        table = [{"row": int(i), "given": float(y[i]), "suggested": round(float(predicted[i]), 6),
                  "robust_z": round(float(z[i]), 3)} for i in ranked]
    else:
        flagged, quality, suggested, label_method = classification_issues(rows, y, model.features,
                                                                          len(model.classes), spec.folds, ctx.seed)
        ranked = np.flatnonzero(flagged)[np.argsort(quality[flagged], kind="stable")][: spec.top_rows]
        table = [{"row": int(i), "given": _text(model.classes[y[i]]),
                  "suggested": _text(model.classes[suggested[i]]), "label_quality": round(float(quality[i]), 4)}
                 for i in ranked]
    outliers, outlier_table = _outliers(rows, model.features, spec, ctx.seed)
    for row in [*table, *outlier_table]:
        row["row"] = _row_label(labels[row["row"]])
    metrics = {"label_issue_rate": float(flagged.mean()), "outlier_rate": float(outliers.mean())}
    details = {"rows_examined": len(rows), "n_flagged": int(flagged.sum()), "n_outliers": int(outliers.sum()),
               "label_issues": table, "outliers": outlier_table}
    method = (f"{len(rows)} training rows{' (seeded sample)' if len(rows) < len(ctx.train) else ''}; "
              f"{label_method}; inputs: isolation forest (200 trees) on the numeric inputs and the frequencies "
              f"of the categorical ones, an outlier lies more than {spec.outlier_z} robust sd (1.4826 x MAD) "
              "above the median anomaly score. Row numbers are the training split's index.")
    return CheckResult("label_noise", "ok", metrics, details, method)


def _out_of_fold(rows: pd.DataFrame, y: np.ndarray, features: FeatureSet, task: TaskKind, folds: int,
                 seed: int, n_classes: int) -> np.ndarray:
    """Out-of-fold probabilities (classification, one column per class) or predictions (regression)."""
    import lightgbm
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    from aiforge.learn._encode import TabularEncoder

    encoder = TabularEncoder(numeric=features.numeric, categorical=features.categorical, encoding="ordinal",
                             max_categories=250)
    X = encoder.fit_transform(rows[features.columns])
    categorical = list(range(len(features.numeric), X.shape[1]))
    counts = np.bincount(y.astype(int)) if task.is_classification else np.zeros(0)
    stratify = task.is_classification and counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    out = np.zeros((len(y), n_classes)) if task.is_classification else np.zeros(len(y))
    settings: dict[str, Any] = {
        "n_estimators": _ROUNDS, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20, "subsample": 0.8,
        "subsample_freq": 1, "colsample_bytree": 0.8, "n_jobs": 1, "verbose": -1, "random_state": seed,
        "deterministic": True, "force_col_wise": True,
    }
    kwargs: dict[str, Any] = {"categorical_feature": categorical} if categorical else {}
    for fit_at, predict_at in splitter.split(X, y if stratify else None):
        if task is TaskKind.REGRESSION:
            regressor = lightgbm.LGBMRegressor(**settings).fit(X[fit_at], y[fit_at], **kwargs)
            out[predict_at] = regressor.predict(X[predict_at])
            continue
        seen = np.unique(y[fit_at])
        if len(seen) == 1:  # a fold with one class: it predicts that class
            out[np.ix_(predict_at, seen)] = 1.0
            continue
        local = np.searchsorted(seen, y[fit_at])
        classifier = lightgbm.LGBMClassifier(**settings).fit(X[fit_at], local, **kwargs)
        out[np.ix_(predict_at, seen)] = classifier.predict_proba(X[predict_at])
    return out


def classification_issues(rows: pd.DataFrame, y: np.ndarray, features: FeatureSet, n_classes: int, folds: int,
                          seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Confident learning on out-of-fold probabilities: per row whether its label looks wrong, its label
    quality (the out-of-fold probability of the given label), the suggested class, and the method."""
    import numpy as np
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs = _out_of_fold(rows, y, features, TaskKind.MULTICLASS, folds, seed, n_classes)
    present = np.unique(y)
    flagged = np.zeros(len(y), dtype=bool)
    quality = probs[np.arange(len(y)), y]
    if len(present) > 1:  # cleanlab reads the classes as 0..k-1, all present
        local = np.searchsorted(present, y)
        p = probs[:, present]
        p = np.clip(p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12), 1e-6, 1.0)
        p /= p.sum(axis=1, keepdims=True)
        flagged = np.asarray(find_label_issues(local, p, filter_by="prune_by_noise_rate", n_jobs=1), dtype=bool)
        quality = np.asarray(get_label_quality_scores(local, p, method="self_confidence"))
    method = (f"labels: confident learning (cleanlab find_label_issues, prune_by_noise_rate) on {folds}-fold "
              f"out-of-fold probabilities of LightGBM ({_ROUNDS} rounds); label_quality is the out-of-fold "
              "probability of the given label")
    return flagged, quality, np.argmax(probs, axis=1), method


def regression_issues(rows: pd.DataFrame, y: np.ndarray, features: FeatureSet, folds: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Out-of-fold residual outliers: per row whether its target looks wrong, the residual's robust
    z-score, the out-of-fold prediction, and the method."""
    import numpy as np

    predicted = _out_of_fold(rows, y, features, TaskKind.REGRESSION, folds, seed, 0)
    z = _robust_z(y - predicted)
    method = (f"labels: {folds}-fold out-of-fold LightGBM ({_ROUNDS} rounds) residuals, flagged beyond a "
              f"robust z-score of {_RESIDUAL_Z} (residual minus median, over 1.4826 x MAD); suggested is the "
              "out-of-fold prediction")
    return np.abs(z) > _RESIDUAL_Z, z, predicted, method


def _outliers(rows: pd.DataFrame, features: FeatureSet, spec: LabelNoiseCheck,
              seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    import numpy as np
    from sklearn.ensemble import IsolationForest

    X = _frequency_encoded(rows, features)
    forest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1).fit(X)
    score = -forest.score_samples(X)  # the paper's anomaly score in (0, 1]: higher is more anomalous
    z = _robust_z(score)
    flagged = z > spec.outlier_z
    ranked = np.flatnonzero(flagged)[np.argsort(-score[flagged], kind="stable")][: spec.top_rows]
    table = [{"row": int(i), "anomaly_score": round(float(score[i]), 4), "robust_z": round(float(z[i]), 2),
              **_unusual(rows.iloc[int(i)], rows, features)} for i in ranked]
    return flagged, table


def _frequency_encoded(rows: pd.DataFrame, features: FeatureSet) -> np.ndarray:
    """Numeric inputs as they are (missing: the median), each categorical input as the share of rows with
    its value: a rare category is an extreme value, which an isolation forest isolates quickly (one-hot
    columns would dilute the numeric inputs among many near-constant ones)."""
    import numpy as np
    import pandas as pd

    blocks = []
    for c in features.numeric:
        values = pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        blocks.append(np.where(np.isnan(values), np.nanmedian(values) if (~np.isnan(values)).any() else 0.0,
                               values))
    for c in features.categorical:
        text = rows[c].astype(str).where(rows[c].notna(), "(missing)")
        blocks.append(text.map(text.value_counts(normalize=True)).to_numpy(dtype=float))
    return np.column_stack(blocks)


def _unusual(row: pd.Series, rows: pd.DataFrame, features: FeatureSet) -> dict[str, Any]:
    """The input of the row that is rarest among the rows (a numeric value's tail share, or a category's
    frequency), so that the report says what is odd about an outlier."""
    import numpy as np

    best: tuple[float, str, Any] = (1.0, "", None)
    for c in features.numeric:
        value = row[c]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        column = rows[c].to_numpy(dtype=float, na_value=np.nan)
        tail = min(np.nanmean(column >= value), np.nanmean(column <= value))
        if tail < best[0]:
            best = (float(tail), c, _text(value))
    for c in features.categorical:
        share = float((rows[c] == row[c]).mean())
        if share < best[0]:
            best = (share, c, _text(row[c]))
    return {"rarest_input": best[1], "value": best[2], "share_as_rare": round(best[0], 4)}


def _robust_z(values: np.ndarray) -> np.ndarray:
    import numpy as np

    centre = np.median(values)
    spread = _MAD_SCALE * np.median(np.abs(values - centre))
    if spread <= 0:  # more than half the values equal: fall back to the mean absolute deviation
        spread = 1.2533 * float(np.mean(np.abs(values - centre)))
    return np.asarray((values - centre) / spread) if spread > 0 else np.zeros(len(values))


def _text(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _row_label(label: Any) -> Any:
    if hasattr(label, "item"):
        label = label.item()
    return label if isinstance(label, (int, str)) else str(label)
