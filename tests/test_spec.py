"""EfficiencySpec: normalization, several cost indicators, constraints, bounds, (de)serialization."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from effobj import CostIndicator, EfficiencySpec, e_beta, e_beta_upper_bound
from effobj.errors import InputError, InputTypeError


def test_single_indicator_matches_e_beta():
    spec = EfficiencySpec(beta2=0.5, perf_ref=78.3, cost_ref=25.0)
    assert spec.score(77.0, 5.7) == pytest.approx(e_beta(77.0 / 78.3, 5.7 / 25, beta2=0.5))
    assert spec.cost_names == ("cost",)
    a, c = spec.normalize(77.0, 5.7)
    assert (a, c) == pytest.approx((77.0 / 78.3, 0.228))


def test_perf_above_reference_is_clipped_or_refused():
    spec = EfficiencySpec(perf_ref=0.9, cost_ref=1.0)
    assert spec.normalize_perf(0.95) == 1.0
    strict = spec.replace(perf_above_ref="raise")
    with pytest.raises(InputError, match=r"'perf'.*Got 0.95"):
        strict.normalize_perf(0.95)


def test_budget_and_floor_gates_and_constraint_signs():
    spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, perf_min=0.8, cost_max=5.0)
    assert spec.score(0.9, 4.0) > 0
    assert spec.score(0.9, 6.0) == 0.0
    assert spec.score(0.7, 4.0) == 0.0
    cons = spec.constraints(0.9, 6.0)
    assert set(cons) == {"perf_min", "cost_max"}
    assert cons["perf_min"] == pytest.approx(-0.1) and cons["cost_max"] == pytest.approx(0.1)
    assert spec.cost_constraints(4.0) == {"cost_max": pytest.approx(-0.1)}
    assert spec.is_feasible(0.9, 4.0) and not spec.is_feasible(0.9, 6.0)


def test_several_indicators_weighted_mean_and_max():
    costs = [
        CostIndicator("latency_ms", ref=10.0, max=8.0, weight=3.0),
        CostIndicator("params", ref=1e6, weight=1.0),
        CostIndicator("peak_activation_bytes", ref=64e6, max=32e6, weight=0.0),
    ]
    spec = EfficiencySpec(perf_ref=1.0, costs=costs)
    report = {"latency_ms": 4.0, "params": 2e5, "peak_activation_bytes": 1e6, "flops": 1e9}
    a, c = spec.normalize(0.9, report)
    assert c == pytest.approx((3 * 0.4 + 1 * 0.2) / 4)  # weight 0 does not count
    assert spec.score(0.9, report) == pytest.approx(e_beta(0.9, c))
    over_memory = dict(report, peak_activation_bytes=40e6)
    assert spec.score(0.9, over_memory) == 0.0  # a weight-0 indicator still gates
    assert spec.cost_constraints(over_memory)["peak_activation_bytes_max"] > 0
    worst = spec.replace(combine="max")
    assert worst.normalize(0.9, report)[1] == pytest.approx(0.4)


def test_upper_bound_is_known_before_training_and_bounds_the_score():
    spec = EfficiencySpec(beta2=2.0, perf_ref=1.0, cost_ref=10.0, cost_max=6.0)
    assert spec.upper_bound(3.0) == pytest.approx(e_beta_upper_bound(0.3, beta2=2.0))
    assert spec.upper_bound(7.0) == 0.0
    for perf in (0.0, 0.3, 0.99, 1.0):
        assert spec.score(perf, 3.0) <= spec.upper_bound(3.0) + 1e-12


@given(st.floats(0.0, 1.0), st.floats(0.0, 20.0), st.floats(1e-3, 0.2))
def test_soft_score_bounds_hard_score(perf, cost, tau):
    spec = EfficiencySpec(perf_ref=1.0, cost_ref=20.0, perf_min=0.3, cost_max=12.0)
    assert spec.soft_score(perf, cost, temperature=tau) <= spec.score(perf, cost) + 1e-12


def test_arrays_and_tensors_through_the_spec():
    spec = EfficiencySpec(beta2=0.5, perf_ref=78.3, cost_ref=25.0, cost_max=20.0)
    perf = np.array([78.3, 77.0, 70.3, 75.4])
    cost = np.array([22.5, 5.7, 11.3, 1.2])
    np.testing.assert_allclose(spec.score(perf, cost), [0.0, 0.8316, 0.6298, 0.9556], atol=1e-4)
    t = spec.score(torch.tensor(perf), torch.tensor(cost))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), spec.score(perf, cost))
    perf_t = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    spec.soft_score(perf_t, torch.tensor([5.0], dtype=torch.float64)).sum().backward()
    assert perf_t.grad is not None and float(perf_t.grad) > 0


def test_round_trip_and_replace():
    spec = EfficiencySpec(
        beta2=4.0, perf_ref=0.99, perf_min=0.5,
        costs=[CostIndicator("latency_ms", 5.0, 4.0), {"name": "params", "ref": 1e6, "weight": 0.0}],
    )
    again = EfficiencySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert spec.replace(beta2=0.25).beta2 == 0.25
    single = EfficiencySpec(perf_ref=1.0, cost_ref=10.0)
    assert single.replace(cost_max=5.0).costs[0].c_max == 0.5
    with pytest.raises(InputError, match="single-indicator"):
        spec.replace(cost_max=3.0)
    with pytest.raises(InputError, match="unknown fields"):
        spec.replace(betta2=3.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(perf_ref=1.0), "exactly one of 'cost_ref'"),
        (dict(perf_ref=1.0, cost_ref=1.0, costs=[CostIndicator("x", 1.0)]), "exactly one of"),
        (dict(perf_ref=0.0, cost_ref=1.0), r"'perf_ref' parameter of EfficiencySpec.*\(0, inf\). Got 0.0"),
        (dict(perf_ref=1.0, cost_ref=-2.0), r"'ref' parameter of CostIndicator.*Got -2.0"),
        (dict(perf_ref=1.0, cost_ref=1.0, beta2=0.0), r"'beta2'.*Got 0.0"),
        (dict(perf_ref=1.0, cost_ref=1.0, perf_min=2.0), r"'perf_min'.*at most 'perf_ref'"),
        (dict(perf_ref=1.0, cost_ref=1.0, cost_max=2.0), r"'max'.*at most its 'ref'"),
        (dict(perf_ref=1.0, cost_ref=1.0, combine="sum"), r"'combine'.*'mean', 'max'.*'sum'"),
        (dict(perf_ref=1.0, costs=[]), "must not be empty"),
        (dict(perf_ref=1.0, costs=[CostIndicator("x", 1.0), CostIndicator("x", 2.0)]), "each indicator once"),
        (dict(perf_ref=1.0, costs=[CostIndicator("x", 1.0, weight=0.0)]), "positive weight"),
        (dict(perf_ref=1.0, costs=[CostIndicator("x", 1.0)], cost_max=0.5), "single indicator"),
    ],
)
def test_bad_spec_is_refused_with_its_reason(kwargs, match):
    with pytest.raises(InputError, match=match):
        EfficiencySpec(**kwargs)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: CostIndicator(" ", 1.0), InputError,
         r"^The 'name' parameter of CostIndicator must be a non-empty str\. Got ' ' instead\.$"),
        (lambda: CostIndicator(3, 1.0), InputTypeError,
         r"^The 'name' parameter of CostIndicator must be a non-empty str\. Got 3 of type int instead\.$"),
        (lambda: CostIndicator("perf", 1.0), InputError,
         r"^The 'name' parameter of CostIndicator must not be one of the names effobj records a trial under "
         r"\(perf, .*\): the cost would overwrite it\. Got 'perf' instead\. Name the indicator after what it measures\.$"),
        (lambda: CostIndicator("lat", 1.0, max=2.0), InputError,
         r"^The 'max' parameter of CostIndicator 'lat' must be at most its 'ref' \(1\): the reference is the "
         r"largest acceptable cost\. Got 2 instead\.$"),
        (lambda: EfficiencySpec(perf_ref=1.0, costs=[CostIndicator("x", 1.0)], cost_max=0.5), InputError,
         r"^The 'cost_max' parameter of EfficiencySpec must be None with 'costs': it applies to a single "
         r"indicator\. Got 0.5 instead\. Give each CostIndicator its own 'max'\.$"),
        (lambda: EfficiencySpec(perf_ref=1.0, costs=[]), InputError,
         r"^The 'costs' parameter of EfficiencySpec must not be empty\. Got no indicator instead\.$"),
        (lambda: EfficiencySpec(perf_ref=1.0, costs=[CostIndicator("x", 1.0), CostIndicator("x", 2.0)]),
         InputError, r"^The 'costs' parameter of EfficiencySpec must name each indicator once\. Got names \['x', 'x'\]"),
        (lambda: EfficiencySpec.from_dict({"perf_ref": 1.0}), InputError,
         r"^The 'd' parameter of EfficiencySpec.from_dict must have a 'costs' field\. Got keys \['perf_ref'\] instead\.$"),
        (lambda: EfficiencySpec(perf_ref=1.0, cost_ref=1.0).score(0.5, {"cost": None}), InputError,
         r"^The 'cost' parameter of EfficiencySpec.normalize must be a number\. Got None instead\. "
         r"Was it measured on this device\?$"),
        (lambda: EfficiencySpec(perf_ref=1.0, costs=[CostIndicator("x", 1.0), CostIndicator("y", 1.0)]).score(0.5, 1.0),
         InputTypeError, r"^The 'cost' parameter of EfficiencySpec.normalize must be a mapping of the indicators "
         r"\['x', 'y'\] for a spec with several\. Got float instead\.$"),
        (lambda: EfficiencySpec.from_dict([1, 2]), InputTypeError,
         r"^The 'd' parameter of EfficiencySpec.from_dict must be a mapping \(a spec's to_dict\(\)\)\. Got list instead\.$"),
    ],
)
def test_spec_refusals_use_the_uniform_wording(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_costs_at_scoring_time():
    spec = EfficiencySpec(perf_ref=1.0, costs=[CostIndicator("latency_ms", 5.0), CostIndicator("params", 1e6)])
    with pytest.raises(InputError, match=r"Missing \['params'\]"):
        spec.score(0.9, {"latency_ms": 1.0})
    with pytest.raises(InputError, match="must be a mapping"):
        spec.score(0.9, 1.0)
    with pytest.raises(InputError, match=r"'latency_ms'.*Got -1.0"):
        spec.score(0.9, {"latency_ms": -1.0, "params": 1.0})
    with pytest.raises(InputError, match=r"'latency_ms'.*None"):
        spec.score(0.9, {"latency_ms": None, "params": 1.0})
    with pytest.raises(InputError, match=r"'perf'.*Got nan"):
        spec.score(float("nan"), {"latency_ms": 1.0, "params": 1.0})
