"""The project file's ``model.compress`` section: compression of the chosen torch network after training."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

__all__ = ["CompressSpec"]


class CompressSpec(BaseModel):
    """Compression of the chosen torch network after training: pruning, a short fine-tuning, int8 quantisation.

    Applied to the registered model when the search chose a torch learner (mlp); the run measures size,
    latency and accuracy before and after on the test split (KPIs: compression_accuracy_drop, ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prune: float = Field(0.0, ge=0, le=0.99, description="Share of the weights to remove: the smallest by "
                         "magnitude (L1) in every layer, or with structured: true, of every hidden layer's neurons "
                         "(cut out, so the network gets narrower). 0: no pruning.")
    structured: bool = Field(False, description="Prune whole neurons (ln_structured over output neurons, batch "
                             "norm folded in) and cut them out of the network, instead of single weights.")
    quantize: Literal["none", "dynamic", "static"] = Field(
        "none", description="int8 quantisation: dynamic (weights int8, activations quantised on the fly), static "
        "(weights and activations int8, scales calibrated on training rows; x86/fbgemm backend) or none.")
    fine_tune_epochs: StrictInt = Field(0, ge=0, le=1000, description="Epochs of training after pruning, from the "
                                        "network's learning rate down a cosine (learning-rate rewinding), the pruned "
                                        "weights kept at zero. 0: none.")
    calibration_rows: StrictInt = Field(1024, ge=2, le=1_000_000, description="Training rows static quantisation "
                                        "calibrates its scales on, and structured pruning re-estimates batch-norm "
                                        "statistics on.")

    @model_validator(mode="after")
    def _asks_for_something(self) -> CompressSpec:
        if self.prune == 0 and self.quantize == "none":
            raise ValueError("model.compress asks for nothing: set prune: (a share, e.g. 0.5) and/or quantize: "
                             "dynamic or static")
        if self.structured and self.prune == 0:
            raise ValueError("structured: true needs prune: the share of neurons to remove")
        if self.fine_tune_epochs and self.prune == 0:
            raise ValueError("fine_tune_epochs follows pruning: set prune:, or remove fine_tune_epochs")
        return self
