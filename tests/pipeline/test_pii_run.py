"""Personal data inside a real `aiforge run`: the actions apply before the snapshot is written (its bytes hold
no raw value), the profile and the report show what was found masked, and a missing key, undeclared personal
data under on_undeclared: fail, or too small a group stop the run before anything is written."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
from conftest import EXE, FAST_CHECKS, serve_env, write_income_project

from aiforge.workspace import Workspace, WorkspaceSettings

KEY = "a-long-enough-secret-for-the-tests"
CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444", "4012 8888 8888 1881", "3782 822463 10005"]


def _project(tmp_path: Path, pii: str) -> tuple[Path, list[str]]:
    """The Adult sample with an email and a card column (each row its own email), and ``pii`` lines."""
    project = write_income_project(tmp_path / "income", rows=800, learners="[linear]", checks=FAST_CHECKS,
                                   kpis="  - {metric: roc_auc, min: 0.5}")
    data = project.parent / "data" / "adult.csv"
    with data.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    emails = [f"person{i}@example{i % 7}.org" for i in range(len(rows) - 1)]
    rows = [[*rows[0], "email", "card"]] + [[*r, e, CARDS[i % len(CARDS)]]
                                             for i, (r, e) in enumerate(zip(rows[1:], emails, strict=True))]
    with data.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    text = project.read_text(encoding="utf-8").replace("  split: {", pii + "  split: {")
    project.write_text(text, encoding="utf-8")
    return project, emails


def _aiforge(tmp_path: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = serve_env(tmp_path / "ws")
    env.pop("AIFORGE_PSEUDONYM_KEY", None)
    if key is not None:
        env["AIFORGE_PSEUDONYM_KEY"] = key
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


PII = """  pii:
    - {column: email, action: pseudonymise}
    - {column: card, action: drop}
    - {column: age, action: generalise, bins: [0, 25, 40, 60, 120]}
  pii_policy: {on_undeclared: fail}
  k_anonymity: {quasi_identifiers: [age, sex], k: 5}
"""


def test_the_snapshot_holds_no_raw_personal_data(tmp_path: Path) -> None:
    project, emails = _project(tmp_path, PII)
    done = _aiforge(tmp_path, "run", str(project), "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    shown = json.loads(_aiforge(tmp_path, "show", run["run_id"], "--json").stdout)
    snapshot = next(s for s in shown["stages"] if s["name"] == "ingest")["outputs"]["snapshot"]
    ws = Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=False)
    try:
        raw = ws.artifacts.get_bytes(snapshot["id"])
    finally:
        ws.close()
    table = pq.read_table(io.BytesIO(raw))
    assert "card" not in table.column_names
    tokens = table.column("email").to_pylist()
    assert len(set(tokens)) == len(emails) and all(len(t) == 32 for t in tokens)
    assert set(table.column("age").to_pylist()) <= {"<0", "[0, 25)", "[25, 40)", "[40, 60)", "[60, 120]", ">120"}
    uncompressed = pq.read_table(io.BytesIO(raw)).to_pandas().to_csv()  # the values themselves, not zstd bytes
    for text in (raw.decode("latin-1"), uncompressed):
        assert not any(e in text for e in emails[:50]) and "@example" not in text
        assert not any(c in text or c.replace(" ", "") in text for c in CARDS)
    pii = snapshot["pii"]
    found = {f["column"]: (f["kinds"], f["action"]) for f in pii["findings"]}
    assert found == {"email": ({"email": 1.0}, "pseudonymise"), "card": ({"credit_card": 1.0}, "drop")}
    assert pii["k_anonymity"]["passed"] and pii["key_id"] and KEY not in json.dumps(shown)
    report = Path(run["report"]).read_text(encoding="utf-8")
    assert "Personal data" in report and "************1111" in report and "p***@e***.org" in report
    assert "5-anonymous over age, sex" in report
    assert "person0@" not in report and "4111 1111" not in report

    wrong = _aiforge(tmp_path, "run", str(project), key=KEY[::-1])  # another key than the last snapshot's
    assert wrong.returncode == 2 and "is not the one the last snapshot was made with" in wrong.stderr
    assert pii["key_id"] in wrong.stderr and KEY not in wrong.stderr and KEY[::-1] not in wrong.stderr
    again = _aiforge(tmp_path, "run", str(project), "--json", "--new-pseudonym-key", key=KEY[::-1])  # on purpose
    assert again.returncode == 0, again.stderr
    shown = json.loads(_aiforge(tmp_path, "show", json.loads(again.stdout)["run_id"], "--json").stdout)
    ingest = next(s for s in shown["stages"] if s["name"] == "ingest")
    assert ingest["outputs"]["snapshot"]["id"] != snapshot["id"]


def test_a_missing_key_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    project, _ = _project(tmp_path, PII)
    done = _aiforge(tmp_path, "run", str(project), key=None)
    assert done.returncode != 0
    assert "AIFORGE_PSEUDONYM_KEY" in done.stderr and "data.pii[0]" in done.stderr
    assert not (tmp_path / "ws").exists()


def test_undeclared_personal_data_fail_on_request_and_warn_in_validate(tmp_path: Path) -> None:
    declared = "  pii: [{column: email, action: drop}]\n  pii_policy: {on_undeclared: fail}\n"
    project, emails = _project(tmp_path, declared)
    done = _aiforge(tmp_path, "run", str(project))
    assert done.returncode != 0 and not (tmp_path / "ws").exists()
    assert "personal data in 1 column(s) that data.pii does not name" in done.stderr
    assert "card: credit_card in 100%" in done.stderr and "************1111" in done.stderr
    assert "4111 1111" not in done.stderr
    project.write_text(project.read_text(encoding="utf-8").replace("on_undeclared: fail", "on_undeclared: warn"),
                       encoding="utf-8")
    checked = _aiforge(tmp_path, "validate", str(project))
    assert checked.returncode == 0, checked.stderr
    assert "warning: personal data in 'card': credit_card in 100%" in checked.stdout
    assert "personal data in 'email': email in 100%" in checked.stdout and emails[0] not in checked.stdout


def test_too_small_a_group_stops_the_run(tmp_path: Path) -> None:
    project, _ = _project(tmp_path, PII.replace("[age, sex], k: 5", "[age, sex, native_country], k: 5"))
    done = _aiforge(tmp_path, "run", str(project))
    assert done.returncode != 0 and not (tmp_path / "ws").exists()
    assert "not 5-anonymous" in done.stderr and "data.k_anonymity" in done.stderr
    assert "without native_country the smallest group would have" in " ".join(done.stderr.split())
