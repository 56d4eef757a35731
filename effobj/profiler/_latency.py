r"""Latency with its noise: :mod:`torch.utils.benchmark` timing, adaptive until precise enough.

The forward pass is timed in blocks with :mod:`torch.utils.benchmark`'s public clock,
:func:`torch.utils.benchmark.timer` (which synchronizes the accelerator before reading
the time), driven by :class:`timeit.Timer` exactly as :class:`torch.utils.benchmark.Timer`
drives it, and summarized by a :class:`torch.utils.benchmark.Measurement`. Not
``Timer.timeit`` (it runs ``max(number // 100, 2)`` uncounted warm-up passes before every
block: three times the cost of a one-pass block) nor ``blocked_autorange`` (its own block
size, a power of ten reaching 10,000 times the timer's overhead, and no stopping rule of
ours); the blocks run at the thread count the model is deployed with,
after a warm-up, in blocks of ``number`` passes long enough (about 1 ms) that timer
overhead is negligible. Blocks are added until the distribution-free 95 % confidence
interval of the median is narrow enough,

.. math::

    \frac{x_{(n-k+1)} - x_{(k)}}{2\,\tilde{x}} \le \mathrm{target},
    \qquad k = \max\{k : P(\mathrm{Bin}(n, 1/2) \le k - 1) \le 0.025\},

(order statistics :math:`x_{(i)}` of the :math:`n` per-pass block times, median
:math:`\tilde{x}`), or until the time cap is reached; the result says which. The interval
needs :math:`n \ge 6` blocks, and the rule stops no earlier than 10 blocks, so that a
short burst of background load cannot end the measurement at a lucky moment. Unlike the inter-quartile range of the raw samples, which
reflects the machine's noise and does not shrink, this interval narrows as
:math:`1/\sqrt{n}`, so "converged" means the *median* is known to the target precision.

**Drift.** That interval assumes the blocks are exchangeable. On a shared machine they are
not: a neighbour's job or a clock change moves every block after it, and an interval from
order statistics alone then claims a precision two profiles minutes apart do not share.
So the blocks are also cut, in time order, into :math:`S = 4` consecutive segments, and
the reported interval is the union of the order-statistics interval and
:math:`\tilde{x} \pm \tfrac12(\max_s \tilde{x}_s - \min_s \tilde{x}_s)` (segment
medians :math:`\tilde{x}_s`). For exchangeable blocks the segment term is about as wide
as the 95 % interval (the range of 4 medians of :math:`n/4` samples is about
:math:`4.1\,\sigma_{\tilde{x}}`), so it costs nothing on a quiet machine; when the
machine's speed moves during the measurement it widens the interval by the move, and the
stopping rule keeps measuring (up to the cap) instead of reporting a precision it lacks.

**A disturbed reference.** Compensation assumes the candidate and the reference slow
alike. On a loaded machine they may not: with intra-op threads, the reference's parallel
convolutions wait at a barrier for a core another process holds while a tiny candidate's
operators never go parallel (one profile read the reference at 108 ms against 0.30 ms
calibrated, and reported a 0.023 ms MLP at 7.7e-5 ms); the reference's threads, busy
between its blocks, can slow the candidate's blocks beside them (here a 0.055 ms MLP
timed 2-3 ms per pass between reference blocks at 2 threads under load); and a
calibration taken on a loaded machine is off for every later profile. So a compensated
measurement first times a few *plain probe* blocks of the candidate alone, before the
reference has run, and is then checked
(:func:`~effobj.profiler._report.reference_disturbed`): the reference ratio
:math:`\rho` (the reference's median now over its calibration) and the correction
:math:`\kappa` (the probe's median over the compensated median) must both lie within
:math:`[1/3, 3]`. The policy (:func:`compensated_or_plain`): a measurement that fails the
check is replaced by a plain measurement made at once, flagged ``reference_disturbed``,
with :math:`\rho` and the rejected compensated median kept. So a compensated latency is
never more than 3x from a plain timing of the candidate taken with it, and a plain one
that replaced it says so.
"""

from __future__ import annotations

import math
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch.utils.benchmark import Measurement, TaskSpec, timer

from effobj.profiler._energy import EnergyMeter
from effobj.profiler._report import budget_decision, reference_disturbed

__all__ = ["LatencyResult", "block_timer", "compensated_or_plain", "measure_latency",
           "median_ci95", "median_interval"]

_MIN_BLOCK_S = 1e-3  # a timed block lasts at least this long
_MIN_SAMPLES = 6  # the fewest blocks with a 95 % distribution-free interval for the median
_MIN_BLOCKS_TO_STOP = 10  # and the fewest before the rule may stop: short bursts of load average out
_SEGMENTS = 4  # consecutive segments whose medians show drift during the measurement
_PROBE_BLOCKS = 10  # plain probe blocks of a compensated measurement (at most)
_PROBE_BLOCKS_MIN = 3  # and at least
_PROBE_SHARE = 0.1  # of max_time_s the probe may take beyond its first 3 blocks


