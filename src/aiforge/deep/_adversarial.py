"""White-box evasion attacks on a network's input gradient, and adversarial training with them.

- FGSM (Goodfellow, Shlens & Szegedy 2015): one step from the clean input to the edge of its box, along the
  sign of the loss's gradient.
- PGD (Madry et al. 2018): from a random point of the box, ``steps`` signed-gradient steps of 2.5 x the
  box's half-width / ``steps``, each projected back into the box.

A box is given per element (``low``, ``high``: an L-inf ball around the input, intersected with whatever
range the caller allows), so that an attack on a table can keep each column within its own bounds. Only
the floating-point inputs of a network move (a table's numeric columns, an image, a sequence); integer
inputs (category codes) are held fixed. The loss is the network's own training loss of the true target
(cross-entropy for classifiers), summed over rows.

Adversarial training (``AdversarialTraining``) replaces a share (``ratio``) of every mini-batch with
adversarial versions of its rows, made against the network as it is at that step (in evaluation mode, so
that batch norm's running statistics and dropout are left alone), within ``epsilon`` standardised units
and the range of the training inputs.

This module imports torch: it is imported only once torch is known to be installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

__all__ = ["ATTACKS", "AdversarialTraining", "Adversary", "attack"]

Attack = Literal["fgsm", "pgd"]
ATTACKS: tuple[Attack, ...] = ("fgsm", "pgd")
PGD_STEP = 2.5  # PGD's step is this share of the box's half-width, divided by the steps (Madry et al.)

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Wrong = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AdversarialTraining:
    """How a torch estimator trains adversarially: ``method`` (pgd or fgsm) within ``epsilon`` standardised
    units of each float input, ``steps`` PGD steps, on a ``ratio`` share of every mini-batch's rows."""

    method: Attack = "pgd"
    epsilon: float = 0.1
    steps: int = 7
    ratio: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if self.method not in ATTACKS:
            problems.append(f"method must be one of {', '.join(ATTACKS)}, not {self.method!r}")
        if not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon) and self.epsilon > 0):
            problems.append(f"epsilon must be a positive number of standardised units, not {self.epsilon!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            problems.append(f"steps must be a whole number >= 1, not {self.steps!r}")
        if not (isinstance(self.ratio, (int, float)) and 0 < self.ratio <= 1):
            problems.append(f"ratio must be a share of each batch in (0, 1], not {self.ratio!r}")
        if problems:
            raise ValueError("adversarial training: " + "; ".join(problems))

    @classmethod
    def from_param(cls, value: Any) -> AdversarialTraining | None:
        """The ``adversarial`` parameter of an estimator: None, an ``AdversarialTraining``, or a dict of its
        fields (``{"method": "pgd", "epsilon": 0.1, "steps": 7, "ratio": 0.5}``)."""
        if value is None or isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"adversarial must be None or a dict such as {{'method': 'pgd', 'epsilon': 0.1, "
                             f"'steps': 7, 'ratio': 0.5}}, not {value!r}")
        unknown = sorted(set(value) - {"method", "epsilon", "steps", "ratio"})
        if unknown:
            raise ValueError(f"adversarial training: unknown setting(s) {unknown}; the settings are method, "
                             f"epsilon, steps and ratio")
        return cls(**dict(value))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def attack(module: torch.nn.Module, inputs: Batch, target: torch.Tensor, loss_fn: LossFn,
           low: tuple[torch.Tensor | None, ...], high: tuple[torch.Tensor | None, ...], *, method: Attack,
           steps: int = 10, generator: torch.Generator | None = None,
           wrong: Wrong | None = None) -> tuple[Batch, torch.Tensor | None]:
    """Adversarial versions of ``inputs`` (one row per target) inside the boxes ``low``/``high`` (one per
    input, ``None`` for inputs held fixed), by FGSM or PGD on ``loss_fn(outputs, target)`` summed.

    With ``wrong(outputs, target)`` (True where the network's decision is wrong), a row keeps the last
    iterate that fooled the network (PGD climbs the loss, so the latest is usually the deepest past the
    boundary), and the second value says which rows were fooled at some step; without it, the last
    iterate is returned (what adversarial training uses) and the second value is None. The module is used
    as it is (the caller sets evaluation mode); its parameters get no gradient.
    """
    if method not in ATTACKS:
        raise ValueError(f"method must be one of {', '.join(ATTACKS)}, not {method!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps!r}")
    moving = [i for i, bound in enumerate(low) if bound is not None]
    if not moving:
        raise ValueError("no input to perturb: every input is held fixed (only floating-point inputs move)")
    clean = [inputs[i].detach() for i in moving]
    lows: list[torch.Tensor] = []
    highs: list[torch.Tensor] = []
    for i in moving:
        lo, hi = low[i], high[i]
        if lo is None or hi is None:
            raise ValueError(f"input {i} has a lower bound but no upper bound: give both or neither")
        lows.append(lo)
        highs.append(hi)
    current: list[torch.Tensor]
    if method == "pgd":
        current = [lo + torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * (hi - lo)
                   for x, lo, hi in zip(clean, lows, highs, strict=True)]
        size = [PGD_STEP * (hi - lo) / 2 / steps for lo, hi in zip(lows, highs, strict=True)]
        rounds = steps
    else:
        current = [x.clone() for x in clean]
        size = []
        rounds = 1
    rows = int(target.shape[0])
    fooled = torch.zeros(rows, dtype=torch.bool, device=target.device) if wrong is not None else None
    kept = [x.clone() for x in current] if wrong is not None else None

    def full(parts: list[torch.Tensor]) -> Batch:
        out = list(inputs)
        for i, part in zip(moving, parts, strict=True):
            out[i] = part
        return tuple(out)

    def remember(outputs: torch.Tensor, parts: list[torch.Tensor]) -> None:
        if wrong is None or fooled is None or kept is None:
            return
        hit = wrong(outputs.detach(), target)
        if hit.any():
            for store, part in zip(kept, parts, strict=True):
                store[hit] = part.detach()[hit]
            fooled[hit] = True

    for _ in range(rounds):
        parts = [x.detach().requires_grad_(True) for x in current]
        with torch.enable_grad():
            outputs = module(*full(parts)).float()
            loss = loss_fn(outputs, target).sum()
            grads = torch.autograd.grad(loss, parts)
        remember(outputs, parts)
        if method == "fgsm":  # to the edge of the box, along the gradient's sign
            current = [torch.where(g > 0, hi, torch.where(g < 0, lo, x))
                       for x, g, lo, hi in zip(clean, grads, lows, highs, strict=True)]
        else:
            current = [torch.minimum(torch.maximum(x.detach() + s * g.sign(), lo), hi)
                       for x, g, s, lo, hi in zip(current, grads, size, lows, highs, strict=True)]
    if wrong is not None and kept is not None and fooled is not None:
        with torch.no_grad():
            remember(module(*full(current)).float(), current)
        final = [torch.where(fooled.view(-1, *([1] * (k.dim() - 1))), k, x) for k, x in zip(kept, current,
                                                                                          strict=True)]
        return full([f.detach() for f in final]), fooled
    return full([x.detach() for x in current]), None


