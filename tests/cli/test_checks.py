"""The trustworthiness checks end to end through the real CLI: figures gate the release with a message
that names the check, mitigation changes the registered model, every version gets its model card, and
`aiforge explain` explains a registered model's prediction."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import write_income_project

FAIRNESS = "  fairness: {sensitive: [sex, race]}"


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _project(tmp_path: Path, kpis: str, checks: str = "", rows: int = 3000) -> Path:
    return write_income_project(tmp_path / "income", rows=rows, kpis=kpis, learners="[lightgbm]",
                                checks=checks)


def test_an_unfair_model_is_rejected_by_its_fairness_kpi_with_what_to_try(aiforge, tmp_path: Path) -> None:
    project = _project(tmp_path, "  - {metric: roc_auc, min: 0.80}\n"
                       "  - {metric: demographic_parity_difference, sensitive: sex, max: 0.01}", FAIRNESS)
    proc = aiforge("run", str(project))

    assert proc.returncode == 1, proc.stderr
    assert "KPI gate failed: fairness check: demographic_parity_difference[sex] = " in proc.stderr  # not markup
    assert "above the maximum 0.01" in proc.stderr and "checks.fairness.mitigation" in proc.stderr

    [run] = _json(aiforge("runs", "--json"))
    shown = _json(aiforge("show", run["id"], "--json"))
    names = [s["name"] for s in shown["stages"]]
    assert names == ["ingest", "validate", "split", "train", "evaluate", "checks", "gate", "register", "report"]
    checks = next(s for s in shown["stages"] if s["name"] == "checks")["outputs"]["checks"]
    assert {n: c["status"] for n, c in checks.items()} == {
        "fairness": "ok", "explain": "ok", "robustness": "ok", "label_noise": "ok", "privacy": "ok", "energy": "ok"}
    fairness = checks["fairness"]["metrics"]
    assert fairness["demographic_parity_difference[sex]"] > 0.01
    assert {"demographic_parity_difference[race]", "equalized_odds_difference[sex&race]"} <= set(fairness)
    assert checks["energy"]["metrics"]["training_energy_kwh"] > 0

    [version] = _json(aiforge("models", "--json"))
    assert version["status"] == "rejected"
    documents = set(version["documents"])
    assert documents - {"onnx"} == {"card_md", "card_html", "background", "reference"}
    assert ("onnx" in documents) is (version["lineage"]["inference"]["path"] == "onnxruntime")  # when it serves
    assert version["metrics"]["demographic_parity_difference[sex]"] == fairness["demographic_parity_difference[sex]"]

    card = aiforge("card", "income")
    assert card.returncode == 0, card.stderr
    for heading in ("# Model card: income v1", "## Fairness", "## Robustness", "## Privacy", "## Energy",
                    "## Limitations", "demographic_parity_difference[sex]"):
        assert heading in card.stdout, heading
    html = tmp_path / "card.html"
    assert aiforge("card", "income", "1", "--html", "--output", str(html)).returncode == 0
    assert html.read_text(encoding="utf-8").lower().startswith("<!doctype html>")

    report = Path(_json(aiforge("report", run["id"], "--json"))["report"]).read_text(encoding="utf-8")
    for section in ("check-fairness", "check-explain", "check-robustness", "check-privacy", "check-energy"):
        assert f'id="{section}"' in report, section


def test_threshold_optimizer_mitigation_is_registered_and_compared(aiforge, tmp_path: Path) -> None:
    extra = "  fairness: {sensitive: [sex], mitigation: threshold_optimizer}"
    project = _project(tmp_path, "  - {metric: demographic_parity_difference, sensitive: sex, max: 0.08}", extra)
    proc = aiforge("run", str(project))
    assert proc.returncode == 0, proc.stderr

    [run] = _json(aiforge("runs", "--json"))
    shown = _json(aiforge("show", run["id"], "--json"))
    assert "mitigate" in [s["name"] for s in shown["stages"]]
    fairness = next(s for s in shown["stages"] if s["name"] == "checks")["outputs"]["checks"]["fairness"]
    without, with_ = fairness["details"]["comparison"]
    assert with_["demographic_parity_difference[sex]"] < without["demographic_parity_difference[sex]"]
    [version] = _json(aiforge("models", "--json"))
    assert version["learner"] == "lightgbm+threshold_optimizer" and version["status"] == "accepted"


def test_explain_a_registered_model_for_a_record(aiforge, tmp_path: Path) -> None:
    project = _project(tmp_path, "  - {metric: roc_auc, min: 0.5}",
                       "  robustness: {enabled: false}\n  label_noise: {enabled: false}", rows=1500)
    assert aiforge("run", str(project)).returncode == 0
    record = {"age": 52, "workclass": "Private", "education": "Masters", "education_num": 14,
              "marital_status": "Married-civ-spouse", "occupation": "Exec-managerial", "relationship": "Husband",
              "race": "White", "sex": "Male", "capital_gain": 15024, "capital_loss": 0, "hours_per_week": 50,
              "native_country": "United-States"}
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")

    result = _json(aiforge("explain", "income", "--input", str(path), "--top", "0", "--json"))
    [row] = result["rows"]
    total = row["base"] + sum(c["contribution"] for c in row["contributions"])
    assert abs(total - row["output"]) < 1e-6
    assert {c["feature"] for c in row["contributions"]} == set(record)
    assert row["contributions"][0]["feature"] in {"capital_gain", "relationship", "marital_status", "education_num",
                                                  "age", "occupation"}
    shown = aiforge("explain", "income", "1", "--input", str(path))
    assert shown.returncode == 0 and "capital_gain" in shown.stdout

    del record["age"]
    path.write_text(json.dumps([record]), encoding="utf-8")
    bad = aiforge("explain", "income", "--input", str(path))
    assert bad.returncode == 2 and "missing age" in bad.stderr


def test_a_kpi_on_a_disabled_check_or_a_wrong_sensitive_column_changes_nothing(aiforge, tmp_path: Path) -> None:
    project = _project(tmp_path, "  - {metric: demographic_parity_difference, sensitive: gender, max: 0.1}")
    proc = aiforge("run", str(project))
    assert proc.returncode == 2
    assert "sensitive attribute 'gender' is not a column of the data" in proc.stderr
    assert not aiforge.workspace.exists()
