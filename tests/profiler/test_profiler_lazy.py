"""A model with lazy modules is materialized by one forward pass, then counted exactly."""

from __future__ import annotations

import torch

from effobj.profiler import profile_model


def test_lazy_modules_are_materialized_and_counted():
    net = torch.nn.Sequential(
        torch.nn.LazyConv2d(16, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(10)
    )
    report = profile_model(net, torch.randn(1, 3, 32, 32), latency=False, cache=False)
    assert report.macs == 16 * 30 * 30 * 3 * 9 + 16 * 30 * 30 * 10
    assert report.n_params == 16 * 3 * 9 + 16 + 16 * 30 * 30 * 10 + 10
    assert report.unsupported_ops == ()