class Adversary:
    """Adversarial training inside the loop: ``perturb`` replaces the first ``ratio`` share of a (randomly
    ordered) mini-batch's rows with adversarial versions made against ``module`` as it is now.

    Each float input may move ``epsilon`` (the inputs are standardised) and stays within the range of the
    training inputs; the random starts of PGD come from the loop's own seeded generator."""

    def __init__(self, config: AdversarialTraining, inputs: Batch, loss_fn: LossFn, *, seed: int,
                 device: torch.device) -> None:
        self.config = config
        self.loss_fn = loss_fn
        floating = [t.is_floating_point() for t in inputs]
        if not any(floating):
            raise ValueError("adversarial training needs a floating-point input to perturb; this network's "
                             "inputs are all integer codes")
        self.floor = tuple(t.amin(dim=0) if f else None for t, f in zip(inputs, floating, strict=True))
        self.ceiling = tuple(t.amax(dim=0) if f else None for t, f in zip(inputs, floating, strict=True))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.rows = 0  # adversarial rows trained on so far

    def perturb(self, module: torch.nn.Module, batch: Batch, target: torch.Tensor) -> Batch:
        rows = int(target.shape[0])
        take = min(rows, int(math.ceil(self.config.ratio * rows)))
        if take == 0:
            return batch
        eps = self.config.epsilon
        part = tuple(t[:take] for t in batch)
        low = tuple(None if lo is None else torch.maximum(t - eps, lo)
                    for t, lo in zip(part, self.floor, strict=True))
        high = tuple(None if hi is None else torch.minimum(t + eps, hi)
                     for t, hi in zip(part, self.ceiling, strict=True))
        training = module.training
        module.eval()
        try:
            adversarial, _ = attack(module, part, target[:take], self.loss_fn, low, high,
                                    method=self.config.method, steps=self.config.steps, generator=self.generator)
        finally:
            module.train(training)
        self.rows += take
        if take == rows:
            return adversarial
        return tuple(torch.cat([a, t[take:]]) for a, t in zip(adversarial, batch, strict=True))
