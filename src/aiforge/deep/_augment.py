"""Data augmentation inside the training loop: random flips, pad-and-crop shifts, small rotations, cutout and
Gaussian noise, drawn on the training device from the loop's own seeded generator.

The loop applies an ``Augmentation`` to each training batch after it is drawn (``aiforge.deep._loop.train``);
validation rows and predictions never see it. Inputs are already standardised when they reach the loop, so
``noise`` is in standard deviations of each input, and cutout fills its square with 0, the mean.

Image operations (``flip``, ``vflip``, ``crop``, ``rotate``, ``cutout``) apply to batches of images (N, C, H, W);
``noise`` applies to every float input: images, the numeric columns of a table, sequences. Integer inputs (a
table's category codes) are left as they are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["IMAGE_OPERATIONS", "Augmentation", "augment_batch", "augment_images"]

IMAGE_OPERATIONS = ("flip", "vflip", "crop", "rotate", "cutout")
MAX_ROTATION = 45.0  # degrees: beyond this a "small rotation" changes what many images show


@dataclass(frozen=True)
class Augmentation:
    """What is done to each training batch; every operation is off by default.

    ``flip``/``vflip``: each image mirrored left-right / upside down with probability 1/2. ``crop``: each image
    padded by ``crop`` pixels on every side (edge pixels repeated) and cut back to its size at a random offset,
    i.e. shifted by up to ``crop`` pixels each way. ``rotate``: turned by an angle drawn uniformly from
    [-rotate, rotate] degrees (bilinear, edges repeated). ``cutout``: a ``cutout`` x ``cutout`` square at a
    random centre set to the mean (DeVries & Taylor, 2017). ``noise``: Gaussian noise of this standard deviation
    (in standardised units) added to every float input.

    >>> Augmentation.from_param({"flip": True, "crop": 2, "noise": 0.05})
    Augmentation(flip=True, vflip=False, crop=2, rotate=0.0, cutout=0, noise=0.05)
    """

    flip: bool = False
    vflip: bool = False
    crop: int = 0
    rotate: float = 0.0
    cutout: int = 0
    noise: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("flip", "vflip"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, not {getattr(self, name)!r}")
        for name in ("crop", "cutout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{name} must be a whole number of pixels, at least 0, not {value!r}")
        if not (isinstance(self.rotate, int | float) and 0.0 <= self.rotate <= MAX_ROTATION):
            problems.append(f"rotate must be a number of degrees in [0, {MAX_ROTATION:g}], not {self.rotate!r}")
        if not (isinstance(self.noise, int | float) and math.isfinite(self.noise) and self.noise >= 0):
            problems.append(f"noise must be a standard deviation, at least 0, not {self.noise!r}")
        if problems:
            raise ValueError("augment: " + "; ".join(problems))

    @classmethod
    def from_param(cls, value: Any) -> Augmentation | None:
        """An estimator's ``augment`` parameter (None, a dict of the fields, or an Augmentation) as an
        Augmentation; None when it asks for nothing."""
        if value is None:
            return None
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"augment: unknown operation {', '.join(map(repr, unknown))}; expected some of "
                                 f"{', '.join(sorted(known))}")
            value = cls(**value)
        if not isinstance(value, cls):
            raise ValueError(f"augment must be None, a dict such as {{'flip': True, 'crop': 2, 'noise': 0.05}} or "
                             f"an Augmentation, not {value!r}")
        return value if value.active else None

    @property
    def active(self) -> bool:
        """Whether any operation is on."""
        return bool(self.image_operations) or self.noise > 0

    @property
    def image_operations(self) -> list[str]:
        """The operations that are on and need images (N, C, H, W)."""
        return [name for name in IMAGE_OPERATIONS if getattr(self, name)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def augment_batch(batch: tuple[torch.Tensor, ...], augmentation: Augmentation,
                  generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """``batch`` (the inputs of one training step) augmented: images get every operation, other float inputs
    get noise, integer inputs stay. Draws from ``generator`` (on the batch's device) only."""
    out = []
    for tensor in batch:
        if not tensor.is_floating_point():
            out.append(tensor)
        elif tensor.ndim == 4:
            out.append(augment_images(tensor, augmentation, generator))
        else:
            if augmentation.image_operations:
                raise ValueError(f"augment: {', '.join(augmentation.image_operations)} apply to images "
                                 f"(N, C, H, W), but an input has shape {tuple(tensor.shape)}: only noise "
                                 f"applies to it")
            out.append(_noise(tensor, augmentation.noise, generator))
    return tuple(out)


def augment_images(images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """A batch of images (N, C, H, W, floats) augmented as ``augmentation`` says; a new tensor of the same
    shape, dtype and device. The random draws come from ``generator`` in a fixed order, so a seed fixes them."""
    import torch

    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"augment_images takes float images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    x = images
    n = x.shape[0]
    if n == 0:
        return x.clone()
    if augmentation.flip:
        x = _where_rows(_coin(n, generator, x.device), x.flip(3), x)
    if augmentation.vflip:
        x = _where_rows(_coin(n, generator, x.device), x.flip(2), x)
    if augmentation.crop:
        x = _shift(x, augmentation.crop, generator)
    if augmentation.rotate:
        x = _rotate(x, augmentation.rotate, generator)
    if augmentation.cutout:
        x = _cutout(x, augmentation.cutout, generator)
    x = _noise(x, augmentation.noise, generator)
    return x if x is not images else torch.clone(x)


def _coin(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    import torch

    return torch.rand(n, generator=generator, device=device) < 0.5


def _where_rows(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.where(mask.view(-1, *([1] * (a.ndim - 1))), a, b)


def _shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad by ``pad`` pixels (edges repeated), then cut each image back at its own random offset."""
    import torch
    from torch.nn import functional

    n, _, height, width = x.shape
    padded = functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(height, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def _rotate(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Each image turned about its centre by its own angle in [-degrees, degrees] (bilinear, edges repeated)."""
    import torch
    from torch.nn import functional

    n = x.shape[0]
    angles = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1).to(x.dtype)
    grid = functional.affine_grid(theta, list(x.shape), align_corners=False)
    return functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A ``size`` x ``size`` square at a random centre of each image (clipped at the edges) set to 0, the mean."""
    import torch

    n, _, height, width = x.shape
    cy = torch.randint(0, height, (n,), generator=generator, device=x.device)
    cx = torch.randint(0, width, (n,), generator=generator, device=x.device)
    low = size // 2
    ys = torch.arange(height, device=x.device)[None, :]
    xs = torch.arange(width, device=x.device)[None, :]
    inside_y = (ys >= (cy - low)[:, None]) & (ys < (cy - low + size)[:, None])
    inside_x = (xs >= (cx - low)[:, None]) & (xs < (cx - low + size)[:, None])
    square = (inside_y[:, :, None] & inside_x[:, None, :])[:, None, :, :]
    return x.masked_fill(square, 0.0)


def _noise(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    import torch

    if std <= 0:
        return x
    return x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
