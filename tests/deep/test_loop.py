"""The training loop on small real problems: early stopping restores the best epoch, the schedule and the
clipping are applied, the deadline holds, mixed precision runs, a seed gives the same weights."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aiforge.deep import TrainConfig, train  # noqa: E402
from aiforge.deep._loop import MIN_LR_SHARE, batches_per_epoch  # noqa: E402
from aiforge.deep._modules import TabularMLP  # noqa: E402
from aiforge.deep._runtime import Precision, choose_precision, seeded, torch_threads  # noqa: E402

CPU = torch.device("cpu")
FLOAT32 = Precision(None)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread, as a trial on a 2-core machine gets (two threads on a busy machine wait on each other)."""
    with torch_threads(1):
        yield


def _problem(n: int, *, noise_labels: bool = False, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    if noise_labels:  # nothing to learn: a wide network can only memorise, and validation gets worse
        y = rng.integers(0, 2, size=n)
    return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))


def _mlp(seed: int = 0, **kwargs: object) -> torch.nn.Module:
    options = {"width": 64, "depth": 2, "dropout": 0.0, **kwargs}
    return seeded(seed, lambda: TabularMLP(10, [], 2, **options))  # type: ignore[arg-type]


def _fit(module: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, config: TrainConfig, *,
         valid: bool = True, deadline: float | None = None, precision: Precision = FLOAT32,
         weights: torch.Tensor | None = None):
    codes = torch.zeros((len(y), 0), dtype=torch.int64)
    split = int(0.75 * len(y))
    validation = ((X[split:], codes[split:]), y[split:]) if valid else None
    rows = slice(0, split) if valid else slice(None)
    return train(module, (X[rows], codes[rows]), y[rows], torch.nn.CrossEntropyLoss(reduction="none"), config,
                 device=CPU, precision=precision, weights=None if weights is None else weights[rows],
                 valid=validation, deadline=deadline)


