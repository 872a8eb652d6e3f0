"""The BentoML peer of the serving benchmark: the model aiforge registered, saved in BentoML's model store
(``peer.py export-bentoml``) and served the way BentoML 1.4's guides serve a scikit-learn model.

    BENTOML_HOME=... SERVING_BENCH_WORKERS=2 bentoml serve bento_service:Income --port 3000

``POST /predict`` with ``{"records": [{column: value, ...}]}`` answers the probability of each class per
record, as aiforge's ``/v1/models/income/predict`` and MLflow's ``/invocations`` do.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import pandas as pd


@bentoml.service(workers=int(os.environ.get("SERVING_BENCH_WORKERS", "1")))
class Income:
    bento_model = bentoml.models.BentoModel("income:latest")

    def __init__(self) -> None:
        self.pipeline = bentoml.sklearn.load_model(self.bento_model)
        self.columns = list(self.bento_model.info.metadata["input_columns"])

    @bentoml.api
    def predict(self, records: list[dict[str, Any]]) -> list[list[float]]:
        frame = pd.DataFrame.from_records(records)[self.columns]
        return self.pipeline.predict_proba(frame).tolist()
