"""Exceptions raised by effobj.

Every error says which parameter (or file, line, column, model, step) is wrong, the
rule it breaks, and the value it got, in the manner of scikit-learn's messages.
"""

from __future__ import annotations


class EffobjError(Exception):
    """Base class of effobj's own errors (the command line prints them without a traceback)."""


class InputError(EffobjError, ValueError):
    """A value given to effobj breaks a documented rule."""


class FileFormatError(EffobjError, ValueError):
    """A data file (CSV, JSON) that effobj reads is malformed; the message names line and column."""


class ProfilingError(EffobjError, RuntimeError):
    """Profiling a model failed; the message names the model and the step that failed."""
