"""effobj report: from real studies (NAS-Bench-Graph look-ups, profiled torch models) to a page."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from effobj.cli import main
from effobj.errors import InputError
from effobj.metric import e_beta
from effobj.optuna import create_study, objective_from_space, optimize
from effobj.report import collect, iso_curve, leaderboard_rows, render_figures, write_report
from effobj.rerank import best_trials
from effobj.spec import EfficiencySpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _cora_spec(beta2: float = 1.0) -> EfficiencySpec:
    import effobj.spaces

    a = effobj.spaces.get("nas-bench-graph:cora").arrays()
    p90 = float(np.percentile(a["latency"], 90))
    best = float(a["perf"].max())
    return EfficiencySpec(beta2=beta2, perf_ref=best, cost_ref=p90, perf_min=0.9 * best,
                          cost_max=0.5 * p90, cost_name="latency")


@pytest.fixture(scope="module")
def cora_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str, EfficiencySpec]:
    """A real effobj search of nas-bench-graph:cora: 30 trials in an SQLite file."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = _cora_spec()
    url = f"sqlite:///{tmp_path_factory.mktemp('cora')}/cora.db"
    study = create_study(spec, storage=url, study_name="cora", seed=3)
    import effobj.spaces

    optimize(study, objective_from_space(spec, effobj.spaces.get("nas-bench-graph:cora")), 30)
    return study, url, spec


def test_collect_reads_every_finished_trial_and_the_same_winner(cora_study) -> None:
    study, url, spec = cora_study
    data = collect(study, storage=url)
    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                        optuna.trial.TrialState.PRUNED))
    assert [r.number for r in data.rows] == sorted(t.number for t in finished)
    assert data.winner is not None
    assert data.winner.number == best_trials(study, spec, top=1)[0].number
    assert data.summary.n_trained == sum(r.trained for r in data.rows)
    # untrained rows still carry their cost and bound, never a performance
    for r in data.rows:
        assert math.isfinite(r.C) and math.isfinite(r.upper_bound)
        if not r.trained:
            assert math.isnan(r.perf) and math.isnan(r.e_beta)
    # the sensitivity rows name trained trials only
    trained = {r.number for r in data.trained}
    assert {r.number for r in data.sensitivity.rows} <= trained


def test_cli_writes_a_self_contained_page_and_pngs(cora_study, tmp_path: Path, capsys) -> None:
    study, url, spec = cora_study
    out = tmp_path / "r" / "report.html"
    code = main(["report", "--storage", url, "--study-name", "cora", "--out", str(out)])
    assert code == 0
    page = out.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 3  # cost plane, sensitivity, progress (no latency spread in a table)
    assert all(base64.b64decode(b)[:8] == PNG_MAGIC for b in images)
    for name in ("cost_plane", "sensitivity", "progress"):
        png = tmp_path / "r" / f"report_{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"id='fig-{name}'" in page
    assert not (tmp_path / "r" / "report_stochastic_pareto.png").exists()
    assert "no latency spread" in page
    winner = best_trials(study, spec, top=1)[0]
    assert f"trial {winner.number}, E_beta {winner.e_beta:.4f}" in page
    assert "report_cost_plane.png" in capsys.readouterr().out


def test_rescoring_for_another_beta2_changes_the_page(cora_study, tmp_path: Path) -> None:
    study, url, spec = cora_study
    out = tmp_path / "b4.html"
    assert main(["report", "--storage", url, "--study-name", "cora", "--out", str(out),
                 "--beta2", "4", "--no-png"]) == 0
    page = out.read_text()
    assert "re-ranked: the search ran with beta^2 = 1" in page
    w4 = best_trials(study, spec.replace(beta2=4.0), top=1)[0]
    assert f"Winner</b> for beta^2 = 4: trial {w4.number}" in page
    assert list(tmp_path.glob("*.png")) == []


