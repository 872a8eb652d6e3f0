"""What changed between two snapshots: the schema (columns added, removed, retyped), the row count, and per
column the missing rate, the mean and the distribution (PSI and Jensen–Shannon distance over ten
equal-frequency bins of the first snapshot for numbers; over the categories for the rest)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.data._divergence import jensen_shannon, psi

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["ColumnChange", "SnapshotDiff", "diff_tables"]

BINS = 10
TOP = 10


@dataclass(frozen=True)
class ColumnChange:
    name: str
    kind: str  # numeric | categorical
    missing_a: float
    missing_b: float
    psi: float
    jensen_shannon: float
    mean_a: float | None = None
    mean_b: float | None = None
    shares: dict[str, tuple[float, float]] = field(default_factory=dict)  # categorical: the most changed

    @property
    def changed(self) -> bool:
        return self.psi >= 0.1 or abs(self.missing_b - self.missing_a) >= 0.05

    def to_json(self) -> dict[str, Any]:
        data = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in vars(self).items()}
        return data | {"changed": self.changed, "shares": {k: list(v) for k, v in self.shares.items()}}


@dataclass(frozen=True)
class SnapshotDiff:
    a: str
    b: str
    rows_a: int
    rows_b: int
    added: list[str]
    removed: list[str]
    retyped: list[tuple[str, str, str]]
    columns: list[ColumnChange]

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "rows_a": self.rows_a, "rows_b": self.rows_b, "added": self.added,
                "removed": self.removed, "retyped": [list(r) for r in self.retyped],
                "columns": [c.to_json() for c in self.columns]}


def diff_tables(a: pa.Table, b: pa.Table, *, a_id: str = "a", b_id: str = "b") -> SnapshotDiff:
    import pyarrow as pa

    names_a, names_b = a.column_names, b.column_names
    added = [n for n in names_b if n not in names_a]
    removed = [n for n in names_a if n not in names_b]
    retyped = [(n, str(a.schema.field(n).type), str(b.schema.field(n).type)) for n in names_a
               if n in names_b and a.schema.field(n).type != b.schema.field(n).type]
    columns = []
    for name in (n for n in names_a if n in names_b):
        x, y = a.column(name), b.column(name)
        numeric = all(pa.types.is_integer(c.type) or pa.types.is_floating(c.type) for c in (x, y))
        columns.append(_numeric(name, x, y) if numeric else _categorical(name, x, y))
    return SnapshotDiff(a_id, b_id, a.num_rows, b.num_rows, added, removed, retyped, columns)


def _numeric(name: str, x: pa.ChunkedArray, y: pa.ChunkedArray) -> ColumnChange:
    import numpy as np

    xa = _floats(x)
    ya = _floats(y)
    fx, fy = xa[np.isfinite(xa)], ya[np.isfinite(ya)]
    if len(fx) and len(fy):
        edges = np.unique(np.quantile(fx, np.linspace(0, 1, BINS + 1)[1:-1]))
        p = np.bincount(np.searchsorted(edges, fx, side="right"), minlength=len(edges) + 1) / len(fx)
        q = np.bincount(np.searchsorted(edges, fy, side="right"), minlength=len(edges) + 1) / len(fy)
        shift, js = psi(p, q), jensen_shannon(p, q)
    else:
        shift = js = 0.0
    return ColumnChange(name, "numeric", _missing(xa), _missing(ya), round(shift, 6), round(js, 6),
                        float(fx.mean()) if len(fx) else None, float(fy.mean()) if len(fy) else None)


def _categorical(name: str, x: pa.ChunkedArray, y: pa.ChunkedArray) -> ColumnChange:
    import numpy as np

    cx, cy = _counts(x), _counts(y)
    keys = sorted(set(cx) | set(cy))
    nx, ny = sum(cx.values()) or 1, sum(cy.values()) or 1
    p = np.asarray([cx.get(k, 0) / nx for k in keys])
    q = np.asarray([cy.get(k, 0) / ny for k in keys])
    order = np.argsort(-np.abs(q - p))[:TOP]
    shares = {keys[i]: (round(float(p[i]), 6), round(float(q[i]), 6)) for i in order if p[i] != q[i]}
    return ColumnChange(name, "categorical", x.null_count / len(x) if len(x) else 0.0,
                        y.null_count / len(y) if len(y) else 0.0, round(psi(p, q), 6), round(jensen_shannon(p, q), 6),
                        shares=shares)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    import numpy as np

    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def _missing(values: np.ndarray) -> float:
    import numpy as np

    return float(np.mean(~np.isfinite(values))) if len(values) else 0.0


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = pc.value_counts(column.cast(pa.string()) if not pa.types.is_string(column.type) else column)
    return {str(v["values"]): int(v["counts"]) for v in counted.to_pylist() if v["values"] is not None}

