r"""The report's figures, drawn with matplotlib (Agg backend, no display needed).

Each ``plot_*`` function takes a :class:`~effobj.report.ReportData` and returns a
``matplotlib.figure.Figure``; :func:`render_figures` draws them all and returns PNG
bytes by name.

The iso-curves of the cost-performance plane solve :math:`E_\beta(A, C) = e` for
:math:`A`:

.. math::

    A = \frac{e\,\beta^2\,C'}{(1+\beta^2)\,C' - e}, \qquad C' = 1 - C,
    \quad (1+\beta^2)\,C' > e .
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from effobj.record import Status
from effobj.report._data import best_so_far

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from effobj.report._data import ReportData

__all__ = [
    "FIGURES",
    "iso_curve",
    "plot_cost_plane",
    "plot_progress",
    "plot_sensitivity",
    "plot_stochastic_pareto",
    "render_figures",
]

#: colours by trial status
STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    # status: (colour, marker, legend label)
    Status.TRAINED: ("tab:blue", "o", "trained"),
    Status.PRUNED: ("tab:purple", "v", "pruned while training"),
    Status.OVER_BUDGET: ("tab:red", "x", "over budget (not trained)"),
    Status.HOPELESS: ("tab:gray", "|", "hopeless (not trained)"),
}


def _figure(width: float = 9.0, height: float = 5.5, ncols: int = 1) -> tuple[Figure, Any]:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - the report extra is not installed
        from effobj.errors import EffobjError

        raise EffobjError(
            "effobj report draws its figures with matplotlib, which is not installed; "
            "install it with: pip install 'effobj[report]'"
        ) from None

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def iso_curve(e: float, beta2: float, c: np.ndarray) -> np.ndarray:
    """The performance :math:`A` at which :math:`E_\\beta(A, C) = e`, NaN where unreachable."""
    cp = 1.0 - np.asarray(c, dtype=np.float64)
    den = (1.0 + beta2) * cp - e
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(den > 0, e * beta2 * cp / den, np.nan)
    return np.where((a >= 0) & (a <= 1.0), a, np.nan)


def plot_cost_plane(data: ReportData) -> Figure:
    """Every trial on the (C, A) plane, the Pareto front, the feasible region, iso-E_beta.

    Left: the whole plane. Right: a zoom on the trained trials around the front, labelled
    with their trial numbers.
    """
    fig, (ax, zoom) = _figure(13.0, 5.8, ncols=2)
    _draw_plane(data, ax, zoomed=False)
    _draw_plane(data, zoom, zoomed=True)
    return fig


def _draw_plane(data: ReportData, ax: Any, *, zoomed: bool) -> None:
    from effobj.pareto import pareto_front

    spec = data.spec
    rows = [r for r in data.rows if math.isfinite(r.C)]
    c_all = np.array([r.C for r in rows]) if rows else np.zeros(1)
    c_hi = float(max(1.05, np.nanmax(c_all) * 1.05)) if rows else 1.05
    trained = [r for r in rows if math.isfinite(r.perf)]
    a_tr = np.array([r.A for r in trained])
    a_lo = float(min(0.0, np.nanmin(a_tr))) if trained else 0.0
    c_max = data.c_max if data.c_max is not None else 1.0
    a_min = float(spec.a_min)
    winner = data.winner
    front_pts = np.zeros((0, 2))
    if trained:
        pts = np.column_stack([a_tr, [r.C for r in trained]])
        front_pts = pts[pareto_front(pts, senses=["max", "min"])]
    # the window
    if zoomed:
        near = [r for r in trained if r.A >= a_min - 0.05] or trained
        if not near:
            ax.text(0.5, 0.5, "no trained trial yet", ha="center", transform=ax.transAxes)
            return
        cs = np.array([r.C for r in near])
        as_ = np.array([r.A for r in near])
        x0, x1 = 0.0, float(min(c_hi, np.max(cs) * 1.15 + 0.01))
        y0, y1 = float(max(a_lo, np.min(as_) - 0.03)), float(min(1.02, np.max(as_) + 0.02))
    else:
        x0, x1 = 0.0, c_hi
        y0, y1 = a_lo - 0.10, 1.02
    strip = a_lo - 0.06
    # feasible region
    ax.fill_between([0.0, c_max], [a_min, a_min], [1.0, 1.0], color="tab:green", alpha=0.12,
                    label=f"feasible (A >= {a_min:.2f}, C <= {c_max:.2f})", zorder=0)
    if data.c_max is None and len(spec.costs) > 1 and not zoomed:
        ax.text(0.01, 0.02, "feasibility also needs each indicator within its own budget",
                transform=ax.transAxes, fontsize=8, color="tab:green")
    # iso-curves: a few levels and the winner's
    cgrid = np.linspace(x0, min(x1, 1.0), 400)
    levels = [0.2, 0.4, 0.6, 0.8]
    if zoomed and winner is not None:
        w = winner.e_beta
        levels = [round(w - 0.04, 3), round(w - 0.02, 3)]
    if winner is not None and winner.e_beta > 0:
        levels = sorted({*levels, round(winner.e_beta, 4)})
    for e in levels:
        if e <= 0:
            continue
        a = iso_curve(e, spec.beta2, cgrid)
        is_w = winner is not None and math.isclose(e, round(winner.e_beta, 4))
        ax.plot(cgrid, a, color="black" if is_w else "0.6", lw=1.2 if is_w else 0.8,
                ls="-" if is_w else "--", zorder=1)
        ok = np.flatnonzero(np.isfinite(a) & (a >= y0) & (a <= y1))
        if ok.size:
            j = ok[-1]
            ax.annotate(f"E={e:.3g}", (cgrid[j], a[j]), fontsize=7, color="0.3",
                        xytext=(2, -8), textcoords="offset points")
    # trials by status: one scatter per status, whatever the number of trials
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        key = r.status if r.status in STATUS_STYLE else Status.TRAINED
        if math.isfinite(r.perf):
            groups.setdefault(key, []).append((r.C, r.A))
        elif not zoomed:
            groups.setdefault(key, []).append((r.C, strip))
    for key, (colour, marker, label) in STATUS_STYLE.items():
        members = groups.get(key)
        if members:
            xy = np.asarray(members)
            ax.scatter(xy[:, 0], xy[:, 1], c=colour, marker=marker, s=28 if marker != "|" else 60,
                       label=label, zorder=3, linewidths=1.2)
    if zoomed:
        _label_trials(ax, trained, winner, front_pts, (x0, x1, y0, y1))
    if not zoomed and any(not math.isfinite(r.perf) for r in rows):
        ax.axhline(strip + 0.03, color="0.85", lw=0.8, zorder=0)
        ax.text(0.005, strip + 0.008, "not trained: cost known, performance unknown",
                ha="left", va="bottom", fontsize=7, color="0.4")
    if front_pts.size:
        order = np.argsort(front_pts[:, 1])
        ax.step(front_pts[order, 1], front_pts[order, 0], where="post", color="tab:orange",
                lw=1.6, label="Pareto front (trained)", zorder=2)
        ax.scatter(front_pts[:, 1], front_pts[:, 0], facecolors="none",
                   edgecolors="tab:orange", s=70, zorder=4)
    if winner is not None:
        ax.scatter([winner.C], [winner.A], marker="*", s=260, c="gold", edgecolors="black",
                   zorder=5, label=f"winner: trial {winner.number}, E={winner.e_beta:.4f}")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0 if zoomed else strip - 0.04, y1)
    ax.set_xlabel(data.cost_label)
    ax.set_ylabel(f"A = perf / {spec.perf_ref:g}")
    if zoomed:
        ax.set_title("Zoom on the trained trials near the front (labels: trial numbers)")
    else:
        ax.set_title(f"Cost-performance plane, iso-E_beta curves for beta^2 = {spec.beta2:g}")
        ax.legend(loc="center right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.25)


#: at most this many trial numbers are written on the zoomed plane (beyond: unreadable)
MAX_LABELS = 40


def _label_trials(ax: Any, trained: list[Any], winner: Any, front_pts: np.ndarray,
                  window: tuple[float, float, float, float]) -> None:
    """Write the trial numbers in the zoom's window: every trial when there are at most
    :data:`MAX_LABELS`, else the winner, the Pareto front and the best E_beta first."""
    x0, x1, y0, y1 = window
    inside = [r for r in trained if x0 <= r.C <= x1 and y0 <= r.A <= y1]
    if len(inside) > MAX_LABELS:
        front = {(float(a), float(c)) for a, c in front_pts}
        def rank(r: Any) -> tuple[bool, bool, float]:
            e = r.e_beta if math.isfinite(r.e_beta) else -math.inf
            return (winner is None or r.number != winner.number,
                    (float(r.A), float(r.C)) not in front, -e)
        inside = sorted(inside, key=rank)[:MAX_LABELS]
    for r in inside:
        ax.annotate(str(r.number), (r.C, r.A), fontsize=7, xytext=(3, 3),
                    textcoords="offset points", color="0.25")


def plot_sensitivity(data: ReportData) -> Figure:
    """The winner's E_beta across the beta^2 grid, each winner its own colour, change points."""
    fig, ax = _figure(9.0, 4.5)
    sens = data.sensitivity
    b = np.array([r.beta2 for r in sens.rows])
    e = np.array([r.e_beta for r in sens.rows])
    who = [r.number for r in sens.rows]
    winners = [w for w in dict.fromkeys(who) if w is not None]
    cmap = _cmap(len(winners))
    # E_beta of each winner as a curve over the whole range, solid where it wins
    bb = np.logspace(np.log10(b[0]), np.log10(b[-1]), 300)
    from effobj.metric import e_beta as e_beta_fn

    for k, w in enumerate(winners):
        row = next(r for r in data.rows if r.number == w)
        curve = np.array([float(e_beta_fn(row.A, row.C, beta2=float(x), validate_args=False))
                          for x in bb])
        ax.plot(bb, curve, color=cmap[k], lw=0.8, ls=":")
        sel = [i for i, n in enumerate(who) if n == w]
        ax.scatter(b[sel], e[sel], color=cmap[k], s=36, zorder=3,
                   label=f"trial {w} (A={row.A:.3f}, C={row.C:.3f})")
    for ch in sens.changes:
        ax.axvline(ch.beta2, color="0.4", ls="--", lw=0.9)
        ax.annotate(f"{ch.beta2:.3g}: {ch.before}->{ch.after}", (ch.beta2, 0.02),
                    xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                    xytext=(3, 0), textcoords="offset points", color="0.3")
    ax.axvline(data.spec.beta2, color="tab:red", lw=1.2, alpha=0.6,
               label=f"the report's beta^2 = {data.spec.beta2:g}")
    ax.set_xscale("log")
    ax.set_xlabel("beta^2 (log scale; < 1 favours cost, > 1 favours performance)")
    ax.set_ylabel("E_beta of the winner")
    ax.set_title("Winner for each beta^2 (dotted: that trial's E_beta elsewhere)")
    if winners:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no feasible trained trial", ha="center", transform=ax.transAxes)
    ax.grid(alpha=0.25, which="both")
    return fig


