"""One list-driven test: every public function of the metric layer refuses a bad parameter
with a message that names the parameter (and, for ranges, the value it got)."""

from __future__ import annotations

import numpy as np
import pytest

import effobj
from effobj import CostIndicator, EfficiencySpec
from effobj.errors import EffobjError, InputError

nan = float("nan")
SPEC = EfficiencySpec(perf_ref=1.0, cost_ref=10.0)

# (callable, kwargs, parameter named in the message, error type)
CASES = [
    (effobj.e_beta, dict(a=0.5, c=0.5, beta2=-1.0), "beta2", InputError),
    (effobj.e_beta, dict(a=0.5, c=0.5, beta2=nan), "beta2", InputError),
    (effobj.e_beta, dict(a=0.5, c=0.5, a_min=2.0), "a_min", InputError),
    (effobj.e_beta, dict(a=0.5, c=0.5, c_max=-0.5), "c_max", InputError),
    (effobj.e_beta, dict(a=-0.1, c=0.5), "a", InputError),
    (effobj.e_beta, dict(a=0.5, c=nan), "c", InputError),
    (effobj.e_beta, dict(a="x", c=0.5), "a", TypeError),
    (effobj.soft_e_beta, dict(a=0.5, c=0.5, temperature=2.0), "temperature", InputError),
    (effobj.soft_e_beta, dict(a=0.5, c=0.5, leak=-1.0), "leak", InputError),
    (effobj.soft_e_beta, dict(a=0.5, c=0.5, beta2=0.0), "beta2", InputError),
    (effobj.soft_e_beta, dict(a=nan, c=0.5), "a", InputError),
    (effobj.e_beta_grad, dict(a=0.5, c=-1.0), "c", InputError),
    (effobj.e_beta_grad, dict(a=0.5, c=0.5, beta2=-2.0), "beta2", InputError),
    (effobj.e_beta_upper_bound, dict(c=0.5, a_max=1.5), "a_max", InputError),
    (effobj.e_beta_upper_bound, dict(c=-0.5), "c", InputError),
    (effobj.crossover_beta2, dict(a1=nan, c1=0.5, a2=0.5, c2=0.5), "a1", InputError),
    (effobj.crossover_beta2, dict(a1=0.5, c1=-0.5, a2=0.5, c2=0.5), "c1", InputError),
    (EfficiencySpec, dict(perf_ref=-1.0, cost_ref=1.0), "perf_ref", InputError),
    (EfficiencySpec, dict(perf_ref=1.0, cost_ref=1.0, beta2=-1.0), "beta2", InputError),
    (EfficiencySpec, dict(perf_ref=1.0, cost_ref=1.0, perf_min=nan), "perf_min", InputError),
    (EfficiencySpec, dict(perf_ref=1.0, cost_ref=1.0, perf_above_ref="wrap"), "perf_above_ref", InputError),
    (CostIndicator, dict(name="", ref=1.0), "name", InputError),
    (CostIndicator, dict(name="x", ref=1.0, weight=-1.0), "weight", InputError),
    (SPEC.score, dict(perf=-1.0, cost=1.0), "perf", InputError),
    (SPEC.score, dict(perf=0.5, cost=nan), "cost", InputError),
    (SPEC.soft_score, dict(perf=0.5, cost=1.0, temperature=0.0), "temperature", InputError),
    (SPEC.upper_bound, dict(cost=-1.0), "cost", InputError),
    (SPEC.constraints, dict(perf=nan, cost=1.0), "perf", InputError),
    (effobj.accuracy_to_compute_ratio, dict(perf=nan, cost=1.0), "perf", InputError),
    (effobj.accuracy_to_compute_ratio, dict(perf=1.0, cost=-1.0), "cost", InputError),
    (effobj.normalized_ratio, dict(a=0.5, c=nan), "c", InputError),
    (effobj.cost_efficiency_ratio, dict(score=0.9, training_cost=-1.0, inference_cost=1.0), "training_cost", InputError),
    (effobj.time_efficiency_ratio, dict(score=0.9, training_hours=nan), "training_hours", InputError),
    (effobj.performance_speed_ratio, dict(score=0.9, latency_ms=-5.0), "latency_ms", InputError),
    (effobj.mnasnet_reward, dict(acc=0.9, latency=5.0, target=-1.0), "target", InputError),
    (effobj.mnasnet_reward, dict(acc=0.9, latency=5.0, target=4.0, mode="medium"), "mode", InputError),
    (effobj.latency_loss, dict(ce=1.0, latency=-5.0, target=4.0), "latency", InputError),
    (effobj.latency_loss, dict(ce=nan, latency=5.0, target=4.0), "ce", InputError),
    (effobj.edp, dict(energy=-1.0, delay=1.0), "energy", InputError),
    (effobj.ed2p, dict(energy=1.0, delay=nan), "delay", InputError),
    (effobj.pareto_front, dict(points=np.ones((3, 2)), senses=["max", "up"]), "senses", InputError),
    (effobj.pareto_front, dict(points=np.array([[1.0, nan]])), "points", InputError),
    (effobj.non_dominated_sort, dict(points=np.ones((3, 2)), senses=["max"]), "senses", InputError),
    (effobj.stochastic_pareto, dict(means=np.ones((3, 2)), stds=np.ones((3, 2)), n_samples=0), "n_samples", InputError),
    (effobj.stochastic_pareto, dict(means=np.ones((3, 2)), stds=-np.ones((3, 2))), "stds", InputError),
    (effobj.stochastic_pareto, dict(means=np.ones((3, 2)), stds=np.ones((2, 2))), "stds", InputError),
]


@pytest.mark.parametrize(
    "func,kwargs,param,error", CASES, ids=[f"{getattr(c[0], '__name__', c[0])}-{c[2]}" for c in CASES]
)
def test_bad_parameter_is_named(func, kwargs, param, error):
    with pytest.raises(error) as info:
        func(**kwargs)
    assert f"'{param}'" in str(info.value), str(info.value)
    assert isinstance(info.value, EffobjError)  # wrong types too: InputTypeError


def test_every_public_metric_function_is_covered():
    covered = {getattr(c[0], "__name__", "") for c in CASES}
    metric_layer = {
        name for name in effobj.__all__
        if effobj._LAZY.get(name) in ("effobj.metric", "effobj.spec", "effobj.ratios", "effobj.pareto")
    }
    assert metric_layer <= covered | {"score", "soft_score"}, metric_layer - covered
