"""A self-contained HTML page (figures embedded as base64 PNG, the interactive cost plane
with plotly.js inlined) and the PNG files beside it."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effobj._validation import check_output_path
from effobj.errors import InputError
from effobj.record import (
    DECISION_NOTE,
    N_PARAMS,
    OLD_N_PARAMS,
    Status,
    TrialRecord,
    decision_mark,
)

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from effobj.report._data import ReportData, TrialRow
    from effobj.spec import EfficiencySpec

__all__ = ["has_uncertain_gates", "leaderboard_rows", "render_html", "skip_why", "write_report"]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
       max-width: 1120px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
tr.win td { background: #fff6cc; }
figure { margin: 8px 0 18px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; max-width: 900px; }
.kpi { display: inline-block; margin: 4px 18px 4px 0; } .kpi b { font-size: 1.25em; }
.muted { color: #777; font-size: 0.85em; }
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.3g}"
        return f"{x:.{digits}g}"
    return str(x)


def leaderboard_rows(data: ReportData, top: int | None = 20) -> list[dict[str, Any]]:
    """The leaderboard: trained trials by E_beta (feasible first), then the skipped ones.

    Each row has ``rank`` (``None`` for untrained trials), ``trial``, ``e_beta``, ``perf``,
    every cost indicator of the spec, ``latency_ms``/``macs``/``params`` when recorded,
    ``trained`` and ``why`` (the skip reason or the failed gate); and ``gate`` when a trial
    of the study had an uncertain latency gate decision (:func:`has_uncertain_gates`):
    ``"under?"`` / ``"over?"`` for such a trial (:func:`effobj.record.decision_mark`),
    ``""`` for the others.

    Args:
        data: the report's data.
        top: at most this many trained trials (all when ``None``); the skipped trials
            follow, at most as many again.
    """
    ranked = data.ranking.top(top)
    by_number = {r.number: r for r in data.rows}
    extra = [k for k in ("latency_ms", "macs", N_PARAMS) if k not in data.spec.cost_names]
    gate = has_uncertain_gates(data)
    # the perf each trained candidate needed to win at its cost (effobj.targets)
    targets = any(isinstance(r.user_attrs.get("target_perf"), int | float) for r in data.rows)
    out = []
    for rt in ranked:
        r = by_number[rt.number]
        why = "" if rt.feasible else "fails a gate: " + ", ".join(
            k for k, v in data.spec.constraints(rt.perf, rt.costs).items() if v > 0
        )
        row: dict[str, Any] = {"rank": rt.rank if rt.feasible else None, "trial": rt.number,
               "e_beta": rt.e_beta, "perf": rt.perf, **rt.costs}
        row |= {k: _recorded(r.user_attrs, k) for k in extra}
        row |= {"target": r.user_attrs.get("target_perf")} if targets else {}
        row |= {"gate": decision_mark(r.user_attrs)} if gate else {}
        row |= {"trained": True, "why": why}
        out.append(row)
    skipped = [r for r in data.rows if not r.trained]
    skipped.sort(key=lambda r: -(r.upper_bound if math.isfinite(r.upper_bound) else -1.0))
    for r in skipped[: len(out) if top is not None else None]:
        row = {"rank": None, "trial": r.number, "e_beta": None, "perf": None, **r.costs}
        row |= {k: _recorded(r.user_attrs, k) for k in extra}
        row |= {"target": r.user_attrs.get("target_perf")} if targets else {}
        row |= {"gate": decision_mark(r.user_attrs)} if gate else {}
        row |= {"trained": False, "why": skip_why(data, r)}
        out.append(row)
    return out


def has_uncertain_gates(data: ReportData) -> bool:
    """Whether a trial of the report had an uncertain latency gate decision."""
    return any(decision_mark(r.user_attrs) for r in data.rows)


def _recorded(user_attrs: dict[str, Any], key: str) -> Any:
    """A recorded indicator; ``n_params`` of an older effobj's study is ``params``."""
    value = user_attrs.get(key)
    return user_attrs.get(OLD_N_PARAMS) if value is None and key == N_PARAMS else value


