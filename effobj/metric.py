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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from effobj._soft_fused import STREAM_MIN as _STREAM_MIN
from effobj._soft_fused import run_blocks, soft_forward
from effobj._validation import check_broadcast, check_real, check_values, is_torch, to_numeric
from effobj.errors import InputError

#: elements per block of the hard metric's stream (two temporaries a thread; measured on
#: 10^7 elements against an add: 2^13 7x, 2^15 2.6-3.3x, 2^16 2.0-3.0x, 2^17 1.7-2.6x)
_BLOCK = 1 << 17

__all__ = [
    "e_beta",
    "soft_e_beta",
    "e_beta_grad",
    "e_beta_upper_bound",
    "crossover_beta2",
]

# --------------------------------------------------------------------------- validation
def _check_params(
    func: str, beta2: Any, a_min: Any, c_max: Any
) -> tuple[float, float, float]:
    b = check_real(beta2, "beta2", func, low=0.0, low_open=True)
    lo = check_real(a_min, "a_min", func, low=0.0, high=1.0)
    hi = check_real(c_max, "c_max", func, low=0.0, high=1.0)
    assert b is not None and lo is not None and hi is not None
    return b, lo, hi


_A_HINT = "A is performance normalized by the reference performance; EfficiencySpec.normalize maps raw values."
_C_HINT = "C is cost normalized by the reference cost and cannot be negative."


def _prepare(
    a: Any, c: Any, func: str, validate: bool
) -> tuple[Any, Any, bool, bool]:
    """Convert inputs, check values, and align backends: returns ``(a, c, torch, scalar)``."""
    a_arr, a_scalar = to_numeric(a, "a", func)
    c_arr, c_scalar = to_numeric(c, "c", func)
    use_torch = is_torch(a_arr) or is_torch(c_arr)
    if use_torch:
        ref = a_arr if is_torch(a_arr) else c_arr
        if not is_torch(a_arr):
            a_arr = _tensor_like(a_arr, a_scalar, ref)
        if not is_torch(c_arr):
            c_arr = _tensor_like(c_arr, c_scalar, ref)
    check_broadcast(a_arr, c_arr, ("a", "c"), func)
    if validate:
        _check_ac(a_arr, c_arr, func)
    return a_arr, c_arr, use_torch, a_scalar and c_scalar


def _tensor_like(arr: np.ndarray, scalar: bool, ref: Any) -> Any:
    """A numpy input as a tensor beside the tensor ``ref``: a Python number takes ``ref``'s
    dtype (torch's rule for scalars) unless it does not fit in it; an array keeps its
    precision (float16 and float64 meet in float64), so a valid value never becomes inf."""
    import torch

    dtype = ref.dtype
    if not scalar:
        dtype = torch.promote_types(dtype, torch.from_numpy(np.zeros(0, dtype=arr.dtype)).dtype)
    elif np.isfinite(arr).all() and np.abs(arr).max(initial=0.0) > torch.finfo(dtype).max:
        dtype = torch.promote_types(dtype, torch.float64)
    return torch.as_tensor(arr, dtype=dtype, device=ref.device)


def _check_beta2_fits(b: float, a: Any, c: Any, func: str) -> None:
    """Refuse a beta^2 too large for the inputs' precision: (1 + beta^2) would overflow it
    (float16 above about 1.6e4, float32/bfloat16 above about 8e37) and NaN would follow."""
    if is_torch(a) or is_torch(c):
        import torch

        dtype = a.dtype if is_torch(a) else c.dtype
        if is_torch(a) and is_torch(c):
            dtype = torch.promote_types(a.dtype, c.dtype)
        top = float(torch.finfo(dtype).max)
    else:
        dtype = np.result_type(a, c)
        if dtype.kind != "f":
            return
        top = float(np.finfo(dtype).max)
    if (1.0 + b) * 4.0 > top:
        raise InputError(
            f"The 'beta2' parameter of {func} must be below {top / 4.0 - 1.0:.3g} for "
            f"{str(dtype).replace('torch.', '')} inputs: (1 + beta2) would overflow that "
            f"precision. Got {b!r} instead. Pass float64 inputs for a larger beta2."
        )


