"""Privacy check: a membership-inference audit, and the differential-privacy budget the model spent.

An attacker who can query the model tries to tell the rows it was trained on (members) from rows
it never saw (non-members). Two black-box attacks, each scored by the AUC of its membership score:

- loss threshold (Yeom, Giacomelli, Fredrikson & Jha, CSF 2018): members tend to have lower loss;
  score = -loss (cross-entropy of the true class, or squared error for regression);
- confidence (Salem et al., NDSS 2019): members tend to get more confident predictions; score =
  the highest predicted probability (classification only; it needs no label).

0.5 means the attacker does no better than a coin; the reported AUC is the strongest attack's.
The membership advantage is max(TPR - FPR) over thresholds (Yeom et al.'s measure, bounded by
e^epsilon - 1 for an epsilon-DP model). Members are ``max_rows`` training rows, non-members as many
test rows, drawn at random with the run's seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CheckContext, CheckMetric, CheckResult, check
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["membership_attack"]

_HINT = ("train with differential privacy (model.privacy: {epsilon: 1.0} with model.learners: [dp_linear] or "
         "[mlp]), regularise more, or stop boosting earlier")
_EPS_HINT = ("lower model.privacy.epsilon, or fit fewer DP configurations on the same data (each trial and fold "
             "spends budget: a smaller search budget, fewer folds)")
METRICS = [
    CheckMetric("membership_inference_auc", "privacy", False,
                "AUC of the strongest membership-inference attack (loss threshold or confidence) telling training "
                "rows from test rows; 0.5 = no leakage", hint=_HINT),
    CheckMetric("membership_advantage", "privacy", False,
                "Membership advantage of that attack: max over thresholds of TPR - FPR (0 = no leakage)", hint=_HINT),
    CheckMetric("privacy_epsilon", "privacy", False,
                "Differential-privacy epsilon the final model spent on its training rows (DP learners only)",
                hint=_EPS_HINT),
    CheckMetric("privacy_delta", "privacy", False,
                "Differential-privacy delta the final model spent (DP learners only)", hint=_EPS_HINT),
    CheckMetric("privacy_epsilon_spent", "privacy", False,
                "Epsilon spent on the training rows by the final model plus every DP trial and fold of the search "
                "(basic composition; only when the run passes its trials)", hint=_EPS_HINT),
]


def _row_losses(model: Any, frame: Any, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row loss, and (classification) per-row confidence."""
    import numpy as np

    output = model.raw_output(frame)
    if model.task is TaskKind.REGRESSION:
        return (np.asarray(output, dtype=float) - y) ** 2, None
    proba = np.asarray(output, dtype=float)
    picked = proba[np.arange(len(y)), y]
    return -np.log(np.clip(picked, 1e-12, 1.0)), proba.max(axis=1)


def membership_attack(member_scores: np.ndarray, non_member_scores: np.ndarray) -> dict[str, float]:
    """AUC and advantage (max TPR - FPR) of an attack that calls rows with higher scores members."""
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.concatenate([np.ones(len(member_scores)), np.zeros(len(non_member_scores))])
    scores = np.concatenate([member_scores, non_member_scores])
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auc": float(roc_auc_score(truth, scores)), "advantage": float(np.max(tpr - fpr))}


def _auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil (1982): the sampling error of an AUC, to tell leakage from noise."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(max(var, 0.0) ** 0.5)


def _labelled(ctx: CheckContext, frame: Any) -> tuple[Any, np.ndarray]:
    """Rows whose label the model knows (a class absent from training cannot be scored), encoded."""
    from aiforge.learn._model import _label_key

    frame = frame[frame[ctx.target].notna()]
    if ctx.task.is_classification:
        known = {_label_key(c) for c in ctx.model.classes}
        frame = frame[frame[ctx.target].map(lambda v: _label_key(v) in known).to_numpy(dtype=bool)]
    return frame, ctx.model.encode_target(frame[ctx.target])


def _sample(frame: Any, rows: int, seed: int) -> Any:
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


