"""Text that came from a storage or an argument, made safe to print on a terminal.

A study written by someone else (a shared PostgreSQL, a copied ``.db``) may carry cost
names, parameters or a study name with terminal escape sequences; printed raw, they
could rewrite the screen or the window title. :func:`printable` drops every control
character but the newline and the tab.
"""

from __future__ import annotations

import re

__all__ = ["printable", "quiet_interrupts"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``str(text)`` without control characters (newline and tab kept).

    Example:
        >>> printable("lat\\x1b]0;pwned\\x07ency")
        'lat]0;pwnedency'
    """
    return _CONTROL.sub("", str(text))


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
