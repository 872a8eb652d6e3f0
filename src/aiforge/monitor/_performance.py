"""Production performance from delayed labels: outcomes fed back (``registry.OutcomeStore``) joined to the
logged predictions by id, scored per version with the same metrics as training, and checked against the
KPIs the version was gated on — a KPI that held at release and fails in production is a breach."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import AiforgeError
from aiforge.evaluate import compute_metrics
from aiforge.registry import ModelVersion, OutcomeStore
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    from datetime import timedelta
    from pathlib import Path

    import pandas as pd

__all__ = ["ProductionPerformance", "load_outcomes", "production_performance"]

MIN_LABELLED = 20


@dataclass(frozen=True)
class ProductionPerformance:
    version: int
    predictions: int
    labelled: int
    metrics: dict[str, float]
    breaches: list[dict[str, Any]]  # gate KPIs the production figures fail
    series: list[dict[str, Any]]  # the metrics per period, oldest first (with ``every``)

    def to_json(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {"version": self.version, "predictions": self.predictions, "labelled": self.labelled,
                "metrics": {k: clean(v) for k, v in self.metrics.items()}, "breaches": self.breaches,
                "series": [{k: clean(v) if not isinstance(v, dict) else {m: clean(x) for m, x in v.items()}
                            for k, v in s.items()} for s in self.series]}


def production_performance(log: pd.DataFrame, outcomes: OutcomeStore, version: ModelVersion, meta: dict[str, Any],
                           every: timedelta | None = None) -> ProductionPerformance:
    """Metrics of ``version``'s logged predictions in ``log`` that have an outcome (at least
    ``MIN_LABELLED`` of them; fewer give no figures), over the whole window and per ``every`` period.
    ``meta``: the reference's (task, decision threshold)."""
    import pandas as pd

    rows = log[log["version"] == version.version]
    known = outcomes.for_ids(rows["id"].tolist())
    labelled = rows[rows["id"].isin(list(known))]
    task = TaskKind(meta.get("task") or _task(labelled))
    threshold = float(meta.get("threshold", 0.5))
    metrics = _score(labelled, known, task, threshold) if len(labelled) >= MIN_LABELLED else {}
    series = []
    if every is not None and len(labelled):
        for start, group in labelled.groupby(pd.Grouper(key="time", freq=pd.Timedelta(every))):
            if len(group):
                series.append({"start": start.isoformat(), "labelled": len(group),
                               "metrics": _score(group, known, task, threshold) if len(group) >= MIN_LABELLED
                               else {}})
    return ProductionPerformance(version.version, len(rows), len(labelled), metrics,
                                 _breaches(metrics, version.gate), series)


def _task(rows: pd.DataFrame) -> str:
    if rows["value"].notna().any():
        return TaskKind.REGRESSION.value
    first = next((p for p in rows["probabilities"] if isinstance(p, str)), None)
    return TaskKind.BINARY.value if first is None or len(json.loads(first)) == 2 else TaskKind.MULTICLASS.value


def _score(rows: pd.DataFrame, known: dict[str, Any], task: TaskKind, threshold: float) -> dict[str, float]:
    import numpy as np

    truth = [known[i] for i in rows["id"]]
    if task is TaskKind.TEXT_GENERATION:  # the outcome is the reference text; the logged label, the generated one
        return compute_metrics(task, np.asarray([str(t) for t in truth], dtype=object),
                               rows["label"].fillna("").to_numpy(dtype=object))
    if task is TaskKind.REGRESSION:
        y = np.asarray([float(t) for t in truth])
        return compute_metrics(task, y, rows["value"].to_numpy(dtype=float))
    probabilities = [json.loads(p) for p in rows["probabilities"]]
    classes = list(probabilities[0])
    output = np.asarray([[p[c] for c in classes] for p in probabilities], dtype=float)
    index = {c: i for i, c in enumerate(classes)}
    keep = [str(t) in index for t in truth]
    if not all(keep):  # an outcome that is not one of the classes cannot be scored
        output = output[keep]
        truth = [t for t, k in zip(truth, keep, strict=True) if k]
    y = np.asarray([index[str(t)] for t in truth])
    if len(set(y.tolist())) < 2:
        return {}
    return compute_metrics(task, y, output, threshold if task is TaskKind.BINARY else 0.5)


def _breaches(metrics: dict[str, float], gate: dict[str, Any]) -> list[dict[str, Any]]:
    breaches = []
    for kpi in gate.get("results", []):
        value = metrics.get(kpi.get("metric", ""))
        if value is None or not math.isfinite(value) or "[" in kpi.get("metric", ""):
            continue
        ok = value >= kpi["threshold"] if kpi["bound"] == ">=" else value <= kpi["threshold"]
        if not ok:
            breaches.append({"kpi": kpi["kpi"], "metric": kpi["metric"], "production": round(value, 6),
                             "bound": kpi["bound"], "threshold": kpi["threshold"], "at_release": kpi.get("value"),
                             "message": f"{kpi['metric']} = {value:.4f} in production, {kpi['bound']} "
                                        f"{kpi['threshold']} required (it was {kpi.get('value')} at release)"})
    return breaches


def load_outcomes(path: Path, *, id_column: str = "id", outcome_column: str = "outcome") -> list[tuple[str, Any]]:
    """``(prediction id, outcome)`` pairs from a CSV, Parquet or JSON-lines file."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, dtype={id_column: str}, keep_default_na=True)
    except (OSError, ValueError) as exc:
        raise AiforgeError(f"cannot read the outcomes in {path}", found=str(exc),
                           hint="give a .csv, .parquet or .jsonl file with an id and an outcome column") from exc
    missing = [c for c in (id_column, outcome_column) if c not in frame.columns]
    if missing:
        raise AiforgeError(f"{path} has no column {', '.join(repr(c) for c in missing)}",
                           found="columns " + ", ".join(map(str, frame.columns)),
                           hint="name them with --id-column and --outcome-column")
    pairs: Sequence[tuple[Any, Any]] = list(zip(frame[id_column], frame[outcome_column], strict=True))
    return [(str(i), _plain(o)) for i, o in pairs if o is not None and not (isinstance(o, float) and math.isnan(o))]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