def _check_ac(a: Any, c: Any, func: str) -> None:
    check_values(a, "a", func, low=0.0, high=1.0, hint=_A_HINT)
    check_values(c, "c", func, low=0.0, hint=_C_HINT)


def _finish(out: Any, scalar: bool) -> Any:
    return float(out) if scalar else out


# --------------------------------------------------------------------------- the kernel
def _e_beta_kernel(a: Any, c: Any, beta2: float, a_min: float, c_max: float, where: Callable) -> Any:
    r"""The one definition of hard :math:`E_\beta` (numpy or torch, chosen by ``where``).

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


def _stream_block(
    a: np.ndarray, c: np.ndarray, out: np.ndarray, tmp: np.ndarray, mask: np.ndarray, mask2: np.ndarray,
    beta2: float, a_min: float, c_max: float,
) -> None:
    """:func:`_e_beta_kernel` for one cache-sized block of numpy data, in place.

    The same arithmetic as the kernel, written with ``out=`` ufuncs and no masked ufunc
    (numpy's ``where=`` loops are several times slower than plain ones). The 0/0 corner is
    handled by adding the dtype's smallest normal number to the denominator: it changes
    no denominator above about 1e-292 (float64), and turns 0/0 into 0/tiny = 0.
    """
    tiny = np.finfo(out.dtype).tiny
    np.subtract(1.0, c, out=tmp)  # C'
    if c_max >= 1.0 and a_min <= 0.0:
        # the only gate is C <= 1, i.e. C' >= 0: clamp C' instead of a boolean mask
        # (np.maximum propagates NaN, so the caller's NaN check still sees it)
        np.maximum(tmp, 0.0, out=tmp)
        np.multiply(a, tmp, out=out)  # A C'
        tmp *= beta2
        tmp += a
        tmp += tiny  # beta2 C' + A (+ tiny)
        np.divide(out, tmp, out=out)
        out *= 1.0 + beta2
        return
    np.multiply(a, tmp, out=out)  # A C'
    tmp *= beta2
    tmp += a
    tmp += tiny  # beta2 C' + A (+ tiny)
    np.divide(out, tmp, out=out)
    np.less_equal(c, c_max, out=mask)
    if a_min > 0.0:
        np.greater_equal(a, a_min, out=mask2)
        mask &= mask2
    out *= mask
    out *= 1.0 + beta2


def _stream(
    a: np.ndarray, c: np.ndarray, beta2: float, a_min: float, c_max: float, validate: bool
) -> np.ndarray | None:
    """Evaluate a large same-shape pair block by block, the blocks split over the cores.

    With ``validate``, each block's values are checked while it is in cache (four
    reductions); returns ``None`` if any block breaks a rule, so that the caller can
    raise the precise error.
    """
    dtype = np.result_type(a, c)
    a = np.ascontiguousarray(a, dtype=dtype).reshape(-1)
    c = np.ascontiguousarray(c, dtype=dtype).reshape(-1)
    n = a.size
    out = np.empty(n, dtype=dtype)
    inf = np.inf

    def run(lo: int, hi: int) -> bool:
        tmp = np.empty(_BLOCK, dtype=dtype)
        m1 = np.empty(_BLOCK, dtype=bool)
        m2 = np.empty(_BLOCK, dtype=bool)
        for s in range(lo, hi, _BLOCK):
            e = min(hi, s + _BLOCK)
            k = e - s
            ab, cb = a[s:e], c[s:e]
            # NaN fails every comparison, so these four also catch NaN
            if validate and not (
                ab.min() >= 0.0 and ab.max() <= 1.0 and cb.min() >= 0.0 and cb.max() < inf
            ):
                return False
            _stream_block(ab, cb, out[s:e], tmp[:k], m1[:k], m2[:k], beta2, a_min, c_max)
        return True

    return out if run_blocks(n, run, _BLOCK) else None


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
    func = "e_beta"
    b, lo, hi = _check_params(func, beta2, a_min, c_max)
    a_arr, c_arr, use_torch, scalar = _prepare(a, c, func, False)
    _check_beta2_fits(b, a_arr, c_arr, func)
    if not use_torch and a_arr.shape == c_arr.shape and a_arr.size >= _STREAM_MIN:
        out = _stream(a_arr, c_arr, b, lo, hi, validate_args)
        if out is not None:
            return out.reshape(a_arr.shape)
    if validate_args:
        _check_ac(a_arr, c_arr, func)
    if use_torch:
        import torch

        return _e_beta_kernel(a_arr, c_arr, b, lo, hi, torch.where)
    dtype = np.result_type(a_arr, c_arr)
    out = _e_beta_kernel(a_arr, c_arr, b, lo, hi, np.where).astype(dtype, copy=False)
    return _finish(out, scalar)


# --------------------------------------------------------------------------- smooth
def _soft_kernel(
    a: Any, c: Any, beta2: float, margins: list[Any], tau: float, leak: float, xp: Any
) -> Any:
    r"""The one definition of the smooth surrogate (numpy or torch, chosen by ``xp``).

    ``margins`` are the gate margins (``>= 0`` feasible): :math:`C_{\max} - C` for each
    cost budget and :math:`A - A_{\min}` when there is a performance floor. Each margin
    contributes a smoothstep gate (1 at ``tau`` inside, 0 on the boundary) and a leak
    :math:`-\lambda \max(0, -m)` outside.
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


