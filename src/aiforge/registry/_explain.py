"""Explaining a registered model's predictions for given records (the CLI's ``aiforge explain``; the
server's ``POST /v1/models/{name}/explain`` builds on it)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.registry._registry import ModelRegistry, ModelVersion

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["explain_version"]


def explain_version(registry: ModelRegistry, version: ModelVersion, records: pd.DataFrame | list[dict[str, Any]],
                    *, top: int | None = 10, method: str = "auto") -> dict[str, Any]:
    """Per-input-column contributions to ``version``'s output for each record, with the base value and the
    output (``Explanation.to_json``); the version's stored training sample is the background."""
    import pandas as pd
    import pyarrow.parquet as pq

    from aiforge.evaluate import explain_rows

    frame = pd.DataFrame(records) if isinstance(records, list) else records
    model = registry.load_model(version)
    task = getattr(model, "task", None)
    if task is not None and task.is_generation:
        raise DataError(f"{version.name} v{version.version} generates text: there is no score or class to explain",
                        expected="a classification or regression model", found=f"a {task.value} model "
                        f"({version.learner})", hint="its predictions are the generated texts: POST them to "
                        f"/v1/models/{version.name}/predict")
    missing = [c for c in model.input_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the records lack {len(missing)} input column(s) of {version.name} v{version.version}",
            expected=f"every column of: {', '.join(model.input_columns)}", found=f"missing {', '.join(missing)}",
            hint="send each record with all the model's input columns (a missing value may be null)",
        )
    if frame.empty:
        raise DataError("there are no records to explain", hint="send at least one record")
    background = None
    if "background" in version.documents:
        background = pq.read_table(io.BytesIO(registry.document(version, "background"))).to_pandas()
    try:
        explanation = explain_rows(model, frame, background=background, method=method, seed=0)
    except ValueError as exc:
        raise DataError(f"cannot explain {version.name} v{version.version}: {exc}",
                        hint="register the model again with this version of aiforge (it stores the "
                        "background rows explanations need)") from exc
    return {"name": version.name, "version": version.version, "learner": version.learner,
            **explanation.to_json(top)}
