"""Differentially private training of the torch networks: DP-SGD (Abadi et al., CCS 2016) with Opacus.

Every step draws its mini-batch by Poisson sampling (each training row independently, with probability
``q`` = 1 / steps per epoch), computes each row's gradient (Opacus's ``GradSampleModule``), clips it to L2
norm ``max_grad_norm``, sums, adds Gaussian noise of standard deviation ``noise_multiplier x
max_grad_norm`` and divides by the expected batch size (Opacus's ``DPOptimizer``, around the loop's own
AdamW: what AdamW does with the noisy gradient is post-processing). The noise multiplier is the smallest
whose Renyi-DP accounting (Mironov 2017; the subsampled Gaussian mechanism) reaches the target
(epsilon, delta) after the steps planned (``max_epochs`` epochs); the accountant then reports what the steps
actually taken spent, which is at most the target (less when early stopping or a deadline ends training).

Noise and batch sampling draw from fresh OS entropy, never from the estimator's seed: noise that anyone can
regenerate from a known seed would hide nothing, and the amplification by subsampling needs the batches to
be secret. DP training is therefore not bit-reproducible.

Neighbouring data sets differ by adding or removing one row. What the guarantee does not cover: the input
standardisation (means and scales of the training rows), class weights computed from the label counts, the
epoch chosen by early stopping on validation rows, and the training history stored with the model (losses
per epoch), which are all computed without noise.

Opacus is imported only here, when a private fit starts (the optional ``privacy`` extra).
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiforge.errors import MissingDependency

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_DELTA", "PRIVACY_HINT", "PrivacyConfig", "PrivacySpent", "PrivateTraining", "require_opacus"]

PRIVACY_HINT = "pip install 'aiforge[privacy]'"
DEFAULT_DELTA = 1e-5
ACCOUNTANT = "rdp"
# Renyi orders: Opacus's defaults and larger ones, so that strong noise (a small epsilon) finds its best order
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)] + [64.0, 96.0, 128.0, 256.0,
                                                                                        512.0, 1024.0]


def require_opacus(what: str = "differentially private training") -> Any:
    """The ``opacus`` module, or a MissingDependency that names the extra to install."""
    try:
        import opacus
    except ImportError as exc:
        raise MissingDependency(f"the optional package 'opacus' is not installed: {what} needs it",
                                expected="opacus (the 'privacy' extra)", found=f"{type(exc).__name__}: {exc}",
                                hint=PRIVACY_HINT) from exc
    return opacus


@dataclass(frozen=True)
class PrivacyConfig:
    """The target budget of a DP-SGD fit: (``epsilon``, ``delta``) over the whole training, and the L2 norm
    each row's gradient is clipped to."""

    epsilon: float
    delta: float = DEFAULT_DELTA
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not _positive(self.epsilon):
            problems.append(f"epsilon must be a finite number > 0, not {self.epsilon!r}")
        if not (_number(self.delta) and 0 < self.delta < 1):
            problems.append(f"delta must be in (0, 1), not {self.delta!r}")
        if not _positive(self.max_grad_norm):
            problems.append(f"max_grad_norm must be a finite number > 0, not {self.max_grad_norm!r}")
        if problems:
            raise ValueError("privacy: " + "; ".join(problems))

    @classmethod
    def from_param(cls, value: Any) -> PrivacyConfig | None:
        """The ``privacy`` parameter of an estimator: None, a ``PrivacyConfig``, or a dict of its fields
        (``{"epsilon": 1.0, "delta": 1e-5, "max_grad_norm": 1.0}``)."""
        if value is None or isinstance(value, cls):
            return value
        if not isinstance(value, Mapping) or "epsilon" not in value:
            raise ValueError(f"privacy must be None or a dict with at least epsilon, such as {{'epsilon': 1.0, "
                             f"'delta': 1e-05, 'max_grad_norm': 1.0}}, not {value!r}")
        unknown = sorted(set(value) - {"epsilon", "delta", "max_grad_norm"})
        if unknown:
            raise ValueError(f"privacy: unknown setting(s) {unknown}; the settings are epsilon, delta and "
                             f"max_grad_norm")
        return cls(**dict(value))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


