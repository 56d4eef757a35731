"""The one FLOP registry: effobj's formulas and corrections, users' formulas and flop-free
operators, and where the operators without a formula ran."""

from __future__ import annotations

import pytest
import torch
from test_profiler_counts import Cdist  # a model with an operator torch has no formula for
from torch import nn

from effobj.errors import InputError
from effobj.profiler import (
    ProfileCache,
    count_flops,
    flop_counter_mode,
    profile_model,
    register_flop_formula,
    register_flop_free,
    unregister_flop_op,
)


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(8, 8), Cdist())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def _cdist_flop(x1, x2, *args, out_shape=None, **kwargs) -> int:
    return 3 * x1[-2] * x2[-2] * x1[-1]


@pytest.fixture
def forget_cdist():
    yield
    unregister_flop_op("aten._cdist_forward")


# -- effobj's own formulas (moved from the effobj.spaces tests: the profiler owns them now)
def test_grouped_conv_backward_is_counted_per_group() -> None:
    for groups in (1, 4, 48):
        conv = torch.nn.Conv2d(48, 48, 5, padding=2, groups=groups, bias=False)
        x = torch.randn(2, 48, 12, 12, requires_grad=True)
        with flop_counter_mode() as counter:
            conv(x).sum().backward()
        counts = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
        fwd = 2 * 2 * 12 * 12 * 48 * (48 // groups) * 25
        assert counts["aten.convolution"] == fwd
        assert counts["aten.convolution_backward"] == 2 * fwd  # grad_input + grad_weight


def test_cpu_attention_is_counted() -> None:
    q = torch.randn(2, 4, 16, 8, requires_grad=True)
    with flop_counter_mode() as counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
    fwd = 2 * 2 * (2 * 4 * 16 * 16 * 8)  # QK^T and AV (B H L L d MACs each), 2 FLOPs per MAC
    flops = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    assert flops["aten._scaled_dot_product_flash_attention_for_cpu"] == fwd
    assert flops["aten._scaled_dot_product_flash_attention_for_cpu_backward"] > fwd


def test_search_spaces_count_with_the_profilers_registry() -> None:
    import effobj.spaces

    assert effobj.spaces.flop_counter_mode is flop_counter_mode


# -- where the operators without a formula ran (fvcore's by-module report)
def test_unsupported_operators_are_located_by_module() -> None:
    report = profile_model(Outer(), torch.randn(4, 8), latency=False, cache=False)
    assert report.unsupported_ops == ("aten._cdist_forward",)
    assert report.unsupported_by_module == {"Outer.head.1": {"aten._cdist_forward": 1}}
    assert report.flops_by_module["Outer.head.1"] == report.flops_by_module["Outer.head.1.fc"] == 2 * 4 * 8 * 8
    assert "in Outer.head.1" in report.to_table()
    from effobj.profiler import CostReport

    assert CostReport.from_json(report.to_json()) == report


def test_counts_by_module_and_operator() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with count_flops() as c:
        net(torch.ones(5, 4))
    assert c.by_module_op["Sequential.0"] == {"aten.addmm": 2 * 5 * 4 * 3}
    assert c.by_module_op["Sequential"] == {"aten.addmm": 2 * 5 * (4 * 3 + 3 * 2)}
    assert c.unsupported == () and c.unsupported_by_module == {}


# -- users' formulas and flop-free operators
def test_a_registered_formula_is_counted_everywhere(forget_cdist) -> None:
    cache = ProfileCache()
    before = profile_model(Cdist(), torch.randn(4, 8), latency=False, cache=cache)
    register_flop_formula("aten._cdist_forward", _cdist_flop)
    after = profile_model(Cdist(), torch.randn(4, 8), latency=False, cache=cache)
    assert not after.from_cache  # a registration changes the counts: no stale cached profile
    assert after.unsupported_ops == () and after.unsupported_by_module == {}
    assert after.flops == before.flops + 3 * 4 * 10 * 8
    with flop_counter_mode() as counter:
        torch.cdist(torch.randn(4, 8), torch.randn(10, 8))
    assert counter.get_total_flops() == 3 * 4 * 10 * 8


def test_decorator_form_and_raw_formulas(forget_cdist) -> None:
    @register_flop_formula(torch.ops.aten._cdist_forward.default, raw=True)
    def cdist_raw(x1, x2, *args, out_val=None, **kwargs) -> int:
        assert isinstance(x1, torch.Tensor) and isinstance(out_val, torch.Tensor)
        return 7

    with count_flops() as c:
        torch.cdist(torch.randn(4, 8), torch.randn(10, 8))
    assert c.flops == 7 and callable(cdist_raw)


def test_flop_free_registration(forget_cdist) -> None:
    register_flop_free(torch.ops.aten._cdist_forward)
    report = profile_model(Cdist(), torch.randn(4, 8), latency=False, cache=False)
    assert report.unsupported_ops == () and report.flops == 2 * 4 * 8 * 8
    unregister_flop_op("aten::_cdist_forward")
    again = profile_model(Cdist(), torch.randn(4, 8), latency=False, cache=False)
    assert again.unsupported_ops == ("aten._cdist_forward",)


def test_registration_errors_name_the_parameter() -> None:
    with pytest.raises(InputError, match="already has a FLOP formula; pass override=True"):
        register_flop_formula("aten.mm", _cdist_flop)
    with pytest.raises(InputError, match="already has a FLOP formula"):
        register_flop_formula(torch.ops.aten.convolution_backward, _cdist_flop)  # effobj's correction
    with pytest.raises(InputError, match="'op' parameter of register_flop_formula .*Got 'aten.no_such_op'"):
        register_flop_formula("aten.no_such_op", _cdist_flop)
    with pytest.raises(TypeError, match="'op' parameter of register_flop_free must be a torch operator"):
        register_flop_free(42)
    with pytest.raises(TypeError, match="'formula' parameter of register_flop_formula must be callable"):
        register_flop_formula("aten._cdist_forward", 3)  # type: ignore[arg-type]


def test_override_replaces_a_formula_and_unregister_restores_it() -> None:
    a, b = torch.randn(6, 5), torch.randn(5, 7)
    register_flop_formula("aten.mm", lambda *args, **kwargs: 1, override=True)
    try:
        with count_flops() as c:
            a @ b
        assert c.flops == 1
    finally:
        unregister_flop_op("aten.mm")
    with count_flops() as c:
        a @ b
    assert c.flops == 2 * 6 * 5 * 7
