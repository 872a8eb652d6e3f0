"""White-box evasion of torch models: FGSM and PGD on the network's input gradient.

They run inside the robustness check when the model is one of ``aiforge.deep``'s networks behind the input
encoder (the ``mlp`` learner), on the same correctly classified test rows and within the same box as the
black-box attacks: each numeric input within +-epsilon training standard deviations, inside the training
range, a missing value left missing; categorical inputs fixed. The attack itself runs on the network's
standardised inputs (``aiforge.deep._adversarial``): the box's corners are encoded like any row (the
encoder and the network's standardisation are affine per column), the adversarial inputs are mapped back
to raw values, integer columns are rounded inside their bounds, and every row is then judged by the
model's own decision (``raw_output`` at its threshold), as any other attack's rows are.

Other models never reach this module's torch code: ``torch_network`` looks at the estimator's class only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiforge.evaluate._checks import CheckMetric
from aiforge.spec import RobustnessCheck

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["GRADIENT_ATTACKS", "GRADIENT_METRICS", "gradient_attacks", "torch_network"]

GRADIENT_ATTACKS = ("fgsm", "pgd")
_HINT = ("train adversarially at the check's budget (model.adversarial: {method: pgd, epsilon: <checks.robustness."
         "epsilon>, steps: 7, ratio: 0.5}), use fewer or coarser numeric inputs, or a tree learner")

GRADIENT_METRICS = [
    CheckMetric("fgsm_success_rate", "robustness", False,
                "Torch models: share of attacked (correctly classified) test rows whose decision FGSM (one signed "
                "input-gradient step, white-box) changed, numeric inputs within +-epsilon training standard "
                "deviations, categoricals fixed.", hint=_HINT),
    CheckMetric("accuracy_under_fgsm", "robustness", True,
                "Torch models: test accuracy when every correctly classified row that FGSM breaks counts as wrong: "
                "accuracy x (1 - fgsm_success_rate).", hint=_HINT),
    CheckMetric("pgd_success_rate", "robustness", False,
                "Torch models: share of attacked rows whose decision PGD (projected gradient descent from a random "
                "start, pgd_steps steps, white-box) changed within the same box as FGSM.", hint=_HINT),
    CheckMetric("accuracy_under_pgd", "robustness", True,
                "Torch models: test accuracy when every correctly classified row that PGD breaks counts as wrong: "
                "accuracy x (1 - pgd_success_rate).", hint=_HINT),
]


def torch_network(model: Any) -> Any | None:
    """The torch estimator behind ``model``'s encoder (a ``TabularModel`` whose pipeline is encoder + one
    ``aiforge.deep`` classifier), or None (other estimators, ensembles, mitigated models). Imports nothing."""
    steps = getattr(getattr(model, "pipeline", None), "named_steps", None)
    if not steps or list(steps) != ["prep", "model"]:
        return None
    estimator = steps["model"]
    if type(estimator).__module__.startswith("aiforge.deep.") and hasattr(estimator, "attack"):
        return estimator
    return None


def gradient_attacks(model: Any, queries: Any, rows: pd.DataFrame, labels: np.ndarray, accuracy: float,
                     spec: RobustnessCheck, seed: int) -> tuple[dict[str, float], dict[str, Any], list[dict[str, Any]],
                                                               str] | None:
    """FGSM and PGD on ``rows`` (the robustness check's attacked rows, ``queries`` its view of the model):
    the figures, the details, a few examples and a line of method; None when the model is no torch network
    or has no numeric input to move."""
    import numpy as np

    from aiforge.evaluate._robustness import _examples

    network = torch_network(model)
    domain = queries.domain
    if network is None or not domain.numeric:
        return None
    prep = model.pipeline.named_steps["prep"]
    columns = list(model.features.columns)
    x = queries.numeric
    owner = np.arange(len(x))
    low, high = domain.bounds(x, spec.epsilon)

    def encode(numeric: np.ndarray) -> np.ndarray:
        return np.asarray(prep.transform(queries.frame(owner, numeric)[columns]), dtype=np.float64)

    clean, enc_low, enc_high = encode(x), encode(low), encode(high)
    numeric = slice(0, len(domain.numeric))  # the encoder puts the numeric columns first
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    examples: list[dict[str, Any]] = []
    for method in GRADIENT_ATTACKS:
        started = time.perf_counter()
        steps = spec.pgd_steps if method == "pgd" else 1
        adversarial, fooled = network.attack(clean, labels, method=method, low=enc_low, high=enc_high, steps=steps,
                                             threshold=queries.threshold, random_state=seed)
        raw = _raw(adversarial[:, numeric], enc_low[:, numeric], enc_high[:, numeric], x, low, high, domain.integer)
        broken = queries.decisions(queries.output(queries.frame(owner, raw))) != labels
        rate = float(broken.mean())
        metrics[f"{method}_success_rate"] = rate
        metrics[f"accuracy_under_{method}"] = accuracy * (1 - rate)
        details[method] = {"epsilon": spec.epsilon, "steps": steps, "rows_broken": int(broken.sum()),
                           "rows_fooling_the_network": int(np.asarray(fooled).sum()),
                           "seconds": round(time.perf_counter() - started, 3)}
        examples += _examples(queries, method, raw, None, np.flatnonzero(broken), rows, labels, model.classes)
    method_text = (f" FGSM and PGD ({spec.pgd_steps} steps from a random start; white-box, on the network's input "
                   f"gradient of the cross-entropy) in the same box, categoricals fixed; integer inputs rounded "
                   "inside the box and every row judged by the model's own decision.")
    return metrics, details, examples, method_text


def _raw(adversarial: np.ndarray, enc_low: np.ndarray, enc_high: np.ndarray, x: np.ndarray, low: np.ndarray,
         high: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Encoded numeric inputs back to raw values: each column's encoding is affine, so a point between the
    encoded corners lies as far between the raw ones; integer columns rounded inside their bounds; a value
    that could not move (missing, or a box of one point) stays as it was."""
    import numpy as np

    span = enc_high - enc_low
    movable = np.isfinite(low) & np.isfinite(high) & (span > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip((adversarial - enc_low) / np.where(movable, span, 1.0), 0.0, 1.0)
    raw = np.where(movable, low + share * (high - low), x)
    rounded = np.clip(np.round(raw), low, high)
    return np.asarray(np.where(integer & movable, rounded, raw))
