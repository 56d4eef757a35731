"""Issue 22, items 2, 4 and 5: the thread count latency is measured at, a broken space
refused before the search, searches that stop on repeated failures and count them alike
everywhere, and the time the sampler's cost look-ups take."""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path

import optuna
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from user_space import run_cli

from effobj.cli._threads import contention_note, store_threads
from effobj.errors import InputError
from effobj.record import STUDY_THREADS, Status, TrialRecord

SPACES = '''
import math
import torch
from effobj.spaces import Int, ModelSpace


class NoTraining(ModelSpace):
    """A space without the training keys ModelSpace.train reads."""
    name = "no-training"
    layouts = ("flat", "image")
    params = (Int("width", 8, 10),)

    def _build(self, config, info):
        return torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(math.prod(info.input_shape), config["width"]),
            torch.nn.ReLU(), torch.nn.Linear(config["width"], info.num_classes))


class FailsTraining(NoTraining):
    """Builds fine, fails every training (its own train)."""
    name = "fails-training"

    def train(self, model, config, data, *, seed=0, on_epoch=None):
        raise KeyError("epochs")


class FailsBuild(NoTraining):
    name = "fails-build"

    def train(self, model, config, data, *, seed=0, on_epoch=None):
        raise AssertionError("not reached")

    def _build(self, config, info):
        raise RuntimeError("no such layer: Conv5d")
'''

SEARCH = ["search", "--trials", "10", "--perf-ref", "1", "--cost", "macs", "--budget", "1e6",
          "--latency-time", "0"]


@pytest.fixture()
def spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "spaces.py").write_text(SPACES)
    monkeypatch.chdir(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return tmp_path


_run = run_cli


# ---------------------------------------------------------------- --threads (item 2)
@settings(max_examples=200, deadline=None)
@given(threads=st.integers(1, 64), load=st.floats(0, 64), cores=st.integers(1, 64))
def test_contention_note_exactly_when_the_threads_lack_idle_cores(threads: int, load: float,
                                                                  cores: int) -> None:
    note = contention_note(threads, load=load, cores=cores)
    contended = threads > 1 and (threads > cores or load + threads > cores + 0.5)
    assert (note is not None) == contended
    if note is not None:
        assert f"{threads} threads" in note and "--threads 1" in note


def test_threads_are_stored_with_the_study_and_a_resume_keeps_them() -> None:
    study = optuna.create_study()
    store_threads(study, 1, "effobj search")
    assert study.user_attrs[STUDY_THREADS] == 1
    store_threads(study, 1, "effobj search")  # the same count resumes
    with pytest.raises(InputError, match=r"'--threads' option of effobj search .*\(1\)"):
        store_threads(study, 2, "effobj search")


def test_search_summary_and_study_say_the_thread_count(spaces: Path, capsys) -> None:
    db = f"sqlite:///{spaces / 's.db'}"
    rc, out, err = _run(["search", "--space", "mlp", "--trials", "1", "--perf-ref", "1",
                         "--cost", "latency_ms", "--budget", "50", "--latency-time", "0.05",
                         "--storage", db, "--study-name", "t", "--max-trainings", "1",
                         "--no-progress"], capsys)
    assert rc == 0, err
    assert "latency measured at 1 thread" in out
    assert optuna.load_study(study_name="t", storage=db).user_attrs[STUDY_THREADS] == 1
    rc, _, err = _run(["search", "--space", "mlp", "--trials", "1", "--perf-ref", "1",
                       "--cost", "latency_ms", "--budget", "50", "--latency-time", "0.05",
                       "--storage", db, "--study-name", "t", "--threads", "2",
                       "--no-progress"], capsys)
    assert rc == 2 and "'--threads'" in err and "(1)" in err


def test_space_range_shows_its_thread_count(capsys) -> None:
    rc, out, err = _run(["space-range", "--space", "mlp", "--samples", "2", "--latency-time",
                         "0.02", "--threads", "1"], capsys)
    assert rc == 0, err
    assert "at 1 thread" in out


# ---------------------------------------------------------------- fail fast (item 4)
def test_a_space_without_training_keys_is_refused_in_seconds_naming_them(spaces: Path,
                                                                         capsys) -> None:
    t0 = time.monotonic()
    rc, out, err = _run([*SEARCH, "--space", "spaces.py:NoTraining", "--storage",
                         f"sqlite:///{spaces / 'x.db'}"], capsys)
    elapsed = time.monotonic() - t0
    assert rc == 2
    assert "'epochs'" in err and "'lr'" in err and "Traceback" not in err
    assert elapsed < 5.0
    assert not (spaces / "x.db").exists() or "no-training" not in out  # nothing searched


def test_a_space_whose_build_fails_is_refused_with_the_error(spaces: Path, capsys) -> None:
    rc, _, err = _run([*SEARCH, "--space", "spaces.py:FailsBuild", "--storage", ":memory:"],
                      capsys)
    assert rc == 2
    assert "failed while building" in err and "Conv5d" in err


def test_repeated_failures_stop_the_search_with_the_first_error(spaces: Path, capsys,
                                                                caplog) -> None:
    db = f"sqlite:///{spaces / 'f.db'}"
    with caplog.at_level(logging.WARNING):
        rc, out, err = _run([*SEARCH, "--space", "spaces.py:FailsTraining", "--storage", db,
                             "--study-name", "f", "--max-failures", "3"], capsys)
    assert rc == 1
    study = optuna.load_study(study_name="f", storage=db)
    assert len(study.trials) == 3  # stopped at 3 failures in a row, not 10 trials
    assert "3 failed" in out and "stopped: 3 trials failed in a row" in out
    assert "KeyError: 'epochs'" in out
    assert "raise --budget" not in out + err  # the advice names the failures instead
    assert "failed and none trained" in err
    logs = caplog.text + err
    assert "nan is not acceptable" not in logs and "failed with value nan" not in logs
    # the sampler never proposed a failed candidate again: 3 of the 3 widths
    assert sorted(t.params["width"] for t in study.trials) == [8, 9, 10]


def test_progress_lines_count_as_the_summary_does(spaces: Path, capsys) -> None:
    db = f"sqlite:///{spaces / 'p.db'}"
    rc, out, err = _run([*SEARCH, "--space", "spaces.py:FailsTraining", "--storage", db,
                         "--max-failures", "2"], capsys)
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("trial ")]
    assert len(lines) == 2 and "\r" not in err  # one line per trial, not a bar
    assert lines[-1].endswith("trained 0, skipped 0, failed 2")
    assert "0 trained" in out and "2 failed" in out


