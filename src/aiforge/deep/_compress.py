"""Compression of a fitted torch estimator: pruning, int8 quantisation, and a short fine-tuning after pruning.

``compress(estimator, CompressionConfig(...), X, y)`` returns a compressed copy of the estimator (the same
class, ``compression_`` saying what was done) and a ``CompressionRecord``. In order:

1. **pruning** (``prune`` > 0): ``structured=False`` zeroes that share of the smallest weights (L1 magnitude,
   ``torch.nn.utils.prune.l1_unstructured``) of every Linear, Conv2d and LSTM/GRU weight matrix, each layer to
   the same sparsity; ``structured=True`` removes that share of the output neurons (channels) of every hidden
   layer, those whose weights have the smallest L2 norm once scaled by the batch norm that follows (batch
   norm undoes the scale of the weights themselves; ``ln_structured``'s mask over dim 0, applied with
   ``custom_from_mask``; never the output head, never every neuron of a layer). In an MLP the removed neurons
   are then cut out: each hidden Linear (and its batch norm) gets narrower and the next layer loses their
   input columns, so that the network is smaller and faster, not only sparser. A removed neuron's constant
   output (its batch norm's shift of zero) is folded into the next layer, so the narrower network computes
   exactly what the masked one did. A CNN's pruned channels stay as zeros. Then batch norm's running
   statistics are measured again on ``calibration_rows`` training rows: the later layers see other inputs now.
2. **fine-tuning** (``fine_tune_epochs`` > 0, after pruning): that many epochs of the estimator's own training
   loop on (``X``, ``y``) from ``fine_tune_lr`` (default: the estimator's own ``lr``) decayed along a cosine over
   those epochs: learning-rate rewinding (Renda et al., 2020), which recovers more than fine-tuning at a small
   rate (on Adult, 50% of the neurons cut: 10 epochs at lr/10 ended 7-9 accuracy points below 10 epochs
   at lr). The pruning masks stay on while it trains, so the zeros stay zeros. Then the pruning is made
   permanent.
3. **quantisation**: ``dynamic`` converts Linear, LSTM and GRU weights to int8 (activations quantised on the
   fly, ``torch.ao.quantization.quantize_dynamic``); ``static`` (MLP and CNN) quantises weights and
   activations to int8 with scales measured by observers over ``calibration_rows`` training rows (FX graph
   mode: batch norm folded into the layer before it, ReLU fused; embeddings stay float), on the x86 backend
   (fbgemm where x86 is missing). Quantised networks run on the CPU.

Everything runs on the CPU. torch marks ``torch.ao.quantization`` deprecated (in favour of torchao, which is
not a dependency here); its warnings are silenced inside these calls.

The copy is of a ``Compressed...`` subclass of the estimator's class (``CompressedMLPClassifier`` for an
``MLPClassifier``): the same parameters and predictions, but it pickles its network as the compressed
``state_dict`` (loaded with ``weights_only=True`` into a network rebuilt with the same structure:
``load_module``), always predicts on the CPU, and is not refit: ``sklearn.base.clone`` gives the original,
uncompressed estimator class, which can be fitted and compressed again.
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from aiforge.deep._estimators import (
    PREDICT_ROWS,
    CNNClassifier,
    CNNRegressor,
    MLPClassifier,
    MLPRegressor,
    RNNClassifier,
    RNNRegressor,
)
from aiforge.deep._runtime import Precision, require_torch, seeded, torch_threads

if TYPE_CHECKING:
    from torch import nn

__all__ = ["QUANTIZE_MODES", "CompressedCNNClassifier", "CompressedCNNRegressor", "CompressedMLPClassifier",
           "CompressedMLPRegressor", "CompressedRNNClassifier", "CompressedRNNRegressor", "CompressionConfig",
           "CompressionRecord", "compress", "count_parameters", "load_module", "module_bytes", "quantized_engine"]

QuantizeMode = Literal["none", "dynamic", "static"]
QUANTIZE_MODES: tuple[QuantizeMode, ...] = ("none", "dynamic", "static")
CALIBRATION_BATCH = 256  # rows per forward pass while the observers of static quantisation watch
MAX_PRUNE = 0.99


@dataclass(frozen=True)
class CompressionConfig:
    """What to do to a fitted network: ``prune`` (share of weights, or of neurons/channels when ``structured``),
    ``fine_tune_epochs`` after pruning at ``fine_tune_lr``, then ``quantize`` (none | dynamic | static, with
    ``calibration_rows`` training rows for static). ``seed`` draws the calibration rows."""

    prune: float = 0.0
    structured: bool = False
    quantize: QuantizeMode = "none"
    fine_tune_epochs: int = 0
    fine_tune_lr: float | None = None
    calibration_rows: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.prune <= MAX_PRUNE:
            problems.append(f"prune must be a share in [0, {MAX_PRUNE}], not {self.prune!r}")
        if self.structured and self.prune == 0:
            problems.append("structured pruning needs prune > 0 (the share of neurons to remove)")
        if self.quantize not in QUANTIZE_MODES:
            problems.append(f"quantize must be one of {', '.join(QUANTIZE_MODES)}, not {self.quantize!r}")
        if self.fine_tune_epochs < 0:
            problems.append(f"fine_tune_epochs must be at least 0, not {self.fine_tune_epochs!r}")
        if self.fine_tune_epochs and self.prune == 0:
            problems.append("fine-tuning follows pruning: set prune > 0, or fine_tune_epochs: 0")
        if self.fine_tune_lr is not None and not self.fine_tune_lr > 0:
            problems.append(f"fine_tune_lr must be positive (or None), not {self.fine_tune_lr!r}")
        if self.calibration_rows < 1:
            problems.append(f"calibration_rows must be at least 1, not {self.calibration_rows!r}")
        if self.prune == 0 and self.quantize == "none":
            problems.append("nothing to do: set prune > 0 and/or quantize: dynamic or static")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class CompressionRecord:
    """What compression did: each step in words, the parameters (all, and those not zero) before and after,
    ``sparsity`` (unstructured: the share of zeros among the pruned weights; structured: the share of hidden
    neurons or channels removed), hidden widths before and after (a structured MLP), the modules
    quantised, the quantisation backend, the fine-tuning's losses per epoch, and the seconds it took."""

    steps: list[str]
    parameters_before: int
    parameters_after: int
    nonzero_before: int
    nonzero_after: int
    sparsity: float | None
    widths_before: list[int] | None
    widths_after: list[int] | None
    quantized: dict[str, int]
    backend: str | None
    fine_tune_losses: list[float]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization's deprecation notices, its observers' advice and the quantised-tensor warnings:
    they are torch's, about its own API, not about the user's model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.")
        warnings.filterwarnings("ignore", message=r".*(quantiz|TypedStorage|reduce_range).*", category=UserWarning)
        yield


