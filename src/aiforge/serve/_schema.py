"""A served model's input schema (the columns it was trained on, numeric or categorical) and the
validation of incoming values against it, with one error per record and field.

Validation is plain Python over the JSON values and builds one column list per input, so a request
becomes a DataFrame once, from validated columns, with no pandas inference or re-checking on the way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["FieldError", "FieldKind", "InputField", "InputSchema", "InvalidInput"]

MAX_REPORTED_ERRORS = 100  # a response lists at most this many field errors (and says how many more)
_LARGEST = 1.7976931348623157e308  # an integer beyond a float's range cannot be a model input


class FieldKind(StrEnum):
    NUMBER = "number"  # JSON numbers; null is missing
    CATEGORY = "category"  # JSON strings (numbers and booleans are read as their text); null is missing
    TEXT = "text"  # free text (the text learners' inputs): read as categories are, logged as text, monitored as text


@dataclass(frozen=True)
class FieldError:
    """One bad value: which record (row of a tensor), which field, what is wrong. ``record`` and
    ``field`` are ``None`` when the error is about the whole body or batch."""

    record: int | None
    field: str | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "field": self.field, "error": self.error}


@dataclass
class InvalidInput(DataError):
    """A request's records do not fit the model's training schema (HTTP 422, one error per field)."""

    errors: list[FieldError] = field(default_factory=list)

    code = "input"
    http_status = 422

    def body(self) -> dict[str, Any]:
        shown = self.errors[:MAX_REPORTED_ERRORS]
        body: dict[str, Any] = {"error": self.message, "errors": [e.to_json() for e in shown]}
        if len(self.errors) > len(shown):
            body["more_errors"] = len(self.errors) - len(shown)
        if self.hint:
            body["hint"] = self.hint
        return body


def invalid(errors: list[FieldError], what: str = "records") -> InvalidInput:
    first = errors[0]
    where = f"record {first.record}, field '{first.field}'" if first.record is not None else first.field or "body"
    summary = f"{len(errors)} invalid value(s) in the {what}; first: {where}: {first.error}"
    return InvalidInput(summary, errors=errors, hint="GET /v2/models/{name} lists the inputs and their types")


@dataclass(frozen=True)
class InputField:
    """One input column: its name, how its values are read, and its Open Inference Protocol datatype."""

    name: str
    kind: FieldKind
    datatype: str  # FP64 | INT64 (numbers), BYTES | BOOL (categories)


@dataclass(frozen=True)
class InputSchema:
    """The inputs a record must hold, in the model's order; ``ignored`` are training columns the model
    does not use (named in the error when a record sends one)."""

    fields: tuple[InputField, ...]
    ignored: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: Any, sample: pa.Schema | None = None) -> InputSchema:
        """The schema of a fitted ``TabularModel``; ``sample`` (the stored training rows' Arrow schema)
        tells integer from float columns, and the kind of a column outside the feature set."""
        numeric = set(model.features.numeric)
        categorical = set(model.features.categorical)
        text = set(getattr(model.features, "text", ()))
        fields = []
        for name in model.input_columns:
            arrow_type = sample.field(name).type if sample is not None and name in sample.names else None
            if name in text:
                fields.append(InputField(name, FieldKind.TEXT, "BYTES"))
            elif name in numeric or (name not in categorical and _is_number(arrow_type)):
                integer = arrow_type is not None and _is_integer(arrow_type)
                fields.append(InputField(name, FieldKind.NUMBER, "INT64" if integer else "FP64"))
            else:
                boolean = arrow_type is not None and str(arrow_type) == "bool"
                fields.append(InputField(name, FieldKind.CATEGORY, "BOOL" if boolean else "BYTES"))
        return cls(tuple(fields), dict(model.features.ignored))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @cached_property
    def kinds(self) -> dict[str, str]:
        """Per input ``number``, ``category`` or ``text``: how the prediction log stores its column."""
        return {f.name: f.kind.value for f in self.fields}

    def columns_from_records(self, records: list[Any], *, max_records: int) -> dict[str, list[Any]]:
        """One list of values per input from JSON records, or ``InvalidInput`` naming every bad field."""
        check_batch_size(len(records), max_records, "records")
        names = self.names
        expected = set(names)
        columns: dict[str, list[Any]] = {name: [] for name in names}
        appenders = [(name, columns[name].append) for name in names]
        errors: list[FieldError] = []
        for i, record in enumerate(records):
            if type(record) is not dict:
                errors.append(FieldError(i, None, f"a record must be a JSON object, got {_json_type(record)}"))
                continue
            if len(record) != len(names) or not expected.issuperset(record):
                errors += self._shape_errors(i, record)
                continue
            for name, append in appenders:
                append(record[name])
        if errors:
            raise invalid(errors)
        for f in self.fields:
            errors += check_values(f, columns[f.name])
        if errors:
            raise invalid(errors)
        return columns

    def _shape_errors(self, i: int, record: dict[str, Any]) -> list[FieldError]:
        errors = [FieldError(i, name, "missing (send null for a missing value)")
                  for name in self.names if name not in record]
        known = set(self.names)
        for name in record:
            if name not in known:
                why = self.ignored.get(name)
                errors.append(FieldError(i, str(name), "not an input of the model"
                                         + (f" (ignored in training: {why})" if why else "")))
        return errors

    def frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """The DataFrame the model reads: numbers as float64 (null -> NaN), categories as objects."""
        import numpy as np
        import pandas as pd

        data: dict[str, Any] = {}
        for f in self.fields:
            values = columns[f.name]
            if f.kind is FieldKind.NUMBER:
                data[f.name] = np.array(values, dtype=np.float64)  # None -> NaN
            else:
                array = np.empty(len(values), dtype=object)
                array[:] = values
                data[f.name] = pd.Series(array, dtype=object, copy=False)
        return pd.DataFrame(data, copy=False)


def check_batch_size(n: int, max_records: int, what: str) -> None:
    if n == 0:
        raise invalid([FieldError(None, what, "empty: send at least one record")], what)
    if n > max_records:
        raise invalid([FieldError(None, what, f"{n} records exceed the limit of {max_records} per request; "
                                  "split the batch")], what)


def check_values(f: InputField, values: list[Any]) -> list[FieldError]:
    """Errors of one column's values: a number must be a finite JSON number; a category a string,
    number or boolean; null is a missing value everywhere."""
    errors = []
    if f.kind is FieldKind.NUMBER:
        for i, v in enumerate(values):
            t = type(v)
            if t is float:
                if not math.isfinite(v):
                    errors.append(FieldError(i, f.name, f"{v} is not allowed: send a finite number, or null when "
                                             "the value is missing"))
            elif t is int:
                if not -_LARGEST <= v <= _LARGEST:
                    errors.append(FieldError(i, f.name, "the number is too large"))
            elif v is not None:
                errors.append(FieldError(i, f.name, f"expected a number, got {_json_type(v)} {_short(v)}"))
    else:
        for i, v in enumerate(values):
            t = type(v)
            if t is str or t is bool or v is None:
                continue
            if t is int:
                if not -_LARGEST <= v <= _LARGEST:
                    errors.append(FieldError(i, f.name, "the number is too large to be a category"))
                continue
            if t is float:
                if not math.isfinite(v):
                    errors.append(FieldError(i, f.name, f"{v} is not allowed: send the category as text, or "
                                             "null when it is missing"))
                continue
            errors.append(FieldError(i, f.name, f"expected a category (text), got {_json_type(v)}"))
    return errors


def _is_number(arrow_type: Any) -> bool:
    if arrow_type is None:
        return False
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))


def _is_integer(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
