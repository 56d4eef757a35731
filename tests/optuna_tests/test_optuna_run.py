"""optimize(): study-size budget, resuming after Ctrl-C, the training budget; the pruner."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from optuna_toys import Counter, size_objective, size_perf, size_spec

from effobj import InputError
from effobj.optuna import (
    IncumbentPruner,
    MaxTrainingsCallback,
    Status,
    optimize,
    requeue_interrupted,
    training_summary,
)
from effobj.optuna import attrs as K

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_optimize_tops_the_study_up_to_n_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    obj = size_objective(size_spec(cost_max=6.0))
    study = obj.create_study(storage=url, study_name="r", sampler="random", seed=0)
    s1 = optimize(study, obj, 4)
    assert s1.n_complete + s1.n_pruned == 4
    study2 = obj.create_study(storage=url, study_name="r", sampler="random", seed=1)
    s2 = optimize(study2, obj, 7)  # a second session adds 3, not 7
    assert s2.n_complete + s2.n_pruned == 7 and len(study2.trials) == 7
    assert optimize(study2, obj, 7).n_trials == 7  # nothing left to do


def test_failed_trials_do_not_loop_forever():
    obj = size_objective(evaluate=lambda s, t: float("nan"))
    study = obj.create_study(storage=":memory:")
    summary = optimize(study, obj, 3)
    assert summary.n_failed == 3 and summary.n_complete == 0


def test_ctrl_c_leaves_a_consistent_study_that_resumes_with_the_same_candidate(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    calls = []

    def ev(size, trial):
        calls.append(size)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third training
        return size_perf(size)

    obj = size_objective(evaluate=ev, skip_hopeless=False)
    study = obj.create_study(storage=url, study_name="k", sampler="random", seed=0)
    with pytest.raises(KeyboardInterrupt):
        optimize(study, obj, 6)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL]
    interrupted = trials[2]
    assert interrupted.user_attrs[K.STATUS] == Status.INTERRUPTED
    # resume: the interrupted candidate runs first, once, then the study tops up to 6
    resumed = obj.create_study(storage=url, study_name="k", sampler="random", seed=0)
    summary = optimize(resumed, obj, 6)
    trials = resumed.get_trials()
    assert summary.n_complete == 6 and summary.n_failed == 1
    retry = [t for t in trials if t.user_attrs.get(K.RETRY_OF) == interrupted.number]
    assert len(retry) == 1 and retry[0].params == interrupted.params
    assert retry[0].state == TrialState.COMPLETE
    assert requeue_interrupted(resumed) == []  # never queued twice
    assert len(resumed.trials) == 7


def test_max_trainings_counts_only_trained_candidates():
    ev = Counter()
    obj = size_objective(size_spec(cost_max=4.0), ev, skip_hopeless=False)
    study = obj.create_study(storage=":memory:")
    for s in (9, 8, 2, 7, 3, 1, 4):
        study.enqueue_trial({"size": s})
    summary = optimize(study, obj, 50, max_trainings=3)
    assert ev.calls == [2, 3, 1]
    assert summary.n_trained == 3 and summary.n_over_budget == 3
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 6 + [TrialState.WAITING]  # size 4 never ran
    with pytest.raises(InputError, match="'max_trainings'"):
        MaxTrainingsCallback(0)


def test_progress_bar_and_summary(capsys):
    obj = size_objective(size_spec(cost_max=6.0))
    study = obj.create_study(storage=":memory:", sampler="random", seed=3)
    summary = optimize(study, obj, 10, progress_bar=True)
    err = capsys.readouterr().err
    assert "10/10" in err and "best_e=" in err
    assert summary == training_summary(study)
    text = str(summary)
    assert f"{summary.n_trained} trained" in text and "trainings avoided" in text
    assert summary.trainings_avoided == summary.n_over_budget + summary.n_hopeless
    assert summary.n_trained + summary.trainings_avoided == 10
    assert summary.to_dict()["n_trials"] == 10


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"n_trials": -1}, "'n_trials'"), ({"n_trials": 3, "timeout": 0}, "'timeout'")],
)
def test_optimize_bad_arguments(kw, match):
    obj = size_objective()
    with pytest.raises(InputError, match=match):
        optimize(obj.create_study(storage=":memory:"), obj, **kw)


def test_incumbent_pruner_stops_trainings_that_cannot_win():
    spec = size_spec()
    ev = Counter(epochs=3)
    # every candidate's performance tops out at 0.9: the pruner learns that from the study
    ev.perf = lambda s: 0.9
    pruner = IncumbentPruner(spec, slack=0.0, min_trained=2)
    obj = size_objective(spec, ev, skip_hopeless=False)
    study = obj.create_study(storage=":memory:", pruner=pruner)
    for s in (2, 3, 6, 1):
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=4)
    t2, t3, t6, t1 = study.trials
    assert t2.state == t3.state == TrialState.COMPLETE  # fewer than min_trained before
    # size 6 at A <= 0.9 scores at most E(0.9, 0.6) < E(0.9, 0.2): stopped after epoch 0
    assert t6.state == TrialState.PRUNED and t6.user_attrs[K.EPOCHS_RUN] == 1
    assert t6.user_attrs[K.TRAINED] is True
    # size 1 can beat the incumbent (size 2): trained to the end
    assert t1.state == TrialState.COMPLETE and len(t1.intermediate_values) == 3
    assert pruner.n_pruned == 1
    # slack 0 assumes A <= 0.9 (the best seen); slack 1 allows A = 1, the exact bound.
    # The incumbent is now size 1: E(0.9, 0.1) = 0.9. At C = 0.15,
    # E(0.9, C) = 0.874 < 0.9 < E(1, C) = 0.919
    running = optuna.trial.create_trial(
        state=TrialState.PRUNED, value=None, intermediate_values={0: 0.1},
        user_attrs={K.C: 0.15},
    )
    assert IncumbentPruner(spec, slack=0.0, min_trained=0).prune(study, running)
    assert not IncumbentPruner(spec, slack=1.0, min_trained=0).prune(study, running)
    assert IncumbentPruner(spec, slack=1.0, min_trained=0).prune(study, t6)  # E(1, 0.6) = 0.57


def test_incumbent_pruner_wraps_another_pruner_and_validates():
    spec = size_spec()
    ev = Counter(epochs=2)
    pruner = IncumbentPruner(spec, wrapped=optuna.pruners.ThresholdPruner(lower=0.5))
    obj = size_objective(spec, ev, skip_hopeless=False)
    study = obj.create_study(storage=":memory:", pruner=pruner)
    study.enqueue_trial({"size": 8})
    study.optimize(obj, n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED  # the wrapped threshold said so
    for kw, exc, match in [
        ({"slack": -0.1}, InputError, "'slack'"),
        ({"slack": 2}, InputError, "'slack'"),
        ({"min_trained": -1}, InputError, "'min_trained'"),
        ({"wrapped": "median"}, TypeError, "'wrapped'"),
    ]:
        with pytest.raises(exc, match=match):
            IncumbentPruner(spec, **kw)
    with pytest.raises(TypeError, match="'spec'"):
        IncumbentPruner({"beta2": 1.0})


def test_ctrl_c_outside_the_objective_leaves_no_running_trial():
    """A Ctrl-C inside Optuna's own `tell` (after the objective returned) would leave the
    trial RUNNING; optimize() records it as interrupted and FAIL, then re-raises."""

    class InterruptedWhileTold:
        def __float__(self):  # Optuna converts the value in `tell`: Ctrl-C lands there
            raise KeyboardInterrupt

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    with pytest.raises(KeyboardInterrupt):
        optimize(study, lambda t: InterruptedWhileTold(), 3)
    (t,) = study.trials
    assert t.state == TrialState.FAIL
    assert t.user_attrs[K.STATUS] == Status.INTERRUPTED
    # ...and a resumed run re-queues it like any interrupted trial (here: no params)
    assert optimize(study, lambda t: 0.5, 2).n_complete == 2
