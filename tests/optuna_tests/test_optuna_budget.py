"""The training budget and interrupted trials with real worker processes on one SQLite study.

``--max-trainings K`` (``optimize(max_trainings=K)``) never trains more than K candidates,
however many workers race for the last trainings: each training takes a numbered slot in
the storage before it starts. A trial a Ctrl-C or SIGTERM stopped while training is
re-run (by a worker of the same run, or by the next run), or the summary says it was not.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import optuna
from optuna.trial import TrialState
from optuna_toys import spawn_worker, wait_worker

from effobj import record as K
from effobj.optuna import create_study, resolve_storage, training_summary
from effobj.record import Status, TrialRecord

optuna.logging.set_verbosity(optuna.logging.ERROR)

_spawn, _wait = spawn_worker, wait_worker


def _new_study(url: str, prefix: str) -> str:
    from optuna_toys import size_spec

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_study(size_spec(cost_max=7.0), storage=resolve_storage(url), study_name=name,
                 sampler="random")
    return name


def _load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=resolve_storage(url))


def _trainings(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that trained a candidate to an end (completed, pruned, or failed training)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        rec = TrialRecord.from_user_attrs(t.user_attrs, ())
        if rec.trained is not True:
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and rec.status == Status.FAILED
        ):
            out.append(t)
    return out


def _race(tmp_path: Path, url: str, name: str, workers: int, max_trainings: int,
          *extra: str) -> list[dict]:
    barrier = tmp_path / f"barrier-{name}"
    barrier.mkdir()
    procs = [
        _spawn(url, name, 40, "--max-trainings", str(max_trainings), "--repeats",
               "--no-skip-hopeless", "--barrier", str(barrier), str(workers), *extra)
        for _ in range(workers)
    ]
    return [_wait(p) for p in procs]


def test_three_workers_never_train_more_than_max_trainings(tmp_path):
    """Three workers, ``--max-trainings 5``, every trial a training (``--repeats``):
    exactly 5 trainings, run after run (the budget was once checked only after each
    trial, so the workers' trials in flight trained 6 or 7)."""
    url = f"sqlite:///{tmp_path / 'budget.db'}"
    counts, told = [], []
    for _ in range(3):
        name = _new_study(url, "budget")
        outs = _race(tmp_path, url, name, 3, 5, "--sleep", "0.4")
        assert [o["rc"] for o in outs] == [0, 0, 0], outs
        study = _load(url, name)
        counts.append(len(_trainings(study)))
        told.append([o["summary"]["n_trained"] for o in outs])
        states = [t.state for t in study.get_trials(deepcopy=False)]
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert counts == [5, 5, 5]
    assert told == [[5, 5, 5]] * 3  # each worker ends once the study holds its 5


def _interrupt_first_training(proc: subprocess.Popen, sig: int) -> int:
    """Wait until ``proc`` (``--hang-in-training``) trains, send it ``sig``; its trial."""
    line = proc.stdout.readline()
    assert line.startswith("{"), (line, proc.stderr.read()[-2000:] if proc.poll() else "")
    number = json.loads(line)["training"]
    proc.send_signal(sig)
    return number


def _rerun_of(study: optuna.Study, number: int) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get(K.RETRY_OF) == number]


def test_a_trial_interrupted_while_another_worker_runs_is_rerun_in_that_run(tmp_path):
    """Two workers; one is stopped by a real SIGINT in its training. The other, which
    was running already, re-runs the interrupted candidate in the same run (it was only
    re-queued when a worker started, and then left WAITING once the study was full)."""
    url = f"sqlite:///{tmp_path / 'int.db'}"
    name = _new_study(url, "int")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    common = ("--barrier", str(barrier), "2", "--repeats", "--grace", "4")
    stopped = _spawn(url, name, 8, "--hang-in-training", *common)
    other = _spawn(url, name, 8, "--sleep", "0.4", *common)
    number = _interrupt_first_training(stopped, signal.SIGINT)
    gone = _wait(stopped)
    assert gone["rc"] == 130 and gone["interrupted"] == []
    # the other worker re-queues it before its next trial (every 0.4 s): read in between,
    # the study either still shows it pending or already holds its re-run, never neither
    now = _load(url, name)
    pending = training_summary(now)
    if _rerun_of(now, number):
        assert pending.n_interrupted_pending == 0
    else:
        assert pending.n_interrupted_pending == 1
        assert "1 interrupted trial not re-run" in str(pending)
    done = _wait(other)
    assert done["rc"] == 0
    study = _load(url, name)
    trials = study.get_trials(deepcopy=False)
    assert trials[number].user_attrs[K.STATUS] == Status.INTERRUPTED
    (again,) = _rerun_of(study, number)
    assert again.state in (TrialState.COMPLETE, TrialState.PRUNED) and again.params == trials[number].params  # hopeless by now: PRUNED
    assert again.number in done["ran"]
    assert TrialState.WAITING not in [t.state for t in trials]
    s = done["summary"]
    assert s["n_complete"] + s["n_pruned"] == 8 and s["n_waiting"] == 0 and s["n_interrupted_pending"] == 0
    # the same command again: nothing left to do, nothing queued
    again_run = _wait(_spawn(url, name, 8))
    assert again_run["rc"] == 0 and again_run["ran"] == []
    assert len(_load(url, name).get_trials(deepcopy=False)) == len(trials)


