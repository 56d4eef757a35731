"""``mobilenet``: a MobileNetV2 / MnasNet-style CNN of inverted-residual blocks.

The network: optional bilinear upsampling of the input to ``resolution`` (digits are
8x8, so 8 keeps them native and 12-16 trade compute for detail, as MnasNet's input
resolution does), a 3x3 stem, three stages of MBConv blocks and a 1x1 head (96 wide) before
global average pooling and a linear classifier. Stage ``s`` (``s = 1, 2, 3``) has base
width 16 / 24 / 32 and stride 1 / 2 / 2, all widths scaled by ``width_mult`` and rounded
to a multiple of 8. Each stage searches its ``depth_s`` (1-3 blocks), ``kernel_s``
(3, 5, 7: depthwise), ``expand_s`` (1, 3, 6: expansion ratio) and ``se_s``
(squeeze-and-excitation on/off, reduction 4). An MBConv block with input ``c_in``,
output ``c_out`` and expansion ``e`` is

.. math::

    y = \\mathrm{BN}(W_{1\\times1}^{proj}\\,
        \\mathrm{SE}(\\mathrm{ReLU6}(\\mathrm{BN}(\\mathrm{DW}_{k\\times k}(
        \\mathrm{ReLU6}(\\mathrm{BN}(W_{1\\times1}^{exp} x)))))))
        + [\\text{stride} = 1 \\wedge c_{in} = c_{out}]\\, x

(the expansion convolution is left out when ``e = 1``).

The built model keeps its convolution weights in the ``channels_last`` (NHWC) memory
format: on this project's CPU a training step of the default config at resolution 16
took 0.55-0.68 s instead of 1.08-1.24 s (batch 128, one thread), with the same inference
latency. Values and parameter counts are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from effobj.spaces._model_space import ModelSpace
from effobj.spaces._params import Categorical, Float, Int, training_params
from effobj.spaces.data import DatasetInfo

__all__ = ["MBConv", "MobileNetSpace", "Resize", "SqueezeExcite", "conv_bn", "make_divisible"]

STAGES = ((16, 1), (24, 2), (32, 2))  # (base width, stride)
STEM, HEAD = 16, 96


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, not below 90 % of it (MobileNetV2)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: channel gates from globally pooled features (reduction 4)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(s))))


def conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    """Convolution (``k // 2`` padding, no bias), batch norm and optionally ReLU6."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise kxk, optional SE, 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, expand: int, se: bool) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(c_in, hidden, 1))
        layers.append(conv_bn(hidden, hidden, k, stride, groups=hidden))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn(hidden, c_out, 1, act=False))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class Resize(nn.Module):
    """Bilinear resizing of an image batch to ``size x size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class MobileNetSpace(ModelSpace):
    """Per-stage depth, kernel, expansion and SE, width multiplier and input resolution."""

    name = "mobilenet"
    #: epochs are the fidelity: every candidate trains to the maximum unless stopped early
    fidelity = "epochs"
    default_dataset = "digits"
    layouts = ("image",)
    params = (
        Categorical("resolution", (8, 12, 16)),
        Categorical("width_mult", (0.5, 0.75, 1.0)),
        *(
            p
            for s in range(1, len(STAGES) + 1)
            for p in (
                Int(f"depth_{s}", 1, 3),
                Categorical(f"kernel_{s}", (3, 5, 7)),
                Categorical(f"expand_{s}", (1, 3, 6)),
                Categorical(f"se_{s}", (False, True)),
            )
        ),
        Float("dropout", 0.0, 0.3, (0.0, 0.1, 0.2, 0.3)),
        *training_params(epochs=(1, 8), batch_sizes=(64, 128, 256)),
    )

    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``mobilenet r16 x1.0 [2x k3 e6 se | 1x k5 e3 | 3x k7 e1] | adam ...``."""
        stages = " | ".join(
            f"{config[f'depth_{s}']}x k{config[f'kernel_{s}']} e{config[f'expand_{s}']}"
            + (" se" if config[f"se_{s}"] else "")
            for s in range(1, len(STAGES) + 1)
        )
        return (
            f"mobilenet r{config['resolution']} x{config['width_mult']} [{stages}] "
            f"dropout {config['dropout']:.2f} | {config['optimizer']} lr {config['lr']:.2g} "
            f"wd {config['weight_decay']:.2g} bs {config['batch_size']} x{config['epochs']} epochs"
        )

    def _build(self, config: Mapping[str, Any], info: DatasetInfo) -> torch.nn.Module:
        c_in, h, w = info.input_shape
        wm = config["width_mult"]
        layers: list[nn.Module] = []
        if (h, w) != (config["resolution"],) * 2:
            layers.append(Resize(config["resolution"]))
        channels = make_divisible(STEM * wm)
        layers.append(conv_bn(c_in, channels, 3))
        for s, (base, stride) in enumerate(STAGES, start=1):
            c_out = make_divisible(base * wm)
            for b in range(config[f"depth_{s}"]):
                layers.append(
                    MBConv(
                        channels,
                        c_out,
                        config[f"kernel_{s}"],
                        stride if b == 0 else 1,
                        config[f"expand_{s}"],
                        config[f"se_{s}"],
                    )
                )
                channels = c_out
        head = make_divisible(HEAD * wm)
        layers += [
            conv_bn(channels, head, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
        if config["dropout"] > 0:
            layers.append(nn.Dropout(config["dropout"]))
        layers.append(nn.Linear(head, info.num_classes))
        return nn.Sequential(*layers).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
