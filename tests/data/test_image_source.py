"""The images source (idx, npz, folder) and the pixel columns that carry images through the life cycle."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from aiforge.data._images import decode_image, image_shape, pixel_columns, read_images
from aiforge.errors import DataError
from aiforge.spec import SourceSpec

SOURCE: TypeAdapter[SourceSpec] = TypeAdapter(SourceSpec)  # type: ignore[arg-type]
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)  # six 4x3 grey images
LABELS = np.array([0, 1, 2, 0, 1, 2], dtype=np.uint8)


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _source(**fields: object) -> SourceSpec:
    return SOURCE.validate_python({"type": "images", "name": "pics", **fields})


def test_pixel_columns_name_the_shape_and_image_shape_reads_it_back() -> None:
    assert pixel_columns((2, 2)) == ["pixel_0_0", "pixel_0_1", "pixel_1_0", "pixel_1_1"]
    assert pixel_columns((1, 2, 3))[:4] == ["pixel_0_0_0", "pixel_0_0_1", "pixel_0_0_2", "pixel_0_1_0"]
    assert image_shape(pixel_columns((28, 28))) == (28, 28, 1)
    assert image_shape(pixel_columns((5, 7, 3))) == (5, 7, 3)
    assert image_shape(pixel_columns((3, 3))[::-1]) is None  # out of order
    assert image_shape([*pixel_columns((3, 3)), "age"]) is None
    assert image_shape(pixel_columns((3, 3))[1:]) is None


def test_idx_files_become_a_row_per_image_with_named_labels(tmp_path: Path) -> None:
    (tmp_path / "x.gz").write_bytes(gzip.compress(_idx(IMAGES)))
    (tmp_path / "y").write_bytes(_idx(LABELS))
    loaded = read_images(_source(format="idx", path="x.gz", labels="y", shape=[4, 3], limit=5,
                                 label_names=["cat", "dog", "owl"]), tmp_path)
    table = loaded.table
    assert table.column_names == [*pixel_columns((4, 3)), "label"]
    assert table.num_rows == 5
    assert table.column("pixel_2_1").to_pylist() == IMAGES[:5, 2, 1].tolist()
    assert table.column("label").to_pylist() == ["cat", "dog", "owl", "cat", "dog"]
    again = read_images(_source(format="idx", path="x.gz", labels="y", shape=[4, 3]), tmp_path)
    assert again.content_hash != loaded.content_hash  # the limit and names are part of what was read


def test_npz_and_folder_sources_read_colour_and_grey_images(tmp_path: Path) -> None:
    colour = RNG.integers(0, 256, size=(3, 2, 2, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", pics=colour, tags=np.array(["a", "b", "a"]))
    table = read_images(_source(format="npz", path="c.npz", images_key="pics", labels_key="tags", shape=[2, 2, 3]),
                        tmp_path).table
    assert image_shape(table.column_names[:-1]) == (2, 2, 3)
    assert table.column("pixel_1_0_2").to_pylist() == colour[:, 1, 0, 2].tolist()
    for i, label in enumerate(["boot", "boot", "shirt"]):
        (tmp_path / "folder" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / label / f"{i}.png").write_bytes(_png(IMAGES[i]))
    table = read_images(_source(format="folder", path="folder", shape=[4, 3]), tmp_path).table
    assert table.column("label").to_pylist() == ["boot", "boot", "shirt"]
    assert table.column("pixel_3_2").to_pylist() == IMAGES[:3, 3, 2].tolist()


@pytest.mark.parametrize(("fields", "match"), [
    ({"format": "idx", "path": "x", "shape": [4, 3]}, "needs labels"),
    ({"format": "npz", "path": "x", "labels": "y", "shape": [4, 3]}, "labels is for format: idx"),
    ({"format": "npz", "path": "x", "shape": [4, 3, 2]}, "1, 3 or 4 channels"),
    ({"format": "folder", "path": "x", "shape": [4, 3], "label_names": ["a", "b"]}, "label_names is for"),
    ({"format": "npz", "path": "x", "shape": [4]}, "at least 2"),
])
def test_a_source_that_cannot_be_read_as_declared_is_refused_by_the_spec(fields: dict[str, object],
                                                                          match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _source(**fields)


def test_bad_images_are_refused_with_where_and_what(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(_idx(IMAGES))
    (tmp_path / "y").write_bytes(_idx(LABELS))
    with pytest.raises(DataError, match="do not have the declared shape") as wrong:
        read_images(_source(format="idx", path="x", labels="y", shape=[3, 4]), tmp_path)
    assert wrong.value.found == "shape [4, 3]" and wrong.value.where == str(tmp_path / "x")
    with pytest.raises(DataError, match="do not cover its labels"):
        read_images(_source(format="idx", path="x", labels="y", shape=[4, 3], label_names=["a", "b"]), tmp_path)
    (tmp_path / "short").write_bytes(_idx(LABELS[:4]))
    with pytest.raises(DataError, match="do not match"):
        read_images(_source(format="idx", path="x", labels="short", shape=[4, 3]), tmp_path)
    np.savez(tmp_path / "a.npz", images=IMAGES)
    with pytest.raises(DataError, match="lacks labels"):
        read_images(_source(format="npz", path="a.npz", shape=[4, 3]), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        read_images(_source(format="folder", path="empty", shape=[4, 3]), tmp_path)


def test_decode_image_converts_modes_and_refuses_other_sizes() -> None:
    rgb = RNG.integers(0, 256, size=(4, 3, 3), dtype=np.uint8)
    grey = decode_image(_png(rgb), (4, 3, 1), "upload")
    assert grey.shape == (4, 3, 1) and grey.dtype == np.uint8
    assert np.array_equal(decode_image(_png(rgb), (4, 3, 3), "upload"), rgb)
    with pytest.raises(DataError, match="wrong size") as wrong:
        decode_image(_png(rgb), (3, 4, 3), "image 2")
    assert wrong.value.where == "image 2" and wrong.value.found == "3x4 pixels"
    with pytest.raises(DataError, match="cannot be decoded"):
        decode_image(b"GIF89a-not-really", (4, 3, 1), "upload")
