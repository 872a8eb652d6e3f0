"""What the torch parts of the trustworthiness checks cost (issue 4): an ``mlp`` on 10,000 Adult rows (20 epochs,
one torch thread) trained plain, adversarially (FGSM and PGD-7 on half of each batch) and by DP-SGD (epsilon 1),
each then attacked by the robustness check (200 rows: FGSM, PGD-20 and the black-box attacks); and the robustness
check on a 150-tree LightGBM with the gradient attacks switched on and off (they must cost it nothing).

    .venv/bin/python benchmarks/checks/torch_checks.py      # about 2 minutes on one core
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd

from aiforge.deep._runtime import torch_threads
from aiforge.evaluate._checks import CheckContext, CheckResult, run_checks
from aiforge.evaluate._metrics import default_metric
from aiforge.learn import TabularModel
from aiforge.learn._learners import LEARNERS
from aiforge.learn._model import FeatureSet
from aiforge.learn._select import _fit_pipeline
from aiforge.spec import Checks, TaskKind

ADULT = Path(__file__).resolve().parents[2] / "examples" / "income" / "data" / "adult.csv"
FEATURES = FeatureSet(["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"],
                      ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex",
                       "native_country"])
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {}),
    ("fgsm, ratio 0.5", {"adversarial": {"method": "fgsm", "epsilon": 0.1, "ratio": 0.5}}),
    ("pgd-7, ratio 0.5", {"adversarial": {"method": "pgd", "epsilon": 0.1, "steps": 7, "ratio": 0.5}}),
    ("dp-sgd, epsilon 1", {"privacy": {"epsilon": 1.0}, "lr": 0.01}),
]


def main() -> None:
    frame = pd.read_csv(ADULT, nrows=12000)
    train, test = frame.iloc[:10000].reset_index(drop=True), frame.iloc[10000:].reset_index(drop=True)
    y = (train["income"] == ">50K").to_numpy(dtype=int)

    def fit(name: str, **params: Any) -> tuple[TabularModel, float]:
        config = {**LEARNERS[name].init_config(len(train), TaskKind.BINARY), **params}
        started = time.perf_counter()
        pipe = _fit_pipeline(name, TaskKind.BINARY, FEATURES, 0, 1, config, train, y)
        return (TabularModel(pipe, TaskKind.BINARY, ["<=50K", ">50K"], FEATURES, name, "income"),
                time.perf_counter() - started)

    def check(model: TabularModel, **robustness: Any) -> tuple[CheckResult, float]:
        checks = Checks.model_validate({"robustness": {"max_rows": 200, **robustness}})
        ctx = CheckContext(model, train, test, "income", TaskKind.BINARY, default_metric(TaskKind.BINARY), 0, checks)
        started = time.perf_counter()
        return run_checks(ctx, ["robustness"])["robustness"], time.perf_counter() - started

    with torch_threads(1):
        fit("mlp", max_epochs=1)  # torch loads part of itself on the first optimiser step
        print("| mlp trained | fit (20 epochs) | test accuracy | pgd_success_rate | fgsm_success_rate | check | "
              "FGSM | PGD |\n|---|---|---|---|---|---|---|---|")
        for label, params in VARIANTS:
            model, seconds = fit("mlp", max_epochs=20, **params)
            result, check_seconds = check(model)
            m, d = result.metrics, result.details
            print(f"| {label} | {seconds:.1f} s | {d['accuracy']:.3f} | {m['pgd_success_rate']:.3f} | "
                  f"{m['fgsm_success_rate']:.3f} | {check_seconds:.2f} s | {d['fgsm']['seconds']} s | "
                  f"{d['pgd']['seconds']} s |")
        lightgbm, _ = fit("lightgbm", n_estimators=150)
        on = statistics.median(check(lightgbm)[1] for _ in range(3))
        off = statistics.median(check(lightgbm, gradient_attacks=False)[1] for _ in range(3))
        print(f"\nrobustness check on LightGBM (150 trees), median of 3: gradient_attacks on {on:.2f} s, "
              f"off {off:.2f} s")


if __name__ == "__main__":
    main()
