"""optimize(): study-size budget, resuming after Ctrl-C, the training budget, other
workers' RUNNING trials (live, dead, unknowable), SIGTERM; the pruner."""

from __future__ import annotations

import json
import threading
import time
import warnings

import optuna
import pytest
from optuna.trial import TrialState
from optuna_toys import Counter, size_objective, size_perf, size_spec

from effobj import InputError
from effobj import record as K
from effobj.optuna import (
    IncumbentPruner,
    MaxTrainingsCallback,
    optimize,
    requeue_interrupted,
    resolve_storage,
    training_summary,
)
from effobj.optuna._run import STALE_ATTR
from effobj.record import Status

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
    # the interrupted trial is counted as interrupted, not as a failure
    assert summary.n_complete == 6 and summary.n_failed == 0 and summary.n_interrupted == 1
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
    states = [t.state for t in study.trials]  # over budget: PRUNED (nothing was measured)
    assert states == [TrialState.PRUNED] * 2 + [TrialState.COMPLETE] + [TrialState.PRUNED] \
        + [TrialState.COMPLETE] * 2 + [TrialState.WAITING]  # size 4 never ran
    with pytest.raises(InputError, match="'max_trainings'"):
        MaxTrainingsCallback(0)


def test_progress_bar_and_summary(capsys):
    obj = size_objective(size_spec(cost_max=6.0))
    study = obj.create_study(storage=":memory:", sampler="random", seed=3)
    summary = optimize(study, obj, 10, progress_bar=True)
    err = capsys.readouterr().err
    assert "10/10 finished" in err and "best E_beta" in err  # lines: stderr is no terminal here
    assert summary == training_summary(study)
    text = str(summary)
    assert f"{summary.n_trained} trained" in text and "trainings avoided" in text
    assert summary.trainings_avoided == (
        summary.n_over_budget + summary.n_hopeless + summary.n_repeats
    )
    assert summary.n_trained + summary.trainings_avoided == 10
    # a random sampler on 9 sizes repeats some: recorded, never trained twice
    trained = [t.params["size"] for t in study.trials if t.user_attrs.get("trained")]
    assert len(trained) == len(set(trained))
    assert summary.n_repeats == sum(t.user_attrs.get("status") == "repeat" for t in study.trials)
    assert summary.cost_lookups == len({t.params["size"] for t in study.trials})
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


def test_ctrl_c_inside_ask_before_the_objective_leaves_no_running_trial():
    """A Ctrl-C inside Optuna's `ask` (the trial exists, the objective never saw it) is
    found and ended as interrupted; the other RUNNING trial (another worker's) is left."""

    class CtrlCWhenAsked(optuna.samplers.RandomSampler):
        def before_trial(self, study, trial):  # Optuna calls it inside `ask`
            if trial.number == 2:
                raise KeyboardInterrupt

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(),
                                sampler=CtrlCWhenAsked(seed=0))
    study.ask()  # trial 0: another worker's, RUNNING
    with pytest.raises(KeyboardInterrupt):
        optimize(study, lambda t: t.suggest_float("x", 0, 1), 5)
    states = [t.state for t in study.trials]
    assert states == [TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL]
    assert study.trials[2].user_attrs[K.STATUS] == Status.INTERRUPTED


# ---------------------------------------------------------------- other workers' trials
def _hb_study(tmp_path, grace: int, name: str = "hb"):
    """An SQLite study whose storage beats every second, stale after ``grace`` seconds."""
    obj = size_objective(size_spec(cost_max=6.0), skip_hopeless=False)
    storage = resolve_storage(f"sqlite:///{tmp_path / 'hb.db'}", heartbeat_interval=1,
                              grace_period=grace)
    return obj, obj.create_study(storage=storage, study_name=name, sampler="random", seed=0)


def _other_workers_trial(study, beat: bool = True):
    """A RUNNING trial as another worker leaves it (one heartbeat, or none)."""
    with warnings.catch_warnings():  # "Heartbeat ... supposed to be used with optimize"
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    trial.suggest_int("size", 1, 9)
    if beat:
        study._storage.record_heartbeat(trial._trial_id)
    return trial


def test_optimize_waits_for_a_live_workers_trial_instead_of_ending_short(tmp_path):
    obj, study = _hb_study(tmp_path, grace=30)
    other = _other_workers_trial(study)
    done = threading.Event()

    def live_worker():  # beats, then finishes its trial after a while
        for _ in range(6):
            study._storage.record_heartbeat(other._trial_id)
            time.sleep(0.25)
        study.tell(other, 0.5)
        done.set()

    thread = threading.Thread(target=live_worker)
    thread.start()
    try:
        summary = optimize(study, obj, 3, timeout=60)
    finally:
        thread.join()
    assert done.is_set()
    # it waited for the live trial: the study holds 3 finished trials, none extra, no retry
    assert summary.n_complete + summary.n_pruned == 3 and summary.n_trials == 3
    assert summary.n_stale_failed == summary.n_retried == summary.n_running_unresolved == 0
    assert study.trials[other.number].state == TrialState.COMPLETE


