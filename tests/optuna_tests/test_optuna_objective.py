"""EfficiencyObjective: per-trial flow, what it records, skips, failures, modes."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState
from optuna_toys import Counter, size_objective, size_perf, size_spec

from effobj import EfficiencySpec, InputError
from effobj import record as K
from effobj.optuna import (
    EfficiencyObjective,
    TrialFailed,
    create_study,
    make_sampler,
    training_summary,
)
from effobj.record import Status, TrialRecord

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _run(objective, sizes, study=None, **study_kw):
    study = study or objective.create_study(storage=":memory:", **study_kw)
    for s in sizes:
        study.enqueue_trial({"size": s})
    study.optimize(objective, n_trials=len(sizes))
    return study


def test_trained_trial_records_everything():
    spec = size_spec(cost_max=6.0, perf_min=0.5)
    obj = size_objective(spec)
    study = _run(obj, [4])
    t = study.trials[0]
    ua = t.user_attrs
    perf = size_perf(4)
    a, c = spec.normalize(perf, {"size": 4.0})
    assert t.state == TrialState.COMPLETE
    assert t.value == pytest.approx(spec.score(perf, {"size": 4.0}))
    assert ua[K.PERF] == perf and ua[K.A] == pytest.approx(a) and ua[K.C] == pytest.approx(c)
    assert ua[K.E_BETA] == pytest.approx(t.value)
    assert ua[K.TRAINED] is True and ua[K.STATUS] == Status.TRAINED
    assert ua["size"] == 4.0 and ua["other"] == 8.0  # every indicator by name
    assert ua[K.UPPER_BOUND] == pytest.approx(spec.upper_bound({"size": 4.0}))
    assert 0.0 <= ua[K.OVERHEAD_S] < 1.0
    # every gate of the spec as an Optuna constraint, in the spec's units: by name in the
    # user_attrs, as the list Optuna's samplers and optuna-dashboard read in system_attrs
    expected = spec.constraints(perf, {"size": 4.0})
    assert ua[K.CONSTRAINTS] == pytest.approx(expected)
    assert list(ua[K.CONSTRAINTS]) == list(obj.constraint_names) == ["perf_min", "size_max"]
    assert t.system_attrs["constraints"] == pytest.approx([expected[n] for n in obj.constraint_names])
    assert t.constraints == pytest.approx({"0": expected["perf_min"], "1": expected["size_max"]})
    assert not any(k.startswith("constraints:") for k in t.system_attrs)  # not counted twice


def test_over_budget_is_pruned_without_a_value_and_never_trained():
    spec = size_spec(cost_max=5.0)
    ev = Counter()
    obj = size_objective(spec, ev)
    study = _run(obj, [7, 3, 9])
    assert ev.calls == [3]
    over = [t for t in study.trials if t.params["size"] > 5]
    for t in over:
        assert t.state == TrialState.PRUNED and t.values is None
        assert t.user_attrs[K.TRAINED] is False
        assert t.user_attrs[K.STATUS] == Status.OVER_BUDGET
        assert t.user_attrs[K.E_BETA] == 0.0 and t.user_attrs[K.PERF] is None
        assert t.user_attrs[K.CONSTRAINTS]["size_max"] == pytest.approx((t.params["size"] - 5.0) / 10.0)
        assert f"size {t.params['size']} > max 5" in t.user_attrs[K.SKIP_REASON]
    assert study.best_trial.params == {"size": 3}
    summary = training_summary(study)
    assert (summary.n_trained, summary.n_over_budget, summary.trainings_avoided) == (1, 2, 2)


def test_over_budget_complete_option_keeps_the_old_form():
    ev = Counter()
    obj = size_objective(size_spec(cost_max=5.0), ev, over_budget="complete")
    study = _run(obj, [8])
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE and t.value == 0.0 and ev.calls == []
    assert t.user_attrs[K.CONSTRAINTS]["size_max"] > 0 and t.user_attrs[K.STATUS] == Status.OVER_BUDGET


@pytest.mark.parametrize("form", ["prune", "complete"])
def test_hopeless_candidate_is_recorded_with_its_bound_and_not_trained(form):
    """``hopeless="prune"`` (the default): PRUNED with no value (nothing was measured),
    the bound in the user_attrs; ``"complete"`` (effobj before 0.3): COMPLETE at the
    bound. Both read the same everywhere effobj reads a record."""
    spec = size_spec()
    ev = Counter()
    obj = size_objective(spec, ev, **({} if form == "prune" else {"hopeless": form}))
    study = _run(obj, [3, 8, 2])
    incumbent = spec.score(size_perf(3), {"size": 3.0})
    bound8 = spec.upper_bound({"size": 8.0})
    assert bound8 < incumbent  # the premise of the test
    assert ev.calls == [3, 2]  # 8 was not trained; 2 could still win (and it does)
    t8 = study.trials[1]
    if form == "prune":
        assert t8.state == TrialState.PRUNED
        assert t8.value is None and t8.values is None and t8.intermediate_values == {}
        assert all(v <= 0 for v in t8.constraints.values())  # feasible: not a violation
        assert "no value recorded" in t8.user_attrs[K.SKIP_REASON]
    else:
        assert t8.state == TrialState.COMPLETE
        assert t8.value == pytest.approx(bound8)  # optimistic, never above the truth
        assert t8.value >= spec.score(size_perf(8), {"size": 8.0})
    ua = t8.user_attrs
    assert ua[K.UPPER_BOUND] == pytest.approx(bound8)
    assert ua.get(K.STOP_PREDICTION) is None  # never taken for a stopped training
    assert ua[K.TRAINED] is False and ua[K.STATUS] == Status.HOPELESS
    assert ua[K.E_BETA] is None and ua[K.PERF] is None
    assert ua[K.INCUMBENT] == pytest.approx(incumbent)
    assert "hopeless" in ua[K.SKIP_REASON]
    assert study.best_trial.params == {"size": 2}  # a hopeless trial is never the best
    assert study.best_trial.user_attrs[K.TRAINED] is True
    assert training_summary(study).n_hopeless == 1


def test_skip_hopeless_off_and_tolerance():
    ev = Counter()
    _run(size_objective(size_spec(), ev, skip_hopeless=False), [3, 8])
    assert ev.calls == [3, 8]
    ev = Counter()
    # a tolerance larger than the gap trains the borderline candidate
    _run(size_objective(size_spec(), ev, hopeless_tolerance=0.6), [3, 8])
    assert ev.calls == [3, 8]


def test_incumbent_from_other_workers_is_read_on_refresh():
    """Two objectives on one study stand for two workers; the incumbent may lag, never lead."""
    spec = size_spec()
    study = size_objective(spec).create_study(storage=":memory:")
    worker_a = size_objective(spec, Counter())
    ev_b = Counter()
    worker_b = size_objective(spec, ev_b, incumbent_refresh_s=1e9)  # reads once
    study.enqueue_trial({"size": 9})
    study.optimize(worker_b, n_trials=1)  # B reads the (empty) incumbent now
    study.enqueue_trial({"size": 3})
    study.optimize(worker_a, n_trials=1)  # A finds E = 0.82
    study.enqueue_trial({"size": 8})
    study.optimize(worker_b, n_trials=1)  # B has not re-read: trains size 8 (safe side)
    assert ev_b.calls == [9, 8]
    ev_c = Counter()
    worker_c = size_objective(spec, ev_c, incumbent_refresh_s=0.0)
    study.enqueue_trial({"size": 8})
    study.optimize(worker_c, n_trials=1)  # C reads the storage: size 8 is hopeless
    assert ev_c.calls == []
    assert study.trials[-1].user_attrs[K.STATUS] == Status.HOPELESS


@pytest.mark.parametrize(
    "name", ["tpe", "nsga2", "random", pytest.param("gp", marks=pytest.mark.slow)]
)
def test_every_sampler_runs_with_the_recorded_constraints(name):
    spec = size_spec(cost_max=6.0, perf_min=0.75)
    # GP fits a torch model per trial (seconds here): few start-up trials, few trials
    sampler = (
        optuna.samplers.GPSampler(seed=1, n_startup_trials=3)
        if name == "gp"
        else make_sampler(name, seed=1)
    )
    obj = size_objective(spec)
    study = obj.create_study(storage=":memory:", sampler=sampler)
    n = 5 if name == "gp" else 12
    study.optimize(obj, n_trials=n)
    assert len(study.trials) == n
    # COMPLETE, but the hopeless and over-budget ones: PRUNED without a value
    for t in study.trials:
        unmeasured = t.user_attrs[K.STATUS] in (Status.HOPELESS, Status.OVER_BUDGET)
        assert t.state == (TrialState.PRUNED if unmeasured else TrialState.COMPLETE)
    # same count, same order everywhere (GPSampler stacks them), named in the user_attrs
    assert {tuple(t.constraints) for t in study.trials} == {("0", "1")}
    assert {tuple(t.user_attrs[K.CONSTRAINTS]) for t in study.trials} == {("perf_min", "size_max")}
    assert study.best_trial.user_attrs[K.TRAINED] is True


@pytest.mark.parametrize("stage", ["build", "measure", "evaluate"])
def test_failing_stage_fails_the_trial_and_the_study_goes_on(stage):
    def boom(*a, **k):
        raise RuntimeError(f"{stage} exploded")

    kw = {
        "build": lambda t: t.suggest_int("size", 1, 9),
        "evaluate": lambda s, t: size_perf(s),
        "measure": lambda s: {"size": float(s)},
    }
    kw[stage] = boom
    obj = EfficiencyObjective(size_spec(), **kw)
    study = obj.create_study(storage=":memory:")
    study.optimize(obj, n_trials=3)  # no exception escapes
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3
    reason = study.trials[0].user_attrs[K.FAIL_REASON]
    assert reason.startswith(f"{stage} failed: RuntimeError") and "exploded" in reason
    assert study.trials[0].system_attrs["fail_reason"] == reason
    assert study.trials[0].user_attrs[K.TRAINED] is (stage == "evaluate")


def test_on_error_raise():
    obj = EfficiencyObjective(
        size_spec(),
        build=lambda t: t.suggest_int("size", 1, 9),
        evaluate=lambda s, t: 1 / 0,
        measure=lambda s: {"size": float(s)},
        on_error="raise",
    )
    study = obj.create_study(storage=":memory:")
    with pytest.raises(TrialFailed, match="evaluate failed: ZeroDivisionError"):
        study.optimize(obj, n_trials=1)
    assert study.trials[0].state == TrialState.FAIL


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.9", None])
def test_non_finite_performance_fails_the_trial(bad):
    obj = size_objective(evaluate=lambda s, t: bad)
    study = _run(obj, [3])
    t = study.trials[0]
    assert t.state == TrialState.FAIL
    assert K.E_BETA not in t.user_attrs
    assert "finite number" in t.user_attrs[K.FAIL_REASON]


def test_non_finite_performance_reported_during_training_fails_the_trial():
    def ev(size, trial, report):
        report(0, 0.5)
        report(1, math.nan)
        return 0.9

    study = _run(size_objective(evaluate=ev), [3])
    assert study.trials[0].state == TrialState.FAIL
    reason = study.trials[0].user_attrs[K.FAIL_REASON]
    assert "'perf' parameter of report_epoch must be a float in the range (-inf, inf). Got nan" in reason


def test_missing_or_bad_cost_indicator_fails_with_its_name():
    obj = EfficiencyObjective(
        size_spec(),
        build=lambda t: t.suggest_int("size", 1, 9),
        evaluate=lambda s, t: 0.5,
        measure=lambda s: {"latency_ms": 1.0},
    )
    study = obj.create_study(storage=":memory:")
    # the first measurement lacks the indicator: a configuration error stops the study
    with pytest.raises(InputError, match=r"\['size'\] are not among .*\['latency_ms'\]"):
        study.optimize(obj, n_trials=3)
    assert len(study.trials) == 1 and study.trials[0].state == TrialState.FAIL
    assert "['size']" in study.trials[0].user_attrs[K.FAIL_REASON]
    obj.measure = lambda s: {"size": float(s)} if s != 5 else {"latency_ms": 1.0}
    study.enqueue_trial({"size": 4})
    study.enqueue_trial({"size": 5})  # after a good first measurement: this trial only
    study.optimize(obj, n_trials=2)
    assert study.trials[2].state == TrialState.FAIL
    assert "['size']" in study.trials[2].user_attrs[K.FAIL_REASON]
    for n, bad in enumerate([-1.0, float("nan"), float("inf")], start=3):
        obj.measure = lambda s, bad=bad: {"size": bad}
        study.enqueue_trial({"size": 3 + n})  # 6, 7, 8: not measured (and kept) before
        study.optimize(obj, n_trials=1)
        reason = study.trials[n].user_attrs[K.FAIL_REASON]
        assert "'size' must be a finite number >= 0" in reason


def test_per_epoch_reports_feed_optunas_pruners():
    ev = Counter(epochs=4)
    obj = size_objective(size_spec(), ev, skip_hopeless=False)
    # stop any training whose E_beta is below 0.3 after an epoch
    study = obj.create_study(storage=":memory:", pruner=optuna.pruners.ThresholdPruner(lower=0.3))
    for s in (3, 9):
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=2)
    t3, t9 = study.trials
    spec = size_spec()
    assert t3.state == TrialState.COMPLETE
    assert t3.intermediate_values == pytest.approx(
        {e: spec.score(size_perf(3) * (e + 1) / 4, {"size": 3.0}) for e in range(4)}
    )
    assert t9.state == TrialState.PRUNED
    assert t9.user_attrs[K.TRAINED] is True and t9.user_attrs[K.STATUS] == Status.PRUNED
    assert t9.user_attrs[K.EPOCHS_RUN] == 1
    assert t9.constraints  # recorded for the sampler too


def test_evaluate_may_return_a_mapping_or_a_result_object():
    class Result:
        perf = 0.8
        test_perf = 0.75
        epochs_run = 3
        train_flops = 1e6

    study = _run(size_objective(evaluate=lambda s, t: Result()), [3])
    ua = study.trials[0].user_attrs
    assert (ua[K.PERF], ua[K.TEST_PERF], ua[K.EPOCHS_RUN], ua[K.TRAIN_FLOPS]) == (0.8, 0.75, 3, 1e6)
    study = _run(size_objective(evaluate=lambda s, t: {"perf": 0.7, "test_perf": 0.6}), [3])
    assert study.trials[0].user_attrs[K.TEST_PERF] == 0.6
    study = _run(size_objective(evaluate=lambda s, t: {"accuracy": 0.7}), [3])
    assert "'perf'" in study.trials[0].user_attrs[K.FAIL_REASON]


def test_multi_objective_mode():
    spec = EfficiencySpec(
        beta2=1.0,
        perf_ref=1.0,
        costs=[
            {"name": "size", "ref": 10.0, "max": 6.0},
            {"name": "other", "ref": 40.0, "max": 30.0, "weight": 0.0},
        ],
    )
    ev = Counter()
    obj = size_objective(spec, ev, mode="multi")
    assert obj.directions == ["maximize", "minimize"]  # weight-0 costs are budgets only
    assert obj.metric_names == ["perf", "size"]
    study = obj.create_study(storage=":memory:", sampler="nsga2", seed=0)
    assert study.metric_names == ["perf", "size"]
    for s in (3, 8):
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=10)
    t3, t8 = study.trials[:2]
    assert t3.values == [size_perf(3), 3.0]
    assert t3.user_attrs[K.E_BETA] == pytest.approx(spec.score(size_perf(3), {"size": 3.0,
                                                                             "other": 6.0}))
    # over budget: no value (a perf of 0 was never measured), PRUNED
    assert t8.values is None and t8.state == TrialState.PRUNED
    assert t8.user_attrs[K.STATUS] == Status.OVER_BUDGET and t8.user_attrs[K.PERF] is None
    assert set(t8.user_attrs[K.CONSTRAINTS]) == {"size_max", "other_max"}
    assert len(t8.constraints) == 2
    assert 8 not in ev.calls and all(s <= 6 for s in ev.calls)
    assert all(t.user_attrs[K.TRAINED] for t in study.best_trials)


def test_keyboard_interrupt_records_the_trial_and_propagates():
    def ev(size, trial):
        raise KeyboardInterrupt

    obj = size_objective(evaluate=ev)
    study = obj.create_study(storage=":memory:")
    with pytest.raises(KeyboardInterrupt):
        study.optimize(obj, n_trials=3)
    assert len(study.trials) == 1
    t = study.trials[0]
    assert t.state == TrialState.FAIL and t.user_attrs[K.STATUS] == Status.INTERRUPTED


BAD_ARGS = [
    ({"mode": "pareto"}, InputError, "'mode' parameter of EfficiencyObjective"),
    ({"over_budget": "drop"}, InputError, "'over_budget'"),
    ({"on_error": "ignore"}, InputError, "'on_error'"),
    ({"hopeless_tolerance": -0.1}, InputError, "'hopeless_tolerance'"),
    ({"hopeless_tolerance": math.nan}, InputError, "'hopeless_tolerance'"),
    ({"skip_hopeless": "yes"}, TypeError, "'skip_hopeless'"),
    ({"incumbent_refresh_s": -1.0}, InputError, "'incumbent_refresh_s'"),
    ({"profiler": object()}, TypeError, "'profiler'"),
    ({"measure": 3}, TypeError, "'measure'"),
]


@pytest.mark.parametrize(("kw", "exc", "match"), BAD_ARGS)
def test_bad_arguments_are_rejected_before_any_trial(kw, exc, match):
    base = {
        "build": lambda t: 1,
        "evaluate": lambda c, t: 0.5,
        "measure": lambda c: {"size": 1.0},
    }
    base.update(kw)
    with pytest.raises(exc, match=match):
        EfficiencyObjective(size_spec(), **base)


def test_bad_spec_or_callables_are_rejected():
    with pytest.raises(InputError, match="beta2"):
        size_spec(beta2=-1.0)  # the spec validates itself before any study exists
    with pytest.raises(TypeError, match="'spec' parameter of EfficiencyObjective"):
        EfficiencyObjective({"beta2": 1}, lambda t: 1, lambda c, t: 1, measure=lambda c: {})
    with pytest.raises(TypeError, match="'build'"):
        EfficiencyObjective(size_spec(), None, lambda c, t: 1, measure=lambda c: {})
    with pytest.raises(InputError, match="'example_inputs'"):
        EfficiencyObjective(size_spec(), lambda t: 1, lambda c, t: 1)
    with pytest.raises(TypeError, match="'spec' parameter of create_study"):
        create_study({"beta2": 1.0}, storage=":memory:")
    with pytest.raises(InputError, match="'mode' parameter of create_study"):
        create_study(size_spec(), mode="both", storage=":memory:")


def test_real_torch_model_profiled_before_training():
    """The default path: build an nn.Module, profile it with effobj's profiler, train it."""
    import torch
    from sklearn.datasets import load_breast_cancer

    from effobj.profiler import LocalProfiler

    x, y = load_breast_cancer(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    xt, yt, xv, yv = x[:400], y[:400], x[400:], y[400:]

    def build(trial):
        width = trial.suggest_categorical("width", [4, 64, 512])
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(30, width), torch.nn.ReLU(), torch.nn.Linear(width, 2)
        )

    trained = []

    def evaluate(model, trial, report):
        trained.append(model[0].out_features)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for epoch in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
            with torch.no_grad():
                acc = (model(xv).argmax(1) == yv).float().mean().item()
            report(epoch, acc)
        return acc

    # budget: 20k MACs per sample; width 512 has 16.4k... 30*512+512*2 = 16,384 MACs? no:
    # widths 4 / 64 / 512 -> 128 / 2,048 / 16,384 MACs; the budget 10k excludes 512
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=20_000, cost_max=10_000,
                          cost_name="macs")
    obj = EfficiencyObjective(spec, build, evaluate, torch.zeros(1, 30),
                              profiler=LocalProfiler(latency=False, memory=False))
    study = obj.create_study(storage=":memory:")
    for w in (512, 64, 4):
        study.enqueue_trial({"width": w})
    study.optimize(obj, n_trials=3)
    assert trained == [64, 4]  # the over-budget model never trained
    t512, t64, _ = study.trials
    assert t512.user_attrs["macs"] == 30 * 512 + 512 * 2
    assert t512.user_attrs[K.STATUS] == Status.OVER_BUDGET
    assert t64.user_attrs["n_params"] == 30 * 64 + 64 + 64 * 2 + 2
    assert "params" not in t64.user_attrs  # Optuna's params are the hyper-parameters
    # the full report: in the system_attrs, out of the user_attrs tables print
    assert K.COST_REPORT not in t64.user_attrs
    assert t64.system_attrs["effobj:cost_report"]["macs"] == t64.user_attrs["macs"]
    assert TrialRecord.from_trial(t64).cost_report["n_params"] == t64.user_attrs["n_params"]
    assert len(t64.intermediate_values) == 3
    assert 0.5 < t64.user_attrs[K.PERF] <= 1.0


