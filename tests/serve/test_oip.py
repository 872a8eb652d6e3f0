"""Open Inference Protocol tensors read into a model's input columns, without a server."""

from __future__ import annotations

import pytest

from aiforge.serve import FieldKind, InvalidInput
from aiforge.serve._oip import RequestInput, columns_from_tensors
from aiforge.serve._schema import InputField, InputSchema

SCHEMA = InputSchema((InputField("age", FieldKind.NUMBER, "INT64"), InputField("city", FieldKind.CATEGORY, "BYTES")))


def _tensors(age: list[object], datatype: str = "INT64") -> list[RequestInput]:
    return [RequestInput(name="age", shape=[len(age)], datatype=datatype, data=age),
            RequestInput(name="city", shape=[len(age)], datatype="BYTES", data=["Oslo"] * len(age))]


def test_an_integer_tensor_takes_integral_json_numbers_however_they_are_written() -> None:
    """JSON has one number type: 39.0 is as much an INT64 as 39 (the fuzzer's schema-valid requests
    were refused with 422 before)."""
    columns = columns_from_tensors(SCHEMA, _tensors([39, 40.0, None, -3.0]), max_records=10)
    assert columns == {"age": [39, 40.0, None, -3.0], "city": ["Oslo"] * 4}


@pytest.mark.parametrize(("age", "datatype", "error"), [
    ([39.5], "INT64", "not a INT64 value: 39.5"),
    ([True], "INT64", "not a INT64 value: True"),
    (["39"], "INT32", "not a INT32 value: '39'"),
    ([float("inf")], "INT64", "not a INT64 value: inf"),
])
def test_an_integer_tensor_refuses_what_is_not_an_integer(age: list[object], datatype: str, error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        columns_from_tensors(SCHEMA, _tensors(age, datatype), max_records=10)
    assert [(e.record, e.field, e.error) for e in caught.value.errors] == [(0, "age", error)]
