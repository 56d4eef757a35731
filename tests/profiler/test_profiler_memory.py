"""Peak activation memory from live tensor storages."""

from __future__ import annotations

import torch
from torch import nn

from effobj.profiler import profile_model
from effobj.profiler._memory import LiveTensorTracker


def test_views_and_inplace_results_are_not_double_counted() -> None:
    x = torch.ones(1000)  # 4000 bytes, excluded like an input
    with LiveTensorTracker(exclude=[x]) as mem:
        y = x * 2  # +4000
        v = y.view(10, 100)  # a view: same storage
        v.relu_()  # in place: same storage
        z = y + 1  # +4000 -> 8000
        del y, v
        w = z * 3  # y is gone: 8000 again
    assert mem.peak_bytes == 8000
    assert mem.current_bytes == 8000  # z and w alive
    del z, w


def test_mlp_peak_is_the_largest_pair_of_live_activations() -> None:
    net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    report = profile_model(net, torch.randn(8, 64), latency=False, cache=False)
    # at the first ReLU: its input (8x256) and output (8x256) are alive, 4 bytes each
    assert report.peak_activation_bytes == 2 * 8 * 256 * 4


def test_weights_and_inputs_are_not_activations() -> None:
    net = nn.Linear(1000, 1, bias=False)
    report = profile_model(net, torch.randn(1, 1000), latency=False, cache=False)
    assert report.peak_activation_bytes == 4  # the 1x1 output only
    assert report.model_bytes == 4000


def test_memory_can_be_skipped() -> None:
    report = profile_model(nn.Linear(4, 4), torch.randn(1, 4), latency=False, memory=False, cache=False)
    assert report.peak_activation_bytes is None
    assert "peak_activation_bytes" not in report.indicators()


def test_model_bytes_by_dtype_and_shared_weights() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(100, 16)
            self.out = nn.Linear(16, 100, bias=False)
            self.out.weight = self.emb.weight  # tied: stored once
            self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
            self.lin16 = nn.Linear(16, 16).to(torch.float16)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.lin16(self.emb(ids).half()).float())

    report = profile_model(Tied(), torch.zeros(2, 5, dtype=torch.long), latency=False, cache=False)
    assert report.n_params == 100 * 16 + 16 * 16 + 16
    assert report.model_bytes_by_dtype == {
        "torch.float32": 100 * 16 * 4, "torch.float16": (16 * 16 + 16) * 2, "torch.int64": 8,
    }
    assert report.model_bytes == sum(report.model_bytes_by_dtype.values())
