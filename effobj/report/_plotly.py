r"""The interactive cost plane of a report (plotly), embedded so the page works offline.

Cost on x (the raw indicator when the spec has one, else the normalized combined
:math:`C`), performance on y (a button switches to :math:`E_\beta`), feasible and
infeasible trials marked apart, the budget as a vertical line, and on hover each trial's
number, status, performance, :math:`E_\beta`, costs and hyper-parameters. Trials that were
not trained (cost known, performance unknown) sit on a strip below the trained ones.

The page carries plotly.js itself (``include_plotlyjs=True``, about 4.8 MB for plotly 6-7)
rather than a link to a CDN: a report is mailed and archived, and read where there is no
network. ``write_report(..., interactive=False)`` (``effobj report --no-interactive``)
leaves the plot out for a page of a few hundred KB.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from effobj.report._data import ReportData, TrialRow

__all__ = ["COST_PLANE_DIV", "cost_plane_figure", "cost_plane_html"]

#: the id of the interactive plot's ``<div>`` in the page
COST_PLANE_DIV = "cost-plane-interactive"

#: trace name -> (colour, marker symbol)
_GROUPS: dict[str, tuple[str, str]] = {
    "feasible (trained)": ("#1f77b4", "circle"),
    "infeasible (trained: fails a gate)": ("#ff7f0e", "diamond"),
    "over budget (not trained)": ("#d62728", "x"),
    "within budget, not trained": ("#7f7f7f", "line-ns-open"),
}


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.4g}"


def _group(data: ReportData, r: TrialRow) -> str:
    if r.trained and math.isfinite(r.perf):
        feasible = bool(data.spec.is_feasible(r.perf, r.costs))
        return "feasible (trained)" if feasible else "infeasible (trained: fails a gate)"
    over = any(c.max is not None and r.costs.get(c.name, 0.0) > c.max for c in data.spec.costs)
    return "over budget (not trained)" if over else "within budget, not trained"


def _hover(data: ReportData, r: TrialRow) -> str:
    """A trial's hover text; every value from the storage is HTML-escaped."""
    e = html.escape
    lines = [f"<b>trial {r.number}</b> ({e(str(r.status))})"]
    if r.trained and math.isfinite(r.perf):
        lines.append(f"perf {_num(r.perf)}  E_beta {_num(r.e_beta)}")
    else:
        lines.append(f"not trained: {e(r.skip_reason or r.status)}; "
                     f"bound E_beta(A=1) {_num(r.upper_bound)}")
    lines.append("costs: " + e(", ".join(f"{k} {_num(v)}" for k, v in r.costs.items())))
    lines += [e(f"{k} = {v}") for k, v in r.params.items()]
    return "<br>".join(lines)


def cost_plane_figure(data: ReportData) -> dict[str, Any]:
    """The interactive cost plane as a plotly figure dict (``{"data": [...], "layout": ...}``).

    One trace per group (feasible, infeasible, over budget, untrained within budget) and
    one for the winner; each point's ``customdata`` is its trial number and its ``text``
    the hover text. The layout's button switches y between the performance and
    :math:`E_\\beta`.
    """
    spec = data.spec
    one = len(spec.costs) == 1
    name = spec.costs[0].name if one else "C"

    def x_of(r: TrialRow) -> float | None:
        v = r.costs.get(name) if one else r.C
        return float(v) if v is not None and math.isfinite(v) else None

    rows = [r for r in data.rows if x_of(r) is not None]
    trained = [r for r in rows if r.trained and math.isfinite(r.perf)]
    perf_lo = min([r.perf for r in trained] + ([spec.perf_min] if spec.perf_min else []),
                  default=0.0)
    perf_hi = max([r.perf for r in trained], default=spec.perf_ref)
    strip_perf = perf_lo - 0.08 * max(perf_hi - perf_lo, 0.05 * spec.perf_ref)
    strip_e = -0.06
    traces: list[dict[str, Any]] = []
    ys: dict[str, list[list[float | None]]] = {"perf": [], "e_beta": []}
    for group, (colour, symbol) in _GROUPS.items():
        members = [r for r in rows if _group(data, r) == group]
        if not members:
            continue
        done = [r.trained and math.isfinite(r.perf) for r in members]
        ys["perf"].append([r.perf if d else strip_perf for r, d in zip(members, done, strict=True)])
        ys["e_beta"].append([r.e_beta if d else strip_e for r, d in zip(members, done, strict=True)])
        traces.append({
            "type": "scatter", "mode": "markers", "name": group,
            "x": [x_of(r) for r in members], "y": ys["perf"][-1],
            "customdata": [r.number for r in members],
            "text": [_hover(data, r) for r in members],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"color": colour, "symbol": symbol, "size": 9,
                       "line": {"width": 1.5, "color": colour}},
        })
    w = data.winner
    if w is not None and x_of(w) is not None:
        ys["perf"].append([w.perf])
        ys["e_beta"].append([w.e_beta])
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"winner: trial {w.number}",
            "x": [x_of(w)], "y": [w.perf], "customdata": [w.number],
            "text": [_hover(data, w)], "hovertemplate": "%{text}<extra></extra>",
            "marker": {"color": "gold", "symbol": "star", "size": 18,
                       "line": {"width": 1, "color": "black"}},
        })
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    budget = spec.costs[0].max if one else (1.0 if data.c_max is None else data.c_max)
    if budget is not None and (one or data.c_max is not None):
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": budget, "x1": budget,
                       "y0": 0, "y1": 1, "line": {"color": "#2ca02c", "width": 2, "dash": "dash"}})
        annotations.append({"xref": "x", "yref": "paper", "x": budget, "y": 1.0,
                            "text": f"budget {_num(budget)}", "showarrow": False,
                            "xanchor": "left", "yanchor": "top",
                            "font": {"color": "#2ca02c"}})
    x_title = (f"{name} (raw; C = {name} / {spec.costs[0].ref:g})" if one
               else data.cost_label)
    perf_title = f"performance (perf_ref {spec.perf_ref:g}; untrained trials on the strip below)"
    e_title = f"E_beta (beta^2 = {spec.beta2:g}; untrained trials on the strip below)"
    layout = {
        "title": {"text": f"Cost plane of {html.escape(data.study_name)}: hover a point for its "
                          "trial, parameters and costs"},
        "xaxis": {"title": {"text": html.escape(x_title)}, "zeroline": False},
        "yaxis": {"title": {"text": perf_title}},
        "shapes": shapes,
        "annotations": annotations,
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.18},
        "height": 560,
        "margin": {"t": 80},
        "updatemenus": [{
            "type": "buttons", "direction": "right", "x": 0.0, "y": 1.12, "xanchor": "left",
            "showactive": True,
            "buttons": [
                {"label": "performance", "method": "update",
                 "args": [{"y": ys["perf"]}, {"yaxis.title.text": perf_title}]},
                {"label": "E_beta", "method": "update",
                 "args": [{"y": ys["e_beta"]}, {"yaxis.title.text": e_title}]},
            ],
        }],
    }
    return {"data": traces, "layout": layout}


def cost_plane_html(data: ReportData) -> str | None:
    """The interactive cost plane as an HTML fragment with plotly.js inlined (offline), or
    ``None`` when plotly is not installed (the page keeps its static figures)."""
    try:
        import plotly.io as pio
    except ImportError:  # pragma: no cover - the report extra is not installed
        return None
    fig = cost_plane_figure(data)
    return str(pio.to_html(fig, full_html=False, include_plotlyjs=True, div_id=COST_PLANE_DIV,
                           config={"displaylogo": False, "responsive": True}, validate=True))
