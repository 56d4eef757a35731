"""``effobj search --method reinforce`` records its samples as trials that ``effobj best`` ranks."""

from __future__ import annotations

import json

import optuna
import pytest

from effobj import EfficiencySpec
from effobj.cli import main


def test_reinforce_search_then_best(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    common = ["--storage", url, "--study-name", "rl"]
    code = main([
        "search", "--space", "nas-bench-graph:cora", "--method", "reinforce", "--trials", "25",
        "--beta2", "1", "--perf-ref", "0.9", "--cost-ref", "0.02", "--cost", "latency",
        "--seed", "3", "--no-progress", *common,
    ])
    assert code == 0
    study = optuna.load_study(study_name="rl", storage=url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 20 <= len(done) <= 25  # rejected index vectors (the all-skip cell) are not recorded
    assert all(t.user_attrs.get("effobj_method") == "reinforce" for t in done)
    assert all("e_beta" in t.user_attrs and "latency" in t.user_attrs for t in done)
    capsys.readouterr()
    assert main(["best", *common, "--beta2", "4", "--format", "json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["number"] in {t.number for t in done}
    spec = EfficiencySpec(beta2=4.0, perf_ref=0.9, cost_ref=0.02, cost_name="latency")
    expected = max(
        spec.score(t.user_attrs["perf"], t.user_attrs["latency"])
        for t in done if t.user_attrs.get("perf") is not None
    )
    assert best["e_beta"] == pytest.approx(expected)  # re-ranked at beta2=4, no new trial
    assert len(optuna.load_study(study_name="rl", storage=url).trials) == len(study.trials)


def test_reinforce_refuses_max_trainings(tmp_path, capsys):
    code = main([
        "search", "--space", "nas-bench-graph:cora", "--method", "reinforce", "--trials", "5",
        "--beta2", "1", "--perf-ref", "0.9", "--cost-ref", "0.02", "--cost", "latency",
        "--max-trainings", "3", "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress",
    ])
    assert code == 2
    assert "--max-trainings" in capsys.readouterr().err
