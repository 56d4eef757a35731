"""The profiler: every cost indicator of a candidate model, measured on its target device.

>>> import torch
>>> from effobj.profiler import profile_model
>>> r = profile_model(torch.nn.Linear(8, 4), torch.ones(1, 8), latency=False)
>>> (r.flops, r.macs, r.n_params)
(64, 32, 36)

Convention: a fused multiply-add is 2 FLOPs = 1 MAC (torch's ``FlopCounterMode``).
See :func:`profile_model` for the steps, :class:`ProfileOptions` for its settings,
:class:`CostReport` for every field, and :func:`register_flop_formula` to count an
operator effobj has no formula for. Importing this package does not import torch; the FLOP
registry's names (below) import it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from effobj.profiler._cache import ProfileCache, architecture_signature, default_cache
from effobj.profiler._options import LATENCY_METHODS, ProfileOptions
from effobj.profiler._profiler import LocalProfiler, Profiler, profile_model
from effobj.profiler._report import CostReport, DeviceInfo
from effobj.profiler._scale import LatencyScale, calibrate

#: the FLOP registry (imports torch): imported on first access
_FLOP_NAMES = (
    "FlopCounts",
    "count_flops",
    "flop_counter_mode",
    "is_flop_free",
    "register_flop_formula",
    "register_flop_free",
    "unregister_flop_op",
)

__all__ = [
    "LATENCY_METHODS",
    "CostReport",
    "DeviceInfo",
    "LatencyScale",
    "LocalProfiler",
    "ProfileCache",
    "ProfileOptions",
    "Profiler",
    "architecture_signature",
    "calibrate",
    "clear_cache",
    "default_cache",
    "profile_model",
    *_FLOP_NAMES,
]


def clear_cache() -> None:
    """Forget every profile in the process-wide cache that ``profile_model(cache=True)`` uses."""
    default_cache.clear()


def __getattr__(name: str) -> Any:
    if name not in _FLOP_NAMES:
        raise AttributeError(f"module 'effobj.profiler' has no attribute {name!r}")
    return getattr(importlib.import_module("effobj.profiler._flops"), name)


if TYPE_CHECKING:  # pragma: no cover
    from effobj.profiler._flops import FlopCounts as FlopCounts
    from effobj.profiler._flops import count_flops as count_flops
    from effobj.profiler._flops import flop_counter_mode as flop_counter_mode
    from effobj.profiler._flops import is_flop_free as is_flop_free
    from effobj.profiler._flops import register_flop_formula as register_flop_formula
    from effobj.profiler._flops import register_flop_free as register_flop_free
    from effobj.profiler._flops import unregister_flop_op as unregister_flop_op
