"""Reference bins: ``Bins`` counts exactly as ``np.searchsorted`` does, values on and beside the edges included."""

from __future__ import annotations

import numpy as np
import pytest

from aiforge.data import Bins, bin_counts


def _searchsorted_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


EDGES = {
    "normal quantiles": np.quantile(np.random.default_rng(0).normal(10, 2, 50_000), np.linspace(0, 1, 101)[1:-1]),
    "heavy tail": np.quantile(np.random.default_rng(1).lognormal(0, 2, 50_000), np.linspace(0, 1, 101)[1:-1]),
    "integers": np.arange(0.0, 10.0),
    "crowded": np.array([0.0, 1e-12, 2e-12, 3e-12, 1.0, 1e6]),  # several edges in one cell of the table
    "far from zero": np.array([1e15, 1e15 + 2, 1e15 + 8]),
    "one edge": np.array([3.0]),
    "none": np.array([]),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_bins_count_exactly_as_searchsorted(name: str) -> None:
    edges = np.unique(EDGES[name])
    rng = np.random.default_rng(2)
    low, high = (edges[0], edges[-1]) if len(edges) else (-1.0, 1.0)
    span = (high - low) or 1.0
    values = np.concatenate([
        edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),  # on each edge and either side of it
        rng.uniform(low - span / 10, high + span / 10, 20_000), rng.choice(edges, 1_000) if len(edges) else [],
        [-1e300, 1e300, -np.inf, np.inf, low - 1, high + 1],
    ])
    bins = Bins(edges)
    assert np.array_equal(bins.count(values), _searchsorted_counts(values, edges))
    assert np.array_equal(bins.count(values[:0]), np.zeros(len(edges) + 1))
    assert np.array_equal(bin_counts(values, edges), _searchsorted_counts(values, edges))


def test_bins_count_integer_values() -> None:
    values = np.random.default_rng(3).poisson(4, 10_000)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 101)[1:-1]))
    assert np.array_equal(Bins(edges).count(values), _searchsorted_counts(values, edges))