def test_leaderboard_ranks_feasible_trained_then_lists_skipped(cora_study) -> None:
    study, url, spec = cora_study
    data = collect(study)
    rows = leaderboard_rows(data, top=None)
    trained = [r for r in rows if r["trained"]]
    ranked = [r for r in trained if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert [r["e_beta"] for r in ranked] == sorted((r["e_beta"] for r in ranked), reverse=True)
    assert all(r["why"] == "" for r in ranked)
    assert all(r["why"].startswith("fails a gate") for r in trained if r["rank"] is None)
    skipped = [r for r in rows if not r["trained"]]
    assert len(skipped) == sum(1 for r in data.rows if not r.trained)
    assert all(r["why"].startswith(("hopeless", "over budget")) for r in skipped)


def test_report_of_profiled_models_draws_the_stochastic_front(tmp_path: Path) -> None:
    """Real torch models, really profiled: their latencies carry a spread (IQR)."""
    import torch

    from effobj.optuna import EfficiencyObjective
    from effobj.profiler import LocalProfiler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=2e5, cost_name="macs")

    def build(trial: optuna.trial.Trial) -> torch.nn.Module:
        width = trial.suggest_categorical("width", [8, 32, 128, 256])
        return torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(),
                                   torch.nn.Linear(width, 10))

    def evaluate(model: torch.nn.Module, trial: optuna.trial.Trial) -> float:
        return 0.80 + 0.05 * math.log2(model[0].out_features / 8) / 5  # wider: better

    obj = EfficiencyObjective(spec, build, evaluate, torch.randn(1, 64),
                              profiler=LocalProfiler(max_time_s=0.05, threads=1),
                              skip_hopeless=False)
    study = obj.create_study(storage=":memory:", study_name="mlp")
    for w in (8, 32, 128, 256):
        study.enqueue_trial({"width": w})
    study.optimize(obj, n_trials=4)
    data = collect(study)
    assert data.has_latency_spread
    figures = render_figures(data)
    assert set(figures) == {"cost_plane", "sensitivity", "progress", "stochastic_pareto"}
    written = write_report(study, tmp_path / "mlp.html")
    assert written["stochastic_pareto"].read_bytes()[:8] == PNG_MAGIC
    assert "id='fig-stochastic_pareto'" in written["html"].read_text()
    from effobj.report import plot_stochastic_pareto

    probs = plot_stochastic_pareto(data, n_samples=200).stochastic_probabilities
    assert set(probs) == {r.number for r in data.trained}
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    # the smallest model is the cheapest in MACs and never dominated in latency for sure
    assert max(probs.values()) > 0.0



def test_stochastic_front_resamples_the_measured_blocks_and_falls_back_only_without_them() -> None:
    """The latency bars come from bootstrap quantiles of the kept blocks: never below the
    fastest block (no negative latency); a report without blocks is drawn the old way,
    and the figure says so."""
    import dataclasses

    import torch

    from effobj.optuna import EfficiencyObjective
    from effobj.profiler import LocalProfiler
    from effobj.report import plot_stochastic_pareto

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=2e5, cost_name="macs")

    def build(trial: optuna.trial.Trial) -> torch.nn.Module:
        return torch.nn.Linear(16, trial.suggest_categorical("width", [4, 64]))

    obj = EfficiencyObjective(spec, build, lambda m, t: 0.5 + m.out_features / 200,
                              torch.randn(1, 16),
                              profiler=LocalProfiler(max_time_s=0.05, threads=1),
                              skip_hopeless=False)
    study = obj.create_study(storage=":memory:", study_name="blocks")
    for w in (4, 64):
        study.enqueue_trial({"width": w})
    study.optimize(obj, n_trials=2)
    data = collect(study)
    assert all(r.latency_blocks_ms for r in data.trained)
    fig = plot_stochastic_pareto(data, n_samples=300)
    assert fig.stochastic_mode == "bootstrap"
    for r in data.trained:
        lo, hi = fig.latency_intervals[r.number]
        assert min(r.latency_blocks_ms) <= lo <= hi <= max(r.latency_blocks_ms)
        assert lo > 0.0
    # reports written before the blocks were kept: the normal fallback, said in the figure
    old = dataclasses.replace(data, rows=[dataclasses.replace(r, latency_blocks_ms=None)
                                          for r in data.rows])
    fig = plot_stochastic_pareto(old, n_samples=300)
    assert fig.stochastic_mode == "normal"
    assert all(lo >= 0.0 for lo, _ in fig.latency_intervals.values())
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "no per-block latencies" in texts


@given(st.floats(0.05, 0.95), st.floats(0.01, 100.0), st.floats(0.0, 0.9))
def test_iso_curve_lies_on_its_level(e: float, beta2: float, c: float) -> None:
    a = float(iso_curve(e, beta2, np.array([c]))[0])
    if math.isnan(a):  # unreachable: even A = 1 scores below e, or A would exceed 1
        assert float(e_beta(1.0, c, beta2=beta2)) < e + 1e-9
    else:
        assert float(e_beta(a, c, beta2=beta2)) == pytest.approx(e, rel=1e-9, abs=1e-12)


def test_bad_output_path_and_missing_study(cora_study, tmp_path: Path, capsys) -> None:
    study, url, spec = cora_study
    with pytest.raises(InputError, match="'out' parameter of write_report must end in .html or .htm. Got '.*report.pdf'"):
        write_report(study, tmp_path / "report.pdf")
    assert main(["report", "--storage", url, "--study-name", "nope",
                 "--out", str(tmp_path / "x.html")]) == 2
    assert "'nope' is not in" in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path}/missing.db"
    assert main(["report", "--storage", missing, "--study-name", "cora",
                 "--out", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "missing.db").exists()
