"""Learners side by side on the test split: what each learner's best trial scores, how fast it answers and what
its training and its predictions cost in energy (``model.compare``), so that a cheaper learner can be chosen
knowingly over a slightly better one, e.g. TF-IDF over a transformer.

Every candidate is measured the same way, the models in turn so that they share the machine's noise:

- **test metrics**: the task's metrics on every test row (``compute_metrics``, as the evaluation computes them);
- **one-row latency**: ``predict`` of one row, as a request to the server makes it, on up to ``ONE_ROWS`` test
  rows (each model answers row *i* before any answers row *i + 1*); p50 and p99;
- **batch time**: ``predict`` of ``BATCH_ROWS`` test rows (drawn with replacement when the test split has
  fewer), ``BATCH_REPEATS`` times; the median run's wall and CPU seconds;
- **energy**: the energy check's CPU-time model (``checks.energy``: watts per busy core, watts per GiB resident)
  over the fit's CPU and wall seconds (training) and over the median batch (per 1000 predictions).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._energy import energy_kwh, resident_bytes
from aiforge.evaluate._metrics import Metric, compute_metrics
from aiforge.learn import shared_embeddings

if TYPE_CHECKING:
    import pandas as pd

    from aiforge.learn import TabularModel
    from aiforge.spec import EnergyCheck

__all__ = ["Candidate", "LearnerComparison", "compare_models", "shown_metrics"]

ONE_ROWS = 200  # single-row requests timed per model at most
ONE_ROW_SECONDS = 20.0  # ... and for at most this long per model (a slow model gets fewer rows)
BATCH_ROWS = 1000
BATCH_REPEATS = 3
WARM_ROWS = 8  # predicted once before timing: lazy imports and first-call caches are not serving costs


@dataclass(frozen=True)
class Candidate:
    """A fitted model to compare, with what its fit cost (``fit_cpu_seconds`` None: not measured)."""

    name: str
    model: TabularModel
    chosen: bool = False
    cv_score: float | None = None
    fit_seconds: float | None = None
    fit_cpu_seconds: float | None = None
    note: str = ""


@dataclass(frozen=True)
class LearnerComparison:
    """One row per candidate: test metrics, latency, training and serving energy; how they were measured."""

    objective: str
    higher_is_better: bool
    test_rows: int
    rows: list[dict[str, Any]]
    method: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LearnerComparison:
        return cls(**data)


def compare_models(candidates: list[Candidate], test: pd.DataFrame, target: str, primary: Metric,
                   energy: EnergyCheck, *, seed: int = 0) -> LearnerComparison:
    """Measure ``candidates`` on the ``test`` rows (``target`` holds the truth), ranked by ``primary``."""
    import numpy as np

    if not candidates:
        raise ValueError("compare_models needs at least one candidate model")
    if len(test) == 0:
        raise ValueError("compare_models needs test rows; the test split is empty")
    rng = np.random.default_rng(seed)
    inputs = test.drop(columns=[target])
    singles = rng.choice(len(inputs), size=min(ONE_ROWS, len(inputs)), replace=False)
    batch = inputs.iloc[rng.choice(len(inputs), size=BATCH_ROWS, replace=len(inputs) < BATCH_ROWS)]
    batch = batch.reset_index(drop=True)
    rows: dict[str, dict[str, Any]] = {}
    with shared_embeddings():  # models on one frozen text encoder embed the test texts once (untimed here)
        for c in candidates:
            c.model.predict(inputs.iloc[:WARM_ROWS])
            y = c.model.encode_target(test[target])
            scores = compute_metrics(c.model.task, y, c.model.raw_output(test), getattr(c.model, "threshold", 0.5))
            rows[c.name] = {"learner": c.name, "chosen": c.chosen, "cv_score": c.cv_score, "note": c.note,
                            "metrics": scores, "fit_seconds": c.fit_seconds, "fit_cpu_seconds": c.fit_cpu_seconds}
    one_row = _one_row_ms(candidates, inputs, singles)
    batches = _batch_seconds(candidates, batch)
    rss = resident_bytes()
    for c in candidates:
        row = rows[c.name]
        times = np.asarray(one_row[c.name])
        row.update({"one_row_requests": len(times), "one_row_ms_p50": float(np.percentile(times, 50)),
                    "one_row_ms_p99": float(np.percentile(times, 99))})
        cpu, wall = batches[c.name]
        serving = energy_kwh(cpu, wall, rss, energy)
        row.update({"batch_ms_per_row": 1000 * wall / BATCH_ROWS, "serving_kwh_per_1000": serving,
                    "serving_co2e_g_per_1000": serving * energy.grid_g_per_kwh})
        if c.fit_cpu_seconds is not None and c.fit_seconds is not None:
            training = energy_kwh(c.fit_cpu_seconds, c.fit_seconds, rss, energy)
            row.update({"training_kwh": training, "training_co2e_g": training * energy.grid_g_per_kwh})
        else:
            row.update({"training_kwh": None, "training_co2e_g": None})
    sign = 1.0 if primary.higher_is_better else -1.0
    ranked = sorted(rows.values(), key=lambda r: -sign * r["metrics"].get(primary.name, float("nan")))
    method = (f"every model on the {len(test):,} test rows; one-row predict on up to {ONE_ROWS} rows "
              f"(the models in turn), p50/p99; {BATCH_REPEATS} batches of {BATCH_ROWS:,} rows, the median; energy "
              f"by the CPU-time model ({energy.watts_per_core:g} W per busy core, {energy.memory_watts_per_gb:g} W "
              f"per GiB resident, {energy.grid_g_per_kwh:g} gCO2e/kWh)")
    return LearnerComparison(objective=primary.name, higher_is_better=primary.higher_is_better, test_rows=len(test),
                             rows=ranked, method=method)


def _one_row_ms(candidates: list[Candidate], inputs: pd.DataFrame, rows: Any) -> dict[str, list[float]]:
    """Milliseconds of one-row ``predict`` calls, each model answering row i before any answers row i + 1; a
    model past ``ONE_ROW_SECONDS`` stops being timed (a first row is always timed)."""
    times: dict[str, list[float]] = {c.name: [] for c in candidates}
    spent = dict.fromkeys(times, 0.0)
    for i in rows:
        row = inputs.iloc[[int(i)]]
        for c in candidates:
            if spent[c.name] > ONE_ROW_SECONDS:
                continue
            started = time.perf_counter()
            c.model.predict(row)
            took = time.perf_counter() - started
            spent[c.name] += took
            times[c.name].append(1000 * took)
    return times


def _batch_seconds(candidates: list[Candidate], batch: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) of the median of ``BATCH_REPEATS`` batch predictions per model, in turn."""
    runs: dict[str, list[tuple[float, float]]] = {c.name: [] for c in candidates}
    for _ in range(BATCH_REPEATS):
        for c in candidates:
            cpu, wall = time.process_time(), time.perf_counter()
            c.model.predict(batch)
            runs[c.name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {name: sorted(r, key=lambda t: t[1])[len(r) // 2] for name, r in runs.items()}


def shown_metrics(comparison: LearnerComparison) -> list[str]:
    """The test metrics a comparison table shows: the objective, then the task's usual ones."""
    names = [comparison.objective]
    available = comparison.rows[0]["metrics"] if comparison.rows else {}
    for name in ("accuracy", "f1_macro", "roc_auc", "rmse", "mae", "r2", "bleu", "exact_match"):
        if name in available and name not in names and len(names) < 4:
            names.append(name)
    return names


def comparison_section(comparison: LearnerComparison) -> str:
    """The report's "Learners compared on the test split" section: a table and a trade-off plot."""
    from aiforge.evaluate._html import DASH, e, num, section, table

    metrics = shown_metrics(comparison)
    head = ["learner", *[f"test {m}" for m in metrics], f"CV {comparison.objective}", "one row p50 / p99 (ms)",
            "batch ms / row", "fit s (CPU s)", "training kWh", "kWh / 1000 predictions"]
    rows = []
    for r in comparison.rows:
        fit = DASH if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f} ({r['fit_cpu_seconds']:.1f})"
        name = e(r["learner"]) + (" ★" if r["chosen"] else "")
        if r.get("note"):
            name += f"<br><span class=\"muted\">{e(r['note'])}</span>"
        rows.append(("best" if r["chosen"] else "", [
            name, *[num(r["metrics"].get(m)) for m in metrics], num(r["cv_score"]),
            f"{r['one_row_ms_p50']:.2f} / {r['one_row_ms_p99']:.2f}", f"{r['batch_ms_per_row']:.3f}", fit,
            num(r["training_kwh"]), num(r["serving_kwh_per_1000"])]))
    numeric = set(range(1, len(head)))
    note = (f"<p class=\"muted\">model.compare: each learner's best trial refit from scratch on the training split "
            f"(★ the registered model) and measured on the {comparison.test_rows:,} test rows: "
            f"{e(comparison.method)}.</p>")
    plot = _tradeoff_svg(comparison) if len(comparison.rows) > 1 else ""
    return section("comparison", "Learners compared on the test split", note + table(head, rows, numeric) + plot)


def _tradeoff_svg(comparison: LearnerComparison) -> str:
    """Test score against one-row latency and against training energy, one point per model."""
    from aiforge.evaluate._html import figure, plain, svg

    fig = figure(9.2, 3.4)
    panels = [("one_row_ms_p50", "one-row latency p50 (ms)"), ("training_kwh", "training energy (kWh)")]
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        points = [(r[key], r["metrics"].get(comparison.objective), r) for r in comparison.rows
                  if r.get(key) is not None and r["metrics"].get(comparison.objective) is not None]
        for x, y, r in points:
            ax.scatter([x], [y], s=40, color="#15803d" if r["chosen"] else "#2563eb", zorder=3)
            ax.annotate(plain(r["learner"]), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if points and min(p[0] for p in points) > 0:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^-5, 3x10^-5... would overlap
        ax.margins(x=0.25, y=0.2)  # room for the labels of the points at the edges
        ax.set_xlabel(label)
        ax.set_ylabel(f"test {comparison.objective}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    caption = "Score against cost (green: the registered model)"
    return f"<figure>{svg(fig, 'cmp')}<figcaption>{caption}</figcaption></figure>"
