"""'aiforge validate' refuses model.augment operations no listed learner applies, and model.resample on a
regression task; what a learner can apply passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_income_project

from aiforge.errors import SpecError
from aiforge.pipeline import load_project


def _project(folder: Path, learners: str, model_lines: str, task: str = "binary") -> Path:
    path = write_income_project(folder, rows=20, learners=learners)
    text = path.read_text(encoding="utf-8").replace("  seed: 7\n", "  seed: 7\n" + model_lines)
    if task == "regression":
        text = text.replace("  task: binary\n  target: income\n  positive_class: \">50K\"\n",
                            "  task: regression\n  target: age\n").replace("{metric: roc_auc, min: 0.80}",
                                                                           "{metric: rmse, max: 20}")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("learners", "lines", "task", "message", "hint"), [
    ("[mlp]", "  augment: {flip: true, crop: 2, noise: 0.05}\n", "binary",
     "model.augment asks for flip, crop, which no learner in model.learners applies",
     "a table's mlp takes noise only"),
    ("[linear, lightgbm]", "  augment: {noise: 0.05}\n", "binary",
     "model.augment asks for noise, which no learner in model.learners applies", "add mlp to model.learners"),
    ("[linear]", "  resample: [smote]\n", "regression",
     "model.resample rebalances classes, and a regression task has none", "remove model.resample"),
])
def test_validate_refuses_what_no_learner_or_task_can_use(tmp_path: Path, learners: str, lines: str, task: str,
                                                          message: str, hint: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_project(_project(tmp_path, learners, lines, task))
    text = str(caught.value)
    assert message in text and hint in text, text
    assert "mlp (noise)" in text or "regression" in text


def test_noise_for_the_mlp_and_any_resampling_of_classes_pass(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "[linear, mlp]", "  augment: {noise: 0.05, search: true}\n"
                                    "  resample: [none, synthetic]\n"))
    assert project.spec.model.augment is not None and project.spec.model.resample == ["none", "synthetic"]


def test_the_cnn_learner_takes_every_image_operation(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "[cnn]", "  augment: {flip: true, crop: 2, rotate: 10, cutout: 4, "
                                    "noise: 0.05}\n"))
    assert project.spec.model.augment is not None and project.spec.model.augment.image_operations == [
        "flip", "crop", "rotate", "cutout"]
