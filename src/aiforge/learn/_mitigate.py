"""Fairness mitigation: a trained model made fairer towards one sensitive attribute.

Three methods, one per stage of learning (fairlearn provides the reductions and the post-processor):

- ``reweighing`` (before training; Kamiran & Calders 2012): every training row gets the weight
  ``w(g, y) = P(g) P(y) / P(g, y)``, which makes attribute and label independent in the weighted data,
  and the model's pipeline (each member of an ensemble) is refit with these sample weights. Works for
  any classification task; the model keeps its decision threshold.
- ``exponentiated_gradient`` (during training; Agarwal et al. 2018): fairlearn's reduction fits a
  sequence of weighted copies of the model's best estimator (an ensemble's heaviest member) on its
  encoded inputs, at most ``EG_MAX_ITER`` fits of at most ``EG_MAX_ROUNDS`` boosting rounds, and mixes
  them into a randomised classifier that meets the constraint (bound ``eps`` per group) on the training
  data. Binary tasks only.
- ``threshold_optimizer`` (after training; Hardt et al. 2016): fairlearn's ``ThresholdOptimizer`` picks
  per-group thresholds on the model's score (objective: accuracy). It is fitted on *cross-fitted* scores
  of the training split (each row scored by a copy of the model that did not train on it: the model
  itself has seen every training row, and its scores there are optimistic), and then applied to the
  model's own scores. The attribute is needed at prediction time (``input_columns`` includes it); rows
  whose group was never seen in training get the unmitigated model's decision. Binary tasks only.

Both fairlearn methods decide at random (a mixture of classifiers, or of two thresholds per group). A
served model must answer a record the same way every time, so the coin is a fixed hash of the record
(see ``ReductionPipeline`` and ``ThresholdedClassifier``): groups get the randomised rule's rates, and a
record always the same decision. Their models decide at 0.5 (``threshold``); the original threshold
belongs to the unmitigated scores.

Any resampling (SMOTE) the original configuration used is not repeated when refitting.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError, SpecError
from aiforge.learn._model import TabularModel, _label_key
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CONSTRAINTS",
    "METHODS",
    "MISSING_GROUP",
    "MitigatedModel",
    "PostProcessedModel",
    "group_edges",
    "group_labels",
    "mitigate",
    "reweighing_weights",
]

METHODS = ("reweighing", "exponentiated_gradient", "threshold_optimizer")
CONSTRAINTS = ("demographic_parity", "equalized_odds", "equal_opportunity")
MISSING_GROUP = "(missing)"
MAX_DISCRETE_GROUPS = 10  # a numeric attribute with more distinct values is cut into quantile bins
QUANTILE_BINS = 4
EG_MAX_ITER = 30  # exponentiated gradient: iterations (each fits the estimator once)
EG_MAX_ROUNDS = 150  # ... boosting rounds (and forest trees) of each of those fits
CROSS_FIT_FOLDS = 3  # threshold optimizer: folds of the cross-fitted training scores

StepCallback = Callable[[str], None]


class MitigatedModel(TabularModel):
    """A ``TabularModel`` made fairer towards ``attribute`` by ``method`` under ``constraint``.

    ``mitigation`` says how (JSON-able): the method's settings, its cost, and what it chose (the
    reweighing table, the reduction's iterations, the post-processor's per-group thresholds).
    """

    def __init__(self, pipeline: Any, task: TaskKind, classes: list[Any], features: Any, learner: str,
                 target: str, threshold: float = 0.5, *, method: str, attribute: str, constraint: str,
                 mitigation: dict[str, Any] | None = None) -> None:
        super().__init__(pipeline, task, classes, features, learner, target, threshold)
        self.method = method
        self.attribute = attribute
        self.constraint = constraint
        self.mitigation = mitigation or {}

    def __repr__(self) -> str:
        return (f"MitigatedModel(learner={self.learner!r}, attribute={self.attribute!r}, "
                f"constraint={self.constraint!r})")


class PostProcessedModel(MitigatedModel):
    """A mitigated model whose decision reads the sensitive attribute: a record must hold it."""

    @property
    def input_columns(self) -> list[str]:
        columns = list(self.features.columns)
        return columns if self.attribute in columns else [*columns, self.attribute]

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.input_columns if c not in X.columns]
        if missing:
            raise DataError(
                f"the model '{self.learner}' needs the column(s) {missing} to predict",
                expected=f"records with the columns {self.input_columns}", found=f"columns {list(X.columns)[:30]}",
                hint=f"{self.method} sets a threshold per group of '{self.attribute}': send the attribute "
                "with every record",
            )
        return X[self.input_columns]


def mitigate(model: TabularModel, X: pd.DataFrame, y: pd.Series, *, method: str, constraint: str = "demographic_parity",
             attribute: str, eps: float = 0.02, seed: int = 0, n_jobs: int = -1,
             on_step: StepCallback | None = None) -> MitigatedModel:
    """``model`` made fairer towards ``attribute``, from the training split ``X`` (every column, the
    attribute included) and its labels ``y``; see the module's docstring for the methods."""
    step = on_step or (lambda _m: None)
    if method not in METHODS:
        raise SpecError(f"unknown fairness mitigation '{method}'", expected=f"one of {', '.join(METHODS)}",
                        found=method, hint="set checks.fairness.mitigation")
    if constraint not in CONSTRAINTS:
        raise SpecError(f"unknown fairness constraint '{constraint}'", expected=f"one of {', '.join(CONSTRAINTS)}",
                        found=constraint, hint="set checks.fairness.constraint")
    if attribute not in X.columns:
        raise DataError(f"sensitive attribute '{attribute}' is not a column of the training data",
                        expected=f"one of {', '.join(map(str, X.columns[:30]))}", found=attribute,
                        hint="set checks.fairness.attribute (or sensitive) to the column holding the attribute")
    if not model.task.is_classification:
        raise DataError(f"fairness mitigation '{method}' needs a classification model",
                        found=f"a {model.task.value} model", hint="set checks.fairness.mitigation: none")
    if method != "reweighing" and model.task is not TaskKind.BINARY:
        raise DataError(f"fairness mitigation '{method}' needs a binary classification model",
                        found=f"a {model.task.value} model with {len(model.classes)} classes",
                        hint="use mitigation: reweighing, which works for any classification task")
    if len(X) != len(y):
        raise DataError("the training inputs and labels differ in length", found=f"{len(X)} rows and {len(y)} labels")
    cores = os.cpu_count() or 1
    threads = cores if n_jobs in (-1, 0) else max(1, min(n_jobs, cores))
    y_enc = model.encode_target(y)
    edges = group_edges(X[attribute])
    groups = group_labels(X[attribute], edges)
    if groups.nunique() < 2:
        raise DataError(f"sensitive attribute '{attribute}' has a single group in the training data",
                        found=f"every row is '{groups.iloc[0]}'", hint="mitigate towards an attribute that varies")
    started = time.perf_counter()
    settings: dict[str, Any] = {"method": method, "attribute": attribute, "edges": edges}
    if method == "reweighing":
        step(f"mitigate: reweighing towards {attribute}, refitting {model.learner}")
        weights, table = reweighing_weights(groups, y_enc, [str(c) for c in model.classes])
        pipeline = _refit_any(model.pipeline, X[model.features.columns], y_enc, weights, threads)
        out: MitigatedModel = MitigatedModel(
            pipeline, model.task, model.classes, model.features, f"{model.learner}+reweighing", model.target,
            model.threshold, method=method, attribute=attribute, constraint="demographic_parity",
            mitigation={**settings, "constraint": "demographic_parity", "weights": table},
        )
    elif method == "exponentiated_gradient":
        out = _exponentiated_gradient(model, X, y_enc, groups, constraint, eps, threads, step, settings)
    else:
        out = _threshold_optimizer(model, X, y_enc, groups, constraint, seed, threads, step, settings)
    out.mitigation["seconds"] = round(time.perf_counter() - started, 3)
    return out


