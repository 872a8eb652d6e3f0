"""The learner registry: each learner is one small class, registered by the name the project file uses.

Heavy libraries are imported inside ``build`` so that listing or validating names stays instant.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from aiforge.errors import MissingDependency
from aiforge.spec import TaskKind

__all__ = ["LEARNERS", "Learner", "register"]

Encoding = Literal["onehot", "ordinal"]


class Learner:
    """Base of a learner: how to encode its inputs and build its scikit-learn estimator.

    Adding one is one class and one registration::

        @register
        class Knn(Learner):
            name = "knn"
            description = "k-nearest neighbours"
            def build(self, task, seed, n_jobs, categorical):
                from sklearn.neighbors import KNeighborsClassifier
                return KNeighborsClassifier(n_jobs=n_jobs)
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    encoding: ClassVar[Encoding] = "ordinal"
    scale: ClassVar[bool] = False
    tasks: ClassVar[frozenset[TaskKind]] = frozenset(
        {TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION}
    )

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int]) -> Any:
        """The unfitted estimator; ``categorical`` are the positions of ordinal-encoded categories."""
        raise NotImplementedError

    def fit_params(self, categorical_positions: list[int]) -> dict[str, Any]:
        """Extra keyword arguments for the estimator's ``fit`` (e.g. which inputs are categorical)."""
        return {}


LEARNERS: dict[str, type[Learner]] = {}


def register(cls: type[Learner]) -> type[Learner]:
    if cls.name in LEARNERS:
        raise ValueError(f"a learner named '{cls.name}' is already registered")
    LEARNERS[cls.name] = cls
    return cls


@register
class Linear(Learner):
    name = "linear"
    description = "L2-regularised logistic regression (classification) or ridge regression"
    encoding = "onehot"
    scale = True

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int]) -> Any:
        if task is TaskKind.REGRESSION:
            from sklearn.linear_model import Ridge

            return Ridge(alpha=1.0)
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)


@register
class RandomForest(Learner):
    name = "random_forest"
    description = "random forest of 200 trees"

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int]) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestRegressor if task is TaskKind.REGRESSION else RandomForestClassifier
        return cls(n_estimators=200, min_samples_leaf=2, max_features="sqrt" if task.is_classification
                   else 0.5, n_jobs=n_jobs, random_state=seed)


@register
class HistGradientBoosting(Learner):
    name = "hist_gradient_boosting"
    description = "scikit-learn histogram gradient boosting with native categorical splits"

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if task is TaskKind.REGRESSION else HistGradientBoostingClassifier
        return cls(max_iter=300, learning_rate=0.08, early_stopping=True, validation_fraction=0.1,
                   n_iter_no_change=20, categorical_features=categorical or None, random_state=seed)


@register
class LightGBM(Learner):
    name = "lightgbm"
    description = "LightGBM gradient boosted trees with native categorical splits"

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int]) -> Any:
        try:
            import lightgbm
        except ImportError as exc:  # pragma: no cover - lightgbm is a core dependency
            raise MissingDependency(
                "learner 'lightgbm' needs the lightgbm package",
                hint="pip install lightgbm, or remove it from model.learners",
            ) from exc
        cls = lightgbm.LGBMRegressor if task is TaskKind.REGRESSION else lightgbm.LGBMClassifier
        return cls(n_estimators=400, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                   subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                   n_jobs=n_jobs, deterministic=True, force_col_wise=True, verbose=-1)

    def fit_params(self, categorical_positions: list[int]) -> dict[str, Any]:
        return {"categorical_feature": categorical_positions} if categorical_positions else {}
