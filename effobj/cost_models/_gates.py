r"""FLOPs as a differentiable function of channel gates, for width search.

Width search (e.g. FBNetV2's channel masks, network slimming) gives each output channel
of each layer a gate :math:`g \in [0, 1]` (a sigmoid, or the keep probability of a
Bernoulli mask). For a plain chain of layers, where layer :math:`l` consumes the output
of layer :math:`l-1`, with :math:`n_l = \sum_j g_{l,j}` active output channels
(:math:`n_0` the input's channels):

.. math::

    \mathrm{FLOPs} = \sum_{l} 2\, k_l\, S_l \cdot
        \begin{cases}
            n_{l-1}\, n_l / G_l & \text{convolution / linear with } G_l \text{ groups} \\
            n_{l-1} & \text{depthwise convolution (its output channels are its inputs)}
        \end{cases}

with :math:`k_l` the kernel area (1 for a linear layer) and :math:`S_l` the number of
output positions (batch :math:`\times` output pixels, or rows of a linear layer). With
0/1 gates this is exactly what ``torch.utils.flop_counter.FlopCounterMode`` counts for
the slimmed network (2 FLOPs per multiply-add, tested). With independent Bernoulli
masks of keep probabilities :math:`g`, it is also the exact *expected* FLOPs, since
each term multiplies gates of two different layers (:math:`\mathbb{E}[n_{l-1} n_l] =
\mathbb{E}[n_{l-1}]\,\mathbb{E}[n_l]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from effobj._validation import check_values, refusal

__all__ = ["GatedLayer", "gated_flops", "gated_layers"]


@dataclass(frozen=True)
class GatedLayer:
    """One convolution or linear layer of a chain, as :func:`gated_flops` needs it.

    Attributes:
        name: the module's dotted name.
        in_channels, out_channels: full widths.
        kernel_area: :math:`k_l` (kernel height x width; 1 for linear).
        positions: :math:`S_l` (batch x output pixels, or rows of a linear layer).
        groups: convolution groups.
        depthwise: ``groups == in_channels == out_channels`` (its width follows its input).
    """

    name: str
    in_channels: int
    out_channels: int
    kernel_area: int
    positions: int
    groups: int = 1
    depthwise: bool = False


def gated_layers(model: nn.Module, example_input: torch.Tensor) -> list[GatedLayer]:
    """The ``Conv2d`` and ``Linear`` layers of ``model`` in execution order, with their sizes.

    Runs one forward pass on ``example_input`` with hooks. The model is assumed to be a
    chain (each layer consumes the previous one's output); residual additions that force
    equal widths are not modelled.
    """
    found: list[GatedLayer] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if isinstance(m, nn.Conv2d):
            k = int(m.kernel_size[0] * m.kernel_size[1])
            pos = int(out.shape[0] * out.shape[2] * out.shape[3])
            dw = m.groups > 1 and m.groups == m.in_channels == m.out_channels
            found.append(GatedLayer(names[m], m.in_channels, m.out_channels, k, pos, m.groups, dw))
        else:
            assert isinstance(m, nn.Linear)
            found.append(GatedLayer(names[m], m.in_features, m.out_features, 1, int(out.numel() // m.out_features)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    return found


def gated_flops(
    layers: Sequence[GatedLayer], gates: Sequence[torch.Tensor | None]
) -> torch.Tensor:
    """Differentiable FLOPs of a chain of layers under channel gates (see the module's math).

    Args:
        layers: from :func:`gated_layers`.
        gates: one entry per layer: a tensor of shape ``(out_channels,)`` with values in
            [0, 1], or ``None`` for a layer whose width is not searched (all channels on).
            A depthwise layer's gate must be ``None``: its width is its input's.

    Returns:
        A 0-d float tensor (FLOPs, 2 per multiply-add), differentiable in the gates.

    Raises:
        InputError: a count, shape or value that breaks these rules (named).

    Example:
        >>> conv = GatedLayer("c", 3, 8, 9, 64)          # 3x3 conv, 8x8 output, batch 1
        >>> fc = GatedLayer("fc", 8, 10, 1, 1)
        >>> g = torch.tensor([1.0] * 4 + [0.0] * 4, requires_grad=True)
        >>> f = gated_flops([conv, fc], [g, None])
        >>> int(f), 2 * 9 * 64 * 3 * 4 + 2 * 4 * 10
        (13904, 13904)
    """
    if len(gates) != len(layers):
        raise refusal("gates", "gated_flops", f"have one entry per layer ({len(layers)})", str(len(gates)))
    total = torch.zeros(())
    n_prev: torch.Tensor | float = float(layers[0].in_channels) if layers else 0.0
    for layer, g in zip(layers, gates, strict=True):
        if g is not None:
            if layer.depthwise:
                raise refusal("gates", "gated_flops",
                              f"hold None for depthwise layer {layer.name!r} (its width follows "
                              "its input's)", "a tensor")
            if g.shape != (layer.out_channels,):
                raise refusal("gates", "gated_flops",
                              f"give layer {layer.name!r} a gate of shape ({layer.out_channels},)",
                              f"shape {tuple(g.shape)}")
            check_values(g, "gates", "gated_flops", low=0.0, high=1.0,
                         hint=f"That is the gate of layer {layer.name!r}.")
        base = 2.0 * layer.kernel_area * layer.positions
        if layer.depthwise:
            total = total + base * n_prev
            continue
        n_out: torch.Tensor | float = float(layer.out_channels) if g is None else g.sum()
        total = total + base * n_prev * n_out / layer.groups
        n_prev = n_out
    return total
