"""The learner registry: each learner is one small class, registered by the name the project file uses.

A learner declares its search space as a function of data size and task (the FLAML shape), a
known-good starting configuration, and how to build its estimator. Heavy libraries are imported
inside ``build``/``fit`` so that listing or validating names stays instant.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from aiforge.errors import MissingDependency
from aiforge.learn._resample import SEARCHED_RESAMPLERS
from aiforge.learn._space import Choice, FloatRange, IntRange, SearchSpace
from aiforge.spec import ModelSpec, TaskKind

__all__ = ["LEARNERS", "Fitted", "Learner", "by_priority", "register"]

Encoding = Literal["onehot", "ordinal", "text", "source"]  # text, source: see learn._text_encode
ALL_TASKS = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION})
EARLY_STOPPING_ROUNDS = 50
MAX_BOOSTING_ROUNDS = 3000
UNWEIGHTED = {"class_weight": None, "resample": "none"}  # the known-good configs: classes as they come
FIRST_TREES = 8  # a forest under a deadline grows these first, to time them, then what the time left affords


@dataclass(frozen=True)
class Fitted:
    """What a fit on a training fold chose: its size, and whether the deadline cut it short.

    ``rounds`` are the boosting rounds early stopping (or the deadline) kept, or, for a forest the
    deadline cut, the trees it grew; the refit of the winner uses them again.
    """

    rounds: int | None = None
    cut: bool = False


class Learner:
    """Base of a learner: its search space, its inputs' encoding, and how to build and fit it.

    Adding one is one class and one registration::

        @register
        class Knn(Learner):
            name = "knn"
            description = "k-nearest neighbours"
            encoding = "onehot"
            scale = True

            @classmethod
            def search_space(cls, n_rows, task):
                return {"n_neighbors": IntRange(3, 50, log=True)}

            def build(self, task, seed, n_jobs, categorical, params):
                from sklearn.neighbors import KNeighborsClassifier
                return KNeighborsClassifier(n_jobs=n_jobs, **params)
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    encoding: ClassVar[Encoding] = "ordinal"
    scale: ClassVar[bool] = False
    tasks: ClassVar[frozenset[TaskKind]] = ALL_TASKS
    priority: ClassVar[int] = 50  # known-good configs are tried cheapest-and-strongest first (lower first)
    requires: ClassVar[str | None] = None  # import name of an optional dependency
    extra: ClassVar[str | None] = None  # the pip extra that installs it
    size_param: ClassVar[str | None] = None  # the parameter that ``Fitted.rounds`` sets on a refit
    boosting: ClassVar[bool] = False  # rounds grow with the training rows on a refit (boosting), or not (forests)
    private: ClassVar[bool] = False  # trains with differential privacy under model.privacy
    private_requires: ClassVar[str | None] = None  # import name of what private training needs besides
    augments: ClassVar[frozenset[str]] = frozenset()  # the model.augment operations it applies (noise, flip...)
    reads_text: ClassVar[bool] = False  # takes the text columns (encoding "text"); the others leave them out
    row_parallel: ClassVar[bool] = True  # a large batch may be predicted in chunks on threads (rows independent)

    @classmethod
    def available(cls) -> bool:
        return cls.requires is None or importlib.util.find_spec(cls.requires) is not None

    @classmethod
    def missing_message(cls) -> MissingDependency:
        return MissingDependency(
            f"learner '{cls.name}' needs the optional package '{cls.requires}'",
            hint=f"pip install 'aiforge[{cls.extra}]', or remove '{cls.name}' from model.learners",
        )

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        return {}

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        """A configuration known to work well, tried first by every strategy."""
        return {}

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        """Parameters the project file sets for every trial of this learner (``model.privacy``,
        ``model.adversarial``), never searched: they join each trial's configuration and its record."""
        return {}

    @classmethod
    def project_space(cls, model: ModelSpec, task: TaskKind) -> SearchSpace:
        """Hyperparameters the project file adds to this learner's search space (``model.augment`` with
        ``search: true``); each one's first value joins the known-good configuration."""
        return {}

    @classmethod
    def input_params(cls, columns: list[str]) -> dict[str, Any]:
        """Parameters the input columns set for every trial (an image learner: the image shape its pixel columns
        name), never searched; raise ``SpecError`` when the learner cannot take these columns."""
        return {}

    @classmethod
    def fit_threads(cls, cores: int, n_rows: int, n_columns: int) -> int:
        """Threads to fit on ``n_rows`` x ``n_columns`` encoded inputs with ``cores`` given: all of them, unless
        the learner's threads cost more than they save on small data."""
        return cores

    @classmethod
    def threads_for(cls, cores: int, X: Any) -> int:
        """``fit_threads`` for the encoded inputs ``X`` (an array, sparse matrix or frame; else all ``cores``)."""
        shape = getattr(X, "shape", None)
        if not shape:
            return cores
        return cls.fit_threads(cores, int(shape[0]), int(shape[1]) if len(shape) > 1 else 1)

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        """The unfitted estimator; ``categorical`` are the positions of ordinal-encoded categories."""
        raise NotImplementedError

    def serve(self, estimator: Any) -> None:
        """Settle a fitted estimator for prediction (e.g. its threads): called on the final model."""

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        """Fit on encoded inputs. With ``eval_set``, learners that boost stop early and report the
        best number of rounds; learners that grow step by step stop at ``deadline`` (a
        ``time.perf_counter()`` value) with what they have, and say so."""
        estimator.fit(X, y)
        return Fitted()


