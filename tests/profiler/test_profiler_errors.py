"""Bad input: clear errors naming the model and the step, and a process left usable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from effobj.errors import InputError, ProfilingError
from effobj.profiler import LocalProfiler, profile_model


class Raises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("boom in forward")


class ReturnsString(nn.Module):
    def forward(self, x: torch.Tensor) -> str:
        return "not a tensor"


class HugeAllocation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.empty(1 << 50, dtype=torch.uint8).sum()  # 1 PiB: the allocator refuses


def _state(model: nn.Module) -> tuple:
    return ([m.training for m in model.modules()], torch.get_num_threads(), torch.is_grad_enabled())


@pytest.mark.parametrize(
    ("model", "x", "match"),
    [
        (Raises(), torch.randn(2, 4), r"Profiling Raises failed at step 'counting FLOPs.*ValueError: boom in forward"),
        (ReturnsString(), torch.randn(2, 4), r"Profiling ReturnsString failed at step 'counting FLOPs'.*no tensor"),
        (nn.Linear(4, 3), torch.randn(2, 5), r"Profiling Linear failed at step 'counting FLOPs.*shapes cannot be multiplied"),
        (nn.Conv2d(3, 8, 3), torch.randn(1, 4, 8, 8), r"Profiling Conv2d failed at step 'counting FLOPs"),
        (HugeAllocation(), torch.randn(2), r"Profiling HugeAllocation failed at step .*out of memory"),
    ],
    ids=["raises", "returns-str", "wrong-shape", "wrong-channels", "oom"],
)
def test_model_failures_name_model_and_step_and_restore_state(model, x, match) -> None:
    model.train()
    before = _state(model)
    with pytest.raises(ProfilingError, match=match):
        profile_model(model, x, threads=1, cache=False)
    assert _state(model) == before
    # the process is usable: a good model profiles right after
    assert profile_model(nn.Linear(4, 2), torch.randn(1, 4), latency=False, cache=False).macs == 8


def test_partial_eval_flags_are_restored_exactly() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    net.train()
    net[1].eval()  # a user who froze one BatchNorm
    profile_model(net, torch.randn(3, 4), max_time_s=0.05, cache=False)
    assert [m.training for m in net.modules()] == [True, True, False, True]


def test_model_is_not_moved_or_changed() -> None:
    net = nn.Linear(4, 4)
    w = net.weight.detach().clone()
    profile_model(net, torch.randn(2, 4), max_time_s=0.05, cache=False)
    assert net.weight.device.type == "cpu" and torch.equal(net.weight, w)
    assert net.weight.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"device": "nonsense"}, InputError, r"'device' parameter of profile_model .*Got 'nonsense'"),
        ({"device": "cuda"}, InputError, r"CUDA is not available"),
        ({"device": "meta"}, InputError, r"device that computes"),
        ({"device": 0}, TypeError, r"'device' parameter of profile_model must be a str"),
        ({"threads": 0}, InputError, r"'threads' parameter of profile_model must be an int in the range \[1, \d+\] or None. Got 0"),
        ({"threads": 1.5}, InputError, r"'threads'"),
        ({"threads": True}, InputError, r"'threads'"),
        ({"target_rel_spread": 0.0}, InputError, r"'target_rel_spread' .*\(0, 1\). Got 0.0"),
        ({"target_rel_spread": 1.5}, InputError, r"'target_rel_spread'"),
        ({"max_time_s": -1.0}, InputError, r"'max_time_s' .*\(0, inf\). Got -1.0"),
        ({"max_time_s": float("inf")}, InputError, r"'max_time_s'"),
        ({"latency": "yes"}, TypeError, r"'latency' parameter of profile_model must be a bool"),
        ({"memory": 1}, TypeError, r"'memory'"),
        ({"cache": "no"}, TypeError, r"'cache'"),
    ],
)
def test_bad_options(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        profile_model(nn.Linear(2, 2), torch.randn(1, 2), **kwargs)
    with pytest.raises(exc, match=match.replace("profile_model", "LocalProfiler")):
        LocalProfiler(**kwargs)


@pytest.mark.parametrize("bad", [None, [1, 2], (), (torch.ones(1), "x"), {"x": torch.ones(1)}])
def test_bad_example_inputs(bad) -> None:
    with pytest.raises(TypeError, match="'example_inputs' parameter of profile_model"):
        profile_model(nn.Linear(1, 1), bad)


def test_not_a_module() -> None:
    with pytest.raises(TypeError, match="'model' parameter of profile_model must be a torch.nn.Module. Got function"):
        profile_model(lambda x: x, torch.ones(1))  # type: ignore[arg-type]


def test_meta_model_can_be_counted_not_timed() -> None:
    with torch.device("meta"):
        net = nn.Linear(8, 8)
    with pytest.raises(InputError, match="meta device: it can be counted but not timed"):
        profile_model(net, torch.randn(1, 8), cache=False)
    assert profile_model(net, torch.randn(1, 8), latency=False, cache=False).macs == 64
