"""The compression result: size, latency and accuracy of a model before and after compression, measured on
real test rows (Adult), its figures usable as KPIs, and the gate's message when none was measured."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT
from sklearn.pipeline import Pipeline

pytest.importorskip("torch")

from aiforge.deep import CompressionConfig, compress  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.evaluate import CHECK_METRICS, METRICS, compression_result, evaluate_gate  # noqa: E402
from aiforge.learn import LEARNERS, TabularModel, choose_features  # noqa: E402
from aiforge.learn._model import encode_labels  # noqa: E402
from aiforge.learn._select import _fit_pipeline  # noqa: E402
from aiforge.spec import Kpi, TaskKind  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _mlp(task: TaskKind, train: pd.DataFrame, target: str) -> TabularModel:
    data = train.drop(columns=[target])
    features = choose_features(pa.Table.from_pandas(data, preserve_index=False), "")
    classes = sorted(train[target].astype(str).unique()) if task.is_classification else []
    y = train[target].to_numpy(dtype=float) if task is TaskKind.REGRESSION else encode_labels(train[target], classes)
    params = {**LEARNERS["mlp"].init_config(len(train), task), "max_epochs": 8, "hidden_width": 64}
    pipeline = _fit_pipeline("mlp", task, features, 0, 1, params, data, y)
    return TabularModel(pipeline, task, classes, features, "mlp", target)


def _compressed(model: TabularModel, train: pd.DataFrame, config: CompressionConfig) -> tuple[TabularModel, dict]:
    prep, estimator = model.pipeline.named_steps["prep"], model.pipeline.named_steps["model"]
    encoded = prep.transform(train[model.features.columns])
    small, record = compress(estimator, config, encoded, model.encode_target(train[model.target]))
    return (TabularModel(Pipeline([("prep", prep), ("model", small)]), model.task, model.classes, model.features,
                         model.learner, model.target), record.to_json())


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT, nrows=1500)
    return frame.iloc[:1000].reset_index(drop=True), frame.iloc[1000:].reset_index(drop=True)


def test_the_table_holds_size_latency_and_accuracy_before_and_after(adult: tuple[pd.DataFrame, ...]) -> None:
    train, test = adult
    with torch_threads(1):
        model = _mlp(TaskKind.BINARY, train, "income")
    small, record = _compressed(model, train, CompressionConfig(prune=0.5, structured=True, quantize="static"))

    result = compression_result(model, small, test, "income", METRICS["roc_auc"], record, seed=1)

    assert result.check == "compression" and result.status == "ok"
    before, after = result.details["before_and_after"]
    assert (before["model"], after["model"]) == ("before", "after")
    assert after["bytes"] < 0.6 * before["bytes"] and after["parameters"] < before["parameters"]  # embeddings: float
    for row in (before, after):
        assert row["ms_per_row"] > 0 and row["ms_per_1000_rows"] > row["ms_per_row"]
        assert 0.5 < row["accuracy"] <= 1 and 0.5 < row["roc_auc"] <= 1
    y = model.encode_target(test["income"])
    assert before["accuracy"] == pytest.approx(float(np.mean(model.raw_output(test).argmax(axis=1) == y)))
    metrics = result.metrics
    assert metrics["compression_accuracy_drop"] == pytest.approx(before["accuracy"] - after["accuracy"])
    assert metrics["compression_score_drop"] == pytest.approx(before["roc_auc"] - after["roc_auc"])
    assert metrics["compression_size_ratio"] == pytest.approx(after["bytes"] / before["bytes"])
    assert metrics["compression_speedup"] == pytest.approx(before["ms_per_1000_rows"] / after["ms_per_1000_rows"])
    assert result.details["compression"]["widths_after"] == [32, 32]
    assert set(metrics) <= set(CHECK_METRICS) and all(CHECK_METRICS[m].check == "compression" for m in metrics)


def test_a_regression_reports_the_primary_metrics_drop_in_its_direction(adult: tuple[pd.DataFrame, ...]) -> None:
    train, test = adult
    with torch_threads(1):
        model = _mlp(TaskKind.REGRESSION, train, "hours_per_week")
    small, record = _compressed(model, train, CompressionConfig(prune=0.7, structured=True))

    result = compression_result(model, small, test, "hours_per_week", METRICS["rmse"], record)

    before, after = result.details["before_and_after"]
    assert "accuracy" not in before and "compression_accuracy_drop" not in result.metrics
    assert result.metrics["compression_score_drop"] == pytest.approx(after["rmse"] - before["rmse"])  # lower is better


def test_a_kpi_on_compression_fails_with_the_reason_when_nothing_was_measured() -> None:
    verdict = evaluate_gate([Kpi(metric="compression_accuracy_drop", max=0.01)], {"roc_auc": 0.9})

    assert not verdict.passed
    assert verdict.results[0].message.startswith("compression_accuracy_drop: the compression check did not measure")