def quantized_engine() -> str:
    """The quantised backend, set to x86 (or fbgemm, else whatever this torch has) when another is set. The
    setting is torch's, for the whole process; int8 weights are packed for it."""
    torch = require_torch("int8 quantisation")
    supported = list(torch.backends.quantized.supported_engines)
    engine = str(torch.backends.quantized.engine)
    if engine not in ("x86", "fbgemm"):
        engine = next((e for e in ("x86", "fbgemm", "qnnpack") if e in supported), supported[0])
        torch.backends.quantized.engine = engine
    return engine


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(all weights, those not zero) of a network, float or int8: the parameters and, for quantised layers,
    their packed weights and biases."""
    torch = require_torch()
    total = nonzero = 0
    for value in _weight_tensors(torch, module.state_dict()):
        total += value.numel()
        nonzero += int(torch.count_nonzero(value.int_repr() if value.is_quantized else value))
    return total, nonzero


def _weight_tensors(torch: Any, state: dict[str, Any]) -> Iterator[Any]:
    for key, value in state.items():
        if isinstance(value, tuple):  # a quantised layer's packed (weight, bias)
            yield from (v for v in value if isinstance(v, torch.Tensor))
        elif isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_quantized) and not key.endswith(
                ("running_mean", "running_var", "scale", "zero_point")) and "_input_" not in key:
            yield value


def compress(estimator: Any, config: CompressionConfig, X: Any, y: Any = None, *,
             sample_weight: Any = None) -> tuple[Any, CompressionRecord]:
    """A compressed copy of the fitted torch ``estimator`` and what was done; ``X`` (and ``y``, for
    fine-tuning) are training rows as the estimator takes them: the calibration rows of static quantisation
    are drawn from ``X``."""
    torch = require_torch("compression")
    if isinstance(estimator, _Compressed):
        raise ValueError(f"this {type(estimator).__name__} is compressed already "
                         f"({estimator.compression_}); compress the original estimator")
    compressed_class = _COMPRESSED.get(type(estimator))
    if compressed_class is None:
        names = ", ".join(c.__name__ for c in _COMPRESSED)
        raise TypeError(f"compress takes a fitted aiforge.deep estimator ({names}), not a {type(estimator).__name__}")
    if not hasattr(estimator, "module_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: fit it before compressing it")
    kind = estimator._kind
    if config.structured and kind not in ("mlp", "cnn"):
        raise ValueError(f"structured pruning applies to the MLP and the CNN, not to a {kind.upper()}; "
                         f"use structured: false (magnitude pruning)")
    if config.quantize == "static" and kind not in ("mlp", "cnn"):
        raise ValueError(f"static int8 quantisation applies to the MLP and the CNN, not to a {kind.upper()}; "
                         f"use quantize: dynamic for LSTM and GRU layers")
    if config.fine_tune_epochs and y is None:
        raise ValueError("fine-tuning needs the training targets: pass y")
    started = time.perf_counter()
    steps: list[str] = []
    with _quiet():
        compressed = copy.deepcopy(estimator)
        compressed.__class__ = compressed_class
        module = compressed.module_.cpu().eval()
        arrays = compressed._inputs(compressed._array(X))
        parameters_before, nonzero_before = count_parameters(module)
        widths_before = _mlp_widths(module) if kind == "mlp" else None
        widths_after = None
        sparsity = None
        losses: list[float] = []
        if config.prune > 0:
            from torch.nn.utils import prune

            pruned = _prune(module, config, steps)
            if config.structured and kind == "mlp":
                for layer, name in pruned:  # the mask is final now: the narrower network is trained
                    prune.remove(layer, name)
                module = _shrink_mlp(module)
                widths_after = _mlp_widths(module)
                steps.append(f"cut the removed neurons out: hidden widths {widths_before} -> {widths_after}")
                pruned = []
            if config.structured and _recalibrate_norms(torch, module, arrays, config):
                steps.append(f"batch-norm statistics re-estimated on {min(len(arrays[0]), config.calibration_rows)} "
                             f"training rows (the pruned layers' outputs changed)")
            if config.fine_tune_epochs:
                losses = _fine_tune(compressed, module, arrays, y, sample_weight, config)
                steps.append(f"fine-tuned {config.fine_tune_epochs} epoch(s) at lr "
                             f"{config.fine_tune_lr or compressed.lr:.3g} (cosine decay)")
            for layer, name in pruned:
                prune.remove(layer, name)
            sparsity = (round(1 - sum(widths_after) / sum(widths_before), 6) if widths_after and widths_before
                        else _sparsity(torch, module, config.structured))
        module.eval()
        backend = None
        quantized: dict[str, int] = {}
        if config.quantize != "none":
            backend = quantized_engine()
            float_types = _layer_types(module)
            if config.quantize == "dynamic":
                module = _quantize_dynamic(module)
            else:
                module = _quantize_static(module, _calibration(torch, arrays, config))
            after_types = _layer_types(module)
            quantized = {name: count - after_types.get(name, 0) for name, count in float_types.items()
                         if count > after_types.get(name, 0)}
            steps.append(f"{config.quantize} int8 quantisation ({backend} backend) of "
                         f"{', '.join(f'{n} {name}' for name, n in quantized.items()) or 'no layer'}")
        parameters_after, nonzero_after = count_parameters(module)
    compressed.module_ = module
    compressed.module_config_ = dict(compressed.module_config_)
    compressed.device_ = "cpu"
    compressed.compression_ = {"prune": config.prune, "structured": config.structured, "widths": widths_after,
                               "quantize": config.quantize, "backend": backend,
                               "fine_tune_epochs": config.fine_tune_epochs}
    record = CompressionRecord(steps, parameters_before, parameters_after, nonzero_before, nonzero_after, sparsity,
                               widths_before, widths_after, quantized, backend, losses,
                               round(time.perf_counter() - started, 3))
    return compressed, record


# --- pruning ---------------------------------------------------------------------------------------------


def _prune(module: Any, config: CompressionConfig, steps: list[str]) -> list[tuple[Any, str]]:
    """Pruning masks on the layers; returns the (layer, parameter name) pairs masked."""
    torch = require_torch()
    from torch.nn.utils import prune

    pruned: list[tuple[Any, str]] = []
    if config.structured:
        for layer, scale in _hidden_layers_scaled(module):
            outputs = int(layer.weight.shape[0])
            amount = min(outputs - 1, int(round(config.prune * outputs)))
            if amount > 0:
                folded = layer.weight.detach() * scale.reshape(-1, *([1] * (layer.weight.ndim - 1)))
                mask = prune.LnStructured(amount, n=2, dim=0).compute_mask(folded, torch.ones_like(folded))
                prune.custom_from_mask(layer, "weight", mask)
                pruned.append((layer, "weight"))
        steps.append(f"ln_structured (L2 norm of each output neuron/channel's weights, batch norm folded in, "
                     f"dim 0): {config.prune:.0%} of the outputs of {len(pruned)} hidden layer(s)")
        return pruned
    for layer, name in _weight_matrices(module):
        prune.l1_unstructured(layer, name, amount=config.prune)
        pruned.append((layer, name))
    steps.append(f"l1_unstructured: {config.prune:.0%} of the weights of each of {len(pruned)} weight matrices")
    return pruned


def _weight_matrices(module: Any) -> list[tuple[Any, str]]:
    """Every Linear and Conv2d weight, and every LSTM/GRU weight matrix (not biases, not embeddings)."""
    torch = require_torch()
    nn = torch.nn
    found: list[tuple[Any, str]] = []
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            found.append((layer, "weight"))
        elif isinstance(layer, nn.LSTM | nn.GRU):
            found += [(layer, name) for name, _ in layer.named_parameters(recurse=False) if name.startswith("weight")]
    return found


def _hidden_layers_scaled(module: Any) -> list[tuple[Any, Any]]:
    """Each hidden layer with the scale its outputs get from the batch norm right after it (gamma over the
    running standard deviation; 1 where none follows): a neuron's weights matter by their norm after that
    scale, as batch norm undoes the norm of the weights themselves."""
    torch = require_torch()
    hidden = set(map(id, _hidden_layers(module)))
    found: list[tuple[Any, Any]] = []
    for sequence in module.modules():
        if not isinstance(sequence, torch.nn.Sequential):
            continue
        children = list(sequence)
        for i, layer in enumerate(children):
            if id(layer) not in hidden:
                continue
            scale = torch.ones(layer.weight.shape[0])
            norm = children[i + 1] if i + 1 < len(children) else None
            if isinstance(norm, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach().abs()
            found.append((layer, scale))
    return found


def _hidden_layers(module: Any) -> list[Any]:
    """The layers whose outputs structured pruning may remove: every Linear and Conv2d but the output head."""
    torch = require_torch()
    head = getattr(module, "head", None)
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d) and m is not head]


def _sparsity(torch: Any, module: Any, structured: bool) -> float:
    """Unstructured: the share of zeros among the pruned weight matrices; structured: the share of the hidden
    layers' output neurons (channels) whose weights are all zero."""
    if structured:
        rows = [layer.weight.flatten(1).abs().sum(dim=1) for layer in _hidden_layers(module)]
        total = sum(len(r) for r in rows)
        zeros = sum(int((r == 0).sum()) for r in rows)
    else:
        tensors = [getattr(layer, name) for layer, name in _weight_matrices(module)]
        total = sum(t.numel() for t in tensors)
        zeros = sum(int((t == 0).sum()) for t in tensors)
    return round(zeros / total, 6) if total else 0.0


