"""One candidate, one training: the claim that workers of one study take before training.

The deterministic tests set the twins' attributes by hand on an SQLite study with a
heartbeat and check each rule of the claim; the stress test runs real processes that
publish one identity each round with random delays, the interleaving that once let two
workers train one architecture (CI: a higher-numbered trial read the twins before a
lower-numbered one published, and the lower one read before the higher one's claim was
written).

Run as a script, this file is one worker of the stress test:
``python test_optuna_claim.py URL STUDY SEED ROUNDS START``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from effobj.optuna import resolve_storage
from effobj.optuna._objective import _claim_training, _safe_record
from effobj.record import Status, TrialRecord

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")  # script
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")


def _study(url: str, name: str, heartbeat: bool = True) -> optuna.Study:
    storage = resolve_storage(url, heartbeat_interval=1 if heartbeat else None)
    return optuna.create_study(storage=storage, study_name=name, load_if_exists=True)


def _running(study: optuna.Study, ident: str, **attrs: object) -> optuna.Trial:
    trial = study.ask()
    _safe_record(trial, TrialRecord(identity=ident))
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    return trial


def _attr(study: optuna.Study, trial: optuna.Trial, key: str) -> object:
    return study._storage.get_trial(trial._trial_id).user_attrs.get(key)


def _finish_trained(trial: optuna.Trial, study: optuna.Study) -> None:
    _safe_record(trial, TrialRecord(status=Status.TRAINED, trained=True))
    study.tell(trial, 0.5)


def _later(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


def test_a_lone_trial_claims_and_trains(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    trial = _running(study, "a")
    _running(study, "b", trained=True)  # another candidate's claim is no obstacle
    assert _claim_training(study, trial, "a") is None
    assert _attr(study, trial, "trained") is True


def test_a_finished_twin_is_taken_over_without_a_claim(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    first = _running(study, "a")
    _finish_trained(first, study)
    second = _running(study, "a")
    prior = _claim_training(study, second, "a")
    assert prior is not None and prior.number == first.number
    assert _attr(study, second, "trained") is None


def test_a_lower_claim_wins_the_later_trial_waits_and_takes_its_result(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    lower = _running(study, "a", trained=True)
    higher = _running(study, "a")
    seen: list[object] = []
    _later(1.0, lambda: seen.append(_attr(study, higher, "trained")))
    done = _later(1.5, lambda: _finish_trained(lower, study))
    prior = _claim_training(study, higher, "a")
    done.join()
    assert prior is not None and prior.number == lower.number
    assert seen == [None]  # no claim while a lower one stands
    assert _attr(study, higher, "trained") is None


def test_a_higher_claim_is_waited_for_with_this_claim_kept(tmp_path):
    """The race CI caught: the higher-numbered twin claimed first; it withdraws when it
    reads this trial's claim, and only then does this trial train."""
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    lower = study.ask()
    higher = _running(study, "a", trained=True)
    _safe_record(lower, TrialRecord(identity="a"))
    seen: list[object] = []
    _later(1.0, lambda: seen.append(_attr(study, lower, "trained")))
    _later(1.2, lambda: higher.set_user_attr("trained", False))
    t0 = time.monotonic()
    assert _claim_training(study, lower, "a") is None
    assert time.monotonic() - t0 >= 1.2  # it waited for the withdrawal
    assert seen == [True] and _attr(study, lower, "trained") is True


