"""The ``data.steps`` of the project file: declarative ETL, run in DuckDB after the sources are read.

Each step is a one-key mapping, applied in order to the table ``data`` (the stacked sources that no
``join`` names):

```yaml
steps:
  - {select: [age, workclass, hours_per_week, income]}
  - {rename: {hours_per_week: hours}}
  - {cast: {age: INTEGER}}
  - {filter: "age >= 18"}
  - {derive: {capital_net: "capital_gain - capital_loss"}}
  - {join: {source: regions, keys: [zip], how: left}}
  - {aggregate: {by: [customer_id], columns: {spend: "sum(amount)", visits: "count(*)"}}}
  - {deduplicate: {on: [customer_id], order_by: updated_at, keep: last}}
  - {impute: {age: median, workclass: "Unknown"}}
  - {clip: {hours: {min: 1, max: 80}, income_k: {quantiles: [0.01, 0.99]}}}
```

Expressions are DuckDB SQL expressions over the current columns; they run with DuckDB's access to files
and the network switched off.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from aiforge.spec._nlp_steps import ExtractStep, NlpFeaturesStep

__all__ = ["STEP_KINDS", "AggregateStep", "CastStep", "ClipStep", "DeduplicateStep", "DeriveStep", "EtlStep",
           "FilterStep", "ImputeStep", "JoinStep", "RenameStep", "SelectStep"]

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _expression(text: str) -> str:
    if not text.strip():
        raise ValueError("an expression may not be empty")
    if ";" in text:
        raise ValueError(f"one SQL expression, without ';': {text!r}")
    return text


class SelectStep(_Strict):
    """Keep only some columns."""

    select: list[str] = Field(min_length=1, description="Keep these columns, in this order.")


class RenameStep(_Strict):
    """Rename columns."""

    rename: dict[str, Annotated[str, Field(pattern=IDENT)]] = Field(min_length=1, description="old: new")


class CastStep(_Strict):
    """Convert columns to another type."""

    cast: dict[str, Literal["BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMPTZ"]] \
        = Field(min_length=1, description="column: type; a value that does not convert is an error naming it.")


class FilterStep(_Strict):
    """Keep the rows that meet a condition."""

    filter: str = Field(description="Keep the rows where this SQL condition is true.")

    @field_validator("filter")
    @classmethod
    def _one(cls, text: str) -> str:
        return _expression(text)


class DeriveStep(_Strict):
    """Add or replace columns computed from the others."""

    derive: dict[Annotated[str, Field(pattern=IDENT)], str] = Field(
        min_length=1, description="new (or replaced) column: SQL expression over the current columns.")

    @field_validator("derive")
    @classmethod
    def _each(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _expression(text)
        return value


class Join(_Strict):
    """Which source to join, on which keys, and how."""

    source: str = Field(min_length=1, description="The name of another source in data.sources.")
    keys: list[str] | dict[str, str] = Field(description="Key columns present on both sides, or "
                                           "{column here: column there}.")
    how: Literal["inner", "left", "right", "full"] = Field("left", description="inner: matching rows only; left: "
                                                           "every row here; right: every row there; full: both.")

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        if not value:
            raise ValueError("a join needs at least one key column")
        return value


class JoinStep(_Strict):
    """Join another source (named in data.sources) to the data."""

    join: Join = Field(description="{source: NAME, keys: [...], how: left}")


class Aggregate(_Strict):
    """Group columns and the aggregates computed per group."""

    by: list[str] = Field(min_length=1, description="The group columns (kept).")
    columns: dict[Annotated[str, Field(pattern=IDENT)], str] = Field(
        min_length=1, description="new column: aggregate SQL expression, e.g. sum(amount), count(*).")

    @field_validator("columns")
    @classmethod
    def _each(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _expression(text)
        return value


class AggregateStep(_Strict):
    """One row per group, with aggregate columns."""

    aggregate: Aggregate = Field(description="{by: [...], columns: {new: aggregate expression}}")


class Deduplicate(_Strict):
    """Which rows are duplicates, and which of them is kept."""

    on: list[str] | None = Field(None, description="Rows equal on these columns are duplicates (default: all).")
    order_by: str | None = Field(None, description="Which duplicate to keep, in this column's order.")
    keep: Literal["first", "last"] = Field("first", description="The first or the last duplicate (last needs "
                                           "order_by).")

    @model_validator(mode="after")
    def _order_for_keep(self) -> Deduplicate:
        if self.keep == "last" and self.order_by is None:
            raise ValueError("keep: last needs order_by (which row is last?)")
        return self


class DeduplicateStep(_Strict):
    """Drop duplicate rows."""

    deduplicate: Deduplicate = Field(Deduplicate(), description="{on: [...], order_by: COLUMN, keep: first|last}; "
                                     "{} compares whole rows.")


class ImputeStep(_Strict):
    """Fill missing values."""

    impute: dict[str, float | int | str | bool] = Field(
        min_length=1, description="column: mean | median | mode | a constant, for its missing values.")


class Clip(_Strict):
    """Bounds for one column: min and/or max, or quantiles."""

    min: float | None = Field(None, description="Values below become this.")
    max: float | None = Field(None, description="Values above become this.")
    quantiles: tuple[float, float] | None = Field(None, description="Clip to these quantiles of the column, "
                                                  "e.g. [0.01, 0.99].")

    @model_validator(mode="after")
    def _bounds(self) -> Clip:
        if self.quantiles is not None:
            low, high = self.quantiles
            if not 0 <= low < high <= 1:
                raise ValueError(f"quantiles must be increasing within [0, 1]; got {list(self.quantiles)}")
            if self.min is not None or self.max is not None:
                raise ValueError("give min/max or quantiles, not both")
        elif self.min is None and self.max is None:
            raise ValueError("give min, max or quantiles")
        elif self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ClipStep(_Strict):
    """Bound numeric columns."""

    clip: dict[str, Clip] = Field(min_length=1, description="column: {min, max} or {quantiles: [low, high]}.")


_STEPS: dict[str, type[BaseModel]] = {
    "select": SelectStep, "rename": RenameStep, "cast": CastStep, "filter": FilterStep, "derive": DeriveStep,
    "join": JoinStep, "aggregate": AggregateStep, "deduplicate": DeduplicateStep, "impute": ImputeStep,
    "clip": ClipStep, "nlp_features": NlpFeaturesStep, "extract": ExtractStep,
}
STEP_KINDS = tuple(_STEPS)


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = list(value)
        return keys[0] if len(keys) == 1 and keys[0] in _STEPS else None
    for kind, model in _STEPS.items():
        if isinstance(value, model):
            return kind
    return None


EtlStep = Annotated[
    Annotated[SelectStep, Tag("select")] | Annotated[RenameStep, Tag("rename")] | Annotated[CastStep, Tag("cast")]
    | Annotated[FilterStep, Tag("filter")] | Annotated[DeriveStep, Tag("derive")] | Annotated[JoinStep, Tag("join")]
    | Annotated[AggregateStep, Tag("aggregate")] | Annotated[DeduplicateStep, Tag("deduplicate")]
    | Annotated[ImputeStep, Tag("impute")] | Annotated[ClipStep, Tag("clip")]
    | Annotated[NlpFeaturesStep, Tag("nlp_features")] | Annotated[ExtractStep, Tag("extract")],
    Discriminator(_kind, custom_error_type="step_kind",
                  custom_error_message="a step is one of: " + ", ".join(_STEPS) + " (one key per step)"),
]
