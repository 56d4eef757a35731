"""effobj's trial records as the tools users already have show them: optuna-dashboard
(started as a real server, its JSON API read) and Optuna's own command line.

Issue 14, items 3 and 6: the dashboard reads a trial's constraints from the list under
``system_attrs["constraints"]`` (Optuna 5's ``set_constraint`` writes one key per name,
which it does not read: every over-budget trial showed as feasible, scoring 0), and
``optuna trials`` prints every ``user_attr`` in one column (the nested cost report made
it a 31 KB wide table).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import torch
from optuna_toys import size_objective, size_spec

from effobj import EfficiencySpec
from effobj import record as K
from effobj.optuna import EfficiencyObjective
from effobj.profiler import LocalProfiler

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _command(script: str, module_main: str) -> list[str]:
    """The console script installed beside this Python, else its ``main`` run by it."""
    found = shutil.which(script, path=str(Path(sys.executable).parent))
    if found:
        return [found]
    module, func = module_main.rsplit(".", 1)
    return [sys.executable, "-c", f"from {module} import {func}; {func}()"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback only)
        return json.loads(r.read().decode())


# ---------------------------------------------------------------------- optuna-dashboard
@pytest.fixture
def dashboard(tmp_path):
    """A real optuna-dashboard process on a free loopback port, serving a SQLite storage:
    yields ``(storage URL, base URL)``."""
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    optuna.create_study(storage=url, study_name="warm-up")  # the schema, before the server
    last_error: Exception | str | None = None
    for attempt in range(3):  # another process may take the port between probe and bind
        port = _free_port()
        log = tmp_path / f"dashboard-{attempt}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [*_command("optuna-dashboard", "optuna_dashboard._cli.main"), url,
                 "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                stdout=subprocess.DEVNULL, stderr=err,
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60.0
        serving = False
        while not serving and time.monotonic() < deadline and proc.poll() is None:
            try:
                _get_json(f"{base}/api/meta")
                serving = True
            except OSError as exc:
                last_error = exc
                time.sleep(0.2)
        try:
            if serving:
                yield url, base
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        last_error = f"{last_error}; its log: {log.read_text()[-2000:]}"
    raise AssertionError(f"optuna-dashboard did not serve: {last_error}")


def _feasible(dashboard_trial: dict) -> bool:
    """The dashboard's own rule (its bundle.js: ``constraints.every(e => e <= 0)``)."""
    return all(c <= 0 for c in dashboard_trial["constraints"])


def test_optuna_dashboard_shows_an_over_budget_trial_as_infeasible(dashboard):
    url, base = dashboard
    spec = size_spec(cost_max=5.0, perf_min=0.75)
    obj = size_objective(spec)
    study = obj.create_study(storage=url, study_name="budget")
    for size in (3, 8):  # 8: over budget, recorded PRUNED without a value, never trained
        study.enqueue_trial({"size": size})
    study.optimize(obj, n_trials=2)
    ours, over = study.trials

    studies = _get_json(f"{base}/api/studies")["study_summaries"]
    (study_id,) = [s["study_id"] for s in studies if s["study_name"] == "budget"]
    detail = _get_json(f"{base}/api/studies/{study_id}")
    by_number = {t["number"]: t for t in detail["trials"]}
    shown_over, shown_ok = by_number[over.number], by_number[ours.number]

    assert shown_over["state"] == "Pruned" and not shown_over.get("values")
    names = list(obj.constraint_names)
    assert names == ["perf_min", "size_max"]
    expected_over = spec.constraints(spec.perf_ref, {"size": 8.0})
    assert shown_over["constraints"] == pytest.approx([expected_over[n] for n in names])
    assert shown_over["constraints"][names.index("size_max")] == pytest.approx(0.3)
    assert not _feasible(shown_over)
    expected_ok = spec.constraints(ours.user_attrs[K.PERF], {"size": 3.0})
    assert shown_ok["constraints"] == pytest.approx([expected_ok[n] for n in names])
    assert _feasible(shown_ok)
    # the same values by name among the user attributes the dashboard lists
    attrs = {a["key"]: a["value"] for a in shown_over["user_attrs"]}
    assert json.loads(attrs[K.CONSTRAINTS]) == pytest.approx(expected_over)
    assert attrs[K.STATUS] == "over_budget"
    # and Optuna reads the same list: its samplers see the violation
    assert list(over.constraints.values()) == pytest.approx(shown_over["constraints"])


