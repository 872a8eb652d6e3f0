"""The meta-training data sets of the warm-start portfolio: offline, and none of them (nor their
generators' seeds and shapes) used by the AutoML benchmark in ``benchmarks/automl/datasets.py``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

BENCHMARK = {"breast_cancer", "digits", "diabetes", "adult", "fair", "anes96", "randhie",
             "synth_imbalanced", "synth_regression"}


@dataclass(frozen=True)
class MetaSet:
    name: str
    task: str  # binary | multiclass | regression
    X: pd.DataFrame
    y: pd.Series
    source: str


def _with_categories_and_missing(X: pd.DataFrame, rng: np.random.Generator, *, buckets: dict[str, int],
                                 missing: float) -> pd.DataFrame:
    """Turn some informative columns into text categories (quantile buckets) and blank some values."""
    X = X.copy()
    for col, bins in buckets.items():
        X[col] = pd.qcut(X[col], bins, labels=[f"{col}_{i}" for i in range(bins)]).astype(object)
    if missing:
        for col in X.columns[: max(1, X.shape[1] // 3)]:
            X.loc[rng.random(len(X)) < missing, col] = None if X[col].dtype == object else np.nan
    return X


def _frame(values: np.ndarray, prefix: str = "x") -> pd.DataFrame:
    return pd.DataFrame(values, columns=[f"{prefix}{i}" for i in range(values.shape[1])])


def hastie() -> MetaSet:
    from sklearn.datasets import make_hastie_10_2

    X, y = make_hastie_10_2(n_samples=3000, random_state=101)
    return MetaSet("hastie", "binary", _frame(X), pd.Series((y > 0).astype(int)), "sklearn make_hastie_10_2")


def clf_categorical() -> MetaSet:
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(102)
    X, y = make_classification(n_samples=4000, n_features=12, n_informative=6, n_redundant=2, random_state=102)
    frame = _with_categories_and_missing(_frame(X), rng, buckets={"x0": 6, "x1": 12}, missing=0.05)
    return MetaSet("clf_categorical", "binary", frame, pd.Series(y), "make_classification + categories, 5% missing")


def clf_imbalanced() -> MetaSet:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=5000, n_features=15, n_informative=5, weights=[0.92], flip_y=0.02,
                               class_sep=0.7, random_state=103)
    return MetaSet("clf_imbalanced", "binary", _frame(X), pd.Series(y), "make_classification 1:11")


def clf_small_wide() -> MetaSet:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=300, n_features=30, n_informative=8, random_state=104)
    return MetaSet("clf_small_wide", "binary", _frame(X), pd.Series(y), "make_classification 300 x 30")


def moons() -> MetaSet:
    from sklearn.datasets import make_moons

    rng = np.random.default_rng(105)
    X, y = make_moons(n_samples=2000, noise=0.3, random_state=105)
    frame = pd.concat([_frame(X), _frame(rng.normal(size=(2000, 4)), "noise")], axis=1)
    return MetaSet("moons", "binary", frame, pd.Series(y), "make_moons + 4 noise columns")


def modechoice() -> MetaSet:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = sm.datasets.modechoice.load_pandas().data
    X = data.drop(columns=["choice", "individual"]).copy()
    X["mode"] = X["mode"].map({1.0: "air", 2.0: "train", 3.0: "bus", 4.0: "car"}).astype(object)
    return MetaSet("modechoice", "binary", X, data["choice"].astype(int), "statsmodels modechoice")


def iris() -> MetaSet:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return MetaSet("iris", "multiclass", X, y, "sklearn iris")


def wine() -> MetaSet:
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    return MetaSet("wine", "multiclass", X, y, "sklearn wine")


def clf_multiclass() -> MetaSet:
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(106)
    X, y = make_classification(n_samples=3000, n_features=16, n_informative=8, n_classes=5, n_clusters_per_class=1,
                               random_state=106)
    frame = _with_categories_and_missing(_frame(X), rng, buckets={"x2": 8}, missing=0.03)
    return MetaSet("clf_multiclass", "multiclass", frame, pd.Series(y), "make_classification 5 classes")


def blobs() -> MetaSet:
    from sklearn.datasets import make_blobs

    rng = np.random.default_rng(107)
    X, y = make_blobs(n_samples=2000, centers=4, n_features=6, cluster_std=3.0, random_state=107)
    frame = pd.concat([_frame(X), _frame(rng.normal(size=(2000, 3)), "noise")], axis=1)
    return MetaSet("blobs", "multiclass", frame, pd.Series(y), "make_blobs 4 centres, wide spread")


def friedman1() -> MetaSet:
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=108)
    return MetaSet("friedman1", "regression", _frame(X), pd.Series(y), "sklearn make_friedman1")


def friedman2() -> MetaSet:
    from sklearn.datasets import make_friedman2

    X, y = make_friedman2(n_samples=2000, noise=10.0, random_state=109)
    return MetaSet("friedman2", "regression", _frame(X), pd.Series(y), "sklearn make_friedman2")


def friedman3() -> MetaSet:
    from sklearn.datasets import make_friedman3

    rng = np.random.default_rng(110)
    X, y = make_friedman3(n_samples=1500, noise=0.05, random_state=110)
    frame = _with_categories_and_missing(_frame(X), rng, buckets={"x3": 5}, missing=0.05)
    return MetaSet("friedman3", "regression", frame, pd.Series(y), "make_friedman3 + a category, 5% missing")


def sparse_linear() -> MetaSet:
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=1000, n_features=50, n_informative=10, noise=5.0, random_state=111)
    return MetaSet("sparse_linear", "regression", _frame(X), pd.Series(y), "make_regression 50 features, 10 useful")


def star98() -> MetaSet:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = sm.datasets.star98.load_pandas().data
    y = data["NABOVE"] / (data["NABOVE"] + data["NBELOW"])
    return MetaSet("star98", "regression", data.drop(columns=["NABOVE", "NBELOW"]), y, "statsmodels star98")


def grunfeld() -> MetaSet:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = sm.datasets.grunfeld.load_pandas().data
    X = data.drop(columns=["invest"]).copy()
    X["firm"] = X["firm"].astype(str).astype(object)
    return MetaSet("grunfeld", "regression", X, data["invest"], "statsmodels grunfeld")


LOADERS: dict[str, Callable[[], MetaSet]] = {
    f.__name__: f for f in (hastie, clf_categorical, clf_imbalanced, clf_small_wide, moons, modechoice, iris, wine,
                            clf_multiclass, blobs, friedman1, friedman2, friedman3, sparse_linear, star98, grunfeld)
}
assert not set(LOADERS) & BENCHMARK
