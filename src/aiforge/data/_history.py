"""The history of a project's snapshots, and reading its sources from where the last run left off.

Each run's ingest records the snapshot it made (``SnapshotLog.record``): its parent (the project's previous
snapshot), and per source its rows and hash and, for an incremental source, the watermark reached and the
artifact holding the source's rows so far. ``read_sources`` reads the project's sources against the latest
record: an incremental source contributes its rows so far plus the rows above its watermark, and a stream (which
always resumes) its rows so far plus the entries after its last one. Each record keeps every source's columns and
types, against which the next read is checked (``aiforge.data._source_schema``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.data._incremental import extend
from aiforge.data._source_schema import SchemaChange, SchemaChanged, schema_changes, source_schema
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
                 load: Callable[[str], bytes] | None, *, accept_schema_change: bool = False) -> list[LoadedSource]:
    """Read every source; an incremental one (or a stream) from the watermark of ``latest`` on, appended to its
    rows so far (``load`` fetches an artifact's bytes). Writes nothing (a stream's entries are acknowledged by
    each source's ``commit``, once the snapshot is written).

    Each source as read (an incremental one's new rows) is compared with the columns ``latest`` recorded of it:
    columns gone or holding another kind of values raise ``SchemaChanged`` once every source is read, unless
    ``accept_schema_change`` (then each source carries its changes, for its record)."""
    import pyarrow.parquet as pq

    reads: list[tuple[LoadedSource, dict[str, Any] | None, list[SchemaChange]]] = []
    for spec in specs:
        before = latest.source(spec.name) if latest is not None else None
        resumed = resumes(spec) and before is not None and bool(before.get("rows_artifact")) and load is not None
        read = read_source(spec, base_dir, before.get("watermark") if resumed and before is not None else None)
        recorded = before.get("schema") if before is not None else None
        changes = schema_changes(spec.name, recorded, read.table) if recorded and read.table.num_rows else []
        reads.append((read, before if resumed else None, changes))
    found = [change for _, _, changes in reads for change in changes]
    if found and not accept_schema_change:
        assert latest is not None
        raise SchemaChanged(found, where=", ".join(read.location for read, _, changes in reads if changes),
                            snapshot=latest.snapshot)
    loaded = []
    for read, before, changes in reads:
        if changes:
            read = replace(read, schema_changes=tuple(change.describe() for change in changes))
        if before is not None:
            assert load is not None
            previous: pa.Table = pq.read_table(io.BytesIO(load(before["rows_artifact"])))
            read = extend(previous, before["rows_artifact"], read)
        loaded.append(read)
    return loaded


def source_records(loaded: Sequence[LoadedSource], store: ArtifactStore) -> list[dict[str, Any]]:
    """What a snapshot records of its sources; an incremental source's rows so far are stored as an artifact
    (unchanged rows keep theirs), so the next run starts from them."""
    import pyarrow.parquet as pq

    records = []
    for source in loaded:
        entry: dict[str, Any] = {"name": source.name, "location": source.location, "sha256": source.content_hash,
                                 "rows": source.table.num_rows, "schema": source_schema(source.table)}
        if source.schema_changes:
            entry["schema_changes_accepted"] = list(source.schema_changes)
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
