"""The energy check: the CPU-time x power model, its grid intensity, and measured serving energy."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ADULT

from aiforge.errors import MissingDependency
from aiforge.evaluate._checks import CHECK_METRICS, CheckContext
from aiforge.evaluate._energy import GIB, energy_check, energy_kwh, resident_bytes
from aiforge.evaluate._metrics import default_metric
from aiforge.learn import TabularModel, choose_features
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, EnergyCheck, TaskKind

TARGET = "income"
CLASSES = ["<=50K", ">50K"]
CODECARBON = importlib.util.find_spec("codecarbon") is not None


@pytest.fixture(scope="module")
def fitted() -> tuple[TabularModel, pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ADULT).sample(n=3000, random_state=0).reset_index(drop=True)
    train, test = frame.iloc[:2000].reset_index(drop=True), frame.iloc[2000:].reset_index(drop=True)
    features = choose_features(pa.Table.from_pandas(train, preserve_index=False), TARGET)
    y = np.array([CLASSES.index(v) for v in train[TARGET]])
    pipeline = _fit_pipeline("linear", TaskKind.BINARY, features, 0, 1, {"C": 1.0}, train, y)
    return TabularModel(pipeline, TaskKind.BINARY, CLASSES, features, "linear", TARGET), train, test


def _context(fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame], stages: dict[str, dict[str, float]],
             **spec: object) -> CheckContext:
    model, train, test = fitted
    return CheckContext(model=model, train=train, test=test, target=TARGET, task=TaskKind.BINARY,
                        primary=default_metric(TaskKind.BINARY), seed=0,
                        checks=Checks(energy=EnergyCheck(single_rows=20, **spec)),
                        stages=stages)


def _stages(cpu: float) -> dict[str, dict[str, float]]:
    return {"ingest": {"seconds": 2.0, "cpu_seconds": 1.5, "rss_bytes": GIB},
            "train": {"seconds": 10.0, "cpu_seconds": cpu, "rss_bytes": 2 * GIB}}


def test_the_cpu_model_is_the_documented_formula_and_scales_with_cpu_seconds() -> None:
    spec = EnergyCheck(watts_per_core=10.0)

    assert energy_kwh(20.0, 10.0, 2 * GIB, spec) == pytest.approx((20 * 10 + 10 * 0.375 * 2) / 3.6e6)
    assert energy_kwh(40.0, 10.0, 0, spec) == pytest.approx(2 * energy_kwh(20.0, 10.0, 0, spec))
    with pytest.raises(ValueError, match="non-negative"):
        energy_kwh(-1.0, 1.0, 0, spec)


def test_stage_energy_scales_with_cpu_seconds_and_the_grid_intensity_multiplies(
        fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame]) -> None:
    low = energy_check(_context(fitted, _stages(20.0)))
    high = energy_check(_context(fitted, _stages(40.0)))
    dirty = energy_check(_context(fitted, _stages(20.0), grid_g_per_kwh=950.0))

    assert low.metrics["training_energy_kwh"] == pytest.approx((20 * 10 + 10 * 0.375 * 2) / 3.6e6)
    assert high.metrics["training_energy_kwh"] - low.metrics["training_energy_kwh"] == pytest.approx(20 * 10 / 3.6e6)
    assert low.metrics["training_co2e_g"] == pytest.approx(low.metrics["training_energy_kwh"] * 475.0)
    assert dirty.metrics["training_co2e_g"] == pytest.approx(2 * low.metrics["training_co2e_g"])
    assert dirty.metrics["training_energy_kwh"] == pytest.approx(low.metrics["training_energy_kwh"])
    ingest = (1.5 * 10 + 2 * 0.375 * 1) / 3.6e6
    assert low.metrics["total_energy_kwh"] == pytest.approx(low.metrics["training_energy_kwh"] + ingest)
    rows = {row["stage"]: row for row in low.details["stages"]}
    assert rows["train"]["training"] and not rows["ingest"]["training"]
    assert rows["ingest"]["gco2e"] == pytest.approx(ingest * 475.0)


def test_serving_energy_is_measured_positive_and_plausible(
        fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame]) -> None:
    result = energy_check(_context(fitted, _stages(20.0)))
    serving = result.details["serving"]

    # 1000 rows through a linear pipeline: milliseconds of CPU at 10 W -> around 1e-8 kWh
    assert 1e-11 < result.metrics["serving_energy_kwh_per_1000"] < 1e-5
    assert result.metrics["serving_co2e_g_per_1000"] == pytest.approx(result.metrics["serving_energy_kwh_per_1000"]
                                                                      * 475.0)
    assert serving["rows"] == 1000 and serving["mode"] == "one batch of 1000 rows" and not serving["resampled"]
    assert 0 < serving["cpu_seconds"] < 5 and serving["repeats"] >= 1
    # one row at a time costs more per 1000 predictions than one batch
    assert serving["single_rows"]["rows_timed"] == 20
    assert serving["single_rows"]["kwh_per_1000"] > serving["kwh"]


def test_the_method_used_is_reported(fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame]) -> None:
    result = energy_check(_context(fitted, _stages(20.0)))

    assert result.details["method"] == ("codecarbon" if CODECARBON else "cpu_model")
    assert result.details["requested"] == "auto"
    assert result.details["constants"]["watts_per_core"] == 10.0
    assert "W per busy core" in result.method or CODECARBON


@pytest.mark.skipif(CODECARBON, reason="CodeCarbon is installed")
def test_method_codecarbon_without_codecarbon_says_how_to_install_it(
        fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(MissingDependency, match="CodeCarbon is not installed") as info:
        energy_check(_context(fitted, _stages(20.0), method="codecarbon"))
    assert "pip install codecarbon" in (info.value.hint or "")


def test_few_test_rows_are_resampled_and_missing_stages_are_said(
        fitted: tuple[TabularModel, pd.DataFrame, pd.DataFrame]) -> None:
    model, train, test = fitted
    result = energy_check(_context((model, train, test.head(300)), {"report": {"seconds": 1.0, "cpu_seconds": 0.5}}))

    assert result.details["serving"]["resampled"] and result.details["serving"]["rows"] == 1000
    assert "training_energy_kwh" not in result.metrics and "total_energy_kwh" in result.metrics
    assert any("no training stage" in note for note in result.details["notes"])
    assert all(CHECK_METRICS[m].check == "energy" for m in result.metrics)


def test_resident_memory_is_read() -> None:
    assert 10 * 2**20 < resident_bytes() < 64 * GIB