LEARNERS: dict[str, type[Learner]] = {}


def by_priority(names: list[str]) -> list[str]:
    """Learner names, those whose first trial is usually cheap and strong first (then as listed).

    Under a tight time budget on a large table, a slow first trial (a forest, a linear model on
    many one-hot columns) must not spend the budget before gradient boosting has run once.
    """
    return sorted(names, key=lambda n: (LEARNERS[n].priority, names.index(n)))


def register(cls: type[Learner]) -> type[Learner]:
    if cls.name in LEARNERS:
        raise ValueError(f"a learner named '{cls.name}' is already registered")
    LEARNERS[cls.name] = cls
    return cls


@register
class Linear(Learner):
    name = "linear"
    priority = 30
    description = "L2-regularised logistic regression (classification) or ridge regression"
    encoding = "onehot"
    scale = True

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        if task is TaskKind.REGRESSION:
            return {"alpha": FloatRange(1e-3, 1e3, log=True)}
        return _with_imbalance({"C": FloatRange(1e-3, 1e2, log=True)}, task)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        return {"alpha": 1.0} if task is TaskKind.REGRESSION else {"C": 1.0, **UNWEIGHTED}

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        if task is TaskKind.REGRESSION:
            from sklearn.linear_model import Ridge

            return Ridge(**params)
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, random_state=seed, **params)


def _with_imbalance(space: SearchSpace, task: TaskKind, *, weights: bool = True) -> SearchSpace:
    """Classification: whether classes are weighted by inverse frequency, and whether the minority
    classes are oversampled (SMOTE, ADASYN), are searched too. The search drops ``resample`` on balanced data,
    and searches the methods ``model.resample`` names instead when it is set."""
    if task.is_classification:
        if weights:
            space["class_weight"] = Choice((None, "balanced"))
        space["resample"] = Choice(SEARCHED_RESAMPLERS)
    return space


class _Forest(Learner):
    size_param = "n_estimators"

    def serve(self, estimator: Any) -> None:
        # predicting in one thread is faster for the batches a server sees: joblib's threads cost
        # more than they save (200 trees, 1000 rows: 34 ms in one thread, 54 ms in two; one row: 11 vs 33)
        estimator.set_params(n_jobs=1)
    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "n_estimators": IntRange(50, 300, log=True),  # more trees cost fit and predict time for little gain
            "max_features": FloatRange(0.1, 1.0),
            "min_samples_leaf": IntRange(1, 32, log=True),
        }
        return _with_imbalance(space, task)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        if task.is_classification:
            return {"n_estimators": 100, "max_features": 0.3, "min_samples_leaf": 2, **UNWEIGHTED}
        return {"n_estimators": 100, "max_features": 0.7, "min_samples_leaf": 2}

    estimators: ClassVar[tuple[str, str]]  # scikit-learn ensemble classes: (classifier, regressor)

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        from sklearn import ensemble

        classifier, regressor = self.estimators
        cls = getattr(ensemble, regressor if task is TaskKind.REGRESSION else classifier)
        return cls(n_jobs=n_jobs, random_state=seed, **params)

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        if deadline is None:
            estimator.fit(X, y)
            return Fitted()
        # grow the trees in a few warm-started steps (the same trees as one fit), stopping at the deadline
        if estimator.class_weight == "balanced":  # the same weights, fixed once for every step
            import numpy as np
            from sklearn.utils.class_weight import compute_class_weight

            classes = np.unique(y)
            weights = compute_class_weight("balanced", classes=classes, y=y)
            estimator.set_params(class_weight=dict(zip(classes.tolist(), weights.tolist(), strict=True)))
        # a few trees first, to time them; then as many as the time left affords, in one step
        total = estimator.n_estimators
        estimator.set_params(warm_start=True)
        started = time.perf_counter()
        grown, step = 0, min(total, FIRST_TREES)
        while step > 0:
            grown += step
            estimator.set_params(n_estimators=grown)
            estimator.fit(X, y)
            per_tree = (time.perf_counter() - started) / grown
            affordable = int((deadline - time.perf_counter()) / per_tree) if per_tree > 0 else total
            step = max(0, min(total - grown, affordable))
        estimator.set_params(warm_start=False)
        return Fitted(grown, cut=True) if grown < total else Fitted()


