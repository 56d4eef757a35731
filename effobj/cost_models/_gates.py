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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from effobj._validation import check_values, refusal

__all__ = ["ChannelGates", "DerivedWidths", "GatedLayer", "gated_flops", "gated_layers"]


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
    full_prev = layers[0].in_channels if layers else 0
    for layer, g in zip(layers, gates, strict=True):
        if layer.in_channels != full_prev and full_prev and layer.in_channels % full_prev == 0:
            # a flattened (C, H, W) input: each channel feeds H x W inputs of a linear layer
            n_prev = n_prev * (layer.in_channels // full_prev)
        full_prev = layer.out_channels
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


# --------------------------------------------------------------------------- width search
@dataclass
class DerivedWidths:
    """The hard network :meth:`ChannelGates.derive` returns.

    Attributes:
        model: a slimmed copy of the gated model (the kept channels' weights copied).
        widths: the kept output channels of each layer, by layer name.
        flops: FLOPs of ``model`` on the example input, measured by ``FlopCounterMode``.
        budget: the FLOPs budget derive was asked to meet (``None``: none).
        hard_flops: FLOPs of the hard gates as training left them (before projection).
        projected: channels switched off by the projection to meet the budget.
    """

    model: nn.Module
    widths: dict[str, int]
    flops: float
    budget: float | None
    hard_flops: float
    projected: int

    @property
    def within_budget(self) -> bool:
        """``flops <= budget`` (``True`` without a budget)."""
        return self.budget is None or self.flops <= self.budget


class ChannelGates(nn.Module):
    r"""Channel gates annealed to 0/1 on a chain CNN the user owns (width search).

    Every ``Conv2d`` and ``Linear`` of ``model`` but the last (the classifier's outputs)
    gets one gate per output channel, applied by a forward hook after the layer, or
    after the ``BatchNorm2d`` that follows it (so a closed channel is exactly 0, as in the
    slimmed network). Layer :math:`l` has one learned threshold :math:`\theta_l`, the
    fraction of its channels to close; its :math:`n_l` channels are ranked by importance
    (:math:`|\gamma_j|` of the batch norm, as in network slimming, else the norm of the
    channel's weights), the :math:`r`-th least important scoring
    :math:`s_j = (r + \tfrac12)/n_l`, and

    .. math::

        h_j = \sigma(z_j/T), \qquad z_j = s_j - \min\big(\theta_l, 1 - 1/n_l\big)

    a sigmoid over about :math:`T n_l` channels around the threshold (a layer keeps its
    best channel). :meth:`anneal` lowers :math:`T` from 0.1 to 0.002 over training, so the
    gates end at 0/1 and the trained network is the hard one; ``straight_through = True``
    makes the forward pass hard from the start,
    :math:`h_j = \mathbb{1}[z_j > 0] + \sigma(z_j/T) - \mathrm{sg}(\sigma(z_j/T))` (measured:
    its gradient estimate let a budget close whole layers, so it is off by default).
    :meth:`flops` is :func:`gated_flops` of these gates (the expected FLOPs under
    independent Bernoulli gates; the hard network's FLOPs once annealed). The loss moves
    each :math:`\theta_l` by the balance of the FLOPs a channel of that layer costs and
    the accuracy its marginal channels bring. The ranks keep a per-layer order that
    gradient steps on per-channel gates do not: with Adam, a cost gradient moves every
    channel's gate alike and closes whole layers (measured on the width example).

    :meth:`derive` returns the hard network slimmed and its FLOPs measured, closing the
    lowest-margin channels first if it is still over ``budget`` (a projection; its count
    is reported). Train :meth:`parameters` (the thresholds, initially 0: every channel
    open) with their own optimizer, e.g. ``Adam(gates.parameters(), lr=0.02)``.

    Args:
        model: the network, a chain of layers (each consumes the previous one's output);
            grouped convolutions are refused.
        example_input: one input batch; FLOPs are counted for it (use batch 1).

    Raises:
        InputError: a grouped convolution, or fewer than two gateable layers.
    """

    temperature = 0.1
    straight_through = False

    def anneal(self, progress: float) -> None:
        """Set :math:`T = 0.1 \\cdot 0.02^{p}` for training progress :math:`p \\in [0, 1]`
        (0.1 to 0.002: the soft band shrinks to under one channel, the model becomes the hard one)."""
        p = min(max(float(progress), 0.0), 1.0)
        self.temperature = 0.1 * 0.02 ** p

    def __init__(self, model: nn.Module, example_input: torch.Tensor) -> None:
        super().__init__()
        layers = gated_layers(model, example_input)
        for layer in layers:
            if layer.groups != 1:
                raise refusal("model", "ChannelGates", "hold no grouped or depthwise convolution",
                              f"layer {layer.name!r} with groups={layer.groups}")
        if len(layers) < 2:
            raise refusal("model", "ChannelGates", "hold at least two Conv2d/Linear layers",
                          f"{len(layers)}")
        self.layers = layers
        self.example_input = example_input.detach()
        mods = dict(model.named_modules())
        order = list(mods)
        self._points: list[str] = []
        self._sources: list[nn.Module] = []
        for layer in layers[:-1]:
            i = order.index(layer.name)
            nxt = mods[order[i + 1]] if i + 1 < len(order) else None
            bn = (isinstance(nxt, nn.BatchNorm2d) and nxt.num_features == layer.out_channels
                  and nxt.weight is not None)
            self._points.append(order[i + 1] if bn else layer.name)
            self._sources.append(cast(nn.Module, nxt) if bn else mods[layer.name])
        self.thresholds = nn.Parameter(torch.zeros(len(self._points)))
        self._model = [model]  # not a submodule: the gates' only parameters are the thresholds
        self._handles = [
            mods[point].register_forward_hook(self._hook(k)) for k, point in enumerate(self._points)
        ]
        self.full_flops = float(gated_flops(layers, [None] * len(layers)))

    def _importance(self, k: int) -> torch.Tensor:
        """|gamma| of the batch norm after layer ``k``, else the norms of its output rows."""
        src = self._sources[k]
        w = cast(torch.Tensor, src.weight).detach()
        if isinstance(src, nn.BatchNorm2d):
            return w.abs()
        return w.reshape(w.shape[0], -1).norm(dim=1)

    def score(self, k: int) -> torch.Tensor:
        """The rank scores :math:`s = (r + 1/2)/n` of gated layer ``k`` (live: re-ranked each call)."""
        imp = self._importance(k)
        n = imp.numel()
        ranks = torch.empty(n, dtype=torch.float32)
        ranks[torch.argsort(imp)] = torch.arange(n, dtype=torch.float32)
        return (ranks + 0.5) / n

    def margins(self, k: int) -> torch.Tensor:
        """:math:`z = s - \\min(\\theta_l, 1 - 1/n_l)` of gated layer ``k`` (> 0: open)."""
        s = self.score(k)
        return s - torch.clamp(self.thresholds[k], max=1.0 - 1.0 / s.numel())

    def gate(self, k: int) -> torch.Tensor:
        """The straight-through gates of gated layer ``k`` (0/1 forward, sigmoid gradient)."""
        z = self.margins(k) / self.temperature
        soft = torch.sigmoid(z)
        if not self.straight_through:
            return soft
        return (z > 0).to(soft.dtype) + soft - soft.detach()

    def gates(self) -> list[torch.Tensor | None]:
        """Every layer's gates for :func:`gated_flops` (``None`` for the last layer)."""
        return [self.gate(k) for k in range(len(self._points))] + [None]

    def flops(self) -> torch.Tensor:
        """The hard network's FLOPs (on ``example_input``), differentiable in the thresholds."""
        return gated_flops(self.layers, self.gates())

    def _hook(self, k: int) -> Any:
        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> torch.Tensor:
            h = self.gate(k)
            return out * h.view(1, -1, *([1] * (out.ndim - 2)))
        return hook

    def remove(self) -> None:
        """Take the hooks off the model (the gates stop acting)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @torch.no_grad()
    def derive(self, budget: float | None = None) -> DerivedWidths:
        """The hard network: open channels kept, projected onto ``budget`` FLOPs if over it.

        The projection closes, one at a time, the open channel with the lowest logit
        (never a layer's last one) until the FLOPs meet ``budget``. The slimmed copy's
        FLOPs are then measured with ``FlopCounterMode`` on the example input.

        Raises:
            InputError: a budget below what one channel per layer costs.
        """
        from effobj._validation import check_real
        from effobj.profiler import flop_counter_mode

        margins = [self.margins(k).detach() for k in range(len(self._points))]
        keep = [(m > 0).clone() for m in margins]
        for k, lg in zip(keep, margins, strict=True):  # a layer keeps its best channel
            if not k.any():
                k[int(torch.argmax(lg))] = True
        hard = self._flops_of(keep)
        projected = 0
        if budget is not None:
            budget = check_real(budget, "budget", "ChannelGates.derive", low=0.0, low_open=True)
            floor = self._flops_of([torch.zeros_like(k).index_fill_(0, torch.tensor([0]), True)
                                    for k in keep])
            if budget < floor:
                raise refusal("budget", "ChannelGates.derive",
                              f"be at least the FLOPs of one channel per layer ({floor:.6g})",
                              f"{budget:g}")
            flops = hard
            while flops > budget:
                best = None
                for li, (k, lg) in enumerate(zip(keep, margins, strict=True)):
                    if int(k.sum()) <= 1:
                        continue
                    masked = torch.where(k, lg, torch.full_like(lg, math.inf))
                    j = int(torch.argmin(masked))
                    if best is None or float(lg[j]) < best[0]:
                        best = (float(lg[j]), li, j)
                assert best is not None  # the floor is within the budget
                keep[best[1]][best[2]] = False
                projected += 1
                flops = self._flops_of(keep)
        slim = _slim(self._model[0], self.layers, self._points, keep)
        with flop_counter_mode() as counter:
            slim.eval()(self.example_input)
        widths = {layer.name: int(k.sum()) for layer, k in zip(self.layers, keep, strict=False)}
        return DerivedWidths(model=slim, widths=widths, flops=float(counter.get_total_flops()),
                             budget=budget, hard_flops=hard, projected=projected)

    def _flops_of(self, keep: list[torch.Tensor]) -> float:
        return float(gated_flops(self.layers, [k.float() for k in keep] + [None]))


def _slim(model: nn.Module, layers: Sequence[GatedLayer], points: Sequence[str],
          keep: Sequence[torch.Tensor]) -> nn.Module:
    """A copy of ``model`` without the closed channels (no hooks, weights sliced)."""
    import copy

    mods = dict(model.named_modules())
    saved = {name: dict(m._forward_hooks) for name, m in mods.items()}
    for m in mods.values():
        m._forward_hooks.clear()
    try:
        slim = copy.deepcopy(model)
    finally:
        for name, m in mods.items():
            m._forward_hooks.update(saved[name])
    new = dict(slim.named_modules())
    idx_in: torch.Tensor | None = None
    prev_out = layers[0].in_channels
    for i, layer in enumerate(layers):
        m = new[layer.name]
        idx_out = torch.nonzero(keep[i]).flatten() if i < len(keep) else None
        w = m.weight.data
        if idx_in is not None:
            if isinstance(m, nn.Linear) and m.in_features != prev_out:
                per = m.in_features // prev_out  # a flattened (C, H, W) input: channel-major
                cols = (idx_in[:, None] * per + torch.arange(per)[None, :]).flatten()
            else:
                cols = idx_in
            w = w[:, cols]
        if idx_out is not None:
            w = w[idx_out]
        m.weight = nn.Parameter(w.clone())
        if m.bias is not None and idx_out is not None:
            m.bias = nn.Parameter(m.bias.data[idx_out].clone())
        if isinstance(m, nn.Conv2d):
            m.in_channels, m.out_channels = int(w.shape[1]), int(w.shape[0])
        else:
            m.in_features, m.out_features = int(w.shape[1]), int(w.shape[0])
        if idx_out is not None:
            point = new[points[i]]
            if isinstance(point, nn.BatchNorm2d):
                for attr in ("weight", "bias"):
                    t = getattr(point, attr)
                    if t is not None:
                        setattr(point, attr, nn.Parameter(t.data[idx_out].clone()))
                for attr in ("running_mean", "running_var"):
                    t = getattr(point, attr)
                    if t is not None:
                        setattr(point, attr, t[idx_out].clone())
                point.num_features = int(idx_out.numel())
            prev_out = layer.out_channels
            idx_in = idx_out
    return slim