@check("privacy", METRICS)
def privacy_check(ctx: CheckContext) -> CheckResult:
    import numpy as np

    from aiforge.learn._dp import privacy_budget, search_budget

    section = ctx.checks.privacy
    train, y_train = _labelled(ctx, ctx.train)
    test, y_test = _labelled(ctx, ctx.test)
    rows = min(section.max_rows, len(train), len(test))
    if rows < 20:
        return CheckResult("privacy", "skipped",
                           reason=f"too few labelled rows to audit: {len(train)} training and {len(test)} test rows "
                                  "(at least 20 of each are needed)")
    members = _sample(train.assign(_y=y_train), rows, ctx.seed)
    outsiders = _sample(test.assign(_y=y_test), rows, ctx.seed + 1)
    loss_in, conf_in = _row_losses(ctx.model, members, members["_y"].to_numpy())
    loss_out, conf_out = _row_losses(ctx.model, outsiders, outsiders["_y"].to_numpy())
    scored = {"loss_threshold": membership_attack(-loss_in, -loss_out)}
    if conf_in is not None and conf_out is not None:
        scored["confidence"] = membership_attack(conf_in, conf_out)
    for figures in scored.values():
        figures["auc_standard_error"] = _auc_standard_error(figures["auc"], rows, rows)
    name = max(scored, key=lambda a: scored[a]["auc"])
    strongest = scored[name]
    attacks = [{"attack": a, **figures} for a, figures in scored.items()]
    metrics: dict[str, float] = {"membership_inference_auc": strongest["auc"],
                                 "membership_advantage": strongest["advantage"]}
    details: dict[str, Any] = {
        "attacks": attacks,
        "strongest_attack": name,
        "members": rows,
        "non_members": rows,
        "loss": "squared error" if ctx.task is TaskKind.REGRESSION else "cross-entropy of the true class",
        "train_loss_mean": float(np.mean(loss_in)),
        "test_loss_mean": float(np.mean(loss_out)),
    }
    budget = privacy_budget(ctx.model)
    if budget is None:
        details["differential_privacy"] = (
            "not trained with differential privacy: privacy_epsilon and privacy_delta are not reported "
            "(set model.privacy, with model.learners: [dp_linear] or [mlp], for a DP model)")
    else:
        metrics["privacy_epsilon"], metrics["privacy_delta"] = budget
        dp: dict[str, Any] = {"epsilon": budget[0], "delta": budget[1],
                              "advantage_bound": float(np.expm1(budget[0])) if budget[1] == 0 else None,
                              "not_covered": "the input encoder's statistics (medians, means, standard deviations, "
                                             "category levels) and the choice among trials by validation scores; "
                                             "for an mlp trained by DP-SGD also the epochs early stopping chose "
                                             "on the search's validation folds and the losses per epoch its "
                                             "training history keeps"}
        trials, folds = ctx.extra.get("trials"), ctx.extra.get("cv_folds")
        if trials is not None and folds:
            regression = ctx.task is TaskKind.REGRESSION
            eps, delta, fits = search_budget(trials, int(folds), regression=regression)
            metrics["privacy_epsilon_spent"] = budget[0] + eps
            dp.update({"search_epsilon": eps, "search_delta": delta, "search_fits": fits,
                       "epsilon_spent": budget[0] + eps, "delta_spent": budget[1] + delta})
        else:
            dp["search"] = "the run passed no search trials: what the search's DP fits spent is not counted"
        details["differential_privacy"] = dp
    if section.profile_epsilon is not None:
        details["dp_profile"] = dp_profile(ctx.train, ctx.model.features.numeric, section.profile_epsilon,
                                           dict(section.profile_bounds))
    method = (f"membership inference on {rows} training vs {rows} test rows: loss-threshold attack (Yeom et al. 2018)"
              + (" and confidence attack" if len(attacks) > 1 else "") + "; AUC of the strongest")
    return CheckResult("privacy", "ok", metrics=metrics, details=details, method=method)


RANGE_SHARE = 0.3  # of a column's budget, spent finding its range privately when none is given


def dp_profile(frame: Any, columns: list[str], epsilon: float,
               bounds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """A differentially private profile of ``columns`` of ``frame``: ``epsilon`` split evenly over them (basic
    composition); per column, a range (given in ``bounds``, else the private 1st and 99th percentiles on a
    fixed log grid, spending ``RANGE_SHARE`` of its share), then the missing count, the clipped mean and a
    10-bin histogram (``aiforge.data._dp_stats``)."""
    import numpy as np

    from aiforge.data._dp_stats import dp_column_profile, dp_quantile

    if not columns:
        return {"epsilon": epsilon, "columns": [], "note": "no numeric input columns to profile"}
    share = epsilon / len(columns)
    rows = []
    for name in columns:
        values = np.asarray(frame[name], dtype=float)
        spent = 0.0
        if name in bounds:
            low, high = (float(b) for b in bounds[name])
            origin = "given"
        else:
            quarter = share * RANGE_SHARE / 2
            low, high = dp_quantile(values, 0.01, quarter), dp_quantile(values, 0.99, quarter)
            spent = 2 * quarter
            origin = "private 1st-99th percentiles"
            if high <= low:
                high = low + max(abs(low), 1.0)
        profile = dp_column_profile(values, low, high, share - spent)
        hist = profile["histogram"]
        rows.append({"column": name, "range": f"[{low:.4g}, {high:.4g}] ({origin})",
                     "missing": round(max(0.0, profile["missing"]), 1), "mean": round(profile["mean"], 4),
                     "histogram": [round(max(0.0, c), 1) for c in hist["counts"]], "epsilon": round(share, 6)})
    return {"epsilon": epsilon, "delta": 0.0, "rows": len(frame), "columns": rows,
            "note": "Laplace and exponential mechanisms, pure epsilon-DP under bounded DP (the row count is public); "
                    "categorical columns are not profiled (their levels would leak)"}
