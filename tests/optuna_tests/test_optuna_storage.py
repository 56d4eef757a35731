"""Storages and workers: SQLite by default, Journal, PostgreSQL; shared studies, dead workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from effobj import InputError
from effobj import record as K
from effobj.optuna import DEFAULT_STORAGE, create_study, resolve_storage

optuna.logging.set_verbosity(optuna.logging.ERROR)

WORKER = Path(__file__).with_name("optuna_worker.py")
PG_URL = os.environ.get("EFFOBJ_PG_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="EFFOBJ_PG_URL is not set: start a server with `eval \"$(.ci/postgres.sh)\"`",
)


def _spawn(storage: str, name: str, n: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), storage, name, str(n), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _barrier(tmp_path: Path, k: int) -> list[str]:
    folder = tmp_path / "barrier"
    folder.mkdir(exist_ok=True)
    return ["--barrier", str(folder), str(k)]


def _wait(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert lines, f"worker printed nothing (rc {proc.returncode}); stderr:\n{err[-2000:]}"
    return {"rc": proc.returncode, **{k: v for d in lines for k, v in d.items()}}


def _new_study(storage: str) -> str:
    """Create the study once in the parent, as a user would before starting workers."""
    from optuna_toys import size_spec

    name = f"shared-{uuid.uuid4().hex[:8]}"
    create_study(size_spec(cost_max=7.0), storage=resolve_storage(storage), study_name=name,
                 sampler="random")
    return name


def _check_shared(storage: str, name: str, n: int, results: list[dict]) -> None:
    study = optuna.load_study(study_name=name, storage=resolve_storage(storage))
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert TrialState.FAIL not in states
    # the budget: n, or a little over when workers took the last slot at the same instant
    assert n <= len(finished) <= n + len(results) - 1
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)  # no number twice
    # every trial was run by exactly one worker: none lost, none duplicated
    ran = [num for r in results for num in r["ran"]]
    assert sorted(ran) == sorted(numbers)
    assert all(r["rc"] == 0 for r in results)
    assert all(len(r["ran"]) > 0 for r in results)  # they really shared the work
    pids = {t.user_attrs["worker_pid"] for t in trials}
    assert len(pids) == len(results)
    assert all(K.STATUS in t.user_attrs for t in trials)


def test_default_storage_is_an_sqlite_file_in_the_working_folder(tmp_path, monkeypatch):
    from optuna_toys import size_objective

    monkeypatch.chdir(tmp_path)
    assert DEFAULT_STORAGE == "sqlite:///effobj.db"
    obj = size_objective()
    study = obj.create_study(study_name="here")
    study.optimize(obj, n_trials=2)
    assert (tmp_path / "effobj.db").exists()
    again = optuna.load_study(study_name="here", storage=f"sqlite:///{tmp_path / 'effobj.db'}")
    assert len(again.trials) == 2
    assert again.user_attrs[K.STUDY_SPEC] == json.loads(json.dumps(obj.spec.to_dict()))


def test_resolve_storage_kinds(tmp_path):
    assert isinstance(resolve_storage(":memory:"), optuna.storages.InMemoryStorage)
    j = resolve_storage(f"journal:{tmp_path / 'a.log'}")
    assert isinstance(j, optuna.storages.JournalStorage)
    assert isinstance(resolve_storage(str(tmp_path / "b.journal")), optuna.storages.JournalStorage)
    rdb = resolve_storage(f"sqlite:///{tmp_path / 'c.db'}", heartbeat_interval=5, max_retry=2)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert rdb.get_heartbeat_interval() == 5 and rdb.grace_period == 10
    assert rdb.get_heartbeat_stale_trial_callback() is not None
    no_hb = resolve_storage(f"sqlite:///{tmp_path / 'd.db'}", heartbeat_interval=None)
    assert no_hb.get_heartbeat_interval() is None
    mem = optuna.storages.InMemoryStorage()
    assert resolve_storage(mem) is mem
    # WAL journal for SQLite files (many readers, one writer, cheap commits)
    with rdb.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.parametrize(
    ("arg", "kw", "exc", "match"),
    [
        ("effobj.db", {}, InputError, "must be an Optuna storage URL"),
        ("", {}, InputError, "must not be empty"),
        ("journal:", {}, InputError, "must name a file"),
        ("journal:/no/such/folder/x.log", {}, InputError, "does not exist"),
        (3, {}, TypeError, "'storage' parameter of resolve_storage"),
        (None, {"heartbeat_interval": 0}, InputError, "'heartbeat_interval'"),
        (None, {"grace_period": -1}, InputError, "'grace_period'"),
        (None, {"max_retry": -1}, InputError, "'max_retry'"),
    ],
)
def test_resolve_storage_rejects_bad_arguments(arg, kw, exc, match):
    with pytest.raises(exc, match=match):
        resolve_storage(arg, **kw)


def test_resuming_with_another_spec_is_refused(tmp_path):
    from optuna_toys import size_spec

    url = f"sqlite:///{tmp_path / 's.db'}"
    create_study(size_spec(), storage=url, study_name="s")
    create_study(size_spec(), storage=url, study_name="s")  # same spec: resumes
    with pytest.raises(InputError, match="would mix two objectives"):
        create_study(size_spec(beta2=4.0), storage=url, study_name="s")
    with pytest.raises(InputError, match="would mix two objectives"):
        create_study(size_spec(), storage=url, study_name="s", mode="multi")


def test_three_processes_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    name = _new_study(url)
    procs = [_spawn(url, name, 12, *_barrier(tmp_path, 3)) for _ in range(3)]
    results = [_wait(p) for p in procs]
    _check_shared(url, name, 12, results)


def test_two_processes_share_one_journal_study(tmp_path):
    url = f"journal:{tmp_path / 'shared.log'}"
    name = _new_study(url)
    procs = [_spawn(url, name, 12, *_barrier(tmp_path, 2)) for _ in range(2)]
    results = [_wait(p) for p in procs]
    _check_shared(url, name, 12, results)


def _dead_worker_is_recovered(url: str) -> None:
    name = _new_study(url)
    dead = _wait(_spawn(url, name, 5, "--die"))
    assert dead["rc"] == 17
    lost = dead["dying_in"]
    study = optuna.load_study(study_name=name, storage=resolve_storage(url))
    assert study.trials[lost].state == TrialState.RUNNING  # left behind by the dead worker
    time.sleep(3.2)  # past the grace period (2 s) of its last heartbeat
    live = _wait(_spawn(url, name, 5))
    assert live["rc"] == 0
    trials = study.get_trials(deepcopy=False)
    assert trials[lost].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == lost]
    assert len(retries) == 1  # re-run exactly once
    (retry,) = retries
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED) and retry.params == trials[lost].params  # hopeless: PRUNED
    assert retry.number in live["ran"]
    assert [t.state for t in trials].count(TrialState.RUNNING) == 0
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 5


def test_dead_worker_trial_is_failed_and_retried_once_sqlite(tmp_path):
    _dead_worker_is_recovered(f"sqlite:///{tmp_path / 'hb.db'}")


@pytest.mark.postgres
@needs_pg
def test_three_processes_share_one_postgres_study(tmp_path):
    name = _new_study(PG_URL)
    procs = [_spawn(PG_URL, name, 15, *_barrier(tmp_path, 3)) for _ in range(3)]
    results = [_wait(p) for p in procs]
    _check_shared(PG_URL, name, 15, results)


@pytest.mark.postgres
@needs_pg
def test_dead_worker_trial_is_failed_and_retried_once_postgres():
    _dead_worker_is_recovered(PG_URL)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_pg])]
)
def test_batched_rdb_write_records_what_the_public_calls_record(tmp_path, backend):
    """On RDB storages the attributes go in one transaction; the result must not differ."""
    from optuna_toys import size_objective, size_spec

    timing = {K.OVERHEAD_S, K.PROFILE_TIME_S, K.TRAIN_TIME_S}
    recorded = []
    rdb = f"sqlite:///{tmp_path / 'b.db'}" if backend == "sqlite" else PG_URL
    name = f"b-{uuid.uuid4().hex[:8]}"
    for url in (":memory:", rdb):
        obj = size_objective(size_spec(cost_max=6.0, perf_min=0.6))
        study = obj.create_study(storage=url, study_name=name)
        for s in (3, 5, 8, 2):
            study.enqueue_trial({"size": s})
        study.optimize(obj, n_trials=4)
        if url != ":memory:":
            study = optuna.load_study(study_name=name, storage=resolve_storage(url))
        recorded.append([
            (t.state, t.values, {k: v for k, v in t.user_attrs.items() if k not in timing},
             t.constraints, list(t.constraints), t.system_attrs.get("constraints"))
            for t in study.get_trials()
        ])
    assert recorded[0] == recorded[1]
    assert all(len(r[5]) == 2 for r in recorded[1])  # Optuna's list, perf_min and size_max
    assert {r[2]["status"] for r in recorded[1]} == {"trained", "over_budget", "hopeless"}