def _mlp_widths(module: Any) -> list[int]:
    torch = require_torch()
    return [int(m.out_features) for m in module.body if isinstance(m, torch.nn.Linear)]


def _shrink_mlp(module: Any) -> Any:
    """The MLP without the hidden neurons whose weights are all zero: each hidden Linear (and its batch norm)
    keeps the others, and the next layer keeps only their input columns. A removed neuron still gave a
    constant (ReLU of its bias, or of its batch norm's output for an input of zero): that constant times the
    next layer's weights is added to the next layer's bias, or, when the next Linear has none (batch norm
    follows it), subtracted from that batch norm's running mean. The result computes what the masked
    network computed."""
    torch = require_torch()
    nn = torch.nn
    body: Any = module.body
    linears = [i for i, m in enumerate(body) if isinstance(m, nn.Linear)]
    training = module.training  # new layers are made in training mode: the network's mode is set again after
    with torch.no_grad():
        for position, index in enumerate(linears):
            layer = body[index]
            norm = body[index + 1] if index + 1 < len(body) and isinstance(body[index + 1], nn.BatchNorm1d) else None
            keep = (layer.weight.abs().sum(dim=1) > 0).nonzero().flatten()
            if len(keep) == layer.out_features:
                continue
            gone = torch.ones(layer.out_features, dtype=torch.bool)
            gone[keep] = False
            constant = layer.bias.detach().clone() if layer.bias is not None else torch.zeros(layer.out_features)
            if norm is not None:
                constant = ((constant - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps) * norm.weight
                            + norm.bias)
            constant = torch.relu(constant) * gone
            following_index = linears[position + 1] if position + 1 < len(linears) else None
            following = body[following_index] if following_index is not None else module.head
            shift = following.weight @ constant
            if following.bias is not None:
                following.bias += shift
            else:  # a Linear without bias is followed by its batch norm (the head always has a bias)
                assert following_index is not None
                body[following_index + 1].running_mean -= shift
            narrower = nn.Linear(layer.in_features, len(keep), bias=layer.bias is not None)
            narrower.weight.copy_(layer.weight[keep])
            if layer.bias is not None:
                narrower.bias.copy_(layer.bias[keep])
            body[index] = narrower
            if norm is not None:
                body[index + 1] = _narrower_norm(nn, norm, keep)
            wider_input = nn.Linear(len(keep), following.out_features, bias=following.bias is not None)
            wider_input.weight.copy_(following.weight[:, keep])
            if following.bias is not None:
                wider_input.bias.copy_(following.bias)
            if following_index is not None:
                body[following_index] = wider_input
            else:
                module.head = wider_input
    return module.train(training)


