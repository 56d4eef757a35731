"""Argument checks shared by every public function of the metric layer.

Messages follow scikit-learn's form and name the parameter, the function, the rule and
the value: ``The 'beta2' parameter of e_beta must be a float in the range (0, inf). Got
-1.0 instead.`` Arrays are checked without importing torch: a torch tensor is recognised
by its type's module.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from effobj.errors import InputError, InputTypeError

__all__ = [
    "check_real",
    "check_choice",
    "is_torch",
    "to_numeric",
    "check_values",
    "interval",
    "check_broadcast",
]


def is_torch(x: Any) -> bool:
    """True if ``x`` is a torch tensor (checked by type, so torch is never imported)."""
    return type(x).__module__.split(".", 1)[0] == "torch" and hasattr(x, "dtype")


def interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """Render an interval the way the messages print it, e.g. ``(0, inf)`` or ``[0, 1]``."""
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    left = "(" if (low is None or low_open) else "["
    right = ")" if (high is None or high_open) else "]"
    return f"{left}{lo}, {hi}{right}"


def check_real(
    value: Any,
    name: str,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Check that ``value`` is one finite real number inside an interval; return it as float.

    Raises:
        TypeError: if ``value`` is not a real number (bools and strings are refused).
        InputError: if it is NaN, infinite or outside the interval.
    """
    if value is None and allow_none:
        return None
    if is_torch(value) or isinstance(value, np.ndarray):
        if getattr(value, "ndim", 1) == 0:
            value = value.item()
    rule = f"a float in the range {interval(low, high, low_open, high_open)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        none = " or None" if allow_none else ""
        raise InputTypeError(
            f"The {name!r} parameter of {func} must be {rule}{none}. "
            f"Got {value!r} of type {type(value).__name__} instead."
        ) from None
    v = float(value)
    bad = (
        math.isnan(v)
        or (math.isinf(v) and not (v > 0 and high is None) and not (v < 0 and low is None))
        or (low is not None and (v < low or (low_open and v == low)))
        or (high is not None and (v > high or (high_open and v == high)))
    )
    if math.isinf(v):  # infinities are never a usable parameter value
        bad = True
    if bad:
        raise InputError(f"The {name!r} parameter of {func} must be {rule}. Got {value!r} instead.")
    return v


def check_choice(value: Any, name: str, func: str, choices: tuple[str, ...]) -> str:
    """Check that ``value`` is one of the allowed strings."""
    if value not in choices:
        raise InputError(
            f"The {name!r} parameter of {func} must be one of {', '.join(map(repr, choices))}. "
            f"Got {value!r} instead."
        )
    return value


def to_numeric(value: Any, name: str, func: str) -> tuple[Any, bool]:
    """Turn a number, sequence, numpy array or torch tensor into an array-like.

    Returns:
        ``(array, is_scalar)``: a numpy array (floating dtype; integers become float64)
        or the torch tensor itself, and whether the input was a plain Python number.
    """
    if is_torch(value):
        if value.dtype.is_complex or str(value.dtype) == "torch.bool":  # as numpy's are refused
            raise InputTypeError(
                f"The {name!r} parameter of {func} must be a real number, array or tensor. "
                f"Got a tensor of dtype {str(value.dtype).replace('torch.', '')} instead."
            )
        if not value.dtype.is_floating_point:
            value = value.double()
        return value, False
    if isinstance(value, bool) or isinstance(value, str | bytes):
        raise InputTypeError(
            f"The {name!r} parameter of {func} must be a real number, array or tensor. "
            f"Got {value!r} of type {type(value).__name__} instead."
        )
    is_scalar = isinstance(value, numbers.Real)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(value, dtype=object)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InputTypeError(
            f"The {name!r} parameter of {func} must be a real number, array or tensor. "
            f"Got {value!r} (dtype {arr.dtype}) instead."
        ) from None
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr, is_scalar


def check_values(
    x: Any,
    name: str,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    hint: str = "",
) -> None:
    """Check that every element of an array or tensor is finite and within ``[low, high]``.

    The message gives the first offending index and value. Costs one min and one max
    reduction (NaN propagates through both, so they also catch NaN).
    """
    if is_torch(x):
        if x.numel() == 0:
            return
        x = x.detach()
    elif x.size == 0:
        return
    lo = float(x.min())
    hi = float(x.max())
    ok = not (math.isnan(lo) or math.isnan(hi) or math.isinf(lo) or math.isinf(hi))
    ok = ok and (low is None or lo >= low) and (high is None or hi <= high)
    if ok:
        return
    xn = x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)
    bad = ~np.isfinite(xn)
    if low is not None:
        bad |= xn < low
    if high is not None:
        bad |= xn > high
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if xn.ndim else ()
    where = f" at index {idx[0] if len(idx) == 1 else idx}" if idx else ""
    rule = "finite" if low is None and high is None else f"finite and in {interval(low, high, False, False)}"
    raise InputError(
        f"The {name!r} parameter of {func} must be {rule}. Got {xn[idx].item()!r}{where} instead."
        + (f" {hint}" if hint else "")
    )


def check_broadcast(x: Any, y: Any, names: tuple[str, str], func: str) -> None:
    """Check that two arrays or tensors broadcast to one shape (torch shapes are plain tuples)."""
    sx, sy = tuple(x.shape), tuple(y.shape)
    try:
        np.broadcast_shapes(sx, sy)
    except ValueError:
        raise InputError(
            f"The {names[0]!r} and {names[1]!r} parameters of {func} must broadcast to one "
            f"shape. Got shapes {sx} and {sy} instead."
        ) from None