@register
class RandomForest(_Forest):
    name = "random_forest"
    priority = 50
    description = "random forest (bootstrap samples, best split among a share of the features)"
    estimators = ("RandomForestClassifier", "RandomForestRegressor")


@register
class ExtraTrees(_Forest):
    name = "extra_trees"
    priority = 40
    description = "extremely randomised trees (random split thresholds)"
    estimators = ("ExtraTreesClassifier", "ExtraTreesRegressor")


MAX_HGB_ITERATIONS = 500
FIRST_HGB_ITERATIONS = 10  # under a deadline, grown first to time an iteration


@register
class HistGradientBoosting(Learner):
    name = "hist_gradient_boosting"
    priority = 20
    size_param = "max_iter"  # set on the later folds and the refit only when the deadline cut a fold
    description = "scikit-learn histogram gradient boosting with native categorical splits and early stopping"

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "learning_rate": FloatRange(0.01, 0.3, log=True),
            "max_leaf_nodes": IntRange(8, 256, log=True),
            "min_samples_leaf": IntRange(5, 200, log=True),
            "l2_regularization": FloatRange(1e-4, 10.0, log=True),
            "max_features": FloatRange(0.4, 1.0),
        }
        return _with_imbalance(space, task)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        config = {"learning_rate": 0.08, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                  "l2_regularization": 1e-4, "max_features": 1.0}
        return {**config, **UNWEIGHTED} if task.is_classification else config

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if task is TaskKind.REGRESSION else HistGradientBoostingClassifier
        settings = {"max_iter": MAX_HGB_ITERATIONS, "early_stopping": True, "validation_fraction": 0.1,
                    "n_iter_no_change": 20, **params}
        estimator = cls(categorical_features=categorical or None, random_state=seed, **settings)
        estimator.aiforge_threads = n_jobs  # it has no n_jobs: its OpenMP threads are limited while it fits
        return estimator

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=getattr(estimator, "aiforge_threads", None), user_api="openmp"):
            if deadline is None:
                estimator.fit(X, y)
                return Fitted()
            # a few iterations first, to time them; then, warm-started, as many as the time left affords
            # (the same model as one fit: early stopping keeps its validation rows across the steps)
            total = estimator.max_iter
            estimator.set_params(warm_start=True)
            started = time.perf_counter()
            target = min(total, FIRST_HGB_ITERATIONS)
            while True:
                estimator.set_params(max_iter=target)
                estimator.fit(X, y)
                done = int(estimator.n_iter_)
                if done < target or done >= total:  # early stopping ended it, or it is grown in full
                    break
                affordable = int((deadline - time.perf_counter()) / ((time.perf_counter() - started) / done))
                if affordable <= 0:
                    break
                target = min(total, done + affordable)
            estimator.set_params(warm_start=False)
            return Fitted(done, cut=True) if done == target < total else Fitted()


CELLS_PER_BOOSTING_THREAD = 3_000_000


