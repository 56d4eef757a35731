"""The remote path end to end: restarts, a search through the command line, its errors."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import models  # noqa: E402

from effobj import EfficiencySpec  # noqa: E402
from effobj import record as K  # noqa: E402
from effobj.cli import main  # noqa: E402
from effobj.errors import ProfilingError  # noqa: E402
from effobj.optuna import EfficiencyObjective  # noqa: E402
from effobj.remote import RemoteProfiler  # noqa: E402
from effobj.remote._launch import ServerProcess, free_port  # noqa: E402

HERE = Path(__file__).parent


def test_a_server_restarted_mid_search_is_retried(tmp_path):
    srv = ServerProcess(tmp_path / "s").start()
    try:
        prof = RemoteProfiler(srv.url, token_file=srv.token_file, latency=False, cache=False,
                              retry_deadline_s=120)
        assert prof.profile(models.mlp(5), torch.randn(1, 16)).remote["tries"] == 2  # lookup, profile
        srv.stop()
        restarted = threading.Timer(1.5, srv.start, kwargs={"wait": False})
        restarted.start()
        report = prof.profile(models.mlp(6), torch.randn(1, 16))  # waits for the new server
        restarted.join()
        assert report.remote["tries"] > 2 and report.macs == 16 * 6 + 6 * 2
    finally:
        srv.stop()


def test_a_down_server_fails_the_trial_with_its_reason_and_the_study_goes_on():
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=1e4, cost_name="macs")
    prof = RemoteProfiler(f"http://127.0.0.1:{free_port()}", token="t", latency=False,
                          retry_deadline_s=0.3)

    def build(trial):
        return models.mlp(trial.suggest_int("w", 2, 64))

    objective = EfficiencyObjective(spec, build, lambda m, t: 0.9,
                                    example_inputs=torch.randn(1, 16), profiler=prof)
    study = optuna.create_study(direction="maximize")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    for t in study.trials:
        reason = t.user_attrs[K.FAIL_REASON]
        assert reason.startswith("measure failed: ProfilingError") and "could not be reached" in reason


def test_effobj_profile_with_profiler(server, capsys):
    rc = main(["profile", f"{HERE / 'models.py'}:small", "--input-shape", "1,3,8,8",
               "--no-latency", "--format", "json", "--profiler", server.url,
               "--profiler-token-file", str(server.token_file)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads(out.out)
    assert report["remote"]["server"] == server.url and report["model_name"] == "Sequential"
    assert f"profiling on {server.url}" in out.err


def test_effobj_profile_with_profiler_takes_the_runtime_and_the_method(server, capsys):
    rc = main(["profile", f"{HERE / 'models.py'}:small", "--input-shape", "1,3,8,8",
               "--max-time", "0.1", "--format", "json", "--profiler", server.url,
               "--profiler-token-file", str(server.token_file), "--runtime", "onnxruntime",
               "--latency-method", "plain"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads(out.out)
    assert (report["runtime"], report["latency_method"]) == ("onnxruntime", "plain")
    assert report["compile_time_s"] > 0 and report["remote"]["server"] == server.url


def test_a_remote_search_sends_its_latency_budget_to_the_server(server, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    rc = main(["search", "--space", "mlp", "--dataset", "wine", "--trials", "2", "--beta2", "1",
               "--perf-ref", "1", "--cost-ref", "1e4", "--cost", "latency_ms", "--cost-max",
               "1e3", "--latency-time", "0.1", "--storage", url, "--study-name", "b",
               "--no-progress", "--sampler", "random", "--format", "json",
               "--profiler", server.url, "--profiler-token-file", str(server.token_file)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    for t in optuna.load_study(study_name="b", storage=url).trials:
        rep = K.TrialRecord.from_trial(t).cost_report
        assert rep["latency_budget_ms"] == 1e3 and rep["latency_decision"] == "under"
        assert t.user_attrs[K.LATENCY_DECISION] == "under"


def test_effobj_search_with_profiler_records_the_remote_device(server, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    rc = main(["search", "--space", "mlp", "--dataset", "wine", "--trials", "3", "--beta2", "1",
               "--perf-ref", "1", "--cost-ref", "1e5", "--cost", "macs", "--cost-max", "10",
               "--latency-time", "0", "--storage", url, "--study-name", "r", "--no-progress",
               "--sampler", "random",
               "--format", "json", "--profiler", server.url,
               "--profiler-token-file", str(server.token_file)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    trials = optuna.load_study(study_name="r", storage=url).trials
    assert len(trials) == 3
    host = server.status()["hostname"]
    for t in trials:
        rep = K.TrialRecord.from_trial(t).cost_report
        assert t.user_attrs[K.STATUS] == "over_budget"  # measured, never trained
        assert rep["remote"]["server"] == server.url and rep["device"]["hostname"] == host
        assert rep["remote"]["queue_wait_s"] >= 0 and rep["macs"] == t.user_attrs["macs"]
        assert math.isfinite(t.user_attrs[K.PROFILE_TIME_S])


@pytest.mark.parametrize("args, option", [
    (["--profiler", "http://127.0.0.1:1"], "--profiler-token-file"),
    (["--profiler-token-file", "tok"], "--profiler"),
])
def test_search_refuses_half_of_the_remote_options(tmp_path, capsys, args, option):
    rc = main(["search", "--space", "mlp", "--trials", "1", "--perf-ref", "1", "--cost-ref",
               "1", "--cost", "macs", "--storage", f"sqlite:///{tmp_path / 'x.db'}", *args])
    assert rc == 2 and f"'{option}' option of effobj search" in capsys.readouterr().err


def test_a_wrong_token_file_is_named(server, tmp_path, capsys):
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token")
    rc = main(["profile", f"{HERE / 'models.py'}:small", "--input-shape", "1,3,8,8",
               "--profiler", server.url, "--profiler-token-file", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "'--profiler-token-file' option of effobj profile" in err and "401" in err
    rc = main(["profile", f"{HERE / 'models.py'}:small", "--input-shape", "1,3,8,8",
               "--profiler", "localhost:80", "--profiler-token-file", str(bad)])
    assert rc == 2 and "'--profiler' option of effobj profile" in capsys.readouterr().err


def test_a_tabular_space_refuses_profiler(server, tmp_path, capsys):
    rc = main(["search", "--space", "nas-bench-graph:cora", "--trials", "1", "--perf-ref", "1",
               "--cost-ref", "1", "--cost", "latency", "--storage", f"sqlite:///{tmp_path / 'x.db'}",
               "--profiler", server.url, "--profiler-token-file", str(server.token_file)])
    assert rc == 2 and "be given for a model space only" in capsys.readouterr().err


@pytest.mark.parametrize("token, args, option", [
    (None, [], "--token-file"),
    ("short", [], "--token-file"),
    ("a" * 20, ["--port", "0"], "--port"),
    ("a" * 20, ["--time-limit-s", "0"], "--time-limit-s"),
    ("a" * 20, ["--max-upload-mb", "-1"], "--max-upload-mb"),
])
def test_profile_server_refuses_bad_options(tmp_path, capsys, token, args, option):
    f = tmp_path / "token"
    if token is not None:
        f.write_text(token)
    rc = main(["profile-server", "--token-file", str(f), *args])
    assert rc == 2 and f"'{option}' option of effobj profile-server" in capsys.readouterr().err


def test_profile_server_refuses_a_port_in_use(server, tmp_path, capsys):
    f = tmp_path / "token"
    f.write_text("a" * 20)
    f.chmod(0o600)  # the server refuses a token file others can read
    t0 = time.monotonic()
    rc = main(["profile-server", "--token-file", str(f), "--port", str(server.port)])
    assert rc == 2 and "in use" in capsys.readouterr().err and time.monotonic() - t0 < 10


def test_profile_refuses_device_with_profiler(tmp_path, capsys):
    rc = main(["profile", f"{HERE / 'models.py'}:small", "--input-shape", "1,3,8,8",
               "--threads", "2", "--profiler", "http://127.0.0.1:1",
               "--profiler-token-file", str(tmp_path / "t")])
    assert rc == 2 and "'--threads' option of effobj profile" in capsys.readouterr().err


def test_profile_errors_do_not_leave_a_pending_exception():
    with pytest.raises(ProfilingError):
        RemoteProfiler(f"http://127.0.0.1:{free_port()}", token="t",
                       retry_deadline_s=0).status()