def _valid_loss(module: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    split = int(0.75 * len(y))
    with torch.inference_mode():
        out = module(X[split:], torch.zeros((len(y) - split, 0), dtype=torch.int64))
        return float(torch.nn.functional.cross_entropy(out, y[split:]))


def test_the_loop_learns_what_an_untrained_network_cannot_predict() -> None:
    X, y = _problem(1200)
    module = _mlp()
    before = _valid_loss(module.eval(), X, y)

    history = _fit(module, X, y, TrainConfig(lr=3e-3, max_epochs=40, batch_size=64, patience=10))

    split = int(0.75 * len(y))
    with torch.inference_mode():
        predicted = module(X[split:], torch.zeros((len(y) - split, 0), dtype=torch.int64)).argmax(1)
    accuracy = float((predicted == y[split:]).float().mean())
    assert accuracy > 0.85, accuracy  # a constant guess scores ~0.5
    assert history.best_valid_loss is not None and history.best_valid_loss < 0.6 * before
    assert not module.training


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch() -> None:
    X, y = _problem(600, noise_labels=True)
    module = _mlp(width=256)
    config = TrainConfig(lr=1e-2, max_epochs=200, batch_size=32, patience=5, weight_decay=0.0)

    history = _fit(module, X, y, config)

    assert history.stopped == "early_stopping"
    assert len(history.epochs) == history.best_epoch + config.patience < config.max_epochs
    losses = [e.valid_loss for e in history.epochs]
    assert history.best_valid_loss == min(losses)
    assert losses[-1] > history.best_valid_loss  # the last epoch was worse ...
    assert _valid_loss(module, X, y) == pytest.approx(history.best_valid_loss, rel=1e-5)  # ... and undone


def test_without_validation_every_epoch_runs_and_the_last_weights_stay() -> None:
    X, y = _problem(300)
    history = _fit(_mlp(), X, y, TrainConfig(max_epochs=7, batch_size=50), valid=False)

    assert (history.stopped, len(history.epochs), history.best_epoch) == ("max_epochs", 7, 7)
    assert all(e.valid_loss is None for e in history.epochs)
    assert [e.steps for e in history.epochs] == [6] * 7


def test_cosine_schedule_warms_up_then_decays_to_its_floor_step_by_step() -> None:
    X, y = _problem(320)
    config = TrainConfig(lr=0.01, max_epochs=10, batch_size=32, warmup=0.1, patience=None)

    history = _fit(_mlp(), X, y, config, valid=False)

    lrs = history.lrs
    assert len(lrs) == 100 and lrs == [pytest.approx(v) for v in lrs]
    assert lrs[:10] == pytest.approx([0.001 * (i + 1) for i in range(10)])  # linear warm-up to the peak
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # then never rising
    assert lrs[-1] == pytest.approx(0.01 * MIN_LR_SHARE)
    assert history.epochs[-1].lr == lrs[-1]


def test_onecycle_and_constant_schedules() -> None:
    X, y = _problem(320)
    onecycle = _fit(_mlp(), X, y, TrainConfig(lr=0.01, max_epochs=5, batch_size=32, schedule="onecycle",
                                               warmup=0.3), valid=False).lrs
    constant = _fit(_mlp(), X, y, TrainConfig(lr=0.01, max_epochs=5, batch_size=32, schedule="constant"),
                    valid=False).lrs

    peak = int(np.argmax(onecycle))
    assert onecycle[peak] == pytest.approx(0.01) and 10 <= peak <= 20  # the rising phase: 30% of 50 steps
    assert onecycle[0] < 0.001 and onecycle[-1] < 1e-5
    assert constant == [0.01] * 50


def test_gradient_clipping_bounds_each_step() -> None:
    """AdamW divides by the gradients' scale, so clipping shows in the steps only once the clipped norm is
    far below Adam's epsilon (1e-8): then the weights barely move. The history counts the clipped steps."""
    X, y = _problem(256)
    start = _mlp()
    initial = [p.detach().clone() for p in start.parameters()]

    def moved(clip_norm: float | None) -> tuple[float, object]:
        module = _mlp()
        history = _fit(module, X, y, TrainConfig(lr=1e-2, weight_decay=0.0, max_epochs=3, batch_size=32,
                                                 clip_norm=clip_norm, schedule="constant"), valid=False)
        change = max(float((p.detach() - q).abs().max()) for p, q in zip(module.parameters(), initial, strict=True))
        return change, history

    free, free_history = moved(None)
    clipped, clipped_history = moved(1e-12)

    assert free > 1e-2 and clipped < 1e-4, (free, clipped)
    assert [e.clipped for e in clipped_history.epochs] == [8, 8, 8]  # type: ignore[attr-defined]
    assert all(e.grad_norm > 1e-12 for e in clipped_history.epochs)  # type: ignore[attr-defined]
    assert [e.clipped for e in free_history.epochs] == [0, 0, 0]  # type: ignore[attr-defined]


def test_a_deadline_stops_training_after_the_step_that_passes_it() -> None:
    X, y = _problem(4000)
    module = _mlp(width=256)
    started = time.perf_counter()

    history = _fit(module, X, y, TrainConfig(max_epochs=10_000, batch_size=16, patience=None),
                   deadline=started + 0.5)

    elapsed = time.perf_counter() - started
    assert history.stopped == "deadline" and history.cut
    assert elapsed < 0.5 + 1.0, elapsed  # one step and one validation pass past it, at most
    assert len(history.epochs) < 10_000 and history.best_valid_loss is not None
    assert 1 <= history.best_epoch <= len(history.epochs)


def test_a_deadline_already_past_still_leaves_a_trained_step() -> None:
    X, y = _problem(400)
    history = _fit(_mlp(), X, y, TrainConfig(max_epochs=50, batch_size=32), deadline=time.perf_counter() - 1)

    assert history.stopped == "deadline"
    assert [(e.epoch, e.steps) for e in history.epochs] == [(1, 1)]
    assert history.best_epoch == 1 and math.isfinite(history.best_valid_loss or math.nan)


def test_the_same_seed_gives_the_same_weights_with_dropout() -> None:
    X, y = _problem(400)
    config = TrainConfig(max_epochs=5, batch_size=32, seed=7)

    def weights(seed: int, config: TrainConfig) -> list[np.ndarray]:
        module = _mlp(seed, dropout=0.3)
        torch.manual_seed(seed + 1000)  # torch's global generator: the loop must not depend on it
        _fit(module, X, y, config)
        return [p.detach().numpy().copy() for p in module.parameters()]

    first, again = weights(1, config), weights(1, config)
    other_order = weights(1, TrainConfig(max_epochs=5, batch_size=32, seed=8))

    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other_order, strict=True))


