"""Comparison metrics that users weigh E_beta against.

Every function here takes floats, numpy arrays (broadcast against each other) or torch
tensors, checks its arguments with :mod:`effobj._validation` and returns a float for
scalar input, an array otherwise (a tensor, with autograd, when any input is a tensor).

* :func:`accuracy_to_compute_ratio` and :func:`normalized_ratio`: the two ratio columns of
  the paper's Tables 1 and 2.
* :func:`cost_efficiency_ratio`, :func:`time_efficiency_ratio`,
  :func:`performance_speed_ratio`: the productivity ratios CER, TER and PSR.
* :func:`mnasnet_reward`: MnasNet's latency-aware reward (Tan et al. 2019, eq. 2).
* :func:`latency_loss`: the multiplicative latency loss of FBNet / ProxylessNAS.
* :func:`edp`, :func:`ed2p`: the energy-delay products of hardware evaluation.

Every cost-like argument (cost, latency, hours, energy, delay) must be finite and
non-negative, and strictly positive where it divides; every performance-like argument
must be finite and non-negative (a ratio "performance per cost" ranks nothing once the
performance can be negative). Nothing here returns NaN: bad values raise
:class:`effobj.errors.InputError` naming the parameter, the rule and the value.

This module imports numpy only; torch is imported inside a function, and only when a
tensor was passed in (so it is already loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from effobj._validation import (
    check_choice,
    check_real,
    check_values,
    is_torch,
    refusal,
    to_numeric,
)
from effobj.errors import InputError

__all__ = [
    "accuracy_to_compute_ratio",
    "normalized_ratio",
    "cost_efficiency_ratio",
    "time_efficiency_ratio",
    "performance_speed_ratio",
    "mnasnet_reward",
    "latency_loss",
    "edp",
    "ed2p",
]

# (name, value, lower bound or None, lower bound excluded?)
_Spec = tuple[str, Any, "float | None", bool]


def _prepare(func: str, specs: Sequence[_Spec], hint: str = "") -> tuple[list[Any], bool]:
    """Convert, broadcast-check and range-check the array arguments of ``func``.

    Returns:
        The converted arrays (all numpy, or all torch when any input is a tensor) and
        whether every input was a plain number (then the caller returns a float).
    """
    arrays: list[Any] = []
    scalar = True
    for name, value, _, _ in specs:
        arr, is_scalar = to_numeric(value, name, func)
        arrays.append(arr)
        scalar = scalar and is_scalar
    ref = next((a for a in arrays if is_torch(a)), None)
    if ref is not None:
        import torch  # already loaded: a tensor was passed in

        arrays = [
            a if is_torch(a) else torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
            for a in arrays
        ]
    shape: tuple[int, ...] = tuple(arrays[0].shape)
    for i in range(1, len(arrays)):
        try:
            shape = tuple(np.broadcast_shapes(shape, tuple(arrays[i].shape)))
        except ValueError:
            before = " and ".join(repr(s[0]) for s in specs[:i])
            raise refusal(
                specs[i][0], func, f"have a shape that broadcasts with {before} (shape {shape})",
                f"shape {tuple(arrays[i].shape)}",
            ) from None
    for (name, _, low, low_open), arr in zip(specs, arrays, strict=True):
        check_values(arr, name, func, low=low, low_open=low_open, hint=hint)
    return arrays, scalar


def _finish(result: Any, scalar: bool) -> Any:
    """A float for scalar input, a numpy array or the tensor otherwise."""
    if scalar:
        return float(result)
    return result if is_torch(result) else np.asarray(result)


def _log(x: Any) -> Any:
    return x.log() if is_torch(x) else np.log(x)


def _where(cond: Any, a: float, b: float) -> Any:
    if is_torch(cond):
        import torch  # already loaded: a tensor was passed in

        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def accuracy_to_compute_ratio(perf: Any, cost: Any) -> Any:
    r"""Raw performance per unit of raw cost (the paper's "accuracy to compute ratio").

    .. math::

        R = \frac{\mathrm{perf}}{\mathrm{cost}}

    Args:
        perf: performance in its own unit (e.g. top-1 accuracy in %), finite and >= 0.
        cost: cost in its own unit (e.g. GFLOPs), finite and > 0.

    Returns:
        The ratio; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative performance, cost <= 0, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> round(accuracy_to_compute_ratio(72.0, 75.0), 2)  # R(2+1)D, Table 1
        0.96
    """
    func = "accuracy_to_compute_ratio"
    (p, c), scalar = _prepare(func, [("perf", perf, 0.0, False), ("cost", cost, 0.0, True)])
    return _finish(p / c, scalar)


def normalized_ratio(a: Any, c: Any) -> Any:
    r"""Normalized performance over normalized cost (the paper's second ratio column).

    With :math:`A = \mathrm{perf}/\mathrm{perf_{ref}}` and
    :math:`C = \mathrm{cost}/\mathrm{cost_{ref}}`:

    .. math::

        R_n = \frac{A}{C}

    Values of ``a`` above 1 (performance above the reference) and ``c`` above 1 (cost
    above the reference) are allowed: the ratio stays defined.

    Args:
        a: normalized performance, finite and >= 0.
        c: normalized cost, finite and > 0.

    Returns:
        The ratio; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, a < 0, c <= 0, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> round(normalized_ratio(72.0 / 83.1, 75.0 / 4218.0), 2)  # R(2+1)D, Table 1
        48.73
    """
    func = "normalized_ratio"
    (a_, c_), scalar = _prepare(func, [("a", a, 0.0, False), ("c", c, 0.0, True)])
    return _finish(a_ / c_, scalar)


def cost_efficiency_ratio(score: Any, training_cost: Any, inference_cost: Any) -> Any:
    r"""Cost Efficiency Ratio (CER): performance per unit of money spent.

    .. math::

        \mathrm{CER} = \frac{\mathrm{score}}{\mathrm{training\ cost} + \mathrm{inference\ cost}}

    Args:
        score: performance, e.g. an F1 score, finite and >= 0.
        training_cost: finite and >= 0 (e.g. dollars).
        inference_cost: finite and >= 0, same unit; the sum of the two costs must be > 0.

    Returns:
        CER; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative values, a total cost of zero, shapes that do not
            broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> round(cost_efficiency_ratio(0.90, 1000.0, 200.0), 8)
        0.00075
    """
    func = "cost_efficiency_ratio"
    (s, tc, ic), scalar = _prepare(
        func,
        [
            ("score", score, 0.0, False),
            ("training_cost", training_cost, 0.0, False),
            ("inference_cost", inference_cost, 0.0, False),
        ],
    )
    total = tc + ic  # both are >= 0 here, so the total is 0 only where both are 0
    zero = (total.detach() if is_torch(total) else np.asarray(total)) == 0
    if bool(zero.any()):
        zn = zero.cpu().numpy() if is_torch(zero) else zero
        idx = tuple(int(i) for i in np.argwhere(zn)[0]) if zn.ndim else ()
        where = f" at index {idx[0] if len(idx) == 1 else idx}" if idx else ""
        raise InputError(
            f"The 'training_cost' and 'inference_cost' parameters of {func} must not both "
            f"be zero: their sum is the divisor. Got a total cost of 0.0{where} instead."
        )
    return _finish(s / total, scalar)


def time_efficiency_ratio(score: Any, training_hours: Any) -> Any:
    r"""Time Efficiency Ratio (TER): performance per hour of training.

    .. math::

        \mathrm{TER} = \frac{\mathrm{score}}{\mathrm{training\ hours}}

    Args:
        score: performance, e.g. an F1 score, finite and >= 0.
        training_hours: finite and > 0.

    Returns:
        TER; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, a negative score, hours <= 0, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> round(time_efficiency_ratio(0.90, 10.0), 8)
        0.09
    """
    func = "time_efficiency_ratio"
    (s, h), scalar = _prepare(
        func, [("score", score, 0.0, False), ("training_hours", training_hours, 0.0, True)]
    )
    return _finish(s / h, scalar)


def performance_speed_ratio(score: Any, latency_ms: Any) -> Any:
    r"""Performance over Speed Ratio (PSR): performance per millisecond of latency.

    .. math::

        \mathrm{PSR} = \frac{\mathrm{score}}{\mathrm{latency\ (ms)}}

    Args:
        score: performance, e.g. an F1 score, finite and >= 0.
        latency_ms: inference latency in milliseconds, finite and > 0.

    Returns:
        PSR; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, a negative score, latency <= 0, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> round(performance_speed_ratio(0.90, 50.0), 8)
        0.018
    """
    func = "performance_speed_ratio"
    (s, lat), scalar = _prepare(
        func, [("score", score, 0.0, False), ("latency_ms", latency_ms, 0.0, True)]
    )
    return _finish(s / lat, scalar)


_MNAS_MODES: dict[str, tuple[float, float]] = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}


def mnasnet_reward(
    acc: Any,
    latency: Any,
    target: Any,
    *,
    w: float | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    mode: str = "soft",
) -> Any:
    r"""MnasNet's latency-aware reward (Tan et al. 2019, "MnasNet", eq. 2).

    .. math::

        R = \mathrm{ACC} \cdot \left(\frac{\mathrm{LAT}}{T}\right)^{w},
        \qquad
        w = \begin{cases} \alpha & \mathrm{LAT} \le T \\ \beta & \mathrm{LAT} > T \end{cases}

    ``mode="soft"`` is the paper's choice :math:`\alpha = \beta = -0.07` (a 2x slower
    model must be about 5 % more accurate to earn the same reward); ``mode="hard"`` is
    :math:`\alpha = 0, \beta = -1` (no reward for being faster than the target, a
    proportional penalty above it). An explicit ``alpha`` or ``beta`` overrides the mode's
    value; ``w`` sets both to one constant exponent. The reward is continuous in the
    latency (both branches equal ACC at LAT = T).

    Args:
        acc: accuracy (any higher-better performance), finite and >= 0.
        latency: measured latency, finite and > 0, same unit as ``target``.
        target: target latency T, finite and > 0.
        w: one exponent for both sides, in (-inf, 0]; excludes ``alpha`` and ``beta``.
        alpha: exponent when LAT <= T, in (-inf, 0]; default from ``mode``.
        beta: exponent when LAT > T, in (-inf, 0]; default from ``mode``.
        mode: ``"soft"`` or ``"hard"``.

    Returns:
        The reward; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative accuracy, latency or target <= 0, a positive
            exponent, ``w`` given together with ``alpha`` or ``beta``, an unknown mode,
            shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> mnasnet_reward(0.75, 150.0, 75.0, mode="hard")  # 2x over target: half reward
        0.375
        >>> round(mnasnet_reward(0.75, 150.0, 75.0), 6)  # soft: 0.75 * 2 ** -0.07
        0.714478
    """
    func = "mnasnet_reward"
    check_choice(mode, "mode", func, tuple(_MNAS_MODES))
    a_default, b_default = _MNAS_MODES[mode]
    if w is not None:
        if alpha is not None or beta is not None:
            raise InputError(
                f"The 'w' parameter of {func} sets both exponents and cannot be combined "
                f"with 'alpha' or 'beta'. Got w={w!r}, alpha={alpha!r}, beta={beta!r} instead."
            )
        a_exp = b_exp = check_real(w, "w", func, high=0.0)
    else:
        a_exp = a_default if alpha is None else check_real(alpha, "alpha", func, high=0.0)
        b_exp = b_default if beta is None else check_real(beta, "beta", func, high=0.0)
    (acc_, lat, t), scalar = _prepare(
        func,
        [("acc", acc, 0.0, False), ("latency", latency, 0.0, True), ("target", target, 0.0, True)],
    )
    ratio = lat / t
    exponent = _where(lat <= t, a_exp, b_exp)
    return _finish(acc_ * ratio**exponent, scalar)


def latency_loss(
    ce: Any,
    latency: Any,
    target: Any,
    *,
    alpha: float = 0.2,
    beta: float = 0.6,
) -> Any:
    r"""Multiplicative latency loss of FBNet / ProxylessNAS (lower is better).

    .. math::

        L = \alpha \cdot \mathrm{CE} \cdot
            \left(\frac{\log \mathrm{LAT}}{\log T}\right)^{\beta}

    :math:`\beta` is an *exponent*: it sets how steeply the loss grows with latency
    (FBNet uses :math:`\alpha = 0.2, \beta = 0.6`). A widely copied re-implementation
    computes :math:`\alpha \cdot \mathrm{CE} \cdot \beta \log \mathrm{LAT} / \log T`
    instead (``log(lat ** beta)``), which only rescales the loss and leaves the latency
    trade-off linear in :math:`\log \mathrm{LAT}`; this function is the exponent form.
    At LAT = T the latency factor is 1 and the loss is :math:`\alpha \cdot \mathrm{CE}`.

    Domain: the logarithms must both be positive, so LAT > 1 and T > 1 *in the unit
    used*. With LAT < 1 the base is negative and a fractional power has no real value;
    with T = 1 it divides by zero; with both below 1 the ratio is positive but
    decreases as latency grows. Such values are refused: express latency in a unit in
    which it exceeds 1 (e.g. microseconds instead of seconds).

    Args:
        ce: cross-entropy (any non-negative task loss), finite and >= 0.
        latency: latency LAT, finite and > 1 in the unit used.
        target: reference latency T, finite and > 1 in the same unit.
        alpha: scale, in (0, inf).
        beta: exponent, in [0, inf).

    Returns:
        The loss; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative CE, latency or target <= 1, alpha <= 0,
            beta < 0, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> import math
        >>> loss = latency_loss(2.0, 100.0, 10.0)  # log ratio 2, so 0.2 * 2 * 2 ** 0.6
        >>> math.isclose(loss, 0.4 * 2**0.6)
        True
    """
    func = "latency_loss"
    alpha_ = check_real(alpha, "alpha", func, low=0.0, low_open=True)
    beta_ = check_real(beta, "beta", func, low=0.0)
    hint = (
        "The loss takes log(latency) / log(target), which needs both above 1: express "
        "latencies in a unit where they exceed 1 (e.g. microseconds)."
    )
    (ce_, lat, t), scalar = _prepare(
        func,
        [("ce", ce, 0.0, False), ("latency", latency, 1.0, True), ("target", target, 1.0, True)],
        hint=hint,
    )
    return _finish(alpha_ * ce_ * (_log(lat) / _log(t)) ** beta_, scalar)


def edp(energy: Any, delay: Any) -> Any:
    r"""Energy-delay product (lower is better).

    .. math::

        \mathrm{EDP} = E \cdot D

    Args:
        energy: energy per inference (e.g. J), finite and >= 0.
        delay: delay per inference (e.g. s), finite and >= 0.

    Returns:
        EDP; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative values, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> edp(2.0, 0.5)
        1.0
    """
    func = "edp"
    (e, d), scalar = _prepare(func, [("energy", energy, 0.0, False), ("delay", delay, 0.0, False)])
    return _finish(e * d, scalar)


def ed2p(energy: Any, delay: Any) -> Any:
    r"""Energy-delay-squared product (lower is better; weights delay more than EDP).

    .. math::

        \mathrm{ED^2P} = E \cdot D^2

    Args:
        energy: energy per inference (e.g. J), finite and >= 0.
        delay: delay per inference (e.g. s), finite and >= 0.

    Returns:
        ED^2P; a float for scalar input, an array (or tensor) otherwise.

    Raises:
        InputError: NaN/inf, negative values, shapes that do not broadcast.
        TypeError: a non-numeric argument.

    Example:
        >>> ed2p(2.0, 0.5)
        0.5
    """
    func = "ed2p"
    (e, d), scalar = _prepare(func, [("energy", energy, 0.0, False), ("delay", delay, 0.0, False)])
    return _finish(e * d * d, scalar)