def _soft_margins(a: Any, c: Any, a_min: float, c_max: float) -> list[Any]:
    return [c_max - c] + ([a - a_min] if a_min > 0.0 else [])


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
    b, lo, hi = _check_params(func, beta2, a_min, c_max)
    tau = check_real(temperature, "temperature", func, low=0.0, high=1.0, low_open=True)
    lam = check_real(leak, "leak", func, low=0.0, allow_none=True)
    assert tau is not None
    lam = tau if lam is None else lam
    a_arr, c_arr, use_torch, scalar = _prepare(a, c, func, validate_args)
    _check_beta2_fits(b, a_arr, c_arr, func)
    if use_torch:
        from effobj._soft_fused import soft_e_beta_torch

        return soft_e_beta_torch(a_arr, c_arr, b, lo, hi, tau, lam)
    dtype = np.result_type(a_arr, c_arr)
    if a_arr.shape == c_arr.shape and a_arr.size >= _STREAM_MIN and dtype.kind == "f":
        out = np.empty(a_arr.shape, dtype=dtype)
        soft_forward(np.ascontiguousarray(a_arr, dtype=dtype).reshape(-1),
                     np.ascontiguousarray(c_arr, dtype=dtype).reshape(-1),
                     b, lo, hi, tau, lam, out.reshape(-1))
        return out
    margins = _soft_margins(a_arr, c_arr, lo, hi)
    out = _soft_kernel(a_arr, c_arr, b, margins, tau, lam, np).astype(dtype, copy=False)
    return _finish(out, scalar)


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
    b, lo, hi = _check_params(func, beta2, a_min, c_max)
    a_arr, c_arr, use_torch, scalar = _prepare(a, c, func, True)
    _check_beta2_fits(b, a_arr, c_arr, func)
    xp: Any
    if use_torch:
        import torch

        xp = torch
    else:
        xp = np
    cp = 1.0 - c_arr
    den = b * cp + a_arr
    feasible = (c_arr <= hi) & (den > 0)
    if lo > 0.0:
        feasible = feasible & (a_arr >= lo)
    # in ratios of the denominator: (1 + b) b C'^2 / den^2 and (1 + b) A^2 / den^2 form
    # neither den^2 (underflows at A = 1e-300, C' = 0: 0/0) nor b^2 (overflows at 1e200)
    den = xp.where(feasible, den, 1.0)
    r_c = cp / den
    da = xp.where(feasible, (1.0 + b) * (b * r_c) * r_c, 0.0)
    r_a = a_arr / den
    dc = xp.where(feasible, -(1.0 + b) * r_a * r_a, 0.0)
    if not use_torch:
        dtype = np.result_type(a_arr, c_arr)
        da, dc = da.astype(dtype, copy=False), dc.astype(dtype, copy=False)
    return _finish(da, scalar), _finish(dc, scalar)


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
    assert x1 is not None and y1 is not None and x2 is not None and y2 is not None
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
