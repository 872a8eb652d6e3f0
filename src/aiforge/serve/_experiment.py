"""What a deployment has shown so far, read back from the prediction log and the outcomes fed back.

Per arm (champion, challenger, shadow): predictions logged and their latency. For a shadow deployment:
how often the challenger's label agrees with the champion's on the same requests. For an A/B test: the
outcome metric per arm with a 95% confidence interval and a two-sided significance test of the
difference — a two-proportion z-test for 0/1 outcomes and for accuracy, Welch's t-test for other numbers.
"""

from __future__ import annotations

import math
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.monitor import read_predictions
from aiforge.registry import Deployment, OutcomeStore, Strategy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare_arms", "deployment_report"]


def deployment_report(deployment: Deployment, predictions_folder: Path, outcomes: OutcomeStore) -> dict[str, Any]:
    import numpy as np

    created = deployment.created_at if deployment.created_at.tzinfo else deployment.created_at.replace(tzinfo=UTC)
    since = created - timedelta(minutes=5)  # its rows only: the log's files of earlier days are not opened
    log = read_predictions(predictions_folder, deployment.name, inputs=False, since=since,
                           columns=("id", "version", "latency_ms", "label", "role", "deployment"))
    log = log[log["deployment"] == deployment.id]
    arms: dict[str, Any] = {}
    for role, group in log.groupby("role"):
        latency = group["latency_ms"].to_numpy(dtype=float)
        arms[str(role)] = {"version": int(group["version"].iloc[0]), "predictions": len(group),
                           "p50_latency_ms": round(float(np.percentile(latency, 50)), 3),
                           "p99_latency_ms": round(float(np.percentile(latency, 99)), 3)}
    report: dict[str, Any] = {"arms": arms}
    if deployment.strategy is Strategy.SHADOW:
        report["agreement"] = _agreement(log)
    if deployment.strategy is Strategy.AB:
        answered = log[log["role"].isin(["champion", "challenger"])]
        known = outcomes.for_ids(answered["id"].tolist())
        report["test"] = compare_arms(answered, known, metric=str(deployment.options.get("metric", "outcome")),
                                      alpha=float(deployment.options.get("alpha", 0.05)))
    return report


def _agreement(log: pd.DataFrame) -> dict[str, Any]:
    champion = log[log["role"] == "champion"].set_index("id")["label"]
    shadow = log[log["role"] == "shadow"].set_index("id")["label"]
    both = champion.index.intersection(shadow.index)
    if len(both) == 0:
        return {"pairs": 0, "label_agreement": None}
    same = (champion.loc[both].astype(str) == shadow.loc[both].astype(str)).mean()
    return {"pairs": len(both), "label_agreement": round(float(same), 4)}


def compare_arms(answered: pd.DataFrame, outcomes: dict[str, Any], *, metric: str, alpha: float) -> dict[str, Any]:
    """The A/B test: ``answered`` holds the logged predictions (id, role, label); ``outcomes`` the outcome
    fed back per prediction id. ``metric``: ``outcome`` (the mean outcome) or ``accuracy`` (the share of
    predictions whose label equals the outcome)."""
    values: dict[str, list[float]] = {"champion": [], "challenger": []}
    for ident, role, label in zip(answered["id"], answered["role"], answered["label"], strict=True):
        if ident not in outcomes or outcomes[ident] is None or role not in values:
            continue
        observed = outcomes[ident]
        if metric == "accuracy":
            values[role].append(float(str(observed) == str(label)))
        elif isinstance(observed, bool | int | float):
            values[role].append(float(observed))
    a, b = values["champion"], values["challenger"]
    result: dict[str, Any] = {"metric": metric, "alpha": alpha,
                              "champion": _arm(a), "challenger": _arm(b), "difference": None, "p_value": None,
                              "significant": False}
    if len(a) < 2 or len(b) < 2:
        result["verdict"] = "not enough outcomes yet (at least 2 per arm)"
        return result
    binary = all(v in (0.0, 1.0) for v in a + b)
    difference, p_value, test = (_two_proportions if binary else _welch)(a, b)
    result.update(difference=round(difference, 6), p_value=p_value, test=test, significant=p_value < alpha)
    if p_value < alpha:
        result["verdict"] = f"the challenger is {'better' if difference > 0 else 'worse'} (p = {p_value:.3g})"
    else:
        result["verdict"] = f"no significant difference yet (p = {p_value:.3g} >= {alpha})"
    return result


def _arm(values: list[float]) -> dict[str, Any]:
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "ci95": None}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = 1.959964 * math.sqrt(var / n) if n > 1 else None
    return {"n": n, "mean": round(mean, 6),
            "ci95": [round(mean - half, 6), round(mean + half, 6)] if half is not None else None}


def _two_proportions(a: list[float], b: list[float]) -> tuple[float, float, str]:
    from scipy.stats import norm

    pa, pb = sum(a) / len(a), sum(b) / len(b)
    pooled = (sum(a) + sum(b)) / (len(a) + len(b))
    se = math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    if se == 0:
        return pb - pa, 1.0 if pa == pb else 0.0, "two-proportion z-test"
    z = (pb - pa) / se
    return pb - pa, float(2 * norm.sf(abs(z))), "two-proportion z-test"


def _welch(a: list[float], b: list[float]) -> tuple[float, float, str]:
    from scipy.stats import ttest_ind

    difference = sum(b) / len(b) - sum(a) / len(a)
    p = float(ttest_ind(b, a, equal_var=False).pvalue)
    return difference, (1.0 if math.isnan(p) else p), "Welch's t-test"
