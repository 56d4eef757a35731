r"""Differentiable cost models for gradient search under a budget.

Import explicitly (``import effobj.cost_models``): it imports torch.

- :class:`LatencyTable` and :func:`build_latency_table`: per-operator latency measured on
  your own device, each entry with its spread, saved as JSON (``effobj latency-table``);
  a missing entry raises :class:`MissingTableEntryError` naming layer and operation;
  :data:`TABLE_PROFILE` is how entries are profiled by default (a
  :class:`~effobj.profiler.ProfileOptions`);
- :func:`check_table`: how well the summed table predicts end-to-end latency;
- :func:`expected_latency` / :func:`expected_cost`: a supernet's expected cost under its
  softmax or Gumbel-softmax architecture distribution, differentiable;
- :func:`gated_flops` / :func:`gated_layers`: FLOPs as a differentiable function of
  channel gates, for width search; :class:`ChannelGates` puts straight-through 0/1 gates
  on a chain CNN you own and :meth:`~ChannelGates.derive` returns the slimmed network
  with its measured FLOPs (:class:`DerivedWidths`).
"""

from __future__ import annotations

from effobj.cost_models._check import TableCheck, check_table
from effobj.cost_models._expected import architecture_distribution, expected_cost, expected_latency
from effobj.cost_models._gates import (
    ChannelGates,
    DerivedWidths,
    GatedLayer,
    gated_flops,
    gated_layers,
)
from effobj.cost_models._table import (
    FIXED_KEYS,
    TABLE_PROFILE,
    LatencyEntry,
    LatencyTable,
    MissingTableEntryError,
    build_latency_table,
    entry_key,
)

__all__ = [
    "FIXED_KEYS",
    "ChannelGates",
    "DerivedWidths",
    "GatedLayer",
    "LatencyEntry",
    "LatencyTable",
    "MissingTableEntryError",
    "TABLE_PROFILE",
    "TableCheck",
    "architecture_distribution",
    "build_latency_table",
    "check_table",
    "entry_key",
    "expected_cost",
    "expected_latency",
    "gated_flops",
    "gated_layers",
]
