"""Compression of a fitted tabular model whose estimator is a torch network (``model.compress``).

The encoder stays as it is; the network behind it is pruned, fine-tuned and quantised by
``aiforge.deep.compress`` on the training rows as the encoder gives them, and the result is a new
``TabularModel`` over the same encoder (labels, features and decision threshold unchanged). A model
whose estimator is not a single torch network (another learner won the search, an ensemble) is not
compressed: ``NotCompressible`` says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.learn._model import TabularModel

if TYPE_CHECKING:
    import pandas as pd

    from aiforge.deep._compress import CompressionRecord
    from aiforge.spec import CompressSpec

__all__ = ["NotCompressible", "compress_model", "torch_estimator"]


class NotCompressible(ValueError):
    """The model holds no single torch network to compress (the message says what it holds)."""


def torch_estimator(model: Any) -> Any:
    """The torch estimator behind the encoder of ``model``, or NotCompressible saying what is there instead."""
    pipeline = getattr(model, "pipeline", None)
    steps = getattr(pipeline, "named_steps", None)
    if type(model) is not TabularModel or steps is None or set(steps) != {"prep", "model"}:
        held = getattr(model, "learner", type(model).__name__)
        raise NotCompressible(f"the chosen model ({held}, {type(pipeline).__name__}) is not a single torch "
                              f"network behind the encoder; model.compress applies to torch learners (mlp)")
    estimator = steps["model"]
    if not type(estimator).__module__.startswith("aiforge.deep."):
        raise NotCompressible(f"the chosen learner is {model.learner} ({type(estimator).__name__}), not a torch "
                              f"network; model.compress applies to torch learners (mlp): list only those in "
                              f"model.learners to compress for sure")
    return estimator


def compress_model(model: TabularModel, spec: CompressSpec, X: pd.DataFrame, y: pd.Series, *,
                   seed: int = 0) -> tuple[TabularModel, CompressionRecord]:
    """``model`` with its torch network compressed as ``spec`` asks, fine-tuned and calibrated on the training
    rows ``X`` (labels ``y``), and the record of what was done."""
    from sklearn.pipeline import Pipeline

    from aiforge.deep import CompressionConfig, compress

    estimator = torch_estimator(model)
    prep = model.pipeline.named_steps["prep"]
    encoded = prep.transform(X[model.features.columns])
    config = CompressionConfig(prune=spec.prune, structured=spec.structured, quantize=spec.quantize,
                               fine_tune_epochs=spec.fine_tune_epochs, calibration_rows=spec.calibration_rows,
                               seed=seed)
    compressed, record = compress(estimator, config, encoded, model.encode_target(y) if spec.fine_tune_epochs
                                  else None)
    pipeline = Pipeline([("prep", prep), ("model", compressed)])
    return TabularModel(pipeline, model.task, model.classes, model.features, model.learner, model.target,
                        model.threshold), record
