"""SIGTERM handled like Ctrl-C while a command runs.

Batch schedulers (Slurm, PBS), ``timeout``, ``docker stop`` and ``kill`` stop a process
with SIGTERM. Python's default is to die on the spot, which leaves the running trial of a
search RUNNING until its heartbeat goes stale. :func:`terminate_as_interrupt` turns the
signal into ``KeyboardInterrupt("SIGTERM")`` instead, so the code that records a Ctrl-C
(the trial ends FAIL with status "interrupted", the study stays consistent) runs as well,
and the command can exit with the conventional code ``128 + signal`` (143).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Received", "terminate_as_interrupt"]


class Received:
    """The signal a :func:`terminate_as_interrupt` block received (``None``: none)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def name(self) -> str | None:
        """The signal's name, e.g. ``"SIGTERM"``."""
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int | None:
        """The shell's code for a process stopped by the signal: ``128 + signum``."""
        return None if self.signum is None else 128 + self.signum


@contextmanager
def terminate_as_interrupt(
    signums: tuple[int, ...] = (signal.SIGTERM,),
) -> Iterator[Received]:
    """Raise ``KeyboardInterrupt("SIGTERM")`` in the main thread when SIGTERM arrives.

    The previous handlers are restored on exit. Outside the main thread (where Python
    cannot install signal handlers) nothing is installed and the block runs as is.

    Args:
        signums: the signals to treat so (default: SIGTERM only).

    Yields:
        A :class:`Received` whose ``signum`` is set once a signal arrived.

    Example:
        >>> import os
        >>> with terminate_as_interrupt() as got:
        ...     try:
        ...         os.kill(os.getpid(), signal.SIGTERM)
        ...     except KeyboardInterrupt as exc:
        ...         print(exc)
        SIGTERM
        >>> got.exit_code
        143
    """
    received = Received()

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.signum = signum
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            try:
                previous[signum] = signal.signal(signum, handler)
            except (OSError, ValueError):  # a signal this platform cannot catch
                continue
    try:
        yield received
    finally:
        for signum, old in previous.items():
            # None: a handler not installed from Python; the default is the closest
            signal.signal(signum, signal.SIG_DFL if old is None else old)  # type: ignore[arg-type]