def _narrower_norm(nn: Any, norm: Any, keep: Any) -> Any:
    narrower = nn.BatchNorm1d(len(keep), eps=norm.eps, momentum=norm.momentum)
    narrower.weight.copy_(norm.weight[keep])
    narrower.bias.copy_(norm.bias[keep])
    narrower.running_mean.copy_(norm.running_mean[keep])
    narrower.running_var.copy_(norm.running_var[keep])
    narrower.num_batches_tracked.copy_(norm.num_batches_tracked)
    return narrower


def _resize_mlp(module: Any, widths: list[int]) -> Any:
    """The MLP with hidden widths ``widths`` (new, untrained layers: a state_dict is loaded into them next)."""
    torch = require_torch()
    nn = torch.nn
    body: Any = module.body
    linears = [i for i, m in enumerate(body) if isinstance(m, nn.Linear)]
    if len(linears) != len(widths):
        raise ValueError(f"the compressed MLP records {len(widths)} hidden widths, the network has {len(linears)}")
    width_in = body[linears[0]].in_features if linears else 0
    for index, width in zip(linears, widths, strict=True):
        body[index] = nn.Linear(width_in, width, bias=body[index].bias is not None)
        if index + 1 < len(body) and isinstance(body[index + 1], nn.BatchNorm1d):
            old = body[index + 1]
            body[index + 1] = nn.BatchNorm1d(width, eps=old.eps, momentum=old.momentum)
        width_in = width
    head = module.head
    if linears:
        module.head = nn.Linear(width_in, head.out_features, bias=head.bias is not None)
    return module


