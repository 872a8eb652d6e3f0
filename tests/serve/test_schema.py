"""The input schema of a served model and the validation of records against it, without a server."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from aiforge.learn import FeatureSet
from aiforge.serve import FieldKind, InputSchema, InvalidInput

FEATURES = FeatureSet(numeric=["age", "income"], categorical=["city", "member"], ignored={"id": "an identifier"})
SAMPLE = pa.schema([("age", pa.int64()), ("income", pa.float64()), ("city", pa.string()), ("member", pa.bool_()),
                    ("group", pa.int64())])


def _schema(extra: list[str] | None = None) -> InputSchema:
    model = SimpleNamespace(features=FEATURES, input_columns=[*FEATURES.columns, *(extra or [])])
    return InputSchema.from_model(model, SAMPLE)


def test_kinds_and_datatypes_come_from_the_features_and_the_training_rows() -> None:
    schema = _schema(extra=["group"])  # a post-processor's attribute outside the features: typed by the sample
    assert [(f.name, f.kind, f.datatype) for f in schema.fields] == [
        ("age", FieldKind.NUMBER, "INT64"), ("income", FieldKind.NUMBER, "FP64"),
        ("city", FieldKind.CATEGORY, "BYTES"), ("member", FieldKind.CATEGORY, "BOOL"),
        ("group", FieldKind.NUMBER, "INT64")]
    model = SimpleNamespace(features=FEATURES, input_columns=FEATURES.columns)
    assert [f.datatype for f in InputSchema.from_model(model).fields] == ["FP64", "FP64", "BYTES", "BYTES"]


def test_valid_records_become_one_frame_of_floats_and_objects() -> None:
    schema = _schema()
    records = [{"age": 30, "income": 1.5, "city": "Oslo", "member": True},
               {"age": None, "income": 2, "city": 7, "member": None}]
    frame = schema.frame(schema.columns_from_records(records, max_records=10))
    assert list(frame.columns) == ["age", "income", "city", "member"]
    assert frame["age"].dtype == np.float64 and np.isnan(frame["age"][1])
    assert frame["city"].dtype == object and frame["city"].tolist() == ["Oslo", 7]


def test_every_bad_field_is_reported_and_the_ignored_column_is_explained() -> None:
    schema = _schema()
    records = [{"age": "x", "income": float("nan"), "city": [], "member": True, "id": 3}, {"age": 1}]
    with pytest.raises(InvalidInput) as caught:
        schema.columns_from_records(records, max_records=10)
    found = [(e.record, e.field, e.error) for e in caught.value.errors]
    assert (0, "id", "not an input of the model (ignored in training: an identifier)") in found
    assert [(r, f) for r, f, _ in found] == [(0, "id"), (1, "income"), (1, "city"), (1, "member")]
    records[0].pop("id")
    with pytest.raises(InvalidInput) as caught:
        schema.columns_from_records(records[:1], max_records=10)
    assert [(e.field, e.error.split(",")[0]) for e in caught.value.errors] == [
        ("age", "expected a number"), ("income", "nan is not allowed: send a finite number"),
        ("city", "expected a category (text)")]


def test_a_response_lists_the_first_hundred_errors_and_counts_the_rest() -> None:
    schema = _schema()
    with pytest.raises(InvalidInput) as caught:
        schema.columns_from_records([{"age": "x", "income": "y", "city": "c", "member": 1}] * 80, max_records=100)
    body = caught.value.body()
    assert len(body["errors"]) == 100 and body["more_errors"] == 60
    assert body["error"].startswith("160 invalid value(s) in the records; first: record 0, field 'age'")
