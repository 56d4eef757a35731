"""The streamed and fused surrogate (effobj/_metric/stream.py, fused.py) against the one
definition, kernels.soft_kernel, through the dispatcher that every face calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effobj
from effobj._metric.kernels import gate_margins, soft_kernel
from effobj._metric.stream import BLOCK, STREAM_MIN
from effobj.nn import SoftEBetaScore, e_beta_loss

N = 2 * BLOCK + 1234  # not a whole number of blocks, split over the threads
PARAMS = [  # beta2, a_min, c_max, tau, leak
    (1.0, 0.0, 1.0, 0.02, 0.02),
    (0.5, 0.5, 0.9, 0.05, 0.1),
    (4.0, 0.3, 0.6, 0.2, 0.0),
]


def _inputs(dtype: torch.dtype, lo: float, hi: float, tau: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = torch.tensor(rng.random(N), dtype=dtype)
    c = torch.tensor(rng.random(N) * 1.3, dtype=dtype)
    # corners, gate boundaries, band edges, a tiny denominator
    special_a = [0.0, 0.0, 1.0, lo, lo, 0.5, 0.0, 1.0, 1e-300, 0.3, lo + tau, 0.7]
    special_c = [1.0, 0.0, 1.0, hi, 1.0, hi - tau, 1.5, 0.0, 1.0, 1.0 - 1e-300, 0.2, hi]
    k = len(special_a)
    a[:k] = torch.tensor(special_a, dtype=torch.float64).to(dtype)
    c[:k] = torch.tensor(special_c, dtype=torch.float64).to(dtype)
    return a, c


def _generic(a, c, b, lo, hi, tau, lam):
    return soft_kernel(a, c, b, gate_margins(a, lo, [(c, hi)]), tau, lam, torch)


def _dispatched(a, c, b, lo, hi, tau, lam):
    """The dispatcher on tensors, unchecked (c may exceed 1, as in training)."""
    return effobj.soft_e_beta(a, c, beta2=b, a_min=lo, c_max=hi, temperature=tau, leak=lam,
                              validate_args=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("params", PARAMS)
def test_values_bit_identical_and_gradients_equal(dtype, params):
    b, lo, hi, tau, lam = params
    a, c = _inputs(dtype, lo, hi, tau)
    a1, c1 = a.clone().requires_grad_(), c.clone().requires_grad_()
    a2, c2 = a.clone().requires_grad_(), c.clone().requires_grad_()
    s1 = _dispatched(a1, c1, b, lo, hi, tau, lam)
    s2 = _generic(a2, c2, b, lo, hi, tau, lam)
    assert s1.grad_fn is not None and "SoftEBeta" in type(s1.grad_fn).__name__  # the streamed path
    assert torch.equal(s1, s2)
    g = torch.tensor(np.random.default_rng(1).standard_normal(N), dtype=dtype)
    s1.backward(g)
    s2.backward(g)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}
    torch.testing.assert_close(a1.grad, a2.grad, **tol)
    torch.testing.assert_close(c1.grad, c2.grad, **tol)
    assert torch.isfinite(a1.grad).all() and torch.isfinite(c1.grad).all()


def test_sum_backward_one_input_and_double_backward():
    b, lo, hi, tau, lam = PARAMS[1]
    a, c = _inputs(torch.float64, lo, hi, tau, seed=2)
    # a scalar upstream gradient arrives expanded (stride 0); only c requires grad
    c1, c2 = c.clone().requires_grad_(), c.clone().requires_grad_()
    _dispatched(a, c1, b, lo, hi, tau, lam).sum().backward()
    _generic(a, c2, b, lo, hi, tau, lam).sum().backward()
    torch.testing.assert_close(c1.grad, c2.grad, rtol=1e-12, atol=1e-13)
    # create_graph=True: the backward is differentiable (a Hessian-vector product)
    a1, a2 = a.clone().requires_grad_(), a.clone().requires_grad_()
    (g1,) = torch.autograd.grad(_dispatched(a1, c, b, lo, hi, tau, lam).sum(), a1, create_graph=True)
    (g2,) = torch.autograd.grad(_generic(a2, c, b, lo, hi, tau, lam).sum(), a2, create_graph=True)
    (g1 * g1).sum().backward()
    (g2 * g2).sum().backward()
    torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-10, atol=1e-12)


def test_ineligible_inputs_take_the_generic_kernel():
    a = torch.rand(N, requires_grad=True)
    assert "SoftEBeta" not in type(_dispatched(a, torch.rand(1), 1.0, 0.0, 1.0, 0.02, 0.02).grad_fn).__name__
    small = torch.rand(100, requires_grad=True)
    assert "SoftEBeta" not in type(_dispatched(small, small * 0.5, 1.0, 0.0, 1.0, 0.02, 0.02).grad_fn).__name__
    half = torch.rand(N, dtype=torch.float16, requires_grad=True)
    out = _dispatched(half, half.detach() * 0.5, 1.0, 0.0, 1.0, 0.02, 0.02)
    assert out.dtype == torch.float16 and "SoftEBeta" not in type(out.grad_fn).__name__


def test_public_faces_use_it_and_agree():
    a, c = _inputs(torch.float32, 0.0, 1.0, 0.02, seed=3)
    c = c.clamp(max=1.0)  # valid for the checked public functions
    ref = _generic(a, c, 1.0, 0.0, 1.0, 0.02, 0.02)
    assert torch.equal(effobj.soft_e_beta(a, c), ref)
    assert torch.equal(SoftEBetaScore()(a, c), ref)
    assert torch.equal(e_beta_loss(a, c, reduction="none", over_budget="gate"), 1.0 - ref)
    # numpy takes the streamed forward too, with the same values
    out = effobj.soft_e_beta(a.numpy(), c.numpy())
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, ref.numpy())


@settings(max_examples=25, deadline=None)
@given(
    beta2=st.floats(0.01, 100.0),
    a_min=st.sampled_from([0.0, 0.2, 0.9]),
    c_max=st.floats(0.05, 1.0),
    tau=st.floats(0.001, 1.0),
    seed=st.integers(0, 2**16),
)
def test_streamed_numpy_equals_the_kernel(beta2, a_min, c_max, tau, seed):
    rng = np.random.default_rng(seed)
    a = rng.random(STREAM_MIN)
    c = rng.random(STREAM_MIN) * 1.5
    a[:3] = [0.0, a_min, 1.0]
    c[:3] = [1.0, c_max, 0.0]
    streamed = effobj.soft_e_beta(a, c, beta2=beta2, a_min=a_min, c_max=c_max, temperature=tau)
    small = np.concatenate([
        effobj.soft_e_beta(a[i : i + 1000], c[i : i + 1000], beta2=beta2, a_min=a_min,
                           c_max=c_max, temperature=tau)
        for i in range(0, STREAM_MIN, 1000)
    ])
    np.testing.assert_array_equal(streamed, small)


def test_spec_soft_score_takes_the_same_fast_paths():
    spec = effobj.EfficiencySpec(beta2=2.0, perf_ref=0.9, cost_ref=2.0, perf_min=0.3, cost_max=1.6)
    kw = dict(beta2=2.0, a_min=spec.a_min, c_max=0.8, temperature=0.05)
    rng = np.random.default_rng(4)
    perf, cost = rng.random(N) * 0.9, rng.random(N) * 2.4
    a, c = spec.normalize(perf, cost)
    np.testing.assert_array_equal(spec.soft_score(perf, cost, temperature=0.05), effobj.soft_e_beta(a, c, **kw))
    perf_t = torch.tensor(perf, requires_grad=True)
    s = spec.soft_score(perf_t, torch.tensor(cost), temperature=0.05)
    assert "SoftEBeta" in type(s.grad_fn).__name__  # the streamed autograd Function
    assert torch.equal(s, effobj.soft_e_beta(torch.tensor(a), torch.tensor(c), **kw))
    # several indicators gate each cost: the generic kernel, the same margins
    multi = effobj.EfficiencySpec(perf_ref=0.9, perf_min=0.3, costs=[
        effobj.CostIndicator("x", 2.0, 1.6, 3.0), effobj.CostIndicator("y", 1.0, 0.5, 1.0)])
    costs = {"x": cost, "y": cost[::-1].copy() * 0.5}
    a, c = multi.normalize(perf, costs)
    ci = multi.normalize_costs(costs)
    ref = soft_kernel(a, c, 1.0, gate_margins(a, multi.a_min, [(ci["x"], 0.8), (ci["y"], 0.5)]), 0.05, 0.05, np)
    np.testing.assert_array_equal(multi.soft_score(perf, costs, temperature=0.05), ref)
