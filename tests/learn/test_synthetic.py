"""The Gaussian copula behind ``resample: synthetic``: rows of the rare class with the table's schema, each
column's values inside what the class showed (discrete ones among its values), marginals and rank
correlations close to the real rows', seeded."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp, spearmanr

from aiforge.learn._resample import resample
from aiforge.learn._synthetic import GaussianCopula, synthesise_minority


def _rare_rows(n: int = 300, seed: int = 0) -> np.ndarray:
    """A skewed column, one correlated with it, a category code and a 0/1 flag."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(3.0, 0.6, size=n)
    hours = 20 + 0.5 * income + rng.normal(scale=4.0, size=n)
    sector = rng.choice([0.0, 1.0, 2.0, 5.0], p=[0.5, 0.3, 0.15, 0.05], size=n)
    flag = (rng.random(n) < 0.2).astype(float)
    return np.column_stack([income, hours, sector, flag])


def test_copula_rows_keep_each_columns_distribution_and_their_rank_correlation() -> None:
    real = _rare_rows()
    made = GaussianCopula(categorical=[2]).fit(real).sample(3000, seed=1)

    assert made.shape == (3000, 4) and np.isfinite(made).all()
    for j in (0, 1):  # continuous: inside the observed range, and the same distribution
        assert real[:, j].min() <= made[:, j].min() and made[:, j].max() <= real[:, j].max()
        assert ks_2samp(real[:, j], made[:, j]).statistic < 0.08
    assert set(np.unique(made[:, 2])) <= {0.0, 1.0, 2.0, 5.0}  # categories: only those seen, never 3 or 1.5
    for level in (0.0, 1.0, 2.0):
        assert abs((made[:, 2] == level).mean() - (real[:, 2] == level).mean()) < 0.05
    assert set(np.unique(made[:, 3])) == {0.0, 1.0} and abs(made[:, 3].mean() - real[:, 3].mean()) < 0.05
    real_rho = spearmanr(real[:, 0], real[:, 1]).statistic
    assert real_rho > 0.6 and abs(spearmanr(made[:, 0], made[:, 1]).statistic - real_rho) < 0.1


def test_a_seed_fixes_the_rows_and_a_constant_column_stays_constant() -> None:
    real = _rare_rows(50)
    real[:, 3] = 7.0
    copula = GaussianCopula().fit(real)
    first = copula.sample(20, seed=3)
    np.testing.assert_array_equal(first, copula.sample(20, seed=3))
    assert not np.array_equal(first, copula.sample(20, seed=4))
    assert (first[:, 3] == 7.0).all()


def test_the_copula_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        GaussianCopula().fit(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="impute missing values first"):
        GaussianCopula().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="not fitted yet"):
        GaussianCopula().sample(3, seed=0)


def test_synthetic_resampling_adds_rows_of_each_small_class_only_from_that_class() -> None:
    rng = np.random.default_rng(2)
    common = rng.normal(loc=0.0, size=(400, 4))
    rare = _rare_rows(40, seed=3)  # far from the common rows: a row drawn from both would show
    tiny = np.full((1, 4), -50.0)
    X = np.vstack([common, rare, tiny]).astype(np.float32)
    y = np.array([0] * 400 + [1] * 40 + [2])

    Xr, yr = resample("synthetic", X, y, [2], seed=0)

    assert np.bincount(yr).tolist() == [400, 400, 1]  # the one-row class has no copula
    assert Xr.dtype == np.float32 and Xr.shape[1] == 4
    np.testing.assert_array_equal(Xr[: len(X)], X)
    new = Xr[len(X):]
    assert (new[:, 0] >= rare[:, 0].min() - 1e-4).all() and (new[:, 0] <= rare[:, 0].max() + 1e-4).all()
    assert set(np.unique(new[:, 2])) <= set(np.unique(rare[:, 2]))
    again, _ = synthesise_minority(X, y, [2], seed=0)
    np.testing.assert_array_equal(again, Xr)
