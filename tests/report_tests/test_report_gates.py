"""Uncertain latency gate decisions as ``effobj report`` and ``effobj best`` show them."""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

import optuna
import pytest
import torch

from effobj.cli import main
from effobj.optuna import EfficiencyObjective, create_study
from effobj.profiler import LocalProfiler
from effobj.record import DECISION_NOTE
from effobj.report import collect, leaderboard_rows, write_report
from effobj.spec import EfficiencySpec

#: width -> (median latency ms, its 95 % interval) against a 2 ms budget
LATENCY = {3: (2.0, (1.9, 2.1)),   # at the budget: under, uncertain
           5: (1.0, (0.9, 1.1)),   # under, certain
           6: (1.5, (1.4, 1.6)),   # under, certain
           8: (2.05, (1.9, 2.1))}  # over, uncertain
MARKS = {3: "under?", 5: "", 6: "", 8: "over?"}


class TableLatency:
    """A user-written profiler: real counts, the latency of :data:`LATENCY`."""

    def profile(self, model: torch.nn.Module, example_inputs: torch.Tensor):
        report = LocalProfiler(latency=False).profile(model, example_inputs)
        median, ci = LATENCY[model[0].out_features]
        return dataclasses.replace(report, latency_ms=median, latency_ci95_ms=ci,
                                   latency_converged=True, throughput=1e3 / median)


def _study(url: str, name: str, gated: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0,
                          cost_max=2.0 if gated else None, cost_name="latency_ms")

    def build(trial: optuna.trial.Trial) -> torch.nn.Module:
        width = trial.suggest_int("width", 3, 8)
        return torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(),
                                   torch.nn.Linear(width, 2))

    obj = EfficiencyObjective(spec, build, lambda model, trial: 0.5 + model[0].out_features / 20,
                              torch.ones(1, 4), profiler=TableLatency(), skip_hopeless=False)
    study = create_study(spec, storage=url, study_name=name)
    for w in LATENCY:
        study.enqueue_trial({"width": w})
    study.optimize(obj, n_trials=len(LATENCY))
    return study


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('gates')}/g.db"
    _study(url, "gated", gated=True)
    _study(url, "plain", gated=False)
    return url


def test_the_leaderboard_marks_uncertain_decisions_with_their_side(url: str, tmp_path: Path):
    study = optuna.load_study(study_name="gated", storage=url)
    data = collect(study)
    assert data.summary.n_uncertain_decisions == 2
    rows = leaderboard_rows(data, top=None)
    by_trial = {r["trial"]: r for r in rows}
    widths = {t.number: t.params["width"] for t in study.trials}
    assert {n: by_trial[n]["gate"] for n in widths} == {n: MARKS[w] for n, w in widths.items()}
    assert list(rows[0])[-3:] == ["gate", "trained", "why"]
    page = write_report(study, tmp_path / "g.html", png=False, interactive=False)["html"].read_text()
    assert "<th class=''>gate</th>" in page and ">under?</td>" in page and ">over?</td>" in page
    assert html.escape(DECISION_NOTE) in page
    assert "uncertain gate decisions: <b>2</b>" in page


def test_a_study_without_uncertain_decisions_has_no_gate_column(url: str, tmp_path: Path):
    study = optuna.load_study(study_name="plain", storage=url)
    data = collect(study)
    assert all("gate" not in r for r in leaderboard_rows(data, top=None))
    page = write_report(study, tmp_path / "p.html", png=False, interactive=False)["html"].read_text()
    assert html.escape(DECISION_NOTE) not in page and "uncertain gate decisions" not in page


def test_best_shows_the_mark_and_its_note(url: str, capsys):
    assert main(["best", "--storage", url, "--study-name", "gated"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert header.split()[:7] == ["rank", "trial", "E_beta", "perf", "target", "latency_ms",
                                 "gate"]
    marked = [line for line in lines if " under? " in line and "{'width'" in line]
    assert len(marked) == 1 and "{'width': 3}" in marked[0]
    assert f"gate {DECISION_NOTE}." in out
    assert main(["best", "--storage", url, "--study-name", "gated", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    everyone = [doc, *doc["runners_up"]]
    assert {t["params"]["width"]: t["uncertain_gate"] for t in everyone} == {
        3: "under?", 5: None, 6: None}


def test_best_of_a_study_without_them_is_unchanged(url: str, capsys):
    assert main(["best", "--storage", url, "--study-name", "plain"]) == 0
    out = capsys.readouterr().out
    assert "gate" not in out and "under?" not in out