def plot_progress(data: ReportData) -> Figure:
    """Best E_beta so far over the trials, each trial's value, trained vs skipped counts."""
    fig, (ax, ax2) = _figure(11.0, 4.5, ncols=2)
    numbers, best = best_so_far(data)
    for key, (colour, marker, label) in STATUS_STYLE.items():
        rs = [r for r in data.rows if r.status == key]
        if not rs:
            continue
        if key == Status.TRAINED:
            ys = [r.e_beta for r in rs]
        else:  # untrained: drawn at their upper bound, which is what the sampler saw
            ys = [r.upper_bound if math.isfinite(r.upper_bound) else 0.0 for r in rs]
            label = label + " at its bound" if key == Status.HOPELESS else label
        ax.scatter([r.number for r in rs], ys, c=colour, marker=marker, s=22, label=label,
                   zorder=3)
    ax.step(numbers, best, where="post", color="black", lw=1.6, label="best E_beta so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"E_beta (beta^2 = {data.spec.beta2:g})")
    ax.set_title("E_beta over the trials")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.25)
    trained = np.cumsum([1 if r.trained else 0 for r in data.rows])
    skipped = np.cumsum(
        [1 if r.status in (Status.OVER_BUDGET, Status.HOPELESS) else 0 for r in data.rows]
    )
    ax2.step(numbers, trained, where="post", color="tab:blue", label="trained")
    ax2.step(numbers, skipped, where="post", color="tab:red", label="skipped (not trained)")
    s = data.summary
    ax2.set_title(
        f"Trainings: {s.n_trained} done, {s.trainings_avoided} avoided "
        f"(~{s.est_train_time_saved_s:.0f} s saved)"
    )
    ax2.set_xlabel("trial number")
    ax2.set_ylabel("candidates (cumulative)")
    ax2.legend(fontsize=8, loc="upper left")
    ax2.grid(alpha=0.25)
    return fig


