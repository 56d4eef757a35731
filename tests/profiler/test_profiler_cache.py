"""The architecture-signature cache."""

from __future__ import annotations

import torch
from torch import nn

from effobj.profiler import (
    LocalProfiler,
    ProfileCache,
    Profiler,
    architecture_signature,
    profile_model,
)


def _sig(model: nn.Module, *shapes: tuple[int, ...], dtype=torch.float32, device="cpu", threads=2, options=()) -> str:
    return architecture_signature(model, [torch.zeros(s, dtype=dtype) for s in shapes],
                                  device=device, threads=threads, options=options)


def test_signature_depends_on_structure_shapes_dtype_device_threads_and_options() -> None:
    torch.manual_seed(0)
    a = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    torch.manual_seed(1)
    b = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())  # other weights, same architecture
    base = _sig(a, (1, 3, 8, 8))
    assert _sig(b, (1, 3, 8, 8)) == base
    assert _sig(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU()), (1, 3, 8, 8)) != base  # extra_repr
    assert _sig(nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU()), (1, 3, 8, 8)) != base  # module class
    assert _sig(nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU()), (1, 3, 8, 8)) != base  # parameter shape
    assert _sig(a, (2, 3, 8, 8)) != base  # input shape
    assert _sig(a, (1, 3, 8, 8), dtype=torch.float64) != base  # input dtype
    assert _sig(a, (1, 3, 8, 8), device="cuda:0") != base
    assert _sig(a, (1, 3, 8, 8), threads=1) != base
    assert _sig(a, (1, 3, 8, 8), options=(False,)) != base
    assert _sig(a.to(torch.float64), (1, 3, 8, 8)) != base  # parameter dtype


def test_cache_hit_skips_profiling_and_says_so() -> None:
    store = ProfileCache()
    net = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
    first = profile_model(net, torch.randn(4, 16), max_time_s=0.1, cache=store)
    torch.manual_seed(3)
    twin = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
    second = profile_model(twin, torch.randn(4, 16), max_time_s=0.1, cache=store)
    assert not first.from_cache and second.from_cache
    assert (store.hits, store.misses, len(store)) == (1, 1, 1)
    assert second.latency_ms == first.latency_ms and second.macs == first.macs
    third = profile_model(twin, torch.randn(8, 16), max_time_s=0.1, cache=store)  # new batch: profiled
    assert not third.from_cache and third.macs == 2 * first.macs


def test_cache_false_never_caches_and_lru_bound() -> None:
    store = ProfileCache(maxsize=2)
    for width in (2, 3, 4):
        profile_model(nn.Linear(width, 1), torch.randn(1, width), latency=False, cache=store)
    assert len(store) == 2
    r1 = profile_model(nn.Linear(2, 1), torch.randn(1, 2), latency=False, cache=False)
    r2 = profile_model(nn.Linear(2, 1), torch.randn(1, 2), latency=False, cache=False)
    assert not r1.from_cache and not r2.from_cache


def test_local_profiler_is_a_profiler() -> None:
    prof = LocalProfiler(latency=False, cache=False)
    assert isinstance(prof, Profiler)
    assert prof.profile(nn.Linear(3, 2), (torch.randn(5, 3),)).macs == 30
    assert "LocalProfiler(device='cpu'" in repr(prof)