def test_fixed_trial_runs_the_objective_outside_a_study():
    """optuna.trial.FixedTrial: debug one candidate without a study."""
    obj = size_objective(size_spec(cost_max=6.0))
    assert obj(optuna.trial.FixedTrial({"size": 3})) == pytest.approx(
        size_spec(cost_max=6.0).score(size_perf(3), {"size": 3.0})
    )
    with pytest.raises(optuna.TrialPruned, match="over budget"):  # no value was measured
        obj(optuna.trial.FixedTrial({"size": 8}))
    over = size_objective(size_spec(cost_max=6.0), over_budget="complete")
    assert over(optuna.trial.FixedTrial({"size": 8})) == 0.0  # the old form's value


def test_cli_modules_import_neither_optuna_nor_torch():
    import subprocess
    import sys

    code = (
        "import argparse, sys, effobj.cli.search, effobj.cli.best\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "effobj.cli.search.add_parser(sub); effobj.cli.best.add_parser(sub)\n"
        "print(sorted(m for m in ('optuna', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_refused_measurement_is_not_cached_for_the_same_candidate():
    """The identity cache keeps only measurements the spec accepts: a fixed measure counts."""
    obj = EfficiencyObjective(size_spec(), build=lambda t: t.suggest_int("size", 1, 9),
                              evaluate=lambda s, t: 0.5, measure=lambda s: {"latency_ms": 1.0})
    study = obj.create_study(storage=":memory:")
    study.enqueue_trial({"size": 4})
    with pytest.raises(InputError, match="not among those the measure function provides"):
        study.optimize(obj, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    obj.measure = lambda s: {"size": float(s)}
    study.enqueue_trial({"size": 4})  # the same candidate, measured again
    study.optimize(obj, n_trials=1)
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE
    assert study.trials[1].user_attrs["size"] == 4.0


@pytest.mark.parametrize("runner", ["study.optimize", "effobj.optimize"])
def test_a_misnamed_indicator_stops_the_study_at_the_first_trial(runner):
    """The user's own build with the real profiler and cost_name "latency" (the profiler's
    indicator is "latency_ms"): one InputError naming it and the available ones, no loop of
    failed trials and no "The value nan is not acceptable"."""
    import torch

    from effobj.optuna import optimize
    from effobj.profiler import LocalProfiler

    built = []

    def build(trial):
        built.append(trial.number)
        return torch.nn.Linear(8, trial.suggest_int("width", 2, 16))

    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=2.0, cost_max=1.0,
                          cost_name="latency")
    obj = EfficiencyObjective(spec, build, lambda m, t: 0.5, torch.zeros(1, 8),
                              profiler=LocalProfiler(latency=False, memory=False))
    study = obj.create_study(storage=":memory:")
    with pytest.raises(InputError) as info:
        if runner == "study.optimize":
            study.optimize(obj, n_trials=5)
        else:
            optimize(study, obj, n_trials=5)
    msg = str(info.value)
    assert "['latency'] are not among those the profiler's CostReport.indicators()" in msg
    assert "'macs'" in msg and "'n_params'" in msg
    assert built == [0]  # stopped at the first trial
    (t,) = study.trials
    assert t.state == TrialState.FAIL and "['latency']" in t.user_attrs[K.FAIL_REASON]


_IDENT_SPEC = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=100.0, cost_name="cost")


@pytest.mark.parametrize("ident", [None, "", 3])
def test_an_identity_that_is_not_a_non_empty_string_stops_the_study_by_name(ident):
    obj = EfficiencyObjective(_IDENT_SPEC, lambda t: t.suggest_int("size", 10, 20),
                              lambda s, t: 0.5, measure=lambda s: {"cost": float(s)},
                              identity=lambda s: ident)
    study = obj.create_study(storage=":memory:")
    with pytest.raises(InputError, match="'identity' parameter of EfficiencyObjective must "
                                         "return a non-empty string"):
        study.optimize(obj, n_trials=3)
    assert len(study.trials) == 1 and "identity" in study.trials[0].user_attrs[K.FAIL_REASON]
