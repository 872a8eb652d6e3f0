"""The project file's training-data options: ``model.augment`` (augmentation of each training batch of the
torch learners) and the names ``model.resample`` takes (rebalancing the classes of each training fold)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

__all__ = ["IMAGE_AUGMENTATIONS", "RESAMPLERS", "AugmentSpec", "Resampler"]

IMAGE_AUGMENTATIONS = ("flip", "vflip", "crop", "rotate", "cutout")
# none | smote | adasyn | synthetic (a Gaussian copula per class): aiforge.learn._resample
Resampler = Literal["none", "smote", "adasyn", "synthetic"]
RESAMPLERS: tuple[Resampler, ...] = get_args(Resampler)


class AugmentSpec(BaseModel):
    """Augmentation of every training batch of the torch learners (never of validation rows or predictions),
    drawn on the training device from the training seed.

    Images get every operation; a table (the mlp) takes ``noise`` only, on its numeric columns.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    flip: StrictBool = Field(False, description="Images: mirror each image left-right with probability 1/2.")
    vflip: StrictBool = Field(False, description="Images: turn each image upside down with probability 1/2.")
    crop: StrictInt = Field(0, ge=0, le=64, description="Images: pad by this many pixels (edges repeated) and cut "
                            "back at a random offset, i.e. shift by up to this many pixels each way. 0: none.")
    rotate: float = Field(0.0, ge=0, le=45, description="Images: turn by a random angle of up to this many degrees "
                          "either way. 0: none.")
    cutout: StrictInt = Field(0, ge=0, le=256, description="Images: set a square of this many pixels a side, at a "
                              "random place, to the mean. 0: none.")
    noise: float = Field(0.0, ge=0, le=10, description="Gaussian noise of this standard deviation, in standard "
                         "deviations of each input (images, a table's numeric columns). 0: none.")
    search: StrictBool = Field(False, description="true: augmentation is a hyperparameter: the search tries each "
                               "configuration with and without it, and cross-validation decides. false: every trial "
                               "and the refit are augmented.")

    @model_validator(mode="after")
    def _asks_for_something(self) -> AugmentSpec:
        if not (self.image_operations or self.noise > 0):
            raise ValueError("model.augment asks for nothing: set noise: (e.g. 0.05) and, for images, flip: true, "
                             "crop: (pixels), rotate: (degrees) or cutout: (pixels)")
        return self

    @property
    def image_operations(self) -> list[str]:
        """The operations that are on and need images."""
        return [name for name in IMAGE_AUGMENTATIONS if getattr(self, name)]

    def operations(self) -> dict[str, bool | int | float]:
        """The operations as ``aiforge.deep``'s estimators take them (``augment=``)."""
        return self.model_dump(exclude={"search"})
