"""The checks every public function of effobj applies to its arguments.

One vocabulary for the whole package (the metric layer, ``nn``, ``rl``, the search
spaces, the cost models, the command line, the Optuna integration), in the manner of
scikit-learn's declared parameter constraints (``Interval``, ``StrOptions``): each check
takes the value, the parameter's name and the function's name, states its rule once,
and returns the value converted (an ``int``, a ``float``, the checked object).

Every refusal names the parameter (and the function), the rule and the value, in one
form built by :func:`refusal`::

    The 'beta2' parameter of e_beta must be a float in the range (0, inf). Got -1.0 instead.
    The 'n_samples' parameter of stochastic_pareto must be an int in the range [1, inf). Got 0 instead.
    The 'spec' parameter of EBetaReward must be an effobj.EfficiencySpec. Got dict instead.
    The '--check' option of effobj latency-table must be an int in the range [0, inf). Got -1 instead.

(a name that starts with ``-`` is a command-line option). A value of the wrong type
raises :class:`~effobj.errors.InputTypeError` (a ``TypeError`` too), a value of the
right type that breaks the rule :class:`~effobj.errors.InputError` (a ``ValueError``).

========================  =================================================================
check                     rule
========================  =================================================================
:func:`check_int`         an int (bools refused) in an interval, or None if allowed
:func:`check_real`        one finite real number in an interval, or None if allowed
:func:`check_bool`        a bool
:func:`check_str`         a str, non-empty if asked
:func:`check_choice`      one of a fixed set of values
:func:`check_instance`    an instance of a class (or classes), or None if allowed
:func:`effobj.spec.check_spec` an :class:`effobj.EfficiencySpec` (beside the class)
:func:`check_callable`    a callable, or None if allowed
:func:`check_output_path` a file to write: its ending, and a folder that can be written
:func:`check_values`      every element of an array or tensor finite and in an interval
:func:`check_broadcast`   two arrays or tensors of shapes that broadcast
:func:`to_numeric`        a number, sequence, array or tensor, as an array-like
========================  =================================================================

Rules that no check above states (a shape, a relation between two parameters) raise
:func:`refusal` with their own rule, so their messages keep the same form.

This module imports numpy only: arrays are checked without importing torch (a tensor is
recognised by its type's module), and :func:`check_spec` imports :mod:`effobj.spec` when
called.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np

from effobj.errors import InputError, InputTypeError

__all__ = [
    "subject",
    "refusal",
    "check_int",
    "check_real",
    "check_bool",
    "check_str",
    "check_choice",
    "same_value",
    "check_instance",
        "check_callable",
    "check_output_path",
    "is_torch",
    "to_numeric",
    "check_values",
    "interval",
    "check_broadcast",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- messages


def subject(name: str, func: str) -> str:
    """How a message names what it refuses.

    Example:
        >>> subject("beta2", "e_beta")
        "The 'beta2' parameter of e_beta"
        >>> subject("--trials", "effobj search")
        "The '--trials' option of effobj search"
    """
    kind = "option" if name.startswith("-") else "parameter"
    return f"The {name!r} {kind} of {func}"


def refusal(
    name: str, func: str, rule: str, got: str, *, error: type[InputError] = InputError, hint: str = ""
) -> InputError:
    """The error refusing a value: ``<subject> must <rule>. Got <got> instead. <hint>``.

    Args:
        name, func: the parameter (or ``--option``) and the function (or command).
        rule: what the value must satisfy, after "must": ``"be an int in the range [1, inf)"``.
        got: the offending value as it should be printed (``repr(value)``, a type name,
            ``"1.5 at index 3"``).
        error: :class:`~effobj.errors.InputError`, or
            :class:`~effobj.errors.InputTypeError` for a value of the wrong type.
        hint: a sentence appended to the message (how to fix it).

    Returns:
        The exception, for the caller to ``raise`` (so type checkers see the raise).

    Example:
        >>> str(refusal("senses", "pareto_front", "have one entry per column (2)", "3 entries"))
        "The 'senses' parameter of pareto_front must have one entry per column (2). Got 3 entries instead."
    """
    return error(f"{subject(name, func)} must {rule}. Got {got} instead." + (f" {hint}" if hint else ""))


def _typed(value: Any) -> str:
    """A value with its type, for a refusal of the wrong type: ``'x' of type str``."""
    return f"{value!r} of type {type(value).__name__}"


def _big(value: Any) -> str:
    """An int too large to print whole (``repr`` of a 5000-digit int raises): its size."""
    if isinstance(value, numbers.Integral):
        return f"an int of about {int(int(value).bit_length() * math.log10(2)) + 1} digits"
    return repr(value)


def _number(x: float) -> str:
    return str(x) if isinstance(x, numbers.Integral) else f"{x:g}"


def interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """Render an interval the way the messages print it, e.g. ``(0, inf)`` or ``[0, 1]``."""
    lo = "-inf" if low is None else _number(low)
    hi = "inf" if high is None else _number(high)
    left = "(" if (low is None or low_open) else "["
    right = ")" if (high is None or high_open) else "]"
    return f"{left}{lo}, {hi}{right}"


# --------------------------------------------------------------------------- scalars


def is_torch(x: Any) -> bool:
    """True if ``x`` is a torch tensor (checked by type, so torch is never imported)."""
    return type(x).__module__.split(".", 1)[0] == "torch" and hasattr(x, "dtype")


@overload
def check_int(
    value: Any, name: str, func: str, *, low: int | None = ..., high: int | None = ...,
    allow_none: Literal[False] = ...,
) -> int: ...
@overload
def check_int(
    value: Any, name: str, func: str, *, low: int | None = ..., high: int | None = ...,
    allow_none: bool,
) -> int | None: ...
def check_int(
    value: Any,
    name: str,
    func: str,
    *,
    low: int | None = None,
    high: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """Check that ``value`` is one integer in ``[low, high]`` (a bound of None: unbounded).

    numpy integers are accepted; bools and floats (even ``2.0``) are refused.

    Returns:
        The value as a Python ``int`` (``None`` if it is None and ``allow_none``).

    Raises:
        InputTypeError: not an integer.
        InputError: outside the interval.

    Example:
        >>> check_int(3, "n", "f", low=1)
        3
        >>> check_int(0, "n", "f", low=1)
        Traceback (most recent call last):
        ...
        effobj.errors.InputError: The 'n' parameter of f must be an int in the range [1, inf). Got 0 instead.
    """
    if value is None and allow_none:
        return None
    rule = f"be an int in the range {interval(low, high, False, False)}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise refusal(name, func, rule, _typed(value), error=InputTypeError)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise refusal(name, func, rule, repr(value))
    return v


@overload
def check_real(
    value: Any, name: str, func: str, *, low: float | None = ..., high: float | None = ...,
    low_open: bool = ..., high_open: bool = ..., allow_none: Literal[False] = ...,
) -> float: ...
@overload
def check_real(
    value: Any, name: str, func: str, *, low: float | None = ..., high: float | None = ...,
    low_open: bool = ..., high_open: bool = ..., allow_none: bool,
) -> float | None: ...
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

    A 0-d numpy array or torch tensor counts as its number; ints are accepted, bools and
    strings refused, and NaN and infinities are never a usable value.

    Raises:
        InputTypeError: if ``value`` is not a real number.
        InputError: if it is NaN, infinite or outside the interval.
    """
    if value is None and allow_none:
        return None
    if is_torch(value) or isinstance(value, np.ndarray):
        if getattr(value, "ndim", 1) == 0:
            value = value.item()
    rule = f"be a float in the range {interval(low, high, low_open, high_open)}" + (
        " or None" if allow_none else ""
    )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise refusal(name, func, rule, _typed(value), error=InputTypeError)
    try:
        v = float(value)
    except OverflowError:  # an int beyond the largest float (10**400): no float holds it
        raise refusal(name, func, rule, f"{_big(value)}, beyond the largest float") from None
    bad = (
        not math.isfinite(v)
        or (low is not None and (v < low or (low_open and v == low)))
        or (high is not None and (v > high or (high_open and v == high)))
    )
    if bad:
        raise refusal(name, func, rule, repr(value))
    return v