@dataclass(frozen=True)
class LatencyResult:
    """Outcome of :func:`measure_latency` (all times in seconds, per forward pass)."""

    median_s: float
    iqr_s: float
    ci95_s: tuple[float, float] | None
    rel_spread: float | None
    samples: int
    runs: int
    number_per_block: int
    converged: bool
    warmup_runs: int
    elapsed_s: float
    energy_j: float | None = None
    energy_source: str | None = None
    block_s: tuple[float, ...] = ()  # per-pass estimate of each timed block, in time order
    raw_median_s: float | None = None  # plain median of the candidate's own blocks
    reference_now_s: float | None = None  # the reference's median during this measurement
    decision: str | None = None  # "under" / "over" the budget, when one was given
    decision_certain: bool | None = None  # the interval cleared the budget
    probe_s: float | None = None  # median of the plain probe blocks timed before the reference
    reference_ratio: float | None = None  # reference_now_s over the calibrated scale_s
    compensated_s: float | None = None  # the compensated median, kept when not used
    reference_disturbed: bool | None = None  # the reference check failed (compensated only)


def median_ci95(times: Sequence[float]) -> tuple[float, float] | None:
    """Distribution-free 95 % confidence interval of the median from order statistics.

    Args:
        times: The samples (any order).

    Returns:
        ``(low, high)``, or ``None`` for fewer than 6 samples (no such interval exists).

    Example:
        >>> median_ci95([5.0, 1.0, 2.0, 4.0, 3.0, 6.0])
        (1.0, 6.0)
    """
    n = len(times)
    if n < _MIN_SAMPLES:
        return None
    xs = sorted(times)
    if n <= 200:
        # largest k (1-based) with P(Bin(n, 1/2) <= k - 1) <= 0.025, exactly
        total, cdf, k = 1 << n, 0, 0
        for i in range(n):
            cdf += math.comb(n, i)
            if cdf / total > 0.025:
                break
            k = i + 1
    else:  # normal approximation of the binomial, accurate to a rank at this size
        k = math.floor(n / 2 - 0.98 * math.sqrt(n))
    k = max(k, 1)
    return xs[k - 1], xs[n - k]


def median_interval(times: Sequence[float]) -> tuple[float, float] | None:
    r"""The interval the profiler reports: the 95 % interval of the median widened by drift.

    The union of :func:`median_ci95` and :math:`\tilde{x} \pm \frac12` (range of the
    medians of :data:`_SEGMENTS` consecutive segments of ``times``, kept in time order),
    within the range of ``times``; see the module docstring.

    Args:
        times: Per-pass times in the order they were measured.

    Returns:
        ``(low, high)`` around the median, or ``None`` for fewer than 6 samples.

    Example:
        >>> median_interval([1.0] * 8 + [2.0] * 8)   # the machine slowed down half-way
        (1.0, 2.0)
    """
    ci = median_ci95(times)
    if ci is None:
        return None
    n = len(times)
    if n < 2 * _SEGMENTS:
        return ci
    med = _median(times)
    cuts = [round(i * n / _SEGMENTS) for i in range(_SEGMENTS + 1)]
    seg = [_median(times[cuts[i] : cuts[i + 1]]) for i in range(_SEGMENTS)]
    half = 0.5 * (max(seg) - min(seg))
    # never beyond the blocks measured: a drift wider than the median would reach below 0
    return max(min(ci[0], med - half), min(times)), min(max(ci[1], med + half), max(times))


def block_timer(fn: Callable[[], object]) -> Callable[[int], float]:
    """``timed(number)``: seconds for ``number`` passes of ``fn()`` in one block, on
    :func:`torch.utils.benchmark.timer` (which synchronizes the accelerator), driven by
    :class:`timeit.Timer` as :class:`torch.utils.benchmark.Timer` drives it."""
    block = timeit.Timer(stmt="fn()", globals={"fn": fn}, timer=timer)

    def timed(number: int) -> float:
        return max(block.timeit(number), 1e-9)

    return timed


