"""``--threads N``: the intra-op thread count latency is measured at, one definition for
every command that times models (``search``, ``space-range``, ``demo``,
``latency-table``).

The default is 1, edge-style latency, and the one thread count at which the compensated
method (:mod:`effobj.profiler._scale`) keeps its guarantee on a shared machine: the
candidate and the reference workload run on one core in turn, so time-slicing and clock
changes slow both alike and cancel in their ratio. At ``N > 1`` the guarantee holds only
while the machine has ``N`` cores to spare: when other processes hold some of them,
threads wait on one another at each operator's barrier, which slows large parallel
operators more than the reference, so the ratio moves with the load.
:func:`contention_note` says so in a command's output when the load average says the
cores are taken.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["add_threads_argument", "check_threads", "contention_note", "store_threads",
           "threads_text"]


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (default 1) to a command that measures latency."""
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="intra-op threads latency is measured at: the thread count you deploy "
                   "with (default 1, edge-style latency; at 1 the compensated latency cancels "
                   "the load of a shared machine, at more threads only while the machine has "
                   "that many idle cores)")


def check_threads(value: int | None, func: str) -> int:
    """The ``--threads`` value (default 1), checked in ``func``'s name."""
    from effobj._validation import check_int
    from effobj.profiler._options import max_threads

    return int(check_int(1 if value is None else value, "--threads", func, low=1,
                         high=max_threads()))


def threads_text(threads: int | None) -> str:
    """``"1 thread"``, ``"4 threads"`` (``None``: torch's default)."""
    if threads is None:
        return "torch's default thread count"
    return f"{threads} thread{'s' if threads != 1 else ''}"


def contention_note(threads: int, *, load: float | None = None,
                    cores: int | None = None) -> str | None:
    """A warning when latency at ``threads > 1`` is measured on a machine whose cores are
    taken (1-minute load average plus ``threads`` above the cores); ``None`` otherwise.

    ``load`` and ``cores`` default to this machine's (:func:`os.getloadavg`,
    :func:`os.cpu_count`).
    """
    if threads <= 1:
        return None
    cores = cores if cores is not None else (os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform: assume the worst
            load = float(cores)
    if threads <= cores and load + threads <= cores + 0.5:
        return None
    return (f"note: latency at {threads} threads on a machine with load {load:.1f} on "
            f"{cores} cores: the compensated latency's guarantee holds at 1 thread, or at "
            f"{threads} while {threads} cores are idle; here threads wait on each other "
            "behind other processes, so latencies and budget decisions are less certain "
            "than their intervals say (measure at --threads 1, or on an idle machine)")


def store_threads(study: Any, threads: int, func: str) -> None:
    """Store the thread count with a new study; refuse another count for a stored one
    (its latencies, budget decisions and latency scale are at the stored count).

    Raises:
        InputError: the study's latencies were measured at another thread count.
    """
    from effobj._validation import refusal
    from effobj.record import STUDY_THREADS

    stored = study.user_attrs.get(STUDY_THREADS)
    if stored is None:
        study.set_user_attr(STUDY_THREADS, int(threads))
    elif stored != threads:
        raise refusal("--threads", func, f"equal the thread count the study {study.study_name!r} "
                      f"measured its latencies at ({stored})", str(threads),
                      hint="Give --threads "
                      f"{stored} to resume it, or a new --study-name for {threads} threads.")