def test_a_nan_of_someone_elses_objective_is_still_reported(caplog) -> None:
    import effobj.optuna  # noqa: F401  (installs effobj's filter)

    study = optuna.create_study()
    with caplog.at_level(logging.WARNING, logger="optuna"):
        study.optimize(lambda t: math.nan, n_trials=1)
    assert "nan" in caplog.text


# ---------------------------------------------------------------- the summary's counts
def test_interrupted_trials_are_counted_as_interrupted_not_failed() -> None:
    from effobj.optuna import training_summary

    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for status in (Status.INTERRUPTED, Status.FAILED):
        study.add_trial(optuna.trial.create_trial(
            params={"x": 0.5}, distributions=dist, state=optuna.trial.TrialState.FAIL,
            user_attrs=TrialRecord(status=status, fail_reason=f"{status} here").to_user_attrs()))
    s = training_summary(study)
    assert (s.n_failed, s.n_interrupted) == (1, 1)
    assert s.first_failure == "failed here"
    assert "1 failed, 1 interrupted" in str(s)


def test_progress_is_lines_when_the_output_is_not_a_terminal() -> None:
    from effobj.optuna._run import _Progress

    stream = io.StringIO()
    progress = _Progress(4, 0, True, stream=stream)
    trial = optuna.trial.create_trial(
        value=0.5, user_attrs=TrialRecord(status=Status.TRAINED, trained=True, e_beta=0.5,
                                          perf=0.9).to_user_attrs())
    progress.update(trial, 1)
    progress.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and "\r" not in text
    assert "1/4 finished" in text and "trained 1" in text


# ---------------------------------------------------------------- look-up time (item 5)
def test_lookup_time_is_summed_over_processes_and_shown() -> None:
    from effobj.optuna import training_summary
    from effobj.optuna._costs import lookup_time_s, note_lookup_time

    study = optuna.create_study()
    note_lookup_time(study, 1.5)
    note_lookup_time(study, 0.5)
    study._storage.set_study_system_attr(study._study_id, "effobj_lookup_s:other:1", 3.0)
    assert lookup_time_s(study) == pytest.approx(5.0)
    s = training_summary(study)
    assert s.lookup_time_s == pytest.approx(5.0) and "cost look-ups 5.0 s" in str(s)
    note_lookup_time(None, 1.0)  # no study: nothing to record, no error


# ---------------------------------------------------------------- Float (item 4)
@settings(max_examples=100, deadline=None)
@given(low=st.floats(1e-6, 1e3), span=st.floats(0, 1e3), log=st.booleans())
@example(low=338.0, span=1e-12, log=False)  # found by hypothesis: points closer than floats
def test_float_without_points_discretizes_its_own_range(low: float, span: float,
                                                        log: bool) -> None:
    from effobj.spaces import Float

    f = Float("x", low, low + span, log=log)
    grid = f.grid()
    assert grid[0] == low and grid[-1] == low + span
    assert all(a < b for a, b in zip(grid, grid[1:], strict=False))
    assert all(f.ok(p) for p in grid)


def test_the_summary_does_not_call_failures_over_budget() -> None:
    from effobj.optuna._run import CheapestCost, TrainingSummary

    base = dict(n_trials=5, n_complete=2, n_pruned=0, n_failed=3, n_running=0, n_waiting=0,
                n_trained=0, n_over_budget=2, n_hopeless=0, n_pruned_training=0,
                trainings_avoided=2, train_time_s=0.0, profile_time_s=1.0,
                est_train_time_saved_s=0.0, best_e_beta=None, best_number=None,
                cheapest_seen=(CheapestCost("macs", 2e6, 1, 1e6),))
    text = str(TrainingSummary(**base))
    assert "every candidate was over budget" not in text
    assert "no candidate trained: 2 over budget, 3 failed, the cheapest seen: macs 2e+06" in text
    assert "every candidate was over budget" in str(TrainingSummary(**(base | {"n_failed": 0})))