def skip_why(data: ReportData, row: TrialRow) -> str:
    """Why a trial was not trained, in a few words with its numbers."""
    rec = TrialRecord.from_user_attrs(row.user_attrs, ())
    if row.status == Status.HOPELESS:
        bound, inc = rec.upper_bound, rec.incumbent
        if bound is not None and inc is not None:
            return f"hopeless: bound {bound:.4f} < incumbent {inc:.4f}"
    if row.status == Status.OVER_BUDGET:
        over = [
            f"{c.name} {_fmt(row.costs.get(c.name))} > {_fmt(c.max)}"
            for c in data.spec.costs
            if c.max is not None and row.costs.get(c.name, 0.0) > c.max
        ]
        if over:
            return "over budget: " + ", ".join(over)
    return row.skip_reason or row.status


def _table(rows: list[dict[str, Any]], *, highlight: int | None = None, left: tuple[str, ...] = ()) -> str:
    if not rows:
        return "<p class='muted'>(none)</p>"
    cols = list(rows[0])
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in rows:
        cls = " class='win'" if highlight is not None and row.get("trial") == highlight else ""
        cells = "".join(
            f"<td class='{'l' if c in left else ''}'>{html.escape(_fmt(row[c]))}</td>" for c in cols
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _spec_text(spec: EfficiencySpec) -> str:
    costs = "; ".join(
        f"{c.name}: ref {c.ref:g}" + (f", max {c.max:g}" if c.max is not None else "")
        + (f", weight {c.weight:g}" if len(spec.costs) > 1 else "")
        for c in spec.costs
    )
    pmin = "none" if spec.perf_min is None else f"{spec.perf_min:g}"
    return f"beta^2 = {spec.beta2:g}; perf_ref {spec.perf_ref:g}, perf_min {pmin}; {costs}"


def render_html(data: ReportData, figures: dict[str, bytes], *, interactive: str = "") -> str:
    """The report page, with ``figures`` (name -> PNG bytes) embedded as data URIs and
    ``interactive`` (an HTML fragment: the plotly cost plane) above the static plane."""
    from effobj.optuna._storage import masked_url
    from effobj.report._figures import FIGURES

    s = data.summary
    w = data.winner
    title = f"effobj report: {data.study_name}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='muted'>storage {html.escape(masked_url(data.storage) if data.storage else '')} &middot; "
        f"{html.escape(_spec_text(data.spec))}</p>",
    ]
    if data.search_spec is not None and data.search_spec != data.spec:
        parts.append(
            "<p class='muted'>re-ranked: the search ran with "
            f"{html.escape(_spec_text(data.search_spec))}</p>"
        )
    kpis = [
        ("trials", f"{s.n_trials}"),
        ("trained", f"{s.n_trained}"),
        ("trainings avoided", f"{s.trainings_avoided} ({s.n_over_budget} over budget, "
                              f"{s.n_hopeless} hopeless)"),
        ("stopped early", f"{s.n_pruned_training} ({s.epochs_saved} epochs, about "
                          f"{s.est_stop_time_saved_s:.1f} s saved)"),
        ("training time", f"{s.train_time_s:.1f} s"),
        ("training time saved (est.)", f"{s.est_train_time_saved_s:.1f} s"),
        ("profiling time", f"{s.profile_time_s:.1f} s"),
        # as the search's summary counts: interrupted trials are not failures
        ("failed", f"{s.n_failed}"),
    ]
    if s.lookup_time_s >= 0.05:
        kpis.append(("cost look-up time", f"{s.lookup_time_s:.1f} s"))
    kpis += [(name, f"{n}") for name, n in (
        ("interrupted", s.n_interrupted),
        ("uncertain gate decisions", s.n_uncertain_decisions),
        ("latency profiles not converged", s.n_latency_unconverged)) if n]
    parts.append("<div>" + "".join(
        f"<span class='kpi'>{html.escape(k)}: <b>{html.escape(v)}</b></span>" for k, v in kpis
    ) + "</div>")
    if w is not None:
        desc = html.escape(", ".join(f"{k}={_fmt(v)}" for k, v in w.params.items()))
        parts.append(
            f"<p><b>Winner</b> for beta^2 = {data.spec.beta2:g}: trial {w.number}, "
            f"E_beta {w.e_beta:.4f}, perf {html.escape(_fmt(w.perf))}, "
            + html.escape(", ".join(f"{k} {_fmt(v)}" for k, v in w.costs.items()))
            + f"<br><span class='muted'>{desc}</span></p>"
        )
    else:
        parts.append("<p><b>No feasible trained trial yet.</b></p>")

    def figure(name: str) -> None:
        if name not in figures:
            return
        b64 = base64.b64encode(figures[name]).decode("ascii")
        caption = FIGURES[name][1]
        parts.append(
            f"<figure id='fig-{html.escape(name)}'><img alt='{html.escape(name)}' "
            f"src='data:image/png;base64,{b64}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    parts.append("<h2>Cost-performance plane</h2>")
    if interactive:
        parts.append(
            f"<figure id='fig-cost_plane_interactive'>{interactive}<figcaption>Interactive: "
            "every trial at its raw cost; hover a point for its trial number, parameters and "
            "costs; the buttons switch the y axis between performance and E_beta; the dashed "
            "line is the budget. Drag to zoom, double-click to reset.</figcaption></figure>"
        )
    figure("cost_plane")
    parts.append("<h2>Leaderboard</h2>")
    parts.append(_table(leaderboard_rows(data), highlight=w.number if w else None,
                        left=("why",)))
    if has_uncertain_gates(data):
        parts.append(f"<p class='muted'>gate {html.escape(DECISION_NOTE)}.</p>")
    parts.append("<h2>Which trial wins for which beta^2</h2>")
    figure("sensitivity")
    sens_rows = [
        {"beta2": r.beta2, "trial": r.number, "e_beta": r.e_beta, "perf": r.perf,
         "A": r.A, "C": r.C}
        for r in data.sensitivity.rows
    ]
    parts.append(_table(sens_rows))
    if data.sensitivity.changes:
        parts.append("<p>Winner changes (exact): " + "; ".join(
            f"beta^2 = {c.beta2:.4g}: trial {int(c.before)} &rarr; trial {int(c.after)}"
            for c in data.sensitivity.changes) + "</p>")
    else:
        parts.append("<p>The winner does not change over the grid.</p>")
    parts.append("<h2>Search progress and training avoided</h2>")
    figure("progress")
    parts.append(f"<p>{html.escape(str(s))}</p>")
    parts.append("<h2>Stochastic Pareto view</h2>")
    if "stochastic_pareto" in figures:
        figure("stochastic_pareto")
    else:
        parts.append("<p class='muted'>The trials carry no latency spread (e.g. a benchmark "
                     "table's single latency), so there is no stochastic view.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    study: optuna.Study,
    out: str | Path,
    *,
    spec: EfficiencySpec | None = None,
    storage: str = "",
    png: bool = True,
    interactive: bool = True,
) -> dict[str, Path]:
    """Write ``out`` (HTML) and, with ``png``, one PNG per figure beside it.

    The PNGs are named ``<stem>_<figure>.png`` next to the page; the page itself embeds
    the same images, so it can be mailed or archived alone. With ``interactive`` (and
    plotly installed) the page also holds the interactive cost plane with plotly.js
    inlined (about 4.8 MB): it works offline.

    Args:
        study: the study to report.
        out: path of the HTML file (its folder is created).
        spec: score under this spec instead of the study's own (e.g. another beta^2).
        storage: the storage URL, shown in the page.
        png: also write the PNG files.
        interactive: embed the interactive (plotly) cost plane.

    Returns:
        ``{"html": path, "<figure>": png path, ...}``.

    Raises:
        InputError: ``out`` does not end in ``.html``/``.htm``, is a folder or lies in a
            folder that cannot be written, a PNG file beside it cannot be written (the
            message names that file), or see :func:`effobj.report.collect`.
    """
    from effobj.report._data import collect
    from effobj.report._figures import render_figures

    path = Path(check_output_path(str(out), "out", "write_report", (".html", ".htm")))
    data = collect(study, spec, storage=storage)
    figures = render_figures(data)
    plane = ""
    if interactive:
        from effobj.report._plotly import cost_plane_html

        plane = cost_plane_html(data) or ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data, figures, interactive=plane), encoding="utf-8")
    written: dict[str, Path] = {"html": path}
    if png:
        for name, blob in figures.items():
            p = path.with_name(f"{path.stem}_{name}.png")
            try:
                p.write_bytes(blob)
            except OSError as exc:  # the page is written: say which file failed, not the page
                raise InputError(
                    f"The report's figure file {str(p)!r} cannot be written: "
                    f"{exc.strerror or exc}. The page {str(path)!r} was written; its PNG files "
                    "go beside it as <stem>_<figure>.png (png=False, in the command line "
                    "--no-png, writes the page only)."
                ) from None
            written[name] = p
    return written
