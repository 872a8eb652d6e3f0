"""Learners for images (``aiforge.deep``, the optional ``deep`` extra).

``cnn``: ``aiforge.deep``'s small convolutional network over the pixel columns an ``images`` source writes
(``pixel_{row}_{col}[_{channel}]``); the image shape comes from those names (``input_params``), so the tuning
engine searches, cross-validates, refits and serves it like any learner. Early stopping on the search's
validation fold picks the number of epochs, which the refit on the whole training split trains; the search's
deadline stops a fold after the step that passes it. ``model.augment`` (flips, shifts, rotations, cutout, noise)
augments its training batches, in every trial or as a searched on/off choice, as for the ``mlp``.
"""

from __future__ import annotations

from typing import Any

from aiforge.errors import SpecError
from aiforge.learn._deep_learners import TorchLearner, augment_choice, augment_fixed, augment_space
from aiforge.learn._learners import register
from aiforge.learn._space import Choice, FloatRange, IntRange, SearchSpace
from aiforge.spec import IMAGE_AUGMENTATIONS, ModelSpec, TaskKind

__all__ = ["CNN"]


@register
class CNN(TorchLearner):
    name = "cnn"
    priority = 75
    description = ("torch convolutional network for images (the pixel columns of an images source): blocks of two "
                   "3x3 convolutions with batch norm, AdamW with warm-up and cosine decay, early stopping "
                   "(optional: pip install 'aiforge[deep]')")
    encoding = "ordinal"
    scale = False  # the network standardises each channel itself
    augments = frozenset({*IMAGE_AUGMENTATIONS, "noise"})  # model.augment: every operation

    @classmethod
    def search_space(cls, n_rows: int, task: TaskKind) -> SearchSpace:
        space: SearchSpace = {
            "channels": IntRange(8, 48, log=True),
            "blocks": IntRange(1, 3),
            "dropout": FloatRange(0.0, 0.4),
            "lr": FloatRange(5e-4, 1e-2, log=True),
            "weight_decay": FloatRange(1e-6, 1e-2, log=True),
            "batch_size": IntRange(32, 256, log=True),
            "max_epochs": IntRange(3, 60 if n_rows < 5_000 else 30, log=True),
        }
        if task.is_classification:
            space["class_weight"] = Choice((None, "balanced"))
        return space

    @classmethod
    def init_config(cls, n_rows: int, task: TaskKind) -> dict[str, Any]:
        # few images: smaller batches, so that an epoch still takes some steps; many: 10 epochs, so that the
        # cosine schedule decays within a CPU's minutes (a deadline that cuts it leaves the learning rate high);
        # on Fashion-MNIST 4 epochs gave 0.88 test accuracy, 10 gave 0.90
        small = n_rows < 5_000
        epochs = 30 if small else 15 if n_rows < 20_000 else 10
        config: dict[str, Any] = {"channels": 16, "blocks": 2, "dropout": 0.1, "lr": 3e-3, "weight_decay": 1e-4,
                                  "batch_size": 32 if small else 128, "max_epochs": epochs}
        return {**config, "class_weight": None} if task.is_classification else config

    @classmethod
    def input_params(cls, columns: list[str]) -> dict[str, Any]:
        from aiforge.data._images import image_shape

        shape = image_shape(columns)
        if shape is None:
            shown = ", ".join(columns[:4]) + (", ..." if len(columns) > 4 else "")
            raise SpecError("learner 'cnn' needs images as its only inputs", where="model.learners",
                            expected="the pixel columns of an images source (pixel_{row}_{col}[_{channel}], "
                            "row-major) and nothing else",
                            found=f"{len(columns)} input columns: {shown}",
                            hint="read the images with a source of type: images, and keep other columns out "
                            "(a select step), or remove 'cnn' from model.learners")
        return {"image_shape": list(shape)}

    @classmethod
    def fixed_params(cls, model: ModelSpec, task: TaskKind) -> dict[str, Any]:
        return augment_fixed(model)

    @classmethod
    def project_space(cls, model: ModelSpec, task: TaskKind) -> SearchSpace:
        return augment_space(model)

    def build(self, task: TaskKind, seed: int, n_jobs: int, categorical: list[int], params: dict[str, Any]) -> Any:
        if not self.available():
            raise self.missing_message()
        from aiforge.deep import CNNClassifier, CNNRegressor

        cls = CNNRegressor if task is TaskKind.REGRESSION else CNNClassifier
        return cls(random_state=seed, n_jobs=n_jobs, **augment_choice(params))
