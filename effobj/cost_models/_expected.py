r"""The expected cost of a supernet under its architecture distribution (differentiable).

A supernet's layer :math:`l` picks candidate :math:`i` with probability :math:`p_{l,i}`;
with a per-candidate cost table :math:`c_{l,i}` (latency from a
:class:`~effobj.cost_models.LatencyTable`, or FLOPs) the cost of the sampled
network is additive over layers, so its expectation is exact and linear in :math:`p`:

.. math::

    \mathbb{E}[\mathrm{cost}] = c_{\text{fixed}} + \sum_l \sum_i p_{l,i}\, c_{l,i},
    \qquad
    p_l = \begin{cases}
        \mathrm{softmax}(\alpha_l / \tau) & \text{softmax supernet (DARTS)} \\
        \mathrm{softmax}(\alpha_l) & \text{Gumbel-softmax supernet (FBNet)}
    \end{cases}

(the Gumbel-softmax relaxation with temperature :math:`\tau` samples, in the limit, the
categorical distribution :math:`\mathrm{softmax}(\alpha_l)`). Passing the Gumbel sample
of one forward pass as ``weights`` gives that sample's relaxed cost instead, as FBNet does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from effobj._validation import check_choice
from effobj.cost_models._table import _STATISTICS, LatencyTable
from effobj.errors import InputError

__all__ = ["architecture_distribution", "expected_cost", "expected_latency"]


def architecture_distribution(net: Any) -> list[torch.Tensor]:
    """The categorical distribution of each layer's choice (see the module's math)."""
    alphas = list(net.arch_parameters())
    tau = float(getattr(net, "tau", 1.0))
    if getattr(net, "gumbel", False):
        return [torch.softmax(a, dim=0) for a in alphas]
    return [torch.softmax(a / tau, dim=0) for a in alphas]


def expected_cost(
    weights: Sequence[torch.Tensor], table: Sequence[Sequence[float]], fixed: float = 0.0
) -> torch.Tensor:
    r""":math:`c_{\text{fixed}} + \sum_l w_l^\top c_l` for any per-layer weights and cost vectors.

    Raises:
        InputError: layer counts or candidate counts differ.

    Example:
        >>> w = [torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0, 0.0])]
        >>> float(expected_cost(w, [[2.0, 4.0], [1.0, 5.0, 9.0]], fixed=10.0))
        14.0
    """
    if len(weights) != len(table):
        raise InputError(
            f"The 'weights' and 'table' parameters of expected_cost must have one entry per "
            f"layer. Got {len(weights)} and {len(table)} layers."
        )
    total: torch.Tensor | None = None
    for layer, (w, c) in enumerate(zip(weights, table, strict=True), start=1):
        if w.shape[-1] != len(c):
            raise InputError(
                f"Layer {layer} has {w.shape[-1]} architecture weights but {len(c)} cost entries "
                "in expected_cost: the table was built for another set of candidates."
            )
        term = (w * torch.as_tensor(c, dtype=w.dtype, device=w.device)).sum(-1)
        total = term if total is None else total + term
    assert total is not None
    return total + fixed


def expected_latency(
    net: Any,
    table: LatencyTable,
    *,
    weights: Sequence[torch.Tensor] | None = None,
    statistic: str = "median",
) -> torch.Tensor:
    r"""Differentiable expected latency (ms) of ``net`` under its architecture distribution.

    Args:
        net: a supernet with ``arch_parameters()`` and ``candidate_ops`` (e.g. from
            ``effobj.spaces.get("supernet").build_supernet()``).
        table: its :class:`~effobj.cost_models.LatencyTable`.
        weights: per-layer mixing weights to use instead of
            :func:`architecture_distribution` (e.g. one Gumbel-softmax sample).
        statistic: ``"median"`` of each entry, or ``"ci_high"``, the upper end of its 95 %
            interval: a pessimistic cost that keeps a search away from budgets that only
            noisy entries seem to meet.

    Returns:
        A 0-d tensor in milliseconds, with gradients to the architecture parameters.

    Raises:
        MissingTableEntryError: a candidate of ``net`` has no table entry (named).
    """
    check_choice(statistic, "statistic", "expected_latency", _STATISTICS)
    vecs = table.vectors(net.candidate_ops, statistic)
    w = architecture_distribution(net) if weights is None else list(weights)
    return expected_cost(w, vecs, table.fixed(statistic))
