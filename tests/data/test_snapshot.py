"""Snapshots (content-addressed Parquet + profile), combining sources, and the held-out split."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aiforge.data import (
    DatasetSnapshot,
    DataSplit,
    LoadedSource,
    combine_sources,
    make_split,
    profile_table,
    write_snapshot,
)
from aiforge.errors import ArtifactError, DataError
from aiforge.spec import SplitSpec
from aiforge.workspace import ArtifactStore

TABLE = pa.table({
    "age": pa.array([1, 2, 3, 4, None], pa.int64()),
    "score": pa.array([1.0, float("nan"), float("inf"), 3.0, None]),
    "city": pa.array(["a", "b", "a", None, "a"]),
    "member": pa.array([True, False, True, True, None]),
    "empty": pa.array([None] * 5, pa.float64()),
    "when": pa.array([datetime(2024, 1, d) for d in range(1, 6)], pa.timestamp("ms")),
})


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _loaded(table: pa.Table, name: str = "main") -> LoadedSource:
    return LoadedSource(name, table, "0" * 64, f"data/{name}.csv")


def test_snapshot_id_is_the_sha256_of_the_stored_parquet(store: ArtifactStore) -> None:
    snap = write_snapshot(TABLE, [_loaded(TABLE)], store)

    stored = store.path(snap.id).read_bytes()
    assert snap.id == hashlib.sha256(stored).hexdigest()
    assert snap.artifact == snap.id
    assert stored[:4] == b"PAR1"
    assert snap.n_rows == 5
    assert [c.name for c in snap.columns] == TABLE.column_names
    assert snap.sources == [{"name": "main", "location": "data/main.csv", "sha256": "0" * 64}]


def test_the_same_table_gives_the_same_snapshot_id(store: ArtifactStore, tmp_path: Path) -> None:
    first = write_snapshot(TABLE, [_loaded(TABLE)], store)
    again = write_snapshot(TABLE, [_loaded(TABLE)], store)
    elsewhere = write_snapshot(pa.table(TABLE.to_pydict(), schema=TABLE.schema), [_loaded(TABLE)],
                            ArtifactStore(tmp_path / "other"))
    changed = write_snapshot(TABLE.slice(0, 4), [_loaded(TABLE)], store)

    assert first.id == again.id == elsewhere.id
    assert changed.id != first.id


def test_snapshot_loads_back_and_round_trips_as_json(store: ArtifactStore) -> None:
    snap = write_snapshot(TABLE, [_loaded(TABLE)], store)

    frame = snap.load(store)
    pd.testing.assert_frame_equal(frame, TABLE.to_pandas())
    assert DatasetSnapshot.from_json(snap.to_json()) == snap
    assert snap.column("city").kind == "categorical"
    with pytest.raises(KeyError):
        snap.column("nope")


def test_loading_a_corrupted_snapshot_fails(store: ArtifactStore) -> None:
    snap = write_snapshot(TABLE, [_loaded(TABLE)], store)
    store.path(snap.id).write_bytes(b"PAR1 but not really")

    with pytest.raises(ArtifactError, match="corrupt"):
        snap.load(store)


def test_profile_of_an_integer_column() -> None:
    age = {c.name: c for c in profile_table(TABLE)}["age"]

    assert (age.kind, age.dtype) == ("numeric", "int64")
    assert age.missing_rate == pytest.approx(0.2)
    assert age.distinct == 4
    assert (age.min, age.max, age.mean) == (1.0, 4.0, 2.5)
    assert age.quantiles == pytest.approx({"p1": 1.03, "p25": 1.75, "p50": 2.5, "p75": 3.25, "p99": 3.97})
    assert age.top_values == []


def test_profile_of_a_float_column_ignores_nan_and_inf_in_its_range() -> None:
    score = {c.name: c for c in profile_table(TABLE)}["score"]

    assert score.kind == "numeric"
    assert score.missing_rate == pytest.approx(0.2)  # NaN is a value to Arrow; only the null is missing
    assert score.distinct == 4
    assert (score.min, score.max, score.mean) == (1.0, 3.0, 2.0)
    assert score.quantiles["p50"] == pytest.approx(2.0)


def test_profile_of_categorical_and_boolean_columns() -> None:
    cols = {c.name: c for c in profile_table(TABLE)}

    city = cols["city"]
    assert (city.kind, city.missing_rate, city.distinct) == ("categorical", pytest.approx(0.2), 2)
    assert city.top_values == [("a", 3), ("b", 1)]
    assert city.min is None and city.quantiles == {}

    member = cols["member"]
    assert (member.kind, member.distinct) == ("boolean", 2)
    assert member.top_values == [("True", 3), ("False", 1)]


def test_profile_of_an_all_missing_column_and_a_date_column() -> None:
    cols = {c.name: c for c in profile_table(TABLE)}

    assert (cols["empty"].kind, cols["empty"].missing_rate, cols["empty"].distinct) == ("numeric", 1.0, 0)
    assert cols["empty"].min is None and cols["empty"].quantiles == {}
    assert (cols["when"].kind, cols["when"].distinct, cols["when"].missing_rate) == ("datetime", 5, 0.0)


def test_top_values_keep_the_ten_most_frequent_ties_broken_by_text() -> None:
    values = [f"v{i:02d}" for i in range(12) for _ in range(1 + (i == 5))]
    [col] = profile_table(pa.table({"c": values}))

    assert col.distinct == 12
    assert col.top_values[0] == ("v05", 2)
    assert col.top_values[1:] == [(f"v{i:02d}", 1) for i in (0, 1, 2, 3, 4, 6, 7, 8, 9)]


def test_combine_sources_stacks_by_column_name() -> None:
    a = pa.table({"x": [1, 2], "y": ["p", "q"]})
    b = pa.table({"y": ["r"], "x": [3], "z": [True]})

    combined = combine_sources([_loaded(a, "a"), _loaded(b, "b")])

    assert combined.to_pydict() == {"x": [1, 2, 3], "y": ["p", "q", "r"], "z": [None, None, True]}
    assert combine_sources([_loaded(a)]) is a


def test_combine_sources_with_clashing_types_is_a_data_error() -> None:
    a = pa.table({"x": [1, 2]})
    b = pa.table({"x": [True]})

    with pytest.raises(DataError, match="sources cannot be stacked") as info:
        combine_sources([_loaded(a, "a"), _loaded(b, "b")])
    assert info.value.where == "data/a.csv, data/b.csv"


def _labels() -> pd.Series:
    return pd.Series(["no"] * 60 + ["yes"] * 30 + ["maybe"] * 10, name="y")


def test_a_stratified_split_keeps_class_proportions(store: ArtifactStore) -> None:
    y = _labels()

    split = make_split(y, SplitSpec(test_size=0.2, seed=3), classification=True, store=store)
    train, test = split.indices(store)

    assert (split.n_train, split.n_test, split.stratified, split.seed) == (80, 20, True, 3)
    assert len(train) == 80 and len(test) == 20
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    assert Counter(y.iloc[test]) == {"no": 12, "yes": 6, "maybe": 2}
    assert Counter(y.iloc[train]) == {"no": 48, "yes": 24, "maybe": 8}
    assert list(train) == sorted(train) and list(test) == sorted(test)


def test_a_split_is_deterministic_for_a_seed(store: ArtifactStore, tmp_path: Path) -> None:
    y = _labels()
    spec = SplitSpec(test_size=0.25, seed=11)

    first = make_split(y, spec, classification=True, store=store)
    again = make_split(y, spec, classification=True, store=ArtifactStore(tmp_path / "other"))
    other_seed = make_split(y, SplitSpec(test_size=0.25, seed=12), classification=True, store=store)

    assert first == again
    assert other_seed.artifact != first.artifact
    assert DataSplit.from_json(first.to_json()) == first


def test_regression_and_unstratified_splits(store: ArtifactStore) -> None:
    y = pd.Series(np.linspace(0, 1, 40))

    regression = make_split(y, SplitSpec(test_size=0.25), classification=False, store=store)
    unstratified = make_split(_labels(), SplitSpec(stratify=False), classification=True, store=store)

    assert (regression.n_train, regression.n_test, regression.stratified) == (30, 10, False)
    assert unstratified.stratified is False


def test_a_class_with_one_row_cannot_be_stratified(store: ArtifactStore) -> None:
    y = pd.Series(["a"] * 10 + ["b"] * 10 + ["rare"])

    with pytest.raises(DataError, match="some classes have fewer than 2 rows") as info:
        make_split(y, SplitSpec(), classification=True, store=store)

    assert info.value.found == "'rare' (1)"
    assert "stratify: false" in (info.value.hint or "")
    assert list(store.root.rglob("*")) == []


def test_a_test_split_too_small_for_every_class_is_a_data_error(store: ArtifactStore) -> None:
    y = pd.Series(["a", "a", "b", "b", "c", "c"])

    with pytest.raises(DataError, match="cannot split the data"):
        make_split(y, SplitSpec(test_size=0.1), classification=True, store=store)
