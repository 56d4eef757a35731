"""Text that came from a storage or an argument, made safe to print on a terminal.

A study written by someone else (a shared PostgreSQL, a copied ``.db``) may carry cost
names, parameters or a study name with terminal escape sequences; printed raw, they
could rewrite the screen or the window title, and a bidi override (U+202E) reverses
what follows it. :func:`printable` drops every control character but the newline and the
tab, and escapes the format characters (bidi, zero-width) as ``\\uXXXX``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["printable", "quiet_interrupts"]

#: every character outside printable ASCII (and newline, tab): the candidates to look at
_SUSPECT = re.compile(r"[^\x20-\x7e\n\t]")


def _inert(m: re.Match[str]) -> str:
    ch = m.group()
    cat = unicodedata.category(ch)
    if cat == "Cc":  # C0/C1 controls, escape sequences' ESC: dropped
        return ""
    if cat[0] == "C" or cat in ("Zl", "Zp"):  # bidi overrides, zero-width, line separators...
        return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
    return ch  # any other letter, digit or symbol is shown as it is


def printable(text: object) -> str:
    """``str(text)`` safe for a terminal: control characters dropped (newline and tab
    kept), format characters escaped.

    A bidi override (U+202E right-to-left, U+2066 isolates...), a zero-width or a line
    separator character would reorder or hide what follows it on the screen: it is
    shown as its ``\\uXXXX`` escape instead. Other non-ASCII text (accents, CJK) is
    kept.

    Example:
        >>> printable("lat\\x1b]0;pwned\\x07ency")
        'lat]0;pwnedency'
        >>> print(printable("cost\\u202egnp.exe"))
        cost\\u202egnp.exe
    """
    return _SUSPECT.sub(_inert, str(text))


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
    from effobj.optuna._compat import optimize_logger

    logger = optimize_logger()
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