def plot_stochastic_pareto(data: ReportData, *, n_samples: int = 2000, seed: int = 0) -> Figure:
    """Probability of each trained trial being on the (accuracy, latency) front under noise.

    A trial whose cost report kept its per-block latencies draws its latency from them: a
    bootstrap replicate of their median (:func:`effobj.pareto.stochastic_pareto`'s
    ``samples``), its bar the 2.5-97.5 % quantiles of those replicates (never below the
    fastest block measured). Only a trial without them (a report from an older effobj)
    falls back to a normal around its median with the IQR's standard deviation; the figure
    says how many did.
    """
    from effobj.pareto import bootstrap_medians, pareto_front, stochastic_pareto

    fig, ax = _figure(9.0, 5.0)
    rows = [r for r in data.trained if math.isfinite(r.latency_std) or r.latency_blocks_ms]
    # the trials that meet the performance floor (all of them if fewer than two do)
    floor = data.spec.perf_min
    if floor is not None and sum(r.perf >= floor for r in rows) >= 2:
        rows = [r for r in rows if r.perf >= floor]
    lat_name = next((n for n in ("latency_ms", "latency") if n in rows[0].user_attrs), None) if rows else None
    if not rows or lat_name is None:
        ax.text(0.5, 0.5, "no latency spread recorded", ha="center", transform=ax.transAxes)
        return fig
    lat = np.array([float(r.user_attrs[lat_name]) for r in rows])
    # the blocks are per-pass milliseconds: they stand for the latency_ms indicator only
    blocks = [r.latency_blocks_ms if lat_name == "latency_ms" else None for r in rows]
    sd = np.array([0.0 if b else r.latency_std for r, b in zip(rows, blocks, strict=True)])
    perf = np.array([r.perf for r in rows])
    means = np.column_stack([perf, lat])
    stds = np.column_stack([np.zeros_like(sd), sd])
    p = stochastic_pareto(means, stds, senses=["max", "min"], n_samples=n_samples, seed=seed,
                          samples=[[None, list(b)] if b else None for b in blocks])
    rng = np.random.default_rng(seed)
    lo, hi = np.empty(len(rows)), np.empty(len(rows))
    for i, b in enumerate(blocks):
        if b:
            lo[i], hi[i] = np.quantile(bootstrap_medians(b, n_samples, rng), [0.025, 0.975])
        else:  # older report: +-1 sd, not below zero (no latency is negative)
            lo[i], hi[i] = max(lat[i] - sd[i], 0.0), lat[i] + sd[i]
    xerr = np.vstack([np.clip(lat - lo, 0.0, None), np.clip(hi - lat, 0.0, None)])
    ax.errorbar(lat, perf, xerr=xerr, fmt="none", ecolor="0.7", lw=0.8, zorder=1)

    det = pareto_front(means, senses=["max", "min"])
    order = np.argsort(lat[det])
    ax.step(lat[det][order], perf[det][order], where="post", color="tab:orange", lw=1.0,
            ls="--", label="front of the medians (rings)", zorder=2)
    ax.scatter(lat[det], perf[det], facecolors="none", edgecolors="tab:orange", s=130,
               linewidths=1.5, zorder=4)
    ax.legend(fontsize=8, loc="lower right")
    sc = ax.scatter(lat, perf, c=p, cmap="viridis", vmin=0.0, vmax=1.0, s=40, zorder=3,
                    edgecolors="black", linewidths=0.4)
    top = [i for i in np.argsort(-p)[:8] if p[i] >= 0.05]
    for k, i in enumerate(top):
        ax.annotate(f"{rows[i].number}: {p[i]:.2f}", (lat[i], perf[i]), fontsize=7,
                    xytext=(5, 6 if k % 2 == 0 else -10), textcoords="offset points",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
    fig.colorbar(sc, ax=ax, label="P(on the Pareto front)")
    n_normal = sum(1 for b in blocks if not b)
    mode = "bootstrap" if n_normal == 0 else ("normal" if n_normal == len(rows) else "mixed")
    bars = {"bootstrap": "bars: 95 % bootstrap interval of the median of the measured blocks",
            "normal": "bars: +-1 sd from the IQR",
            "mixed": "bars: 95 % bootstrap interval, or +-1 sd where no blocks were kept"}[mode]
    ax.set_xlabel(f"{lat_name} (median; {bars})")
    ax.set_ylabel("performance" + ("" if floor is None else f" (trials >= the floor {floor:g})"))
    how = ("bootstrap draws of the measured latencies" if mode == "bootstrap"
           else "Monte Carlo draws of the latency noise")
    ax.set_title(f"Stochastic Pareto front ({n_samples} {how})")
    if n_normal:
        ax.text(0.01, 0.01, f"{n_normal} of {len(rows)} trials have no per-block latencies "
                "(reports from an older effobj): their latency is drawn from a normal "
                "around the median, sd = IQR / 1.349", transform=ax.transAxes, fontsize=7,
                color="tab:red", va="bottom")
    ax.grid(alpha=0.25)
    fig.stochastic_probabilities = dict(zip([r.number for r in rows], p.tolist(), strict=True))  # type: ignore[attr-defined]
    fig.stochastic_mode = mode  # type: ignore[attr-defined]
    fig.latency_intervals = {r.number: (float(lo[i]), float(hi[i]))  # type: ignore[attr-defined]
                             for i, r in enumerate(rows)}
    return fig


def _cmap(n: int) -> list[Any]:
    import matplotlib

    base = matplotlib.colormaps["tab10"]
    return [base(i % 10) for i in range(max(n, 1))]


#: name -> (drawing function, caption)
FIGURES = {
    "cost_plane": (
        plot_cost_plane,
        "Every trial on the normalized cost-performance plane. Green: the feasible region. "
        "Dashed: iso-E_beta curves (solid black: the winner's). Orange: the Pareto front of "
        "the trained trials; the E_beta winner for any beta^2 lies on it. Untrained trials "
        "sit on the strip below, at their known cost.",
    ),
    "sensitivity": (
        plot_sensitivity,
        "The winner for each beta^2 of a log grid and the exact beta^2 values where it changes "
        "(effobj.rerank.sensitivity).",
    ),
    "progress": (
        plot_progress,
        "Left: the best E_beta so far (black) and each trial: trained trials at their E_beta, "
        "skipped ones at their upper bound E_beta(A=1, C). Right: trainings done and avoided.",
    ),
    "stochastic_pareto": (
        plot_stochastic_pareto,
        "Probability that each trained trial is on the (performance, latency) Pareto front when "
        "its latency is drawn from its measured blocks by bootstrap, or, for reports without "
        "them, from a normal around the median (effobj.pareto.stochastic_pareto).",
    ),
}


def render_figures(data: ReportData) -> dict[str, bytes]:
    """Draw every figure that applies and return its PNG bytes by name.

    The stochastic Pareto view is drawn only when latencies carry a spread.
    """
    out: dict[str, bytes] = {}
    for name, (fn, _) in FIGURES.items():
        if name == "stochastic_pareto" and not data.has_latency_spread:
            continue
        fig = fn(data)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out[name] = buf.getvalue()
    return out