# -- groups -----------------------------------------------------------------------------------------


def group_edges(values: pd.Series) -> list[float] | None:
    """Quantile bin edges for a numeric attribute with many distinct values (None: one group per value)."""
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    known = values.dropna().to_numpy(dtype=float)
    if len(np.unique(known)) <= MAX_DISCRETE_GROUPS:
        return None
    inner = np.unique(np.quantile(known, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]))
    return [float(e) for e in inner]


def group_labels(values: pd.Series, edges: list[float] | None = None) -> pd.Series:
    """Each row's group as text: the value (``1.0`` reads ``1``), its quantile bin when ``edges`` are
    given (``[28, 37)``), or ``(missing)``."""
    import numpy as np
    import pandas as pd

    missing = values.isna().to_numpy()
    if edges is not None:
        bounds = [-np.inf, *edges, np.inf]
        names = [f"[{_short(lo)}, {_short(hi)})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        codes = np.searchsorted(np.asarray(edges, dtype=float), values.to_numpy(dtype=float), side="right")
        text = np.asarray(names, dtype=object)[codes]
    else:
        text = np.array([_label_key(v) for v in values.to_numpy(dtype=object)], dtype=object)
    text[missing] = MISSING_GROUP
    return pd.Series(text, index=values.index, name=values.name, dtype=object)


def _short(x: float) -> str:
    return "-inf" if x == -float("inf") else "inf" if x == float("inf") else f"{x:g}"


def reweighing_weights(groups: pd.Series, y: np.ndarray,
                       class_names: list[str] | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Kamiran & Calders' weights ``P(g) P(y) / P(g, y)`` per row, and the table of them per (group, label)."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"g": groups.to_numpy(dtype=object), "y": np.asarray(y)})
    n = len(frame)
    p_g = frame["g"].value_counts() / n
    p_y = frame["y"].value_counts() / n
    p_gy = frame.groupby(["g", "y"]).size() / n
    table = []
    lookup: dict[tuple[Any, Any], float] = {}
    for (g, label), joint in p_gy.items():
        weight = float(p_g[g] * p_y[label] / joint)
        lookup[(g, label)] = weight
        name = class_names[int(label)] if class_names is not None else str(label)
        table.append({"group": str(g), "label": name, "rows": int(round(joint * n)), "weight": round(weight, 4)})
    weights = np.array([lookup[(g, label)] for g, label in zip(frame["g"], frame["y"], strict=True)])
    return weights, table


# -- refitting a model's pipelines --------------------------------------------------------------------


def _refit_any(pipeline: Any, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None, n_jobs: int) -> Any:
    """The pipeline (or each member of an ensemble) refit on ``X``, ``y`` with sample ``weights``."""
    from aiforge.learn._ensemble import WeightedEnsemble

    if isinstance(pipeline, WeightedEnsemble):
        members = [(_refit_pipeline(p, X, y, weights, n_jobs), w) for p, w in pipeline.members]
        return WeightedEnsemble(members, pipeline.task)
    return _refit_pipeline(pipeline, X, y, weights, n_jobs)


def _parts(pipeline: Any) -> tuple[Any, Any]:
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or [name for name, _ in pipeline.steps] != ["prep", "model"]:
        raise DataError(f"cannot mitigate a model built as {type(pipeline).__name__}",
                        expected="a pipeline of aiforge's encoder and an estimator (prep, model)",
                        hint="retrain the model with this version of aiforge")
    return pipeline.named_steps["prep"], pipeline.named_steps["model"]


def _refit_pipeline(pipeline: Any, X: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None, n_jobs: int) -> Any:
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    prep, fitted = _parts(pipeline)
    prep = clone(prep)
    encoded = prep.fit_transform(X)
    estimator = _WeightedFit(clone(fitted), _categorical_positions(prep, fitted), n_jobs)
    estimator.fit(encoded, y, sample_weight=weights)
    return Pipeline([("prep", prep), ("model", estimator.estimator_)])


def _categorical_positions(prep: Any, estimator: Any) -> list[int]:
    """LightGBM learns native categorical splits only when told which columns are categorical at fit
    time; aiforge's ordinal encoder puts them after the numeric columns (as ``build_preprocessor`` says)."""
    if not type(estimator).__module__.startswith("lightgbm") or getattr(prep, "encoding", None) != "ordinal":
        return []
    start = len(prep.numeric or [])
    return list(range(start, start + len(prep.categorical or [])))


def _supports_weights(estimator: Any) -> bool:
    import inspect

    return "sample_weight" in inspect.signature(estimator.fit).parameters


class _WeightedFit:
    """Fits a clone of ``estimator`` with sample weights (and LightGBM's categorical columns), on
    ``n_jobs`` threads, then restores the estimator's own thread setting for prediction."""

    _estimator_type = "classifier"

    def __init__(self, estimator: Any = None, categorical: list[int] | None = None, n_jobs: int = 1) -> None:
        self.estimator = estimator
        self.categorical = categorical
        self.n_jobs = n_jobs

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"estimator": self.estimator, "categorical": self.categorical, "n_jobs": self.n_jobs}

    def set_params(self, **params: Any) -> _WeightedFit:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _WeightedFit:
        import numpy as np
        from sklearn.base import clone

        estimator = clone(self.estimator)
        if sample_weight is not None and not _supports_weights(estimator):
            raise DataError(f"{type(estimator).__name__} cannot be fitted with sample weights, which fairness "
                            "mitigation needs", hint="mitigate a model of another learner (e.g. lightgbm, linear)")
        own_threads = estimator.get_params().get("n_jobs")  # None: the estimator has no thread setting
        if own_threads is not None:
            estimator.set_params(n_jobs=self.n_jobs)
        kwargs: dict[str, Any] = {}
        if sample_weight is not None:
            kwargs["sample_weight"] = np.asarray(sample_weight, dtype=float)
        if self.categorical:
            kwargs["categorical_feature"] = list(self.categorical)
        estimator.fit(X, np.asarray(y), **kwargs)
        if own_threads is not None:
            estimator.set_params(n_jobs=own_threads)
        self.estimator_ = estimator
        self.classes_ = getattr(estimator, "classes_", None)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(X)


# -- exponentiated gradient --------------------------------------------------------------------------


def _uniform(keys: pd.DataFrame) -> np.ndarray:
    """A number in [0, 1) per row, a fixed hash of the row's values: the 'coin' of a randomised decision,
    thrown once per distinct record (the same record always gets the same decision)."""
    import numpy as np
    import pandas as pd

    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64)
    return (hashed >> np.uint64(11)).astype(float) / float(2**53)