@dataclass(frozen=True)
class PrivacySpent:
    """What a DP-SGD fit spent: ``epsilon`` at ``delta`` for the ``steps`` taken (at most ``target_epsilon``),
    with the mechanism's settings."""

    epsilon: float
    delta: float
    target_epsilon: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    planned_steps: int
    accountant: str = ACCOUNTANT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class PrivateTraining:
    """The pieces of DP-SGD the training loop uses in place of its own: the module with per-row gradients
    (``module``, for the training forward passes), the private optimiser (``optimizer``), Poisson batches
    (``batch``), the loss of a batch (``loss``), and the budget spent (``spent``)."""

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, config: PrivacyConfig, *,
                 rows: int, batch_size: int, epochs: int, device: torch.device) -> None:
        require_opacus()
        import torch
        from opacus import GradSampleModule
        from opacus.accountants import RDPAccountant
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.optimizers import DPOptimizer

        self.config = config
        self.rows = rows
        self.steps_per_epoch = max(1, math.ceil(rows / batch_size))
        self.sample_rate = 1.0 / self.steps_per_epoch
        self.planned_steps = self.steps_per_epoch * epochs
        with warnings.catch_warnings():  # an order at the end of ALPHAS still gives a valid (looser) bound
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            self.noise_multiplier = float(get_noise_multiplier(
                target_epsilon=config.epsilon, target_delta=config.delta, sample_rate=self.sample_rate,
                steps=self.planned_steps, accountant=ACCOUNTANT, alphas=ALPHAS))
        self.module = GradSampleModule(module, loss_reduction="sum", strict=True)
        self.sampler = torch.Generator().manual_seed(secrets.randbits(63))
        noise = torch.Generator(device=device).manual_seed(secrets.randbits(63))
        self.expected_batch = self.sample_rate * rows
        self.optimizer = DPOptimizer(optimizer, noise_multiplier=self.noise_multiplier,
                                     max_grad_norm=config.max_grad_norm,
                                     expected_batch_size=self.expected_batch,
                                     loss_reduction="mean", generator=noise)
        self.accountant = RDPAccountant()
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate))
        self.device = device

    def batch(self) -> torch.Tensor:
        """The rows of one step: each row independently with probability ``sample_rate`` (possibly none)."""
        import torch

        chosen = torch.rand(self.rows, generator=self.sampler) < self.sample_rate
        return torch.nonzero(chosen).squeeze(1).to(self.device)

    @staticmethod
    def loss(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """The batch's summed loss: each row's gradient is then its own, clipped before anything is added;
        the optimiser divides the noisy sum by the expected batch size."""
        return (losses * weights).sum() if weights is not None else losses.sum()

    def backward(self, loss: torch.Tensor) -> None:
        with warnings.catch_warnings():  # Opacus's hooks on a first layer whose input needs no gradient
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.backward()

    def grad_norm(self) -> torch.Tensor:
        """The norm of the noisy gradient the last step applied (a function of the private output only)."""
        import torch

        grads = [p.grad.detach().norm() for p in self.optimizer.params if p.grad is not None]
        return torch.stack(grads).norm() if grads else torch.zeros(())

    def paused(self) -> Any:
        """A context in which the module's per-row gradient hooks are off (an attack's own gradients)."""
        return _HooksOff(self.module)

    def spent(self) -> PrivacySpent:
        steps = sum(n for _, _, n in self.accountant.history)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            epsilon = float(self.accountant.get_epsilon(delta=self.config.delta, alphas=ALPHAS)) if steps else 0.0
        return PrivacySpent(epsilon, float(self.config.delta), float(self.config.epsilon), self.noise_multiplier,
                            float(self.config.max_grad_norm), self.sample_rate, int(steps), self.planned_steps)

    def close(self) -> torch.nn.Module:
        """The plain module again: hooks removed, per-row gradients dropped."""
        module: torch.nn.Module = self.module.to_standard_module()
        for p in module.parameters():
            for name in ("grad_sample", "summed_grad", "_forward_counter", "_current_grad_sample"):
                if hasattr(p, name):
                    delattr(p, name)
        return module


class _HooksOff:
    def __init__(self, module: Any) -> None:
        self.module = module

    def __enter__(self) -> None:
        self.module.disable_hooks()

    def __exit__(self, *exc: object) -> None:
        self.module.enable_hooks()
