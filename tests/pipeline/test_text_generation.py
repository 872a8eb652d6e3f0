"""Text generation through the project file: ``problem.task: text_generation`` with the ``seq2seq`` learner over a
tiny T5 that the test builds itself -> `aiforge run` searches, evaluates (chrF, BLEU, exact match against the
copy-the-source baseline), gates and registers it, the report shows generated texts -> `aiforge serve` answers
records with generated texts (plain JSON and the Open Inference Protocol); and the project-file errors of the
task."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import EXE, running_server, serve_env

from aiforge.errors import DataError, SpecError
from aiforge.learn import resolve_task
from aiforge.pipeline import load_project
from aiforge.spec import ProblemSpec, TaskKind

SPEC = """name: words
problem: {task: text_generation, target: target}
kpis:
  - {metric: chrf, min: 0}
data:
  sources:
    - {name: pairs, type: csv, path: pairs.csv}
  text_columns: [text]
  pii_policy: {names: false}
model:
  learners: [seq2seq]
  seq2seq: {checkpoint: tiny, max_target_length: 4}
  search: {strategy: random, budget: {trials: 2}, cv_strategy: holdout}
"""


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "aiforge.yaml").write_text(text)
    return root / "aiforge.yaml"


@pytest.mark.parametrize(("old", "new", "message", "where"), [
    ("  seq2seq: {checkpoint: tiny, max_target_length: 4}\n", "", r"text_generation needs model\.seq2seq\.checkpoint",
     r"\(model\)"),
    ("learners: [seq2seq]", "learners: [seq2seq, linear]", r"learner 'linear' does not generate text",
     r"\(model\.learners\[1\]\)"),
    ("{metric: chrf, min: 0}", "{metric: roc_auc, min: 0.5}",
     r"metric 'roc_auc' does not apply to a text_generation task", r"\(kpis\[0\]\.metric\)"),
    ("task: text_generation", "task: binary", r"learner 'seq2seq' is for text_generation tasks, but problem\.task "
     r"is 'binary'", r"\(model\.learners\[0\]\)"),
    ("task: text_generation", "task: auto", r"learner 'seq2seq' is for text_generation tasks, but problem\.task "
     r"is 'auto'", r"\(model\.learners\[0\]\)"),
    ("  text_columns: [text]\n", "", r"text_generation needs data\.text_columns", r"\(data\)"),
    ("checkpoint: tiny", "checkpoint: t5-small", r"model\.seq2seq\.checkpoint 't5-small' is not a local model folder",
     r"\(model\.seq2seq\.checkpoint\)"),
], ids=["no-checkpoint", "other-learner", "classification-kpi", "seq2seq-for-binary", "seq2seq-for-auto",
        "no-text-columns", "checkpoint-not-on-disk"])
def test_project_file_errors_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str,
                                            message: str, where: str) -> None:
    assert old in SPEC
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)  # checkpoints are relative to where aiforge runs
    with pytest.raises(SpecError, match=message) as caught:
        load_project(write(tmp_path, SPEC.replace(old, new)))
    assert re.search(r"aiforge\.yaml:\d+ " + where, caught.value.where or ""), caught.value.where


def test_the_task_is_never_detected_and_needs_a_text_target() -> None:
    texts = pa.table({"text": ["a", "b", "c"], "target": ["x", "y", "z"]})
    assert resolve_task(ProblemSpec(target="target"), texts, where="here").kind is TaskKind.MULTICLASS
    chosen = resolve_task(ProblemSpec(task=TaskKind.TEXT_GENERATION, target="target"), texts, where="here")
    assert (chosen.kind, chosen.classes) == (TaskKind.TEXT_GENERATION, [])
    with pytest.raises(DataError, match="text_generation needs a text target"):
        resolve_task(ProblemSpec(task=TaskKind.TEXT_GENERATION, target="n"), pa.table({"n": [1, 2, 3]}), where="here")


def test_run_registers_a_generator_whose_report_shows_texts_and_the_server_generates(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("sacrebleu")
    from tiny_seq2seq import WORDS, phrases, save_tiny_t5, translated

    root = tmp_path / "p"
    save_tiny_t5(root / "tiny")
    sources = phrases(80, seed=0, words=2)
    frame = pd.DataFrame({"text": sources, "target": translated(sources), "region": ["north", "south"] * 40})
    frame.to_csv(root / "pairs.csv", index=False)
    write(root, SPEC.replace("model:", "checks:\n  fairness: {sensitive: [region], min_group_size: 5}\nmodel:")
          .replace("  learners: [seq2seq]\n", "  learners: [seq2seq]\n  compare: true\n"))
    env = serve_env(root / "ws")
    proc = subprocess.run([str(EXE), "run", "--json", "aiforge.yaml"], capture_output=True, text=True, env=env,
                          cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["model"]["status"] == "accepted", result
    assert result["model"]["learner"] == "seq2seq", result
    metrics = result["model"]["metrics"]
    assert {"chrf", "bleu", "exact_match"} <= set(metrics) and 0 <= metrics["chrf"] <= 100, metrics
    assert 0 <= metrics["chrf_difference[region]"] <= 100, metrics  # the fairness check: chrF per group

    proc = subprocess.run([str(EXE), "trials", result["run_id"], "--json"], capture_output=True, text=True,
                          env=env, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(proc.stdout)["trials"]  # two at once, in threads: each loads the checkpoint
    assert [t["status"] for t in trials] == ["complete"] * 2 and trials[0]["params"]["checkpoint"] == "tiny", trials
    assert trials[0]["params"]["max_epochs"] == 3  # the known-good configuration first: fine-tuned, not as it is

    proc = subprocess.run([str(EXE), "card", "words"], capture_output=True, text=True, env=env, cwd=root, timeout=60)
    assert proc.returncode == 0 and "the baseline copies the source text" in proc.stdout, proc.stdout + proc.stderr
    report = Path(result["report"]).read_text()
    assert "Generated texts" in report and "copies the source text" in report
    assert "Learners compared on the test split" in report  # model.compare: the one learner, measured
    shown = json.loads(subprocess.run([str(EXE), "show", "--json", result["run_id"]], capture_output=True, text=True,
                                      env=env, cwd=root, timeout=60).stdout)
    [compared] = [s["outputs"]["comparison"] for s in shown["stages"] if s["name"] == "compare"]
    [row] = compared["rows"]
    assert (row["learner"], row["chosen"], compared["objective"]) == ("seq2seq", True, "chrf"), row
    assert row["metrics"]["chrf"] == pytest.approx(metrics["chrf"]) and {"bleu", "exact_match"} <= set(row["metrics"])
    assert row["one_row_ms_p50"] > 0 and row["training_kwh"] > 0, row
    for check in ("robustness", "explain", "privacy", "label_noise"):
        assert re.search(rf"{check}.{{0,400}}does not apply to text generation", report, re.S), check

    records = [{"text": "red cat"}, {"text": "blue dog"}, {"text": "small Bird 42"}]
    with running_server([], env, root, root / "serve.log") as server:
        answer = server.client.post("/v1/models/words/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        texts = [p["text"] for p in answer.json()["predictions"]]
        assert len(texts) == 3 and all(isinstance(t, str) and set(t.split()) <= set(WORDS) for t in texts), texts
        assert all(set(p) == {"id", "text"} for p in answer.json()["predictions"])
        oip = server.client.post("/v2/models/words/infer", json={"inputs": [
            {"name": "text", "shape": [3], "datatype": "BYTES", "data": [r["text"] for r in records]}]})
        assert oip.status_code == 200, oip.text
        [tensor] = oip.json()["outputs"]
        assert (tensor["name"], tensor["datatype"], tensor["shape"], tensor["data"]) == ("text", "BYTES", [3], texts)
        meta = server.client.get("/v2/models/words").json()
        assert meta["outputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}], meta
        bad = server.client.post("/v1/models/words/predict", json={"records": [{"source": "red cat"}]})
        assert bad.status_code == 422, bad.text
        explained = server.client.post("/v1/models/words/explain", json={"records": records})
        assert explained.status_code == 400 and "generates text" in explained.text, explained.text
        answer = server.client.post("/v1/models/words/predict", json={"records": records * 7})
        ids = [p["id"] for p in answer.json()["predictions"]]
        outcomes = [{"id": i, "outcome": "dog green"} for i in ids]
        assert server.client.post("/v1/models/words/feedback", json={"outcomes": outcomes}).status_code == 200
    # the logged texts against the outcomes: the training metrics, in production
    proc = subprocess.run([str(EXE), "monitor", "report", "words", "--json"], capture_output=True, text=True, env=env,
                          cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    performance = json.loads(proc.stdout)["performance"]
    assert performance["labelled"] == 21 and set(performance["metrics"]) == {"chrf", "bleu", "exact_match"}, performance
