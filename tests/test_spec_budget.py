"""EfficiencySpec.for_budget: one latency (or any) budget in one argument, and its rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from effobj import EfficiencySpec
from effobj.errors import InputError
from effobj.spec import BUDGET_C

budgets = st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False)
beta2s = st.floats(1e-3, 1e3)
perfs = st.floats(1e-3, 1.0)  # A, with perf_ref = 1
fractions = st.floats(0.0, 1.0)


def test_the_rule_sets_the_budget_and_twice_it_as_reference() -> None:
    spec = EfficiencySpec.for_budget(8.0, beta2=2.0, perf_ref=0.99, perf_min=0.9,
                                     cost_name="latency_ms")
    (ind,) = spec.costs
    assert (ind.name, ind.max, ind.ref) == ("latency_ms", 8.0, 16.0)
    assert BUDGET_C == 0.5 and ind.c_max == BUDGET_C
    assert (spec.beta2, spec.perf_ref, spec.perf_min) == (2.0, 0.99, 0.9)
    # it is an ordinary spec: the same as spelling both out
    assert spec == EfficiencySpec(2.0, 0.99, 16.0, perf_min=0.9, cost_max=8.0,
                                  cost_name="latency_ms")


@given(budgets, beta2s, perfs)
def test_a_model_exactly_at_the_budget_scores_above_zero(budget, beta2, a) -> None:
    spec = EfficiencySpec.for_budget(budget, beta2=beta2)
    e = spec.score(a, budget)
    assert e > 0
    # the closed form at C = 1/2
    assert e == pytest.approx((1 + beta2) * a * 0.5 / (beta2 * 0.5 + a), rel=1e-9)
    assert spec.is_feasible(a, budget)


@given(budgets, beta2s, perfs)
def test_above_the_budget_the_gate_scores_zero(budget, beta2, a) -> None:
    spec = EfficiencySpec.for_budget(budget, beta2=beta2)
    assert spec.score(a, math.nextafter(budget, math.inf) * (1 + 1e-12)) == 0.0


@given(budgets, beta2s, perfs, fractions, fractions)
def test_cheaper_within_the_budget_never_scores_lower(budget, beta2, a, f1, f2) -> None:
    spec = EfficiencySpec.for_budget(budget, beta2=beta2)
    lo, hi = sorted((f1, f2))
    assert spec.score(a, lo * budget) >= spec.score(a, hi * budget) - 1e-12


@given(budgets, beta2s, perfs, perfs, fractions)
def test_better_at_the_same_cost_never_scores_lower(budget, beta2, a1, a2, f) -> None:
    spec = EfficiencySpec.for_budget(budget, beta2=beta2)
    lo, hi = sorted((a1, a2))
    assert spec.score(hi, f * budget) >= spec.score(lo, f * budget) - 1e-12


@given(budgets, st.floats(0.01, 0.99))
def test_unit_elasticity_of_the_compute_term_at_the_budget(budget, c_at_budget) -> None:
    """d ln C' / d ln cost = -C / (1 - C): -1 at the budget under the default rule only."""
    def elasticity(spec: EfficiencySpec) -> float:
        h = 1e-6
        cp = [1.0 - spec.normalize(1.0, budget * (1 + s * h))[1] for s in (-1, 1)]
        return (math.log(cp[1]) - math.log(cp[0])) / (math.log1p(h) - math.log1p(-h))

    assert elasticity(EfficiencySpec.for_budget(budget)) == pytest.approx(-1.0, rel=1e-4)
    other = EfficiencySpec.for_budget(budget, c_at_budget=c_at_budget)
    assert elasticity(other) == pytest.approx(-c_at_budget / (1 - c_at_budget), rel=1e-3)


def test_the_papers_literal_reference_is_available_and_scores_zero_at_the_budget() -> None:
    spec = EfficiencySpec.for_budget(6.0, c_at_budget=1.0)
    assert (spec.costs[0].ref, spec.costs[0].max) == (6.0, 6.0)
    assert spec.score(1.0, 6.0) == 0.0  # the problem the default rule avoids


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": 0.0}, r"'budget' parameter of EfficiencySpec.for_budget must be a float in "
                          r"the range \(0, inf\). Got 0.0 instead"),
        ({"budget": math.nan}, r"'budget' parameter .* Got nan instead"),
        ({"budget": 1.0, "c_at_budget": 0.0}, r"'c_at_budget' parameter of "
         r"EfficiencySpec.for_budget must be a float in the range \(0, 1\]. Got 0.0 instead"),
        ({"budget": 1.0, "c_at_budget": 1.5}, r"'c_at_budget' .* Got 1.5 instead"),
        ({"budget": 1.0, "beta2": -1.0}, r"'beta2' parameter of EfficiencySpec"),
    ],
)
def test_bad_budget_arguments_are_refused_by_name(kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        EfficiencySpec.for_budget(**kwargs)
