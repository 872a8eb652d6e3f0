"""The plain JSON API's shapes: records in; predictions, explanations and model listings out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErrorBody",
    "ExplainRequest",
    "ExplainResponse",
    "FeedbackRequest",
    "FeedbackResponse",
    "FieldErrorBody",
    "ModelSummary",
    "Outcome",
    "Prediction",
    "PredictRequest",
    "PredictResponse",
    "VersionSummary",
]

Label = str | int | float | bool


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(_Shape):
    records: list[dict[str, Any]] = Field(
        min_length=1, description="One object per record, keyed by input column; every input is required "
        "(null is a missing value) and no other key is allowed. At most the server's max batch size.",
        examples=[[{"age": 39, "workclass": "State-gov", "hours_per_week": 40}]],
    )


class Prediction(_Shape):
    id: str = Field(description="A unique id of this prediction (UUID).")
    label: Label | None = Field(None, description="Classification: the predicted class.")
    probabilities: dict[str, float] | None = Field(None, description="Classification: probability per class.")
    value: float | None = Field(None, description="Regression: the predicted value.")
    text: str | None = Field(None, description="Text generation: the generated text.")


class PredictResponse(_Shape):
    model: str
    version: int
    predictions: list[Prediction]


class ExplainRequest(PredictRequest):
    top: int | None = Field(10, ge=1, description="Contributions listed per record, largest first; the rest "
                            "are summed in 'other' (null: all).")


class Contribution(_Shape):
    feature: str
    value: Any
    contribution: float


class OtherContributions(_Shape):
    features: int
    contribution: float


class ExplainedRecord(_Shape):
    base: float = Field(description="The average output; base + the contributions (and 'other') = output.")
    output: float
    space: str = Field(description="What the output is (e.g. the log-odds of a class).")
    contributions: list[Contribution]
    explained: str | None = None
    other: OtherContributions | None = None


class ExplainResponse(_Shape):
    name: str
    version: int
    learner: str
    method: str
    space: str
    features: list[str]
    seconds: float
    note: str
    rows: list[ExplainedRecord]


class Outcome(_Shape):
    id: str = Field(min_length=1, max_length=64, description="The id of a prediction the server returned.")
    outcome: Label | None = Field(description="What was observed: the true label, or a number such as a "
                                  "conversion (0/1) or an amount.")


class FeedbackRequest(_Shape):
    outcomes: list[Outcome] = Field(min_length=1, max_length=10_000)


class FeedbackResponse(_Shape):
    stored: int


class VersionSummary(_Shape):
    version: int
    status: str
    alias: str | None
    learner: str
    created_at: str


class ModelSummary(_Shape):
    name: str
    served_version: int | None = Field(description="The version /v1/models/{name}/predict uses (null: none may "
                                       "answer: every version was rejected by its KPI gate).")
    versions: list[VersionSummary]


class FieldErrorBody(_Shape):
    record: int | None = Field(description="The record's (or tensor row's) position, from 0; null: the whole body.")
    field: str | None
    error: str


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in a sentence.")
    errors: list[FieldErrorBody] | None = Field(None, description="Invalid input: one entry per bad field.")
    more_errors: int | None = None
    code: str | None = None
    problems: list[dict[str, Any]] | None = Field(None, description="Where, expected, found, and a hint.")
    hint: str | None = None