def test_a_higher_twin_that_trains_is_taken_over_when_it_finishes(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    lower = study.ask()
    higher = _running(study, "a", trained=True)  # past its check: training
    _safe_record(lower, TrialRecord(identity="a"))
    _later(1.0, lambda: _finish_trained(higher, study))
    prior = _claim_training(study, lower, "a")
    assert prior is not None and prior.number == higher.number
    assert _attr(study, lower, "trained") is False


def test_a_claim_is_withdrawn_when_a_lower_claim_appears(tmp_path):
    """Waiting on a higher claim, this trial reads a lower one that came later: it
    withdraws, so that the lower one (which waits on this claim) is not blocked."""
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    lower, middle = study.ask(), study.ask()
    highest = _running(study, "a", trained=True)
    _safe_record(middle, TrialRecord(identity="a"))
    _safe_record(lower, TrialRecord(identity="a"))
    seen: list[object] = []
    _later(0.8, lambda: seen.append(_attr(study, middle, "trained")))
    _later(1.0, lambda: lower.set_user_attr("trained", True))
    _later(1.8, lambda: seen.append(_attr(study, middle, "trained")))
    done = _later(2.0, lambda: _finish_trained(lower, study))
    prior = _claim_training(study, middle, "a")
    done.join()
    assert seen == [True, False]
    assert prior is not None and prior.number == lower.number
    assert highest.number > middle.number > lower.number


def test_a_twin_that_fails_leaves_the_training_to_its_waiter(tmp_path):
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c")
    lower = _running(study, "a", trained=True)
    higher = _running(study, "a")
    _later(1.0, lambda: study.tell(lower, state=TrialState.FAIL))
    assert _claim_training(study, higher, "a") is None
    assert _attr(study, higher, "trained") is True


def test_without_a_heartbeat_nothing_running_is_waited_for(tmp_path):
    """A dead worker cannot be told from a slow one: the candidate trains at once."""
    study = _study(f"sqlite:///{tmp_path / 'c.db'}", "c", heartbeat=False)
    _running(study, "a", trained=True)
    trial = _running(study, "a")
    t0 = time.monotonic()
    assert _claim_training(study, trial, "a") is None
    assert time.monotonic() - t0 < 0.5


def _slowed(study: optuna.Study, rng: random.Random) -> None:
    """Widen every window between a read of the twins and a write of a claim, as a
    loaded database does: writes start late, reads return late (what they read is
    older by then)."""
    storage = study._storage
    write, read = storage.set_trial_user_attr, storage.get_all_trials

    def slow_write(*args, **kwargs):
        time.sleep(rng.uniform(0.0, 0.03))
        return write(*args, **kwargs)

    def slow_read(*args, **kwargs):
        trials = read(*args, **kwargs)
        time.sleep(rng.uniform(0.0, 0.03))
        return trials

    storage.set_trial_user_attr = slow_write  # type: ignore[method-assign]
    storage.get_all_trials = slow_read  # type: ignore[method-assign]


#: seconds per round of the stress test: every worker starts round k at start + k * ROUND
ROUND = 1.5


def _worker(url: str, name: str, seed: int, rounds: int, start: float) -> None:
    rng = random.Random(seed)
    study = _study(url, name)
    _slowed(study, rng)
    out = []
    for k in range(rounds):
        ident = f"arch-{k}"
        time.sleep(max(0.0, start + k * ROUND - time.time()))  # all workers at once
        trial = study.ask()
        time.sleep(rng.uniform(0.0, 0.3))  # building: a lower number may publish later
        _safe_record(trial, TrialRecord(identity=ident))
        time.sleep(rng.uniform(0.0, 0.02))  # measuring
        prior = _claim_training(study, trial, ident)
        if prior is None:
            time.sleep(rng.uniform(0.02, 0.2))  # training
            _finish_trained(trial, study)
        else:
            source = prior.user_attrs.get("repeat_of", prior.number)  # as _repeat does
            _safe_record(trial, TrialRecord(status=Status.REPEAT, trained=False,
                                            repeat_of=source))
            study.tell(trial, 0.5)
        out.append([trial.number, prior is None])
    print(json.dumps(out))


def test_workers_racing_on_each_candidate_train_it_once(tmp_path):
    """Four processes, eight candidates, each published by all at once with random
    delays: every candidate is trained by exactly one trial, the others repeat it.
    (The check before the claim, without the claim protocol, trains some twice here.)"""
    url = f"sqlite:///{tmp_path / 's.db'}"
    name = f"claim-{uuid.uuid4().hex[:8]}"
    _study(url, name)
    rounds = 8
    start = time.time() + 4.0  # once every worker has imported
    procs = [
        subprocess.Popen([sys.executable, str(Path(__file__)), url, name, str(seed),
                          str(rounds), str(start)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for seed in range(4)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    study = optuna.load_study(study_name=name, storage=url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4 * rounds
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for k in range(rounds):
        twins = [t for t in trials if t.user_attrs.get("identity") == f"arch-{k}"]
        trained = [t for t in twins if t.user_attrs.get("trained") is True]
        assert len(twins) == 4 and len(trained) == 1, (k, [t.user_attrs for t in twins])
        for t in twins:
            if t is not trained[0]:
                assert t.user_attrs["repeat_of"] == trained[0].number


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
            float(sys.argv[5]))
