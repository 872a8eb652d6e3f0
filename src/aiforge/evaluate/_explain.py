"""Explanations: what each input column added to one prediction, and which columns matter overall.

``explain_rows`` is the one function that the ``explain`` check, the HTTP endpoint and the CLI call.
It returns per-row contributions of the *raw input columns* (an encoder's one-hot outputs are summed
back to the column they come from) with ``base + sum(contributions) == output`` in a stated space:

- tree ensembles are explained exactly (TreeSHAP): LightGBM's and XGBoost's own ``pred_contrib``,
  scikit-learn forests and histogram boosting through ``shap.TreeExplainer`` (the optional ``explain``
  extra). Boosting explains the margin (log-odds of the positive class, binary; the class's raw softmax
  score, multiclass), forests the probability. The sum is checked against the model's own output and
  the explainer is not used when it disagrees (e.g. a split kind the explainer does not know).
- every other model (linear, k-NN, ensembles, fairness-mitigated models) gets an interventional
  sampling-SHAP estimate in probability space: for a few random orderings of the columns (antithetic
  pairs), each against one background row, the columns are switched from the background row's value to
  the explained row's one at a time and each switch is credited with the change of output. The
  credits of one ordering add up to f(row) - f(background row), so additivity holds exactly, whatever
  the number of orderings; only the split between columns is an estimate.

For classification the class explained is the positive class (binary) or the predicted class
(multiclass); for regression the predicted value.
"""

from __future__ import annotations

import importlib.util
import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check
from aiforge.spec import ExplainCheck, ImportanceCheck, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from aiforge.learn import TabularModel

__all__ = ["METHODS", "SPACES", "Explanation", "explain_rows"]

METHODS = ("auto", "tree", "sampling")  # auto: tree where the model has an exact explainer, else sampling
SPACES = {
    "log_odds": "log-odds of {cls}",
    "raw_score": "raw score (softmax input) of {cls}",
    "probability": "probability of {cls}",
    "value": "predicted value",
}
ADDITIVITY_TOLERANCE = 1e-4  # a tree explainer whose sum misses the model's output by more is not used
EVALUATIONS_PER_CHUNK = 60_000  # sampling: model evaluations per call (bounds the frame's memory)
FIRST_CHUNK_ROWS = 32  # the global summary times this many rows first, then takes what the budget affords
TOP_CONTRIBUTIONS = 10  # per local row in the check's details
BEESWARM_FEATURES = 10
BEESWARM_POINTS = 200


@dataclass(frozen=True, eq=False)
class Explanation:
    """Per row ``base + contributions.sum() == output`` in ``space`` (see ``SPACES``).

    ``contributions`` has one column per raw input column of ``features``; ``values`` holds the
    inputs as shown (numbers, text, or ``None`` for missing); ``explained`` names the class whose
    output is explained, per row (empty for regression). ``method`` says which explainer ran, and
    ``note`` why a faster exact one did not.
    """

    features: list[str]
    values: list[list[Any]]
    contributions: np.ndarray  # (rows, features)
    base: np.ndarray  # (rows,)
    output: np.ndarray  # (rows,)
    space: str
    method: str
    explained: list[str]
    seconds: float = 0.0
    note: str = ""

    def __len__(self) -> int:
        return len(self.output)

    def space_text(self, row: int = 0) -> str:
        cls = repr(self.explained[row]) if self.explained else ""
        return SPACES[self.space].format(cls=cls)

    def additivity_error(self) -> float:
        """The largest |base + sum(contributions) - output| over the rows (0 up to rounding)."""
        import numpy as np

        if not len(self):
            return 0.0
        return float(np.max(np.abs(self.base + self.contributions.sum(axis=1) - self.output)))

    def row(self, i: int, top: int | None = None) -> dict[str, Any]:
        """One row: its contributions sorted by size, the largest ``top`` of them and the rest summed."""
        order = sorted(range(len(self.features)), key=lambda j: (-abs(float(self.contributions[i, j])), j))
        shown = order if top is None else order[:top]
        rest = [j for j in order if j not in set(shown)]
        data: dict[str, Any] = {
            "base": float(self.base[i]),
            "output": float(self.output[i]),
            "space": self.space_text(i),
            "contributions": [
                {"feature": self.features[j], "value": self.values[i][j],
                 "contribution": float(self.contributions[i, j])}
                for j in shown
            ],
        }
        if self.explained:
            data["explained"] = self.explained[i]
        if rest:
            data["other"] = {"features": len(rest), "contribution": float(sum(self.contributions[i, j] for j in rest))}
        return data

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        return {
            "method": self.method,
            "space": self.space,
            "features": list(self.features),
            "seconds": round(self.seconds, 6),
            "note": self.note,
            "rows": [self.row(i, top) for i in range(len(self))],
        }