def _positive(estimator: Any, X: Any) -> np.ndarray:
    """An estimator's probability of class 1 (a constant one fitted on a single class included)."""
    import numpy as np

    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if proba.shape[1] == 1:
        return np.full(len(proba), float(list(estimator.classes_)[0] == 1))
    return proba[:, 1]


class ReductionPipeline:
    """The model's fitted encoder, then the classifiers that exponentiated gradient mixed, with their weights.

    The reduction's classifier is randomised: each decision is taken by one of ``predictors``, drawn with
    probability ``weights``. Here the draw is fixed per record by a hash of its encoded inputs, so the same
    record always gets the same answer while groups get the mixture's rates; ``predict_proba`` is the
    drawn classifier's probability (so that ranking metrics stay meaningful and the decision at 0.5 is
    the drawn classifier's). ``mixture_pmf`` is fairlearn's ``_pmf_predict``: the probability that the
    randomised classifier says yes.
    """

    def __init__(self, prep: Any, predictors: list[Any], weights: list[float]) -> None:
        self.prep = prep
        self.predictors = predictors
        self.weights = weights

    def fit(self, X: Any, y: Any) -> ReductionPipeline:
        raise TypeError("a ReductionPipeline wraps fitted classifiers; it is not fitted itself")

    def _draw(self, encoded: np.ndarray) -> np.ndarray:
        import numpy as np
        import pandas as pd

        cumulative = np.cumsum(np.asarray(self.weights, dtype=float))
        u = _uniform(pd.DataFrame(encoded)) * cumulative[-1]
        return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        encoded = np.asarray(self.prep.transform(X), dtype=float)
        drawn = self._draw(encoded)
        positive = np.zeros(len(encoded))
        for t in np.unique(drawn):
            rows = drawn == t
            positive[rows] = _positive(self.predictors[t], encoded[rows])
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def mixture_pmf(self, X: pd.DataFrame) -> np.ndarray:
        """The randomised classifier's probability of a positive decision per row."""
        import numpy as np

        encoded = np.asarray(self.prep.transform(X), dtype=float)
        total = sum(w * (np.asarray(h.predict(encoded)) == 1)
                    for h, w in zip(self.predictors, self.weights, strict=True))
        return np.asarray(total, dtype=float) / float(sum(self.weights))


