"""The module faces call the same kernel as the functions."""

from __future__ import annotations

import pytest
import torch

from effobj import EBetaScore, SoftEBetaScore, e_beta, soft_e_beta
from effobj.errors import InputError


@pytest.mark.parametrize("kw", [dict(), dict(beta2=3.0, a_min=0.3, c_max=0.7)])
def test_modules_agree_with_functions(kw):
    torch.manual_seed(0)
    a, c = torch.rand(64, dtype=torch.float64), torch.rand(64, dtype=torch.float64) * 1.3
    assert torch.equal(EBetaScore(**kw)(a, c), e_beta(a, c, **kw))
    assert torch.equal(SoftEBetaScore(temperature=0.05, **kw)(a, c), soft_e_beta(a, c, temperature=0.05, **kw))


def test_module_checks_values_unless_told_not_to():
    with pytest.raises(InputError, match="'a' parameter of SoftEBetaScore"):
        SoftEBetaScore()(torch.tensor([1.5]), torch.tensor([0.1]))
    with pytest.raises(InputError, match="'temperature'"):
        SoftEBetaScore(temperature=-1.0)
    assert "beta2=1.0" in repr(EBetaScore())


def test_gradient_flows_through_soft_module():
    a = torch.tensor([0.4, 0.8], requires_grad=True)
    c = torch.tensor([0.3, 0.95], requires_grad=True)
    SoftEBetaScore(c_max=0.9, temperature=0.05)(a, c).sum().backward()
    assert torch.all(a.grad >= 0) and c.grad[1] == pytest.approx(-0.05)


def test_compiled_surrogate_matches_eager_values_and_gradients():
    torch.manual_seed(1)
    kw = dict(beta2=2.0, a_min=0.3, c_max=0.8, temperature=0.05)
    for module_kw in (kw, dict(kw, a_min=0.0)):
        a = torch.rand(257, dtype=torch.float64, requires_grad=True)
        c = (torch.rand(257, dtype=torch.float64) * 1.3).requires_grad_()
        eager = SoftEBetaScore(**module_kw)(a, c)
        ga, gc = torch.autograd.grad(eager.sum(), (a, c))
        fused = SoftEBetaScore(compile=True, **module_kw)(a, c)
        fa, fc = torch.autograd.grad(fused.sum(), (a, c))
        torch.testing.assert_close(fused, eager)
        torch.testing.assert_close(fa, ga)
        torch.testing.assert_close(fc, gc)


def test_compile_method_is_not_shadowed_by_the_option():
    # the constructor option is kept as `compiled`, so nn.Module.compile() stays callable
    m = SoftEBetaScore(temperature=0.05, compile=True)
    assert m.compiled is True and "compile=True" in repr(m)
    plain = SoftEBetaScore(temperature=0.05)
    assert plain.compiled is False and callable(plain.compile)
    plain.compile()  # was TypeError: 'bool' object is not callable
    torch.manual_seed(2)
    a, c = torch.rand(33, dtype=torch.float64), torch.rand(33, dtype=torch.float64) * 1.3
    torch.testing.assert_close(plain(a, c), SoftEBetaScore(temperature=0.05)(a, c))


@pytest.mark.parametrize("module", [EBetaScore, SoftEBetaScore])
def test_shape_mismatch_is_input_error_naming_the_parameters(module):
    name = module.__name__
    with pytest.raises(InputError, match=rf"'a' and 'c' parameters of {name} must broadcast.*\(3,\) and \(2,\)"):
        module()(torch.rand(3), torch.rand(2))
    with pytest.raises(InputError, match=r"'a' and 'c' parameters of e_beta must broadcast.*\(3,\) and \(2,\)"):
        e_beta(torch.rand(3), torch.rand(2))  # the function face says the same
