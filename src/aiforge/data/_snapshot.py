"""Immutable dataset snapshots: Parquet bytes in the artifact store, named by their SHA-256, with a profile."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiforge.data._pii import PiiReport, mask
from aiforge.data._sources import LoadedSource
from aiforge.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from aiforge.workspace import ArtifactStore

__all__ = ["ColumnProfile", "DatasetSnapshot", "combine_sources", "profile_table", "write_snapshot"]

_QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


@dataclass(frozen=True)
class ColumnProfile:
    """What one column looks like: type, missing rate, distinct count, range or top values."""

    name: str
    dtype: str
    kind: str  # numeric | categorical | text (free text: aiforge.nlp's rule) | boolean | datetime | other
    missing_rate: float
    distinct: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    top_values: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSnapshot:
    """A versioned, immutable table: its id is the SHA-256 of its Parquet bytes."""

    id: str
    n_rows: int
    columns: list[ColumnProfile]
    sources: list[dict[str, str]]
    pii: PiiReport | None = None  # personal data found on ingest and what data.pii did (None: older snapshots)

    @property
    def artifact(self) -> str:
        return self.id

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pii"] = self.pii.to_json() if self.pii is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetSnapshot:
        cols = [
            ColumnProfile(**{**c, "top_values": [tuple(t) for t in c.get("top_values", [])]})
            for c in data["columns"]
        ]
        pii = PiiReport.from_json(data["pii"]) if data.get("pii") else None
        return cls(id=data["id"], n_rows=data["n_rows"], columns=cols, sources=data["sources"], pii=pii)

    def load(self, store: ArtifactStore) -> pd.DataFrame:
        """The snapshot as a DataFrame, after verifying its bytes."""
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(store.get_bytes(self.id))).to_pandas()


def combine_sources(loaded: list[LoadedSource]) -> pa.Table:
    """Stack the sources' rows by column name (missing columns become nulls)."""
    import pyarrow as pa

    if len(loaded) == 1:
        return loaded[0].table
    try:
        return pa.concat_tables([s.table for s in loaded], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            "sources cannot be stacked: a column has different types in different sources",
            where=", ".join(s.location for s in loaded),
            found=str(exc).splitlines()[0],
            hint="make the column types agree, or use a single source",
        ) from exc


def write_snapshot(table: pa.Table, loaded: list[LoadedSource], store: ArtifactStore,
                   pii: PiiReport | None = None) -> DatasetSnapshot:
    """Write ``table`` as a content-addressed Parquet snapshot and profile it. ``pii``: what was found and done
    on ingest; the top values of a column found to hold personal data that no action changed are masked."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    digest = store.put_bytes(buf.getvalue())
    sources = [{"name": s.name, "location": s.location, "sha256": s.content_hash} for s in loaded]
    columns = profile_table(table)
    if pii is not None:
        exposed = {f.column: next(iter(f.kinds)) for f in pii.undeclared}
        columns = [replace(c, top_values=[(mask(v, exposed[c.name]), n) for v, n in c.top_values])
                   if c.name in exposed else c for c in columns]
    return DatasetSnapshot(id=digest, n_rows=table.num_rows, columns=columns, sources=sources, pii=pii)


def profile_table(table: pa.Table) -> list[ColumnProfile]:
    """Per-column profile computed with Arrow kernels (no pandas copy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from aiforge.nlp._columns import text_reason

    out = []
    n = max(table.num_rows, 1)
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        missing = col.null_count / n
        distinct = len(pc.unique(col).drop_null())
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            valid = col.drop_null()
            if pa.types.is_floating(t):
                valid = valid.filter(pc.is_finite(valid))
            if len(valid):
                qs = pc.quantile(valid, q=list(_QUANTILES)).to_pylist()
                out.append(
                    ColumnProfile(
                        name, str(t), "numeric", missing, distinct,
                        min=float(pc.min(valid).as_py()), max=float(pc.max(valid).as_py()),
                        mean=float(pc.mean(valid).as_py()),
                        quantiles={f"p{int(q * 100)}": float(v) for q, v in zip(_QUANTILES, qs, strict=True)},
                    )
                )
            else:
                out.append(ColumnProfile(name, str(t), "numeric", missing, distinct))
        elif pa.types.is_boolean(t) or _is_text(t):
            counts = pc.value_counts(col.drop_null()).to_pylist()
            counts.sort(key=lambda d: (-d["counts"], str(d["values"])))
            top = [(str(d["values"]), int(d["counts"])) for d in counts[:10]]
            kind = "boolean" if pa.types.is_boolean(t) else "text" if text_reason(col) else "categorical"
            out.append(ColumnProfile(name, str(t), kind, missing, distinct, top_values=top))
        elif pa.types.is_temporal(t):
            out.append(ColumnProfile(name, str(t), "datetime", missing, distinct))
        else:
            out.append(ColumnProfile(name, str(t), "other", missing, distinct))
    return out


def _is_text(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t))
