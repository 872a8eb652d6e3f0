"""Differentially private linear models, scikit-learn compatible, and the privacy budget a model spent.

diffprivlib does not import with scikit-learn >= 1.8, so the two classic mechanisms are written
here against plain numpy/scipy:

- ``DPLogisticRegression``: L2-regularised logistic regression by *objective perturbation*
  (default) or *output perturbation*, Algorithms 2 and 1 of Chaudhuri, Monteleoni & Sarwate,
  "Differentially private empirical risk minimization", JMLR 12 (2011). Pure epsilon-DP (delta 0).
  Multiclass is one-vs-rest: each of the k binary models sees every row, so each gets epsilon/k
  and the k releases compose to epsilon.
- ``DPLinearRegression``: ridge regression by *sufficient statistics perturbation*: the Gram
  matrix of the rows ``[x, 1, y]`` is released once through the analytic Gaussian mechanism
  (Balle & Wang, ICML 2018), then solved; (epsilon, delta)-DP. The target's range is either given
  (``bounds_y``) or found with a share of epsilon by DP quartiles on a fixed grid.

Neighbouring tables differ in one row replaced by another (the row count is public). Each row is
clipped to L2 norm ``data_norm`` inside the estimator (the aiforge pipeline standardises inputs
before), so that one row's influence is bounded whatever the data hold.

What the guarantee does not cover: the input encoder's statistics (medians, means, standard
deviations, category levels) are fitted on the same rows without noise; every trial of a search
and every fold spends its own epsilon on overlapping rows (``search_budget`` adds them up); and
choosing among trials by validation scores is not accounted for.

Noise comes from fresh OS entropy unless ``random_state`` is set: noise that anyone can regenerate
from the project's seed would protect nothing, so DP models are not bit-reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_DATA_NORM",
    "DEFAULT_DELTA",
    "DEFAULT_EPSILON",
    "DPLinearRegression",
    "DPLogisticRegression",
    "analytic_gaussian_sigma",
    "privacy_budget",
    "search_budget",
]

DEFAULT_EPSILON = 1.0
DEFAULT_DELTA = 1e-5  # DP linear regression (Gaussian mechanism); logistic regression spends no delta
DEFAULT_DATA_NORM = 3.0  # about the median norm of standardised, one-hot encoded Adult rows (3.2)
LOGISTIC_CURVATURE = 0.25  # c: the logistic loss's second derivative is at most 1/4
DP_ESTIMATORS = ("DPLogisticRegression", "DPLinearRegression")


def _check_positive(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"The '{name}' parameter of {owner} must be a finite number > 0. Got {value!r} instead.")
    return float(value)


def _clip_rows(X: np.ndarray, norm: float) -> np.ndarray:
    """Rows scaled down to L2 norm <= ``norm`` (rows inside the ball are kept as they are)."""
    import numpy as np

    norms = np.linalg.norm(X, axis=1)
    return X * np.minimum(1.0, norm / np.maximum(norms, 1e-300))[:, None]


def _norm_noise(rng: np.random.Generator, dim: int, scale: float) -> np.ndarray:
    """A vector with density proportional to ``exp(-||b|| / scale)``: its norm is Gamma(dim, scale),
    its direction uniform on the sphere."""
    direction = rng.standard_normal(dim)
    direction /= max(float((direction ** 2).sum()) ** 0.5, 1e-300)
    return direction * rng.gamma(dim, scale)


class DPLogisticRegression(ClassifierMixin, BaseEstimator):
    """Epsilon-differentially private L2-regularised logistic regression.

    Each row is clipped to L2 norm ``data_norm``, divided by it and, with ``fit_intercept``, given a
    constant feature 1 before both are scaled by 1/sqrt(2), so that every row has norm <= 1 as the
    analysis needs (the intercept is regularised like the weights). The objective minimised is
    ``mean(log(1 + exp(-y w.z))) + alpha/2 ||w||^2`` on those normalised rows: ``alpha`` is a
    per-row strength (as in ``SGDClassifier``), so the noise shrinks as 1/n.

    ``mechanism``: ``objective`` adds a random linear term ``b.w/n`` to the objective (Chaudhuri et
    al.'s Algorithm 2, usually far more accurate); ``output`` adds noise of norm Gamma(d, 2/(n alpha
    epsilon)) to the exact minimiser (Algorithm 1). ``epsilon_`` and ``delta_`` (0) record the budget
    spent; ``noise_`` the noise vectors drawn, one row per binary model.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(2000, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = DPLogisticRegression(epsilon=1.0, random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.9), model.epsilon_
    (True, 1.0)
    """

    def __init__(self, epsilon: float = DEFAULT_EPSILON, alpha: float = 1e-2, data_norm: float = DEFAULT_DATA_NORM,
                 mechanism: str = "objective", fit_intercept: bool = True, max_iter: int = 1000,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.epsilon = epsilon
        self.alpha = alpha
        self.data_norm = data_norm
        self.mechanism = mechanism
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.random_state = random_state

    def _normalise(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        Z = _clip_rows(X, self.data_norm) / self.data_norm
        if self.fit_intercept:
            Z = np.hstack([Z, np.ones((Z.shape[0], 1))]) / math.sqrt(2.0)
        return Z

    def fit(self, X: Any, y: Any) -> DPLogisticRegression:
        import numpy as np
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        owner = type(self).__name__
        epsilon = _check_positive(self.epsilon, "epsilon", owner)
        alpha = _check_positive(self.alpha, "alpha", owner)
        _check_positive(self.data_norm, "data_norm", owner)
        if self.mechanism not in ("objective", "output"):
            raise ValueError(f"The 'mechanism' parameter of {owner} must be 'objective' or 'output'. "
                             f"Got {self.mechanism!r} instead.")
        X, y = validate_data(self, X, y, dtype=float)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"{owner} needs at least two classes in y; got one class: {self.classes_.tolist()}.")
        rng = np.random.default_rng(self.random_state)
        Z = self._normalise(X)
        # one-vs-rest: each binary model sees every row, so the budget is split evenly (basic composition)
        targets = [self.classes_[1]] if self.classes_.size == 2 else list(self.classes_)
        share = epsilon / len(targets)
        weights, noises, iterations = [], [], []
        for positive in targets:
            signs = np.where(y == positive, 1.0, -1.0)
            w, b, steps = self._fit_binary(Z, signs, share, alpha, rng)
            weights.append(w)
            noises.append(b)
            iterations.append(steps)
        self.n_iter_ = np.array(iterations)
        W = np.vstack(weights)
        scale = 1.0 / self.data_norm / (math.sqrt(2.0) if self.fit_intercept else 1.0)
        d = X.shape[1]
        self.coef_ = W[:, :d] * scale
        self.intercept_ = W[:, d] / math.sqrt(2.0) if self.fit_intercept else np.zeros(len(targets))
        self.noise_ = np.vstack(noises)
        self.epsilon_ = epsilon
        self.delta_ = 0.0
        return self

    def _fit_binary(self, Z: np.ndarray, y: np.ndarray, epsilon: float, alpha: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """Weights on the normalised rows, the noise drawn, and the solver's iterations."""
        n, dim = Z.shape
        c = LOGISTIC_CURVATURE
        if self.mechanism == "output":
            w, steps = _minimise_logistic(Z, y, alpha, None, self.max_iter)
            noise = _norm_noise(rng, dim, 2.0 / (n * alpha * epsilon))
            return w + noise, noise, steps
        # objective perturbation (Chaudhuri et al. 2011, Algorithm 2)
        ratio = c / (n * alpha)
        eps_noise = epsilon - math.log(1.0 + 2.0 * ratio + ratio * ratio)
        extra = 0.0
        if eps_noise <= 0:  # too little regularisation for this budget: add some, spend half on the noise
            extra = c / (n * math.expm1(epsilon / 4.0)) - alpha
            eps_noise = epsilon / 2.0
        noise = _norm_noise(rng, dim, 2.0 / eps_noise)
        w, steps = _minimise_logistic(Z, y, alpha + extra, noise, self.max_iter)
        return w, noise, steps

    def decision_function(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, dtype=float, reset=False)
        scores = _clip_rows(X, self.data_norm) @ self.coef_.T + self.intercept_
        return scores[:, 0] if self.classes_.size == 2 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        import numpy as np
        from scipy.special import expit

        scores = self.decision_function(X)
        if self.classes_.size == 2:
            positive = expit(scores)
            return np.column_stack([1.0 - positive, positive])
        probabilities = expit(scores)  # one-vs-rest, normalised as scikit-learn's ovr does
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.classifier_tags.poor_score = True  # the noise is the point: small data score poorly
        return tags


def _minimise_logistic(Z: np.ndarray, y: np.ndarray, alpha: float, noise: np.ndarray | None,
                       max_iter: int) -> tuple[np.ndarray, int]:
    """argmin_w mean(log(1 + exp(-y w.z))) + alpha/2 ||w||^2 (+ noise.w / n), to tight tolerance:
    the privacy analysis assumes the exact minimiser."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit

    n = Z.shape[0]
    linear = np.zeros(Z.shape[1]) if noise is None else noise / n
    reg = alpha

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        margins = y * (Z @ w)
        loss = float(np.logaddexp(0.0, -margins).mean() + 0.5 * reg * w @ w + linear @ w)
        grad = -(Z.T @ (y * expit(-margins))) / n + reg * w + linear
        return loss, grad

    result = minimize(objective, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": 1e-9, "ftol": 1e-14})
    return np.asarray(result.x, dtype=float), int(result.nit)


def analytic_gaussian_sigma(sensitivity: float, epsilon: float, delta: float) -> float:
    """The smallest noise scale that makes the Gaussian mechanism (epsilon, delta)-DP for an L2
    ``sensitivity`` (Balle & Wang 2018, Theorem 8; valid for every epsilon > 0, unlike the classic
    ``sqrt(2 ln(1.25/delta))`` bound, which needs epsilon < 1)."""
    from scipy.special import log_ndtr, ndtr

    _check_positive(sensitivity, "sensitivity", "analytic_gaussian_sigma")
    _check_positive(epsilon, "epsilon", "analytic_gaussian_sigma")
    if not 0 < delta < 1:
        raise ValueError(f"The 'delta' parameter of analytic_gaussian_sigma must be in (0, 1). Got {delta!r} instead.")

    def leak(sigma: float) -> float:
        a = sensitivity / (2 * sigma)
        b = epsilon * sigma / sensitivity
        return float(ndtr(a - b) - math.exp(epsilon + float(log_ndtr(-a - b))))

    low, high = 1e-6 * sensitivity, sensitivity
    while leak(high) > delta:
        high *= 2
    for _ in range(200):  # bisection in log space, to a relative precision far below 1e-9
        mid = math.sqrt(low * high)
        low, high = (low, mid) if leak(mid) <= delta else (mid, high)
        if high / low < 1 + 1e-12:
            break
    return high


def _target_fences(y: np.ndarray, epsilon: float, rng: np.random.Generator) -> tuple[float, float]:
    """Bounds for the target, (epsilon, 0)-DP: the quartiles by DP quantiles on a fixed grid (20 points a
    decade), widened by twice their distance on each side (Tukey-like fences: +-3.4 standard deviations
    of a normal target). Quartiles, not extreme percentiles: beyond the data every grid point has the
    same utility, and only a quantile far from the extremes makes those points unlikely picks."""
    from aiforge.data._dp_stats import dp_quantile, log_grid

    grid = log_grid(per_decade=20)
    q1 = dp_quantile(y, 0.25, epsilon / 2, grid, rng=rng)
    q3 = dp_quantile(y, 0.75, epsilon / 2, grid, rng=rng)
    low, high = min(q1, q3), max(q1, q3)
    spread = high - low if high > low else max(abs(low), 1.0)  # a (nearly) constant target
    return low - 2 * spread, high + 2 * spread


class DPLinearRegression(RegressorMixin, BaseEstimator):
    """(epsilon, delta)-differentially private ridge regression by sufficient statistics perturbation.

    Rows ``x`` are clipped to L2 norm ``data_norm`` and divided by it; the target is clipped to
    ``bounds_y`` and mapped to [-1, 1]. The Gram matrix of the rows ``z = [x, 1, y]`` (norm <= sqrt(3))
    has L2 sensitivity sqrt(2) * 3 when one row is replaced; it is released once with Gaussian noise
    of the analytic scale, projected onto the positive semi-definite matrices, and the ridge system
    ``(X'X + n alpha I) w = X'y`` solved on it (the intercept regularised too).

    Without ``bounds_y``, ``bounds_share`` of epsilon finds them: the quartiles of y, picked by the
    exponential mechanism on a fixed logarithmic grid (``aiforge.data._dp_stats``), widened by twice the
    interquartile range on each side.
    Predictions are clipped to the bounds. ``epsilon_``, ``delta_`` record the budget spent.
    """

    def __init__(self, epsilon: float = DEFAULT_EPSILON, delta: float = DEFAULT_DELTA, alpha: float = 1e-3,
                 data_norm: float = DEFAULT_DATA_NORM, bounds_y: tuple[float, float] | None = None,
                 bounds_share: float = 0.1, fit_intercept: bool = True,
                 random_state: int | np.random.Generator | None = None) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.alpha = alpha
        self.data_norm = data_norm
        self.bounds_y = bounds_y
        self.bounds_share = bounds_share
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> DPLinearRegression:
        import numpy as np
        from sklearn.utils.validation import validate_data

        owner = type(self).__name__
        epsilon = _check_positive(self.epsilon, "epsilon", owner)
        alpha = _check_positive(self.alpha, "alpha", owner)
        _check_positive(self.data_norm, "data_norm", owner)
        if not 0 < self.delta < 1:
            raise ValueError(f"The 'delta' parameter of {owner} must be in (0, 1). Got {self.delta!r} instead.")
        X, y = validate_data(self, X, y, dtype=float, y_numeric=True)
        rng = np.random.default_rng(self.random_state)
        n, d = X.shape
        spend = epsilon
        if self.bounds_y is None:
            if not 0 < self.bounds_share < 1:
                raise ValueError(f"The 'bounds_share' parameter of {owner} must be in (0, 1). "
                                 f"Got {self.bounds_share!r} instead.")
            share = epsilon * self.bounds_share
            lo, hi = _target_fences(y, share, rng)
            spend = epsilon - share
        else:
            try:
                lo, hi = (float(v) for v in self.bounds_y)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"The 'bounds_y' parameter of {owner} must be (lower, upper). "
                                 f"Got {self.bounds_y!r} instead.") from exc
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"The 'bounds_y' parameter of {owner} must be finite with lower < upper. "
                                 f"Got {self.bounds_y!r} instead: give the target's possible range, not the data's.")
        middle, half = (lo + hi) / 2, (hi - lo) / 2
        parts = [_clip_rows(X, self.data_norm) / self.data_norm]
        if self.fit_intercept:
            parts.append(np.ones((n, 1)))
        parts.append(((np.clip(y, lo, hi) - middle) / half)[:, None])
        Z = np.hstack(parts)
        sigma = analytic_gaussian_sigma(math.sqrt(2.0) * 3.0, spend, self.delta)
        upper = np.triu(rng.normal(0.0, sigma, size=(Z.shape[1], Z.shape[1])))
        noisy = Z.T @ Z + upper + np.triu(upper, 1).T
        p = Z.shape[1] - 1
        values, vectors = np.linalg.eigh(noisy[:p, :p])
        gram = (vectors * np.maximum(values, 0.0)) @ vectors.T
        w = np.linalg.solve(gram + n * alpha * np.eye(p), noisy[:p, p])
        self.coef_ = w[:d] * half / self.data_norm
        self.intercept_ = middle + (half * w[d] if self.fit_intercept else 0.0)
        self.bounds_y_ = (lo, hi)
        self.noise_scale_ = sigma
        self.epsilon_ = epsilon
        self.delta_ = float(self.delta)
        return self

    def predict(self, X: Any) -> np.ndarray:
        import numpy as np
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, dtype=float, reset=False)
        return np.clip(_clip_rows(X, self.data_norm) @ self.coef_ + self.intercept_, *self.bounds_y_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.regressor_tags.poor_score = True
        return tags


def privacy_budget(model: Any) -> tuple[float, float] | None:
    """(epsilon, delta) a fitted model spent on its training rows, or None when it is not differentially
    private as a whole (a non-DP estimator, or an ensemble with one non-DP member).

    The DP estimators are this module's and the torch estimators of ``aiforge.deep`` trained with
    ``privacy`` (DP-SGD): each records what it spent in ``epsilon_`` and ``delta_``.

    Looks through a ``TabularModel`` (its ``pipeline``), a scikit-learn ``Pipeline`` (its last step) and
    a ``WeightedEnsemble`` (its members, fitted on the same rows: their budgets add up, basic
    composition; a member listed twice counts once). Wrappers it does not know (e.g. fairness
    mitigation) are not DP as a whole and give None.
    """
    return _budget(getattr(model, "pipeline", model), set())


def _budget(estimator: Any, seen: set[int]) -> tuple[float, float] | None:
    if id(estimator) in seen:
        return 0.0, 0.0
    seen.add(id(estimator))
    if _records_budget(estimator):
        return float(estimator.epsilon_), float(estimator.delta_)
    members = getattr(estimator, "members", None)
    if isinstance(members, list) and members:
        total_eps, total_delta = 0.0, 0.0
        for member, _weight in members:
            found = _budget(member, seen)
            if found is None:
                return None
            total_eps, total_delta = total_eps + found[0], total_delta + found[1]
        return total_eps, total_delta
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return _budget(steps[-1][1], seen)
    return None


def _records_budget(estimator: Any) -> bool:
    kind = type(estimator)
    ours = kind.__name__ in DP_ESTIMATORS or kind.__module__.startswith("aiforge.deep.")
    return ours and hasattr(estimator, "epsilon_") and hasattr(estimator, "delta_")


def _private_trial(learner: str | None, params: dict[str, Any]) -> bool:
    return learner == "dp_linear" or isinstance(params.get("privacy"), dict)


def trial_budget(params: dict[str, Any], regression: bool) -> tuple[float, float]:
    """(epsilon, delta) one fit spends with ``params``: a DP-SGD learner's ``privacy`` target (an upper bound:
    a fit that stops early spends less), else the ``dp_linear`` learner's ``epsilon`` (and ``delta``)."""
    privacy = params.get("privacy")
    if isinstance(privacy, dict):
        return float(privacy["epsilon"]), float(privacy.get("delta", DEFAULT_DELTA))
    epsilon = float(params.get("epsilon", DEFAULT_EPSILON))
    delta = float(params.get("delta", DEFAULT_DELTA)) if regression else 0.0
    return epsilon, delta


def search_budget(trials: Iterable[Any], folds: int, *, regression: bool) -> tuple[float, float, int]:
    """(epsilon, delta, fits): what the search's DP trials (``dp_linear``, and torch learners trained with
    ``privacy``) spent on the training rows, by basic composition. A k-fold trial fits on k overlapping
    subsets, each row in k-1 of them, so a row pays ``min(folds run, k-1)`` fits (a holdout: 1).
    ``trials`` are ``TrialRecord``s or their JSON."""
    eps_total, delta_total, fits_total = 0.0, 0.0, 0
    for trial in trials:
        record = trial if isinstance(trial, dict) else vars(trial)
        if not _private_trial(record.get("learner"), record.get("params") or {}):
            continue
        fits = len(record.get("fold_scores") or []) + (1 if record.get("status") == "failed" else 0)
        per_row = min(fits, max(1, folds - 1))
        eps, delta = trial_budget(record.get("params") or {}, regression)
        eps_total += per_row * eps
        delta_total += per_row * delta
        fits_total += fits
    return eps_total, delta_total, fits_total
