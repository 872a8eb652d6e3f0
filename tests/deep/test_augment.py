"""Augmentation in the training loop: each operation keeps shape, dtype and device and does what it says; a
seed fixes the draws; the loop augments training batches only, never validation rows or predictions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from aiforge.deep import Augmentation, CNNClassifier, MLPClassifier, TrainConfig, augment_images, train  # noqa: E402
from aiforge.deep._augment import augment_batch  # noqa: E402
from aiforge.deep._runtime import Precision, torch_threads  # noqa: E402

CPU = torch.device("cpu")
EVERYTHING = Augmentation(flip=True, vflip=True, crop=2, rotate=15.0, cutout=3, noise=0.1)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def _images(n: int = 16, channels: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, channels, size, size)).astype(np.float32))


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("augmentation", [
    Augmentation(flip=True), Augmentation(vflip=True), Augmentation(crop=2), Augmentation(rotate=10.0),
    Augmentation(cutout=3), Augmentation(noise=0.1), EVERYTHING], ids=lambda a: ",".join(
        k for k, v in a.to_json().items() if v))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_operation_keeps_shape_dtype_and_device_and_leaves_its_input_alone(augmentation: Augmentation,
                                                                                  dtype: torch.dtype) -> None:
    images = _images(channels=3).to(dtype)
    before = images.clone()

    out = augment_images(images, augmentation, _generator())

    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert torch.equal(images, before)
    assert not torch.equal(out, images)  # 16 images: some flip, shift, turn, lose a square, all get noise


def test_a_flip_mirrors_some_images_and_keeps_the_others() -> None:
    images = _images(64)
    out = augment_images(images, Augmentation(flip=True), _generator())
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 16 < sum(mirrored) < 48  # each with probability 1/2


def test_a_crop_is_the_image_shifted_by_at_most_the_padding_with_its_edges_repeated() -> None:
    images = _images(32)
    pad = 2
    out = augment_images(images, Augmentation(crop=pad), _generator())
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    shifts = set()
    for k in range(len(images)):
        found = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                 if torch.equal(out[k], padded[k, :, dy: dy + 8, dx: dx + 8])]
        assert found, f"image {k} is no window of its padded self"
        shifts.add(found[0])
    assert len(shifts) > 5  # each image draws its own offset


def test_cutout_zeroes_one_square_and_noise_has_the_asked_deviation() -> None:
    images = _images(32) + 10.0  # no pixel is 0 before the cutout
    out = augment_images(images, Augmentation(cutout=3), _generator())
    zeroed = (out == 0).sum(dim=(1, 2, 3))
    assert (zeroed >= 1).all() and (zeroed <= 9).all()
    assert torch.equal(out[out != 0], images[out != 0])

    noisy = augment_images(torch.zeros(200, 1, 8, 8), Augmentation(noise=0.2), _generator())
    assert abs(float(noisy.std()) - 0.2) < 0.01 and abs(float(noisy.mean())) < 0.01


def test_a_small_rotation_moves_pixels_a_little_and_keeps_a_constant_image() -> None:
    images = _images(16)
    out = augment_images(images, Augmentation(rotate=5.0), _generator())
    assert 0 < float((out - images).abs().mean()) < float(images.abs().mean())
    flat = torch.full((4, 1, 8, 8), 0.7)
    assert torch.allclose(augment_images(flat, Augmentation(rotate=40.0), _generator()), flat, atol=1e-6)


def test_the_same_seed_draws_the_same_augmentation_and_another_seed_does_not() -> None:
    images = _images(16)
    first = augment_images(images, EVERYTHING, _generator(3))
    assert torch.equal(first, augment_images(images, EVERYTHING, _generator(3)))
    assert not torch.equal(first, augment_images(images, EVERYTHING, _generator(4)))


def test_a_table_gets_noise_on_its_float_columns_and_keeps_its_category_codes() -> None:
    numeric = torch.zeros(50, 3)
    codes = torch.arange(100).reshape(50, 2)
    noisy, same = augment_batch((numeric, codes), Augmentation(noise=0.5), _generator())
    assert same is codes and noisy.shape == numeric.shape and float(noisy.abs().mean()) > 0.2
    with pytest.raises(ValueError, match="flip, crop apply to images .* only noise applies"):
        augment_batch((numeric, codes), Augmentation(flip=True, crop=1), _generator())


@pytest.mark.parametrize(("param", "message"), [
    ({"flip": "yes"}, "flip must be true or false"),
    ({"crop": -1}, "crop must be a whole number of pixels"),
    ({"crop": 1.5}, "crop must be a whole number of pixels"),
    ({"rotate": 90}, r"rotate must be a number of degrees in \[0, 45\]"),
    ({"noise": -0.1}, "noise must be a standard deviation"),
    ({"mixup": 0.2}, "unknown operation 'mixup'"),
    ("flip", "augment must be None, a dict"),
])
def test_a_bad_augmentation_is_refused_with_what_was_expected(param: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Augmentation.from_param(param)


def test_an_augmentation_that_asks_for_nothing_is_none() -> None:
    assert Augmentation.from_param(None) is None
    assert Augmentation.from_param({}) is None
    assert Augmentation.from_param({"noise": 0.0, "crop": 0}) is None
    assert Augmentation.from_param({"crop": 1}) == Augmentation(crop=1)


class _Recorder(torch.nn.Module):
    """A linear layer over flattened images that keeps every batch it is shown, by mode."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 2)
        self.seen: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen[self.training].append(images.detach().clone())
        return self.linear(images.flatten(1))


