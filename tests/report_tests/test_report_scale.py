"""A report of a large study (issue 24 item 5): one scatter per status, not one per trial.

The cost plane drew each trial with its own ``ax.scatter``: 10,000 trials took 166-272 s
and about 470-630 MB. The figures now hold a fixed number of artists whatever the number
of trials; the slow test writes the whole report of 10,000 trials in under 20 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from effobj.report import collect, cost_plane_figure, plot_cost_plane, plot_progress, write_report
from effobj.spec import EfficiencySpec

SPEC = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_max=6.0, perf_min=0.5, cost_name="lat")


def _study(n: int, seed: int = 0) -> optuna.Study:
    """``n`` trials as effobj records them: trained, over budget or hopeless."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("effobj_spec", SPEC.to_dict())
    rng = np.random.default_rng(seed)
    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    trials = []
    for _ in range(n):
        x = float(rng.random())
        lat = 10.0 * x
        status = "over_budget" if lat > 6.0 else ("hopeless" if rng.random() < 0.3 else "trained")
        attrs: dict[str, object] = {"lat": lat, "status": status, "trained": status == "trained"}
        if status == "trained":
            attrs["perf"] = float(np.clip(0.4 + 0.6 * x + 0.05 * rng.standard_normal(), 0, 1))
        trials.append(optuna.trial.create_trial(params={"x": x}, distributions=dist, value=0.0,
                                                user_attrs=attrs))
    study.add_trials(trials)
    return study


def _artists(fig) -> list[int]:
    return [len(ax.collections) + len(ax.lines) for ax in fig.axes]


def test_the_figures_hold_as_many_artists_for_400_trials_as_for_40() -> None:
    small, large = collect(_study(40)), collect(_study(400, seed=1))
    assert {r.status for r in small.rows} == {r.status for r in large.rows}
    assert _artists(plot_cost_plane(small)) == _artists(plot_cost_plane(large))
    assert _artists(plot_progress(small)) == _artists(plot_progress(large))
    assert len(cost_plane_figure(small)["data"]) == len(cost_plane_figure(large)["data"])
    # the zoom writes at most MAX_LABELS trial numbers, the winner's among them
    from effobj.report._figures import MAX_LABELS

    zoom = plot_cost_plane(large).axes[1]
    labels = [t.get_text() for t in zoom.texts if t.get_text().isdigit()]
    assert 0 < len(labels) <= MAX_LABELS
    assert str(large.winner.number) in labels


@pytest.mark.slow
def test_a_report_of_10000_trials_takes_under_20_s(tmp_path: Path) -> None:
    study = _study(10_000)
    t0 = time.perf_counter()
    written = write_report(study, tmp_path / "r.html")
    took = time.perf_counter() - t0
    print(f"report of 10,000 trials: {took:.1f} s")
    assert took < 20.0
    assert written["cost_plane"].stat().st_size > 0
