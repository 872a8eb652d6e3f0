"""The benchmark's data: 50 columns (35 numeric, 15 categorical) of varied shapes, a reference sample, and
current samples of any size in which a known set of columns has drifted, written to Parquet in chunks so
that generating 10M rows needs no more memory than generating one chunk.

Runs in both virtual environments (it needs only NumPy and pyarrow); ``run.py`` calls it from the project's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHUNK = 250_000  # rows generated (and written as one Parquet row group) at a time
SEED = 20261127


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # numeric shape, or "categorical"
    params: dict[str, Any]
    drift: dict[str, Any] = field(default_factory=dict)  # the parameters that change in the current data
    missing: float = 0.0
    note: str = ""  # what the drift is, in words

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"


def _zipf(k: int, exponent: float) -> list[float]:
    weights = 1.0 / np.arange(1, k + 1) ** exponent
    return list(weights / weights.sum())


def columns() -> list[Column]:
    """35 numeric and 15 categorical columns; 15 of them (9 numeric, 6 categorical) drift, some subtly."""
    shapes = ["normal", "lognormal", "poisson", "uniform", "exponential", "bimodal", "gamma"]
    base: dict[str, dict[str, Any]] = {
        "normal": {"loc": 10.0, "scale": 2.0}, "lognormal": {"mean": 0.0, "sigma": 0.8},
        "poisson": {"lam": 4.0}, "uniform": {"low": 0.0, "high": 1.0}, "exponential": {"scale": 1.0},
        "bimodal": {"weight": 0.5, "gap": 2.0}, "gamma": {"shape": 2.0, "scale": 1.5},
    }
    drifts: dict[int, tuple[dict[str, Any], str]] = {
        0: ({"loc": 11.0}, "mean +0.5 sd (large)"),
        1: ({"sigma": 1.0}, "log-scale 0.8 -> 1.0 (scale change)"),
        2: ({"lam": 4.6}, "rate 4 -> 4.6 (mean +0.3 sd)"),
        3: ({"high": 1.15}, "range [0, 1] -> [0, 1.15]"),
        4: ({"scale": 1.2}, "scale 1 -> 1.2 (moderate)"),
        7: ({"scale": 2.6}, "sd 2 -> 2.6, mean unchanged (scale change)"),
        12: ({"weight": 0.6}, "mixture weight 0.5 -> 0.6"),
        14: ({"loc": 10.3}, "mean +0.15 sd, 10% missing (subtle)"),
        21: ({"loc": 10.1}, "mean +0.05 sd (very subtle: below both tools' default thresholds)"),
    }
    out: list[Column] = []
    for i in range(35):
        shape = shapes[i % len(shapes)]
        drift, note = drifts.get(i, ({}, ""))
        out.append(Column(f"n{i:02d}_{shape}", shape, dict(base[shape]), drift, 0.1 if i % 5 == 4 else 0.0, note))
    cardinalities = [2, 3, 5, 8, 10, 20, 30, 50, 80, 100, 200, 500, 1000, 4, 12]
    for j, k in enumerate(cardinalities):
        weights = _zipf(k, 1.1)
        drift_c: dict[str, Any] = {}
        note = ""
        if j == 0:
            drift_c, note = {"weights": [0.55, 0.45]}, "share of the rarer value 0.32 -> 0.45"
        elif j == 2:
            drift_c, note = {"weights": weights[::-1]}, "frequencies reversed (large)"
        elif j == 5:
            drift_c, note = {"new": 0.15}, "15% of values are 5 categories never seen before"
        elif j == 9:
            drift_c, note = {"weights": _zipf(k, 1.4)}, "Zipf exponent 1.1 -> 1.4"
        elif j == 12:
            drift_c, note = {"weights": _zipf(k, 1.2)}, "Zipf exponent 1.1 -> 1.2 over 1,000 values (subtle)"
        elif j == 13:
            shifted = list(weights)
            shifted[0] -= 0.08
            shifted[3] += 0.08
            drift_c, note = {"weights": shifted}, "8 points of share moved from the commonest to the rarest (subtle)"
        out.append(Column(f"c{j:02d}_k{k}", "categorical", {"k": k, "weights": weights}, drift_c,
                          0.05 if j % 4 == 3 else 0.0, note))
    return out


def drifted(cols: list[Column]) -> list[str]:
    return [c.name for c in cols if c.drift]


def _numeric(rng: np.random.Generator, kind: str, p: dict[str, Any], n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(p["loc"], p["scale"], n)
    if kind == "lognormal":
        return rng.lognormal(p["mean"], p["sigma"], n)
    if kind == "poisson":
        return rng.poisson(p["lam"], n).astype(float)
    if kind == "uniform":
        return rng.uniform(p["low"], p["high"], n)
    if kind == "exponential":
        return rng.exponential(p["scale"], n)
    if kind == "bimodal":
        side = rng.random(n) < p["weight"]
        return np.where(side, p["gap"], -p["gap"]) + rng.normal(0.0, 1.0, n)
    if kind == "gamma":
        return rng.gamma(p["shape"], p["scale"], n)
    raise ValueError(kind)


def _categorical(rng: np.random.Generator, p: dict[str, Any], n: int) -> Any:
    import pyarrow as pa

    k = p["k"]
    labels = [f"v{i:04d}" for i in range(k)]
    codes = rng.choice(k, n, p=np.asarray(p["weights"]) / np.sum(p["weights"]))
    new = p.get("new", 0.0)
    if new:
        labels += [f"new{i}" for i in range(5)]
        fresh = rng.random(n) < new
        codes = np.where(fresh, k + rng.integers(0, 5, n), codes)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels))


def chunk(cols: list[Column], n: int, seed: tuple[int, ...], *, current: bool) -> Any:
    """One chunk of ``n`` rows as an Arrow table (strings dictionary-encoded, as Parquet stores them)."""
    import pyarrow as pa

    arrays = {}
    for index, col in enumerate(cols):
        rng = np.random.default_rng([SEED, *seed, index])
        params = {**col.params, **(col.drift if current else {})}
        if col.categorical:
            array = _categorical(rng, params, n)
            if col.missing:
                mask = pa.array(rng.random(n) < col.missing)
                array = pa.compute.if_else(mask, pa.scalar(None, array.type), array)
            arrays[col.name] = array.cast(pa.string())
        else:
            values = _numeric(rng, col.kind, params, n)
            if col.missing:
                values[rng.random(n) < col.missing] = np.nan
            arrays[col.name] = pa.array(values, from_pandas=True)
    return pa.table(arrays)


def write(path: Path, cols: list[Column], rows: int, *, current: bool, tag: int) -> Path:
    """Write ``rows`` rows in chunks of ``CHUNK`` (one row group each); ``tag`` separates the samples."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            table = chunk(cols, min(CHUNK, rows - start), (tag, start // CHUNK), current=current)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path
