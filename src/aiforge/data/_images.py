"""Images as rows: the ``images`` source, the IDX format, and the pixel columns that carry images through the
life cycle.

An image of shape (height, width[, channels]) becomes one row whose pixels are columns named
``pixel_{row}_{col}`` (grey) or ``pixel_{row}_{col}_{channel}`` (colour), row-major, values 0-255 (uint8).
Everything that works on tables (snapshots, contracts, splits, the prediction log, drift) then works on
images unchanged, and the names alone say the image's shape (``image_shape``): the image learners and the
server read it back from them. Reading needs numpy (and Pillow for image files), never torch.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.errors import DataError
from aiforge.spec._sources import ImageSource

if TYPE_CHECKING:
    import numpy as np

    from aiforge.data._sources import LoadedSource
    from aiforge.spec import SourceSpec

__all__ = ["IMAGE_SUFFIXES", "decode_image", "image_shape", "pixel_columns", "read_idx", "read_images",
           "rows_of_images"]

PIXEL = re.compile(r"^pixel_(\d+)_(\d+)(?:_(\d+))?$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# IDX type codes (third byte of the magic number) -> numpy dtype strings, big-endian as the format stores them.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def pixel_columns(shape: tuple[int, ...]) -> list[str]:
    """The column names of an image of ``shape`` (height, width[, channels]), in row-major order: without a
    channel index when there is one channel."""
    height, width = shape[0], shape[1]
    channels = shape[2] if len(shape) == 3 else 1
    if channels == 1:
        return [f"pixel_{r}_{c}" for r in range(height) for c in range(width)]
    return [f"pixel_{r}_{c}_{k}" for r in range(height) for c in range(width) for k in range(channels)]


def image_shape(columns: list[str]) -> tuple[int, int, int] | None:
    """(height, width, channels) when ``columns`` are exactly an image's pixel columns in row-major order
    (as ``pixel_columns`` names them), else None."""
    if not columns:
        return None
    last = PIXEL.match(columns[-1])
    if last is None:
        return None
    colour = last.group(3) is not None
    shape = (int(last.group(1)) + 1, int(last.group(2)) + 1, int(last.group(3)) + 1 if colour else 1)
    return shape if columns == pixel_columns(shape) else None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array of its declared shape and type."""
    return _parse_idx(path, _read(path))


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read the file {path}", where=str(path), found=str(exc),
                        hint="check the file is complete; reinstall the package that ships it") from exc


def _parse_idx(path: Path, raw: bytes) -> np.ndarray:
    import numpy as np

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


def rows_of_images(images: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``images`` (n, height, width[, channels]) checked against ``shape`` and flattened to (n, pixels) uint8."""
    import numpy as np

    want = tuple(shape)
    got = tuple(images.shape[1:])
    if got != want and not (len(want) == 3 and want[2] == 1 and got == want[:2]) \
            and not (len(want) == 2 and got == (*want, 1)):
        raise DataError("the images do not have the declared shape", where=where,
                        expected=f"images of shape {list(want)} (shape: in the source)",
                        found=f"shape {list(got)}", hint="set shape: to the images' [height, width(, channels)]")
    if images.dtype != np.uint8:
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 255:
            raise DataError("the images' values are not pixel intensities", where=where,
                            expected="values from 0 to 255", found=f"{images.min()} to {images.max()}",
                            hint="scale the images to 0-255 before storing them")
        images = np.rint(images).astype(np.uint8)
    return np.ascontiguousarray(images.reshape(len(images), -1))


def decode_image(data: bytes, shape: tuple[int, int, int], where: str) -> np.ndarray:
    """An encoded image (PNG, JPEG, ...) as (height, width, channels) uint8 of ``shape``: converted to grey or
    RGB(A) as the model's channels say, never resized (an image of another size is refused)."""
    import io

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[shape[2]]
            pixels = np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError("the image cannot be decoded", where=where,
                        expected="an image file (PNG, JPEG, BMP, GIF, TIFF, WebP)",
                        found=f"{len(data)} bytes: {exc}", hint="send the file's bytes as they are on disk") from exc
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    if pixels.shape[:2] != shape[:2]:
        raise DataError("the image has the wrong size", where=where,
                        expected=f"{shape[1]}x{shape[0]} pixels (width x height), as the model was trained on",
                        found=f"{pixels.shape[1]}x{pixels.shape[0]} pixels",
                        hint="resize the image before sending it: the server does not resize")
    return pixels


def read_images(spec: SourceSpec, base_dir: Path, since: Any = None) -> LoadedSource:
    """The ``images`` source: a table of pixel columns (uint8) and the label column."""
    import numpy as np
    import pyarrow as pa

    from aiforge.data._sources import LoadedSource

    assert isinstance(spec, ImageSource)
    path = _path(spec.path, base_dir)
    for needed in [path] + ([_path(spec.labels, base_dir)] if spec.format == "idx" and spec.labels else []):
        if not needed.exists():
            raise DataError(f"data file for source '{spec.name}' not found", where=str(needed),
                            expected="the folder of images" if spec.format == "folder" else f"an {spec.format} file",
                            found="no such file or folder",
                            hint="paths in the project file are relative to the project file's folder")
    digest = hashlib.sha256()
    shape = tuple(spec.shape)
    if spec.format == "idx":
        assert spec.labels is not None
        labels_path = _path(spec.labels, base_dir)
        images_raw, labels_raw = _read(path), _read(labels_path)
        digest.update(images_raw)
        digest.update(labels_raw)
        images, labels = _parse_idx(path, images_raw), _parse_idx(labels_path, labels_raw)
    elif spec.format == "npz":
        images, labels = _npz(spec, path, digest)
    else:
        images, labels = _folder(spec, path, digest)
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"the images and labels of source '{spec.name}' do not match", where=str(path),
                        expected=f"one label per image ({len(images)} images)", found=f"labels of shape {labels.shape}")
    if spec.limit is not None:
        images, labels = images[: spec.limit], labels[: spec.limit]
    if len(images) == 0:
        raise DataError(f"source '{spec.name}' holds no images", where=str(path), expected="at least one image")
    pixels = rows_of_images(images, shape, str(path))
    names = pixel_columns(shape)
    arrays = [pa.array(pixels[:, j]) for j in range(pixels.shape[1])]
    if spec.label_names is not None:
        labels = _named(labels, spec.label_names, spec.name, str(path))
    label_values = labels.tolist() if labels.dtype.kind in "OU" else labels.astype(np.int64)
    table = pa.Table.from_arrays([*arrays, pa.array(label_values)], names=[*names, spec.label_column])
    digest.update(repr((shape, spec.limit, spec.label_column)).encode())
    return LoadedSource(spec.name, table, digest.hexdigest(), str(path))


