"""Gradient search on the real supernet and digits: tiny run, real profiling, budget met."""

from __future__ import annotations

import math

import pytest
import torch

import effobj.spaces
from effobj import EfficiencySpec, gradient_search
from effobj.apps import DEFAULT_PROFILE, GradientSearchConfig, LossParams, TrainingParams
from effobj.cost_models import build_latency_table
from effobj.errors import InputError
from effobj.profiler import ProfileOptions


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    space = effobj.spaces.get("supernet")
    data = effobj.spaces.load_dataset("digits", layout="image")
    table = build_latency_table(space, data=data, max_time_s=0.02, target_rel_spread=0.2, threads=1)
    return space, data, table


def test_tiny_search_meets_the_budget_when_measured(setup):
    space, data, table = setup
    vecs = table.vectors()
    fastest = table.fixed() + sum(min(v) for v in vecs)
    slowest = table.fixed() + sum(max(v) for v in vecs)
    # calibrate on one real network so that the budget is reachable on this (possibly busy) machine
    budget = 1.5 * fastest + 0.2 * (slowest - fastest)
    res = gradient_search(budget_ms=budget, loss="e_beta", table=table, space=space, data=data, scale=1.0,
                          epochs=1, warmup_epochs=0, max_steps_per_epoch=2, retrain_epochs=1,
                          profile_max_time_s=0.05, max_repairs=12, seed=0)
    assert res.loss == "e_beta" and len(res.history) == 1
    assert len(res.derived_ops) == len(table.candidate_ops)
    assert all(res.config[f"op_{i}"] in ops for i, ops in enumerate(table.candidate_ops, start=1))
    assert res.measured_ms == pytest.approx(res.cost_report["latency_ms"])
    # the final architecture was profiled for real and meets the budget (repairs if needed)
    assert res.meets_budget == (res.measured_ms <= budget)
    # over budget only if the repairs ran out: all 12 used, or every layer already at its
    # cheapest table entry (a loaded machine can make even that slower than the budget)
    at_cheapest = all(
        table.lookup(i, res.config[f"op_{i}"]).median_ms == min(v)
        for i, v in enumerate(vecs, start=1)
    )
    assert res.meets_budget or len(res.repairs) == 12 or at_cheapest, (res.measured_ms, budget, res.repairs)
    assert 0.0 <= res.test_accuracy <= 1.0 and math.isfinite(res.val_accuracy)
    spec = EfficiencySpec(perf_ref=1.0, cost_ref=res.cost_ref_ms, cost_max=budget, cost_name="latency_ms")
    assert res.e_beta == pytest.approx(spec.score(res.test_accuracy, res.measured_ms))
    for layer, old, new in res.repairs:  # each repair switches to a cheaper table entry
        assert table.lookup(layer, new).median_ms < table.lookup(layer, old).median_ms


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(loss="ce"), "'loss' parameter of gradient_search"),
        (dict(budget_ms=-1.0), "'budget_ms'"),
        (dict(budget_ms=1e-6), "'budget_ms' parameter of gradient_search must be at least the fastest architecture"),
        (dict(epochs=-1), "'epochs'"),
        (dict(max_steps_per_epoch=0), "'max_steps_per_epoch'"),
        (dict(proxy="accuracy"), "'proxy'"),
    ],
)
def test_bad_arguments_are_named(setup, kw, match):
    space, data, table = setup
    args = dict(budget_ms=100.0, table=table, space=space, data=data, scale=1.0)
    args.update(kw)
    with pytest.raises(InputError, match=match):
        gradient_search(**args)


def test_bad_arguments_in_a_config_are_named_the_same(setup):
    space, data, table = setup
    cfg = GradientSearchConfig(budget_ms=100.0, scale=1.0, training=TrainingParams(epochs=-1))
    with pytest.raises(InputError, match="'epochs' parameter of gradient_search"):
        gradient_search(cfg, table=table, space=space, data=data)
    cfg = GradientSearchConfig(budget_ms=100.0, scale=1.0, loss_params=LossParams(proxy="accuracy"))
    with pytest.raises(InputError, match="'proxy'"):
        gradient_search(cfg, table=table, space=space, data=data)


def test_flat_keywords_fill_the_config_groups():
    cfg = GradientSearchConfig(budget_ms=2.0).with_options(
        loss="fbnet", beta2=4.0, fbnet_alpha=0.3, epochs=2, max_steps_per_epoch=5,
        threads=2, device="cpu", profile_max_time_s=0.1,
    )
    assert (cfg.budget_ms, cfg.loss, cfg.beta2) == (2.0, "fbnet", 4.0)
    assert cfg.loss_params == LossParams(fbnet_alpha=0.3)
    assert cfg.training == TrainingParams(epochs=2, max_steps_per_epoch=5)
    assert cfg.profile == ProfileOptions(device="cpu", threads=2, max_time_s=0.1, memory=False,
                                         cache=False)
    # the defaults are the function's former defaults; the base config is left alone
    base = GradientSearchConfig(budget_ms=2.0)
    assert base.profile == DEFAULT_PROFILE == ProfileOptions(
        device="cpu", threads=1, max_time_s=0.5, memory=False, cache=False)
    assert base.with_options() == base


def test_unknown_or_missing_keywords_are_type_errors():
    with pytest.raises(TypeError, match="budget_ms"):
        gradient_search(loss="e_beta")
    with pytest.raises(TypeError, match="profile_time"):
        gradient_search(budget_ms=1.0, profile_time=0.1)
