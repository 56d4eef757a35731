"""Tests of the comparison metrics in effobj.ratios."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import effobj.ratios as ratios
from effobj.apps import paper_table_records
from effobj.errors import InputError
from effobj.ratios import (
    accuracy_to_compute_ratio,
    cost_efficiency_ratio,
    ed2p,
    edp,
    latency_loss,
    mnasnet_reward,
    normalized_ratio,
    performance_speed_ratio,
    time_efficiency_ratio,
)


def _decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


# --------------------------------------------------------------------------- paper tables


def _rows(name: str) -> list[dict[str, str]]:
    return paper_table_records(name)


@pytest.mark.parametrize(
    ("file", "perf_ref", "cost_ref"),
    [
        ("paper_table1_kinetics400.csv", 83.1, 4218.0),
        # Table 2 prints no normalized-ratio column; 25 GFLOPs is its reference (DESIGN.md)
        ("paper_table2_glue.csv", 78.3, 25.0),
    ],
)
def test_paper_ratio_columns_to_printed_precision(file: str, perf_ref: float, cost_ref: float):
    rows = _rows(file)
    assert rows
    for row in rows:
        perf, cost = float(row["perf"]), float(row["cost"])
        printed = row["printed_perf_per_cost"]
        got = accuracy_to_compute_ratio(perf, cost)
        assert round(got, _decimals(printed)) == float(printed), row["name"]
        if "printed_a_per_c" in row:
            printed = row["printed_a_per_c"]
            got = normalized_ratio(perf / perf_ref, cost / cost_ref)
            assert round(got, _decimals(printed)) == float(printed), row["name"]


def test_paper_first_row_exact_values():
    assert round(accuracy_to_compute_ratio(72.0, 75), 2) == 0.96
    assert round(normalized_ratio(72 / 83.1, 75 / 4218), 2) == 48.73


def test_ratio_columns_vectorized_match_scalar():
    rows = _rows("paper_table1_kinetics400.csv")
    perf = np.array([float(r["perf"]) for r in rows])
    cost = np.array([float(r["cost"]) for r in rows])
    got = accuracy_to_compute_ratio(perf, cost)
    assert isinstance(got, np.ndarray) and got.shape == perf.shape
    expected = [accuracy_to_compute_ratio(p, c) for p, c in zip(perf, cost, strict=True)]
    np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------------- productivity


def test_productivity_seed_example():
    # F1 0.90, $1000 training, $200 inference, 10 h, 50 ms -> 0.00075, 0.09, 0.018
    assert math.isclose(cost_efficiency_ratio(0.90, 1000, 200), 0.00075, rel_tol=1e-12)
    assert math.isclose(time_efficiency_ratio(0.90, 10), 0.09, rel_tol=1e-12)
    assert math.isclose(performance_speed_ratio(0.90, 50), 0.018, rel_tol=1e-12)


def test_cer_allows_one_zero_cost_but_not_both():
    assert cost_efficiency_ratio(0.5, 0.0, 2.0) == 0.25
    assert cost_efficiency_ratio(0.5, 2.0, 0.0) == 0.25
    with pytest.raises(InputError, match="'training_cost' and 'inference_cost'.*index 1"):
        cost_efficiency_ratio([0.5, 0.5], [1.0, 0.0], 0.0)


positive = st.floats(1e-3, 1e3)


@given(
    hnp.arrays(np.float64, 5, elements=st.floats(0, 1)),
    hnp.arrays(np.float64, 5, elements=positive),
    hnp.arrays(np.float64, 5, elements=positive),
)
def test_ratios_equal_their_formula(score, c1, c2):
    np.testing.assert_allclose(cost_efficiency_ratio(score, c1, c2), score / (c1 + c2), rtol=1e-15)
    np.testing.assert_allclose(time_efficiency_ratio(score, c1), score / c1, rtol=1e-15)
    np.testing.assert_allclose(performance_speed_ratio(score, c2), score / c2, rtol=1e-15)
    np.testing.assert_allclose(edp(c1, c2), c1 * c2, rtol=1e-15)
    np.testing.assert_allclose(ed2p(c1, c2), c1 * c2 * c2, rtol=1e-15)


def test_scalar_in_float_out_array_in_array_out():
    assert type(edp(2, 3)) is float and edp(2, 3) == 6.0
    assert type(ed2p(np.float64(2.0), 3)) is float and ed2p(2.0, 3.0) == 18.0
    out = edp([1.0, 2.0], 3.0)
    assert isinstance(out, np.ndarray) and out.tolist() == [3.0, 6.0]
    out = ed2p(np.ones((2, 1)), np.array([1.0, 2.0, 3.0]))  # broadcasting
    assert out.shape == (2, 3) and out[1].tolist() == [1.0, 4.0, 9.0]


def test_ed2p_weights_delay_more_than_edp():
    # same EDP, the slower model has the larger ED2P
    fast_hungry, slow_frugal = (4.0, 1.0), (1.0, 4.0)
    assert edp(*fast_hungry) == edp(*slow_frugal)
    assert ed2p(*slow_frugal) > ed2p(*fast_hungry)


# --------------------------------------------------------------------------- MnasNet


def test_mnasnet_hand_computed_values():
    # soft, over target: 0.75 * 2 ** -0.07 = 0.75 * exp(-0.07 ln 2) = 0.714478
    assert math.isclose(mnasnet_reward(0.75, 150.0, 75.0), 0.714478, abs_tol=1e-6)
    # soft, under target: 0.75 * (50/75) ** -0.07 = 0.771592
    assert math.isclose(mnasnet_reward(0.75, 50.0, 75.0), 0.771592, abs_tol=1e-6)
    # hard: no bonus under target, proportional penalty above
    assert mnasnet_reward(0.75, 50.0, 75.0, mode="hard") == 0.75
    assert mnasnet_reward(0.75, 150.0, 75.0, mode="hard") == 0.375
    # explicit exponents
    assert math.isclose(mnasnet_reward(0.8, 40.0, 20.0, w=-0.5), 0.8 / math.sqrt(2), rel_tol=1e-12)
    assert math.isclose(mnasnet_reward(0.8, 40.0, 20.0, beta=-1.0), 0.4, rel_tol=1e-12)
    assert math.isclose(mnasnet_reward(0.8, 10.0, 20.0, alpha=-1.0), 1.6, rel_tol=1e-12)
    # alpha applies only at or under the target, beta only above
    assert mnasnet_reward(0.8, 40.0, 20.0, alpha=-1.0) == mnasnet_reward(0.8, 40.0, 20.0)


def test_mnasnet_soft_trade_off_twice_slower_needs_five_percent():
    # Tan et al.: with alpha = beta = -0.07, a model 2x slower needs ~5 % more accuracy
    base = mnasnet_reward(0.70, 50.0, 50.0)
    assert math.isclose(mnasnet_reward(0.70 * 2**0.07, 100.0, 50.0), base, rel_tol=1e-12)
    assert 1.049 < 2**0.07 < 1.050


@given(
    st.floats(0.01, 1.0),
    st.floats(1.0, 1e3),
    st.floats(1.0, 1e3),
    st.sampled_from(["soft", "hard"]),
)
def test_mnasnet_monotone_in_latency_and_continuous_at_target(acc, lat, target, mode):
    r = mnasnet_reward(acc, lat, target, mode=mode)
    assert 0.0 <= r
    assert mnasnet_reward(acc, lat * 1.5, target, mode=mode) <= r
    assert mnasnet_reward(acc, target, target, mode=mode) == pytest.approx(acc, rel=1e-12)


def test_mnasnet_array_mixes_both_branches():
    lat = np.array([25.0, 75.0, 150.0])
    got = mnasnet_reward(1.0, lat, 75.0, mode="hard")
    np.testing.assert_allclose(got, [1.0, 1.0, 0.5])


# --------------------------------------------------------------------------- latency loss


def test_latency_loss_beta_is_an_exponent_not_a_factor():
    ce, lat, target, alpha, beta = 2.0, 1e4, 100.0, 0.2, 0.6  # log ratio = 2
    exponent_form = alpha * ce * 2.0**beta  # 0.4 * 1.5157 = 0.6063
    multiplied_form = alpha * ce * beta * 2.0  # the copied mistake: 0.4 * 1.2 = 0.48
    got = latency_loss(ce, lat, target, alpha=alpha, beta=beta)
    assert math.isclose(got, exponent_form, rel_tol=1e-12)
    assert not math.isclose(got, multiplied_form, rel_tol=1e-3)
    # beta = 1 makes the latency factor linear in log LAT; beta = 0 removes it
    assert math.isclose(latency_loss(ce, lat, target, beta=1.0), alpha * ce * 2.0, rel_tol=1e-12)
    assert math.isclose(latency_loss(ce, lat, target, beta=0.0), alpha * ce, rel_tol=1e-12)


@given(st.floats(0.0, 10.0), st.floats(1.5, 1e4), st.floats(1.5, 1e4))
def test_latency_loss_at_target_and_monotone(ce, lat, target):
    assert latency_loss(ce, target, target) == pytest.approx(0.2 * ce, rel=1e-12)
    assert latency_loss(ce, lat * 2.0, target) >= latency_loss(ce, lat, target)


def test_latency_loss_gradient_matches_closed_form_in_torch():
    lat = torch.tensor([20.0, 100.0, 500.0], dtype=torch.float64, requires_grad=True)
    ce = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    target, alpha, beta = 100.0, 0.2, 0.6
    loss = latency_loss(ce, lat, target, alpha=alpha, beta=beta)
    assert isinstance(loss, torch.Tensor) and loss.dtype == torch.float64
    loss.sum().backward()
    r = torch.log(lat.detach()) / math.log(target)
    expected = alpha * 1.3 * beta * r ** (beta - 1) / (lat.detach() * math.log(target))
    torch.testing.assert_close(lat.grad, expected)
    torch.testing.assert_close(ce.grad, (alpha * r**beta).sum())
    assert torch.autograd.gradcheck(
        lambda x: latency_loss(1.3, x, target), (lat.detach().clone().requires_grad_(),)
    )


def test_latency_loss_refuses_logs_that_are_not_positive():
    with pytest.raises(InputError, match=r"'latency'.*\(1, inf\).*0.5.*unit"):
        latency_loss(1.0, 0.5, 10.0)
    with pytest.raises(InputError, match=r"'target'.*\(1, inf\). Got 1.0"):
        latency_loss(1.0, 5.0, 1.0)


# --------------------------------------------------------------------------- torch


def test_torch_in_torch_out_dtype_kept_and_mixed_with_numpy():
    perf = torch.tensor([72.0, 72.1], dtype=torch.float32, requires_grad=True)
    out = accuracy_to_compute_ratio(perf, np.array([75.0, 108.0]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2,)
    out.sum().backward()
    torch.testing.assert_close(perf.grad, torch.tensor([1 / 75, 1 / 108]))
    r = mnasnet_reward(torch.tensor([0.75, 0.75]), torch.tensor([50.0, 150.0]), 75.0)
    assert isinstance(r, torch.Tensor)
    np.testing.assert_allclose(r.numpy(), [0.771592, 0.714478], atol=1e-6)
    assert edp(torch.tensor(2.0), 3.0).item() == 6.0


def test_torch_bad_values_are_refused_with_index():
    with pytest.raises(InputError, match="'latency_ms'.*index 1"):
        performance_speed_ratio(1.0, torch.tensor([5.0, 0.0]))
    with pytest.raises(InputError, match="'energy'.*nan"):
        edp(torch.tensor([1.0, float("nan")]), 1.0)


# --------------------------------------------------------------------------- bad parameters

NAN = float("nan")

BAD = [
    # (call, exception, text the message must contain)
    (lambda: accuracy_to_compute_ratio(NAN, 1.0), InputError, "'perf'"),
    (lambda: accuracy_to_compute_ratio(-1.0, 1.0), InputError, "'perf'"),
    (lambda: accuracy_to_compute_ratio(1.0, 0.0), InputError, "'cost'"),
    (lambda: accuracy_to_compute_ratio(1.0, -5.0), InputError, "'cost'"),
    (lambda: accuracy_to_compute_ratio([1.0, 2.0], [1.0, 2.0, 3.0]), InputError, "'cost'"),
    (lambda: accuracy_to_compute_ratio("72", 1.0), TypeError, "'perf'"),
    (lambda: normalized_ratio(0.5, math.inf), InputError, "'c'"),
    (lambda: normalized_ratio(-0.1, 0.5), InputError, "'a'"),
    (lambda: cost_efficiency_ratio(0.9, -1.0, 1.0), InputError, "'training_cost'"),
    (lambda: cost_efficiency_ratio(0.9, 1.0, NAN), InputError, "'inference_cost'"),
    (lambda: cost_efficiency_ratio([0.9] * 2, [1.0] * 3, 1.0), InputError, "'training_cost'"),
    (lambda: time_efficiency_ratio(0.9, 0.0), InputError, "'training_hours'"),
    (lambda: time_efficiency_ratio(True, 1.0), TypeError, "'score'"),
    (lambda: performance_speed_ratio(NAN, 1.0), InputError, "'score'"),
    (lambda: performance_speed_ratio(0.9, -50.0), InputError, "'latency_ms'"),
    (lambda: mnasnet_reward(0.9, 0.0, 75.0), InputError, "'latency'"),
    (lambda: mnasnet_reward(0.9, 50.0, -75.0), InputError, "'target'"),
    (lambda: mnasnet_reward(NAN, 50.0, 75.0), InputError, "'acc'"),
    (lambda: mnasnet_reward(0.9, 50.0, 75.0, mode="medium"), InputError, "'mode'"),
    (lambda: mnasnet_reward(0.9, 50.0, 75.0, alpha=0.5), InputError, "'alpha'"),
    (lambda: mnasnet_reward(0.9, 50.0, 75.0, beta=NAN), InputError, "'beta'"),
    (lambda: mnasnet_reward(0.9, 50.0, 75.0, w="x"), TypeError, "'w'"),
    (lambda: mnasnet_reward(0.9, 50.0, 75.0, w=-0.1, alpha=-0.1), InputError, "'w'"),
    (lambda: mnasnet_reward([0.9] * 2, [50.0] * 3, 75.0), InputError, "'latency'"),
    (lambda: latency_loss(-1.0, 50.0, 75.0), InputError, "'ce'"),
    (lambda: latency_loss(1.0, 50.0, 75.0, alpha=0.0), InputError, "'alpha'"),
    (lambda: latency_loss(1.0, 50.0, 75.0, beta=-0.6), InputError, "'beta'"),
    (lambda: latency_loss(1.0, 50.0, 75.0, beta=NAN), InputError, "'beta'"),
    (lambda: latency_loss(1.0, [50.0] * 2, [75.0] * 3), InputError, "'target'"),
    (lambda: edp(-1.0, 1.0), InputError, "'energy'"),
    (lambda: edp(1.0, NAN), InputError, "'delay'"),
    (lambda: ed2p(1.0, -1.0), InputError, "'delay'"),
    (lambda: ed2p([1.0] * 2, [1.0] * 3), InputError, "'delay'"),
    (lambda: ed2p(None, 1.0), TypeError, "'energy'"),
]


@pytest.mark.parametrize(("call", "exc", "text"), BAD)
def test_bad_parameters_name_the_parameter(call, exc, text):
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    assert text in msg
    assert "instead" in msg  # names the value it got, sklearn style


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError, match="'cost' parameter of accuracy_to_compute_ratio"):
        accuracy_to_compute_ratio(1.0, 0.0)


# --------------------------------------------------------------------------- module rules


def test_docstring_examples_run():
    result = doctest.testmod(ratios, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 9 and result.failed == 0


def test_every_public_function_documents_its_math():
    for name in ratios.__all__:
        doc = getattr(ratios, name).__doc__
        assert ".. math::" in doc and ">>> " in doc, name


def test_metric_layer_imports_neither_torch_nor_optuna():
    code = (
        "import sys, effobj.ratios, effobj.pareto;"
        "bad = [m for m in ('torch', 'optuna') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=50)
@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(1.5, 1e3)))
def test_float32_numpy_and_float64_agree(x):
    got64 = latency_loss(1.0, x, 10.0)
    got32 = latency_loss(np.float32(1.0), x.astype(np.float32), np.float32(10.0))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, got64, rtol=1e-5)
