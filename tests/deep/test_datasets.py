"""The IDX reader and the Fashion-MNIST loader that examples, benchmarks and tests share."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from aiforge.deep._datasets import FASHION_MNIST_DIR, load_fashion_mnist, read_idx
from aiforge.errors import DataError


def _idx(array: np.ndarray, code: int) -> bytes:
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_read_idx_gives_the_declared_shape_and_type(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images, 0x08)))
    floats = np.linspace(0, 1, 5).astype(">f4")
    (tmp_path / "f-idx1").write_bytes(_idx(floats, 0x0D))
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz"), images)
    got = read_idx(tmp_path / "f-idx1")
    assert got.dtype == np.float32 and np.allclose(got, floats.astype(np.float32))


def test_a_truncated_or_foreign_file_is_refused_with_where_and_what(tmp_path):
    good = _idx(np.zeros((2, 2), dtype=np.uint8), 0x08)
    (tmp_path / "short").write_bytes(good[:-1])
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match="truncated") as truncated:
        read_idx(tmp_path / "short")
    assert truncated.value.where == str(tmp_path / "short")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "png")


def test_a_folder_without_the_files_says_how_to_install_them(tmp_path):
    with pytest.raises(DataError, match="not found") as missing:
        load_fashion_mnist("test", folder=tmp_path)
    assert "dataset-fashion-mnist" in (missing.value.hint or "")


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_debian_fashion_mnist_test_split_loads():
    split = load_fashion_mnist("test")
    assert split.images.shape == (10_000, 28, 28) and split.images.dtype == np.uint8
    assert np.bincount(split.labels).tolist() == [1000] * 10
