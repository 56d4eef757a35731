r"""Parameters, input preparation and the one dispatcher behind every face of the metric.

Every face (:func:`effobj.e_beta`, :func:`effobj.soft_e_beta`,
:meth:`effobj.EfficiencySpec.score` and :meth:`~effobj.EfficiencySpec.soft_score`,
:class:`effobj.nn.EBetaScore`, :class:`effobj.nn.SoftEBetaScore`,
:func:`effobj.nn.e_beta_loss`) checks its parameters into a :class:`Params` and calls
:func:`evaluate`, which converts and aligns the inputs, checks them, and picks the path:

===========================  =========================  ========================
input                        hard :math:`E_\beta`       surrogate :math:`S_\tau`
===========================  =========================  ========================
numpy, one shape, large      ``stream.stream_e_beta``   ``stream.soft_forward``
torch CPU, one shape, large  ``kernels.e_beta_kernel``  ``fused.fused_soft``
``compiled=True`` (torch)    (not offered)              ``fused.compiled_soft``
anything else                ``kernels.e_beta_kernel``  ``kernels.soft_kernel``
===========================  =========================  ========================

"Large" is at least ``stream.STREAM_MIN`` elements. The cost gates are one budget
``c_max`` on the traded-off cost ``c`` unless ``budgets`` gives one ``(C_i, C_max_i)``
pair per cost indicator (a spec with several): then the streamed and fused surrogate
paths, written for one cost gate, give way to the generic kernel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from effobj._metric.fused import compiled_soft, fused_soft
from effobj._metric.kernels import e_beta_kernel, gate_margins, soft_kernel
from effobj._metric.stream import STREAM_MIN, soft_forward, stream_e_beta
from effobj._validation import (
    check_broadcast,
    check_real,
    check_values,
    is_torch,
    refusal,
    to_numeric,
)

__all__ = [
    "Params", "hard_params", "soft_params", "prepare", "check_ac", "check_beta2_fits",
    "finish", "evaluate",
]

Budgets = Sequence[tuple[Any, float]]

_A_HINT = "A is performance normalized by the reference performance; EfficiencySpec.normalize maps raw values."
_C_HINT = "C is cost normalized by the reference cost and cannot be negative."


@dataclasses.dataclass(frozen=True)
class Params:
    r"""Checked parameters of one evaluation: :math:`\beta^2`, the gates and, for the
    surrogate, the temperature and leak (``tau=None``: the hard metric)."""

    beta2: float
    a_min: float
    c_max: float
    tau: float | None = None
    leak: float = 0.0


def hard_params(func: str, beta2: Any, a_min: Any, c_max: Any) -> Params:
    """Check :math:`\\beta^2 > 0`, ``a_min`` and ``c_max`` in [0, 1] (messages name ``func``)."""
    b = check_real(beta2, "beta2", func, low=0.0, low_open=True)
    lo = check_real(a_min, "a_min", func, low=0.0, high=1.0)
    hi = check_real(c_max, "c_max", func, low=0.0, high=1.0)
    return Params(b, lo, hi)


def soft_params(func: str, beta2: Any, a_min: Any, c_max: Any, temperature: Any, leak: Any) -> Params:
    """:func:`hard_params` plus :math:`\\tau \\in (0, 1]` and :math:`\\lambda \\ge 0` (``None``: :math:`\\tau`)."""
    p = hard_params(func, beta2, a_min, c_max)
    tau = check_real(temperature, "temperature", func, low=0.0, high=1.0, low_open=True)
    lam = check_real(leak, "leak", func, low=0.0, allow_none=True)
    return dataclasses.replace(p, tau=tau, leak=tau if lam is None else lam)


# --------------------------------------------------------------------------- inputs
def prepare(a: Any, c: Any, func: str) -> tuple[Any, Any, bool, bool]:
    """Convert inputs and align backends: returns ``(a, c, torch, scalar)``.

    Numbers and sequences become numpy arrays; when either input is a tensor, the other
    becomes a tensor beside it. Shapes that do not broadcast raise ``InputError``.
    """
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


def _align_budgets(budgets: Budgets, ref: Any, func: str) -> Budgets:
    """The budgets' costs as tensors beside ``ref`` (the costs of a spec may be numbers)."""
    out = []
    for i, (cost, c_max) in enumerate(budgets):
        arr, scalar = to_numeric(cost, f"c[{i}]", func)
        out.append((arr if is_torch(arr) else _tensor_like(arr, scalar, ref), c_max))
    return out


