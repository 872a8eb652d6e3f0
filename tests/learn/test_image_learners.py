"""The cnn learner: the image shape from the pixel columns, and rows of pixels read as the images they are."""

from __future__ import annotations

import numpy as np
import pytest

from aiforge.data._images import pixel_columns
from aiforge.errors import SpecError
from aiforge.learn import LEARNERS

pytest.importorskip("torch")


def test_the_image_shape_comes_from_the_pixel_columns_and_anything_else_is_refused() -> None:
    cnn = LEARNERS["cnn"]
    assert cnn.input_params(pixel_columns((6, 5, 3))) == {"image_shape": [6, 5, 3]}
    with pytest.raises(SpecError, match="needs images as its only inputs") as refused:
        cnn.input_params(["age", *pixel_columns((2, 2))])
    assert refused.value.found == "5 input columns: age, pixel_0_0, pixel_0_1, pixel_1_0, ..."
    assert "type: images" in (refused.value.hint or "")


def test_rows_of_pixels_are_the_images_they_name() -> None:
    from aiforge.deep import CNNClassifier

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(40, 6, 5, 3)).astype(np.float32)  # (n, height, width, channels)
    labels = (images[:, :3].mean(axis=(1, 2, 3)) > images[:, 3:].mean(axis=(1, 2, 3))).astype(int)
    rows = images.reshape(40, -1)  # row-major, channels last: the pixel columns' order
    params = {"channels": 4, "blocks": 1, "max_epochs": 2, "validation_fraction": 0.0, "n_jobs": 1}
    on_rows = CNNClassifier(image_shape=(6, 5, 3), **params).fit(rows, labels)
    on_images = CNNClassifier(**params).fit(images.transpose(0, 3, 1, 2), labels)
    assert np.allclose(on_rows.predict_proba(rows), on_images.predict_proba(images.transpose(0, 3, 1, 2)),
                       atol=1e-5)
    with pytest.raises(ValueError, match="rows of 90 pixels"):
        on_rows.predict_proba(rows[:, :-1])
