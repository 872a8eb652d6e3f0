"""Evaluation on the held-out split: metrics, baseline, confusion matrix, curves, importance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._metrics import Metric, compute_metrics, decided
from aiforge.learn import TabularModel, shared_embeddings
from aiforge.spec import ImportanceCheck, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Evaluation", "evaluate_model", "source_texts"]

_CURVE_POINTS = 200
_RESIDUAL_SAMPLE = 2000


@dataclass(frozen=True)
class Evaluation:
    """What the model does on data it never saw, and what a trivial baseline does there."""

    task: str
    n_test: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    confusion: dict[str, Any] | None = None
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    residuals: dict[str, list[float]] | None = None
    importance: list[dict[str, Any]] = field(default_factory=list)
    importance_metric: str | None = None
    samples: list[dict[str, str]] | None = None  # text generation: a few (source, reference, generated) rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        return cls(**data)


def evaluate_model(
    model: TabularModel,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    y_train: pd.Series,
    *,
    primary: Metric,
    importance: ImportanceCheck,
    seed: int,
) -> Evaluation:
    """Metrics, baseline, confusion or residuals and permutation importance on the test rows. Each test text is
    embedded once by a frozen encoder, however many predictions read it (importance shuffles the columns)."""
    with shared_embeddings():
        return _evaluate(model, X_test, y_test, y_train, primary, importance, seed)


def _evaluate(model: TabularModel, X_test: pd.DataFrame, y_test: pd.Series, y_train: pd.Series, primary: Metric,
              importance: ImportanceCheck, seed: int) -> Evaluation:
    import numpy as np

    y = model.encode_target(y_test)
    output = model.raw_output(X_test)
    if model.task.is_generation:
        return _generation(model, X_test, y, output, seed)
    threshold = getattr(model, "threshold", 0.5)
    metrics = compute_metrics(model.task, y, output, threshold)
    baseline = compute_metrics(model.task, y, _baseline_output(model, y_train, len(y)))
    confusion = curves = residuals = None
    if model.task.is_classification:
        decisions = decided(output, threshold) if model.task is TaskKind.BINARY else output
        confusion = _confusion(y, decisions, model.classes)
        curves = _curves(y, output) if model.task is TaskKind.BINARY else {}
    else:
        rng = np.random.default_rng(seed)
        take = rng.choice(len(y), size=min(len(y), _RESIDUAL_SAMPLE), replace=False)
        residuals = {"y_true": y[take].tolist(), "y_pred": output[take].tolist()}
    ranked: list[dict[str, Any]] = []
    if importance.enabled:
        ranked = _permutation_importance(model, X_test, y, primary, importance, seed)
    return Evaluation(
        task=model.task.value, n_test=len(y), metrics=metrics, baseline=baseline, confusion=confusion,
        curves=curves or {}, residuals=residuals, importance=ranked,
        importance_metric=primary.name if importance.enabled else None,
    )


SAMPLES = 8  # generated texts shown in the report


def source_texts(model: TabularModel, X: pd.DataFrame) -> np.ndarray:
    """The source text of each row as a generator reads it: its text columns joined (``aiforge.deep``'s rule)."""
    import numpy as np

    from aiforge.learn._text_encode import SourceTextEncoder

    columns = list(model.features.text)
    table = SourceTextEncoder(columns).fit(X).transform(X)
    return np.asarray([" | ".join(t for t in row if t) for row in table], dtype=object)


def _generation(model: TabularModel, X: pd.DataFrame, y: np.ndarray, output: np.ndarray, seed: int) -> Evaluation:
    """Generated texts scored against the references; the baseline copies the source text (what a generator
    that learned nothing but to echo would score); a seeded sample of rows for the report. Permutation
    importance is not computed: a generator reads its source text whole."""
    import numpy as np

    from aiforge.evaluate._metrics import compute_metrics

    sources = source_texts(model, X)
    metrics = compute_metrics(model.task, y, output)
    baseline = compute_metrics(model.task, y, sources)
    take = np.sort(np.random.default_rng(seed).choice(len(y), size=min(len(y), SAMPLES), replace=False))
    samples = [{"source": str(sources[i]), "reference": str(y[i]), "generated": str(output[i])} for i in take]
    return Evaluation(task=model.task.value, n_test=len(y), metrics=metrics, baseline=baseline, samples=samples)


def _baseline_output(model: TabularModel, y_train: pd.Series, n: int) -> np.ndarray:
    """Class priors (classification) or the training mean (regression), for every row."""
    import numpy as np

    y = model.encode_target(y_train)
    if model.task is TaskKind.REGRESSION:
        return np.full(n, float(np.mean(y)))
    priors = np.bincount(y, minlength=len(model.classes)) / len(y)
    return np.tile(priors, (n, 1))


def _confusion(y: np.ndarray, output: np.ndarray, classes: list[Any]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, output.argmax(axis=1), labels=list(range(len(classes))))
    return {"labels": [str(c) for c in classes], "matrix": matrix.tolist()}


def _curves(y: np.ndarray, output: np.ndarray) -> dict[str, dict[str, list[float]]]:
    import numpy as np
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, output[:, 1])
    precision, recall, _ = precision_recall_curve(y, output[:, 1])

    def thin(*arrays: np.ndarray) -> list[list[float]]:
        idx = np.unique(np.linspace(0, len(arrays[0]) - 1, min(len(arrays[0]), _CURVE_POINTS)).astype(int))
        return [np.round(a[idx], 5).tolist() for a in arrays]

    fpr_t, tpr_t = thin(fpr, tpr)
    rec_t, prec_t = thin(recall, precision)
    return {"roc": {"fpr": fpr_t, "tpr": tpr_t}, "pr": {"recall": rec_t, "precision": prec_t}}


class _Fitted:
    """A fitted model as scikit-learn's permutation_importance wants one (it checks for ``fit``)."""

    def __init__(self, model: TabularModel) -> None:
        self.model = model

    def fit(self, X: Any, y: Any = None) -> _Fitted:
        raise TypeError("permutation importance scores a fitted model; it never refits it")

    def raw_output(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.raw_output(X)


def _permutation_importance(
    model: TabularModel, X: pd.DataFrame, y: np.ndarray, metric: Metric, check: ImportanceCheck, seed: int
) -> list[dict[str, Any]]:
    """Drop in the primary metric when one input column is shuffled (model-agnostic, on raw columns)."""
    import numpy as np
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(y), size=min(len(y), check.max_rows), replace=False))
    columns = model.input_columns  # a fairness post-processor also reads the sensitive attribute
    sign = 1.0 if metric.higher_is_better else -1.0

    def score(estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:
        return sign * metric(y_, estimator.raw_output(X_))

    result = permutation_importance(
        _Fitted(model), X.iloc[take][columns], y[take], scoring=score, n_repeats=check.repeats,
        random_state=seed, n_jobs=1,
    )
    ranked = [
        {"feature": col, "mean": float(m), "std": float(s)}
        for col, m, s in zip(columns, result.importances_mean, result.importances_std, strict=True)
    ]
    return sorted(ranked, key=lambda r: -r["mean"])
