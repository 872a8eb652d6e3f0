"""The history of a project's snapshots, and reading its sources from where the last run left off.

Each run's ingest records the snapshot it made (``SnapshotLog.record``): its parent (the project's previous
snapshot), and per source its rows and hash and, for an incremental source, the watermark reached and the
artifact holding the source's rows so far. ``read_sources`` reads the project's sources against the latest
record: an incremental source contributes its rows so far plus the rows above its watermark, and a stream (which
always resumes) its rows so far plus the entries after its last one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.data._incremental import extend
from aiforge.data._sources import LoadedSource, read_source, resumes
from aiforge.spec import SourceSpec

if TYPE_CHECKING:  # SQLAlchemy (under the workspace) is imported when a log is used: 'aiforge validate' stays light
    import pyarrow as pa

    from aiforge.workspace import ArtifactStore, SnapshotRow, Workspace

__all__ = ["SnapshotLog", "SnapshotRecord", "read_sources", "source_records"]


@dataclass(frozen=True)
class SnapshotRecord:
    project: str
    snapshot: str
    parent: str | None
    run_id: str
    created_at: datetime
    rows: int
    sources: list[dict[str, Any]] = field(default_factory=list)

    def source(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.sources if s.get("name") == name), None)

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "created_at": self.created_at.isoformat()}


class SnapshotLog:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def record(self, project: str, snapshot: str, *, run_id: str, rows: int, sources: list[dict[str, Any]],
               parent: str | None) -> SnapshotRecord:
        from aiforge.workspace import SnapshotRow

        with self.workspace.session() as s:
            row = SnapshotRow(project=project, snapshot=snapshot, parent=parent, run_id=run_id,
                              created_at=datetime.now(UTC), rows=rows, sources=sources)
            s.add(row)
            s.flush()
            return _record(row)

    def latest(self, project: str) -> SnapshotRecord | None:
        found = self.history(project, limit=1)
        return found[0] if found else None

    def history(self, project: str | None = None, limit: int = 50) -> list[SnapshotRecord]:
        from sqlalchemy import select

        from aiforge.workspace import SnapshotRow

        with self.workspace.session() as s:
            query = select(SnapshotRow).order_by(SnapshotRow.created_at.desc(), SnapshotRow.id.desc()).limit(limit)
            if project is not None:
                query = query.where(SnapshotRow.project == project)
            return [_record(r) for r in s.scalars(query)]


def _record(row: SnapshotRow) -> SnapshotRecord:
    return SnapshotRecord(row.project, row.snapshot, row.parent, row.run_id, row.created_at, row.rows,
                          list(row.sources or []))


def read_sources(specs: Sequence[SourceSpec], base_dir: Path, latest: SnapshotRecord | None,
                 load: Callable[[str], bytes] | None) -> list[LoadedSource]:
    """Read every source; an incremental one (or a stream) from the watermark of ``latest`` on, appended to its
    rows so far (``load`` fetches an artifact's bytes). Writes nothing (a stream's entries are acknowledged by
    each source's ``commit``, once the snapshot is written)."""
    import pyarrow.parquet as pq

    loaded = []
    for spec in specs:
        before = latest.source(spec.name) if latest is not None else None
        if not resumes(spec) or before is None or not before.get("rows_artifact") or load is None:
            loaded.append(read_source(spec, base_dir))
            continue
        delta = read_source(spec, base_dir, before.get("watermark"))
        previous: pa.Table = pq.read_table(io.BytesIO(load(before["rows_artifact"])))
        loaded.append(extend(previous, before["rows_artifact"], delta))
    return loaded


def source_records(loaded: Sequence[LoadedSource], store: ArtifactStore) -> list[dict[str, Any]]:
    """What a snapshot records of its sources; an incremental source's rows so far are stored as an artifact
    (unchanged rows keep theirs), so the next run starts from them."""
    import pyarrow.parquet as pq

    records = []
    for source in loaded:
        entry: dict[str, Any] = {"name": source.name, "location": source.location, "sha256": source.content_hash,
                                 "rows": source.table.num_rows}
        if source.added_rows is not None:
            artifact = source.parent if not source.added_rows and source.parent else None
            if artifact is None:
                buf = io.BytesIO()
                pq.write_table(source.table, buf, compression="zstd")
                artifact = store.put_bytes(buf.getvalue())
            entry |= {"watermark": source.watermark, "added_rows": source.added_rows, "rows_artifact": artifact,
                      "previous_rows_artifact": source.parent}
        records.append(entry)
    return records
