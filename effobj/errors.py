"""Exceptions raised by effobj.

Every error says which parameter (or file, line, column, model, step) is wrong, the
rule it breaks, and the value it got, in the manner of scikit-learn's messages.

Every refusal effobj makes raises an :class:`EffobjError`. Its ``exit_code`` is what the
command line exits with after printing the message (no traceback): 2 for a usage error
(a bad argument, option or input file: :class:`InputError`, :class:`FileFormatError`),
1 for a failure at run time (:class:`ProfilingError`, :class:`StorageError`). An
interrupt exits 130 (143 after SIGTERM).
"""

from __future__ import annotations


class EffobjError(Exception):
    """Base class of effobj's own errors (the command line prints them without a traceback)."""

    #: the command line's exit code for this error: 1, a failure at run time
    exit_code: int = 1


class InputError(EffobjError, ValueError):
    """A value given to effobj breaks a documented rule."""

    #: a usage error
    exit_code = 2


class FileFormatError(EffobjError, ValueError):
    """A data file (CSV, JSON) that effobj reads is malformed; the message names line and column."""

    #: a usage error (the input file is the user's)
    exit_code = 2


class ProfilingError(EffobjError, RuntimeError):
    """Profiling a model failed; the message names the model and the step that failed."""


class StorageError(EffobjError, RuntimeError):
    """A study storage cannot be opened, read or written (unreachable server, corrupt or
    read-only file); the message names the storage, its password masked."""


class InputTypeError(InputError, TypeError):
    """A value of the wrong type (a string where a number belongs, a bool, a complex
    tensor): a ``TypeError`` as Python's convention asks, and an :class:`InputError`."""


class MissingExtraError(EffobjError, ImportError):
    """A feature needs packages of an optional extra that are not installed; the message
    names the feature, the missing modules and the ``pip install 'effobj[EXTRA]'`` to run."""


def require_extra(extra: str, modules: tuple[str, ...], feature: str) -> None:
    """Refuse ``feature`` unless every module of ``modules`` can be imported.

    Raises:
        MissingExtraError: naming the extra to install.

    Example:
        >>> require_extra("remote", ("json",), "effobj profile-server")
        >>> require_extra("demo", ("no_such_module_x",), "effobj profile-server")
        Traceback (most recent call last):
        ...
        effobj.errors.MissingExtraError: effobj profile-server needs effobj's 'demo' extra, which is not installed (no module ['no_such_module_x']): pip install 'effobj[demo]'
    """
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{feature} needs effobj's {extra!r} extra, which is not "
                                f"installed (no module {missing}): pip install 'effobj[{extra}]'")
