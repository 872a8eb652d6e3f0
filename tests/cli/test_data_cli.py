"""`aiforge data log` and `aiforge data diff` on snapshots made by real runs of a project whose source changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project


def _aiforge(tmp_path: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(EXE), *args], capture_output=True, text=True, env=serve_env(tmp_path / "ws"),
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def test_log_and_diff_of_two_snapshots(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=1200, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    _aiforge(tmp_path, "run", str(project))
    source = project.parent / "data" / "adult.csv"
    frame = pd.read_csv(source)
    frame["age"] = frame["age"] + 20  # a shifted column
    frame["sex"] = "Female"  # a category that took over
    frame = frame.drop(columns=["native_country"])  # a removed column
    frame.to_csv(source, index=False)
    refused = _aiforge(tmp_path, "run", str(project), code=2)  # a column gone upstream stops the run...
    assert "'native_country' of source 'census' is gone" in refused.stderr
    _aiforge(tmp_path, "run", str(project), "--accept-schema-change")  # ... unless it is meant

    log = json.loads(_aiforge(tmp_path, "data", "log", "income", "--json").stdout)
    assert len(log) == 2 and log[0]["parent"] == log[1]["snapshot"] and log[1]["parent"] is None
    assert log[0]["sources"][0]["schema_changes_accepted"] == ["'native_country' of source 'census' is gone"]
    assert "native_country" in log[1]["sources"][0]["schema"] and "native_country" not in log[0]["sources"][0]["schema"]
    assert log[0]["rows"] == log[1]["rows"] == 1200 and log[0]["sources"][0]["name"] == "census"
    shown = _aiforge(tmp_path, "data", "log").stdout
    assert log[0]["snapshot"][:12] in shown

    old, new = log[1]["snapshot"][:8], log[0]["snapshot"][:8]
    diff = json.loads(_aiforge(tmp_path, "data", "diff", old, new, "--json").stdout)
    assert diff["removed"] == ["native_country"] and diff["added"] == [] and diff["rows_b"] == 1200
    changed = {c["name"]: c for c in diff["columns"] if c["changed"]}
    assert set(changed) == {"age", "sex"}
    assert changed["age"]["mean_b"] - changed["age"]["mean_a"] == 20
    assert changed["sex"]["shares"]["Female"][1] == 1.0
    text = _aiforge(tmp_path, "data", "diff", old, new).stdout
    assert "columns removed: native_country" in text and "age" in text

    missing = _aiforge(tmp_path, "data", "diff", "ffff", new, code=2)
    assert "no snapshot 'ffff'" in missing.stderr and "aiforge data log" in missing.stderr


CONTRACT = """  contract:
    rows: {min: 100}
    columns:
      age: {type: integer, nullable: false, min: 17, max: 90}
      sex: {allowed: [Male, Female]}
      income: {allowed: ["<=50K", ">50K"]}
"""


def _with_contract(tmp_path: Path, contract: str) -> Path:
    project = write_income_project(tmp_path / "income", rows=800, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    project.write_text(project.read_text(encoding="utf-8").replace("  split: {", contract + "  split: {"),
                       encoding="utf-8")
    return project


def test_data_check_passes_a_contract_the_data_keep(tmp_path: Path) -> None:
    project = _with_contract(tmp_path, CONTRACT)
    shown = json.loads(_aiforge(tmp_path, "data", "check", str(project), "--json").stdout)
    assert shown["passed"] and shown["rows"] == 800 and len(shown["checked"]) == 7
    assert not (tmp_path / "ws").exists()


def test_a_broken_contract_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    project = _with_contract(tmp_path, CONTRACT.replace("max: 90", "max: 60").replace("[Male, Female]", "[Male]"))
    checked = _aiforge(tmp_path, "data", "check", str(project), code=2)
    assert "2 broken" in checked.stdout and "age.max" in checked.stdout and "sex.allowed" in checked.stdout
    shown = json.loads(_aiforge(tmp_path, "data", "check", str(project), "--json", code=2).stdout)
    age = next(v for v in shown["violations"] if v["rule"] == "age.max")
    assert age["count"] > 0 and all(row["age"] > 60 for row in age["sample"])
    run = _aiforge(tmp_path, "run", str(project), code=2)
    assert "data.contract" in run.stderr and "age.max: values above 60" in run.stderr
    assert not (tmp_path / "ws").exists()


def test_erase_takes_rows_out_and_lists_the_versions_that_saw_them(tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=800, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    _aiforge(tmp_path, "run", str(project))
    before = json.loads(_aiforge(tmp_path, "data", "log", "income", "--json").stdout)[0]
    old = pd.read_csv(project.parent / "data" / "adult.csv")
    matching = int((old["age"] > 70).sum())
    assert matching > 0

    done = json.loads(_aiforge(tmp_path, "data", "erase", "income", "--where", "age > 70", "--project-file",
                               str(project), "--json").stdout)
    assert done["removed"] == matching and done["parent"] == before["snapshot"]
    assert [(v["name"], v["version"]) for v in done["versions"]] == [("income", 1)]
    assert done["holding"] == {before["snapshot"]: matching} and done["sources_to_clean"] == ["census (csv)"]
    after = json.loads(_aiforge(tmp_path, "data", "log", "income", "--json").stdout)[0]
    assert after["snapshot"] == done["snapshot"] and after["rows"] == 800 - matching
    assert after["run_id"].startswith("erasure-")
    audit = json.loads(_aiforge(tmp_path, "audit", "--json").stdout)
    entry = next(e for e in audit if e["action"] == "data.erase")
    assert entry["target"] == "income" and entry["details"]["removed_rows"] == matching

    purged = json.loads(_aiforge(tmp_path, "data", "erase", "income", "--where", "age > 70", "--purge",
                                 "--json").stdout)
    assert purged["snapshot"] is None and purged["purged"] == [before["snapshot"]]
    bad = _aiforge(tmp_path, "data", "erase", "income", "--where", "agee > 70", code=2)
    assert "cannot be evaluated" in bad.stderr and "agee" in bad.stderr