def _moment(constraint: str, eps: float | None) -> Any:
    from fairlearn.reductions import DemographicParity, EqualizedOdds, TruePositiveRateParity

    cls = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
           "equal_opportunity": TruePositiveRateParity}[constraint]
    return cls() if eps is None else cls(difference_bound=eps)


def _best_pipeline(pipeline: Any) -> Any:
    """The pipeline itself, or an ensemble's heaviest member."""
    from aiforge.learn._ensemble import WeightedEnsemble

    if isinstance(pipeline, WeightedEnsemble):
        return max(pipeline.members, key=lambda m: m[1])[0]
    return pipeline


def _exponentiated_gradient(model: TabularModel, X: pd.DataFrame, y: np.ndarray, groups: pd.Series,
                            constraint: str, eps: float, threads: int, step: StepCallback,
                            settings: dict[str, Any]) -> MitigatedModel:
    from fairlearn.reductions import ExponentiatedGradient
    from sklearn.base import clone

    prep, fitted = _parts(_best_pipeline(model.pipeline))
    estimator = clone(fitted)
    capped = {}
    for size in ("n_estimators", "max_iter"):  # boosting rounds, trees, or histogram-boosting iterations
        value = estimator.get_params().get(size)
        if isinstance(value, int) and value > EG_MAX_ROUNDS and not _is_linear(estimator):
            estimator.set_params(**{size: EG_MAX_ROUNDS})
            capped[size] = {"from": value, "to": EG_MAX_ROUNDS}
    if not _supports_weights(estimator):
        raise DataError(f"{type(estimator).__name__} cannot be fitted with sample weights, which "
                        "exponentiated_gradient needs", hint="use mitigation: threshold_optimizer, or another learner")
    encoded = prep.transform(X[model.features.columns])
    base = _WeightedFit(estimator, _categorical_positions(prep, fitted), threads)
    step(f"mitigate: exponentiated gradient ({constraint}, eps {eps:g}) over {type(fitted).__name__}, "
         f"at most {EG_MAX_ITER} fits")
    reduction = ExponentiatedGradient(base, _moment(constraint, eps), eps=eps, max_iter=EG_MAX_ITER)
    with _quiet_pandas():
        reduction.fit(encoded, y, sensitive_features=groups.to_numpy(dtype=object))
    used = [int(t) for t in reduction.weights_.index if reduction.weights_[t] > 0]
    pipeline = ReductionPipeline(prep, [reduction.predictors_[t] for t in used],
                                 [float(reduction.weights_[t]) for t in used])
    info = {**settings, "constraint": constraint, "eps": eps, "estimator": type(fitted).__name__,
            "iterations": int(reduction.last_iter_) + 1, "max_iter": EG_MAX_ITER,
            "best_gap": float(reduction.best_gap_), "predictors": len(reduction.predictors_),
            "predictors_used": len(used), "weights": [round(w, 4) for w in pipeline.weights], "capped": capped,
            "decision": "each record is decided by one of the mixed classifiers, drawn by a hash of its inputs"}
    # over an ensemble, the reduction wraps its heaviest member only: the name says which estimator it was
    member = _best_pipeline(model.pipeline) is not model.pipeline
    learner = f"{model.learner}:{type(fitted).__name__}" if member else model.learner
    learner += "+exponentiated_gradient"
    return MitigatedModel(pipeline, model.task, model.classes, model.features, learner, model.target, 0.5,
                          method="exponentiated_gradient", attribute=str(settings["attribute"]),
                          constraint=constraint, mitigation=info)


