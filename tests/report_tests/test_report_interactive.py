"""The report's interactive cost plane (plotly): in the page, offline, with its hover data."""

from __future__ import annotations

import html
import re
from pathlib import Path

import optuna
import pytest

from effobj import EfficiencySpec
from effobj.cli import main
from effobj.optuna import EfficiencyObjective, optimize
from effobj.report import collect, cost_plane_figure, write_report
from effobj.report._plotly import COST_PLANE_DIV

optuna.logging.set_verbosity(optuna.logging.WARNING)
NASTY = "</script><script>alert(1)</script>"


def _perf(size: int, trial: optuna.trial.Trial, report=None) -> float:
    return 1.0 - abs(size - 3) / 10.0


def _build(trial: optuna.trial.Trial) -> int:
    trial.suggest_categorical("note", [NASTY])  # a hyper-parameter from the storage
    return trial.suggest_int("size", 1, 9)


@pytest.fixture(scope="module")
def study_url(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    spec = EfficiencySpec.for_budget(6.0, perf_ref=1.0, perf_min=0.75, cost_name="size")
    url = f"sqlite:///{tmp_path_factory.mktemp('plane')}/s.db"
    objective = EfficiencyObjective(spec, build=_build, evaluate=_perf,
                                    measure=lambda size: {"size": float(size),
                                                          "size2": 2.0 * size},
                                    skip_hopeless=False)
    study = objective.create_study(storage=url, study_name="plane", sampler="random", seed=1)
    for size in range(1, 10):  # every candidate once: each group of the plane is present
        study.enqueue_trial({"size": size, "note": NASTY})
    optimize(study, objective, 9)
    return study, url


def test_the_figure_has_every_trial_grouped_with_its_hover_data(study_url) -> None:
    study, _ = study_url
    data = collect(study)
    fig = cost_plane_figure(data)
    groups = {t["name"]: t for t in fig["data"]}
    by_group = {name: sorted(t["customdata"]) for name, t in groups.items()}
    sizes = {t.number: t.params["size"] for t in study.trials}
    # 7-9 are over the budget (6); 6 is within it but below perf_min (0.7 < 0.75)
    assert by_group["over budget (not trained)"] == sorted(n for n, s in sizes.items() if s > 6)
    assert by_group["feasible (trained)"] == sorted(
        n for n, s in sizes.items() if s <= 6 and _perf(s, None) >= 0.75)
    assert by_group["infeasible (trained: fails a gate)"] == sorted(
        n for n, s in sizes.items() if s <= 6 and _perf(s, None) < 0.75)
    winner = next(t for name, t in groups.items() if name.startswith("winner"))
    spec = data.spec
    best = max((n for n, s in sizes.items() if s <= 5), key=lambda n: spec.score(
        _perf(sizes[n], None), sizes[n]))
    assert winner["customdata"] == [best] and data.winner.number == best
    for t in fig["data"]:
        for n, x, text in zip(t["customdata"], t["x"], t["text"], strict=True):
            assert x == sizes[n]  # the raw cost on x
            assert text.startswith(f"<b>trial {n}</b>")
            assert f"size = {sizes[n]}" in text and f"costs: size {sizes[n]}" in text
            assert NASTY not in text and html.escape(f"note = {NASTY}") in text
    # the budget line, and the button that switches y to E_beta
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == line["x1"] == 6.0
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons] == ["performance", "E_beta"]
    e_ys = buttons[1]["args"][0]["y"]
    assert len(e_ys) == len(fig["data"])
    feasible = list(groups).index("feasible (trained)")
    assert all(0 < y <= 1 for y in e_ys[feasible])


def test_the_page_holds_the_plot_offline_and_the_static_figures(study_url, tmp_path: Path) -> None:
    study, url = study_url
    out = write_report(study, tmp_path / "r.html", storage=url, png=False)
    page = out["html"].read_text()
    assert f'id="{COST_PLANE_DIV}"' in page
    assert "plotly.js v" in page  # the library itself is inlined ...
    assert not re.search(r"<script[^>]+src=", page)  # ... nothing is loaded from a network
    assert page.count("data:image/png;base64,") >= 3  # the static figures stay
    assert len(page.encode()) < 6_000_000  # plotly.js is ~4.8 MB of it
    assert NASTY not in page  # the storage's text cannot close the script
    # every trial's hover data is in the page (plotly's JSON escapes < > /)
    for t in study.trials:
        assert f"\\u003cb\\u003etrial {t.number}\\u003c\\u002fb\\u003e" in page


def test_no_interactive_leaves_plotly_out(study_url, tmp_path: Path, capsys) -> None:
    _, url = study_url
    out = tmp_path / "small.html"
    assert main(["report", "--storage", url, "--study-name", "plane", "--out", str(out),
                 "--no-png", "--no-interactive"]) == 0
    page = out.read_text()
    assert COST_PLANE_DIV not in page and "plotly.js" not in page
    assert len(page.encode()) < 1_000_000


def test_several_indicators_plot_the_combined_cost_without_a_single_budget_line(study_url) -> None:
    from effobj import CostIndicator

    study, _ = study_url
    spec = EfficiencySpec(perf_ref=1.0, costs=[CostIndicator("size", ref=12.0, max=6.0),
                                               CostIndicator("size2", ref=24.0, weight=0.0)])
    fig = cost_plane_figure(collect(study, spec))
    assert fig["layout"]["shapes"] == []
    assert "C = mean of normalized (size, size2)" in fig["layout"]["xaxis"]["title"]["text"]
    xs = sorted(x for t in fig["data"] if not t["name"].startswith("winner") for x in t["x"])
    assert xs == pytest.approx(sorted(t.params["size"] / 12.0 for t in study.trials))