def test_the_loop_augments_training_batches_only_and_counts_them() -> None:
    images, valid = _images(40, size=4, seed=1), _images(12, size=4, seed=2)
    target = torch.arange(40) % 2
    module = _Recorder()
    config = TrainConfig(max_epochs=3, batch_size=10, patience=None, seed=5)

    history = train(module, (images,), target, torch.nn.CrossEntropyLoss(reduction="none"), config, device=CPU,
                    precision=Precision(None), valid=((valid,), torch.arange(12) % 2),
                    augment=Augmentation(flip=True, crop=1, noise=0.3))

    assert history.augmented_rows == 3 * 40
    shown = torch.cat(module.seen[True])
    assert len(shown) == 120
    originals = {tuple(i.flatten().tolist()) for i in images}
    assert not any(tuple(s.flatten().tolist()) in originals for s in shown)  # noise: every training row changed
    assert len(module.seen[False]) == 3 and all(torch.equal(v, valid) for v in module.seen[False])

    plain = _Recorder()
    history = train(plain, (images,), target, torch.nn.CrossEntropyLoss(reduction="none"), config, device=CPU,
                    precision=Precision(None))
    assert history.augmented_rows == 0
    assert {tuple(s.flatten().tolist()) for s in torch.cat(plain.seen[True])} == originals


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:400].reshape(-1, 8, 8), y[:400]


def test_a_cnn_trains_with_augmentation_reproducibly_and_predicts_unaugmented(digits: tuple) -> None:
    X, y = digits
    params = {"channels": 8, "blocks": 1, "max_epochs": 4, "batch_size": 64, "random_state": 3, "n_jobs": 1,
              "augment": {"flip": False, "crop": 1, "rotate": 10.0, "noise": 0.1}}
    first = CNNClassifier(**params).fit(X, y)
    second = CNNClassifier(**params).fit(X, y)
    plain = CNNClassifier(**{**params, "augment": None}).fit(X, y)

    assert first.history_.augmented_rows > 0 and plain.history_.augmented_rows == 0
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_array_equal(first.predict_proba(X[:50]), first.predict_proba(X[:50]))
    assert not np.array_equal(first.predict_proba(X), plain.predict_proba(X))
    assert clone(first).get_params()["augment"] == params["augment"]


def test_a_table_refuses_image_operations_but_takes_noise() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 3)), np.arange(120) % 2
    with pytest.raises(ValueError, match="flip apply to images .*MLPClassifier takes noise only"):
        MLPClassifier(augment={"flip": True}, max_epochs=2).fit(X, y)
    fitted = MLPClassifier(augment={"noise": 0.1}, max_epochs=2, n_jobs=1).fit(X, y)
    assert fitted.history_.augmented_rows > 0
