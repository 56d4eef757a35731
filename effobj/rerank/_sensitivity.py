r"""Which trial wins for which :math:`\beta^2`: the sensitivity table of a finished study.

For fixed :math:`(A, C)`, :math:`1/E_\beta = \frac{\beta^2}{1+\beta^2}\frac{1}{A} +
\frac{1}{1+\beta^2}\frac{1}{C'}` moves monotonically from :math:`1/C'` to :math:`1/A` as
:math:`\beta^2` grows, so two feasible candidates swap rank at most once, at

.. math::

    \beta^{2*}_{wj} = \frac{1/C'_j - 1/C'_w}{1/A_w - 1/A_j}

(:func:`effobj.crossover_beta2`). The winner as a function of :math:`\beta^2` is therefore
piecewise constant, with higher-performance candidates taking over as :math:`\beta^2`
grows. Starting from the winner at the low end of the range, the next change is the
smallest crossover above the current :math:`\beta^2` among the candidates of higher
:math:`A`; following these takes over yields the *exact* change points, including winners
that hold only a narrow band a grid would miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from effobj._validation import refusal
from effobj.rerank._ranking import StudyOrTrials, TrialTable, _rerank, _trial_table
from effobj.spec import check_spec

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["Sensitivity", "SensitivityRow", "WinnerChange", "sensitivity"]

#: default grid: 10^-2 ... 10^2, four points per decade
DEFAULT_GRID = tuple(float(x) for x in np.logspace(-2.0, 2.0, 17))


@dataclass(frozen=True)
class SensitivityRow:
    """The winner at one :math:`\\beta^2` of the grid (``number`` None: nothing feasible)."""

    beta2: float
    number: int | None
    e_beta: float
    perf: float
    A: float
    C: float


@dataclass(frozen=True)
class WinnerChange:
    """At ``beta2`` the winner changes from trial ``before`` to trial ``after``."""

    beta2: float
    before: int
    after: int


@dataclass(frozen=True)
class Sensitivity:
    """The winner across a :math:`\\beta^2` grid and the exact values where it changes."""

    rows: list[SensitivityRow]
    changes: list[WinnerChange]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows": [r.__dict__.copy() for r in self.rows],
            "changes": [c.__dict__.copy() for c in self.changes],
        }

    def to_markdown(self) -> str:
        """The table as Markdown (grid rows, then the change points)."""
        lines = ["| beta2 | winner | E_beta | perf | A | C |", "|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            who = "-" if r.number is None else str(r.number)
            lines.append(
                f"| {r.beta2:.4g} | {who} | {r.e_beta:.4f} | {r.perf:.4g} | {r.A:.4f} | {r.C:.4f} |"
            )
        lines.append("")
        if self.changes:
            lines.append("Winner changes (exact): " + "; ".join(
                f"beta2 = {c.beta2:.6g}: trial {c.before} -> trial {c.after}" for c in self.changes
            ))
        else:
            lines.append("The winner does not change over the range.")
        return "\n".join(lines)


def sensitivity(
    source: StudyOrTrials | TrialTable,
    spec: EfficiencySpec,
    *,
    beta2_grid: Sequence[float] | None = None,
) -> Sensitivity:
    r"""The winner of a study for each :math:`\beta^2` of a log grid, and where it changes.

    Args:
        source: a study, its frozen trials, or a :class:`~effobj.rerank.TrialTable`.
        spec: budgets and references (its own :math:`\beta^2` is not used).
        beta2_grid: increasing positive values; default :math:`10^{-2} \dots 10^{2}`,
            four per decade. The change points are searched between its ends.

    Returns:
        A :class:`Sensitivity` with one row per grid value and the exact change points.

    Example:
        >>> import optuna
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="size")
        >>> study = optuna.create_study()
        >>> for p, s in [(0.5, 2.0), (0.9, 6.0)]:
        ...     study.add_trial(optuna.trial.create_trial(value=0.0,
        ...                                               user_attrs={"perf": p, "size": s}))
        >>> s = sensitivity(study, spec, beta2_grid=[0.1, 1.0, 10.0])
        >>> [r.number for r in s.rows], round(s.changes[0].beta2, 4)
        ([0, 0, 1], 1.4062)
    """
    func = "sensitivity"
    spec = check_spec(spec, "spec", func)
    grid = np.asarray(DEFAULT_GRID if beta2_grid is None else beta2_grid, dtype=np.float64)
    if (
        grid.ndim != 1
        or grid.size == 0
        or not np.all(np.isfinite(grid))
        or np.any(grid <= 0)
        or np.any(np.diff(grid) <= 0)
    ):
        raise refusal("beta2_grid", func,
                      "be a non-empty, strictly increasing sequence of finite values > 0",
                      repr(list(np.ravel(grid))))
    table = source if isinstance(source, TrialTable) else _trial_table(source, spec.cost_names,
                                                                        "source", func)
    base = _rerank(table, spec, "source", func)
    rows_ok = np.flatnonzero(base.feasible & (base.A > 0.0) & (base.C < 1.0))
    numbers = table.numbers
    out_rows: list[SensitivityRow] = []
    if rows_ok.size == 0:
        nan = float("nan")
        return Sensitivity([SensitivityRow(float(b), None, 0.0, nan, nan, nan) for b in grid], [])
    a = base.A[rows_ok]
    cp = 1.0 - base.C[rows_ok]
    perf = table.perf[rows_ok]
    num = numbers[rows_ok]

    from effobj.metric import e_beta

    c_norm = base.C[rows_ok]

    def winner(b: float) -> int:
        e = e_beta(a, c_norm, beta2=b, validate_args=False)  # the gates passed already
        # ties: higher A, then lower trial number
        return int(np.lexsort((num, -a, -e))[0])

    for b in grid:
        w = winner(float(b))
        e_w = float(spec.replace(beta2=float(b)).score(perf[w], _costs_at(table, spec, rows_ok[w])))
        out_rows.append(
            SensitivityRow(float(b), int(num[w]), e_w, float(perf[w]), float(a[w]), float(1 - cp[w]))
        )

    changes: list[WinnerChange] = []
    b_cur = float(grid[0])
    w = winner(b_cur)
    b_end = float(grid[-1])
    inv_a = 1.0 / a
    inv_cp = 1.0 / cp
    for _ in range(rows_ok.size):
        higher = a > a[w]
        if not np.any(higher):
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = (inv_cp - inv_cp[w]) / (inv_a[w] - inv_a)
        cross = np.where(higher & (cross > b_cur * (1.0 + 1e-12)), cross, np.inf)
        b_next = float(cross.min())
        if not np.isfinite(b_next) or b_next > b_end:
            break
        tied = np.flatnonzero(cross <= b_next * (1.0 + 1e-12))
        # among simultaneous take-overs the highest A holds longest
        nxt = int(tied[np.lexsort((num[tied], -a[tied]))[0]])
        changes.append(WinnerChange(b_next, int(num[w]), int(num[nxt])))
        w, b_cur = nxt, b_next
    return Sensitivity(out_rows, changes)


def _costs_at(table: TrialTable, spec: EfficiencySpec, row: int) -> dict[str, float]:
    return {n: float(table.costs[n][row]) for n in spec.cost_names}
