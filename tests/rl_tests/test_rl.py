"""REINFORCE with the E_beta reward: baseline, controller, plain loop and Optuna-recorded runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import effobj.spaces
from effobj import EfficiencySpec, mnasnet_reward
from effobj import record as K
from effobj.errors import InputError
from effobj.optuna import create_study
from effobj.rerank import best_trials
from effobj.rl import (
    Controller,
    EBetaReward,
    MnasNetReward,
    MovingAverageBaseline,
    Reinforce,
    reinforce_search,
    run_reinforce,
)

SPEC = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_max=5.0, cost_name="ms")


def test_baseline_is_the_previous_average_and_normalizes():
    bl = MovingAverageBaseline(decay=0.5)
    assert bl([0.0, 1.0]).tolist() == [-1.0, 1.0]
    assert bl.mean == 0.5
    adv = bl([2.0])  # baseline 0.5 from before the batch, scale sqrt(0.25)
    assert adv.tolist() == [3.0]
    raw = MovingAverageBaseline(decay=0.5, normalize=False)
    raw([1.0, 3.0])
    assert raw([4.0]).tolist() == [2.0]
    clipped = MovingAverageBaseline(clip=2.0)
    clipped([0.0, 0.0])
    assert clipped([1.0]).tolist() == [2.0]  # zero spread so far: clipped, not infinite
    with pytest.raises(InputError, match="'rewards' parameter of MovingAverageBaseline"):
        bl([float("nan")])
    with pytest.raises(InputError, match="'decay'"):
        MovingAverageBaseline(decay=1.0)


def test_rewards_match_the_metric_and_mnasnet():
    perf = np.array([0.9, 0.8, 0.7])
    ms = np.array([2.0, 6.0, 4.0])
    hard = EBetaReward(SPEC)(perf, {"ms": ms})
    assert np.allclose(hard, SPEC.score(perf, ms))
    soft = EBetaReward(SPEC, smooth=True, temperature=0.05)(perf, {"ms": ms})
    assert soft[1] < 0.0 < soft[2] and np.allclose(soft, SPEC.soft_score(perf, ms, temperature=0.05))
    assert EBetaReward(SPEC, smooth=True, temperature=0.05)(None, {"ms": 8.0}) == pytest.approx(-0.05 * 0.3)
    with pytest.raises(InputError, match="may be None only for a candidate over a budget"):
        EBetaReward(SPEC)(None, {"ms": 1.0})
    m = MnasNetReward("ms", 5.0, mode="hard")
    assert m(0.9, {"ms": 10.0}) == pytest.approx(mnasnet_reward(0.9, 10.0, 5.0, mode="hard"))
    assert m(None, {"ms": 10.0}) == 0.0
    with pytest.raises(InputError, match="must include 'ms'"):
        m(0.9, {"latency": 1.0})


def test_controller_distribution_and_errors():
    for policy in ("lstm", "factorized"):
        ctl = Controller([3, 1, 5], policy=policy)
        acts, logp, ent = ctl(64)
        assert acts.shape == (64, 3) and (acts[:, 1] == 0).all() and (acts[:, 2] < 5).all()
        assert torch.allclose(ctl(64, actions=acts)[1], logp)
        # near uniform at start: entropy close to log 3 + log 5
        assert ent.mean().item() == pytest.approx(np.log(3) + np.log(5), rel=0.05)
    with pytest.raises(InputError, match="'choices' parameter of Controller"):
        Controller([2, 0])
    with pytest.raises(InputError, match="'policy'"):
        Controller([2], policy="gru")
    agent = Reinforce([2, 2], batch_size=2)
    with pytest.raises(InputError, match="before ask"):
        agent.tell([1.0, 2.0])
    agent.ask()
    with pytest.raises(InputError, match="one reward per asked architecture \\(2\\)"):
        agent.tell([1.0])


@pytest.mark.parametrize("policy", ["lstm", "factorized"])
def test_reinforce_learns_a_toy_reward(policy):
    torch.set_num_threads(1)
    hist = reinforce_search([5, 5, 5], lambda a: (a == 4).mean(1), 800, seed=1, lr=0.02, policy=policy)
    first, last = np.mean(hist.rewards[:40]), np.mean(hist.rewards[-40:])
    assert last > first + 0.3
    assert hist.greedy == [4, 4, 4]
    assert len(hist.rewards) == 800 and hist.best_so_far()[-1] == 1.0


def test_run_reinforce_records_trials_like_a_search():
    space = effobj.spaces.get("nas-bench-graph:cora")
    a = space.arrays()
    spec = EfficiencySpec(perf_ref=float(a["perf"].max()), cost_ref=float(a["latency"].max()),
                          cost_max=float(np.quantile(a["latency"], 0.3)), cost_name="latency")
    study = create_study(spec, storage=":memory:", study_name="rl")
    hist = run_reinforce(space, spec, study=study, n_samples=10, seed=0, batch_size=5,
                         reward="soft_e_beta", temperature=0.05)
    trials = study.trials
    assert len(trials) == 10 and hist.trial_numbers == [t.number for t in trials]
    for t, r in zip(trials, hist.rewards, strict=True):
        assert t.user_attrs["effobj_method"] == "reinforce"
        assert t.user_attrs[K.STATUS] in (K.Status.TRAINED, K.Status.OVER_BUDGET)
        costs = {"latency": t.user_attrs["latency"]}
        perf = t.user_attrs.get(K.PERF)
        assert r == pytest.approx(EBetaReward(spec, smooth=True, temperature=0.05)(perf, costs))
        # the recorded architecture is the one sampled, with the table's own numbers
        assert t.user_attrs["latency"] == pytest.approx(space.lookup(t.params)["latency"])
    best = best_trials(study, spec)[0]
    assert best.e_beta == max(t.user_attrs[K.E_BETA] for t in trials)
    with pytest.raises(InputError, match="'reward' parameter of run_reinforce"):
        run_reinforce(space, spec, study=study, n_samples=1, reward="accuracy")
    with pytest.raises(InputError, match=r"'n_samples' parameter of run_reinforce must be an int in the range \[1, inf\). Got 0"):
        run_reinforce(space, spec, study=study, n_samples=0)
    # a library function takes the space object; only the command line resolves names
    with pytest.raises(InputError, match="'space' parameter of run_reinforce"):
        run_reinforce("nas-bench-graph:cora", spec, study=study, n_samples=1)