def explain_rows(model: TabularModel, X: pd.DataFrame, *, background: pd.DataFrame | None = None,
                 method: str = "auto", permutations: int = 32, seed: int = 0) -> Explanation:
    """Contributions of each raw input column to the model's output for each row of ``X``.

    ``background`` (rows of the training split) stands for "column unknown" in the model-agnostic
    estimate, which needs it; the tree explainers do not. ``method``: ``auto`` (exact tree SHAP where
    the model has it, else sampling), ``tree`` (exact or an error) or ``sampling``. ``permutations``
    orderings are sampled per row by the sampling estimate; ``seed`` fixes them.
    """
    import pandas as pd

    if method not in METHODS:
        raise ValueError(f"The 'method' parameter of explain_rows must be one of {', '.join(METHODS)}. "
                         f"Got {method!r} instead.")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"explain_rows needs the rows as a pandas DataFrame, got {type(X).__name__}")
    columns = _input_columns(model)
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ValueError(f"the rows to explain lack the model's input column(s) {missing}; "
                         f"pass records with every column the model was trained on: {columns}")
    if len(X) == 0:
        raise ValueError("there are no rows to explain: pass at least one record")
    if permutations < 2:
        raise ValueError(f"The 'permutations' parameter of explain_rows must be at least 2. Got {permutations}.")
    started = time.perf_counter()
    note = ""
    if method in ("auto", "tree"):
        kind, why = _tree_kind(model)
        if kind is None and method == "tree":
            raise ValueError(f"no exact tree explainer for learner '{model.learner}': {why}; "
                             "use method='auto' or 'sampling' (with background rows)")
        if kind is not None:
            try:
                found = _tree(model, X, kind)
            except Exception as exc:  # an explainer that cannot read this model: say so, and estimate instead
                if method == "tree":
                    raise
                note = f"the {kind} tree explainer was not used ({type(exc).__name__}: {exc})"
            else:
                return _finish(found, started, note)
        else:
            note = why
    if background is None:
        raise ValueError(f"explaining a '{model.learner}' model by sampling needs background rows: pass "
                         "background= (a sample of the training split, e.g. 50 rows)")
    absent = [c for c in columns if c not in background.columns]
    if absent or len(background) == 0:
        raise ValueError(f"the background rows must be non-empty and hold every input column; missing {absent}")
    return _finish(_sampling(model, X, background, permutations, seed), started, note)


def _finish(exp: Explanation, started: float, note: str) -> Explanation:
    return Explanation(exp.features, exp.values, exp.contributions, exp.base, exp.output, exp.space, exp.method,
                       exp.explained, time.perf_counter() - started, note or exp.note)


def _input_columns(model: TabularModel) -> list[str]:
    return list(getattr(model, "input_columns", model.features.columns))


def _shown(value: Any) -> Any:
    """An input value as an explanation shows it: a number, text, or None when missing."""
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(bool(value))
    if isinstance(value, int | float) or type(value).__module__ == "numpy":
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):  # an integer beyond float range stays as written
            return str(value)
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return str(value)


