"""Energy check: the energy and carbon of each stage of the run and of serving 1000 predictions.

``cpu_model`` (the default where CodeCarbon is absent): a documented CPU-time x power model,

    energy_kWh = (cpu_seconds x watts_per_core + wall_seconds x memory_watts_per_gb x resident GiB) / 3.6e6
    CO2e_g     = energy_kWh x grid_g_per_kwh

CPU seconds are the process's (all its threads), so a stage that keeps four cores busy for 10 s
counts 40 s; memory draws power for the wall time, at 0.375 W per GiB as CodeCarbon assumes.
``codecarbon``: CodeCarbon's ``OfflineEmissionsTracker`` measures the serving benchmark (RAPL
counters where it finds them, its own CPU model otherwise); its energy is multiplied by our grid
intensity. Stages that already ran were not under its tracker, so they always use the CPU model.
``auto``: CodeCarbon where it is importable, else the CPU model. The method used is reported.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiforge.errors import MissingDependency
from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check

if TYPE_CHECKING:
    from aiforge.spec import EnergyCheck

__all__ = ["energy_kwh", "resident_bytes"]

JOULES_PER_KWH = 3.6e6
GIB = 2**30
SERVING_ROWS = 1000
MIN_TIMED_SECONDS = 0.25  # the batch is predicted again until this much wall time is measured
MAX_BATCH_REPEATS = 20
CODECARBON_SECONDS = 3.0  # CodeCarbon reads its counters at start and stop: measure long enough to mean something
TRAINING_STAGES = frozenset({"train", "tune", "fit", "compress", "mitigate"})  # compress: its fine-tuning

_TRAIN_HINT = ("use cheaper learners (linear, lightgbm), lower model.search.budget, or fewer cv folds; "
               "a lower-carbon grid (checks.energy.grid_g_per_kwh) changes the CO2e figures only")
_SERVE_HINT = ("serve a smaller or faster model (fewer trees, no ensemble: model.ensemble.enabled: false), "
               "or predict in batches")
METRICS = [
    CheckMetric("training_energy_kwh", "energy", False, "Energy of the training stage(s), in kWh",
                hint=_TRAIN_HINT, timed=True),
    CheckMetric("training_co2e_g", "energy", False, "Carbon of the training stage(s), in grams CO2e",
                hint=_TRAIN_HINT, timed=True),
    CheckMetric("total_energy_kwh", "energy", False, "Energy of every stage of the run so far, in kWh",
                hint=_TRAIN_HINT, timed=True),
    CheckMetric("serving_energy_kwh_per_1000", "energy", False,
                "Energy of 1000 predictions (one batch of 1000 rows), in kWh", hint=_SERVE_HINT, timed=True),
    CheckMetric("serving_co2e_g_per_1000", "energy", False,
                "Carbon of 1000 predictions (one batch of 1000 rows), in grams CO2e", hint=_SERVE_HINT, timed=True),
]


def resident_bytes() -> int:
    """The process's resident memory now (Linux: /proc), or its peak where /proc is absent."""
    import resource
    import sys

    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux, BSD: KiB


def energy_kwh(cpu_seconds: float, wall_seconds: float, rss_bytes: float, spec: EnergyCheck) -> float:
    """Energy of a piece of work by the CPU model: busy cores plus resident memory over the wall time."""
    if min(cpu_seconds, wall_seconds, rss_bytes) < 0:
        raise ValueError(f"energy_kwh needs non-negative figures; got cpu_seconds={cpu_seconds!r}, "
                         f"wall_seconds={wall_seconds!r}, rss_bytes={rss_bytes!r}.")
    joules = cpu_seconds * spec.watts_per_core + wall_seconds * spec.memory_watts_per_gb * rss_bytes / GIB
    return joules / JOULES_PER_KWH


def _use_codecarbon(spec: EnergyCheck) -> bool:
    available = importlib.util.find_spec("codecarbon") is not None
    if spec.method == "codecarbon" and not available:
        raise MissingDependency(
            "checks.energy.method is codecarbon, but CodeCarbon is not installed",
            where="checks.energy.method", expected="the codecarbon package", found="not importable",
            hint="pip install codecarbon, or set checks.energy.method: cpu_model (or auto)")
    return spec.method == "codecarbon" or (spec.method == "auto" and available)


def _codecarbon_kwh(work: Callable[[], None]) -> tuple[float, int]:
    """(kWh per call, calls): ``work`` repeated for a few seconds under CodeCarbon's offline tracker."""
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False, log_level="error")
    tracker.start()
    calls, started = 0, time.perf_counter()
    try:
        while calls == 0 or time.perf_counter() - started < CODECARBON_SECONDS:
            work()
            calls += 1
    finally:
        tracker.stop()
    return float(tracker.final_emissions_data.energy_consumed) / calls, calls