def _boosting_threads(cores: int, n_rows: int, n_columns: int) -> int:
    """One OpenMP thread per ``CELLS_PER_BOOSTING_THREAD`` input cells, up to ``cores``. Every boosting
    round synchronises the threads many times; below that size the waits cost more than the work they
    share. Measured on 2 cores under OMP_WAIT_POLICY=PASSIVE (LightGBM, 250 rounds): 29k rows x 13
    columns 0.56 s on one thread, 2.4 s on two; 470k x 13, 7.1 s on either."""
    return max(1, min(cores, (n_rows * max(1, n_columns)) // CELLS_PER_BOOSTING_THREAD))


@register
class LightGBM(Learner):
    name = "lightgbm"
    priority = 10
    size_param = "n_estimators"
    boosting = True
    description = "LightGBM gradient boosted trees, native categorical splits, early stopping on the validation fold"

    @classmethod
    def fit_threads(cls, cores: int, n_rows: int, n_columns: int) -> int:
        return _boosting_threads(cores, n_rows, n_columns)

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "learning_rate": FloatRange(0.01, 0.3, log=True),
            "num_leaves": IntRange(4, max(8, min(1024, n_rows // 10)), log=True),
            "min_child_samples": IntRange(2, 200, log=True),
            "colsample_bytree": FloatRange(0.4, 1.0),
            "subsample": FloatRange(0.5, 1.0),
            "reg_lambda": FloatRange(1e-3, 10.0, log=True),
            "reg_alpha": FloatRange(1e-3, 10.0, log=True),
            # smoothing of native categorical splits: many-level categories overfit without it
            "cat_smooth": FloatRange(1.0, 200.0, log=True),
            "min_data_per_group": IntRange(10, 1000, log=True),
        }
        return _with_imbalance(space, task)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        leaves = cls.search_space(n_rows, task)["num_leaves"]
        assert isinstance(leaves, IntRange)
        config = {"learning_rate": 0.05, "num_leaves": min(31, leaves.high), "min_child_samples": 20,
                  "colsample_bytree": 0.8, "subsample": 0.8, "reg_lambda": 1e-3, "reg_alpha": 1e-3,
                  "cat_smooth": 10.0, "min_data_per_group": 100}
        return {**config, **UNWEIGHTED} if task.is_classification else config

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        import lightgbm

        cls = lightgbm.LGBMRegressor if task is TaskKind.REGRESSION else lightgbm.LGBMClassifier
        settings = {"n_estimators": MAX_BOOSTING_ROUNDS, **params}
        return cls(subsample_freq=1, random_state=seed, n_jobs=n_jobs, deterministic=True,
                   force_col_wise=True, verbose=-1, **settings)

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        import lightgbm

        kwargs: dict[str, Any] = {"categorical_feature": categorical} if categorical else {}
        if eval_set is None:
            estimator.fit(X, y, **kwargs)
            return Fitted()
        callbacks: list[Any] = [lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
        clock = _LightGBMDeadline(deadline) if deadline is not None else None
        if clock is not None:
            callbacks.append(clock)
        estimator.fit(X, y, eval_X=(eval_set[0],), eval_y=(eval_set[1],), callbacks=callbacks, **kwargs)
        return Fitted(int(estimator.best_iteration_ or estimator.n_estimators), cut=bool(clock and clock.cut))


class _LightGBMDeadline:
    """A LightGBM callback that ends training at a deadline, keeping the best round seen so far."""

    order = 40  # after early stopping's own check (order 30)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.cut = False
        self._best: tuple[float, int, Any] | None = None

    def __call__(self, env: Any) -> None:
        from lightgbm.callback import EarlyStopException

        if env.evaluation_result_list:
            _, _, value, higher_better = env.evaluation_result_list[0][:4]
            signed = value if higher_better else -value
            if self._best is None or signed > self._best[0]:
                self._best = (signed, env.iteration, env.evaluation_result_list)
        if time.perf_counter() > self.deadline:
            self.cut = True
            _, best, results = self._best or (0.0, env.iteration, env.evaluation_result_list)
            raise EarlyStopException(best, results)


@register
class KNearestNeighbours(Learner):
    name = "knn"
    priority = 60
    description = "k-nearest neighbours on scaled, one-hot encoded inputs"
    encoding = "onehot"
    scale = True

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        return _with_imbalance({"n_neighbors": IntRange(3, max(4, min(100, n_rows // 20)), log=True),
                                "weights": Choice(("uniform", "distance"))}, task, weights=False)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        neighbours = cls.search_space(n_rows, task)["n_neighbors"]
        assert isinstance(neighbours, IntRange)
        config = {"n_neighbors": min(15, neighbours.high), "weights": "distance"}
        return {**config, "resample": "none"} if task.is_classification else config

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        cls = KNeighborsRegressor if task is TaskKind.REGRESSION else KNeighborsClassifier
        return cls(n_jobs=n_jobs, **params)


@register
class XGBoost(Learner):
    name = "xgboost"
    priority = 25
    description = "XGBoost gradient boosted trees (optional: pip install 'aiforge[xgboost]', the CPU-only wheel)"
    requires = "xgboost"
    extra = "xgboost"
    size_param = "n_estimators"
    boosting = True

    @classmethod
    def fit_threads(cls, cores: int, n_rows: int, n_columns: int) -> int:
        return _boosting_threads(cores, n_rows, n_columns)

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        return _with_imbalance({
            "learning_rate": FloatRange(0.01, 0.3, log=True),
            "max_depth": IntRange(3, 10),
            "min_child_weight": FloatRange(0.5, 50.0, log=True),
            "subsample": FloatRange(0.5, 1.0),
            "colsample_bytree": FloatRange(0.4, 1.0),
            "reg_lambda": FloatRange(1e-3, 10.0, log=True),
        }, task, weights=False)

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        config = {"learning_rate": 0.05, "max_depth": 6, "min_child_weight": 1.0, "subsample": 0.8,
                  "colsample_bytree": 0.8, "reg_lambda": 1.0}
        return {**config, "resample": "none"} if task.is_classification else config

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        try:
            import xgboost
        except ImportError as exc:
            raise self.missing_message() from exc
        cls = xgboost.XGBRegressor if task is TaskKind.REGRESSION else xgboost.XGBClassifier
        settings = {"n_estimators": MAX_BOOSTING_ROUNDS, **params}
        return cls(tree_method="hist", random_state=seed, n_jobs=n_jobs,
                   early_stopping_rounds=EARLY_STOPPING_ROUNDS if "n_estimators" not in params else None,
                   **settings)

    def fit(self, estimator: Any, X: Any, y: Any, categorical: list[int],
            eval_set: tuple[Any, Any] | None = None, deadline: float | None = None) -> Fitted:
        if eval_set is None:
            estimator.set_params(early_stopping_rounds=None)
            estimator.fit(X, y, verbose=False)
            return Fitted()
        clock, state = _xgboost_deadline(deadline) if deadline is not None else (None, {"cut": False})
        estimator.set_params(callbacks=[clock] if clock is not None else None)
        estimator.fit(X, y, eval_set=[eval_set], verbose=False)
        estimator.set_params(callbacks=None)
        booster = estimator.get_booster()
        try:  # early stopping (or the deadline) kept the best round
            rounds = int(booster.best_iteration) + 1
        except AttributeError:  # a fixed number of rounds: all of them
            rounds = int(booster.num_boosted_rounds())
        return Fitted(rounds, cut=state["cut"])


def _xgboost_deadline(deadline: float) -> tuple[Any, dict[str, bool]]:
    """An XGBoost callback that ends training at a deadline (early stopping keeps the best round),
    and the state that says whether it did."""
    import xgboost

    state = {"cut": False}

    class Deadline(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            state["cut"] = time.perf_counter() > deadline
            return state["cut"]

    return Deadline(), state


@register
class DPLinear(Learner):
    """Differentially private linear models (``aiforge.learn._dp``): the privacy budget is the fixed
    ``epsilon`` of the params (default 1.0), never searched; only the regularisation is. SMOTE and
    class weights are left out: they would change each row's influence that the noise is sized for.
    The noise is drawn from fresh OS entropy, not the seed (noise regenerated from a known seed hides
    nothing), so refits differ."""

    name = "dp_linear"
    priority = 35
    private = True
    description = ("differentially private logistic regression (objective perturbation) or ridge regression "
                   "(sufficient statistics perturbation); epsilon from model.privacy, default 1.0")
    encoding = "onehot"
    scale = True

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        # alpha: per-row L2 strength on rows scaled to norm <= 1; data_norm: where rows are clipped
        return {"alpha": FloatRange(1e-5, 1e-1, log=True), "data_norm": FloatRange(1.0, 10.0, log=True)}

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        return {"alpha": 1e-3, "data_norm": 3.0}

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        """``model.privacy``'s epsilon (and, for regression, delta) as the budget of every fit."""
        if model.privacy is None:
            return {}
        params: dict[str, Any] = {"epsilon": model.privacy.epsilon}
        if task is TaskKind.REGRESSION:
            params["delta"] = model.privacy.delta
        return params

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        from aiforge.learn._dp import DEFAULT_EPSILON, DPLinearRegression, DPLogisticRegression

        settings = {"epsilon": DEFAULT_EPSILON, **params}
        if task is TaskKind.REGRESSION:
            return DPLinearRegression(**settings)
        return DPLogisticRegression(**settings)
