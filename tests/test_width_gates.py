"""ChannelGates: straight-through/annealed channel gates, their FLOPs, and derive()."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from effobj.cost_models import ChannelGates, gated_flops
from effobj.errors import InputError
from effobj.profiler import flop_counter_mode


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(12 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 10),
    )


def _measured(model: nn.Module, x: torch.Tensor) -> float:
    with flop_counter_mode() as counter:
        model.eval()(x)
    return float(counter.get_total_flops())


@given(thresholds=st.lists(st.floats(0.0, 0.95), min_size=3, max_size=3), seed=st.integers(0, 99))
@settings(max_examples=6, deadline=None)
def test_hard_gates_are_the_slimmed_network_in_function_and_flops(thresholds, seed):
    torch.manual_seed(seed)
    model = _cnn()
    model[1].weight.data = torch.rand(8) + 0.1  # distinct importances
    x = torch.randn(1, 1, 8, 8)
    gates = ChannelGates(model, x)
    gates.straight_through = True
    with torch.no_grad():
        gates.thresholds.copy_(torch.tensor(thresholds))
    assert gates.full_flops == pytest.approx(_measured(_cnn(), x))
    derived = gates.derive()
    model.eval()
    batch = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        gated_out = model(batch)
        slim_out = derived.model.eval()(batch)
    assert torch.allclose(gated_out, slim_out, atol=1e-5)  # closed channels are exactly gone
    assert derived.flops == pytest.approx(float(gates.flops().detach()), rel=1e-6)
    assert derived.flops == pytest.approx(_measured(derived.model, x), rel=1e-9)
    # the least important channels close first: the open ones of layer 0 are its largest |gamma|
    open0 = gates.margins(0) > 0
    gamma = model[1].weight.detach().abs()
    if 0 < int(open0.sum()) < 8:
        assert gamma[open0].min() > gamma[~open0].max()


def test_derive_projects_onto_the_budget_and_counts_it():
    torch.manual_seed(0)
    model = _cnn()
    x = torch.randn(1, 1, 8, 8)
    gates = ChannelGates(model, x)
    budget = 0.3 * gates.full_flops
    derived = gates.derive(budget)
    assert derived.within_budget and derived.flops <= budget
    assert derived.projected > 0 and derived.hard_flops == pytest.approx(gates.full_flops)
    assert derived.flops > 0.2 * gates.full_flops  # a projection, not a collapse
    with pytest.raises(InputError, match=r"'budget' parameter of ChannelGates.derive must be at least"):
        gates.derive(1.0)


def test_the_budget_gradient_raises_thresholds_and_anneal_hardens():
    model = _cnn()
    gates = ChannelGates(model, torch.randn(1, 1, 8, 8))
    (gates.flops() / gates.full_flops).backward()
    assert (gates.thresholds.grad < 0).all()  # FLOPs fall as every threshold rises
    gates.anneal(1.0)
    g = gates.gate(0).detach()
    assert ((g < 1e-3) | (g > 1 - 1e-3)).float().mean() > 0.8


def test_refusals_name_the_rule():
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with pytest.raises(InputError, match=r"'model' parameter of ChannelGates must hold no grouped"):
        ChannelGates(grouped, torch.randn(1, 4, 8, 8))
    with pytest.raises(InputError, match="at least two"):
        ChannelGates(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), torch.randn(1, 1, 8, 8))
    assert gated_flops  # imported for the docstring example's sake
