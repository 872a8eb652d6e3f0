"""The ``data.contract`` of the project file: what the data must look like before anything is trained on it.

```yaml
data:
  contract:
    rows: {min: 1000, max: 5000000}
    columns:
      age: {type: integer, nullable: false, min: 17, max: 100}
      sex: {allowed: [Male, Female]}
      customer_id: {unique: true, pattern: "^C[0-9]{6}$"}
      income: {max_missing: 0.01}
      updated_at: {type: timestamp, freshness: 2d}
```

The contract is checked on the data after ``data.steps``; a failing rule stops the run before training with
the rule, how many rows break it and a sample of them (``aiforge data check`` shows the same report).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

__all__ = ["ColumnRules", "Contract", "RowRules"]

PERIOD = r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRules(_Strict):
    """The rules one column must keep (every rule given is checked)."""

    type: Literal["integer", "float", "number", "string", "boolean", "timestamp", "date"] | None = Field(
        None, description="The column's kind of values (number: integer or float).")
    nullable: bool = Field(True, description="false: no value may be missing.")
    max_missing: float | None = Field(None, ge=0, le=1, description="The largest share of missing values.")
    min: float | str | None = Field(None, description="The smallest value (a date or timestamp as ISO text).")
    max: float | str | None = Field(None, description="The largest value.")
    allowed: list[str | int | float | bool] | None = Field(None, min_length=1, description="The only values "
                                                           "allowed (missing values aside).")
    unique: bool = Field(False, description="No value may appear twice (missing values aside).")
    pattern: str | None = Field(None, description="A regular expression every text value must match whole.")
    freshness: str | None = Field(None, pattern=PERIOD, description="The newest value must be at most this old "
                                  "(timestamps and dates): 6h, 2d, 1w.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _bounds(self) -> ColumnRules:
        if isinstance(self.min, float | int) and isinstance(self.max, float | int) and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RowRules(_Strict):
    """Bounds on the number of rows."""

    min: StrictInt | None = Field(None, ge=0, description="At least this many rows.")
    max: StrictInt | None = Field(None, ge=0, description="At most this many rows.")

    @model_validator(mode="after")
    def _bounds(self) -> RowRules:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"rows: min {self.min} is above max {self.max}")
        return self


class Contract(_Strict):
    """What the data must look like (after data.steps) before anything is trained on them."""

    rows: RowRules | None = Field(None, description="Bounds on the row count: {min: 1000, max: 5000000}.")
    columns: dict[str, ColumnRules] = Field(default_factory=dict, description="column: its rules, e.g. age: {type: "
                                            "integer, nullable: false, min: 17}.")
