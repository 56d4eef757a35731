r"""The performance a candidate of known cost must reach to win: its *target*.

A candidate's cost :math:`C` is measured before it trains, so the only unknown of its
:math:`E_\beta` is the performance :math:`A`. The performance it needs is therefore known
in advance, and a small model needs less of it than a large one. This module computes it
(no torch, no optuna); :class:`effobj.optuna.EfficiencyPruner` stops a training once its
chance of reaching it is small.

**Single objective.** With :math:`C' = 1 - C` and the incumbent :math:`E^*`, solving
:math:`E_\beta(A, C) = (1+\beta^2) A C' / (\beta^2 C' + A) = E^*` for :math:`A` gives

.. math::

    A^*(C) = \max\Bigl(A_{\min},\ \frac{E^* \beta^2 C'}{(1+\beta^2) C' - E^*}\Bigr)
    \quad\text{if } C \le C_{\max} \text{ and } (1+\beta^2) C' > E^*,

and :math:`+\infty` otherwise (no performance wins: over budget, or even :math:`A = 1`
is not enough once :math:`A^* > 1`; the function returns the value, the caller compares).

**Multi-objective.** To be non-dominated at its cost vector :math:`c`, a candidate must
reach the best performance of the trained candidates that cost no more in every
indicator (the Pareto front's staircase): :math:`A^*(c) = \max\{A_j : c_j \le c\}`, 0
when none does. Optionally it must also win for *some* :math:`\beta^2` in a range:
:math:`\min_{\beta^2} A^*_{\beta^2}(C)`, each against that :math:`\beta^2`'s incumbent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from effobj._validation import check_real, refusal

__all__ = ["perf_to_beat", "perf_to_beat_some_beta2", "perf_to_be_nondominated"]


def perf_to_beat(e_star: float, c: float, *, beta2: float = 1.0, a_min: float = 0.0,
                 c_max: float = math.inf) -> float:
    r"""The normalized performance :math:`A^*` at which :math:`E_\beta(A^*, C) = E^*`.

    The smallest :math:`A` whose :math:`E_\beta` (gates included) reaches ``e_star``;
    ``inf`` when none does (``c > c_max`` or :math:`(1+\beta^2)(1-C) \le E^*`). It may
    exceed 1: then only a performance above the reference would do.

    Args:
        e_star: the :math:`E_\beta` to reach (the incumbent's); ``<= 0``: the gate alone.
        c: the candidate's normalized cost in ``[0, inf)``.
        beta2, a_min, c_max: the spec's :math:`\beta^2` and gates (``c_max`` ``inf``:
            the candidate is known to be within its budgets).

    Example:
        >>> round(perf_to_beat(0.8, 0.2), 4)        # A* = 0.8 * 0.8 / (1.6 - 0.8)
        0.8
        >>> round(perf_to_beat(0.8, 0.05), 4)       # a cheaper model needs less
        0.6909
        >>> perf_to_beat(0.8, 0.7)                  # (1 + b2) C' = 0.6 < 0.8: cannot win
        inf
    """
    func = "perf_to_beat"
    e_star = check_real(e_star, "e_star", func)
    c = check_real(c, "c", func, low=0.0)
    beta2 = check_real(beta2, "beta2", func, low=0.0, low_open=True)
    a_min = check_real(a_min, "a_min", func, low=0.0)
    if c_max != math.inf:
        c_max = check_real(c_max, "c_max", func, low=0.0)
    if c > c_max:
        return math.inf
    cp = 1.0 - c
    if e_star <= 0.0:
        return a_min if cp > 0.0 else math.inf
    den = (1.0 + beta2) * cp - e_star
    if cp <= 0.0 or den <= 0.0:
        return math.inf
    return max(a_min, e_star * beta2 * cp / den)


def perf_to_be_nondominated(costs: Sequence[float],
                            trained: Sequence[tuple[float, Sequence[float]]]) -> float:
    r"""The normalized performance that keeps a candidate off the staircase of ``trained``.

    :math:`\max\{A_j : c_j \le c \text{ in every indicator}\}` over the trained
    candidates ``(A_j, c_j)``; 0 when none costs no more than ``costs``. A candidate that
    reaches it is not dominated by any of them.

    Example:
        >>> front = [(0.90, (5.0,)), (0.95, (9.0,)), (0.80, (2.0,))]
        >>> perf_to_be_nondominated((6.0,), front)   # must beat the 5.0 model's 0.90
        0.9
        >>> perf_to_be_nondominated((1.0,), front)   # cheaper than all: anything goes
        0.0
    """
    need = 0.0
    for a, c in trained:
        if len(c) != len(costs):
            raise refusal("trained", "perf_to_be_nondominated",
                          f"hold cost vectors as long as 'costs' ({len(costs)})",
                          f"a candidate with {len(c)} costs")
        if all(cj <= ci for cj, ci in zip(c, costs, strict=True)) and a > need:
            need = a
    return need


def beta2_grid(beta2_range: tuple[float, float], n: int = 17) -> list[float]:
    """``n`` values of :math:`\\beta^2`, evenly spaced in log between the range's ends."""
    lo, hi = beta2_range
    if n == 1 or lo == hi:
        return [lo]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def perf_to_beat_some_beta2(c: float, trained: Sequence[tuple[float, float]],
                            beta2_range: tuple[float, float], *, a_min: float = 0.0,
                            c_max: float = math.inf, n: int = 17) -> float:
    r"""The normalized performance at which a candidate of cost ``c`` wins for *some*
    :math:`\beta^2` in ``beta2_range`` against the trained ``(A_j, C_j)``:
    :math:`\min_{\beta^2} A^*_{\beta^2}(C)`, on ``n`` log-spaced values of the range.

    Example:
        >>> trained = [(0.95, 0.5), (0.80, 0.1)]
        >>> round(perf_to_beat_some_beta2(0.05, trained, (0.25, 4.0)), 3)
        0.674
    """
    from effobj.metric import e_beta

    lo, hi = beta2_range
    lo = check_real(lo, "beta2_range[0]", "perf_to_beat_some_beta2", low=0.0, low_open=True)
    hi = check_real(hi, "beta2_range[1]", "perf_to_beat_some_beta2", low=lo)
    best = math.inf
    for b2 in beta2_grid((lo, hi), n):
        e_star = max((float(e_beta(min(a, 1.0), min(cj, 1.0), beta2=b2, a_min=a_min))
                      for a, cj in trained if cj <= c_max), default=0.0)
        best = min(best, perf_to_beat(e_star, c, beta2=b2, a_min=a_min, c_max=c_max))
    return best