def _recalibrate_norms(torch: Any, module: Any, arrays: tuple[np.ndarray, ...],
                       config: CompressionConfig) -> bool:
    """Batch norm's running statistics measured again (a cumulative mean over ``calibration_rows`` training
    rows, no gradient): removing neurons or channels changes what every later layer sees, and statistics
    from before make a pruned network much worse than it need be. Returns whether there were any."""
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(arrays[0]) < 2:
        return False
    momenta = [m.momentum for m in norms]
    module.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    try:
        with torch.no_grad():
            for batch in _calibration(torch, arrays, config):
                if len(batch[0]) > 1:
                    module(*batch)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        module.eval()
    return True


# --- fine-tuning -----------------------------------------------------------------------------------------


def _fine_tune(estimator: Any, module: Any, arrays: tuple[np.ndarray, ...], y: Any, sample_weight: Any,
               config: CompressionConfig) -> list[float]:
    """``fine_tune_epochs`` epochs of the estimator's training loop (its batch size, schedule and clipping, on
    the CPU, no warm-up, no early stopping); returns the training loss of each epoch."""
    torch = require_torch()
    from aiforge.deep._estimators import _maybe_tensor, _product, _sample_weight, _tensors
    from aiforge.deep._loop import train

    target = estimator._encode_target(np.asarray(y))
    if len(target) != len(arrays[0]):
        raise ValueError(f"y must be one value per row of X ({len(arrays[0])} rows), got {len(target)}")
    weights = _product(_sample_weight(sample_weight, len(target)), estimator._target_weights(target))
    settings = replace(estimator._train_config(), max_epochs=int(config.fine_tune_epochs), patience=None,
                       lr=config.fine_tune_lr or estimator.lr, warmup=0.0, seed=config.seed)
    with torch_threads(estimator.n_jobs):
        history = train(module, _tensors(torch, arrays), torch.from_numpy(target), estimator._loss(), settings,
                        device=torch.device("cpu"), precision=Precision(None), weights=_maybe_tensor(torch, weights))
    module.eval()
    return [round(e.train_loss, 6) for e in history.epochs]


