r"""The efficiency metric :math:`E_\beta`, exact and smooth, for numbers, numpy and torch.

The paper (Zarichkovyi et al., eq. 1) defines, for performance :math:`A` normalized by the
best known performance and cost :math:`C` normalized by the largest acceptable cost,

.. math::

    C' = 1 - C, \qquad
    E_\beta = \frac{(1 + \beta^2)\, A\, C'}{\beta^2 C' + A}
              \cdot [A \ge A_{\min}] \cdot [C \le C_{\max}].

:math:`\beta^2 \in (0, \infty)` sets the trade-off: :math:`\beta^2 \to 0` gives :math:`C'`,
:math:`\beta^2 \to \infty` gives :math:`A`, :math:`\beta^2 = 1` is the balanced harmonic
mean. Equivalently :math:`1/E_\beta` is the weighted mean
:math:`\frac{\beta^2}{1+\beta^2}\frac{1}{A} + \frac{1}{1+\beta^2}\frac{1}{C'}`.

**The cost predicate.** The paper prints it as :math:`C' \le C'_{required}`; its text (a
"maximum acceptable compute budget") and its tables mean *cost within budget*. effobj
implements that meaning: :math:`C \le C_{\max}`, i.e. :math:`C' \ge 1 - C_{\max}`.

**Edge cases** (each explicit, none returns NaN):

- :math:`A = C' = 0` (the 0/0 corner) gives 0, the continuous limit (both gates aside,
  :math:`E_\beta \le \min(A/\beta^2, C') (1+\beta^2)`).
- :math:`C > 1` (cost above the normalizer): infeasible, since ``c_max`` <= 1; gives 0.
- :math:`A` outside [0, 1], :math:`C < 0`, NaN or infinity: ``InputError`` naming the
  argument, the first bad index and its value. Use :class:`effobj.EfficiencySpec` to
  normalize raw units; it decides what a performance above the reference means.
- :math:`\beta^2 \le 0`, ``a_min`` or ``c_max`` outside [0, 1]: ``InputError``.
- Shapes that do not broadcast: ``InputError`` naming both shapes.

**Facts used elsewhere** (stated here, tested in ``tests/test_metric.py``):

1. On the feasible set, :math:`\partial E/\partial A = (1+\beta^2)\beta^2 C'^2/(\beta^2 C'+A)^2
   \ge 0` and :math:`\partial E/\partial C' = (1+\beta^2) A^2/(\beta^2 C'+A)^2 \ge 0`, and
   the gates are monotone too: :math:`E_\beta` is non-decreasing in :math:`A` and in
   :math:`C'` everywhere.
2. Hence, over any finite set of candidates, the :math:`E_\beta` winner for every
   :math:`\beta^2` and every budget lies on the (max A, min C) Pareto front of the feasible
   candidates: a multi-objective study can be re-ranked afterwards without new trials.
3. :math:`E_\beta(A=1, C)` is an upper bound known as soon as the cost is known, before
   any training (:func:`e_beta_upper_bound`).
4. Two models swap rank at most once in :math:`\beta^2`, at the closed form of
   :func:`crossover_beta2`.

**Where the work is done.** These functions check their parameters and call the one
dispatcher of ``effobj._metric`` (kernels <- numpy stream <- torch fused paths <-
dispatcher), which :class:`effobj.EfficiencySpec` and the modules of :mod:`effobj.nn`
call too; large same-shape inputs are streamed in cache-sized blocks over the cores.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from effobj._metric.dispatch import (
    check_ac,
    check_beta2_fits,
    evaluate,
    finish,
    hard_params,
    prepare,
    soft_params,
)
from effobj._metric.kernels import e_beta_grad_kernel
from effobj._validation import check_real, is_torch
from effobj.errors import InputError

__all__ = [
    "e_beta",
    "soft_e_beta",
    "e_beta_grad",
    "e_beta_upper_bound",
    "crossover_beta2",
]


def e_beta(
    a: Any,
    c: Any,
    *,
    beta2: float = 1.0,
    a_min: float = 0.0,
    c_max: float = 1.0,
    validate_args: bool = True,
) -> Any:
    r"""Hard :math:`E_\beta` on normalized performance ``a`` and normalized cost ``c``.

    .. math::

        E_\beta(A, C) = \frac{(1+\beta^2) A (1 - C)}{\beta^2 (1 - C) + A}
                        \,[A \ge A_{\min}]\,[C \le C_{\max}]

    Args:
        a: normalized performance :math:`A \in [0, 1]`: a number, array or tensor.
        c: normalized cost :math:`C \ge 0` (:math:`C > 1` is always infeasible).
        beta2: :math:`\beta^2 \in (0, \infty)`; larger weighs performance more.
        a_min: minimum performance :math:`A_{\min} \in [0, 1]` (gate ``A >= a_min``).
        c_max: cost budget :math:`C_{\max} \in [0, 1]` (gate ``C <= c_max``; the paper's
            :math:`C' \le C'_{required}` read as cost within budget).
        validate_args: check values (one min/max reduction per input). Turn off on a
            training hot path once inputs are known to be valid.

    Returns:
        A float for two Python numbers; otherwise an array (numpy, dtype of the inputs,
        integers promoted to float64) or tensor (torch: dtype and device kept,
        differentiable through autograd on the feasible set), broadcast from both inputs.

    Raises:
        InputError: a parameter or value breaks its rule (the message names it).
        TypeError: an input is not numeric.

    Example:
        >>> round(e_beta(72.0 / 83.1, 75 / 4218), 2)   # R(2+1)D, the paper's Table 1
        0.92
        >>> round(e_beta(1.0, 0.9, beta2=0.5), 3)       # BERT-base, Table 2
        0.143
        >>> e_beta(0.8, 0.5, c_max=0.4)                 # over budget
        0.0
    """
    return evaluate(a, c, hard_params("e_beta", beta2, a_min, c_max), "e_beta", validate=validate_args)


# --------------------------------------------------------------------------- smooth
def soft_e_beta(
    a: Any,
    c: Any,
    *,
    beta2: float = 1.0,
    a_min: float = 0.0,
    c_max: float = 1.0,
    temperature: float = 0.02,
    leak: float | None = None,
    validate_args: bool = True,
) -> Any:
    r"""Smooth, differentiable surrogate of :math:`E_\beta` with temperature :math:`\tau`.

    With margins :math:`m_A = A - A_{\min}` and :math:`m_C = C_{\max} - C`, the smoothstep
    :math:`g(u) = 3u^2 - 2u^3` on :math:`u = \mathrm{clip}(m/\tau, 0, 1)`, the leak slope
    :math:`\lambda` (default :math:`\lambda = \tau`) and :math:`H` the un-gated formula on
    :math:`\max(A, 0)`, :math:`\max(C', 0)` (0 at the 0/0 corner):

    .. math::

        S_\tau(A, C) = H(A, C')\, g\!\left(\tfrac{m_A}{\tau}\right) g\!\left(\tfrac{m_C}{\tau}\right)
                       - \lambda\,\big(\max(0, -m_A) + \max(0, -m_C)\big)

    (the :math:`A` gate and its leak are dropped when :math:`A_{\min} = 0`, where they
    are void). Guarantees, each tested with hypothesis in ``tests/test_metric.py``:

    1. **Exact inside, converges everywhere else.** :math:`S_\tau = E_\beta` wherever both
       margins are :math:`\ge \tau`; infeasible points give :math:`-\lambda \cdot
       \text{violation} \to 0` as :math:`\tau \to 0`. So :math:`S_\tau \to E_\beta`
       pointwise away from the gate boundaries.
    2. **A pessimistic bound.** :math:`S_\tau \le E_\beta` everywhere: a maximizer of
       :math:`S_\tau` has margin :math:`\ge \tau` whenever the best point does, so it meets
       the budget with room to spare.
    3. **Finite gradients everywhere**: :math:`S_\tau` is continuous and piecewise
       smooth (:math:`C^1` except on the gate boundaries, where one-sided derivatives
       are finite), including :math:`A = C' = 0` and :math:`C > 1`.
    4. **A gradient toward feasibility that never vanishes**: for an infeasible point,
       :math:`\partial S/\partial A = \lambda` if :math:`A < A_{\min}` and
       :math:`\partial S/\partial C = -\lambda` if :math:`C > C_{\max}`, however far away
       (a sigmoid gate alone would saturate to a zero gradient there).
    5. **Order.** :math:`S_\tau` is non-decreasing in :math:`A` and in :math:`C'`;
       it equals :math:`E_\beta` (same order) on the :math:`\tau`-interior; every point
       with :math:`E_\beta > 0` and positive margins scores :math:`> 0`, above every
       infeasible point (which score :math:`\le 0`); and infeasible points, all tied at
       zero by the hard metric, are ordered by their distance to feasibility.
       Only pairs inside the :math:`\tau`-band along a boundary may be ordered
       differently, and any strict order of :math:`E_\beta` off the boundaries is
       recovered for :math:`\tau` small enough.

    Args:
        a, c, beta2, a_min, c_max, validate_args: as in :func:`e_beta`, except that
            ``c`` may exceed 1 freely (training drives it back).
        temperature: :math:`\tau \in (0, 1]`, the width of the gate band in normalized units.
        leak: :math:`\lambda \ge 0`, the slope outside the feasible set; ``None`` means
            :math:`\lambda = \tau`.

    Returns:
        Same type rules as :func:`e_beta`; values in :math:`[-\lambda(A_{\min} + C), 1]`.

    Example:
        >>> soft_e_beta(0.9, 0.3) == e_beta(0.9, 0.3)     # deep inside: exact
        True
        >>> round(soft_e_beta(0.9, 1.2, temperature=0.05), 6)   # over budget: -tau * 0.2
        -0.01
    """
    func = "soft_e_beta"
    p = soft_params(func, beta2, a_min, c_max, temperature, leak)
    return evaluate(a, c, p, func, validate=validate_args)


# --------------------------------------------------------------------------- derivatives
def e_beta_grad(
    a: Any, c: Any, *, beta2: float = 1.0, a_min: float = 0.0, c_max: float = 1.0
) -> tuple[Any, Any]:
    r"""Closed-form partial derivatives of hard :math:`E_\beta` with respect to A and C.

    On the feasible set (away from the gate boundaries, where the gates jump):

    .. math::

        \frac{\partial E_\beta}{\partial A} = \frac{(1+\beta^2)\,\beta^2\,C'^2}{(\beta^2 C' + A)^2},
        \qquad
        \frac{\partial E_\beta}{\partial C} = -\frac{\partial E_\beta}{\partial C'}
            = -\frac{(1+\beta^2)\,A^2}{(\beta^2 C' + A)^2},

    both 0 on the infeasible set. At the 0/0 corner (:math:`A = C' = 0`), where the
    limit depends on the direction, both are defined as 0. The signs prove monotonicity:
    :math:`\partial E/\partial A \ge 0`, :math:`\partial E/\partial C \le 0`.

    Returns:
        ``(dE/dA, dE/dC)`` with the type rules of :func:`e_beta`.

    Example:
        >>> e_beta_grad(0.5, 0.5)      # beta2 = 1, A = C' = 0.5: (2 * 0.25 / 1, -2 * 0.25 / 1)
        (0.5, -0.5)
    """
    func = "e_beta_grad"
    p = hard_params(func, beta2, a_min, c_max)
    a_arr, c_arr, use_torch, scalar = prepare(a, c, func)
    check_ac(a_arr, c_arr, func)
    check_beta2_fits(p.beta2, a_arr, c_arr, func)
    xp: Any = np
    if use_torch:
        import torch

        xp = torch
    da, dc = e_beta_grad_kernel(a_arr, c_arr, p.beta2, p.a_min, p.c_max, xp)
    if not use_torch:
        dtype = np.result_type(a_arr, c_arr)
        da, dc = da.astype(dtype, copy=False), dc.astype(dtype, copy=False)
    return finish(da, scalar), finish(dc, scalar)


def e_beta_upper_bound(
    c: Any, *, beta2: float = 1.0, c_max: float = 1.0, a_max: float = 1.0
) -> Any:
    r"""The best :math:`E_\beta` a candidate of cost ``c`` could reach: :math:`E_\beta(A_{\max}, C)`.

    Because :math:`E_\beta` is non-decreasing in :math:`A`, a candidate whose cost is known
    (profiled before training) can score at most

    .. math::

        \bar E_\beta(C) = \frac{(1+\beta^2)\, A_{\max} (1 - C)}{\beta^2 (1 - C) + A_{\max}}\,[C \le C_{\max}],

    with :math:`A_{\max} = 1` (the reference performance) unless a tighter bound is known.
    A candidate whose bound is below the incumbent's :math:`E_\beta` cannot win.

    Example:
        >>> round(e_beta_upper_bound(0.9, beta2=0.5), 3)   # BERT-base in Table 2 is at its bound
        0.143
    """
    func = "e_beta_upper_bound"
    top = check_real(a_max, "a_max", func, low=0.0, high=1.0)
    return e_beta(top, c, beta2=beta2, a_min=0.0, c_max=c_max) if not is_torch(c) else e_beta(
        c * 0.0 + top, c, beta2=beta2, c_max=c_max
    )


def crossover_beta2(a1: float, c1: float, a2: float, c2: float) -> float | None:
    r"""The :math:`\beta^2` at which two models swap rank under :math:`E_\beta` (closed form).

    Since :math:`1/E_\beta = \frac{\beta^2}{1+\beta^2}\frac{1}{A} + \frac{1}{1+\beta^2}\frac{1}{C'}`,
    the two scores are equal exactly when

    .. math::

        \beta^{2*} = \frac{1/C'_2 - 1/C'_1}{1/A_1 - 1/A_2},

    and the order is reversed on either side of it: a pair swaps at most once. The gates
    do not depend on :math:`\beta^2`, so they are not involved (compare feasible models).

    Returns:
        :math:`\beta^{2*} \in (0, \infty)`, or ``None`` when the two never swap (one is at
        least as good for every :math:`\beta^2`, or they tie everywhere).

    Example:
        >>> b = crossover_beta2(75.4 / 78.3, 1.2 / 25, 1.0, 22.5 / 25)  # TinyBERT vs BERT-base
        >>> round(b, 1)
        232.7
    """
    func = "crossover_beta2"
    vals = []
    for name, v, hi in (("a1", a1, 1.0), ("c1", c1, None), ("a2", a2, 1.0), ("c2", c2, None)):
        vals.append(check_real(v, name, func, low=0.0, high=hi))
    x1, y1, x2, y2 = vals
    for name, a_, c_ in (("1", x1, y1), ("2", x2, y2)):
        if a_ <= 0.0 or c_ >= 1.0:
            raise InputError(
                f"Model {name} of {func} must have A > 0 and C < 1 (a positive E_beta) to be "
                f"ranked. Got a{name}={a_!r}, c{name}={c_!r} instead."
            )
    num = 1.0 / (1.0 - y2) - 1.0 / (1.0 - y1)
    den = 1.0 / x1 - 1.0 / x2
    if den == 0.0 or num == 0.0:
        return None
    b = num / den
    return b if b > 0.0 and math.isfinite(b) else None
