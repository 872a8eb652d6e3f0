"""The one training loop every torch learner uses.

Mini-batches drawn in a seeded order; AdamW (no weight decay on biases and normalisation weights); a
learning-rate schedule per step (linear warm-up then cosine decay, one-cycle, or constant); the gradient
norm clipped; mixed precision (autocast, with a gradient scaler for float16); early stopping on the
validation loss, the best epoch's weights restored; and a deadline (a ``time.perf_counter()`` value, as the
search gives every learner) checked after each step: training stops there with the best weights so far.

Every epoch is recorded (losses, learning rate, gradient norms, clipped steps) so that what the loop did
can be read back, tested and reported.

``augment`` (``aiforge.deep._augment``) flips, shifts, turns, cuts out or adds noise to each training batch, on
the training device from its own seeded generator; validation never sees it.

Two options change a step: ``adversarial`` (``aiforge.deep._adversarial``) replaces a share of each batch with
adversarial versions of its rows; ``privacy`` (``aiforge.deep._private``) makes it a DP-SGD step (Poisson
batches, per-row clipping, Gaussian noise; float32 only) and records the budget spent in the history.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiforge.deep._runtime import Precision, require_torch

if TYPE_CHECKING:
    import torch

    from aiforge.deep._adversarial import AdversarialTraining
    from aiforge.deep._augment import Augmentation
    from aiforge.deep._private import PrivacyConfig, PrivacySpent

__all__ = ["SCHEDULES", "EpochRecord", "ParameterGroup", "TrainConfig", "TrainingHistory", "batches_per_epoch",
           "train"]

Schedule = Literal["cosine", "onecycle", "constant"]
SCHEDULES: tuple[Schedule, ...] = ("cosine", "onecycle", "constant")
Stop = Literal["max_epochs", "early_stopping", "deadline"]
MIN_LR_SHARE = 0.01  # the cosine schedule decays to this share of the peak learning rate
EVAL_ROWS = 8192  # rows per forward pass when validating
IMPROVEMENT = 1e-7  # a validation loss lower than the best by less than this (relative) is no improvement


@dataclass(frozen=True)
class TrainConfig:
    """The loop's settings: optimiser, batches, schedule, clipping, early stopping and the seed."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int | None = 10  # epochs without a better validation loss before stopping; None: never stop early
    schedule: Schedule = "cosine"
    warmup: float = 0.05  # share of the steps spent warming up (cosine: linear rise; onecycle: its rising phase)
    clip_norm: float | None = 1.0  # largest gradient norm (all parameters together); None: no clipping
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.lr > 0:
            problems.append(f"lr must be positive, not {self.lr!r}")
        if not self.weight_decay >= 0:
            problems.append(f"weight_decay must be at least 0, not {self.weight_decay!r}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be at least 1, not {self.batch_size!r}")
        if self.max_epochs < 1:
            problems.append(f"max_epochs must be at least 1, not {self.max_epochs!r}")
        if self.patience is not None and self.patience < 1:
            problems.append(f"patience must be at least 1 (or None), not {self.patience!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not 0.0 <= self.warmup <= 0.5:
            problems.append(f"warmup must be a share of the steps in [0, 0.5], not {self.warmup!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            problems.append(f"clip_norm must be positive (or None), not {self.clip_norm!r}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters that learn at ``lr_share`` of the configured learning rate (the schedule scales it alike)."""

    params: list[torch.nn.Parameter]
    lr_share: float = 1.0

    def __post_init__(self) -> None:
        if not self.lr_share > 0:
            raise ValueError(f"a parameter group's lr_share must be positive, not {self.lr_share!r}")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation loss, the learning rate of its last step, the largest
    gradient norm before clipping, how many of its steps were clipped, and its time."""

    epoch: int
    train_loss: float
    valid_loss: float | None
    lr: float
    grad_norm: float
    clipped: int
    steps: int
    seconds: float


@dataclass(frozen=True)
class TrainingHistory:
    """What the loop did: every epoch, the epoch whose weights were kept (1-based), why it stopped, where
    and in what precision it ran. ``lrs`` is the learning rate of every step, in order."""

    epochs: list[EpochRecord]
    best_epoch: int
    stopped: Stop
    device: str
    precision: str
    seconds: float
    lrs: list[float] = field(default_factory=list, repr=False)
    adversarial_rows: int = 0  # rows replaced by adversarial versions (adversarial training)
    privacy: PrivacySpent | None = None  # the budget a DP-SGD fit spent
    augmented_rows: int = 0  # training rows that went through the augmentation (counted once per epoch seen)

    @property
    def cut(self) -> bool:
        """Whether the deadline ended training."""
        return self.stopped == "deadline"

    @property
    def best_valid_loss(self) -> float | None:
        return self.epochs[self.best_epoch - 1].valid_loss if self.epochs else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["lrs"]
        if self.privacy is not None:
            data["privacy"] = self.privacy.to_json()
        return data


Batch = tuple["torch.Tensor", ...]
LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """Mini-batches in an epoch: a last batch of one row is dropped (batch norm cannot train on one row),
    unless it is the only one."""
    full, rest = divmod(rows, batch_size)
    return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


def train(module: torch.nn.Module, inputs: Batch, target: torch.Tensor, loss_fn: LossFn, config: TrainConfig, *,
          device: torch.device, precision: Precision, weights: torch.Tensor | None = None,
          valid: tuple[Batch, torch.Tensor] | None = None, valid_weights: torch.Tensor | None = None,
          deadline: float | None = None, adversarial: AdversarialTraining | None = None,
          privacy: PrivacyConfig | None = None, augment: Augmentation | None = None,
          groups: list[ParameterGroup] | None = None,
          on_epoch: Callable[[int], None] | None = None) -> TrainingHistory:
    """Train ``module`` in place on ``inputs`` (tensors with one row per target) and return its history.

    ``loss_fn(outputs, targets)`` gives one loss per row; a batch's loss is their mean, weighted by
    ``weights`` (one per row: sample and class weights) when given, as the validation loss is by
    ``valid_weights``.

    With ``valid``, each epoch ends with the validation loss; training stops after ``config.patience``
    epochs without a better one, and the best epoch's weights are restored. ``deadline`` ends training
    after the step that passes it (then the epoch is validated, and the best weights kept as ever).

    ``adversarial``: each batch's first ``ratio`` share of rows (the order is random) is replaced by FGSM or
    PGD versions within ``epsilon`` of each float input. ``privacy``: DP-SGD to the target (epsilon, delta)
    over ``max_epochs`` epochs; the history's ``privacy`` holds what was spent. ``clip_norm`` does not apply
    then (each row's gradient is clipped to ``max_grad_norm`` instead), nor mixed precision. ``augment``:
    each training batch is augmented (before any adversarial step) from a generator seeded by ``config.seed``.

    ``groups``: the parameters the optimiser holds, each group with its share of ``lr`` (a backbone trained
    slower than a new head); a parameter frozen now (``requires_grad`` False) may be among them, so that
    ``on_epoch(epoch)``, called before each epoch (1-based), can unfreeze it. Without ``groups``, every
    parameter that requires a gradient at the start trains at ``lr``.
    """
    torch = require_torch()
    from aiforge.deep._augment import augment_batch
    from aiforge.deep._modules import SeededDropout

    started = time.perf_counter()
    rows = int(target.shape[0])
    if rows < 2:
        raise ValueError(f"training needs at least 2 rows, got {rows}")
    module.to(device)
    inputs = tuple(t.to(device) for t in inputs)
    target = target.to(device)
    if weights is not None:
        weights = weights.to(device=device, dtype=torch.float32)
    if valid is not None:
        valid = (tuple(t.to(device) for t in valid[0]), valid[1].to(device))
        if valid_weights is not None:
            valid_weights = valid_weights.to(device=device, dtype=torch.float32)
    order_generator = torch.Generator().manual_seed(config.seed)
    dropout_generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    augment_generator = torch.Generator(device=device).manual_seed(config.seed + 3)
    augmented_rows = 0
    dropouts = [m for m in module.modules() if isinstance(m, SeededDropout)]
    for m in dropouts:
        m.generator = dropout_generator
    if groups is not None and privacy is not None:
        raise ValueError("parameter groups (a backbone's own learning rate, unfreezing) are not supported with "
                         "privacy")
    optimizer = _optimizer(module, config, groups)
    steps_per_epoch = batches_per_epoch(rows, config.batch_size)
    private = None
    if privacy is not None:
        if precision.dtype is not None:
            raise ValueError(f"DP-SGD trains in float32: mixed precision ({precision.name}) is not supported with "
                             "privacy; set amp='off'")
        from aiforge.deep._private import PrivateTraining

        private = PrivateTraining(module, optimizer, privacy, rows=rows, batch_size=config.batch_size,
                                  epochs=config.max_epochs, device=device)
        steps_per_epoch = private.steps_per_epoch
    adversary = None
    if adversarial is not None:
        from aiforge.deep._adversarial import Adversary

        adversary = Adversary(adversarial, inputs, loss_fn, seed=config.seed + 2, device=device)
    scheduler = _scheduler(optimizer, config, steps_per_epoch * config.max_epochs)
    scaler = torch.amp.GradScaler(device.type) if precision.scaled else None
    # every parameter: one frozen has no gradient and is left out of the norm, one unfrozen later joins it
    parameters = list(module.parameters()) if groups is not None else [p for p in module.parameters()
                                                                        if p.requires_grad]
    clip = config.clip_norm if config.clip_norm is not None and private is None else math.inf
    forward = private.module if private is not None else module  # the training passes (per-row gradients)
    stepper = private.optimizer if private is not None else optimizer

    epochs: list[EpochRecord] = []
    lrs: list[float] = []
    best_loss, best_state, best_epoch, waited = math.inf, None, 0, 0
    stopped: Stop = "max_epochs"
    try:
        for epoch in range(1, config.max_epochs + 1):
            epoch_started = time.perf_counter()
            if on_epoch is not None:
                on_epoch(epoch)
            module.train()
            order = torch.randperm(rows, generator=order_generator).to(device)
            losses, norms, totals = [], [], []
            for b in range(steps_per_epoch):
                if private is not None:
                    index = private.batch()
                else:
                    index = order[b * config.batch_size: (b + 1) * config.batch_size]
                stepper.zero_grad(set_to_none=True)
                batch = tuple(t[index] for t in inputs)
                if augment is not None:
                    batch = augment_batch(batch, augment, augment_generator)
                    augmented_rows += len(index)
                if adversary is not None:
                    if private is not None:
                        with private.paused():
                            batch = adversary.perturb(module, batch, target[index])
                    else:
                        batch = adversary.perturb(module, batch, target[index])
                with torch.autocast(device.type, dtype=precision.dtype, enabled=precision.dtype is not None):
                    rows_loss = loss_fn(forward(*batch).float(), target[index])
                weight = weights[index] if weights is not None else None
                if private is not None:
                    private.backward(private.loss(rows_loss, weight))
                else:
                    loss = _mean(rows_loss, weight)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    else:
                        loss.backward()
                    norms.append(torch.nn.utils.clip_grad_norm_(parameters, clip).detach())
                lrs.append(float(optimizer.param_groups[0]["lr"]))  # the rate this step applies
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    stepper.step()
                if private is not None:  # each row's gradient was clipped; record the noisy step's norm
                    norms.append(private.grad_norm())
                with warnings.catch_warnings():  # a float16 step skipped for an overflow: the schedule goes on
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
                    scheduler.step()
                losses.append((rows_loss.detach() * weight).sum() if weight is not None else rows_loss.detach().sum())
                totals.append(weight.sum() if weight is not None else torch.tensor(float(len(index)), device=device))
                if deadline is not None and time.perf_counter() > deadline:
                    stopped = "deadline"
                    break
            valid_loss = _validation_loss(module, valid, loss_fn, valid_weights) if valid is not None else None
            norm_values = torch.stack(norms).float()
            train_loss = float(torch.stack(losses).sum() / torch.stack(totals).sum().clamp_min(1e-12))
            clipped = len(norms) if private is not None else int((norm_values > clip).sum())
            epochs.append(EpochRecord(epoch, train_loss, valid_loss, lrs[-1], float(norm_values.max()),
                                      clipped, len(norms), time.perf_counter() - epoch_started))
            if valid_loss is None:
                best_epoch = epoch
            elif valid_loss < best_loss - IMPROVEMENT * abs(best_loss if math.isfinite(best_loss) else 0.0):
                best_loss, best_epoch, waited = valid_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                waited += 1
            if stopped == "deadline":
                break
            if valid is not None and config.patience is not None and waited >= config.patience:
                stopped = "early_stopping"
                break
    finally:
        for m in dropouts:
            m.generator = None
        if private is not None:
            private.close()
    last = epochs[-1]
    if valid is not None and best_state is None:
        raise ValueError(f"training diverged: the validation loss was never a finite number ({last.valid_loss} "
                         f"after {len(epochs)} epochs); lower lr, or set clip_norm")
    if valid is None and not math.isfinite(last.train_loss):
        raise ValueError(f"training diverged: the training loss is {last.train_loss} after {len(epochs)} "
                         f"epochs; lower lr, or set clip_norm")
    if best_state is not None and best_epoch != len(epochs):
        module.load_state_dict(best_state)
    module.eval()
    return TrainingHistory(epochs, best_epoch, stopped, str(device), precision.name,
                           time.perf_counter() - started, lrs, adversary.rows if adversary is not None else 0,
                           private.spent() if private is not None else None, augmented_rows)


def _optimizer(module: torch.nn.Module, config: TrainConfig,
               groups: list[ParameterGroup] | None = None) -> torch.optim.Optimizer:
    """AdamW; biases and normalisation weights (one-dimensional parameters) are not decayed. Each of
    ``groups`` learns at its share of ``lr`` (AdamW skips a parameter while it has no gradient: frozen)."""
    torch = require_torch()
    if groups is None:
        groups = [ParameterGroup([p for p in module.parameters() if p.requires_grad])]
    settings = []
    for group in groups:
        for params, decay in (([p for p in group.params if p.ndim >= 2], config.weight_decay),
                              ([p for p in group.params if p.ndim < 2], 0.0)):
            if params:
                settings.append({"params": params, "weight_decay": decay, "lr": config.lr * group.lr_share})
    return torch.optim.AdamW(settings, lr=config.lr)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    """The learning rate per step: ``cosine`` rises linearly over the warm-up share of the steps, then
    decays along a half cosine to ``MIN_LR_SHARE`` of the peak at the last step; ``onecycle`` is torch's
    one-cycle policy (its rising phase the warm-up share); ``constant`` keeps ``lr``."""
    torch = require_torch()
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total_steps,
            pct_start=max(config.warmup, 1.0 / total_steps))
    warm = int(round(config.warmup * total_steps))

    def share(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm + 1) / max(1, total_steps - warm))
        return MIN_LR_SHARE + (1 - MIN_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, share)


def _mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of per-row losses, weighted by ``weights`` when given (a batch of zero weights: 0)."""
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def _validation_loss(module: torch.nn.Module, valid: tuple[Batch, torch.Tensor], loss_fn: LossFn,
                     weights: torch.Tensor | None) -> float:
    """The loss on the validation rows, in float32 with the module in evaluation mode."""
    torch = require_torch()
    inputs, target = valid
    module.eval()
    with torch.inference_mode():
        outputs = [module(*(t[i: i + EVAL_ROWS] for t in inputs)).float()
                   for i in range(0, int(target.shape[0]), EVAL_ROWS)]
        value = float(_mean(loss_fn(torch.cat(outputs), target), weights))
    module.train()
    return value