# --- quantisation ----------------------------------------------------------------------------------------


def _layer_types(module: Any) -> dict[str, int]:
    """How many float Linear, Conv2d, LSTM and GRU layers a network holds, by type name."""
    torch = require_torch()
    nn = torch.nn
    counts: dict[str, int] = {}
    for m in module.modules():
        if type(m) in (nn.Linear, nn.Conv2d, nn.LSTM, nn.GRU):
            counts[type(m).__name__] = counts.get(type(m).__name__, 0) + 1
    return counts


def _quantize_dynamic(module: Any) -> Any:
    torch = require_torch()
    nn = torch.nn
    quantized: Any = torch.ao.quantization.quantize_dynamic(module, {nn.Linear, nn.LSTM, nn.GRU},
                                                                  dtype=torch.qint8)
    return quantized


def _quantize_static(module: Any, calibration: list[tuple[Any, ...]]) -> Any:
    """FX graph mode: observers inserted (embeddings left float), ``calibration`` batches run through, int8
    modules converted."""
    torch = require_torch()
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    mapping = get_default_qconfig_mapping(quantized_engine()).set_object_type(torch.nn.Embedding, None)
    prepared = prepare_fx(module.eval(), mapping, tuple(t[:2] for t in calibration[0]))
    with torch.no_grad():
        for batch in calibration:
            prepared(*batch)
    converted: Any = convert_fx(prepared)
    return converted


def _calibration(torch: Any, arrays: tuple[np.ndarray, ...], config: CompressionConfig) -> list[tuple[Any, ...]]:
    """Up to ``calibration_rows`` rows drawn at random (seeded), in batches of tensors."""
    rows = len(arrays[0])
    if rows == 0:
        raise ValueError("static quantisation needs calibration rows: X is empty")
    take = np.sort(np.random.default_rng(config.seed).permutation(rows)[:config.calibration_rows])
    chosen = [np.ascontiguousarray(a[take]) for a in arrays]
    if len(take) == 1:  # two rows at least for the example FX traces with
        chosen = [np.concatenate([a, a]) for a in chosen]
    return [tuple(torch.from_numpy(a[i:i + CALIBRATION_BATCH]) for a in chosen)
            for i in range(0, len(chosen[0]), CALIBRATION_BATCH)]


# --- saving and loading ----------------------------------------------------------------------------------


def module_bytes(module: nn.Module) -> bytes:
    """A compressed network's ``state_dict`` (quantised layers' packed weights included), as ``torch.save``
    writes it."""
    torch = require_torch()
    buffer = io.BytesIO()
    with _quiet():  # the state_dict itself: its metadata holds the layers' versions, which loading reads
        torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


