"""Text that came from a storage or an argument, made safe to print on a terminal.

A study written by someone else (a shared PostgreSQL, a copied ``.db``) may carry cost
names, parameters or a study name with terminal escape sequences; printed raw, they
could rewrite the screen or the window title. :func:`printable` drops every control
character but the newline and the tab.
"""

from __future__ import annotations

import re

from effobj._validation import check_output_path

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
    """Check an output file's name before the command's work starts: the ``option`` of
    ``effobj <command>`` through :func:`effobj._validation.check_output_path`.

    Raises:
        InputError: a wrong ending, a folder, or a folder that cannot be written.
    """
    check_output_path(out, option, f"effobj {command}", suffixes, create_folder=create_folder)


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
