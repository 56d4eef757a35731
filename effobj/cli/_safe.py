"""Text that came from a storage or an argument, made safe to print on a terminal.

A study written by someone else (a shared PostgreSQL, a copied ``.db``) may carry cost
names, parameters or a study name with terminal escape sequences; printed raw, they
could rewrite the screen or the window title. :func:`printable` drops every control
character but the newline and the tab.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``str(text)`` without control characters (newline and tab kept).

    Example:
        >>> printable("lat\\x1b]0;pwned\\x07ency")
        'lat]0;pwnedency'
    """
    return _CONTROL.sub("", str(text))
