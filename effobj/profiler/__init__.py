"""The profiler: every cost indicator of a candidate model, measured on its target device.

>>> import torch
>>> from effobj.profiler import profile_model
>>> r = profile_model(torch.nn.Linear(8, 4), torch.ones(1, 8), latency=False)
>>> (r.flops, r.macs, r.params)
(64, 32, 36)

Convention: a fused multiply-add is 2 FLOPs = 1 MAC (torch's ``FlopCounterMode``).
See :func:`profile_model` for the steps and :class:`CostReport` for every field.
"""

from __future__ import annotations

from effobj.profiler._cache import ProfileCache, architecture_signature, default_cache
from effobj.profiler._profiler import LocalProfiler, Profiler, profile_model
from effobj.profiler._report import CostReport, DeviceInfo

__all__ = [
    "CostReport",
    "DeviceInfo",
    "LocalProfiler",
    "ProfileCache",
    "Profiler",
    "architecture_signature",
    "clear_cache",
    "default_cache",
    "profile_model",
]


def clear_cache() -> None:
    """Forget every profile in the process-wide cache that ``profile_model(cache=True)`` uses."""
    default_cache.clear()
