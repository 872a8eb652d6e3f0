"""model.augment and model.resample in the project file: they round-trip, and bad values say what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.errors import SpecError
from aiforge.spec import AugmentSpec, ProjectSpec, parse_project_text

TEXT = """\
name: income
problem: {task: binary, target: income}
data:
  sources:
    - {name: census, type: csv, path: data/adult.csv}
model:
  learners: [mlp]
"""
FILE = Path("proj") / "aiforge.yaml"


def test_augment_and_resample_round_trip_through_the_project_file() -> None:
    text = TEXT + "  augment: {flip: true, crop: 2, rotate: 10, noise: 0.05, search: true}\n" \
                  "  resample: [none, smote, adasyn, synthetic]\n"
    spec = parse_project_text(text, FILE).spec

    assert spec.model.augment == AugmentSpec(flip=True, crop=2, rotate=10.0, noise=0.05, search=True)
    assert spec.model.augment.operations() == {"flip": True, "vflip": False, "crop": 2, "rotate": 10.0,
                                               "cutout": 0, "noise": 0.05}
    assert spec.model.augment.image_operations == ["flip", "crop", "rotate"]
    assert spec.model.resample == ["none", "smote", "adasyn", "synthetic"]
    assert ProjectSpec.model_validate(spec.model_dump()) == spec

    plain = parse_project_text(TEXT, FILE).spec.model
    assert plain.augment is None and plain.resample is None


@pytest.mark.parametrize(("line", "message", "field"), [
    ("  augment: {}\n", "model.augment asks for nothing: set noise:", "model.augment"),
    ("  augment: {noise: 0}\n", "model.augment asks for nothing", "model.augment"),
    ("  augment: {crop: -1}\n", "greater than or equal to 0", "model.augment.crop"),
    ("  augment: {flip: 'yes'}\n", "valid boolean", "model.augment.flip"),
    ("  augment: {rotate: 90}\n", "less than or equal to 45", "model.augment.rotate"),
    ("  augment: {mixup: 0.2}\n", "unknown key 'mixup'", "model.augment.mixup"),
    ("  resample: [smote, smoteen]\n", "'none', 'smote', 'adasyn' or 'synthetic'", "model.resample[1]"),
    ("  resample: []\n", "at least 1 item", "model.resample"),
])
def test_a_bad_augment_or_resample_names_the_field_and_what_it_takes(line: str, message: str, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_project_text(TEXT + line, FILE)
    text = str(caught.value)
    assert message in text, text
    assert f"({field})" in text, text
