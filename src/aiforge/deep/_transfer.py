"""Transfer learning for images: a pretrained backbone (EfficientNet-Lite0's ImageNet weights by default, or a
local torchvision state dict or Hugging Face model directory: ``aiforge.deep._backbones``), a new linear head,
trained by the one loop (``aiforge.deep._loop.train``) as every torch estimator is.

The backbone starts frozen: only the head learns, and the frozen units keep their batch-norm statistics.
``unfreeze`` lets the last N units of the backbone (EfficientNet-Lite0: the stem, 16 blocks, the head
convolution) or all of them learn too, at ``backbone_lr`` times the head's learning rate, from the start or
after ``unfreeze_after`` epochs of the head alone. ``weights=None`` trains the same network from scratch.
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Any

from sklearn.base import ClassifierMixin, RegressorMixin

from aiforge.deep._estimators import _CNN, _Classification, _keep, _Regression

if TYPE_CHECKING:
    import torch

    from aiforge.deep._backbones import TransferNet

__all__ = ["TransferClassifier", "TransferRegressor"]


class _Transfer(_CNN):
    """Images as the CNNs take them (NCHW floats or (n, H, W), each channel standardised), into a pretrained
    backbone with a new head."""

    _kind = "transfer"
    backbone: str
    weights: Any
    image_size: int
    unfreeze: int | str
    unfreeze_after: int
    backbone_lr: float
    dropout: float

    def _units_to_train(self, total: int) -> int:
        """How many of the backbone's last units learn (at some point of the fit)."""
        if self.weights is None:
            if self.unfreeze != "all":
                raise ValueError(f"weights=None trains the network from scratch: set unfreeze='all' (a frozen "
                                 f"random backbone learns nothing), not {self.unfreeze!r}")
            return total
        if self.unfreeze == "all":
            return total
        if isinstance(self.unfreeze, bool) or not isinstance(self.unfreeze, Integral) or self.unfreeze < 0:
            raise ValueError(f"unfreeze must be a number of the backbone's last units (0: frozen backbone) or "
                             f"'all', not {self.unfreeze!r}")
        return min(int(self.unfreeze), total)

    def _module_config(self, n_outputs: int) -> dict[str, Any]:
        from aiforge.deep._backbones import backbone_config

        if self.unfreeze_after < 0 or (self.unfreeze_after > 0 and self.unfreeze == 0):
            raise ValueError(f"unfreeze_after must be a number of epochs >= 0, and needs unfreeze > 0 or 'all' "
                             f"(got unfreeze_after={self.unfreeze_after!r}, unfreeze={self.unfreeze!r})")
        if not 0 < self.backbone_lr <= 1:
            raise ValueError(f"backbone_lr must be a share of lr in (0, 1], not {self.backbone_lr!r}")
        return {"backbone": backbone_config(self.backbone, self.weights), "n_outputs": n_outputs,
                "image_size": int(self.image_size), "in_channels": int(self.n_channels_),
                "dropout": float(self.dropout)}

    def _new_module(self, config: dict[str, Any]) -> torch.nn.Module:
        from aiforge.deep._backbones import TransferNet

        return TransferNet(**config)

    def _prepare(self, module: torch.nn.Module) -> None:
        """Load the pretrained weights (every tensor checked) and freeze the units that do not learn yet."""
        from aiforge.deep._backbones import load_backbone

        net: TransferNet = module  # type: ignore[assignment]
        if self.weights is not None:
            load_backbone(net.backbone, net.backbone_config, self.weights)
        units = net.units()
        trained = self._units_to_train(len(units))
        self.trained_units_ = trained
        now = trained if self.unfreeze_after == 0 or self.weights is None else 0
        net.backbone.requires_grad_(False)
        for unit in units[len(units) - now:] if now else []:
            for m in unit:
                m.requires_grad_(True)
        # a backbone frozen for the whole fit, fed the same images every epoch: its features are computed once
        from aiforge.deep._adversarial import AdversarialTraining
        from aiforge.deep._augment import Augmentation

        if trained == 0 and Augmentation.from_param(self.augment) is None and \
                AdversarialTraining.from_param(self.adversarial) is None:
            net.feature_cache = {}

    def _train_options(self, module: torch.nn.Module) -> dict[str, Any]:
        from aiforge.deep._loop import ParameterGroup

        net: TransferNet = module  # type: ignore[assignment]
        units = net.units()
        learning = [m for unit in units[len(units) - self.trained_units_:] for m in unit]
        backbone = [p for m in learning for p in m.parameters()]
        head = [p for name, p in net.named_parameters() if not name.startswith("backbone.")]
        share = 1.0 if self.weights is None else float(self.backbone_lr)
        groups = [ParameterGroup(head)] + ([ParameterGroup(backbone, share)] if backbone else [])
        options: dict[str, Any] = {"groups": groups}
        if self.weights is not None and self.unfreeze_after > 0 and learning:
            after = int(self.unfreeze_after)

            def unfreeze(epoch: int) -> None:
                if epoch == after + 1:
                    for m in learning:
                        m.requires_grad_(True)

            options["on_epoch"] = unfreeze
        return options


    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, eval_set: tuple[Any, Any] | None = None,
            deadline: float | None = None) -> _Transfer:
        """Fine-tune on images ``X`` and targets ``y``; the arguments are the CNN estimators'."""
        try:
            super().fit(X, y, sample_weight, eval_set=eval_set, deadline=deadline)
        finally:
            module = getattr(self, "module_", None)
            if module is not None:
                module.feature_cache = None  # the training images' features: not kept with the model
        return self


class TransferClassifier(_Classification, ClassifierMixin, _Transfer):
    """Image classification by fine-tuning a pretrained backbone (EfficientNet-Lite0 on ImageNet by default).

    >>> from aiforge.deep import TransferClassifier
    >>> model = TransferClassifier(image_size=64, max_epochs=5)  # then model.fit(images, labels)
    """

    def __init__(self, *, backbone: str = "efficientnet_lite0", weights: Any = "imagenet", image_size: int = 96,
                 unfreeze: int | str = 0, unfreeze_after: int = 0, backbone_lr: float = 0.1, dropout: float = 0.2,
                 class_weight: Any = None, lr: float = 3e-3, weight_decay: float = 1e-4, batch_size: int = 64,
                 max_epochs: int = 20, patience: int | None = 5, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())


class TransferRegressor(_Regression, RegressorMixin, _Transfer):
    """Image regression by fine-tuning a pretrained backbone (EfficientNet-Lite0 on ImageNet by default)."""

    def __init__(self, *, backbone: str = "efficientnet_lite0", weights: Any = "imagenet", image_size: int = 96,
                 unfreeze: int | str = 0, unfreeze_after: int = 0, backbone_lr: float = 0.1, dropout: float = 0.2,
                 lr: float = 3e-3, weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 20,
                 patience: int | None = 5, schedule: str = "cosine", warmup: float = 0.05,
                 clip_norm: float | None = 1.0, validation_fraction: float = 0.1, amp: str = "auto",
                 device: str = "auto", n_jobs: int | None = None, random_state: int = 0,
                 time_budget: float | None = None, adversarial: dict[str, Any] | None = None,
                 augment: dict[str, Any] | None = None) -> None:
        _keep(self, locals())