def test_optuna_dashboard_shows_no_value_that_was_never_measured(dashboard):
    """Issue 22, item 3: hopeless candidates (never trained) showed as COMPLETE trials at
    their upper bound, results that never happened in the history and the importance.
    Now every value the dashboard shows is a measured one (a trained candidate's E_beta;
    an over-budget candidate, which scores 0 by the cost gate, is PRUNED without a value
    too), and its importance is computed on those alone."""
    url, base = dashboard
    obj = size_objective(size_spec(cost_max=8.5))
    study = obj.create_study(storage=url, study_name="hopeless", sampler="random", seed=0)
    for size in (3, 8, 7, 2, 9, 6, 1):  # 8, 7, 6 hopeless once 3 is trained; 9 over budget
        study.enqueue_trial({"size": size})
    study.optimize(obj, n_trials=7)
    statuses = {t.number: t.user_attrs[K.STATUS] for t in study.trials}
    assert sorted(statuses.values()).count("hopeless") == 3

    studies = _get_json(f"{base}/api/studies")["study_summaries"]
    (study_id,) = [s["study_id"] for s in studies if s["study_name"] == "hopeless"]
    shown = _get_json(f"{base}/api/studies/{study_id}")["trials"]
    assert len(shown) == 7
    for t in shown:
        values = t.get("values") or []
        if statuses[t["number"]] in ("hopeless", "over_budget"):
            assert t["state"] == "Pruned" and values == [] and t["intermediate_values"] == []
        else:
            assert t["state"] == "Complete" and len(values) == 1
            measured = study.trials[t["number"]].user_attrs[K.E_BETA]
            assert values[0] == pytest.approx(measured)  # a trained E_beta
    imp = _get_json(f"{base}/api/studies/{study_id}/param_importances")
    assert "param_importances" in imp, imp
    # the dashboard computes it from the COMPLETE trials: the 3 trained, nothing else
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert {t.user_attrs[K.STATUS] for t in complete} == {"trained"} and len(complete) == 3


def test_optuna_dashboard_shows_no_unmeasured_value_in_a_multi_objective_study(dashboard):
    """Issue 22, item 3, in the multi-objective mode: an over-budget candidate was
    COMPLETE at (perf 0, its costs), a performance never measured, on the dashboard's
    Pareto front plot and in its history. Now it is PRUNED without values, its violated
    cost constraint shown; the trained trials show their measured (perf, cost)."""
    url, base = dashboard
    obj = size_objective(size_spec(cost_max=6.5), mode="multi")
    study = obj.create_study(storage=url, study_name="multi", sampler="nsga2", seed=0)
    for size in (3, 8, 2, 9, 5):  # 8, 9 over budget
        study.enqueue_trial({"size": size})
    study.optimize(obj, n_trials=5)
    studies = _get_json(f"{base}/api/studies")["study_summaries"]
    (study_id,) = [s["study_id"] for s in studies if s["study_name"] == "multi"]
    shown = {t["number"]: t for t in _get_json(f"{base}/api/studies/{study_id}")["trials"]}
    assert len(shown) == 5
    for t in study.trials:
        d = shown[t.number]
        if t.params["size"] > 6:
            assert t.user_attrs[K.STATUS] == "over_budget" and t.user_attrs[K.PERF] is None
            assert d["state"] == "Pruned" and not d.get("values") and not _feasible(d)
        else:
            assert d["state"] == "Complete" and _feasible(d)
            assert d["values"] == pytest.approx([t.user_attrs[K.PERF], float(t.params["size"])])


# ---------------------------------------------------------------------- Optuna's CLI
def _cnn(trial: optuna.trial.Trial) -> torch.nn.Module:
    """A MobileNet-like CNN of 16 blocks (its report lists some 50 modules)."""
    w = trial.suggest_int("width", 8, 32)
    blocks = [torch.nn.Sequential(torch.nn.Conv2d(3, w, 3, padding=1), torch.nn.ReLU())]
    for _ in range(16):
        blocks.append(torch.nn.Sequential(
            torch.nn.Conv2d(w, w, 3, padding=1, groups=w), torch.nn.BatchNorm2d(w),
            torch.nn.ReLU(), torch.nn.Conv2d(w, w, 1), torch.nn.BatchNorm2d(w), torch.nn.ReLU(),
        ))
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(w, 10))
    return torch.nn.Sequential(*blocks, head)


def _optuna_trials_width(url: str, name: str) -> int:
    out = subprocess.run(
        [*_command("optuna", "optuna.cli.main"), "trials", "--study-name", name,
         "--storage", url],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    lines = out.splitlines()
    assert lines and lines[0].startswith("+"), out[:500]
    return max(len(line) for line in lines)


def test_optuna_trials_prints_a_readable_table(tmp_path):
    """``optuna trials`` on an effobj study: the table's width before (the report among the
    user_attrs, as effobj 0.1 recorded it) and after (the report in the system_attrs)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=8e6, cost_max=5e6, cost_name="macs")
    obj = EfficiencyObjective(spec, _cnn, lambda m, t: 0.8, torch.zeros(1, 3, 32, 32),
                              profiler=LocalProfiler(latency=False, memory=False))
    study = obj.create_study(storage=url, study_name="now", sampler="random", seed=0)
    study.optimize(obj, n_trials=4)
    # the same trials as an older effobj recorded them: report and "params" in user_attrs
    old = optuna.create_study(storage=url, study_name="before", direction="maximize")
    for t in study.trials:
        ua = dict(t.user_attrs)
        ua.pop(K.CONSTRAINTS, None)
        ua[K.COST_REPORT] = t.system_attrs["effobj:cost_report"]
        ua["params"] = ua.pop("n_params")
        old.add_trial(optuna.trial.create_trial(
            state=t.state, params=t.params, distributions=t.distributions, value=t.value,
            user_attrs=ua))

    before = _optuna_trials_width(url, "before")
    after = _optuna_trials_width(url, "now")
    print(f"optuna trials: {before} characters wide before, {after} after")
    assert before > 2_500  # one line held a whole report
    assert after < 1_000 and after * 4 < before
    for t in study.trials:  # the report is still on record, for effobj best/report
        assert K.COST_REPORT not in t.user_attrs
        assert K.TrialRecord.from_trial(t).cost_report["macs"] == t.user_attrs["macs"]
