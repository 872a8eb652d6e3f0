"""The benchmark's data sets: offline only, each a (features, target, task, metric) with a fixed content.

Every loader returns the same thing for every call: the rows never depend on the benchmark seed;
only the train/test split does (``split``). Classification targets are encoded as integers
0..k-1 (sorted labels; for binary tasks 1 is the positive class) so that every tool sees the
same labels and every tool's probabilities can be aligned to the same columns.

Metrics, one per task, computed by the harness on the held-out test split:
binary ``roc_auc`` (higher is better), multiclass ``log_loss`` (lower), regression ``rmse`` (lower).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ADULT_CSV = ROOT / "examples" / "income" / "data" / "adult.csv"

METRIC_BY_TASK = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
HIGHER_IS_BETTER = {"roc_auc": True, "log_loss": False, "rmse": False}


@dataclass(frozen=True)
class Dataset:
    """One loaded data set; ``X`` holds numbers and text (categorical) columns, ``y`` the target."""

    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str
    source: str
    labels: tuple[str, ...] = ()  # original class labels, index = encoded value

    @property
    def metric(self) -> str:
        return METRIC_BY_TASK[self.task]


def _clean_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names as [A-Za-z0-9_] (LightGBM refuses some characters; every tool gets the same)."""
    return frame.rename(columns=lambda c: re.sub(r"[^0-9A-Za-z_]+", "_", str(c)).strip("_"))