def _timed(work: Callable[[], None], repeats: int) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of ``repeats`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        work()
    return time.process_time() - cpu, time.perf_counter() - wall


def _serving(ctx: CheckContext, spec: EnergyCheck, codecarbon: bool) -> dict[str, Any]:
    """Energy of predicting 1000 test rows in one batch (and, per 1000, of single-row requests)."""
    import numpy as np

    rng = np.random.default_rng(ctx.seed)
    rows = ctx.test.drop(columns=[ctx.target])
    if len(rows) == 0:
        raise ValueError("the energy check needs test rows to time serving; the test split is empty")
    take = rng.choice(len(rows), size=SERVING_ROWS, replace=len(rows) < SERVING_ROWS)
    batch = rows.iloc[take].reset_index(drop=True)
    model = ctx.model
    model.predict(batch.iloc[:10])  # warm-up: lazy imports and caches are not serving costs

    def predict_batch() -> None:
        model.predict(batch)

    cpu, wall = _timed(predict_batch, 1)
    repeats = 1 + int(min(MAX_BATCH_REPEATS - 1, max(0.0, MIN_TIMED_SECONDS - wall) / max(wall, 1e-6)))
    if repeats > 1:
        cpu, wall = _timed(predict_batch, repeats)
    rss = resident_bytes()
    out: dict[str, Any] = {
        "rows": SERVING_ROWS, "resampled": bool(len(rows) < SERVING_ROWS), "mode": "one batch of 1000 rows",
        "repeats": repeats, "cpu_seconds": cpu / repeats, "seconds": wall / repeats, "rss_bytes": rss,
        "kwh": energy_kwh(cpu / repeats, wall / repeats, rss, spec), "method": "cpu_model",
    }
    if codecarbon:
        kwh, calls = _codecarbon_kwh(predict_batch)
        out.update({"kwh": kwh, "method": "codecarbon", "codecarbon_calls": calls})
    if spec.single_rows:
        n = min(spec.single_rows, SERVING_ROWS)
        singles = [batch.iloc[[i]] for i in range(n)]
        cpu_single, wall_single = time.process_time(), time.perf_counter()
        for row in singles:
            model.predict(row)
        cpu_single, wall_single = time.process_time() - cpu_single, time.perf_counter() - wall_single
        scale = SERVING_ROWS / n
        out["single_rows"] = {
            "rows_timed": n, "cpu_seconds_per_1000": cpu_single * scale, "seconds_per_1000": wall_single * scale,
            "kwh_per_1000": energy_kwh(cpu_single * scale, wall_single * scale, rss, spec),
            "method": "cpu_model",
        }
    return out


@check("energy", METRICS)
def energy_check(ctx: CheckContext) -> CheckResult:
    spec = ctx.checks.energy
    codecarbon = _use_codecarbon(spec)
    rss_now = resident_bytes()
    table: list[dict[str, Any]] = []
    for stage, figures in ctx.stages.items():
        seconds = float(figures.get("seconds", 0.0))
        cpu = float(figures.get("cpu_seconds", seconds))  # a stage recorded without CPU time: one busy core
        rss = float(figures.get("rss_bytes", rss_now))
        kwh = energy_kwh(cpu, seconds, rss, spec)
        table.append({"stage": stage, "seconds": seconds, "cpu_seconds": cpu, "kwh": kwh,
                      "gco2e": kwh * spec.grid_g_per_kwh, "training": stage in TRAINING_STAGES
                      or stage.startswith("train")})
    metrics: dict[str, float] = {}
    notes: list[str] = []
    training = [row for row in table if row["training"]]
    if training:
        kwh = sum(row["kwh"] for row in training)
        metrics["training_energy_kwh"] = kwh
        metrics["training_co2e_g"] = kwh * spec.grid_g_per_kwh
    else:
        notes.append("no training stage was recorded: training_energy_kwh is not reported")
    if table:
        metrics["total_energy_kwh"] = sum(row["kwh"] for row in table)
    else:
        notes.append("the run recorded no stages: total_energy_kwh is not reported")
    if any("rss_bytes" not in figures for figures in ctx.stages.values()):
        notes.append("stages without their own memory figure use the process's resident memory at the check")
    serving = _serving(ctx, spec, codecarbon)
    metrics["serving_energy_kwh_per_1000"] = serving["kwh"]
    metrics["serving_co2e_g_per_1000"] = serving["kwh"] * spec.grid_g_per_kwh
    serving["gco2e"] = metrics["serving_co2e_g_per_1000"]
    if "single_rows" in serving:
        serving["single_rows"]["gco2e_per_1000"] = serving["single_rows"]["kwh_per_1000"] * spec.grid_g_per_kwh
    method = "codecarbon" if codecarbon else "cpu_model"
    constants = {"watts_per_core": spec.watts_per_core, "memory_watts_per_gb": spec.memory_watts_per_gb,
                 "grid_g_per_kwh": spec.grid_g_per_kwh, "rss_bytes": rss_now}
    if codecarbon:
        notes.append("CodeCarbon measured serving; the stages, which ran before its tracker, use the CPU model")
    details = {"method": method, "requested": spec.method, "constants": constants,
               "formula": "kWh = (cpu_seconds x watts_per_core + seconds x memory_watts_per_gb x GiB) / 3.6e6; "
                          "gCO2e = kWh x grid_g_per_kwh",
               "stages": table, "serving": serving, "notes": notes}
    line = ("CodeCarbon offline tracker for serving, CPU-time x power model for stages" if codecarbon else
            f"CPU-time x power model: {spec.watts_per_core:g} W per busy core + {spec.memory_watts_per_gb:g} W/GiB "
            f"resident memory, {spec.grid_g_per_kwh:g} gCO2e/kWh")
    return CheckResult("energy", "ok", metrics=metrics, details=details, method=line)