def test_an_interrupted_training_does_not_spend_the_training_budget(tmp_path):
    """``--max-trainings 3``: two trainings, then a SIGTERM in the third. The same
    command re-runs the interrupted candidate and the study holds 3 trainings (the
    interrupted one once counted as trained: the resumed run ended at once, the
    candidate never re-run and the summary silent about it)."""
    url = f"sqlite:///{tmp_path / 'term.db'}"
    name = _new_study(url, "term")
    first = _wait(_spawn(url, name, 20, "--max-trainings", "2", "--repeats",
                         "--no-skip-hopeless"))
    assert first["rc"] == 0 and first["summary"]["n_trained"] == 2
    stopped = _spawn(url, name, 20, "--max-trainings", "3", "--repeats",
                     "--no-skip-hopeless", "--hang-in-training")
    number = _interrupt_first_training(stopped, signal.SIGTERM)
    gone = _wait(stopped)
    assert gone["rc"] == 130 and gone["interrupted"] == ["SIGTERM"]
    resumed = _wait(_spawn(url, name, 20, "--max-trainings", "3", "--repeats",
                           "--no-skip-hopeless"))
    assert resumed["rc"] == 0
    study = _load(url, name)
    (again,) = _rerun_of(study, number)
    assert again.state in (TrialState.COMPLETE, TrialState.PRUNED)  # trained, or hopeless by now (PRUNED)
    assert again.params == study.trials[number].params and again.number in resumed["ran"]
    assert len(_trainings(study)) == 3
    s = resumed["summary"]
    assert s["n_trained"] == 3 and s["n_interrupted_pending"] == 0 and s["n_waiting"] == 0


def test_an_interrupted_trial_the_study_is_full_without_is_reported_then_rerun(tmp_path):
    """Ctrl-C in the third training; a run for the two trials the study holds re-runs
    nothing and queues nothing, and its summary says the interrupted trial waits to be
    re-run; a run for one more trial re-runs it first."""
    from optuna_toys import size_objective, size_perf

    from effobj.optuna import optimize

    calls = []

    def ev(size, trial):
        calls.append(size)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return size_perf(size)

    obj = size_objective(evaluate=ev, skip_hopeless=False, repeats=True)
    study = obj.create_study(storage=f"sqlite:///{tmp_path / 'full.db'}", study_name="f",
                             sampler="random", seed=0)
    try:
        optimize(study, obj, 6)
    except KeyboardInterrupt:
        pass
    stopped = study.trials[-1]
    assert stopped.user_attrs[K.STATUS] == Status.INTERRUPTED and len(calls) == 3
    full = optimize(study, obj, 2)
    assert len(calls) == 3 and len(study.trials) == 3  # nothing run, nothing queued
    assert full.n_interrupted_pending == 1 and full.n_waiting == 0
    assert "1 interrupted trial not re-run yet" in str(full)
    more = optimize(study, obj, 3)
    (again,) = _rerun_of(study, stopped.number)
    assert again.state in (TrialState.COMPLETE, TrialState.PRUNED) and again.params == stopped.params
    assert more.n_interrupted_pending == 0 and more.n_complete + more.n_pruned == 3
    assert "not re-run" not in str(more)


def _slot_study(tmp_path: Path) -> optuna.Study:
    storage = resolve_storage(f"sqlite:///{tmp_path / 'slots.db'}", heartbeat_interval=1)
    return optuna.create_study(storage=storage, study_name="slots")


def _holding_slot(study: optuna.Study) -> optuna.Trial:
    from effobj.optuna._objective import SLOT_ATTR

    trial = study.ask()
    study._storage.set_trial_system_attr(trial._trial_id, SLOT_ATTR, trial.number)
    return trial


def _end(study: optuna.Study, trial: optuna.Trial, status: Status) -> None:
    from effobj.optuna._objective import _safe_record

    _safe_record(trial, TrialRecord(status=status, trained=True))
    if status == Status.TRAINED:
        study.tell(trial, 0.5)
    else:
        study.tell(trial, state=TrialState.FAIL)


def test_a_slot_waits_for_the_lower_claim_and_gives_up_once_it_trained(tmp_path):
    import threading

    from effobj.optuna._objective import _take_training_slot

    study = _slot_study(tmp_path)
    _end(study, _holding_slot(study), Status.TRAINED)
    lower = _holding_slot(study)  # training the budget's last slot
    trial = study.ask()
    threading.Timer(1.0, _end, (study, lower, Status.TRAINED)).start()
    t0 = time.monotonic()
    assert _take_training_slot(study, trial, 2) is False
    assert time.monotonic() - t0 >= 0.9  # it waited for the lower claim's outcome
    # the lower claim filled the budget: this trial never claimed a slot
    assert "effobj_training_slot" not in study._storage.get_trial(trial._trial_id).system_attrs


def test_a_slot_freed_by_an_interrupted_training_is_taken(tmp_path):
    import threading

    from effobj.optuna._objective import _take_training_slot

    study = _slot_study(tmp_path)
    lower = _holding_slot(study)
    trial = study.ask()
    threading.Timer(1.0, _end, (study, lower, Status.INTERRUPTED)).start()
    assert _take_training_slot(study, trial, 1) is True  # the interrupted one is re-run


def test_a_higher_claim_filling_the_budget_is_waited_for_with_the_claim_kept(tmp_path):
    import threading

    from effobj.optuna._objective import SLOT_ATTR, _take_training_slot

    study = _slot_study(tmp_path)
    trial = study.ask()
    higher = _holding_slot(study)  # claimed after this trial's number was drawn

    def withdraw() -> None:  # it saw this trial's claim (lower): it withdraws
        assert study._storage.get_trial(trial._trial_id).system_attrs[SLOT_ATTR] == trial.number
        study._storage.set_trial_system_attr(higher._trial_id, SLOT_ATTR, -1)

    threading.Timer(1.0, withdraw).start()
    assert _take_training_slot(study, trial, 1) is True