def load_module(kind: str, module_config: dict[str, Any], compression: dict[str, Any], weights: bytes) -> nn.Module:
    """The network a compressed estimator holds, rebuilt: built from ``module_config``, narrowed to the
    recorded widths, quantised the same way (static: observers run on zeros, their scales then replaced by
    the saved ones), and its saved weights loaded (``weights_only=True``)."""
    torch = require_torch("loading a compressed torch model")
    from aiforge.deep._modules import build_module

    with _quiet():
        module = seeded(0, lambda: build_module(kind, **module_config))
        if compression.get("widths"):
            module = _resize_mlp(module, list(compression["widths"]))
        module.eval()
        quantize = compression.get("quantize", "none")
        if quantize == "dynamic":
            quantized_engine()
            module = _quantize_dynamic(module)
        elif quantize == "static":
            module = _quantize_static(module, [_zero_inputs(torch, kind, module_config)])
        allowed = [torch.ScriptObject] if quantize == "dynamic" and kind == "rnn" else []
        with torch.serialization.safe_globals(allowed):  # a dynamic int8 LSTM/GRU packs its weights in one
            state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    module.eval()
    return module


def _zero_inputs(torch: Any, kind: str, config: dict[str, Any]) -> tuple[Any, ...]:
    """Two rows of zeros shaped as the network's inputs (what static quantisation's tracing needs)."""
    if kind == "mlp":
        return (torch.zeros(2, int(config["n_numeric"])),
                torch.zeros(2, len(config["cardinalities"]), dtype=torch.int64))
    return (torch.zeros(2, int(config["in_channels"]), 8, 8),)


# --- the compressed estimators ---------------------------------------------------------------------------


class _Compressed:
    """What a compressed estimator changes: how its network pickles and loads (``module_bytes``,
    ``load_module``), predictions on the CPU (an int8 network may hold no float parameter to read a device
    from), no refit, and ``clone`` giving the original class."""

    compression_: dict[str, Any]
    module_: Any
    module_config_: dict[str, Any]
    _kind: str
    n_jobs: int | None

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"a {type(self).__name__} is not trained again: fit a {_ORIGINAL[type(self)].__name__} "
                        f"(sklearn.base.clone(this) gives one) and compress it")

    def __sklearn_clone__(self) -> Any:
        from sklearn.base import clone

        me: Any = self  # an estimator: the class this mixes into has get_params
        return clone(_ORIGINAL[type(self)](**me.get_params(deep=False)))

    def _outputs(self, X: Any) -> np.ndarray:
        torch = require_torch(type(self).__name__)
        from aiforge.deep._estimators import _tensors

        me: Any = self
        arrays = me._inputs(me._array(X))
        rows = len(arrays[0])
        if rows == 0:
            return np.zeros((0, me._n_outputs), dtype=np.float32)
        outputs = []
        with torch_threads(self.n_jobs), torch.inference_mode():
            for start in range(0, rows, PREDICT_ROWS):
                batch = _tensors(torch, tuple(a[start: start + PREDICT_ROWS] for a in arrays))
                outputs.append(self.module_(*batch).float().numpy())
        return np.concatenate(outputs)

    def __getstate__(self) -> dict[str, Any]:
        from sklearn.base import BaseEstimator

        state = dict(BaseEstimator.__getstate__(self))
        module = state.pop("module_", None)
        if module is not None:
            state["_weights"] = module_bytes(module)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from sklearn.base import BaseEstimator

        state = dict(state)
        weights = state.pop("_weights", None)
        BaseEstimator.__setstate__(self, state)
        if weights is not None:
            self.module_ = load_module(self._kind, self.module_config_, self.compression_, weights)


class CompressedMLPClassifier(_Compressed, MLPClassifier):
    """An ``MLPClassifier`` after ``compress``."""


class CompressedMLPRegressor(_Compressed, MLPRegressor):
    """An ``MLPRegressor`` after ``compress``."""


class CompressedCNNClassifier(_Compressed, CNNClassifier):
    """A ``CNNClassifier`` after ``compress``."""


class CompressedCNNRegressor(_Compressed, CNNRegressor):
    """A ``CNNRegressor`` after ``compress``."""


class CompressedRNNClassifier(_Compressed, RNNClassifier):
    """An ``RNNClassifier`` after ``compress``."""


class CompressedRNNRegressor(_Compressed, RNNRegressor):
    """An ``RNNRegressor`` after ``compress``."""


_COMPRESSED: dict[type, type] = {
    MLPClassifier: CompressedMLPClassifier, MLPRegressor: CompressedMLPRegressor,
    CNNClassifier: CompressedCNNClassifier, CNNRegressor: CompressedCNNRegressor,
    RNNClassifier: CompressedRNNClassifier, RNNRegressor: CompressedRNNRegressor,
}
_ORIGINAL = {compressed: original for original, compressed in _COMPRESSED.items()}
