"""A served model's outputs, without a server: a record the model cannot score is a 422 naming it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from aiforge.serve import FieldKind, InputSchema, InvalidInput
from aiforge.serve._models import ServedModel
from aiforge.serve._schema import InputField
from aiforge.spec import TaskKind

SCHEMA = InputSchema((InputField("age", FieldKind.NUMBER, "FP64"),))


@dataclass
class Fixed:
    """A fitted model stand-in whose outputs are given."""

    task: TaskKind
    output: Any
    threshold: float = 0.5

    def predict_proba(self, frame: Any) -> Any:
        return self.output

    def predict(self, frame: Any) -> Any:
        return self.output


def _served(task: TaskKind, output: Any) -> ServedModel:
    return ServedModel(version=None, model=Fixed(task, output), schema=SCHEMA,  # type: ignore[arg-type]
                       classes=("no", "yes"), class_keys=("no", "yes"))


@pytest.mark.parametrize(("task", "output"), [
    (TaskKind.BINARY, np.array([[0.2, 0.8], [np.nan, np.nan], [0.5, 0.5], [np.nan, np.nan]])),
    (TaskKind.REGRESSION, np.array([1.0, np.inf, 2.0, np.nan])),
])
def test_a_record_the_model_cannot_score_is_a_422_naming_it(task: TaskKind, output: Any) -> None:
    """It was a 500 (the JSON encoder refuses NaN): the fuzzer found a linear model whose terms
    overflowed for values near 1e308."""
    with pytest.raises(InvalidInput) as caught:
        _served(task, output).predict_columns({"age": [1.0, 1e308, 2.0, -1e308]})
    assert [(e.record, e.field) for e in caught.value.errors] == [(1, "output"), (3, "output")]
    assert "not a number" in caught.value.errors[0].error and caught.value.http_status == 422


def test_finite_outputs_are_answered() -> None:
    outputs = _served(TaskKind.BINARY, np.array([[0.2, 0.8], [1.0, 0.0]])).predict_columns({"age": [1.0, 2.0]})
    assert outputs.labels == ["yes", "no"]
    assert _served(TaskKind.REGRESSION, np.array([3.5])).predict_columns({"age": [1.0]}).values == [3.5]
