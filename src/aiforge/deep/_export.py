"""ONNX export of a fitted MLP or CNN estimator: the whole prediction, not only the network.

The graph takes what the estimator's ``predict_proba`` (or ``predict``) takes, as one float32 tensor named
``input``: for an MLP the table (rows x columns, categorical columns as integer codes), for a CNN the images (NCHW),
or rows of pixels when the CNN was fitted on them (``image_shape``). Inside it does what the estimator does in numpy
before and after its network: numeric columns standardised with the training statistics; a categorical code that is
negative, missing or unseen in training becomes the "unknown" embedding row (0), others code + 1; images
standardised per channel. The output ``output`` is the probabilities (softmax over the classes) of a classifier, or
the value of a regressor in the target's units. Pruned networks export (their zeros are weights like any other); an
int8-quantised network does not: torch's exporter has no int8 kernels to write.

``torch.onnx.export`` runs with the TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs
the onnxscript package, which is not a dependency. Its deprecation warnings are silenced here.
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Any

import numpy as np

from aiforge.deep._runtime import require_torch

__all__ = ["INPUT", "OUTPUT", "OPSET", "export_onnx"]

INPUT = "input"
OUTPUT = "output"
OPSET = 17


def export_onnx(estimator: Any) -> bytes:
    """The ONNX model of a fitted ``MLPClassifier``/``MLPRegressor``/``CNNClassifier``/``CNNRegressor`` (or a
    pruned one): ``input`` as the estimator takes it, ``output`` as ``predict_proba`` (classifiers) or
    ``predict`` (regressors) gives it."""
    torch = require_torch("ONNX export")
    kind = getattr(estimator, "_kind", None)
    if not hasattr(estimator, "module_"):
        raise ValueError(f"this {type(estimator).__name__} is not fitted yet: fit it before exporting it")
    if kind not in ("mlp", "cnn"):
        raise ValueError(f"ONNX export covers the MLP and the CNN estimators, not {type(estimator).__name__}")
    quantize = (getattr(estimator, "compression_", None) or {}).get("quantize", "none")
    if quantize != "none":
        raise ValueError(f"a {quantize} int8-quantised network does not export to ONNX (torch's exporter writes "
                         f"float operators); export the pruned or original float model")
    graph = _Prediction(torch, estimator)
    example = torch.zeros(2, *_input_shape(estimator), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices and tracer advice
        rows_in = kind == "mlp" or estimator._image_shape() is not None
        dynamic = {0: "rows"} if rows_in else {0: "rows", 2: "height", 3: "width"}
        torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: dynamic, OUTPUT: {0: "rows"}})
    return buffer.getvalue()


def _input_shape(estimator: Any) -> tuple[int, ...]:
    if estimator._kind == "mlp":
        return (int(estimator.n_features_in_),)
    shape = estimator._image_shape()
    if shape is not None:  # rows of pixels, channels last
        return (shape[0] * shape[1] * shape[2],)
    return (int(estimator.n_channels_), 8, 8)  # the example's; height and width are dynamic axes


def _Prediction(torch: Any, estimator: Any) -> Any:  # noqa: N802  (a class made once torch is imported)
    """The estimator's inputs -> its outputs, as one torch module to export."""

    class Prediction(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = copy.deepcopy(estimator.module_).cpu().eval()
            self.kind = estimator._kind
            self.classifier = hasattr(estimator, "classes_")
            if self.kind == "mlp":
                self.register_buffer("numeric", _long(torch, estimator.numeric_columns_))
                self.register_buffer("categorical", _long(torch, estimator.categorical_columns_))
                self.register_buffer("mean", _float(torch, estimator.numeric_mean_))
                self.register_buffer("scale", _float(torch, estimator.numeric_scale_))
                self.register_buffer("cardinality", _long(torch, estimator.cardinalities_))
            else:
                self.image_shape = estimator._image_shape()
                self.register_buffer("mean", _float(torch, estimator.channel_mean_).reshape(1, -1, 1, 1))
                self.register_buffer("scale", _float(torch, estimator.channel_scale_).reshape(1, -1, 1, 1))
            if not self.classifier:
                self.target_mean = float(estimator.target_mean_)
                self.target_scale = float(estimator.target_scale_)

        def forward(self, x: Any) -> Any:
            if self.kind == "mlp":
                numeric = (x.index_select(1, self.numeric) - self.mean) / self.scale
                raw = x.index_select(1, self.categorical)
                known = torch.isfinite(raw) & (raw >= 0)
                codes = torch.where(known, torch.floor(torch.where(known, raw, torch.zeros_like(raw))) + 1,
                                    torch.zeros_like(raw)).long()
                codes = torch.where(codes >= self.cardinality, torch.zeros_like(codes), codes)
                out = self.network(numeric, codes)
            else:
                if self.image_shape is not None:
                    x = x.reshape(-1, *self.image_shape).permute(0, 3, 1, 2)
                out = self.network((x - self.mean) / self.scale)
            if self.classifier:
                return torch.softmax(out, dim=1)
            return out[:, 0] * self.target_scale + self.target_mean

    return Prediction().eval()


def _long(torch: Any, values: Any) -> Any:
    return torch.as_tensor(np.asarray(values, dtype=np.int64).reshape(-1))


def _float(torch: Any, values: Any) -> Any:
    return torch.as_tensor(np.asarray(values, dtype=np.float32).reshape(-1))
