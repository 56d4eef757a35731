"""`effobj search` and `effobj best` end to end, on real storages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from optuna_toys import SizeTableSpace, size_perf

import effobj.spaces
from effobj import record as K
from effobj.cli import main
from effobj.optuna import load_spec, resolve_storage
from effobj.rerank import best_trials

optuna.logging.set_verbosity(optuna.logging.ERROR)
HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def size_table_space():
    """The toy tabular space, registered only while a test of this module runs."""
    effobj.spaces.register("size-table", SizeTableSpace, replace=True)
    yield
    effobj.spaces.unregister("size-table")


#: a finished candidate: COMPLETE, or PRUNED without a value (hopeless, over budget)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

SEARCH = ["search", "--space", "size-table", "--beta2", "1", "--perf-ref", "1.0",
          "--cost-ref", "10", "--cost", "size", "--cost-max", "6", "--sampler", "random",
          "--study-name", "t", "--no-progress"]


def _run_json(capsys, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    sys.stderr.write(captured.err)  # shown with a failure of the test
    out = captured.out
    return rc, json.loads(out) if out.strip().startswith("{") else out


def test_search_then_resume_then_best(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default storage: effobj.db here
    rc, out = _run_json(capsys, [*SEARCH, "--trials", "15", "--format", "json"])
    assert rc == 0
    assert out["storage"] == "sqlite:///effobj.db" and (tmp_path / "effobj.db").exists()
    s = out["summary"]
    # hopeless and over-budget candidates end PRUNED without a value (never measured), the
    # rest COMPLETE
    assert s["n_complete"] + s["n_pruned"] == 15 and s["n_trained"] + s["trainings_avoided"] == 15
    assert s["n_pruned"] == s["n_hopeless"] + s["n_over_budget"] + s["n_pruned_training"]
    study = optuna.load_study(study_name="t", storage="sqlite:///effobj.db")
    for t in study.trials:
        assert t.user_attrs["size"] == t.params["size"]  # every cost on record
        if t.params["size"] > 6:  # over budget: never trained, E_beta 0, no value stored
            assert t.user_attrs[K.TRAINED] is False and t.user_attrs[K.E_BETA] == 0.0
            assert t.state == TrialState.PRUNED and t.values is None
            assert t.user_attrs[K.CONSTRAINTS]["size_max"] > 0
            assert max(t.constraints.values()) > 0  # what Optuna's samplers read
    # resume: the same command with more trials tops the study up
    rc, out = _run_json(capsys, [*SEARCH, "--trials", "20", "--format", "json"])
    assert rc == 0 and out["summary"]["n_complete"] + out["summary"]["n_pruned"] == 20
    # re-rank for another beta2 and budget: the JSON answer
    rc, best = _run_json(capsys, ["best", "--study-name", "t", "--beta2", "0.2",
                                  "--cost-max", "2", "--format", "json", "--top", "3"])
    assert rc == 0
    study = optuna.load_study(study_name="t", storage="sqlite:///effobj.db")
    spec = load_spec(study).replace(beta2=0.2, cost_max=2.0)
    expected = best_trials(study, spec)
    assert best["number"] == expected[0].number
    assert best["e_beta"] == pytest.approx(spec.score(best["perf"], best["costs"]["size"]))
    assert best["params"]["size"] <= 2 and best["user_attrs"][K.TRAINED] is True
    assert [r["number"] for r in best["runners_up"]] == [t.number for t in expected[1:4]]
    assert best["spec"]["beta2"] == 0.2
    # the text answer, with the sensitivity table
    rc = main(["best", "--study-name", "t", "--sensitivity"])
    text = capsys.readouterr().out
    assert rc == 0 and "rank" in text and "| beta2 | winner |" in text


def test_search_on_the_nas_bench_graph_table(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'nb.db'}"
    rc, out = _run_json(capsys, [
        "search", "--space", "nas-bench-graph:cora", "--trials", "60", "--beta2", "1",
        "--perf-ref", "0.83", "--cost-ref", "0.01", "--cost", "latency", "--cost-max", "0.004",
        "--storage", url, "--study-name", "cora", "--max-trainings", "10", "--seed", "1",
        "--no-skip-hopeless", "--format", "json",
    ])
    assert rc == 0
    s = out["summary"]
    assert s["n_trained"] == 10  # stopped by the training budget, before 60 trials
    assert s["n_complete"] == 10 + s["n_over_budget"] < 60
    study = optuna.load_study(study_name="cora", storage=url)
    trained = [t for t in study.trials if t.user_attrs.get(K.TRAINED)]
    assert all(t.user_attrs["latency"] <= 0.004 for t in trained)
    space = effobj.spaces.get("nas-bench-graph:cora")
    for t in trained[:3]:  # the recorded values are the table's
        record = space.lookup(t.params) if hasattr(space, "lookup") else None
        assert record is not None and t.user_attrs[K.PERF] == pytest.approx(record["perf"])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--beta2", "-1"], "beta2"),
        (["--cost-max", "20"], "max"),
        (["--perf-ref", "0"], "--perf-ref"),
        (["--space", "no-such-space"], "no-such-space"),
        (["--trials", "-2"], "--trials"),
        (["--max-trainings", "0"], "--max-trainings"),
        (["--cost", "energy"], "['energy'] are not among those its table provides"),
    ],
)
def test_search_rejects_bad_input_before_creating_the_study(tmp_path, capsys, argv, match):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    base = [*SEARCH, "--trials", "3", "--storage", url]
    for i in range(0, len(argv), 2):  # override (or add) the option
        if argv[i] in base:
            base[base.index(argv[i]) + 1] = argv[i + 1]
        else:
            base += argv[i : i + 2]
    rc = main(base)
    err = capsys.readouterr().err
    assert rc == 2 and match in err
    assert not (tmp_path / "bad.db").exists()  # nothing was created


@pytest.mark.parametrize(
    ("cost", "extra", "match"),
    [
        ("latency_ms", ["--latency-time", "0"], "latency_ms needs latency measured"),
        ("gpu_hours", [], "['gpu_hours'] are not among those the profiler"),
    ],
)
def test_model_space_search_rejects_an_indicator_the_profiler_never_gives(tmp_path, capsys, cost, extra, match):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    rc = main(["search", "--space", "mlp", "--dataset", "wine", "--trials", "2", "--beta2", "1",
               "--perf-ref", "1", "--cost-ref", "10", "--cost", cost, "--storage", url, *extra])
    err = capsys.readouterr().err
    assert rc == 2 and match in err, err
    assert "'macs'" in err  # the message lists what is available
    assert not (tmp_path / "bad.db").exists()


def test_best_errors(tmp_path, capsys):
    rc = main(["best", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study-name", "x"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'b.db'}"
    main([*SEARCH, "--trials", "3", "--storage", url])
    capsys.readouterr()
    rc = main(["best", "--storage", url, "--study-name", "nope"])
    assert rc == 2 and "'nope' is not in" in capsys.readouterr().err
    # a plain Optuna study needs the spec on the command line
    optuna.create_study(storage=url, study_name="plain").add_trial(
        optuna.trial.create_trial(value=0.5, user_attrs={"perf": 0.9, "size": 2.0})
    )
    rc = main(["best", "--storage", url, "--study-name", "plain"])
    assert rc == 2 and "--perf-ref" in capsys.readouterr().err
    rc = main(["best", "--storage", url, "--study-name", "plain", "--perf-ref", "1",
               "--cost-ref", "10", "--cost", "size", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["number"] == 0 and out["perf"] == 0.9


def test_ctrl_c_keeps_the_study_consistent_and_resumable(tmp_path):
    """A real SIGINT to a running `effobj search`, then the same command again."""
    url = f"sqlite:///{tmp_path / 'int.db'}"
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "import effobj.spaces\n"
        "from optuna_toys import SizeTableSpace\n"
        "effobj.spaces.register('size-table', lambda: SizeTableSpace(delay=0.25), replace=True)\n"
        "from effobj.cli import main\n"
        "print('started', flush=True)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, *SEARCH, "--trials", "10", "--storage", url,
            "--no-skip-hopeless"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    storage_file = tmp_path / "int.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a few trials finished
        time.sleep(0.3)
        if storage_file.exists():
            try:  # the child may be creating the schema right now: open it as effobj does
                st = optuna.load_study(study_name="t", storage=resolve_storage(url, heartbeat_interval=None))
            except KeyError:
                continue
            if sum(t.state in FINISHED for t in st.trials) >= 2:
                break
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    assert "Traceback" not in err, err  # one line naming the trial, not Optuna's traceback
    study = optuna.load_study(study_name="t", storage=url)
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states  # consistent: nothing left half-done
    done = sum(s in FINISHED for s in states)
    assert 2 <= done < 10
    # resume to the end
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="t", storage=url)
    assert sum(t.state in FINISHED for t in study.trials) == 10
    for t in study.trials:
        if t.state == TrialState.COMPLETE and t.user_attrs.get(K.TRAINED):
            assert t.user_attrs[K.PERF] == size_perf(t.params["size"])
    interrupted = [t for t in study.trials if t.user_attrs.get(K.STATUS) == "interrupted"]
    for t in interrupted:  # re-run once with the same parameters
        again = [u for u in study.trials if u.user_attrs.get(K.RETRY_OF) == t.number]
        if t.params:
            assert len(again) == 1 and again[0].params == t.params
        else:  # stopped inside Optuna's ask, before any parameter: nothing to re-run
            assert again == []


def test_sigterm_becomes_a_keyboard_interrupt_only_inside_the_block():
    from effobj.cli._signals import terminate_as_interrupt

    seen = []

    def mine(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with terminate_as_interrupt() as got:
            assert signal.getsignal(signal.SIGTERM) is not mine
            with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler runs at the latest here
        assert got.name == "SIGTERM" and got.exit_code == 143
        assert signal.getsignal(signal.SIGTERM) is mine  # restored on the way out
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert seen == [signal.SIGTERM]
        in_thread = []

        def elsewhere():  # Python handles signals in the main thread only: no-op there
            with terminate_as_interrupt() as other:
                in_thread.append((signal.getsignal(signal.SIGTERM), other.signum))

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert in_thread == [(mine, None)]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_a_search_exits_143_and_keeps_the_study_consistent(tmp_path, capsys):
    """SIGTERM (a scheduler's time limit, docker stop) lands in a candidate's look-up
    (the fourth look-up: the first trials' or the start's indicator check before it); the
    command records it like Ctrl-C and exits 143; the same command resumes."""
    lookups = []

    class Terminated(SizeTableSpace):
        def lookup(self, config):
            lookups.append(config["size"])
            if len(lookups) == 4:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)  # the handler raises here at the latest
            return super().lookup(config)

    effobj.spaces.register("size-table", Terminated, replace=True)
    url = f"sqlite:///{tmp_path / 'term.db'}"
    argv = [*SEARCH, "--trials", "6", "--storage", url, "--no-skip-hopeless"]
    ignore = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # were main() to miss it
    try:
        t0 = time.monotonic()
        rc = main(argv)
        assert rc == 143 and time.monotonic() - t0 < 20  # not after the 30 s sleep
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # main() restored it
    finally:
        signal.signal(signal.SIGTERM, ignore)
    assert "run the same command again to resume" in capsys.readouterr().err
    study = optuna.load_study(study_name="t", storage=url)
    states = [t.state for t in study.trials]
    assert len(states) >= 2 and all(s in FINISHED for s in states[:-1])
    assert states[-1] == TrialState.FAIL
    stopped = study.trials[-1]
    assert stopped.user_attrs[K.STATUS] == "interrupted"
    assert "SIGTERM" in stopped.user_attrs[K.FAIL_REASON]
    assert main(argv) == 0  # resumes: the stopped candidate first, then up to 6
    study = optuna.load_study(study_name="t", storage=url)
    assert sum(t.state in FINISHED for t in study.trials) == 6
    again = [t for t in study.trials if t.user_attrs.get(K.RETRY_OF) == stopped.number]
    assert len(again) == 1 and again[0].params == stopped.params


def test_sigterm_to_a_search_process_exits_143_and_resumes(tmp_path):
    """A real SIGTERM to a running `effobj search` process, then the same command again."""
    url = f"sqlite:///{tmp_path / 'term.db'}"
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "import effobj.spaces\n"
        "from optuna_toys import SizeTableSpace\n"
        "effobj.spaces.register('size-table', lambda: SizeTableSpace(delay=0.5), replace=True)\n"
        "from effobj.cli import main\n"
        "print('started', flush=True)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, *SEARCH, "--trials", "4", "--storage", url,
            "--no-skip-hopeless"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        storage_file = tmp_path / "term.db"
        deadline = time.monotonic() + 60
        running = False
        while not running and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if not storage_file.exists():
                continue
            try:  # the child may be creating the schema: open it as effobj does
                st = optuna.load_study(
                    study_name="t", storage=resolve_storage(url, heartbeat_interval=None)
                )
            except KeyError:
                continue
            # a trial in its training (its parameters drawn): the one the signal stops
            running = any(t.state == TrialState.RUNNING and t.params for t in st.trials)
        assert running, "no trial was seen RUNNING"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "run the same command again to resume" in err
    study = optuna.load_study(study_name="t", storage=url)
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states  # consistent: nothing left half-done
    stopped = [t for t in study.trials if t.user_attrs.get(K.STATUS) == "interrupted"]
    assert len(stopped) == 1 and stopped[0].state == TrialState.FAIL
    assert "SIGTERM" in stopped[0].user_attrs[K.FAIL_REASON]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="t", storage=url)
    assert sum(t.state in FINISHED for t in study.trials) == 4
    again = [t for t in study.trials if t.user_attrs.get(K.RETRY_OF) == stopped[0].number]
    assert len(again) == 1 and again[0].params == stopped[0].params


@pytest.mark.slow  # ~20 s here; the real-model path is also tested on a small torch MLP
def test_model_space_search_trains_real_models(tmp_path, capsys):
    """mlp on wine, 2 candidates, MACs as the cost (latency not measured: fast)."""
    url = f"sqlite:///{tmp_path / 'mlp.db'}"
    rc, out = _run_json(capsys, [
        "search", "--space", "mlp", "--dataset", "wine", "--trials", "2", "--beta2", "1",
        "--perf-ref", "1.0", "--cost-ref", "1e5", "--cost", "macs", "--storage", url,
        "--study-name", "mlp", "--latency-time", "0", "--format", "json", "--seed", "0",
    ])
    assert rc == 0
    study = optuna.load_study(study_name="mlp", storage=url)
    reasons = [t.user_attrs.get(K.FAIL_REASON) for t in study.trials]
    assert out["summary"]["n_complete"] == 2, reasons
    trained = [t for t in study.trials if t.user_attrs.get(K.TRAINED)]
    assert trained
    for t in trained:
        ua = t.user_attrs
        assert 0.0 < ua[K.PERF] <= 1.0 and ua["macs"] > 0
        assert t.system_attrs["effobj:cost_report"]["macs"] == ua["macs"]
        assert ua[K.EPOCHS_RUN] >= 1 and ua[K.TRAIN_FLOPS] > 0
        assert len(t.intermediate_values) == ua[K.EPOCHS_RUN]  # one report per epoch


def test_indicator_check_draws_again_when_a_sample_is_outside_the_table():
    """A sampled config outside the table (NAS-Bench-Graph's all-skip cell) is not the error."""
    from effobj import EfficiencySpec, InputError
    from effobj.optuna import objective_from_space

    class Holey(SizeTableSpace):
        def lookup(self, config):
            if config["size"] < 8:  # most of the space has no row
                raise InputError(f"size {config['size']} is not in the table")
            return super().lookup(config)

    ok = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="size")
    assert objective_from_space(ok, Holey()) is not None
    bad = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="energy")
    with pytest.raises(InputError, match=r"\['energy'\] are not among those its table provides"):
        objective_from_space(bad, Holey())


