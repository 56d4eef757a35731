"""Text that came from a storage or an argument, made safe to print on a terminal.

A study written by someone else (a shared PostgreSQL, a copied ``.db``) may carry cost
names, parameters or a study name with terminal escape sequences; printed raw, they
could rewrite the screen or the window title. :func:`printable` drops every control
character but the newline and the tab.
"""

from __future__ import annotations

import os
import re

from effobj.errors import InputError

__all__ = ["check_out", "printable", "quiet_interrupts"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``str(text)`` without control characters (newline and tab kept).

    Example:
        >>> printable("lat\\x1b]0;pwned\\x07ency")
        'lat]0;pwnedency'
    """
    return _CONTROL.sub("", str(text))


def check_out(
    out: str,
    command: str,
    option: str,
    suffixes: tuple[str, ...] = (".html", ".htm"),
    *,
    create_folder: bool = True,
) -> None:
    """Check an output file's name before the work that produces it starts (a search or a
    measurement of minutes must not end in a bad path).

    Args:
        out: the path given.
        command, option: named in the message (``"report"``, ``"--out"``).
        suffixes: the endings the file must have.
        create_folder: the command creates a missing folder (then its first existing
            parent must be writable); otherwise the folder must exist.

    Raises:
        InputError: a wrong ending, a folder, or a folder that cannot be written.
    """
    where = f"The {option!r} option of effobj {command}"
    if not out.lower().endswith(suffixes):
        raise InputError(f"{where} must end in {' or '.join(suffixes)}. Got {out!r} instead.")
    if os.path.isdir(out):
        raise InputError(f"{where} must be a file, not a folder. Got {out!r} instead.")
    folder = os.path.dirname(os.path.abspath(out))
    probe = folder
    if create_folder:
        while not os.path.exists(probe):  # created by the command: its first existing parent
            probe = os.path.dirname(probe)
    elif not os.path.isdir(folder):
        raise InputError(f"{where} must be in an existing folder. Got {out!r} ({folder!r} does not exist).")
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(
            f"{where} must be a path in a writable folder. Got {out!r} ({probe!r} is not a "
            "writable folder)."
        )
    if os.path.exists(out) and not os.access(out, os.W_OK):
        raise InputError(f"{where} names a read-only file. Got {out!r}.")


class _InterruptFilter:
    """Drops Optuna's report of a trial stopped by Ctrl-C or SIGTERM (a ~40-line
    traceback of the KeyboardInterrupt, and its "failed with value None" line): the
    command prints one line instead, naming the trial and how to resume."""

    def __init__(self) -> None:
        self.trials: set[str] = set()

    def filter(self, record: object) -> bool:
        exc = getattr(record, "exc_info", None)
        msg = str(getattr(record, "msg", ""))
        if exc and isinstance(exc, tuple) and exc[0] is not None and issubclass(exc[0], KeyboardInterrupt):
            self.trials.add(msg.split(" failed", 1)[0])
            return False
        if " failed with value " in msg and msg.split(" failed", 1)[0] in self.trials:
            return False
        return True


_FILTER = _InterruptFilter()


def quiet_interrupts() -> None:
    """Install the filter on Optuna's optimize logger (once per process)."""
    import logging

    logger = logging.getLogger("optuna.study._optimize")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
