"""The reference statistics registered with every version: how its inputs were distributed in training
and how its outputs are distributed on held-out rows (``data.ReferenceProfile``), for monitoring."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiforge.data import ReferenceProfile
from aiforge.spec import TaskKind

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["reference_document"]


def reference_document(model: Any, train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> bytes:
    """JSON bytes of the reference of ``model``: its input ``columns`` over the training rows, and its outputs
    over the test rows (binary: the positive class's probability; multiclass: the predicted class;
    regression: the value; text generation: the generated text's length in words)."""
    categorical = [c for c in columns if c in set(model.features.categorical)]
    task = model.task
    meta: dict[str, Any] = {"task": task.value, "train_rows": len(train), "test_rows": len(test),
                            "classes": [str(c) for c in (model.classes or [])],
                            "threshold": float(getattr(model, "threshold", 0.5))}
    if task is TaskKind.BINARY:
        prediction, kind = model.predict_proba(test)[:, 1], "numeric"
        meta["positive"] = str(model.classes[1])
    elif task is TaskKind.REGRESSION:
        prediction, kind = model.predict(test), "numeric"
    elif task is TaskKind.TEXT_GENERATION:  # each generated text's length in words: a shift shows there
        prediction, kind = [len(str(v).split()) for v in model.predict(test)], "numeric"
    else:
        prediction, kind = [str(v) for v in model.predict(test)], "categorical"
    text = [c for c in columns if c in set(getattr(model.features, "text", ()))]
    profile = ReferenceProfile.build(train[columns], categorical=categorical, prediction=prediction,
                                     prediction_kind=kind, meta=meta, text=text)
    return json.dumps(profile.to_json(), allow_nan=False, default=_finite).encode()


def _finite(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)