def _encode(y: pd.Series, positive: object | None = None) -> tuple[pd.Series, tuple[str, ...]]:
    labels = sorted(pd.unique(y.dropna()), key=lambda v: (v == positive, str(v)) if positive is not None else v)
    codes = {label: i for i, label in enumerate(labels)}
    return y.map(codes).astype("int64").rename("target"), tuple(str(v) for v in labels)


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Integer codes that name categories become text columns (missing stays missing)."""
    out = frame.copy()
    for c in columns:
        out[c] = out[c].map(lambda v, c=c: None if pd.isna(v) else f"{c}_{int(v)}").astype(object)
    return out


# --- scikit-learn bundled ------------------------------------------------------------------------

def breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    # sklearn codes malignant as 0; make malignant the positive class.
    y, labels = _encode(d.target.map({0: "malignant", 1: "benign"}), positive="malignant")
    return Dataset("breast_cancer", _clean_names(d.data), y, "binary", "scikit-learn load_breast_cancer", labels)


def digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits(as_frame=True)
    y, labels = _encode(d.target)
    return Dataset("digits", _clean_names(d.data.astype("float64")), y, "multiclass",
                   "scikit-learn load_digits", labels)


def diabetes() -> Dataset:
    from sklearn.datasets import load_diabetes

    d = load_diabetes(as_frame=True, scaled=False)
    return Dataset("diabetes", _clean_names(d.data), d.target.astype("float64").rename("target"),
                   "regression", "scikit-learn load_diabetes (unscaled)")


# --- shipped with aiforge ------------------------------------------------------------------------

def adult() -> Dataset:
    frame = pd.read_csv(ADULT_CSV, dtype_backend="numpy_nullable")
    y, labels = _encode(frame.pop("income"), positive=">50K")
    X = frame.convert_dtypes(dtype_backend="numpy_nullable")
    X = pd.DataFrame({c: (X[c].astype(object).where(X[c].notna(), None) if X[c].dtype.kind not in "iuf"
                          else X[c].astype("float64")) for c in X.columns})
    return Dataset("adult", _clean_names(X), y, "binary", f"{ADULT_CSV.relative_to(ROOT)} (UCI Adult)", labels)


# --- statsmodels bundled -------------------------------------------------------------------------

def fair() -> Dataset:
    import statsmodels.api as sm

    d = sm.datasets.fair.load_pandas().data
    y, labels = _encode((d.pop("affairs") > 0).map({True: "affair", False: "none"}), positive="affair")
    X = _as_text(d, ["occupation", "occupation_husb", "religious"])
    return Dataset("fair", _clean_names(X), y, "binary", "statsmodels fair (affairs > 0)", labels)


def anes96() -> Dataset:
    import statsmodels.api as sm

    d = sm.datasets.anes96.load_pandas().data.drop(columns=["logpopul"])
    y, labels = _encode(d.pop("PID").astype(int))
    return Dataset("anes96", _clean_names(d), y, "multiclass", "statsmodels anes96 (party id, 7 classes)", labels)


def randhie() -> Dataset:
    import statsmodels.api as sm

    d = sm.datasets.randhie.load_pandas().data
    y = d.pop("mdvis").astype("float64").rename("target")
    return Dataset("randhie", _clean_names(d), y, "regression", "statsmodels randhie (outpatient visits)")


# --- generated (fixed random state: the rows never change) ---------------------------------------

def synth_imbalanced() -> Dataset:
    """60k rows, 1:20 classes, 3 categorical columns derived from signal, 5 % missing in 8 columns."""
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(20240601)
    Xn, y = make_classification(n_samples=60_000, n_features=20, n_informative=8, n_redundant=4,
                                n_clusters_per_class=3, weights=[0.961], flip_y=0.005, class_sep=0.8,
                                random_state=20240601)
    X = pd.DataFrame(Xn, columns=[f"x{i}" for i in range(20)])
    # Categorical columns carrying signal: quantile buckets of informative features (originals dropped),
    # and a high-cardinality id-like column whose levels shift the class rate.
    for col, source, bins in (("band", "x0", 8), ("tier", "x1", 5)):
        X[col] = pd.qcut(X.pop(source), bins, labels=[f"{col}{i}" for i in range(bins)]).astype(object)
    shop = rng.integers(0, 300, size=len(X))
    X["shop"] = np.array([f"shop{i:03d}" for i in range(300)], dtype=object)[shop]
    # Some shops have a higher positive rate; the final ratio is about 1:20 (see ``describe``).
    y = np.where((shop % 17 == 0) & (rng.random(len(X)) < 0.12), 1, y)
    for c in ["x2", "x3", "x4", "x5", "x6", "x7", "band", "shop"]:
        X.loc[rng.random(len(X)) < 0.05, c] = np.nan if X[c].dtype.kind == "f" else None
    y_s, labels = _encode(pd.Series(y), positive=1)
    return Dataset("synth_imbalanced", X, y_s, "binary",
                   "generated: make_classification 60k rows, 1:20, categoricals, 5% missing", labels)


def synth_regression() -> Dataset:
    """50k rows: Friedman-style non-linear signal + categorical offsets + noise, 5 % missing."""
    rng = np.random.default_rng(20240602)
    n = 50_000
    X = pd.DataFrame(rng.uniform(0, 1, size=(n, 10)), columns=[f"x{i}" for i in range(10)])
    region = rng.integers(0, 12, size=n)
    city = rng.integers(0, 150, size=n)
    region_effect = rng.normal(0, 3, size=12)
    city_effect = rng.normal(0, 1.5, size=150)
    y = (10 * np.sin(np.pi * X.x0 * X.x1) + 20 * (X.x2 - 0.5) ** 2 + 10 * X.x3 + 5 * X.x4
         + region_effect[region] + city_effect[city] + rng.normal(0, 1.0, size=n))
    X["region"] = np.array([f"r{i:02d}" for i in range(12)], dtype=object)[region]
    X["city"] = np.array([f"c{i:03d}" for i in range(150)], dtype=object)[city]
    for c in ["x0", "x3", "x5", "region", "city"]:
        X.loc[rng.random(n) < 0.05, c] = np.nan if X[c].dtype.kind == "f" else None
    return Dataset("synth_regression", X, pd.Series(y, name="target", dtype="float64"), "regression",
                   "generated: Friedman-style 50k rows, categoricals, 5% missing")


LOADERS: dict[str, Callable[[], Dataset]] = {
    f.__name__: f
    for f in (breast_cancer, digits, diabetes, adult, fair, anes96, randhie, synth_imbalanced, synth_regression)
}
QUICK = ["breast_cancer", "anes96", "diabetes"]


def load(name: str) -> Dataset:
    try:
        loader = LOADERS[name]
    except KeyError:
        raise SystemExit(f"unknown data set '{name}'; known: {', '.join(LOADERS)}") from None
    return loader()


def split(ds: Dataset, seed: int, test_size: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded 80/20 split every tool gets: stratified for classification. Returns frames with a
    ``target`` column."""
    from sklearn.model_selection import train_test_split

    frame = ds.X.assign(target=ds.y.to_numpy())
    stratify = frame["target"] if ds.task != "regression" else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def describe(ds: Dataset) -> dict[str, object]:
    """What the report says about a data set."""
    text_cols = [c for c in ds.X.columns if ds.X[c].dtype.kind not in "iufb"]
    info: dict[str, object] = {
        "name": ds.name, "task": ds.task, "metric": ds.metric, "rows": len(ds.X), "features": ds.X.shape[1],
        "categorical": len(text_cols), "missing_pct": round(100 * float(ds.X.isna().to_numpy().mean()), 2),
        "source": ds.source,
    }
    if ds.task != "regression":
        counts = ds.y.value_counts()
        info["classes"] = int(counts.size)
        info["minority_pct"] = round(100 * float(counts.min() / counts.sum()), 2)
    return info
