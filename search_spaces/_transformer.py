"""``transformer``: a small pre-norm Transformer encoder over patches or feature groups.

Tokens: an image ``(C, H, W)`` is cut into non-overlapping ``patch x patch`` patches
(ViT); a flat sample ``(F,)`` is zero-padded to a multiple of ``patch`` and cut into
groups of ``patch`` consecutive features. Each token is embedded linearly to ``width``
and gets a learned position embedding; ``depth`` encoder blocks follow, then layer
norm, mean pooling over tokens and a linear classifier. A block is

.. math::

    h = x + \\mathrm{Dropout}(W_o\\,\\mathrm{MHA}(\\mathrm{LN}(x))), \\qquad
    y = h + \\mathrm{Dropout}(W_2\\,\\mathrm{GELU}(W_1\\,\\mathrm{LN}(h)))

with ``heads`` heads of size ``width / heads`` computed by
``torch.nn.functional.scaled_dot_product_attention`` and an MLP of hidden size
``mlp_ratio * width``. ``heads`` must divide ``width`` (always true for the default
choices; checked for custom ones), and ``patch`` must divide the image's height and
width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from effobj._validation import refusal
from effobj.spaces._model_space import ModelSpace
from effobj.spaces._params import Categorical, Float, Int, Param, training_params
from effobj.spaces.data import DatasetInfo

__all__ = ["EncoderBlock", "Tokenizer", "TransformerClassifier", "TransformerSpace"]


class Tokenizer(nn.Module):
    """Cut ``(B, C, H, W)`` into patches or ``(B, F)`` into feature groups: ``(B, T, D)``."""

    def __init__(self, input_shape: tuple[int, ...], patch: int) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.patch = patch
        if len(self.input_shape) == 3:
            c, h, w = self.input_shape
            self.num_tokens = (h // patch) * (w // patch)
            self.token_dim = c * patch * patch
            self.pad = 0
        else:
            (f,) = self.input_shape
            self.num_tokens = math.ceil(f / patch)
            self.token_dim = patch
            self.pad = self.num_tokens * patch - f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, p = x.shape[0], self.patch
        if x.ndim == 4:
            c, h, w = x.shape[1:]
            x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
            return x.reshape(b, self.num_tokens, self.token_dim)
        if self.pad:
            x = F.pad(x, (0, self.pad))
        return x.reshape(b, self.num_tokens, self.token_dim)


class EncoderBlock(nn.Module):
    """Pre-norm encoder block with ``scaled_dot_product_attention``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class TransformerClassifier(nn.Module):
    """Tokenizer, embedding, position embedding, encoder blocks, mean pooling, classifier."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        patch: int,
        depth: int,
        heads: int,
        width: int,
        mlp_ratio: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.tokens = Tokenizer(input_shape, patch)
        self.embed = nn.Linear(self.tokens.token_dim, width)
        self.pos = nn.Parameter(torch.zeros(1, self.tokens.num_tokens, width))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(
            *(EncoderBlock(width, heads, mlp_ratio, dropout) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.embed(self.tokens(x)) + self.pos)
        return self.head(self.norm(h).mean(dim=1))


class TransformerSpace(ModelSpace):
    """Layers, heads, width, MLP ratio and patch size of a small encoder, with its training.

    Args:
        widths: model widths to choose from.
        heads: head counts to choose from.
        patches: patch sizes (or feature-group sizes for flat data) to choose from.
    """

    name = "transformer"
    #: epochs are the fidelity: every candidate trains to the maximum unless stopped early
    fidelity = "epochs"
    default_dataset = "digits"
    layouts = ("image", "flat")

    def __init__(
        self,
        *,
        widths: Sequence[int] = (16, 32, 48, 64),
        heads: Sequence[int] = (1, 2, 4),
        patches: Sequence[int] = (2, 4),
    ) -> None:
        self.params: tuple[Param, ...] = (
            Categorical("patch", tuple(patches)),
            Int("depth", 1, 4),
            Categorical("heads", tuple(heads)),
            Categorical("width", tuple(widths)),
            Categorical("mlp_ratio", (1, 2, 4)),
            Float("dropout", 0.0, 0.3, (0.0, 0.1, 0.2, 0.3)),
            *training_params(epochs=(1, 10), batch_sizes=(32, 64, 128)),
        )

    def _check_combination(self, config: Mapping[str, Any]) -> None:
        if config["width"] % config["heads"] != 0:
            raise refusal("heads", f"the {self.name!r} search space",
                          f"divide 'width' ({config['width']})", repr(config["heads"]))

    def _check_data(self, config: Mapping[str, Any], info: DatasetInfo) -> None:
        if info.layout == "image":
            _, h, w = info.input_shape
            if h % config["patch"] or w % config["patch"]:
                raise refusal("patch", f"the {self.name!r} search space",
                              f"divide the image height and width {(h, w)}", repr(config["patch"]))

    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``transformer patch 2, 2 x [w64 h4 mlp x2] dropout 0.10 | adam ...``."""
        return (
            f"transformer patch {config['patch']}, {config['depth']} x [w{config['width']} "
            f"h{config['heads']} mlp x{config['mlp_ratio']}] dropout {config['dropout']:.2f} | "
            f"{config['optimizer']} lr {config['lr']:.2g} wd {config['weight_decay']:.2g} "
            f"bs {config['batch_size']} x{config['epochs']} epochs"
        )

    def _build(self, config: Mapping[str, Any], info: DatasetInfo) -> nn.Module:
        return TransformerClassifier(
            info.input_shape,
            info.num_classes,
            patch=config["patch"],
            depth=config["depth"],
            heads=config["heads"],
            width=config["width"],
            mlp_ratio=config["mlp_ratio"],
            dropout=float(config["dropout"]),
        )
