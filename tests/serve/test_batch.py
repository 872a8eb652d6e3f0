"""Batch scoring streams a file in chunks and gives exactly the model's own predictions, in input order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT, write_income_project

from aiforge.errors import AiforgeError, DataError
from aiforge.pipeline import load_project, run_project
from aiforge.registry import ModelRegistry
from aiforge.serve._batch import score_file, scoring_version
from aiforge.workspace import Workspace, WorkspaceSettings


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelRegistry]:
    root = tmp_path_factory.mktemp("batch")
    project = write_income_project(root / "income", rows=1500, learners="[lightgbm]",
                                   checks="  robustness: {enabled: false}\n  label_noise: {enabled: false}\n"
                                          "  explain: {enabled: false}")
    settings = WorkspaceSettings.resolve(root / "ws")
    run_project(load_project(project), settings)
    workspace = Workspace.open(settings)
    yield ModelRegistry(workspace)
    workspace.close()  # (on PostgreSQL an engine left open holds connections, and warns when collected)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = pd.read_csv(ADULT, nrows=5003)
    return frame.assign(key=np.arange(len(frame)))


def test_a_parquet_file_scores_in_chunks_in_input_order(registry: ModelRegistry, rows: pd.DataFrame,
                                                        tmp_path: Path) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows.to_parquet(source, index=False)
    version = scoring_version(registry, "income", None)
    seen: list[tuple[int, int]] = []

    result = score_file(registry, version, source, output, chunk_rows=1000, keep=["key"], threads=2,
                        on_chunk=lambda done, chunks: seen.append((done, chunks)))

    assert (result.rows, result.chunks) == (5003, 6) and seen[-1] == (5003, 6)
    scored = pd.read_parquet(output)
    assert scored["key"].tolist() == rows["key"].tolist()
    served = registry.load_predictor(version)  # the path the registration chose: what batch scoring uses
    probabilities = scored[[f"probability_{c}" for c in served.classes]].to_numpy()
    assert np.allclose(probabilities, served.predict_proba(rows), atol=1e-12)
    assert scored["prediction"].tolist() == [str(v) for v in served.predict(rows)]
    native = registry.load_model(version)  # ONNX Runtime, where it serves, agrees within the plan's tolerance
    assert np.allclose(probabilities, native.predict_proba(rows), rtol=0,
                       atol=version.lineage["inference"]["tolerance"])


def test_a_csv_file_scores_like_its_parquet_twin(registry: ModelRegistry, rows: pd.DataFrame, tmp_path: Path) -> None:
    rows.head(2500).to_csv(tmp_path / "in.csv", index=False)
    rows.head(2500).to_parquet(tmp_path / "in.parquet", index=False)
    version = scoring_version(registry, "income", None)
    score_file(registry, version, tmp_path / "in.csv", tmp_path / "a.parquet", chunk_rows=700)
    score_file(registry, version, tmp_path / "in.parquet", tmp_path / "b.parquet", chunk_rows=2500)

    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert len(a) == 2500 and a["prediction"].tolist() == b["prediction"].tolist()
    assert np.allclose(a.filter(like="probability_").to_numpy(), b.filter(like="probability_").to_numpy())


def test_bad_input_is_refused_and_leaves_no_output(registry: ModelRegistry, rows: pd.DataFrame,
                                                   tmp_path: Path) -> None:
    version = scoring_version(registry, "income", None)
    rows.drop(columns=["age"]).to_parquet(tmp_path / "in.parquet", index=False)
    output = tmp_path / "out.parquet"
    with pytest.raises(DataError, match="lacks 1 input column"):
        score_file(registry, version, tmp_path / "in.parquet", output)
    (tmp_path / "in.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="unknown file type"):
        score_file(registry, version, tmp_path / "in.json", output)
    with pytest.raises(DataError, match="does not exist"):
        score_file(registry, version, tmp_path / "missing.parquet", output)
    assert not output.exists() and not list(tmp_path.glob(".*partial"))


def test_an_unknown_model_or_a_rejected_version_does_not_score(registry: ModelRegistry) -> None:
    with pytest.raises(AiforgeError, match="no model named 'churn'"):
        scoring_version(registry, "churn", None)
    with pytest.raises(AiforgeError, match="has no version 9"):
        scoring_version(registry, "income", 9)


def test_the_cli_scores_a_file_and_refuses_a_bad_one(aiforge, rows: pd.DataFrame, tmp_path: Path) -> None:
    project = write_income_project(tmp_path / "income", rows=800, learners="[linear]",
                                   checks="  robustness: {enabled: false}\n  label_noise: {enabled: false}")
    aiforge("run", str(project), check=True)
    rows.head(3000).to_csv(tmp_path / "in.csv", index=False)

    done = aiforge("predict", "--model", "income", "--input", str(tmp_path / "in.csv"), "--output",
                   str(tmp_path / "out.parquet"), "--keep", "key", "--chunk-rows", "1000", "--json")
    assert done.returncode == 0, done.stderr
    assert '"rows": 3000' in done.stdout and '"chunks": 3' in done.stdout
    assert pd.read_parquet(tmp_path / "out.parquet")["key"].tolist() == list(range(3000))

    bad = aiforge("predict", "--model", "income", "--input", str(tmp_path / "in.csv"), "--output",
                  str(tmp_path / "x.parquet"), "--keep", "nope")
    assert bad.returncode == 2 and "--keep names column(s)" in bad.stderr and not (tmp_path / "x.parquet").exists()
