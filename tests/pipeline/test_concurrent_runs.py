"""Four `aiforge run` processes at once on one workspace, on PostgreSQL and on SQLite: the registry numbers their
versions 1 to 4 with no gap or duplicate, every run record is complete, and racing promotions leave one holder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import workspace_databases
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project

from aiforge.pipeline import get_run, list_runs
from aiforge.registry import Alias, ModelRegistry, VersionStatus
from aiforge.workspace import Workspace, WorkspaceSettings

PROCESSES = 4


def _empty_postgres_database(tmp_path: Path) -> str:
    """A new, empty database (not from the migrated template): the four runs also race to migrate it."""
    if not workspace_databases.active():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{workspace_databases.SERVER_ENV} is not set: .ci/services.sh sets it")
        pytest.skip(f"no PostgreSQL server ({workspace_databases.SERVER_ENV} is not set)")
    url = workspace_databases.url_for(tmp_path / "race")
    assert url is not None
    name = url.rsplit("/", 1)[1]
    with workspace_databases._admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def _race(commands: list[list[str]], env: dict[str, str], cwd: Path) -> list[tuple[int, str]]:
    processes = [subprocess.Popen([str(EXE), *c], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for c in commands]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=300)
        results.append((process.returncode, out))
    return results


@pytest.mark.parametrize("store", ["postgresql", pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_four_runs_at_once_number_their_versions_without_gaps_or_duplicates(tmp_path: Path, store: str) -> None:
    env = serve_env(tmp_path / "ws")
    if store == "postgresql":
        env["AIFORGE_DB_URL"] = _empty_postgres_database(tmp_path)
    projects = []
    for seed in range(PROCESSES):  # one project, four seeds: four different models of 'income'
        folder = write_income_project(tmp_path / f"p{seed}", rows=400, learners="[linear]", checks=FAST_CHECKS,
                                      kpis="  - {metric: roc_auc, min: 0.5}")
        folder.write_text(folder.read_text().replace("seed: 7", f"seed: {seed + 1}"))
        projects.append(folder)

    runs = _race([["run", str(p)] for p in projects], env, tmp_path)
    assert [code for code, _ in runs] == [0] * PROCESSES, "\n\n".join(out for _, out in runs)

    settings = WorkspaceSettings(root=tmp_path / "ws", db_url=env.get("AIFORGE_DB_URL"))
    ws = Workspace.open(settings, create=False)
    try:
        assert ws.engine.dialect.name == store
        registry = ModelRegistry(ws)
        versions = registry.versions("income")
        assert [v.version for v in versions] == list(range(1, PROCESSES + 1))
        assert len({v.artifact for v in versions}) == PROCESSES  # four models, none registered twice
        assert all(v.status is VersionStatus.ACCEPTED and v.alias is Alias.CANDIDATE for v in versions)
        records = [get_run(ws, r.id) for r in list_runs(ws, project="income")]
        assert len(records) == PROCESSES and len({r.id for r in records}) == PROCESSES
        by_run = {v.run_id: v for v in versions}
        assert set(by_run) == {r.id for r in records}  # each run registered exactly one version
        for record in records:
            assert record.status == "succeeded" and record.ended_at is not None and record.error is None
            names = [s.name for s in record.stages]
            assert names[0] == "ingest" and "register" in names and names[-1] == "report", names
            assert all(s.status in ("succeeded", "cached") and s.ended_at is not None for s in record.stages)
            register = next(s for s in record.stages if s.name == "register")
            assert register.outputs["version"] == by_run[record.id].version
            assert by_run[record.id].lineage["run"] == record.id
    finally:
        ws.close()

    # four promotions to production at once: one holder at the end, the others archived, none lost
    promotions = _race([["promote", "income", str(v), "--to", "production"] for v in range(1, PROCESSES + 1)], env,
                       tmp_path)
    assert [code for code, _ in promotions] == [0] * PROCESSES, "\n\n".join(out for _, out in promotions)
    ws = Workspace.open(settings, create=False)
    try:
        aliases = [v.alias for v in ModelRegistry(ws).versions("income")]
    finally:
        ws.close()
    assert aliases.count(Alias.PRODUCTION) == 1 and aliases.count(Alias.ARCHIVED) == PROCESSES - 1, aliases

