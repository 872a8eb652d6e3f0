"""DP aggregate statistics: unbiased, with the noise scale the budget promises, and clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT

from aiforge.data._dp_stats import (
    PrivacyLedger,
    dp_column_profile,
    dp_count,
    dp_histogram,
    dp_mean,
    dp_quantile,
    log_grid,
)

DRAWS = 4000


@pytest.fixture(scope="module")
def ages() -> np.ndarray:
    return pd.read_csv(ADULT, usecols=["age"])["age"].to_numpy(dtype=float)


@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_dp_count_is_unbiased_with_laplace_scale_one_over_epsilon(ages: np.ndarray, epsilon: float) -> None:
    rng = np.random.default_rng(0)
    truth = int((ages > 50).sum())
    draws = np.array([dp_count(ages > 50, epsilon, rng=rng) for _ in range(DRAWS)])
    scale = 1 / epsilon  # Laplace(b): std sqrt(2) b, mean absolute deviation b

    assert abs(draws.mean() - truth) < 4 * np.sqrt(2) * scale / np.sqrt(DRAWS)
    assert abs(np.abs(draws - truth).mean() / scale - 1) < 0.06
    assert abs(draws.std() / (np.sqrt(2) * scale) - 1) < 0.08


def test_dp_mean_clips_to_the_bounds_and_its_noise_scale_is_range_over_n_epsilon(ages: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    sample = ages[:500]
    truth = float(np.clip(sample, 20, 60).mean())
    draws = np.array([dp_mean(sample, 20, 60, 0.5, rng=rng) for _ in range(DRAWS)])
    scale = (60 - 20) / (len(sample) * 0.5)

    assert abs(truth - sample.mean()) > 0.3  # clipping matters here, and the estimate targets the clipped mean
    assert abs(draws.mean() - truth) < 4 * np.sqrt(2) * scale / np.sqrt(DRAWS)
    assert abs(np.abs(draws - truth).mean() / scale - 1) < 0.06


def test_dp_histogram_counts_are_unbiased_with_scale_two_over_epsilon(ages: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    edges = [0, 25, 35, 45, 55, 65, 120]
    truth = np.histogram(ages, bins=edges)[0]
    draws = np.array([dp_histogram(ages, edges, 1.0, rng=rng) for _ in range(1000)])

    assert np.abs(draws.mean(axis=0) - truth).max() < 4 * np.sqrt(2) * 2 / np.sqrt(1000)
    assert abs(np.abs(draws - truth).mean() / 2 - 1) < 0.06


def test_dp_histogram_of_categories_counts_only_the_listed_ones() -> None:
    sexes = pd.read_csv(ADULT, usecols=["sex"])["sex"].astype(str).to_numpy()
    counts = dp_histogram(sexes, ["Female", "Male", "Other"], 10.0, rng=np.random.default_rng(3))

    assert abs(counts[0] - (sexes == "Female").sum()) < 5 and abs(counts[1] - (sexes == "Male").sum()) < 5
    assert abs(counts[2]) < 5


def test_dp_quantile_lands_near_the_true_quantile(ages: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    grid = np.arange(0, 121, dtype=float)
    picks = [dp_quantile(ages, 0.5, 0.5, grid, rng=rng) for _ in range(200)]

    assert abs(np.median(picks) - np.median(ages)) <= 1
    assert np.mean(np.abs(np.array(picks) - np.median(ages)) <= 2) > 0.95


def test_a_column_profile_spends_its_budget_in_equal_shares(ages: np.ndarray) -> None:
    values = ages.copy()
    values[:100] = np.nan
    profile = dp_column_profile(values, 17, 90, 3.0, bins=8, rng=np.random.default_rng(5))

    assert profile["privacy"]["epsilon"] == pytest.approx(3.0)
    assert [s["epsilon"] for s in profile["privacy"]["statistics"]] == pytest.approx([1.0, 1.0, 1.0])
    assert abs(profile["missing"] - 100) < 15 and abs(profile["mean"] - np.nanmean(ages[100:])) < 0.5
    assert len(profile["histogram"]["counts"]) == 8
    assert sum(profile["histogram"]["counts"]) == pytest.approx(len(values) - 100, abs=60)
    ledger = PrivacyLedger()
    ledger.spend("a", 0.5, 1e-6)
    ledger.spend("b", 0.25)
    assert (ledger.epsilon, ledger.delta) == (0.75, 1e-6)


def test_log_grid_is_symmetric_and_increasing() -> None:
    grid = log_grid(1e-2, 1e2, per_decade=5)

    assert grid.size == 2 * 21 + 1 and np.all(np.diff(grid) > 0)
    np.testing.assert_allclose(grid, -grid[::-1])


@pytest.mark.parametrize(("call", "message"), [
    (lambda v: dp_mean(v, 60, 20, 1.0), r"lower < upper.*Got lower=60, upper=20.*knowledge of the domain"),
    (lambda v: dp_mean(v, 0, float("inf"), 1.0), r"must be finite numbers"),
    (lambda v: dp_mean(v, 0, 100, 0.0), r"'epsilon' parameter of dp_mean must be a finite number > 0"),
    (lambda v: dp_mean(v[:0], 0, 100, 1.0), r"at least one value"),
    (lambda v: dp_mean(np.array(["a", "b"]), 0, 100, 1.0), r"dp_mean needs numeric values"),
    (lambda v: dp_count(v > 0, -1.0), r"'epsilon' parameter of dp_count"),
    (lambda v: dp_histogram(v, [10, 5, 20], 1.0), r"strictly increasing"),
    (lambda v: dp_histogram(v, [10], 1.0), r"at least two bin edges"),
    (lambda v: dp_quantile(v, 1.5, 1.0), r"'q' parameter of dp_quantile must be in \[0, 1\]"),
    (lambda v: dp_column_profile(v, 0, 100, 1.0, bins=0), r"'bins' parameter"),
])
def test_bad_bounds_and_budgets_get_clear_errors(ages: np.ndarray, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(ages)