def test_objective_from_space_takes_the_space_object_not_its_name():
    """Only the command line resolves names (effobj.spaces.get); the library takes objects."""
    from effobj import EfficiencySpec, InputError
    from effobj.optuna import objective_from_space

    spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="size")
    with pytest.raises(InputError, match="'space' parameter of objective_from_space"):
        objective_from_space(spec, "nas-bench-graph:cora")


def _cli(argv: list[str]) -> subprocess.Popen:
    code = "import sys\nfrom effobj.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


CORA = ["search", "--space", "nas-bench-graph:cora", "--beta2", "1", "--perf-ref", "1.0",
        "--cost-ref", "0.01", "--cost", "latency", "--cost-max", "0.01", "--perf-min", "0.7",
        "--study-name", "cora", "--no-progress", "--format", "json"]


def _trained_identities(url: str) -> list[str]:
    study = optuna.load_study(study_name="cora", storage=url)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    return [t.user_attrs[K.IDENTITY] for t in study.trials if t.user_attrs.get(K.TRAINED)]


def test_three_workers_of_the_default_sampler_never_train_one_architecture_twice(tmp_path):
    """Three `effobj search` processes on one SQLite study, then two resumes."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    procs = [_cli([*CORA, "--storage", url, "--trials", "30"]) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    study = optuna.load_study(study_name="cora", storage=url)
    assert type(study.sampler).__name__ != "EfficiencySampler"  # loaded plainly here
    # finished: COMPLETE, or PRUNED when skipped as hopeless (never measured)
    n_finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert 30 <= n_finished <= 32  # workers may take the last slot at the same instant
    for _ in range(2):  # resumed sessions top the study up without repeating a training
        n_finished += 6
        p = _cli([*CORA, "--storage", url, "--trials", str(n_finished)])
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        summary = json.loads(out)["summary"]
        assert summary["n_complete"] + summary["n_pruned"] >= n_finished
    trained = _trained_identities(url)
    assert len(trained) >= 15
    assert len(trained) == len(set(trained))
    study = optuna.load_study(study_name="cora", storage=url)
    assert study.user_attrs["cost_lookups"] >= len(set(trained))
    for t in study.trials:
        if t.user_attrs.get(K.STATUS) == "repeat":
            source = study.trials[t.user_attrs[K.REPEAT_OF]]
            assert source.user_attrs[K.IDENTITY] == t.user_attrs[K.IDENTITY]
            assert t.value == source.value


def test_resumed_sessions_of_a_plain_sampler_do_not_replay(tmp_path):
    """`--sampler random`, same seed, three sessions: three different sets of proposals."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    for n in (8, 16, 24):
        p = _cli([*CORA, "--storage", url, "--trials", str(n), "--sampler", "random",
                  "--seed", "0"])
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="cora", storage=url)
    sessions = [study.trials[i:i + 8] for i in (0, 8, 16)]
    firsts = [tuple(sorted(s[0].params.items())) for s in sessions]
    assert len(set(firsts)) == 3  # each session starts elsewhere
    trained = _trained_identities(url)
    assert len(trained) == len(set(trained))