def measure_latency(
    fn: Callable[[], object],
    *,
    threads: int,
    target_rel_spread: float,
    max_time_s: float,
    energy: EnergyMeter | None = None,
    prior_runs: Sequence[float] = (),
    reference: Callable[[], object] | None = None,
    scale_s: float | None = None,
    budget_s: float | None = None,
    decision_cap_s: float | None = None,
) -> LatencyResult:
    r"""Time ``fn()`` (one forward pass) until the median is precise to ``target_rel_spread``.

    The caller sets eval mode, inference mode and the device; this function sets the thread
    count (restoring it afterwards), warms up, picks the block size and measures.

    **Compensated** (``reference`` and ``scale_s`` given): the candidate's blocks alternate
    with blocks of ``reference`` as long as them (``R C R C ... C R``; so the measurement
    takes about twice the time of a plain one), and each candidate block's estimate
    is :math:`q_i\,t_{ref}`, its per-pass time over the mean of the reference blocks
    around it, times ``scale_s`` (:mod:`effobj.profiler._scale`). The interval and the
    stopping rule apply to these estimates; the plain median of the candidate's blocks is
    kept as ``raw_median_s``. Before the reference first runs, 3 to 10 plain *probe*
    blocks of the candidate alone are timed (beyond the first 3, within a tenth of
    ``max_time_s``; their median is ``probe_s``), and the result carries the reference
    check: ``reference_ratio`` :math:`\rho = r / t_{ref}` (the reference's median over
    ``scale_s``) and ``reference_disturbed``, whether :math:`\rho` or
    :math:`\kappa = ` ``probe_s`` / median left :math:`[1/3, 3]`
    (:func:`~effobj.profiler._report.reference_disturbed`; what to do then is
    :func:`compensated_or_plain`'s policy).

    **Decision** (``budget_s`` given): when the rule above stops (precise enough, or
    ``max_time_s``) with the interval containing the budget, blocks are added until it
    does not, or until ``decision_cap_s`` (and at least the 6 blocks an interval needs,
    unless they take twice that cap: slow first passes count in the time); the result says
    on which side the median is and whether the interval cleared the budget.

    Args:
        fn: Runs one forward pass.
        threads: Intra-op threads to time at.
        target_rel_spread: Stop once the reported interval's half-width (:func:`median_interval`:
            the 95 % interval of the median, widened by drift) over the median is at most this.
        max_time_s: Stop after about this many seconds, warm-up included, converged or not
            (at least one block is always timed).
        energy: Read before and after the timed blocks, when the device reports energy.
        prior_runs: Seconds of forward passes the caller already ran (they count as warm-up).
        reference: The reference workload (one pass), for the compensated estimate.
        scale_s: The reference's calibrated per-pass time, seconds (with ``reference``).
        budget_s: A latency budget to decide against, seconds per pass.
        decision_cap_s: Time cap while the decision is open (default ``3 * max_time_s``).

    Returns:
        A :class:`LatencyResult`.
    """
    if (reference is None) != (scale_s is None):
        raise ValueError("measure_latency: give both 'reference' and 'scale_s', or neither")
    timed = block_timer(fn)
    cap_decision = 3.0 * max_time_s if decision_cap_s is None else max(decision_cap_s, max_time_s)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter() - sum(prior_runs)
        # Warm-up: first passes build kernels / caches; stop after 2 passes and 10 % of the budget.
        warm: list[float] = list(prior_runs)
        while len(warm) < 2 or (time.perf_counter() - t0 < 0.1 * max_time_s and len(warm) < 20):
            warm.append(timed(1))
        per_pass = min(warm[1:])
        number = max(1, math.ceil(_MIN_BLOCK_S / per_pass))
        ref_timed = None if reference is None else block_timer(reference)
        ref_number = 1
        ref_per: list[float] = []
        probe: list[float] = []
        if ref_timed is not None:
            # the plain probe: candidate blocks alone, before the reference first runs
            t_probe = time.perf_counter()
            while len(probe) < _PROBE_BLOCKS_MIN or (
                    len(probe) < _PROBE_BLOCKS
                    and time.perf_counter() - t_probe < _PROBE_SHARE * max_time_s):
                probe.append(timed(number) / number)
            # reference blocks as long as the candidate's: under time-slicing a short block
            # often runs between two preemptions while a long one always takes its share
            ref_warm = [ref_timed(1) for _ in range(3)]
            span = max(_MIN_BLOCK_S, number * per_pass)
            ref_number = max(1, math.ceil(span / min(ref_warm[1:])))
            ref_per.append(ref_timed(ref_number) / ref_number)

        e0 = energy.read() if energy is not None else None
        block_times: list[float] = []
        est: list[float] = []
        converged = False
        ci: tuple[float, float] | None = None
        rel: float | None = None
        med = 0.0
        while True:
            block_times.append(timed(number))
            if ref_timed is None or scale_s is None:
                est.append(block_times[-1] / number)
            else:
                ref_per.append(ref_timed(ref_number) / ref_number)
                around = 0.5 * (ref_per[-2] + ref_per[-1])
                est.append(block_times[-1] / number / around * scale_s)
            ci = median_interval(est)
            med = _median(est)
            if ci is not None:
                rel = (ci[1] - ci[0]) / (2.0 * med)
                if rel <= target_rel_spread and len(est) >= _MIN_BLOCKS_TO_STOP:
                    converged = True
            elapsed = time.perf_counter() - t0
            if converged or elapsed >= max_time_s:
                if budget_s is None or budget_decision(med, ci, budget_s)[1]:
                    break
                # an open decision gets an interval (6 blocks) unless that takes twice the cap
                if elapsed >= cap_decision and (len(est) >= _MIN_SAMPLES
                                                or elapsed >= 2.0 * cap_decision):
                    break
        e1 = energy.read() if energy is not None else None
        elapsed = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old_threads)

    median_s, iqr_s = _median_iqr(est, number, threads)
    runs = number * len(block_times)
    energy_j = None
    if energy is not None and e0 is not None and e1 is not None:
        energy_j = energy.delta(e0, e1) / runs
    decision: str | None = None
    certain: bool | None = None
    if budget_s is not None:
        decision, certain = budget_decision(med, ci, budget_s)
    ratio = None if not ref_per or scale_s is None else _median(ref_per) / scale_s
    probe_s = _median(probe) if probe else None
    return LatencyResult(
        median_s=median_s,
        iqr_s=iqr_s,
        ci95_s=ci,
        rel_spread=rel,
        samples=len(block_times),
        runs=runs,
        number_per_block=number,
        converged=converged,
        warmup_runs=len(warm),
        elapsed_s=elapsed,
        energy_j=energy_j,
        energy_source=None if energy_j is None or energy is None else energy.source,
        block_s=tuple(est),
        raw_median_s=_median([b / number for b in block_times]),
        reference_now_s=_median(ref_per) if ref_per else None,
        decision=decision,
        decision_certain=certain,
        probe_s=probe_s,
        reference_ratio=ratio,
        compensated_s=None if ratio is None else median_s,
        reference_disturbed=None if ratio is None or probe_s is None else reference_disturbed(
            ratio, probe_s / median_s),
    )


