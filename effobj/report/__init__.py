r"""Reports of effobj studies: the pictures people would rather look at than read.

:func:`write_report` turns a finished (or running) study into a self-contained HTML page
with its figures embedded, plus one PNG per figure beside it:

- the (cost, performance) plane with every trial, the Pareto front, the feasible region
  and iso-:math:`E_\beta` curves;
- the winner for each :math:`\beta^2` of a log grid and where it changes;
- :math:`E_\beta` over the trials (best so far), trained vs skipped candidates and the
  training time saved;
- the stochastic Pareto view when latencies carry a measured spread;
- an interactive cost plane (plotly, its JavaScript inlined: the page works offline):
  hover a trial for its number, parameters and costs.

Import it explicitly (``import effobj.report``): it imports Optuna and matplotlib.
"""

from __future__ import annotations

from effobj.report._data import ReportData, TrialRow, collect, latency_spread
from effobj.report._figures import (
    FIGURES,
    iso_curve,
    plot_cost_plane,
    plot_progress,
    plot_sensitivity,
    plot_stochastic_pareto,
    render_figures,
)
from effobj.report._html import leaderboard_rows, render_html, write_report
from effobj.report._plotly import cost_plane_figure, cost_plane_html

__all__ = [
    "FIGURES",
    "ReportData",
    "TrialRow",
    "collect",
    "cost_plane_figure",
    "cost_plane_html",
    "iso_curve",
    "latency_spread",
    "leaderboard_rows",
    "plot_cost_plane",
    "plot_progress",
    "plot_sensitivity",
    "plot_stochastic_pareto",
    "render_figures",
    "render_html",
    "write_report",
]