@contextmanager
def _quiet_pandas() -> Iterator[None]:
    """fairlearn 0.15 sets values through ``Series.at`` with new keys, which pandas 3 deprecates
    (Pandas4Warning); that notice is fairlearn's to act on, not the user's."""
    import pandas as pd

    with warnings.catch_warnings():
        category = getattr(pd.errors, "Pandas4Warning", None)
        if category is not None:
            warnings.filterwarnings("ignore", category=category)
        yield


def _is_linear(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("sklearn.linear_model")


# -- threshold optimizer -----------------------------------------------------------------------------


class ThresholdedClassifier:
    """The unmitigated pipeline's score ``s``, decided by the post-processor's per-group rule.

    ``rules`` are fairlearn's per-group interpolation rules (``p0``/``operation0``, ``p1``/``operation1``,
    and for equalized odds ``p_ignore``/``prediction_constant``), applied as fairlearn's
    ``InterpolatedThresholder._pmf_predict`` does (``positive``: the probability ``q`` that the randomised
    rule says yes); keeping only them keeps the saved model free of the fitting data. The randomised rule
    is made deterministic per record: the decision ``d`` is ``u < q`` with ``u`` a fixed hash of the score
    and the group, so that groups get the rule's rates and a record always the same answer. The output is
    ``(d + s) / 2``: at least 0.5 exactly when the decision is yes, and ordered by the model's score within
    each decision (ranking metrics stay meaningful; it is not a calibrated probability).

    Input: a frame with the model's features and the attribute. Rows of a group the post-processor never
    saw get the unmitigated decision at ``fallback_threshold``.
    """

    def __init__(self, pipeline: Any, rules: dict[str, Any], columns: list[str], attribute: str,
                 edges: list[float] | None, fallback_threshold: float) -> None:
        self.pipeline = pipeline
        self.rules = rules
        self.columns = columns
        self.attribute = attribute
        self.edges = edges
        self.fallback_threshold = fallback_threshold

    def fit(self, X: Any, y: Any) -> ThresholdedClassifier:
        raise TypeError("a ThresholdedClassifier wraps a fitted post-processor; it is not fitted itself")

    def positive(self, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Probability of a positive decision per row, from the score and the group."""

        out = (score >= self.fallback_threshold).astype(float)
        for group, rule in self.rules.items():
            rows = groups == group
            if rows.any():
                out[rows] = _apply_rule(rule, score[rows])
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        score = np.asarray(self.pipeline.predict_proba(X[self.columns]), dtype=float)[:, 1]
        groups = group_labels(X[self.attribute], self.edges).to_numpy(dtype=object)
        decision = self.decide(score, groups)
        output = (decision + np.clip(score, 1e-9, 1.0 - 1e-9)) / 2.0  # strictly above 0.5 for yes, below for no
        return np.column_stack([1.0 - output, output])

    def decide(self, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """The deterministic decision per row (1.0 yes, 0.0 no)."""
        import pandas as pd

        q = self.positive(score, groups)
        u = _uniform(pd.DataFrame({"score": score, "group": groups}))
        return (u < q).astype(float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _apply_rule(rule: Any, score: np.ndarray) -> np.ndarray:
    import numpy as np

    out = rule["p0"] * rule["operation0"](score) + rule["p1"] * rule["operation1"](score)
    if "p_ignore" in rule:
        out = rule["p_ignore"] * rule["prediction_constant"] + (1 - rule["p_ignore"]) * out
    return np.asarray(out, dtype=float)


def _cross_fitted_scores(model: TabularModel, X: pd.DataFrame, y: np.ndarray, seed: int, threads: int,
                         step: StepCallback) -> np.ndarray:
    """Each training row's positive-class score from a copy of the model fitted without it."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    frame = X[model.features.columns]
    scores = np.zeros(len(frame))
    folds = StratifiedKFold(CROSS_FIT_FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    for i, (train, held) in enumerate(folds):
        step(f"mitigate: cross-fitting {model.learner}, fold {i + 1} of {CROSS_FIT_FOLDS}")
        fold = _refit_any(model.pipeline, frame.iloc[train], y[train], None, threads)
        scores[held] = np.asarray(fold.predict_proba(frame.iloc[held]), dtype=float)[:, 1]
    return scores


def _score_estimator() -> Any:
    """A fitted 'classifier' whose input is already its positive-class score (the column ``score``),
    so that fairlearn's ThresholdOptimizer can be fitted on cross-fitted scores."""
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    class ScoreColumn(ClassifierMixin, BaseEstimator):
        def fit(self, X: Any, y: Any) -> Any:
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X: Any) -> np.ndarray:
            score = np.asarray(X, dtype=float)[:, 0]
            return np.column_stack([1.0 - score, score])

    return ScoreColumn().fit(None, None)


def _threshold_optimizer(model: TabularModel, X: pd.DataFrame, y: np.ndarray, groups: pd.Series, constraint: str,
                         seed: int, threads: int, step: StepCallback, settings: dict[str, Any]) -> MitigatedModel:
    import numpy as np
    import pandas as pd
    from fairlearn.postprocessing import ThresholdOptimizer

    scores = _cross_fitted_scores(model, X, y, seed, threads, step)
    step(f"mitigate: per-group thresholds for {constraint} on the cross-fitted scores")
    fairlearn_constraint = {"demographic_parity": "demographic_parity", "equalized_odds": "equalized_odds",
                            "equal_opportunity": "true_positive_rate_parity"}[constraint]
    postprocessor = ThresholdOptimizer(estimator=_score_estimator(), constraints=fairlearn_constraint,
                                       objective="accuracy_score", prefit=True, predict_method="predict_proba")
    frame = pd.DataFrame({"score": scores})
    group_values = groups.to_numpy(dtype=object)
    with _quiet_pandas():
        postprocessor.fit(frame, y, sensitive_features=group_values)
        expected = np.asarray(postprocessor._pmf_predict(frame, sensitive_features=group_values), dtype=float)[:, 1]
    rules = {str(g): r for g, r in postprocessor.interpolated_thresholder_.interpolation_dict.items()}
    attribute = str(settings["attribute"])
    classifier = ThresholdedClassifier(model.pipeline, rules, list(model.features.columns), attribute,
                                       settings["edges"], model.threshold)
    if not np.allclose(classifier.positive(scores, group_values), expected):  # fairlearn changed its rules' form
        raise RuntimeError("the per-group rules read from fairlearn's ThresholdOptimizer do not reproduce its "
                           "decisions; this fairlearn version is not supported for threshold_optimizer")
    info = {**settings, "constraint": constraint, "fitted_on": f"{CROSS_FIT_FOLDS}-fold cross-fitted scores",
            "thresholds": _thresholds(rules), "unseen_groups": "unmitigated decision"}
    return PostProcessedModel(classifier, model.task, model.classes, model.features,
                              f"{model.learner}+threshold_optimizer", model.target, 0.5,
                              method="threshold_optimizer", attribute=attribute, constraint=constraint,
                              mitigation=info)


def _thresholds(rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Per group: the two threshold rules the randomised decision mixes, and their weights."""
    rows = []
    for group, rule in rules.items():
        row: dict[str, Any] = {"group": group}
        for k in ("0", "1"):
            operation = rule[f"operation{k}"]
            row[f"p{k}"] = round(float(rule[f"p{k}"]), 4)
            row[f"rule{k}"] = f"score {operation.operator} {float(operation.threshold):.4f}"
        if "p_ignore" in rule:
            row["p_ignore"] = round(float(rule["p_ignore"]), 4)
            row["constant"] = float(rule["prediction_constant"])
        rows.append(row)
    return rows