def _values(X: pd.DataFrame, columns: list[str]) -> list[list[Any]]:
    frame = X[columns]
    return [[_shown(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def _class_columns(model: TabularModel, proba: np.ndarray) -> np.ndarray:
    """The class explained per row: the positive class (binary), the predicted class (multiclass)."""
    import numpy as np

    if model.task is TaskKind.BINARY:
        return np.ones(len(proba), dtype=int)
    return np.asarray(proba.argmax(axis=1), dtype=int)


# -- exact tree SHAP -------------------------------------------------------------------------------


def _tree_kind(model: TabularModel) -> tuple[str | None, str]:
    """Which exact explainer reads the model (``lightgbm``, ``xgboost``, ``shap``), or None and why not."""
    from sklearn import ensemble
    from sklearn.pipeline import Pipeline

    from aiforge.learn import TabularModel
    from aiforge.learn._encode import TabularEncoder

    pipe = model.pipeline
    if not isinstance(pipe, Pipeline) or [n for n, _ in pipe.steps] != ["prep", "model"]:
        return None, f"'{model.learner}' is not a single tree model (no exact explainer)"
    if not isinstance(pipe.named_steps["prep"], TabularEncoder):
        return None, "its input encoder is not aiforge's TabularEncoder"
    overrides = [m for m in ("raw_output", "predict_proba", "_frame") if
                 getattr(type(model), m, None) is not getattr(TabularModel, m)]
    if overrides or _input_columns(model) != list(model.features.columns):
        return None, "its output is not the tree model's alone (e.g. fairness mitigation)"
    estimator = pipe.named_steps["model"]
    module = type(estimator).__module__
    if module.startswith("lightgbm"):
        return "lightgbm", ""
    if module.startswith("xgboost"):
        return "xgboost", ""
    sklearn_trees = (ensemble.RandomForestClassifier, ensemble.RandomForestRegressor, ensemble.ExtraTreesClassifier,
                     ensemble.ExtraTreesRegressor, ensemble.HistGradientBoostingClassifier,
                     ensemble.HistGradientBoostingRegressor)
    categorical = getattr(estimator, "is_categorical_", None)
    if categorical is not None and bool(categorical.any()):
        return None, "shap's TreeExplainer does not read histogram boosting's native categorical splits"
    if isinstance(estimator, sklearn_trees):
        if importlib.util.find_spec("shap") is None:
            return None, "shap is not installed (pip install 'aiforge[explain]' for exact tree SHAP)"
        return "shap", ""
    return None, f"'{type(estimator).__name__}' has no exact explainer"


def _import_shap() -> Any:
    # shap's import pulls in matplotlib and numba, whose deprecation notices are not ours to act on
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        import shap
    return shap


def _tree(model: TabularModel, X: pd.DataFrame, kind: str) -> Explanation:
    """Exact TreeSHAP on the encoded inputs, summed back per raw column, checked against the model."""
    import numpy as np

    prep, estimator = model.pipeline.named_steps["prep"], model.pipeline.named_steps["model"]
    columns = list(model.features.columns)
    encoded = prep.transform(X[columns])
    if kind == "lightgbm":
        contrib, base, space = _lightgbm(estimator, encoded)
        method = "lightgbm TreeSHAP (pred_contrib)"
    elif kind == "xgboost":
        contrib, base, space = _xgboost(estimator, encoded)
        method = "xgboost TreeSHAP (pred_contribs)"
    else:
        contrib, base, space = _shap_tree(estimator, encoded, model.task)
        method = "shap TreeExplainer (path-dependent TreeSHAP)"
    # contrib: (rows, outputs, encoded columns); base: (rows, outputs)
    outputs = base + contrib.sum(axis=2)
    expected = model.raw_output(X)
    _verify(outputs, expected, space, model.task)
    if model.task is TaskKind.REGRESSION:
        pick = np.zeros(len(X), dtype=int)
        explained: list[str] = []
    else:
        classes = _class_columns(model, expected)
        pick = np.zeros(len(X), dtype=int) if outputs.shape[1] == 1 else classes
        explained = [str(model.classes[c]) for c in classes]
    rows = np.arange(len(X))
    grouping = _grouping(prep.output_sources(), columns)
    return Explanation(
        features=columns, values=_values(X, columns), contributions=contrib[rows, pick] @ grouping,
        base=base[rows, pick], output=outputs[rows, pick], space=space, method=method, explained=explained,
    )


def _grouping(sources: list[str], columns: list[str]) -> np.ndarray:
    """(encoded columns, raw columns) 0/1 matrix: encoded contributions @ it sum back per raw column."""
    import numpy as np

    position = {c: j for j, c in enumerate(columns)}
    matrix = np.zeros((len(sources), len(columns)))
    for i, source in enumerate(sources):
        matrix[i, position[source]] = 1.0
    return matrix


def _split_contrib(raw: np.ndarray, rows: int, encoded_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, outputs * (columns + 1)) with the bias last per output -> (rows, outputs, columns), (rows, outputs)."""
    import numpy as np

    cube = np.asarray(raw, dtype=float).reshape(rows, -1, encoded_columns + 1)
    return cube[:, :, :-1], cube[:, :, -1]


def _lightgbm(estimator: Any, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    contrib, base = _split_contrib(estimator.predict(encoded, pred_contrib=True), len(encoded), encoded.shape[1])
    return contrib, base, _margin_space(contrib.shape[1], estimator)


def _xgboost(estimator: Any, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    import xgboost

    booster = estimator.get_booster()
    kwargs: dict[str, Any] = {}
    try:  # a booster that stopped early predicts with its best round; explain that one too
        kwargs["iteration_range"] = (0, int(estimator.best_iteration) + 1)
    except AttributeError:
        pass
    raw = booster.predict(xgboost.DMatrix(encoded), pred_contribs=True, **kwargs)
    contrib, base = _split_contrib(raw, len(encoded), encoded.shape[1])
    return contrib, base, _margin_space(contrib.shape[1], estimator)


def _margin_space(outputs: int, estimator: Any) -> str:
    if not hasattr(estimator, "classes_"):
        return "value"
    return "log_odds" if outputs == 1 else "raw_score"


def _shap_tree(estimator: Any, encoded: np.ndarray, task: TaskKind) -> tuple[np.ndarray, np.ndarray, str]:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    shap = _import_shap()
    explainer = shap.TreeExplainer(estimator)
    values = explainer.shap_values(encoded, check_additivity=False)
    if isinstance(values, list):  # older shap: one array per output
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, :, None]
    contrib = np.transpose(values, (0, 2, 1))  # (rows, outputs, columns)
    base = np.broadcast_to(np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)),
                           (len(encoded), contrib.shape[1])).copy()
    if task is TaskKind.REGRESSION:
        space = "value"
    elif isinstance(estimator, HistGradientBoostingClassifier):
        space = "log_odds" if contrib.shape[1] == 1 else "raw_score"
    else:
        space = "probability"  # a forest averages its trees' class probabilities
    return contrib, base, space


def _verify(outputs: np.ndarray, expected: np.ndarray, space: str, task: TaskKind) -> None:
    """Raise when the explained outputs, mapped to probabilities (or values), miss the model's own."""
    import numpy as np

    if space == "log_odds":
        mapped = 1.0 / (1.0 + np.exp(-outputs[:, 0]))
        target = expected[:, 1]
    elif space == "raw_score":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        mapped, target = shifted / shifted.sum(axis=1, keepdims=True), expected
    elif space == "probability":
        mapped, target = outputs, expected
    else:
        mapped, target = outputs[:, 0], np.asarray(expected, dtype=float)
    if mapped.shape != target.shape:
        raise ValueError(f"the explainer gave {mapped.shape} outputs, the model {target.shape}")
    scale = 1.0 if task.is_classification else 1.0 + np.abs(target)
    gap = float(np.max(np.abs(mapped - target) / scale))
    if gap > ADDITIVITY_TOLERANCE:
        raise ValueError(f"its contributions add up to outputs {gap:.2g} away from the model's")


# -- model-agnostic sampling SHAP ------------------------------------------------------------------


def _sampling(model: TabularModel, X: pd.DataFrame, background: pd.DataFrame, permutations: int,
              seed: int) -> Explanation:
    """Interventional permutation-sampling SHAP in probability (or value) space; exact additivity."""
    import numpy as np
    import pandas as pd

    columns = _input_columns(model)
    n, d, s = len(X), len(columns), permutations
    rng = np.random.default_rng(seed)
    pool = pd.concat([X[columns], background[columns]], ignore_index=True)
    arrays = [pool[c].to_numpy() for c in columns]
    drawn = rng.permutation(len(background))
    partners = n + drawn[np.arange(s) % len(background)]  # one background row per ordering, the same for every row
    proba = model.raw_output(X)
    classes = None if model.task is TaskKind.REGRESSION else _class_columns(model, proba)
    contributions = np.zeros((n, d))
    base = np.zeros(n)
    output = np.zeros(n)
    steps = np.arange(d + 1)[None, None, :, None]
    chunk = max(1, EVALUATIONS_PER_CHUNK // (s * (d + 1)))
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        orders = _orderings(rng, len(rows), s, d)  # (rows, s, d): column switched at each step
        ranks = np.argsort(orders, axis=2)  # step at which each column is switched
        switched = ranks[:, :, None, :] < steps  # (rows, s, d + 1, d): after k steps, columns ranked < k
        index = np.where(switched, rows[:, None, None, None], partners[None, :, None, None]).reshape(-1, d)
        frame = pd.DataFrame({c: arrays[j][index[:, j]] for j, c in enumerate(columns)})
        out = np.asarray(model.raw_output(frame), dtype=float)
        if classes is not None:
            out = out.reshape(len(rows), s * (d + 1), -1)[np.arange(len(rows)), :, classes[rows]]
        out = out.reshape(len(rows), s, d + 1)
        credits = np.zeros((len(rows), s, d))
        np.put_along_axis(credits, orders, np.diff(out, axis=2), axis=2)
        contributions[rows] = credits.mean(axis=1)
        base[rows] = out[:, :, 0].mean(axis=1)
        output[rows] = out[:, 0, d]
    if classes is None:
        space, explained = "value", []
    else:
        space, explained = "probability", [str(model.classes[c]) for c in classes]
    method = (f"sampling SHAP (interventional; {s} column orderings per row, antithetic, against "
              f"{min(s, len(background))} background rows)")
    return Explanation(columns, _values(X, columns), contributions, base, output, space, method, explained)


def _orderings(rng: np.random.Generator, rows: int, samples: int, d: int) -> np.ndarray:
    """Random column orderings, each followed by its reverse (antithetic pairs halve the variance)."""
    import numpy as np

    half = (samples + 1) // 2
    forward = np.argsort(rng.random((rows, half, d)), axis=2)
    order = np.empty((rows, 2 * half, d), dtype=forward.dtype)
    order[:, 0::2], order[:, 1::2] = forward, forward[:, :, ::-1]
    return order[:, :samples]


def _concat(parts: list[Explanation]) -> Explanation:
    import numpy as np

    first = parts[0]
    return Explanation(
        first.features, [v for p in parts for v in p.values], np.vstack([p.contributions for p in parts]),
        np.concatenate([p.base for p in parts]), np.concatenate([p.output for p in parts]), first.space,
        first.method, [c for p in parts for c in p.explained], sum(p.seconds for p in parts), first.note,
    )


# -- the check -------------------------------------------------------------------------------------

EXPLAIN_MS = CheckMetric(
    "explain_ms_per_row", "explain", higher_is_better=False, timed=True,
    description="milliseconds to explain one record, as POST /v1/models/{name}/explain does",
    hint="choose a tree learner (lightgbm, xgboost) for exact and fast explanations, or lower "
    "checks.explain.permutations (a coarser model-agnostic estimate)",
)


@check("explain", [EXPLAIN_MS])
def explain_check(ctx: CheckContext) -> CheckResult:
    """Global importance (mean |SHAP| per input column, or permutation importance) and a few local
    explanations of chosen test rows: the most confident of each side and borderline ones."""
    import numpy as np

    cfg: ExplainCheck = ctx.checks.explain
    model = ctx.model
    rng = np.random.default_rng(ctx.seed)
    test, train = ctx.test, ctx.train
    take = np.sort(rng.choice(len(test), size=min(len(test), cfg.max_rows), replace=False))
    X = test.iloc[take]
    background = train.iloc[np.sort(rng.choice(len(train), size=min(len(train), cfg.background_rows),
                                                replace=False))]
    kind, why = _tree_kind(model)
    details: dict[str, Any] = {}
    if cfg.method == "shap" or (cfg.method == "auto" and kind is not None):
        exp = _within_budget(model, X, background, cfg, ctx.seed)
        details.update(_global_shap(exp, X))
        summary = (f"global: mean |contribution| over {len(exp)} test rows ({exp.method}, "
                   f"{exp.space_text() if exp.space != 'raw_score' else 'raw class scores'})")
        space, method = exp.space, exp.method
        if exp.note:
            details["note"] = exp.note
    else:
        from aiforge.evaluate._evaluation import _permutation_importance

        importance = ImportanceCheck(repeats=ctx.checks.importance.repeats,
                                     max_rows=max(50, min(cfg.max_rows, ctx.checks.importance.max_rows)))
        ranked = _permutation_importance(model, test, ctx.y_test(), ctx.primary, importance, ctx.seed)
        details["global_kind"] = "permutation"
        details["global"] = [{"feature": r["feature"], "importance": r["mean"], "std": r["std"]} for r in ranked]
        details["global_metric"] = ctx.primary.name
        summary = (f"global: drop in {ctx.primary.name} when a column is shuffled ({importance.repeats} repeats, "
                   f"{min(len(test), importance.max_rows)} test rows)" + (f"; {why}" if why else ""))
        space = method = ""
    local, timings = _local(model, X, ctx, background, cfg)
    details["local"] = local
    if local:
        space = space or local[0]["space_key"]
        method = method or local[0]["method"]
        for row in local:
            row.pop("space_key")
            row.pop("method")
    details["space"] = space
    details["method"] = method
    metrics = {EXPLAIN_MS.name: float(np.median(timings)) * 1000.0} if timings else {}
    local_text = f"; local: {len(local)} test rows by {method}" if local else ""
    return CheckResult("explain", "ok", metrics=metrics, details=details, method=summary + local_text)


def _within_budget(model: TabularModel, X: pd.DataFrame, background: pd.DataFrame, cfg: ExplainCheck,
                   seed: int) -> Explanation:
    """Explain rows of ``X`` in chunks until they are all done or ``cfg.budget_seconds`` is spent."""
    parts: list[Explanation] = []
    started = time.perf_counter()
    done, step = 0, min(len(X), FIRST_CHUNK_ROWS)
    while step > 0:
        parts.append(explain_rows(model, X.iloc[done:done + step], background=background,
                                  permutations=cfg.permutations, seed=seed + done))
        done += step
        spent = time.perf_counter() - started
        affordable = int((cfg.budget_seconds - spent) / (spent / done)) if spent > 0 else len(X)
        step = max(0, min(len(X) - done, affordable))
    return _concat(parts)


def _global_shap(exp: Explanation, X: pd.DataFrame) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    mean_abs = np.abs(exp.contributions).mean(axis=0)
    total = float(mean_abs.sum()) or 1.0
    mean = exp.contributions.mean(axis=0)
    order = sorted(range(len(exp.features)), key=lambda j: (-float(mean_abs[j]), j))
    rows = [{"feature": exp.features[j], "mean_abs": round(float(mean_abs[j]), 6), "mean": round(float(mean[j]), 6),
             "share": round(float(mean_abs[j]) / total, 4)} for j in order]
    shown = X.iloc[: len(exp)]
    points = np.linspace(0, len(exp) - 1, min(len(exp), BEESWARM_POINTS)).astype(int)
    beeswarm = []
    for j in order[:BEESWARM_FEATURES]:
        column = shown[exp.features[j]]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        ranks = column.rank(pct=True).to_numpy() if numeric else None
        beeswarm.append({
            "feature": exp.features[j],
            "numeric": bool(numeric),
            "points": [[None if ranks is None or math.isnan(ranks[i]) else round(float(ranks[i]), 3),
                        round(float(exp.contributions[i, j]), 5)] for i in points],
        })
    return {
        "global_kind": "shap",
        "global": rows,
        "rows_explained": len(exp),
        "base": round(float(np.mean(exp.base)), 6),
        "additivity_error": exp.additivity_error(),
        "global_seconds": round(exp.seconds, 3),
        "beeswarm": beeswarm,
    }


def _local(model: TabularModel, X: pd.DataFrame, ctx: CheckContext, background: pd.DataFrame,
           cfg: ExplainCheck) -> tuple[list[dict[str, Any]], list[float]]:
    """The chosen rows explained one at a time (as the endpoint would), with their top contributions."""
    if cfg.local_rows == 0 or len(X) == 0:
        return [], []
    output = model.raw_output(X)
    picks = _pick_rows(model, output, cfg.local_rows)
    predicted = model.predict(X.iloc[[p for p, _ in picks]])
    truth = X[ctx.target].to_numpy() if ctx.target in X.columns else None
    rows: list[dict[str, Any]] = []
    timings: list[float] = []
    for (position, reason), prediction in zip(picks, predicted, strict=True):
        started = time.perf_counter()
        exp = explain_rows(model, X.iloc[[position]], background=background, permutations=cfg.permutations,
                           seed=ctx.seed)
        timings.append(time.perf_counter() - started)
        entry = {"row": _shown(X.index[position]), "reason": reason, "prediction": _shown(prediction),
                 "actual": None if truth is None else _shown(truth[position]), **exp.row(0, TOP_CONTRIBUTIONS),
                 "space_key": exp.space, "method": exp.method}
        rows.append(entry)
    return rows, timings


def _pick_rows(model: TabularModel, output: np.ndarray, count: int) -> list[tuple[int, str]]:
    """Rows worth showing: the most confident of each kind, then the ones nearest the decision."""
    import numpy as np

    if model.task is TaskKind.BINARY:
        p = output[:, 1]
        ranked = [(int(np.argmax(p)), "most confident positive"), (int(np.argmin(p)), "most confident negative")]
        near = np.argsort(np.abs(p - model.threshold), kind="stable")
        ranked += [(int(i), "borderline (nearest the decision threshold)") for i in near]
    elif model.task is TaskKind.MULTICLASS:
        top = output.max(axis=1)
        ranked = [(int(np.argmax(top)), "most confident")]
        ranked += [(int(i), "borderline (least confident)") for i in np.argsort(top, kind="stable")]
    else:
        values = np.asarray(output, dtype=float)
        ranked = [(int(np.argmax(values)), "highest prediction"), (int(np.argmin(values)), "lowest prediction")]
        ranked += [(int(i), "typical (nearest the median prediction)")
                   for i in np.argsort(np.abs(values - np.median(values)), kind="stable")]
    picks: list[tuple[int, str]] = []
    seen: set[int] = set()
    for position, reason in ranked:
        if position not in seen:
            seen.add(position)
            picks.append((position, reason))
        if len(picks) == count:
            break
    return picks