def test_optimize_fails_a_dead_workers_trial_and_runs_its_retry_in_the_same_run(tmp_path):
    obj, study = _hb_study(tmp_path, grace=1)
    lost = _other_workers_trial(study)  # its worker died: no heartbeat after this one
    summary = optimize(study, obj, 3, timeout=60)
    trials = study.get_trials()
    assert trials[lost.number].state == TrialState.FAIL
    assert trials[lost.number].system_attrs[STALE_ATTR] == lost.number
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == lost.params
    assert summary.n_complete + summary.n_pruned == 3 and len(trials) == 4
    assert summary.n_stale_failed == 1 and summary.n_retried == 1
    assert summary.n_running_unresolved == 0
    assert "1 trial of a dead worker failed and re-run" in str(summary)
    assert training_summary(study).n_stale_failed == 1  # the study says it, not the run
    assert json.loads(json.dumps(summary.to_dict()))["n_stale_failed"] == 1


@pytest.mark.parametrize("kind", ["journal", "no-heartbeat", "never-beating"])
def test_optimize_does_not_wait_for_a_trial_no_heartbeat_can_judge(tmp_path, kind):
    """Journal storage or heartbeat off: dead and slow look alike; a RUNNING trial that
    never sent a heartbeat cannot go stale. The run ends beside it and says so."""
    obj = size_objective(size_spec(cost_max=6.0), skip_hopeless=False)
    if kind == "journal":
        storage = resolve_storage(f"journal:{tmp_path / 'j.log'}")
    else:
        storage = resolve_storage(f"sqlite:///{tmp_path / 'n.db'}", grace_period=1,
                                  heartbeat_interval=None if kind == "no-heartbeat" else 1)
    study = obj.create_study(storage=storage, study_name="n", sampler="random", seed=0)
    _other_workers_trial(study, beat=False)
    t0 = time.monotonic()
    summary = optimize(study, obj, 3, timeout=60)
    assert time.monotonic() - t0 < 30  # it did not wait for the timeout
    assert summary.n_complete + summary.n_pruned == 2 and summary.n_running == 1
    assert summary.n_running_unresolved == 1 and summary.n_stale_failed == 0
    assert "1 trial still RUNNING" in str(summary)
    assert training_summary(study).n_running_unresolved == 0  # a fact of the run only


def test_ctrl_c_while_waiting_for_other_workers_propagates(tmp_path, monkeypatch):
    obj, study = _hb_study(tmp_path, grace=30)
    _other_workers_trial(study)  # alive: beat just now, stale only after 30 s
    pauses = []

    def ctrl_c_during_the_pause(seconds):
        pauses.append(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", ctrl_c_during_the_pause)
    with pytest.raises(KeyboardInterrupt):
        optimize(study, obj, 1, timeout=20)  # the only slot is the other worker's
    monkeypatch.undo()
    assert len(pauses) == 1 and 0 < pauses[0] <= 1  # it was waiting, and stopped at once
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]  # not touched


def test_sigterm_interrupt_is_recorded_as_such():
    """effobj's command line raises KeyboardInterrupt("SIGTERM"): the reason says so, in
    the objective as in Optuna's `tell`."""

    def ev(size, trial):
        raise KeyboardInterrupt("SIGTERM")

    obj = size_objective(evaluate=ev, skip_hopeless=False)
    study = obj.create_study(storage=":memory:")
    study.enqueue_trial({"size": 2})
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        optimize(study, obj, 3)
    (t,) = study.trials
    assert t.state == TrialState.FAIL and t.user_attrs[K.STATUS] == Status.INTERRUPTED
    assert "(SIGTERM)" in t.user_attrs[K.FAIL_REASON]
    assert "KeyboardInterrupt" not in t.user_attrs[K.FAIL_REASON]

    class TerminatedWhileTold:
        def __float__(self):
            raise KeyboardInterrupt("SIGTERM")

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        optimize(study, lambda t: TerminatedWhileTold(), 3)
    (t,) = study.trials
    assert t.state == TrialState.FAIL
    assert t.user_attrs[K.FAIL_REASON] == "interrupted by SIGTERM (KeyboardInterrupt)"


def test_a_heartbeat_thread_left_by_an_interrupt_is_stopped(tmp_path):
    """A Ctrl-C inside Optuna's start of a trial's heartbeat leaves its non-daemon thread
    running (the process would hang at exit); optimize's interrupt path stops it, and only
    that trial's."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    from effobj.optuna._run import _stop_orphan_heartbeats

    storage = resolve_storage(f"sqlite:///{tmp_path / 'hb.db'}", heartbeat_interval=1)
    study = optuna.create_study(storage=storage)
    ours, other = study.ask(), study.ask()
    orphan = get_heartbeat_thread(ours._trial_id, study._storage)
    alive = get_heartbeat_thread(other._trial_id, study._storage)
    orphan.start()  # as if the `with` block were never entered
    alive.start()
    try:
        _stop_orphan_heartbeats(ours._trial_id)
        orphan._thread.join(timeout=10)
        assert not orphan._thread.is_alive()
        assert alive._thread.is_alive()  # another trial's heartbeat goes on
    finally:
        alive.join()
