"""A fault-injected model for the rollout tests: a real fitted model that raises or sleeps when it predicts.

The server unpickles it, so this module must be importable there: the tests put this folder on its
PYTHONPATH.
"""

from __future__ import annotations

import time
from typing import Any

from aiforge.learn import TabularModel


class FaultyModel(TabularModel):
    """``fault``: ``raise`` (every prediction fails), ``sleep:SECONDS`` (every prediction is that slow) or
    ``none`` (a healthy copy that pickles to other bytes: a new version with the same predictions)."""

    fault = "none"

    @classmethod
    def wrap(cls, model: TabularModel, fault: str) -> FaultyModel:
        faulty = cls.__new__(cls)
        faulty.__dict__.update(model.__dict__)
        faulty.fault = fault
        return faulty

    def _inject(self) -> None:
        if self.fault == "raise":
            raise RuntimeError("injected fault: this challenger always fails")
        if self.fault.startswith("sleep:"):
            time.sleep(float(self.fault.split(":", 1)[1]))

    def predict_proba(self, X: Any) -> Any:
        self._inject()
        return super().predict_proba(X)

    def raw_output(self, X: Any) -> Any:
        self._inject()
        return super().raw_output(X)
