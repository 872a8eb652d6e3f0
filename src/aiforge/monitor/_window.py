"""A window of the prediction log: the inputs and outputs a model saw over the last period or requests."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import AiforgeError
from aiforge.monitor._predlog import INPUT_PREFIX, scan_log

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["PredictionWindow", "parse_period", "prediction_window"]

_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_period(text: str) -> timedelta:
    """``30m``, ``6h``, ``1d``, ``2w`` as a duration."""
    match = _PERIOD.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise AiforgeError(f"cannot read the period '{text}'", expected="a number and a unit: 30m, 6h, 1d, 2w "
                           "(s, m, h, d, w)", found=text)
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class PredictionWindow:
    """``columns``: one row per logged prediction, one column per input, as read (an Arrow table; a DataFrame
    is taken too), which drift is counted on; ``inputs``: the same as a DataFrame, converted when first asked
    for; ``log``: the log rows (id, time, version, role, label, probabilities, value, latency)."""

    model: str
    start: datetime | None
    end: datetime | None
    columns: Any
    log: pd.DataFrame

    def __len__(self) -> int:
        return len(self.log)

    @functools.cached_property
    def inputs(self) -> pd.DataFrame:
        return self.columns.to_pandas() if hasattr(self.columns, "schema") else self.columns

    def rows(self, positions: Any) -> Any:
        """The inputs at ``positions`` (row numbers), in the type of ``columns``."""
        return self.columns.take(positions) if hasattr(self.columns, "schema") else self.columns.iloc[positions]


def prediction_window(folder: Path, model: str, *, period: timedelta | None = None, last: int | None = None,
                      version: int | None = None, now: datetime | None = None,
                      answered_only: bool = True) -> PredictionWindow:
    """The predictions of ``model`` in the log under ``folder``: those of the last ``period`` and/or the
    ``last`` ones, of one ``version`` if given. ``answered_only`` leaves out shadow copies (their inputs
    are the champion's rows again). Only the day folders and files that can hold rows of the period are
    opened, and with ``last`` the newest files first until they hold enough rows (see ``scan_log``)."""
    end = now or datetime.now(UTC)
    start = end - period if period is not None else None
    table = scan_log(folder, model, since=start, version=version, answered_only=answered_only, last=last)
    logged = [c for c in table.column_names if not c.startswith(INPUT_PREFIX)]
    inputs = table.drop_columns(logged)
    inputs = inputs.rename_columns([c[len(INPUT_PREFIX):] for c in inputs.column_names])
    log = table.select(logged).to_pandas()
    return PredictionWindow(model, start, end if len(log) else None, inputs, log)


def outputs_of(log: pd.DataFrame, positive: str | None) -> Any:
    """The logged outputs in the reference's terms: the positive class's probability (binary), the label
    (multiclass), the value (regression)."""
    if log["value"].notna().any():
        return log["value"].astype(float).to_numpy()
    if positive is not None:
        return probability_of(log["probabilities"], positive)
    return log["label"].to_numpy()


def probability_of(texts: Any, key: str) -> np.ndarray:
    """The ``key`` entry of each logged probabilities object (NaN where there is none), read by Arrow with
    one regular expression over the column rather than a JSON parse per row (five times faster). Both
    writers, old and new, write ``{"class": p, "other": q}``: ``json.dumps`` of the key, ``": "`` and
    ``", "``; anything else is parsed as JSON."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(texts, pa.string(), from_pandas=True)
    pattern = r"(?:^\{|, )" + re.escape(json.dumps(key)) + r": (?P<p>[-+0-9.eE]+)[,}]"
    try:
        found = pc.struct_field(pc.extract_regex(array, pattern), [0])
        values = pc.cast(found, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = np.array([np.nan if t is None else json.loads(t).get(key, np.nan) for t in array.to_pylist()],
                          dtype=float)
        return values
    missing = pc.and_(pc.invert(pc.is_valid(found)), pc.is_valid(array)).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(missing):  # a row the pattern did not match: another JSON layout, or no key
        values[i] = json.loads(array[i].as_py()).get(key, np.nan)
    return values
