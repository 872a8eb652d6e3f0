"""Drift against a stored reference: the measures agree with their textbook definitions on raw samples,
real shifts are flagged, and neither a trivial shift on a huge window nor noise on a small one is."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from aiforge.data import ReferenceProfile
from aiforge.monitor import DriftSettings, WindowCounts, detect_drift, detect_drift_in_parquet, domain_classifier

CATEGORIES = ["a", "b", "c", "d"]


def _frame(n: int, seed: int, *, shift: float = 0.0, weights: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(shift, 1.0, n),
        "skewed": rng.lognormal(0.0, 1.0, n),
        "count": rng.poisson(3, n),
        "colour": rng.choice(CATEGORIES, n, p=list(weights)),
    })


@pytest.fixture(scope="module")
def reference() -> ReferenceProfile:
    return ReferenceProfile.build(_frame(50_000, 0), categorical=["colour"])


def test_the_reference_is_compact_and_round_trips_through_json(reference: ReferenceProfile) -> None:
    text = json.dumps(reference.to_json())
    assert len(text) < 20_000  # four columns of 50,000 rows: a few kilobytes each
    again = ReferenceProfile.from_json(json.loads(text))
    assert again == reference
    x = reference.columns["x"]
    assert x.kind == "numeric" and x.count == 50_000 and len(x.counts) == len(x.edges) + 1 == 100
    assert abs(x.mean) < 0.02 and abs(x.std - 1) < 0.02
    assert reference.columns["count"].kind == "numeric" and len(reference.columns["count"].edges) < 20  # repeats
    colour = reference.columns["colour"]
    assert colour.kind == "categorical" and set(colour.frequencies) == set(CATEGORIES) and colour.other == 0


def test_nothing_drifts_between_two_samples_of_the_same_distribution(reference: ReferenceProfile) -> None:
    report = detect_drift(reference, _frame(20_000, 1))
    assert report.drifted == [] and report.share_drifted == 0
    for column in report.columns:
        assert column.psi < 0.01 and column.jensen_shannon < 0.05, column


def test_the_measures_match_their_definitions_on_the_raw_samples(reference: ReferenceProfile) -> None:
    train, window = _frame(50_000, 0), _frame(20_000, 2, shift=0.3)
    x = next(c for c in detect_drift(reference, window).columns if c.name == "x")
    assert x.ks == pytest.approx(ks_2samp(train["x"], window["x"]).statistic, abs=0.01)
    assert x.wasserstein == pytest.approx(wasserstein_distance(train["x"], window["x"]) / train["x"].std(), rel=0.05)
    deciles = np.quantile(train["x"], np.linspace(0, 1, 11)[1:-1])
    p = np.bincount(np.searchsorted(deciles, train["x"]), minlength=10) / len(train)
    q = np.bincount(np.searchsorted(deciles, window["x"]), minlength=10) / len(window)
    assert x.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=0.05)
    assert x.drifted and x.p_value < 1e-10 and x.method == "wasserstein" and x.threshold == 0.1


def test_shifted_columns_are_flagged_and_the_others_are_not(reference: ReferenceProfile) -> None:
    window = _frame(10_000, 3, shift=0.5, weights=(0.1, 0.2, 0.3, 0.4))
    report = detect_drift(reference, window)
    assert sorted(report.drifted) == ["colour", "x"]
    colour = next(c for c in report.columns if c.name == "colour")
    assert colour.test == "chi-squared" and colour.p_value < 1e-10 and colour.jensen_shannon > 0.2
    assert colour.histogram["categories"] == ["a", "b", "c", "d", "(other)"]


def test_unseen_categories_are_counted_as_other(reference: ReferenceProfile) -> None:
    window = _frame(5_000, 4)
    window.loc[:999, "colour"] = "brand-new"
    colour = next(c for c in detect_drift(reference, window).columns if c.name == "colour")
    assert colour.unseen_share == pytest.approx(0.2) and colour.drifted


def test_a_trivial_shift_on_a_huge_window_is_significant_but_not_drift(reference: ReferenceProfile) -> None:
    x = next(c for c in detect_drift(reference, _frame(1_000_000, 5, shift=0.03)).columns if c.name == "x")
    assert x.p_value < 1e-6  # the test alone would flag it
    assert x.effect < 0.05 and not x.drifted  # the effect size does not


def test_noise_on_small_windows_is_rarely_flagged(reference: ReferenceProfile) -> None:
    flagged = sum(len(detect_drift(reference, _frame(40, seed)).drifted) for seed in range(10, 30))
    assert flagged <= 2  # 20 windows x 4 columns, at alpha 0.05 and an effect threshold


def test_many_unchanged_columns_are_tested_together_so_their_window_is_not_flagged() -> None:
    """Each of k columns is tested at alpha / k (Bonferroni): 30 unchanged columns at alpha 0.05 each flag
    some column in most windows of 500 rows (the effect threshold 0.1 is near their noise there); tested
    together, few windows. A real shift in one column is still flagged."""
    rng = np.random.default_rng(2)
    names = [f"c{i}" for i in range(30)]
    reference = ReferenceProfile.build(pd.DataFrame(rng.uniform(size=(5_000, 30)), columns=names), categorical=[])
    windows = [pd.DataFrame(rng.uniform(size=(500, 30)), columns=names) for _ in range(10)]
    each_alone = [detect_drift(reference, w, settings=DriftSettings(correction="none")) for w in windows]
    together = [detect_drift(reference, w) for w in windows]
    assert sum(bool(r.drifted) for r in each_alone) >= 5  # 7 of 10 here
    assert sum(bool(r.drifted) for r in together) <= 1  # none here
    shifted = windows[0].assign(c7=windows[0]["c7"] + 0.1)  # 0.35 standard deviations
    assert detect_drift(reference, shifted).drifted == ["c7"]
    assert DriftSettings().for_columns(30).alpha == pytest.approx(0.05 / 30)
    with pytest.raises(ValueError, match="The 'correction' setting must be one of bonferroni, none"):
        DriftSettings(correction="holm")  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "threshold"), [("psi", 0.2), ("jensen_shannon", 0.1), ("ks", 0.1)])
def test_the_deciding_measure_and_threshold_can_be_chosen(reference: ReferenceProfile, method: str,
                                                           threshold: float) -> None:
    report = detect_drift(reference, _frame(10_000, 6, shift=1.0), settings=DriftSettings(method=method))
    x = next(c for c in report.columns if c.name == "x")
    assert x.method == method and x.threshold == threshold and x.drifted
    assert x.effect == getattr(x, method)
    with pytest.raises(ValueError, match="The 'method' setting must be one of"):
        DriftSettings(method="magic")


def test_prediction_drift_and_missing_values() -> None:
    train = _frame(5_000, 7)
    reference = ReferenceProfile.build(train, categorical=["colour"], prediction=np.linspace(0, 1, 5_000))
    window = _frame(2_000, 8)
    window.loc[:499, "x"] = np.nan
    report = detect_drift(reference, window, prediction=np.full(2_000, 0.9))
    x = next(c for c in report.columns if c.name == "x")
    assert x.missing_window == pytest.approx(0.25) and x.window_rows == 1_500
    assert report.prediction is not None and report.prediction.drifted
    assert json.loads(json.dumps(report.to_json()))["prediction"]["name"] == "prediction"


def test_the_domain_classifier_finds_the_shifted_column() -> None:
    same = domain_classifier(_frame(1_000, 9), _frame(1_000, 10), categorical=["colour"])
    assert same["auc"] < 0.6 and not same["drifted"]
    shifted = domain_classifier(_frame(1_000, 9), _frame(1_000, 11, shift=1.0), categorical=["colour"])
    assert shifted["auc"] > 0.7 and shifted["drifted"]
    assert shifted["top_columns"][0]["column"] == "x"


def test_a_column_without_values_still_makes_a_json_reference() -> None:
    empty = ReferenceProfile.build(pd.DataFrame({"x": [np.nan] * 10, "c": [None] * 10}), categorical=["c"])
    text = json.dumps(empty.to_json(), allow_nan=False)
    again = ReferenceProfile.from_json(json.loads(text))
    assert again.columns["x"].count == 0 and again.columns["x"].missing == 10
    assert again.columns["c"].missing == 10
    report = detect_drift(again, pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}))
    assert report.drifted == []  # nothing to compare with: no verdict either way


def test_drift_over_time_flags_the_period_where_it_starts(reference: ReferenceProfile) -> None:
    from datetime import UTC, datetime, timedelta

    from aiforge.monitor._report import _drift_series
    from aiforge.monitor._window import PredictionWindow

    hours = [_frame(2_000, 20), _frame(2_000, 21), _frame(2_000, 22, shift=0.8)]
    inputs = pd.concat(hours, ignore_index=True)
    start = datetime(2026, 11, 27, 8, tzinfo=UTC)
    times = [start + timedelta(hours=i // 2_000, seconds=i % 2_000) for i in range(len(inputs))]
    log = pd.DataFrame({"time": times, "value": np.linspace(0, 1, len(inputs)), "probabilities": None})
    series = _drift_series(reference, PredictionWindow("m", None, None, inputs, log), timedelta(hours=1), None)
    assert [p["rows"] for p in series] == [2_000, 2_000, 2_000]
    assert [p["drifted"] for p in series] == [[], [], ["x"]]
    assert series[2]["effects"]["x"] > 0.5 > series[0]["effects"]["x"]
    assert series[0]["start"] == "2026-11-27T08:00:00+00:00"


def _drifting_window(n: int, seed: int) -> pd.DataFrame:
    """A window with missing values in both kinds of column, unseen categories and a shifted column."""
    window = _frame(n, seed, shift=0.4, weights=(0.25, 0.25, 0.25, 0.25))
    window.loc[window.index % 7 == 0, "x"] = np.nan
    window.loc[window.index % 11 == 0, "colour"] = None
    window.loc[window.index % 13 == 0, "colour"] = "unseen"
    return window


def test_counts_added_batch_by_batch_give_the_one_shot_report(reference: ReferenceProfile) -> None:
    import pyarrow as pa

    window = _drifting_window(30_000, 30)
    whole = detect_drift(reference, window).to_json()
    counts = WindowCounts(reference)
    for start in range(0, len(window), 7_000):  # uneven batches, of both kinds of input
        part = window.iloc[start:start + 7_000]
        counts.add(part if start % 2 else pa.Table.from_pandas(part, preserve_index=False))
    assert counts.report().to_json() == whole
    left, right = WindowCounts(reference), WindowCounts(reference)
    left.add(window.iloc[:12_345])
    right.add(pa.Table.from_pandas(window.iloc[12_345:], preserve_index=False).to_batches()[0])
    left.merge(right)
    assert left.report().to_json() == whole
    with pytest.raises(ValueError, match="Counts merge only over the same columns"):
        left.merge(WindowCounts(reference, ["x"]))


def test_drift_streamed_from_parquet_equals_drift_of_the_frame(reference: ReferenceProfile, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    window = _drifting_window(30_000, 31)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pandas(window.iloc[:20_000], preserve_index=False), first, row_group_size=6_000)
    pq.write_table(pa.Table.from_pandas(window.iloc[20_000:], preserve_index=False), second)
    whole = detect_drift(reference, window).to_json()
    streamed = detect_drift_in_parquet(reference, [first, second], batch_rows=4_096)
    assert streamed.to_json() == whole
    assert sorted(streamed.drifted) == ["colour", "x"] and streamed.rows == 30_000
    # a file of the window's first rows alone, as one path and on one thread
    alone = detect_drift_in_parquet(reference, first, threads=1)
    assert alone.to_json() == detect_drift(reference, window.iloc[:20_000]).to_json()
    # categorical columns stored as plain strings (not dictionary-encoded) count the same
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.Table.from_pandas(window, preserve_index=False), plain, use_dictionary=False)
    assert detect_drift_in_parquet(reference, plain).to_json() == whole


def test_a_failing_read_is_raised_not_swallowed(reference: ReferenceProfile, tmp_path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(Exception, match="(?i)parquet|magic|size"):
        detect_drift_in_parquet(reference, broken)
    with pytest.raises(ValueError, match="at least one Parquet file"):
        detect_drift_in_parquet(reference, [])


def test_a_heavy_tail_on_a_window_larger_than_the_reference_is_not_drift() -> None:
    """The largest value grows with the sample (a window twenty times the reference holds larger extremes of
    the same lognormal): the outer bins are drawn from their values' mean, not stretched to the extremes."""
    rng = np.random.default_rng(40)
    train, window = rng.lognormal(0, 1.2, 20_000), rng.lognormal(0, 1.2, 400_000)
    reference = ReferenceProfile.build(pd.DataFrame({"y": train}), categorical=[])
    y = detect_drift(reference, pd.DataFrame({"y": window})).columns[0]
    exact = wasserstein_distance(train, window) / train.std()
    assert not y.drifted and y.wasserstein == pytest.approx(exact, abs=0.01)
    shifted = detect_drift(reference, pd.DataFrame({"y": window * 1.3})).columns[0]
    assert shifted.drifted
    assert shifted.wasserstein == pytest.approx(wasserstein_distance(train, window * 1.3) / train.std(), rel=0.05)


def test_a_reference_without_tail_means_still_measures(reference: ReferenceProfile) -> None:
    """References stored before the outer bins' means were kept compare by the extremes, as they did."""
    data = reference.to_json()
    for column in data["columns"].values():
        column.pop("below_mean", None)
        column.pop("above_mean", None)
    old = ReferenceProfile.from_json(data)
    x = next(c for c in detect_drift(old, _frame(20_000, 2, shift=0.3)).columns if c.name == "x")
    assert x.drifted and x.wasserstein == pytest.approx(0.3, abs=0.03)
