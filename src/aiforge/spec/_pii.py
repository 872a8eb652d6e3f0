"""The personal-data sections of the project file: ``data.pii`` (what to do with each column that holds
personal data), ``data.pii_policy`` (what to do with personal data found in a column no action names) and
``data.k_anonymity`` (the smallest group the quasi-identifiers may leave).

```yaml
data:
  pii:
    - {column: email, action: pseudonymise}            # HMAC-SHA256, keyed by $AIFORGE_PSEUDONYM_KEY
    - {column: age, action: generalise, bins: [0, 18, 30, 45, 65, 120]}
    - {column: zip, action: generalise, truncate: 3}
    - {column: name, action: drop}
  pii_policy: {on_undeclared: fail}
  k_anonymity: {quasi_identifiers: [age, zip, sex], k: 5}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

__all__ = ["DEFAULT_KEY_ENV", "KAnonymitySpec", "PiiAction", "PiiPolicy"]

DEFAULT_KEY_ENV = "AIFORGE_PSEUDONYM_KEY"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiAction(_Strict):
    """What happens to one column before the data are snapshotted: the raw values never reach the workspace."""

    column: str = Field(min_length=1, description="The column (after data.steps).")
    action: Literal["drop", "pseudonymise", "generalise"] = Field(
        description="drop: remove the column; pseudonymise: replace each value by a keyed HMAC-SHA256 token "
        "(same value and key, same token: joins and group counts keep working); generalise: coarser values "
        "(bins: or truncate:)."
    )
    key_env: str = Field(DEFAULT_KEY_ENV, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                         description="pseudonymise: the environment variable holding the secret key.")
    bins: list[float] | None = Field(None, min_length=2, description="generalise: ascending bin edges for a "
                                     "numeric column; each value becomes its bin's label, e.g. '[18, 30)'.")
    truncate: StrictInt | None = Field(None, ge=1, description="generalise: keep the first this many characters "
                                       "(a postcode 94110 becomes 941).")

    @model_validator(mode="after")
    def _options(self) -> PiiAction:
        if self.action == "generalise":
            if (self.bins is None) == (self.truncate is None):
                raise ValueError(f"generalise of '{self.column}' needs exactly one of bins: [edges] or truncate: n")
            if self.bins is not None and any(a >= b for a, b in zip(self.bins, self.bins[1:], strict=False)):
                raise ValueError(f"bins of '{self.column}' must be strictly ascending, got {self.bins}")
        elif self.bins is not None or self.truncate is not None:
            raise ValueError(f"bins: and truncate: apply to action: generalise, not {self.action}")
        if self.action != "pseudonymise" and self.key_env != DEFAULT_KEY_ENV:
            raise ValueError(f"key_env applies to action: pseudonymise, not {self.action}")
        return self


class PiiPolicy(_Strict):
    """How personal data are looked for on ingest, and what happens when a column no action names holds some."""

    on_undeclared: Literal["warn", "fail"] = Field(
        "warn", description="warn: report it (snapshot profile, run report); fail: stop the run before anything "
        "is written, naming the columns and what they hold.")
    sample_rows: StrictInt = Field(1000, ge=10, description="Rows of each column examined.")
    min_share: float = Field(0.05, gt=0, le=1, description="A column is reported when at least this share of "
                             "its sampled values hold a kind of personal data.")
    names: bool = Field(True, description="Look for person names with spaCy's small English model, when it is "
                        "installed (the pii-names extra); without it names are skipped and the report says so.")


class KAnonymitySpec(_Strict):
    """Every combination of the quasi-identifiers' values (after data.pii) must be shared by at least k rows."""

    quasi_identifiers: list[str] = Field(min_length=1, description="Columns that together could single a "
                                         "person out, e.g. [age, zip, sex].")
    k: StrictInt = Field(5, ge=2, description="The smallest group allowed.")

    @model_validator(mode="after")
    def _distinct(self) -> KAnonymitySpec:
        if len(set(self.quasi_identifiers)) != len(self.quasi_identifiers):
            raise ValueError(f"quasi_identifiers repeat a column: {self.quasi_identifiers}")
        return self
