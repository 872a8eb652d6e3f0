"""The input encoder: medians and scaling for numbers; categories as text, with missing, infrequent
and unseen values handled the documented way, for both encodings."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from aiforge.learn._encode import TabularEncoder


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [30.0, np.nan, 50.0, 40.0, 20.0, 60.0],
        "colour": ["red", "blue", None, "red", "green", "red"],
        "flag": pd.array([True, False, None, True, True, False], dtype="boolean"),
    })


def test_numbers_take_the_training_median_and_are_standardised_on_request() -> None:
    frame = _frame()
    plain = TabularEncoder(["age"], [], encoding="ordinal").fit(frame)
    scaled = TabularEncoder(["age"], [], encoding="onehot", scale=True).fit(frame)

    assert plain.transform(frame)[:, 0].tolist() == [30.0, 40.0, 50.0, 40.0, 20.0, 60.0]
    out = scaled.transform(frame)[:, 0]
    assert abs(out.mean()) < 1e-12 and abs(out.std() - 1) < 1e-12
    empty = TabularEncoder(["x"], []).fit(pd.DataFrame({"x": [np.nan, np.nan]}))
    assert empty.transform(pd.DataFrame({"x": [np.nan, 2.0]}))[:, 0].tolist() == [0.0, 2.0]


def test_ordinal_codes_follow_text_order_with_missing_as_a_category_and_unseen_as_minus_one() -> None:
    encoder = TabularEncoder([], ["colour", "flag"], encoding="ordinal").fit(_frame())

    assert encoder.categories_[0].tolist() == ["(missing)", "blue", "green", "red"]
    assert encoder.categories_[1].tolist() == ["(missing)", "False", "True"]
    new = pd.DataFrame({"colour": ["red", "purple", np.nan], "flag": pd.array([None, True, False], dtype="boolean")})
    assert encoder.transform(new).tolist() == [[3.0, 0.0], [-1.0, 2.0], [0.0, 1.0]]


def test_text_is_what_is_written_so_true_and_the_string_true_are_one_category() -> None:
    encoder = TabularEncoder([], ["answer"]).fit(pd.DataFrame({"answer": pd.Series([True, "True", 1, "1"],
                                                                                   dtype=object)}))

    assert encoder.categories_[0].tolist() == ["1", "True"]
    assert encoder.transform(pd.DataFrame({"answer": ["True", True, 1.0]}))[:, 0].tolist() == [1.0, 1.0, -1.0]


def test_rare_levels_share_the_last_ordinal_code_when_there_are_too_many() -> None:
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]
    encoder = TabularEncoder([], ["k"], encoding="ordinal", max_categories=3).fit(pd.DataFrame({"k": values}))

    assert encoder.categories_[0].tolist() == ["a", "b"]
    assert encoder.infrequent_[0].tolist() == ["c", "d", "e"]
    assert encoder.transform(pd.DataFrame({"k": ["a", "b", "c", "e", "z"]}))[:, 0].tolist() == [0, 1, 2, 2, -1]


def test_onehot_has_a_column_per_frequent_level_and_one_for_the_infrequent_and_unseen() -> None:
    values = ["a"] * 6 + ["b"] * 5 + ["c"] * 2
    encoder = TabularEncoder([], ["k"], encoding="onehot", min_frequency=5).fit(pd.DataFrame({"k": values}))

    assert encoder.get_feature_names_out().tolist() == ["k=a", "k=b", "k=(infrequent)"]
    out = encoder.transform(pd.DataFrame({"k": ["b", "c", "never seen", "a"]}))
    assert out.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]]


def test_onehot_without_infrequent_levels_leaves_an_unseen_category_all_zero() -> None:
    encoder = TabularEncoder(["age"], ["colour"], encoding="onehot").fit(_frame())

    assert encoder.get_feature_names_out().tolist() == [
        "age", "colour=(missing)", "colour=blue", "colour=green", "colour=red"]
    assert encoder.transform(pd.DataFrame({"age": [1.0], "colour": ["purple"]})).tolist() == [[1.0, 0, 0, 0, 0]]


def test_the_encoder_pickles_and_refuses_an_unknown_encoding() -> None:
    encoder = TabularEncoder(["age"], ["colour"], encoding="onehot").fit(_frame())
    again = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(again.transform(_frame()), encoder.transform(_frame()))
    with pytest.raises(ValueError, match="encoding must be ordinal or onehot"):
        TabularEncoder([], ["colour"], encoding="target").fit(_frame())


@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
@pytest.mark.parametrize("scale", [False, True])
def test_records_given_by_column_encode_as_the_frame_does_one_by_one_or_together(encoding: str, scale: bool) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=300), "n": rng.integers(0, 9, 300).astype(float),
                          "c": rng.choice(["a", "b", "c", "rare"], 300, p=[0.5, 0.3, 0.19, 0.01]),
                          "flag": rng.choice([True, False], 300)})
    train.loc[::7, "x"] = np.nan
    encoder = TabularEncoder(numeric=["x", "n"], categorical=["c", "flag"], encoding=encoding, scale=scale,
                             min_frequency=5).fit(train)
    records = [{"x": 1.5, "n": 3, "c": "a", "flag": True}, {"x": None, "n": float("nan"), "c": None, "flag": "True"},
               {"x": -2, "n": 8, "c": "rare", "flag": False}, {"x": 0.0, "n": 1, "c": "never seen", "flag": 1},
               {"x": float("nan"), "n": None, "c": float("nan"), "flag": None}]
    for record in records:
        one = encoder.transform_columns({k: [v] for k, v in record.items()}, 1)
        np.testing.assert_array_equal(one, encoder.transform(pd.DataFrame([record], dtype=object)))
    together = encoder.transform_columns({k: [r[k] for r in records] for k in records[0]}, len(records))
    np.testing.assert_array_equal(together, np.vstack([encoder.transform_columns({k: [v] for k, v in r.items()}, 1)
                                                       for r in records]))