def check_bool(value: Any, name: str, func: str) -> bool:
    """Check that ``value`` is a bool (``0``, ``1``, ``"yes"`` and numpy bools are refused).

    Raises:
        InputTypeError: not a bool.
    """
    if not isinstance(value, bool):
        raise refusal(name, func, "be a bool", _typed(value), error=InputTypeError)
    return value


def check_str(value: Any, name: str, func: str, *, nonempty: bool = False) -> str:
    """Check that ``value`` is a str; with ``nonempty``, one with a character other than
    whitespace.

    Raises:
        InputTypeError: not a str.
        InputError: empty or blank when ``nonempty``.
    """
    rule = "be a non-empty str" if nonempty else "be a str"
    if not isinstance(value, str):
        raise refusal(name, func, rule, _typed(value), error=InputTypeError)
    if nonempty and not value.strip():
        raise refusal(name, func, rule, repr(value))
    return value


def same_value(a: Any, b: Any) -> bool:
    """``a == b``, where a bool equals only a bool (``True`` is not ``1`` here) and values
    that cannot be compared (an array and a str) are not equal."""
    try:
        return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)
    except (TypeError, ValueError):
        return False


def check_choice(value: Any, name: str, func: str, choices: Sequence[T]) -> T:
    """Check that ``value`` is one of ``choices`` (strings, numbers; ``True`` is not ``1``).

    Raises:
        InputError: not one of them (whatever its type).

    Example:
        >>> check_choice("gru", "policy", "Controller", ("lstm", "factorized"))
        Traceback (most recent call last):
        ...
        effobj.errors.InputError: The 'policy' parameter of Controller must be one of ['lstm', 'factorized']. Got 'gru' instead.
    """
    if not any(same_value(value, c) for c in choices):
        raise refusal(name, func, f"be one of {list(choices)}", repr(value))
    return value


