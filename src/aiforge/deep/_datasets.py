"""Image datasets read from local files: the IDX format of MNIST and Fashion-MNIST.

Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST under ``/usr/share/datasets/fashion-mnist``
as four gzip-compressed IDX files. Reading them needs numpy only (not torch), so examples, benchmarks and tests
share this one loader.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiforge.errors import DataError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "ImageSplit", "load_fashion_mnist", "read_idx"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_INSTALL = "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or pass the folder that holds " \
           "the four *-idx?-ubyte[.gz] files"
# IDX type codes (third byte of the magic number) -> numpy dtype strings, big-endian as the format stores them.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ImageSplit:
    """Images as ``uint8`` of shape (n, height, width) and their integer labels."""

    images: np.ndarray
    labels: np.ndarray


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array of its declared shape and type."""
    import numpy as np

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read the IDX file {path}", where=str(path), found=str(exc),
                        hint="check the file is complete; reinstall the package that ships it") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file", where=str(path),
                        expected="a magic number 0x0000TTDD (TT a type code, DD the number of dimensions)",
                        found=raw[:4].hex() or "an empty file")
    dims = raw[3]
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or padded", where=str(path),
                        expected=f"{expected} bytes for shape {shape}", found=f"{len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


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
