"""The Open Inference Protocol (KServe v2) shapes: metadata, infer request and response, and the
conversion between tensors and a model's input columns.

One input tensor per column, shape ``[n]`` or ``[n, 1]``: ``BYTES`` for categories (``BOOL`` or numbers
are read as their text), ``FP64``/``INT64`` (any integer or float type) for numbers; ``null`` is a
missing value. Outputs: ``label`` (BYTES, or the labels' own type) and ``probability`` (FP64, shape
``[n, classes]``, the class order in its ``parameters.classes``) for classification; ``value`` (FP64)
for regression; ``text`` (BYTES) for text generation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiforge.serve._schema import FieldError, FieldKind, InputSchema, check_batch_size, check_values, invalid

__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "MetadataTensor",
    "ModelMetadata",
    "RequestInput",
    "RequestOutput",
    "ResponseOutput",
    "ServerMetadata",
    "columns_from_tensors",
    "metadata_tensors",
]

Datatype = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                   "FP16", "FP32", "FP64", "BYTES"]
_INTEGER = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"})
_FLOAT = frozenset({"FP16", "FP32", "FP64"})


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerMetadata(_Shape):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(_Shape):
    name: str
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any] | None = None


class ModelMetadata(_Shape):
    name: str
    versions: list[str] = Field(description="The versions that may be served (accepted by their KPI gate).")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="aiforge: the version answering, its task, classes, learner.")


class RequestInput(_Shape):
    name: str
    shape: list[int]
    datatype: Datatype
    data: list[Any] = Field(description="Row-major values (flat, or nested by row); null is a missing value.")
    parameters: dict[str, Any] | None = None


class RequestOutput(_Shape):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(_Shape):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(None, description="The outputs wanted (default: all).")


class ResponseOutput(_Shape):
    name: str
    shape: list[int]
    datatype: Datatype
    data: list[Any]
    parameters: dict[str, Any] | None = None


class InferenceResponse(_Shape):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


def columns_from_tensors(schema: InputSchema, inputs: list[RequestInput], *, max_records: int) -> dict[str, list[Any]]:
    """One list of values per model input from the request's tensors, or ``InvalidInput``."""
    by_field = {f.name: f for f in schema.fields}
    errors: list[FieldError] = []
    columns: dict[str, list[Any]] = {}
    for tensor in inputs:
        f = by_field.get(tensor.name)
        if f is None:
            errors.append(FieldError(None, tensor.name, "not an input of the model"))
            continue
        if tensor.name in columns:
            errors.append(FieldError(None, tensor.name, "sent twice"))
            continue
        if f.kind is FieldKind.NUMBER and tensor.datatype not in _INTEGER | _FLOAT:
            errors.append(FieldError(None, f.name, f"a numeric input: send it as FP64 or INT64, not {tensor.datatype}"))
            continue
        data = _flatten(tensor.data)
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            errors.append(FieldError(None, f.name, f"shape {tensor.shape}: expected [n] or [n, 1]"))
            continue
        if data is None or len(data) != tensor.shape[0]:
            found = "nested arrays" if data is None else f"{len(data)} values"
            errors.append(FieldError(None, f.name, f"shape {tensor.shape} does not match the data ({found})"))
            continue
        errors += _datatype_errors(f.name, tensor.datatype, data)
        columns[f.name] = data
    errors += [FieldError(None, name, "missing input tensor") for name in schema.names if name not in columns
               and not any(e.field == name for e in errors)]
    if errors:
        raise invalid(errors, "input tensors")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name} {len(v)}" for name, v in columns.items())
        raise invalid([FieldError(None, None, f"every input tensor must hold the same number of rows: {sizes}")],
                      "input tensors")
    check_batch_size(lengths.pop(), max_records, "input tensors")
    for f in schema.fields:
        errors += check_values(f, columns[f.name])
    if errors:
        raise invalid(errors, "input tensors")
    return columns


def _flatten(data: list[Any]) -> list[Any] | None:
    """Flat row-major values; ``[[a], [b]]`` (shape ``[n, 1]`` nested by row) becomes ``[a, b]``."""
    if not any(type(v) is list for v in data):
        return data
    if all(type(v) is list and len(v) == 1 and type(v[0]) is not list for v in data):
        return [v[0] for v in data]
    return None


def _datatype_errors(name: str, datatype: str, data: list[Any]) -> list[FieldError]:
    """Values that do not have the tensor's declared datatype (null is allowed: a missing value)."""
    if datatype == "BYTES":
        accepts: Any = (str,)
    elif datatype == "BOOL":
        accepts = (bool,)
    elif datatype in _INTEGER:
        accepts = (int,)
    else:
        accepts = (int, float)
    integral = datatype in _INTEGER  # JSON has one number type: 3.0 is an integer as much as 3 is
    return [FieldError(i, name, f"not a {datatype} value: {v!r}"[:120]) for i, v in enumerate(data)
            if v is not None and type(v) not in accepts and not (integral and type(v) is float and v.is_integer())]


def metadata_tensors(schema: InputSchema) -> list[MetadataTensor]:
    return [MetadataTensor(name=f.name, datatype=f.datatype, shape=[-1]) for f in schema.fields]