def _named(labels: np.ndarray, names: list[str], source: str, where: str) -> np.ndarray:
    import numpy as np

    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(names):
        found = f"{labels.dtype} labels" if labels.dtype.kind not in "iu" else f"labels {labels.min()}-{labels.max()}"
        raise DataError(f"label_names of source '{source}' do not cover its labels", where=where,
                        expected=f"integer labels from 0 to {len(names) - 1} (one name each)", found=found,
                        hint="list one name per label value, in order, or remove label_names")
    return np.asarray(names, dtype=object)[labels]


def _path(value: str, base_dir: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def _npz(spec: ImageSource, path: Path, digest: Any) -> tuple[np.ndarray, np.ndarray]:
    import io
    import zipfile

    import numpy as np

    raw = _read(path)
    digest.update(raw)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            missing = [k for k in (spec.images_key, spec.labels_key) if k not in archive.files]
            if missing:
                raise DataError(f"the numpy archive of source '{spec.name}' lacks {', '.join(missing)}",
                                where=str(path), expected=f"arrays '{spec.images_key}' and '{spec.labels_key}'",
                                found="arrays " + ", ".join(archive.files),
                                hint="set images_key and labels_key to the arrays' names")
            return archive[spec.images_key], archive[spec.labels_key]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"source '{spec.name}' is not a readable numpy archive", where=str(path),
                        expected="an .npz file (numpy.savez) without pickled objects", found=str(exc)) from exc


def _folder(spec: ImageSource, path: Path, digest: Any) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if not path.is_dir():
        raise DataError(f"the folder of source '{spec.name}' does not exist", where=str(path),
                        expected="a folder holding one sub-folder of images per label", found="no such folder")
    shape = tuple(spec.shape) if len(spec.shape) == 3 else (*spec.shape, 1)
    images: list[np.ndarray] = []
    labels: list[str] = []
    for label_dir in sorted(p for p in path.iterdir() if p.is_dir()):
        for file in sorted(f for f in label_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            if spec.limit is not None and len(images) >= spec.limit:
                break
            raw = file.read_bytes()
            digest.update(file.relative_to(path).as_posix().encode())
            digest.update(raw)
            images.append(decode_image(raw, shape, str(file)))  # type: ignore[arg-type]
            labels.append(label_dir.name)
    if not images:
        raise DataError(f"the folder of source '{spec.name}' holds no images", where=str(path),
                        expected=f"sub-folders (one per label) of {', '.join(IMAGE_SUFFIXES)} files",
                        found="none")
    return np.stack(images), np.asarray(labels)
