"""A score table: candidates scored by E_beta at several beta^2, beside the comparison ratios.

What ``effobj score`` prints and the demo's paper tables check, as plain rows (one mapping a
candidate: ``name``, ``perf``, ``cost``, ``A``, ``C``, ``perf/cost`` (the paper's
accuracy-to-compute ratio), ``A/C`` (normalized performance over normalized cost),
``feasible`` and one ``e_beta@B`` per beta^2). Part of the metric layer: numpy only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["score_label", "score_rows"]


def score_label(b: float) -> str:
    """The column of E_beta at beta^2 = ``b`` (``"e_beta@1"``)."""
    return f"e_beta@{b:g}"


def score_rows(
    names: list[str],
    perf: list[float],
    cost: list[float],
    *,
    perf_ref: float,
    cost_ref: float,
    beta2s: list[float],
    perf_min: float | None = None,
    cost_max: float | None = None,
) -> list[dict[str, Any]]:
    """Rows of the score table (the command's output before formatting)."""
    import numpy as np

    from effobj.ratios import accuracy_to_compute_ratio, normalized_ratio
    from effobj.spec import EfficiencySpec

    specs = [
        EfficiencySpec(b, perf_ref, cost_ref, perf_min=perf_min, cost_max=cost_max) for b in beta2s
    ]
    p = np.asarray(perf, dtype=float)
    c = np.asarray(cost, dtype=float)
    a, cn = specs[0].normalize(p, c)
    feasible = specs[0].is_feasible(p, c)
    # a cost of 0 has no finite ratio: that row's ratios are NaN ("-", JSON null); the
    # others are scored as usual
    pos = c > 0
    ratio = np.full(p.shape, np.nan)
    nratio = np.full(p.shape, np.nan)
    if pos.any():
        ratio[pos] = accuracy_to_compute_ratio(p[pos], c[pos])
        with np.errstate(divide="ignore"):
            nratio[pos] = normalized_ratio(np.asarray(a)[pos], np.asarray(cn)[pos])
    scores = {score_label(s.beta2): s.score(p, c) for s in specs}
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {
            "name": name,
            "perf": float(p[i]),
            "cost": float(c[i]),
            "A": float(a[i]),
            "C": float(cn[i]),
            "perf/cost": float(ratio[i]),
            "A/C": float(nratio[i]),
            "feasible": bool(feasible[i]),
        }
        row.update({k: float(v[i]) for k, v in scores.items()})
        rows.append(row)
    return rows