def compensated_or_plain(compensated: Callable[[], LatencyResult],
                         plain: Callable[[], LatencyResult]) -> LatencyResult:
    """The policy for a compensated measurement whose reference is disturbed.

    ``compensated()`` makes one compensated measurement (:func:`measure_latency` with a
    reference), ``plain()`` one plain measurement of the same candidate. When the
    compensated one passes the reference check (``reference_disturbed`` ``False``, or
    ``None``: no check was made), it is the result. Otherwise the reference ratio or the
    correction left :math:`[1/3, 3]`
    (:func:`~effobj.profiler._report.reference_disturbed`) and its value would be off by
    as much: a plain measurement is made at once and is the result, with the rejected
    measurement's ``reference_now_s``, ``reference_ratio``, ``probe_s`` and
    ``compensated_s`` kept and ``reference_disturbed`` set. A second compensated try is
    not made: a load that disturbs one usually lasts for the next.

    Example:
        >>> quiet = LatencyResult(2e-5, 1e-6, None, None, 10, 500, 50, True, 20, 0.1,
        ...                       reference_ratio=1.1, compensated_s=2e-5, probe_s=2.1e-5,
        ...                       reference_disturbed=False)
        >>> compensated_or_plain(lambda: quiet, lambda: 1 / 0) is quiet
        True
        >>> loaded = LatencyResult(7.7e-8, 1e-9, None, None, 10, 500, 50, False, 20, 1.0,
        ...                        reference_ratio=360.0, compensated_s=7.7e-8, probe_s=2.3e-5,
        ...                        reference_disturbed=True)
        >>> alone = LatencyResult(2.3e-5, 1e-6, None, None, 10, 500, 50, True, 20, 0.1)
        >>> r = compensated_or_plain(lambda: loaded, lambda: alone)
        >>> r.median_s, r.reference_ratio, r.compensated_s, r.reference_disturbed
        (2.3e-05, 360.0, 7.7e-08, True)
    """
    first = compensated()
    if not first.reference_disturbed:
        return first
    return replace(plain(), reference_now_s=first.reference_now_s,
                   reference_ratio=first.reference_ratio, probe_s=first.probe_s,
                   compensated_s=first.compensated_s, reference_disturbed=True)


def _median_iqr(per_pass: Sequence[float], number: int, threads: int) -> tuple[float, float]:
    """Median and inter-quartile range of per-pass block times, from a
    :class:`torch.utils.benchmark.Measurement` of the blocks."""
    task = TaskSpec(stmt="fn()", setup="pass", label="effobj", num_threads=threads)
    m = Measurement(number_per_run=number, raw_times=[e * number for e in per_pass],
                    task_spec=task)
    return float(m.median), float(m.iqr)


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
