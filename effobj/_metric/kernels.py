r"""The one definition of each metric's arithmetic, for numpy and torch alike.

Every function here takes arrays or tensors that are already valid and aligned (no
checks, no conversion) and picks its backend from an argument: ``where`` (``np.where`` or
``torch.where``) or ``xp`` (the ``numpy`` or ``torch`` module). The streamed paths
(:mod:`effobj._metric.stream`) repeat this arithmetic in the same order, so their values
are bit-identical; the tests compare them against these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["e_beta_kernel", "e_beta_grad_kernel", "gate_margins", "soft_kernel"]


def e_beta_kernel(a: Any, c: Any, beta2: float, a_min: float, c_max: float, where: Callable) -> Any:
    r"""Hard :math:`E_\beta = \frac{(1+\beta^2) A C'}{\beta^2 C' + A} [A \ge A_{\min}] [C \le C_{\max}]`.

    Inputs are assumed valid (A in [0, 1], C >= 0). ``where(cond, x, y)`` is
    ``np.where`` or ``torch.where``. The denominator is replaced by 1 where the point
    is infeasible or at the 0/0 corner, so no inf/NaN is ever formed (and no NaN can
    reach a gradient through the unused branch).
    """
    cp = 1.0 - c
    den = beta2 * cp + a
    feasible = (c <= c_max) & (den > 0)
    if a_min > 0.0:
        feasible = feasible & (a >= a_min)
    return where(feasible, (1.0 + beta2) * a * cp / where(feasible, den, 1.0), 0.0)


def e_beta_grad_kernel(a: Any, c: Any, beta2: float, a_min: float, c_max: float, xp: Any) -> tuple[Any, Any]:
    r"""``(dE/dA, dE/dC)`` of the hard metric on valid inputs (``xp``: numpy or torch).

    On the feasible set :math:`\partial E/\partial A = (1+\beta^2)\beta^2 C'^2/D^2` and
    :math:`\partial E/\partial C = -(1+\beta^2) A^2/D^2` with :math:`D = \beta^2 C' + A`;
    0 on the infeasible set and at the 0/0 corner. Computed as ratios of :math:`D`
    squared, never :math:`D^2` (underflows at A = 1e-300, C' = 0: 0/0) nor
    :math:`\beta^4` (overflows at 1e200).
    """
    b = beta2
    cp = 1.0 - c
    den = b * cp + a
    feasible = (c <= c_max) & (den > 0)
    if a_min > 0.0:
        feasible = feasible & (a >= a_min)
    den = xp.where(feasible, den, 1.0)
    r_c = cp / den
    da = xp.where(feasible, (1.0 + b) * (b * r_c) * r_c, 0.0)
    r_a = a / den
    dc = xp.where(feasible, -(1.0 + b) * r_a * r_a, 0.0)
    return da, dc


def gate_margins(a: Any, a_min: Any, budgets: Iterable[tuple[Any, Any]]) -> list[Any]:
    r"""The margins of the gates (``>= 0`` feasible), in the order the surrogate multiplies them.

    One margin :math:`C_{\max,i} - C_i` per ``(cost, budget)`` pair of ``budgets``, then
    :math:`A - A_{\min}` when there is a performance floor (a floor of 0 is void on valid
    :math:`A \ge 0` and is left out). ``a_min`` may be a 0-d tensor (one compiled graph
    for every setting, which must not branch on a value): then the A margin is always
    present and shifted by 1 when :math:`A_{\min} \le 0`, where on valid A it is at least
    :math:`1 \ge \tau` inside, so its gate is exactly 1 and its leak exactly 0.
    """
    margins = [c_max - c for c, c_max in budgets]
    if isinstance(a_min, (int, float)):
        if a_min > 0.0:
            margins.append(a - a_min)
    else:
        margins.append(a - a_min + (a_min <= 0) * 1.0)
    return margins


def soft_kernel(a: Any, c: Any, beta2: Any, margins: list[Any], tau: Any, leak: Any, xp: Any) -> Any:
    r"""The smooth surrogate :math:`S_\tau = H(A, C')\prod_i g(m_i/\tau) - \lambda\sum_i \max(0, -m_i)`.

    ``margins`` come from :func:`gate_margins`. :math:`H` is the un-gated formula on
    :math:`\max(A, 0)` and :math:`\max(C', 0)` (0 at the 0/0 corner); each margin
    contributes a smoothstep gate :math:`g(u) = u^2 (3 - 2u)` on
    :math:`u = \mathrm{clip}(m/\tau, 0, 1)` (1 at ``tau`` inside, 0 on the boundary, C^1)
    and a leak :math:`-\lambda \max(0, -m)` outside. The parameters may be floats or 0-d
    tensors.
    """
    clip = xp.clip
    cp = clip(1.0 - c, 0.0, None)
    a0 = clip(a, 0.0, None)
    den = beta2 * cp + a0
    h = (1.0 + beta2) * a0 * cp / xp.where(den > 0, den, 1.0)
    penalty = 0.0
    for m in margins:
        u = clip(m / tau, 0.0, 1.0)
        h = h * (u * u * (3.0 - 2.0 * u))  # smoothstep: C^1, 0 on the boundary, 1 at tau inside
        penalty = penalty + clip(-m, 0.0, None)
    return h - leak * penalty