def _article(text: str) -> str:
    return f"an {text}" if text[:1].lower() in "aeiou" else f"a {text}"


@overload
def check_instance(
    value: Any, name: str, func: str, cls: type[T] | tuple[type[T], ...], what: str | None = ...,
    *, allow_none: Literal[False] = ...,
) -> T: ...
@overload
def check_instance(
    value: Any, name: str, func: str, cls: type[T] | tuple[type[T], ...], what: str | None = ...,
    *, allow_none: bool,
) -> T | None: ...
def check_instance(
    value: Any,
    name: str,
    func: str,
    cls: type[T] | tuple[type[T], ...],
    what: str | None = None,
    *,
    allow_none: bool = False,
) -> T | None:
    """Check that ``value`` is an instance of ``cls`` (a class or a tuple of classes).

    Args:
        what: how the message names the class, article included (``"an
            effobj.EfficiencySpec"``, ``"a torch.nn.Module"``); default: the class names.
        allow_none: accept ``None`` too.

    Raises:
        InputTypeError: ``... must be <what>. Got <type name> instead.``
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, cls):
        classes = cls if isinstance(cls, tuple) else (cls,)
        rule = what or " or ".join(_article(c.__name__) for c in classes)
        rule += " or None" if allow_none else ""
        raise refusal(name, func, f"be {rule}", type(value).__name__, error=InputTypeError)
    return value


@overload
def check_callable(
    value: Any, name: str, func: str, *, allow_none: Literal[False] = ...
) -> Callable[..., Any]: ...
@overload
def check_callable(
    value: Any, name: str, func: str, *, allow_none: bool
) -> Callable[..., Any] | None: ...
def check_callable(
    value: Any, name: str, func: str, *, allow_none: bool = False
) -> Callable[..., Any] | None:
    """Check that ``value`` is callable (or None when ``allow_none``).

    Raises:
        InputTypeError: ``... must be callable. Got int instead.``
    """
    if value is None and allow_none:
        return None
    if not callable(value):
        rule = "be callable or None" if allow_none else "be callable"
        raise refusal(name, func, rule, type(value).__name__, error=InputTypeError)
    return value


def check_output_path(
    value: str,
    name: str,
    func: str,
    suffixes: tuple[str, ...],
    *,
    create_folder: bool = True,
) -> str:
    """Check the name of a file about to be written, before the work that produces it
    starts (a search or a measurement of minutes must not end in a bad path).

    Args:
        value: the path given.
        suffixes: the endings the file may have (compared case-insensitively).
        create_folder: the caller creates a missing folder (then its first existing
            parent must be writable); otherwise the folder must exist.

    Returns:
        The path, unchanged.

    Raises:
        InputError: a wrong ending, a folder, a folder that cannot be written, or a
            read-only file.
    """
    if not value.lower().endswith(suffixes):
        raise refusal(name, func, f"end in {' or '.join(suffixes)}", repr(value))
    if os.path.isdir(value):
        raise refusal(name, func, "be a file, not a folder", repr(value))
    folder = os.path.dirname(os.path.abspath(value))
    probe = folder
    if create_folder:
        while not os.path.exists(probe):  # created by the caller: its first existing parent
            probe = os.path.dirname(probe)
    elif not os.path.isdir(folder):
        raise refusal(name, func, "be in an existing folder", f"{value!r} ({folder!r} does not exist)")
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise refusal(name, func, "be a path in a writable folder",
                      f"{value!r} ({probe!r} is not a writable folder)")
    if os.path.exists(value) and not os.access(value, os.W_OK):
        raise refusal(name, func, "not name a read-only file", repr(value))
    return value


# --------------------------------------------------------------------------- arrays

_NUMERIC = "be a real number, array or tensor"


def to_numeric(value: Any, name: str, func: str) -> tuple[Any, bool]:
    """Turn a number, sequence, numpy array or torch tensor into an array-like.

    Returns:
        ``(array, is_scalar)``: a numpy array (floating dtype; integers become float64)
        or the torch tensor itself, and whether the input was a plain Python number.

    Raises:
        InputTypeError: bools, strings, complex or object values.
    """
    if is_torch(value):
        if value.dtype.is_complex or str(value.dtype) == "torch.bool":  # as numpy's are refused
            got = f"a tensor of dtype {str(value.dtype).replace('torch.', '')}"
            raise refusal(name, func, _NUMERIC, got, error=InputTypeError)
        if not value.dtype.is_floating_point:
            value = value.double()
        return value, False
    if isinstance(value, bool) or isinstance(value, str | bytes):
        raise refusal(name, func, _NUMERIC, _typed(value), error=InputTypeError)
    is_scalar = isinstance(value, numbers.Real)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(value, dtype=object)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise refusal(name, func, _NUMERIC, f"{value!r} (dtype {arr.dtype})", error=InputTypeError)
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
    low_open: bool = False,
    hint: str = "",
) -> None:
    """Check that every element of an array or tensor is finite and within ``[low, high]``
    (``(low, high]`` with ``low_open``).

    The message gives the first offending index and value. Costs one min and one max
    reduction (NaN propagates through both, so they also catch NaN).

    Raises:
        InputError: ``... must be finite and in [0, 1]. Got 1.2 at index 3 instead.``
    """
    if is_torch(x):
        if x.numel() == 0:
            return
        x = x.detach()
    else:
        x = np.asarray(x)
        if x.size == 0:
            return
    lo = float(x.min())
    hi = float(x.max())
    ok = math.isfinite(lo) and math.isfinite(hi)
    ok = ok and (low is None or lo > low or (lo == low and not low_open)) and (high is None or hi <= high)
    if ok:
        return
    xn = x.cpu().numpy() if is_torch(x) else x
    bad = ~np.isfinite(xn)
    if low is not None:
        bad |= (xn <= low) if low_open else (xn < low)
    if high is not None:
        bad |= xn > high
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if xn.ndim else ()
    where = f" at index {idx[0] if len(idx) == 1 else idx}" if idx else ""
    rule = "be finite"
    if low is not None or high is not None:
        rule += f" and in {interval(low, high, low_open, False)}"
    raise refusal(name, func, rule, f"{xn[idx].item()!r}{where}", hint=hint)


def check_broadcast(x: Any, y: Any, names: tuple[str, str], func: str) -> None:
    """Check that two arrays or tensors broadcast to one shape (torch shapes are plain tuples).

    Raises:
        InputError: ``The 'a' and 'c' parameters of f must broadcast to one shape. ...``
    """
    sx, sy = tuple(x.shape), tuple(y.shape)
    try:
        np.broadcast_shapes(sx, sy)
    except ValueError:
        raise InputError(
            f"The {names[0]!r} and {names[1]!r} parameters of {func} must broadcast to one "
            f"shape. Got shapes {sx} and {sy} instead."
        ) from None
