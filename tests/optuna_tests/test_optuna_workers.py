"""Workers that die are handled within the run: real processes on one SQLite study.

A worker is killed (``os._exit``, like ``kill -9``) in the middle of a trial, leaving it
RUNNING. The surviving workers must not end one trial short: they wait until its
heartbeat is stale, fail it, run the retry Optuna's callback enqueues, and report it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
from optuna.trial import TrialState

from effobj.optuna import create_study, resolve_storage

optuna.logging.set_verbosity(optuna.logging.ERROR)

WORKER = Path(__file__).with_name("optuna_worker.py")
#: the survivors' grace period: long enough for them to finish every other trial first
#: (so they really wait), short enough for a quick test
GRACE = "4"


def _spawn(storage: str, name: str, n: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), storage, name, str(n), "--grace", GRACE, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert lines, f"worker printed nothing (rc {proc.returncode}); stderr:\n{err[-2000:]}"
    return {"rc": proc.returncode, **{k: v for d in lines for k, v in d.items()}}


def _new_study(url: str) -> str:
    from optuna_toys import size_spec

    name = f"dead-{uuid.uuid4().hex[:8]}"
    create_study(size_spec(cost_max=7.0), storage=resolve_storage(url), study_name=name,
                 sampler="random")
    return name


def _kill_then_release(tmp_path: Path, url: str, name: str, n: int, dying: int):
    """Start a survivor (held at a barrier) and ``dying`` workers that die in their first
    trial; release the survivor once they are dead, their trials RUNNING with a fresh
    heartbeat. Returns the dead workers' and the survivor's outputs and its run time."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    live = _spawn(url, name, n, "--barrier", str(barrier), "2")
    dead = [_wait(p) for p in [_spawn(url, name, n, "--die-in-build") for _ in range(dying)]]
    (barrier / "the-dead-are-dead").touch()  # the survivor starts now
    t0 = time.monotonic()
    survivor = _wait(live)
    return dead, survivor, time.monotonic() - t0


def _check(url: str, name: str, n: int, dead: list[dict], survivor: dict) -> None:
    assert [d["rc"] for d in dead] == [17] * len(dead)
    assert survivor["rc"] == 0
    study = optuna.load_study(study_name=name, storage=resolve_storage(url))
    trials = study.get_trials(deepcopy=False)
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert TrialState.WAITING not in [t.state for t in trials]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n  # not one short per dead worker, not over
    lost = [trials[d["dying_in"]] for d in dead]
    assert len({t.number for t in lost}) == len(dead)
    for t in lost:  # failed as stale, re-run once with its parameters, by the survivor
        assert t.state == TrialState.FAIL
        (retry,) = [u for u in trials if u.system_attrs.get("failed_trial") == t.number]
        assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED) and retry.params == t.params  # hopeless: PRUNED
        assert retry.number in survivor["ran"]
    # the survivor waited: its own trials had all finished before the dead workers'
    # trials went stale (ending then is the old behaviour: one trial short per death)
    own = [t for t in finished if t.system_attrs.get("failed_trial") is None]
    assert max(t.datetime_complete for t in own) < min(t.datetime_complete for t in lost)
    assert len(survivor["ran"]) == n  # its own trials and the retries
    s = survivor["summary"]  # ...and its summary says what happened
    assert s["n_stale_failed"] == s["n_retried"] == len(dead)
    assert s["n_complete"] + s["n_pruned"] == n and s["n_failed"] == len(dead)
    assert s["n_running"] == s["n_running_unresolved"] == 0


def test_a_killed_worker_trial_is_failed_and_rerun_by_the_survivor_in_the_same_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    name = _new_study(url)
    dead, survivor, seconds = _kill_then_release(tmp_path, url, name, 4, dying=1)
    _check(url, name, 4, dead, survivor)
    assert seconds < 60


def test_two_killed_workers_trials_are_both_rerun(tmp_path):
    """Three workers on one study, two killed mid-trial: the third completes the study."""
    url = f"sqlite:///{tmp_path / 'dead2.db'}"
    name = _new_study(url)
    dead, survivor, seconds = _kill_then_release(tmp_path, url, name, 5, dying=2)
    _check(url, name, 5, dead, survivor)
    assert seconds < 60
