"""Image datasets read from local files: the IDX format of MNIST and Fashion-MNIST.

Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST under ``/usr/share/datasets/fashion-mnist``
as four gzip-compressed IDX files. Reading them needs numpy only (not torch), so examples, benchmarks and tests
share this one loader; ``read_idx`` itself lives in ``aiforge.data._images``, where the ``images`` source of a
project file uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiforge.data._images import read_idx
from aiforge.errors import DataError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "ImageSplit", "load_fashion_mnist", "read_idx"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_INSTALL = "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or pass the folder that holds " \
           "the four *-idx?-ubyte[.gz] files"


@dataclass(frozen=True)
class ImageSplit:
    """Images as ``uint8`` of shape (n, height, width) and their integer labels."""

    images: np.ndarray
    labels: np.ndarray


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"Fashion-MNIST file {stem}[.gz] not found", where=str(folder),
                    expected=f"{stem}.gz or {stem}", found="no such file", hint=_INSTALL)


def load_fashion_mnist(split: str = "train", folder: Path | str | None = None) -> ImageSplit:
    """The ``train`` (60,000 images) or ``test`` (10,000) split of Fashion-MNIST: 28x28 grey images, labels 0-9."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    root = Path(folder) if folder is not None else FASHION_MNIST_DIR
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError("Fashion-MNIST images and labels do not match", where=str(root),
                        expected="images (n, 28, 28) and n labels",
                        found=f"images {images.shape}, labels {labels.shape}")
    return ImageSplit(images=images, labels=labels.astype("int64"))