def test_best_reads_an_older_study_by_its_old_indicator_name(tmp_path, capsys):
    """A study an older effobj wrote records the parameter count as "params"; `--cost
    params` (the old name) and `--cost n_params` both rank it, on the RDB fast path too."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    study = optuna.create_study(storage=url, study_name="old", direction="maximize")
    for k in range(1, 6):
        study.add_trial(optuna.trial.create_trial(
            value=0.0, params={"k": k},
            distributions={"k": optuna.distributions.IntDistribution(1, 5)},
            user_attrs={"perf": 0.5 + k / 10, "params": 200.0 * k, "status": "trained",
                        "trained": True, "cost_report": {"params": 200 * k}}))
    outs = []
    for name in ("params", "n_params"):
        rc, out = _run_json(capsys, ["best", "--storage", url, "--study-name", "old",
                                     "--perf-ref", "1", "--cost-ref", "1000", "--cost", name,
                                     "--format", "json"])
        assert rc == 0
        outs.append(out)
    assert outs[0] == outs[1]
    assert outs[0]["spec"]["costs"][0]["name"] == "n_params"
    assert outs[0]["costs"] == {"n_params": 200.0 * outs[0]["params"]["k"]}
    assert outs[0]["cost_report"] == {"params": 200 * outs[0]["params"]["k"]}
