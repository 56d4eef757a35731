"""E_beta, its surrogate, derivatives, bound and crossover: values, properties and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from effobj import (
    crossover_beta2,
    e_beta,
    e_beta_grad,
    e_beta_upper_bound,
    soft_e_beta,
)
from effobj._metric.kernels import e_beta_kernel
from effobj.errors import InputError

unit = st.floats(0.0, 1.0, allow_nan=False)
cost = st.floats(0.0, 2.0, allow_nan=False)
beta2s = st.floats(1e-3, 1e3)
taus = st.floats(1e-3, 0.2)


def reference(a: float, c: float, b: float, a_min: float = 0.0, c_max: float = 1.0) -> float:
    """Equation 1 of the paper, written out with Python floats (the cost gate read as C <= C_max)."""
    cp = 1.0 - c
    if a < a_min or c > c_max or (b * cp + a) == 0.0:
        return 0.0
    return (1.0 + b) * a * cp / (b * cp + a)


# ----------------------------------------------------------------------------- values
@given(unit, cost, beta2s, unit, unit)
def test_matches_reference_formula(a, c, b, a_min, c_max):
    assert e_beta(a, c, beta2=b, a_min=a_min, c_max=c_max) == pytest.approx(
        reference(a, c, b, a_min, c_max), rel=1e-12, abs=1e-15
    )


def test_paper_values_by_hand():
    assert round(e_beta(72.0 / 83.1, 75 / 4218), 2) == 0.92
    assert round(e_beta(1.0, 22.5 / 25, beta2=0.5), 3) == 0.143
    assert round(e_beta(75.4 / 78.3, 1.2 / 25, beta2=100), 3) == 0.963
    assert e_beta(78.6 / 83.1, 1.0) == 0.0  # ViT-B-VTN sits exactly at the normalizer


def test_corner_zero_over_zero_is_zero_not_nan():
    assert e_beta(0.0, 1.0) == 0.0
    out = e_beta(np.zeros(3), np.ones(3))
    assert np.array_equal(out, np.zeros(3))
    assert soft_e_beta(0.0, 1.0) == 0.0


def test_cost_above_one_is_infeasible():
    assert e_beta(0.9, 1.5) == 0.0
    assert e_beta(np.array([0.9]), np.array([1.5]))[0] == 0.0


def test_gates_are_inclusive():
    assert e_beta(0.5, 0.4, a_min=0.5, c_max=0.4) > 0.0
    assert e_beta(0.5 - 1e-12, 0.4, a_min=0.5) == 0.0
    assert e_beta(0.5, 0.4 + 1e-12, c_max=0.4) == 0.0


# ----------------------------------------------------------------------------- properties
@given(unit, cost, beta2s, unit, unit)
def test_bounded_in_unit_interval(a, c, b, a_min, c_max):
    e = e_beta(a, c, beta2=b, a_min=a_min, c_max=c_max)
    assert 0.0 <= e <= 1.0 + 1e-12


@given(unit, unit, cost, beta2s, unit, unit)
def test_non_decreasing_in_a(a1, a2, c, b, a_min, c_max):
    lo, hi = sorted((a1, a2))
    assert e_beta(lo, c, beta2=b, a_min=a_min, c_max=c_max) <= e_beta(
        hi, c, beta2=b, a_min=a_min, c_max=c_max
    ) + 1e-12


@given(unit, cost, cost, beta2s, unit, unit)
def test_non_increasing_in_c(a, c1, c2, b, a_min, c_max):
    lo, hi = sorted((c1, c2))
    assert e_beta(a, hi, beta2=b, a_min=a_min, c_max=c_max) <= e_beta(
        a, lo, beta2=b, a_min=a_min, c_max=c_max
    ) + 1e-12


@given(unit, unit)
def test_symmetric_in_a_and_c_prime_at_beta2_one(a, cp):
    assert e_beta(a, 1.0 - cp) == pytest.approx(e_beta(cp, 1.0 - a), abs=1e-12)


@given(st.floats(1e-3, 1.0), st.floats(0.0, 0.999))
def test_small_beta2_gives_c_prime(a, c):
    assert e_beta(a, c, beta2=1e-9) == pytest.approx(1.0 - c, rel=1e-6, abs=1e-8)


@given(st.floats(0.0, 1.0), st.floats(0.0, 0.999))
def test_large_beta2_gives_a(a, c):
    assert e_beta(a, c, beta2=1e9) == pytest.approx(a, rel=1e-6, abs=1e-8)


@given(unit, cost, beta2s, unit)
def test_upper_bound_bounds_every_performance(a, c, b, c_max):
    assert e_beta(a, c, beta2=b, c_max=c_max) <= e_beta_upper_bound(c, beta2=b, c_max=c_max) + 1e-12


@given(
    st.lists(st.tuples(unit, st.floats(0.0, 1.2)), min_size=1, max_size=25),
    beta2s,
    unit,
    st.floats(0.05, 1.0),
)
def test_winner_lies_on_feasible_pareto_front(points, b, a_min, c_max):
    scores = [e_beta(a, c, beta2=b, a_min=a_min, c_max=c_max) for a, c in points]
    best = int(np.argmax(scores))
    assume(scores[best] > 0)
    wa, wc = points[best]
    feasible = [(a, c) for a, c in points if a >= a_min and c <= c_max]
    strictly_dominated = any(
        a >= wa and c <= wc and (a > wa or c < wc) for a, c in feasible
    )
    if strictly_dominated:  # only allowed when a dominator ties the winner's score
        dominators = [(a, c) for a, c in feasible if a >= wa and c <= wc and (a > wa or c < wc)]
        assert all(
            e_beta(a, c, beta2=b, a_min=a_min, c_max=c_max) == pytest.approx(scores[best])
            for a, c in dominators
        )


@given(st.floats(0.05, 1.0), st.floats(0.0, 0.95), st.floats(0.05, 1.0), st.floats(0.0, 0.95))
def test_crossover_swaps_rank_exactly_once(a1, c1, a2, c2):
    b = crossover_beta2(a1, c1, a2, c2)
    diff = lambda beta2: e_beta(a1, c1, beta2=beta2) - e_beta(a2, c2, beta2=beta2)  # noqa: E731
    if b is None:
        signs = {np.sign(round(diff(x), 12)) for x in (1e-3, 1e-1, 1.0, 10.0, 1e3)}
        assert not ({1.0, -1.0} <= signs)
    else:
        assume(1e-4 < b < 1e4)
        assert diff(b) == pytest.approx(0.0, abs=1e-9)
        lo, hi = diff(b / 2), diff(b * 2)
        assume(abs(lo) > 1e-12 and abs(hi) > 1e-12)
        assert np.sign(lo) == -np.sign(hi)


def test_crossover_tinybert_vs_bert():
    b = crossover_beta2(75.4 / 78.3, 1.2 / 25, 1.0, 22.5 / 25)
    assert e_beta(75.4 / 78.3, 1.2 / 25, beta2=b) == pytest.approx(e_beta(1.0, 0.9, beta2=b))
    assert e_beta(75.4 / 78.3, 1.2 / 25, beta2=100) > e_beta(1.0, 0.9, beta2=100)  # as the paper
    assert e_beta(75.4 / 78.3, 1.2 / 25, beta2=1000) < e_beta(1.0, 0.9, beta2=1000)


# ----------------------------------------------------------------------------- derivatives
@given(st.floats(0.01, 1.0), st.floats(0.0, 0.99), beta2s)
def test_closed_form_gradient_matches_autograd(a, c, b):
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    e_beta(at, ct, beta2=b).backward()
    da, dc = e_beta_grad(a, c, beta2=b)
    assert da == pytest.approx(float(at.grad), rel=1e-9, abs=1e-12)
    assert dc == pytest.approx(float(ct.grad), rel=1e-9, abs=1e-12)
    assert da >= 0.0 and dc <= 0.0


def test_gradients_are_zero_on_infeasible_and_corner():
    assert e_beta_grad(0.3, 0.5, a_min=0.4) == (0.0, 0.0)
    assert e_beta_grad(0.0, 1.0) == (0.0, 0.0)


def test_hard_gradcheck_float64_interior():
    a = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: e_beta(a, c, beta2=2.0), (a, c))


# ----------------------------------------------------------------------------- surrogate
@given(unit, cost, beta2s, unit, unit, taus)
def test_soft_never_exceeds_hard(a, c, b, a_min, c_max, tau):
    kw = dict(beta2=b, a_min=a_min, c_max=c_max)
    assert soft_e_beta(a, c, temperature=tau, **kw) <= e_beta(a, c, **kw) + 1e-12


@given(unit, cost, beta2s, st.floats(0.0, 0.9), st.floats(0.1, 1.0), taus)
def test_soft_is_exact_on_the_tau_interior(a, c, b, a_min, c_max, tau):
    assume(c_max - c >= tau and (a_min == 0.0 or a - a_min >= tau))
    kw = dict(beta2=b, a_min=a_min, c_max=c_max)
    assert soft_e_beta(a, c, temperature=tau, **kw) == pytest.approx(e_beta(a, c, **kw), abs=1e-12)


@given(unit, cost, beta2s, unit, unit)
def test_soft_converges_to_hard_off_the_boundaries(a, c, b, a_min, c_max):
    margin = min(c_max - c, a - a_min if a_min > 0 else 1.0)
    assume(abs(margin) > 1e-6)
    kw = dict(beta2=b, a_min=a_min, c_max=c_max)
    hard = e_beta(a, c, **kw)
    errs = [abs(soft_e_beta(a, c, temperature=t, **kw) - hard) for t in (1e-1, 1e-3, 1e-7)]
    assert errs[-1] <= max(1e-6 * 4, 1e-7 * 3)  # exact once tau < margin; else tau * violation
    assert errs[-1] <= errs[0] + 1e-12


@given(unit, unit, cost, beta2s, unit, unit, taus)
def test_soft_non_decreasing_in_a(a1, a2, c, b, a_min, c_max, tau):
    lo, hi = sorted((a1, a2))
    kw = dict(beta2=b, a_min=a_min, c_max=c_max, temperature=tau)
    assert soft_e_beta(lo, c, **kw) <= soft_e_beta(hi, c, **kw) + 1e-12


@given(unit, cost, cost, beta2s, unit, unit, taus)
def test_soft_non_increasing_in_c(a, c1, c2, b, a_min, c_max, tau):
    lo, hi = sorted((c1, c2))
    kw = dict(beta2=b, a_min=a_min, c_max=c_max, temperature=tau)
    assert soft_e_beta(a, hi, **kw) <= soft_e_beta(a, lo, **kw) + 1e-12


@given(st.floats(0.05, 1.0), st.floats(0.0, 0.5), unit, st.floats(0.0, 2.0), taus)
def test_soft_feasible_beats_infeasible_and_orders_infeasible_by_distance(a, c, a2, c2, tau):
    kw = dict(a_min=0.05, c_max=0.6, temperature=tau)
    assume(a - 0.05 > 1e-9 and 0.6 - c > 1e-9)
    infeasible = a2 < 0.05 or c2 > 0.6
    assume(infeasible)
    s_feasible = soft_e_beta(a, c, **kw)
    s_infeasible = soft_e_beta(a2, c2, **kw)
    assert s_feasible > 0.0 >= s_infeasible
    violation = max(0.0, 0.05 - a2) + max(0.0, c2 - 0.6)
    assert s_infeasible == pytest.approx(-tau * violation, abs=1e-12)


@given(st.floats(0.0, 1.0), st.floats(0.0, 3.0), st.floats(0.01, 0.9), st.floats(0.05, 1.0), taus)
def test_soft_gradient_points_back_to_feasibility_however_far(a, c, a_min, c_max, tau):
    assume(a < a_min - 1e-9 or c > c_max + 1e-9)
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    soft_e_beta(at, ct, a_min=a_min, c_max=c_max, temperature=tau).backward()
    if a < a_min - 1e-9:
        assert float(at.grad) == pytest.approx(tau)
    if c > c_max + 1e-9:
        assert float(ct.grad) == pytest.approx(-tau)


@pytest.mark.parametrize(
    "a,c",
    [(0.0, 1.0), (0.0, 0.0), (1.0, 1.0), (0.0, 2.5), (1.0, 0.0), (0.3, 1.0), (0.0, 0.4)],
)
@pytest.mark.parametrize("fn", [e_beta, soft_e_beta])
def test_finite_gradients_at_corners(fn, a, c):
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    fn(at, ct, a_min=0.0, c_max=1.0).backward()
    assert math.isfinite(float(at.grad)) and math.isfinite(float(ct.grad))


def test_soft_gradcheck_float64():
    a = torch.tensor([0.2, 0.5, 0.9, 0.7, 0.55], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.1, 0.45, 0.6, 1.3, 0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, c: soft_e_beta(a, c, a_min=0.3, c_max=0.5, temperature=0.1, beta2=0.7), (a, c)
    )


# ----------------------------------------------------------------------------- types and paths
def test_numpy_stream_path_matches_kernel_and_keeps_dtype():
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        a = rng.random(300_001).astype(dtype)
        c = (rng.random(300_001) * 1.2).astype(dtype)
        a[:3] = 0.0
        c[:3] = 1.0  # 0/0 corners in the stream
        got = e_beta(a, c, beta2=0.7, a_min=0.2, c_max=0.8)
        ref = e_beta_kernel(a, c, 0.7, 0.2, 0.8, np.where)
        assert got.dtype == dtype and got.shape == a.shape
        np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)
        assert not np.isnan(got).any()


def test_stream_path_gives_plus_zero_over_budget_checked_or_not():
    # C > 1 makes C' < 0: the stream clamps it as the kernel does, so no -0.0 comes out
    rng = np.random.default_rng(1)
    a, c = rng.random(200_000), rng.random(200_000) * 1.5
    for kw in ({}, {"c_max": 0.8}, {"a_min": 0.3, "c_max": 0.9}):
        checked = e_beta(a, c, **kw)
        assert not np.signbit(checked).any()
        assert checked.tobytes() == e_beta(a, c, validate_args=False, **kw).tobytes()
        np.testing.assert_array_equal(checked == 0.0, e_beta_kernel(a, c, 1.0, kw.get("a_min", 0.0),
                                                                    kw.get("c_max", 1.0), np.where) == 0.0)


def test_stream_path_rejects_nan_with_its_index():
    a = np.full(200_000, 0.5)
    a[123_456] = np.nan
    with pytest.raises(InputError, match=r"'a'.*nan at index 123456"):
        e_beta(a, np.full(200_000, 0.5))


def test_types_and_broadcasting():
    assert isinstance(e_beta(0.5, 0.5), float)
    out = e_beta(np.array([0.5, 0.9], dtype=np.float32), np.float32(0.1))
    assert out.dtype == np.float32 and out.shape == (2,)
    assert e_beta([1, 0], [0, 0]).dtype == np.float64
    grid = e_beta(np.linspace(0, 1, 4)[:, None], np.linspace(0, 1, 3)[None, :])
    assert grid.shape == (4, 3)
    t = e_beta(torch.tensor([0.5, 0.9], dtype=torch.float32), 0.1)
    assert t.dtype == torch.float32 and isinstance(t, torch.Tensor)
    t = soft_e_beta(torch.tensor([0.5], dtype=torch.float64), np.array([0.1]))
    assert t.dtype == torch.float64


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: e_beta(1.2, 0.1), r"'a' parameter of e_beta must be finite and in \[0, 1\]. Got 1.2"),
        (lambda: e_beta(0.5, -0.1), r"'c' parameter of e_beta must be finite and in \[0, inf\)"),
        (lambda: e_beta(np.nan, 0.1), r"'a'.*Got nan"),
        (lambda: e_beta(0.5, np.inf), r"'c'.*Got inf"),
        (lambda: e_beta(np.ones(3), np.ones(2) * 0.5), r"must broadcast.*\(3,\) and \(2,\)"),
        (lambda: e_beta(torch.ones(3), torch.ones(2)), r"must broadcast"),
        (lambda: e_beta(0.5, 0.5, beta2=0.0), r"'beta2' parameter of e_beta must be a float in the range \(0, inf\). Got 0.0"),
        (lambda: e_beta(0.5, 0.5, beta2=-1), r"Got -1 instead"),
        (lambda: e_beta(0.5, 0.5, c_max=1.5), r"'c_max'.*\[0, 1\]"),
        (lambda: e_beta(0.5, 0.5, a_min=-0.1), r"'a_min'"),
        (lambda: soft_e_beta(0.5, 0.5, temperature=0), r"'temperature'"),
        (lambda: soft_e_beta(0.5, 0.5, leak=-1.0), r"'leak'"),
        (lambda: crossover_beta2(0.0, 0.5, 0.5, 0.5), r"A > 0 and C < 1"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(InputError, match=match):
        call()


@pytest.mark.parametrize("bad", ["0.5", True, None, object()])
def test_non_numeric_is_type_error(bad):
    with pytest.raises(TypeError, match="'a' parameter of e_beta"):
        e_beta(bad, 0.5)
    with pytest.raises(TypeError, match="'beta2' parameter of e_beta"):
        e_beta(0.5, 0.5, beta2=bad if bad is not None else "x")


def test_validate_args_off_skips_checks_but_never_nan_for_valid_input():
    a = torch.rand(1000, dtype=torch.float64)
    c = torch.rand(1000, dtype=torch.float64)
    assert torch.equal(e_beta(a, c, validate_args=False), e_beta(a, c))