def check_beta2_fits(b: float, a: Any, c: Any, func: str) -> None:
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
        raise refusal(
            "beta2", func,
            f"be below {top / 4.0 - 1.0:.3g} for {str(dtype).replace('torch.', '')} inputs: "
            "(1 + beta2) would overflow that precision",
            repr(b), hint="Pass float64 inputs for a larger beta2.",
        )


def check_ac(a: Any, c: Any, func: str) -> None:
    """A in [0, 1] and C >= 0, both finite (messages name ``func``, the index and value)."""
    check_values(a, "a", func, low=0.0, high=1.0, hint=_A_HINT)
    check_values(c, "c", func, low=0.0, hint=_C_HINT)


def finish(out: Any, scalar: bool) -> Any:
    """A Python float for two Python numbers in; the array or tensor otherwise."""
    return float(out) if scalar else out


# --------------------------------------------------------------------------- the dispatcher
def evaluate(
    a: Any, c: Any, p: Params, func: str, *, validate: bool,
    budgets: Budgets | None = None, compiled: bool = False,
) -> Any:
    r""":math:`E_\beta` (``p.tau is None``) or :math:`S_\tau` of ``(a, c)``, by the fastest path.

    Args:
        a, c: normalized performance and (traded-off) cost: numbers, arrays or tensors.
        p: the checked parameters (:func:`hard_params`, :func:`soft_params`).
        func: the face's name, for the messages.
        validate: check A in [0, 1] and C finite and >= 0.
        budgets: ``(C_i, C_max_i)`` per cost indicator, gating each :math:`C_i` in place
            of ``p.c_max`` on ``c`` (the hard metric keeps its rule :math:`C \le 1`).
        compiled: run the surrogate of tensors through ``torch.compile``.

    Returns:
        A float for two Python numbers; otherwise an array (dtype of the inputs, integers
        as float64) or a tensor (dtype and device kept), broadcast from both inputs.
    """
    a, c, use_torch, scalar = prepare(a, c, func)
    if use_torch and budgets is not None:
        budgets = _align_budgets(budgets, a, func)
    check_beta2_fits(p.beta2, a, c, func)
    numpy_stream = not use_torch and a.shape == c.shape and a.size >= STREAM_MIN
    xp: Any = np
    if use_torch:
        import torch

        xp = torch
    if p.tau is None:
        hi = p.c_max if budgets is None else 1.0
        out = None
        if numpy_stream:
            out = stream_e_beta(a, c, p.beta2, p.a_min, hi, validate)
            out = None if out is None else out.reshape(a.shape)
        if out is None:
            if validate:
                check_ac(a, c, func)
            # the kernel computes every element and keeps the feasible ones, where nothing
            # overflows; a huge C (1e308, a cost far over its budget) overflows in the
            # discarded branch: no RuntimeWarning for it (torch does not warn)
            with np.errstate(over="ignore", invalid="ignore"):
                out = e_beta_kernel(a, c, p.beta2, p.a_min, hi, xp.where)
        if budgets is not None:
            ok: Any = True
            for cost, c_max in budgets:
                ok = ok & (cost <= c_max)
            out = out * ok
    else:
        if validate:
            check_ac(a, c, func)
        out = _soft(a, c, p, use_torch, numpy_stream, budgets, compiled, xp)
    if not use_torch:
        out = out.astype(np.result_type(a, c), copy=False)
    return finish(out, scalar)


def _soft(
    a: Any, c: Any, p: Params, use_torch: bool, numpy_stream: bool, budgets: Budgets | None,
    compiled: bool, xp: Any,
) -> Any:
    assert p.tau is not None
    args = (p.beta2, p.a_min, p.c_max, p.tau, p.leak)
    if use_torch and compiled:
        return compiled_soft(a, c, *args)
    if budgets is None:
        if use_torch:
            out = fused_soft(a, c, *args)
            if out is not None:
                return out
        elif numpy_stream and np.result_type(a, c).kind == "f":
            dtype = np.result_type(a, c)
            out = np.empty(a.shape, dtype=dtype)
            soft_forward(np.ascontiguousarray(a, dtype=dtype).reshape(-1),
                         np.ascontiguousarray(c, dtype=dtype).reshape(-1), *args, out.reshape(-1))
            return out
        budgets = ((c, p.c_max),)
    return soft_kernel(a, c, p.beta2, gate_margins(a, p.a_min, budgets), p.tau, p.leak, xp)
