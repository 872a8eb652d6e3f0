"""The metric registry: each metric knows its tasks, its direction and how to score model output.

Scores take the encoded truth (class index 0..k-1, or the value) and the model output
(class probabilities, or predicted values). scikit-learn is imported only when scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiforge.learn import Objective
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["METRICS", "Metric", "compute_metrics", "decided", "default_metric", "metrics_for"]

B, M, R, G = TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION, TaskKind.TEXT_GENERATION
Score = Callable[["np.ndarray", "np.ndarray"], float]


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: frozenset[TaskKind]
    higher_is_better: bool
    description: str
    fn: Score
    labels: bool = False  # scores decisions (argmax, or a tuned binary threshold), not probabilities

    def __call__(self, y: np.ndarray, output: np.ndarray) -> float:
        return float(self.fn(y, output))

    def objective(self) -> Objective:
        return Objective(self.name, self.higher_is_better, self.fn)


METRICS: dict[str, Metric] = {}


def _metric(name: str, tasks: set[TaskKind], higher: bool, description: str,
            labels: bool = False) -> Callable[[Score], Score]:
    def register(fn: Score) -> Score:
        METRICS[name] = Metric(name, frozenset(tasks), higher, description, fn, labels)
        return fn

    return register


def _labels(output: np.ndarray) -> np.ndarray:
    return output.argmax(axis=1)


@_metric("roc_auc", {B, M}, True, "area under the ROC curve (one-vs-rest for multiclass)")
def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if p.shape[1] == 2:
        return roc_auc_score(y, p[:, 1])
    return roc_auc_score(y, p, multi_class="ovr", labels=list(range(p.shape[1])))


@_metric("pr_auc", {B}, True, "area under the precision-recall curve (average precision)")
def _pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return average_precision_score(y, p[:, 1])


@_metric("accuracy", {B, M}, True, "share of correct predictions", labels=True)
def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float((_labels(p) == y).mean())


@_metric("balanced_accuracy", {B, M}, True, "mean recall over classes", labels=True)
def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, _labels(p))


@_metric("f1", {B}, True, "F1 score of the positive class", labels=True)
def _f1(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(p), zero_division=0)


@_metric("precision", {B}, True, "precision of the positive class", labels=True)
def _precision(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import precision_score

    return precision_score(y, _labels(p), zero_division=0)


@_metric("recall", {B}, True, "recall of the positive class", labels=True)
def _recall(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import recall_score

    return recall_score(y, _labels(p), zero_division=0)


@_metric("f1_macro", {M}, True, "unweighted mean of per-class F1", labels=True)
def _f1_macro(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(p), average="macro", labels=list(range(p.shape[1])), zero_division=0)


@_metric("f1_weighted", {M}, True, "per-class F1 weighted by class frequency", labels=True)
def _f1_weighted(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(p), average="weighted", labels=list(range(p.shape[1])), zero_division=0)


@_metric("log_loss", {B, M}, False, "cross-entropy of the predicted probabilities")
def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return log_loss(y, p, labels=list(range(p.shape[1])))


@_metric("brier", {B}, False, "mean squared error of the positive-class probability")
def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(((p[:, 1] - y) ** 2).mean())


@_metric("rmse", {R}, False, "root mean squared error")
def _rmse(y: np.ndarray, v: np.ndarray) -> float:
    return float(((v - y) ** 2).mean() ** 0.5)


@_metric("mae", {R}, False, "mean absolute error")
def _mae(y: np.ndarray, v: np.ndarray) -> float:
    return float(abs(v - y).mean())


@_metric("median_ae", {R}, False, "median absolute error")
def _median_ae(y: np.ndarray, v: np.ndarray) -> float:
    import numpy as np

    return float(np.median(np.abs(v - y)))


@_metric("r2", {R}, True, "coefficient of determination")
def _r2(y: np.ndarray, v: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return r2_score(y, v)


@_metric("chrf", {G}, True, "chrF (sacrebleu): character 6-gram F-score, recall weighted by beta 2, 0-100")
def _chrf(y: np.ndarray, texts: np.ndarray) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF(char_order=6, word_order=0, beta=2).corpus_score(_texts(texts), [_texts(y)]).score


@_metric("bleu", {G}, True, "corpus BLEU (sacrebleu, 13a tokenisation): word 1-4-gram precision, 0-100")
def _bleu(y: np.ndarray, texts: np.ndarray) -> float:
    from sacrebleu.metrics import BLEU

    return BLEU().corpus_score(_texts(texts), [_texts(y)]).score


@_metric("exact_match", {G}, True, "share of generated texts equal to the reference (surrounding spaces apart)")
def _exact_match(y: np.ndarray, texts: np.ndarray) -> float:
    import numpy as np

    return float(np.mean([a == b for a, b in zip(_texts(y), _texts(texts), strict=True)])) if len(y) else 0.0


def _texts(values: np.ndarray) -> list[str]:
    return ["" if v is None else str(v).strip() for v in values]


_DEFAULTS = {B: "roc_auc", M: "accuracy", R: "rmse", G: "chrf"}


def metrics_for(task: TaskKind) -> list[Metric]:
    return [m for m in METRICS.values() if task in m.tasks]


def default_metric(task: TaskKind) -> Metric:
    return METRICS[_DEFAULTS[task]]


def decided(output: np.ndarray, threshold: float) -> np.ndarray:
    """Binary probabilities turned into one-hot decisions at ``threshold`` (for label metrics)."""
    import numpy as np

    positive = (output[:, 1] >= threshold).astype(float)
    return np.column_stack([1.0 - positive, positive])


def compute_metrics(task: TaskKind, y: np.ndarray, output: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every metric that applies to ``task``; one that cannot be computed here is NaN.

    For binary tasks, label metrics score the decisions at ``threshold``.
    """
    labels = decided(output, threshold) if task is TaskKind.BINARY and threshold != 0.5 else output
    out: dict[str, float] = {}
    for metric in metrics_for(task):
        try:
            out[metric.name] = metric(y, labels if metric.labels else output)
        except ValueError:
            out[metric.name] = float("nan")
    return out
