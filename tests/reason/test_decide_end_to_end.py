"""The decision layer end to end on the loan example: the project checked when it loads, 'aiforge run' fitting
and registering the network, 'aiforge decide' on a file, POST /v1/decisions on a real server, and the
decisions in 'aiforge monitor report'."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXE, REPO, running_server, serve_env

from aiforge.errors import SpecError
from aiforge.pipeline import load_project, preflight

LOAN = REPO / "examples" / "loan"


def loan_project(folder: Path, rows: int = 1500) -> Path:
    """A copy of examples/loan with ``rows`` generated loans and one learner (fast)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(LOAN / "generate.py"), str(rows), str(folder / "data" / "loans.csv")],
                   check=True, capture_output=True)
    text = (LOAN / "aiforge.yaml").read_text(encoding="utf-8").replace(
        "learners: [linear, lightgbm]", "learners: [linear]").replace(  # the checks that cost seconds, off
        "  explain: {enabled: false}\n", "  explain: {enabled: false}\n  importance: {enabled: false}\n"
        "  energy: {enabled: false}\n")
    (folder / "aiforge.yaml").write_text(text, encoding="utf-8")
    return folder / "aiforge.yaml"


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("loan")
    project = loan_project(root / "loan")
    env = serve_env(root / "ws")
    proc = subprocess.run([str(EXE), "run", str(project)], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "decide" in proc.stdout + proc.stderr
    report = Path(next(line.split(": ", 1)[1] for line in (proc.stdout + proc.stderr).splitlines()
                       if line.startswith("report:")))
    page = report.read_text(encoding="utf-8")  # the run report: the policy against the model alone
    assert 'id="decisions"' in page and "model alone" in page and "thin_file_no_auto_approval" in page
    applicants = root / "applicants.csv"
    subprocess.run([sys.executable, str(LOAN / "generate.py"), "400", str(applicants), "99"], check=True,
                   capture_output=True)
    return root, env


def test_aiforge_decide_writes_decisions_and_compares_the_model_alone(registered: tuple[Path, dict[str, str]]
                                                                      ) -> None:
    root, env = registered
    frame = pd.read_csv(root / "applicants.csv").reset_index(names="id")
    frame.to_csv(root / "with_ids.csv", index=False)
    proc = subprocess.run([str(EXE), "decide", "--model", "loan", "--input", str(root / "with_ids.csv"), "--output",
                           str(root / "decisions.csv"), "--keep", "id", "--truth", "default", "--json"],
                          capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 400 and summary["version"] == 1
    assert sum(summary["actions"].values()) == 400 and sum(summary["shares"].values()) == pytest.approx(1)
    assert set(summary["rule_firing_rates"]) == {"sanctioned_country", "minimum_age", "loan_to_income_cap",
                                                 "thin_file", "thin_file_no_auto_approval"}
    assert {"realised_mean_utility", "agreement"} <= set(summary["model_only"]) and "realised_mean_utility" in summary
    out = pd.read_csv(root / "decisions.csv").merge(frame, on="id")
    sanctioned = out[out["country"] == "XX"]
    assert len(sanctioned) and (sanctioned["action"] == "reject").all()
    assert (sanctioned["required_by"] == "sanctioned_country").all()
    capped = out[(out["loan_k"] > 0.8 * out["income_k"]) | (out["age"] < 21)]
    assert len(capped) and not (capped["action"] == "approve").any()  # hard limits hold for every record
    assert out["probability_yes"].between(0, 1).all()
    bad = subprocess.run([str(EXE), "decide", "--model", "loan", "--input", str(root / "with_ids.csv"), "--output",
                          str(root / "x.csv"), "--truth", "country"], capture_output=True, text=True, env=env,
                         cwd=root, timeout=120)
    assert bad.returncode == 2 and "not outcome states" in bad.stderr and not (root / "x.csv").exists()


def test_the_server_decides_logs_and_the_monitor_report_shows_the_decisions(
        registered: tuple[Path, dict[str, str]]) -> None:
    root, env = registered
    base = {"age": 40, "income_k": 50.0, "loan_k": 10.0, "employment": "employed", "months_employed": 60,
            "credit_history": "good", "country": "NL"}
    records = [base, {**base, "country": "XX"}, {**base, "credit_history": None, "months_employed": None},
               {**base, "age": 19}]
    with running_server(["--auth", "off"], env, root, root / "serve.log") as server:
        response = server.client.post("/v1/decisions/loan", json={"records": records})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "loan" and body["version"] == 1 and len(body["decisions"]) == 4
        plain, sanctioned, thin, young = body["decisions"]
        assert sanctioned["action"] == "reject" and sanctioned["required_by"] == "sanctioned_country"
        assert sanctioned["why"] == "reject: required by rule 'sanctioned_country'"
        assert thin["rules"][0]["rule"] == "thin_file" and thin["rules"][0]["because"].startswith("is_missing(")
        risky = thin["model"]["probability"] > 0.05
        assert thin["forbidden"] == ({"approve": "thin_file_no_auto_approval"} if risky else {})
        assert thin["facts"] == {"thin_file": True} and "history" not in thin["evidence"]
        assert young["forbidden"] == {"approve": "minimum_age"} and young["action"] != "approve"
        assert plain["action"] == max(plain["utilities"], key=plain["utilities"].get)  # no rule: the best EU
        assert set(plain["evidence"]) == {"score", "history"}
        assert sum(plain["probabilities"].values()) == pytest.approx(1)
        bad = server.client.post("/v1/decisions/loan", json={"records": [{**base, "age": "old"}]})
        assert bad.status_code == 422 and "age" in bad.text
        missing = server.client.post("/v1/decisions/nosuch", json={"records": [base]})
        assert missing.status_code == 404
    report = subprocess.run([str(EXE), "monitor", "report", "loan", "--json"], capture_output=True, text=True,
                            env=env, cwd=root, timeout=120)
    assert report.returncode == 0, report.stderr
    decisions = json.loads(report.stdout)["decisions"]
    assert decisions["records"] == 4 and decisions["shares"]["reject"] >= 0.25
    assert decisions["rule_firing_rates"]["sanctioned_country"] == 0.25
    assert set(decisions["reference_shares"]) == {"approve", "review", "reject"} and decisions["psi"] >= 0


BAD_DECISIONS = [
    ("when: \"agee < 21\"", r"unknown fact 'agee'.*did you mean 'age'", "decision.rules[1].when"),
    ("when: \"country > 3\"", r"cannot compare 'country' \(text\) with '3' \(number\)", "decision.rules[1].when"),
    ("when: \"__import__('os')\"", r"calling __import__\(\) is not allowed", "decision.rules[1].when"),
    ("when: \"income_k\"", r"is number, not a condition", "decision.rules[1].when"),
]


@pytest.mark.parametrize(("replacement", "message", "where"), BAD_DECISIONS)
def test_bad_rules_are_refused_where_they_are_written(tmp_path: Path, replacement: str, message: str,
                                                      where: str) -> None:
    project = loan_project(tmp_path / "p", rows=300)
    text = project.read_text(encoding="utf-8").replace('when: "age < 21"', replacement)
    project.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        preflight(load_project(project))
    assert any(p.where and p.where.endswith(f"({where})") and __import__("re").search(message, p.message)
               for p in err.value.problems), err.value.render()
    line = text.splitlines().index(next(x for x in text.splitlines() if replacement in x)) + 1
    assert f"aiforge.yaml:{line} " in err.value.render()


def test_a_network_node_on_an_unknown_fact_is_refused(tmp_path: Path) -> None:
    project = loan_project(tmp_path / "p", rows=300)
    project.write_text(project.read_text(encoding="utf-8").replace("{fact: credit_history}", "{fact: job}"),
                       encoding="utf-8")
    with pytest.raises(SpecError, match="reads 'job', which is neither a column of the data nor a model output"):
        preflight(load_project(project))


def test_the_example_runs_as_shipped() -> None:
    assert shutil.which(str(EXE)) and (LOAN / "data" / "loans.csv").is_file()
    assert load_project(LOAN / "aiforge.yaml").spec.decision is not None