def test_row_weights_weigh_each_rows_loss() -> None:
    X, y = _problem(400)
    config = TrainConfig(max_epochs=4, batch_size=32)

    def fit(weights: torch.Tensor | None) -> tuple[list[np.ndarray], float]:
        module = _mlp()
        history = _fit(module, X, y, config, valid=False, weights=weights)
        return [p.detach().numpy().copy() for p in module.parameters()], history.epochs[-1].train_loss

    plain, plain_loss = fit(None)
    doubled, doubled_loss = fit(torch.full((400,), 2.0))
    positives_only, _ = fit((y == 1).float())  # the negatives weigh nothing: everything looks positive

    assert all(np.array_equal(a, b) for a, b in zip(plain, doubled, strict=True)) and plain_loss == doubled_loss
    module = _mlp()
    _fit(module, X, y, config, valid=False, weights=(y == 1).float())
    with torch.inference_mode():
        predicted = module(X, torch.zeros((400, 0), dtype=torch.int64)).argmax(1)
    assert float((predicted == 1).float().mean()) > 0.9  # half the rows are positive
    assert not all(np.array_equal(a, b) for a, b in zip(plain, positives_only, strict=True))


@pytest.mark.parametrize("mode", ["bfloat16", "float16"])
def test_mixed_precision_trains_under_autocast(mode: str) -> None:
    X, y = _problem(800)
    precision = choose_precision(mode, CPU)
    module = _mlp()

    history = _fit(module, X, y, TrainConfig(lr=3e-3, max_epochs=15, batch_size=64), precision=precision)

    assert history.precision == mode and precision.scaled == (mode == "float16")
    assert history.best_valid_loss is not None and history.best_valid_loss < 0.5
    assert all(p.dtype == torch.float32 for p in module.parameters())  # the weights stay float32


def test_auto_precision_is_float32_on_the_cpu() -> None:
    assert choose_precision("auto", CPU).dtype is None
    assert choose_precision("off", CPU).name == "float32"
    with pytest.raises(ValueError, match="amp must be one of auto, off, bfloat16, float16, not 'half'"):
        choose_precision("half", CPU)


def test_a_diverging_run_is_an_error_that_says_what_to_do() -> None:
    X, y = _problem(200)
    X[0, 0] = math.inf
    with pytest.raises(ValueError, match="training diverged: .* lower lr, or set clip_norm"):
        _fit(_mlp(), X, y, TrainConfig(max_epochs=3, batch_size=32))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": 0.0}, "lr must be positive, not 0.0"),
        ({"batch_size": 0}, "batch_size must be at least 1, not 0"),
        ({"max_epochs": 0}, "max_epochs must be at least 1, not 0"),
        ({"patience": 0}, r"patience must be at least 1 \(or None\), not 0"),
        ({"schedule": "step"}, "schedule must be one of cosine, onecycle, constant, not 'step'"),
        ({"warmup": 0.9}, r"warmup must be a share of the steps in \[0, 0.5\], not 0.9"),
        ({"clip_norm": -1.0}, r"clip_norm must be positive \(or None\), not -1.0"),
    ],
)
def test_bad_settings_are_refused_with_what_was_expected(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


@pytest.mark.parametrize(("rows", "batch", "expected"), [(100, 32, 4), (97, 32, 3), (1, 32, 1), (64, 32, 2),
                                                         (33, 32, 1), (2, 32, 1)])
def test_a_last_batch_of_one_row_is_dropped(rows: int, batch: int, expected: int) -> None:
    assert batches_per_epoch(rows, batch) == expected
