"""The right to erasure: rows matching a condition taken out of a project's data.

``erase_rows`` makes a new snapshot of the project — its latest one without the matching rows — and does the
same to the rows an incremental source or a stream has ingested so far, so that the next run resumes from
the erased rows. It records the erasure in the audit log (the condition, how many rows, which snapshots held
them) and lists the model versions trained on a snapshot that held them: they learned from the rows and
should be retrained (and, if the law requires, withdrawn). With ``purge``, the earlier snapshots (and rows
artifacts) that held them are deleted from the artifact store: the versions trained on them can no longer be
reproduced, which the result says.

The sources themselves (a CSV file, a database table) are not touched: a source that is read whole each run
would bring the rows back, which the result says too.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiforge.data import LoadedSource, SnapshotLog, SnapshotRecord, resumes, write_snapshot
from aiforge.errors import DataError
from aiforge.registry import ModelRegistry
from aiforge.workspace import AuditLog, Workspace

if TYPE_CHECKING:
    import pyarrow as pa

    from aiforge.spec import ProjectFile

__all__ = ["Erasure", "erase_rows"]


@dataclass(frozen=True)
class Erasure:
    project: str
    where: str
    removed: int  # rows taken out of the latest snapshot
    snapshot: str | None  # the new snapshot (None: no row matched, nothing written)
    parent: str
    holding: dict[str, int]  # every earlier snapshot or rows artifact that held matching rows: how many
    versions: list[dict[str, Any]]  # model versions trained on a snapshot that held them
    purged: list[str] = field(default_factory=list)
    sources_to_clean: list[str] = field(default_factory=list)  # sources read whole: erase there too

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def erase_rows(workspace: Workspace, project: str, where: str, *, actor: str, purge: bool = False,
               project_file: ProjectFile | None = None) -> Erasure:
    """Take the rows of ``project`` matching the SQL condition ``where`` out of its data (see the module)."""
    log = SnapshotLog(workspace)
    history = log.history(project, limit=1_000_000)
    if not history:
        raise DataError(f"project '{project}' has no snapshot to erase from",
                        hint="see the projects and their snapshots with 'aiforge data log'")
    latest = history[0]
    store = workspace.artifacts
    tables: dict[str, pa.Table] = {}

    def table(digest: str) -> pa.Table:
        import pyarrow.parquet as pq

        if digest not in tables:
            tables[digest] = pq.read_table(io.BytesIO(store.get_bytes(digest)))
        return tables[digest]

    holding: dict[str, int] = {}
    artifacts = {r.snapshot for r in history} | {s["rows_artifact"] for r in history for s in r.sources
                                                  if s.get("rows_artifact")}
    for digest in sorted(artifacts):
        if not store.exists(digest):
            continue  # purged by an earlier erasure
        count = _count(table(digest), where)
        if count:
            holding[digest] = count
    removed = holding.get(latest.snapshot, 0)
    new_snapshot = None
    if removed or any(holding.get(s.get("rows_artifact", "")) for s in latest.sources):
        new_snapshot = _rewrite(workspace, latest, where, table)
    trained_on = set(holding)
    versions = [{"name": v.name, "version": v.version, "status": v.status.value,
                 "alias": v.alias.value if v.alias else None, "snapshot": v.lineage.get("snapshot")}
                for v in ModelRegistry(workspace).versions(project) if v.lineage.get("snapshot") in trained_on]
    purged = []
    if purge:
        for digest in sorted(holding):
            if digest != new_snapshot and store.delete(digest):
                purged.append(digest)
    erasure = Erasure(project, where, removed, new_snapshot, latest.snapshot, holding, versions, purged,
                      _read_whole(project_file))
    AuditLog(workspace).append(actor, "data.erase", project, details={
        "where": where, "removed_rows": removed, "snapshot": new_snapshot, "parent": latest.snapshot,
        "holding": holding, "versions": [f"{v['name']} v{v['version']}" for v in versions], "purged": purged})
    return erasure


def _count(data: pa.Table, where: str) -> int:
    rows = _query(data, f"SELECT count(*) FROM data WHERE ({where})", arrow=False)
    return int(rows[0][0]) if rows else 0


def _kept(data: pa.Table, where: str) -> pa.Table:
    # a row is kept unless the condition is true for it (NULL is not true)
    result: pa.Table = _query(data, f"SELECT * EXCLUDE (aiforge_row) FROM (SELECT *, row_number() OVER () AS "
                                    f"aiforge_row FROM data) WHERE NOT coalesce(({where}), false) ORDER BY aiforge_row",
                              arrow=True)
    return result


def _query(data: pa.Table, sql: str, *, arrow: bool) -> Any:
    import duckdb

    con = duckdb.connect()
    try:
        con.register("data", data)
        con.execute("SET enable_external_access = false")
        relation = con.sql(sql)
        return relation.to_arrow_table() if arrow else relation.fetchall()
    except duckdb.Error as exc:
        raise DataError("the erasure condition cannot be evaluated", found=str(exc).splitlines()[0],
                        expected="a SQL condition over the snapshot's columns, e.g. customer_id = 42",
                        hint="see the columns with 'aiforge data log' and 'aiforge data diff'") from exc
    finally:
        con.close()


def _rewrite(workspace: Workspace, latest: SnapshotRecord, where: str, table: Any) -> str:
    import pyarrow.parquet as pq

    store = workspace.artifacts
    sources = []
    for entry in latest.sources:
        entry = dict(entry)
        if entry.get("rows_artifact"):
            kept = _kept(table(entry["rows_artifact"]), where)
            buf = io.BytesIO()
            pq.write_table(kept, buf, compression="zstd")
            entry["previous_rows_artifact"] = entry["rows_artifact"]
            entry["rows_artifact"] = store.put_bytes(buf.getvalue())
            entry["rows"] = kept.num_rows
            entry["added_rows"] = 0
        sources.append(entry)
    kept = _kept(table(latest.snapshot), where)
    loaded = [LoadedSource(s["name"], kept.slice(0, 0), s.get("sha256", ""), s.get("location", "")) for s in sources]
    snapshot = write_snapshot(kept, loaded, store)
    run_id = f"erasure-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    SnapshotLog(workspace).record(latest.project, snapshot.id, run_id=run_id, rows=snapshot.n_rows, sources=sources,
                                  parent=latest.snapshot)
    return snapshot.id


def _read_whole(project_file: ProjectFile | None) -> list[str]:
    if project_file is None:
        return ["(unknown: pass the project file to list the sources read whole each run)"]
    return [f"{s.name} ({s.type})" for s in project_file.spec.data.sources if not resumes(s)]
