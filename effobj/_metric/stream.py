r"""The kernels on large numpy arrays: streamed in cache-sized blocks split over the cores.

Run eagerly on a large array, :func:`~effobj._metric.kernels.soft_kernel` is about 25
elementwise passes over memory (the hard kernel about 10). Here the same arithmetic runs
block by block while each block is in cache, with ``out=`` ufuncs and no masked ufunc
(numpy's ``where=`` loops are several times slower than plain ones), the blocks split
over the cores (numpy releases the GIL inside its loops, so threads run in parallel).
Reading the inputs once and writing the output once makes it a few times an add
(``benchmarks/bm_metric.py``).

- :func:`stream_e_beta`: the hard metric, its value checks done per block while in cache.
  The 0/0 corner is handled by adding the dtype's smallest normal number to the
  denominator: it changes no denominator above about 1e-292 (float64), and turns 0/0
  into 0/tiny = 0 (so values match the kernel to rounding, not bit for bit).
- :func:`soft_forward`: :math:`S_\tau` in the kernel's order of operations, so its values
  are bit-identical to :func:`~effobj._metric.kernels.soft_kernel`.
- :func:`soft_backward`: the surrogate's closed-form gradient

  .. math::

      \frac{\partial S}{\partial A} = [A \ge 0]\,(1+\beta^2)\beta^2 \Big(\frac{C'}{D}\Big)^2 G
          + H\,\frac{\partial G}{\partial m_A} + \lambda\,[m_A \le 0],
      \qquad
      \frac{\partial S}{\partial C} = -[1 - C \ge 0]\,(1+\beta^2) \Big(\frac{A}{D}\Big)^2 G
          - H\,\frac{\partial G}{\partial m_C} - \lambda\,[m_C \le 0],

  with :math:`D = \beta^2 C' + A` (1 at the 0/0 corner, where both numerators vanish;
  the ratios are squared, not :math:`D`, so a tiny :math:`D` cannot underflow to 0/0),
  :math:`G = \prod g(u)` the product of the smoothstep gates, :math:`g'(u) = 6u(1-u)` and
  :math:`\partial u / \partial m = 1/\tau` inside the band (0 outside, where :math:`g'`
  vanishes too). The indicator conventions are those of torch's ``clamp`` backward
  (inclusive bounds), so the gradient is the one autograd computes on the kernel, up to
  rounding.

numpy only; no checks beyond the hard stream's value checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

__all__ = ["STREAM_MIN", "BLOCK", "HARD_BLOCK", "run_blocks", "stream_e_beta", "soft_forward", "soft_backward"]

#: arrays at least this large are streamed
STREAM_MIN = 1 << 16
#: elements per block of the surrogate (eight temporaries a thread; measured against an
#: add's forward+backward on 10^7 elements: 2^14 4.5-6.3x, 2^15 3.1-4.7x, 2^16 2.8-3.8x, 2^17 3.4x)
BLOCK = 1 << 16
#: elements per block of the hard metric (two temporaries a thread; measured on 10^7
#: elements against an add: 2^13 7x, 2^15 2.6-3.3x, 2^16 2.0-3.0x, 2^17 1.7-2.6x)
HARD_BLOCK = 1 << 17

S = TypeVar("S")


def _n_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_blocks(n: int, block: int, scratch: Callable[[], S], work: Callable[[int, int, S], bool]) -> bool:
    """Call ``work(start, end, s)`` on every ``block``-sized block of ``[0, n)``, over the cores.

    Each thread takes one contiguous chunk of whole blocks and makes its own temporaries
    ``s = scratch()`` once. ``work`` returns ``False`` to report a failed check, which
    ends its chunk; the result is ``True`` only if every block returned ``True``.
    """

    def chunk(lo: int, hi: int) -> bool:
        s = scratch()
        return all(work(start, min(hi, start + block), s) for start in range(lo, hi, block))

    workers = max(1, min(_n_threads(), n // STREAM_MIN))
    if workers == 1:
        return chunk(0, n)
    step = -(-n // workers)
    step = -(-step // block) * block
    with ThreadPoolExecutor(workers) as pool:
        return all(pool.map(lambda i: chunk(i * step, min(n, (i + 1) * step)), range(workers)))


class _Scratch:
    """One thread's temporaries: ``floats`` arrays of ``dtype`` and ``masks`` boolean ones."""

    def __init__(self, dtype: np.dtype, floats: int, masks: int, block: int) -> None:
        self.t = [np.empty(block, dtype=dtype) for _ in range(floats)]
        self.m = [np.empty(block, dtype=bool) for _ in range(masks)]

    def views(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [t[:k] for t in self.t], [m[:k] for m in self.m]


# --------------------------------------------------------------------------- hard
def stream_e_beta(
    a: np.ndarray, c: np.ndarray, beta2: float, a_min: float, c_max: float, validate: bool
) -> np.ndarray | None:
    """Hard :math:`E_\\beta` of a same-shape pair, flat, in ``HARD_BLOCK`` blocks.

    With ``validate``, each block's values are checked while it is in cache (four
    reductions); returns ``None`` if any block breaks a rule, so that the caller can
    raise the precise error. :math:`C'` is clamped at 0, which is the gate
    :math:`C \\le 1` (and keeps an infeasible value a plain +0, as the kernel gives); the
    other gates multiply by a mask, so a gated block skips the clamp when no C in it
    exceeds 1 (its largest C is one reduction, done anyway when validating).
    """
    dtype = np.result_type(a, c)
    a = np.ascontiguousarray(a, dtype=dtype).reshape(-1)
    c = np.ascontiguousarray(c, dtype=dtype).reshape(-1)
    out = np.empty(a.size, dtype=dtype)
    tiny = np.finfo(dtype).tiny
    gated = c_max < 1.0 or a_min > 0.0
    inf = np.inf

    def work(s: int, e: int, scratch: _Scratch) -> bool:
        ab, cb, o = a[s:e], c[s:e], out[s:e]
        c_top = cb.max() if validate or gated else inf
        # NaN fails every comparison, so these four also catch NaN
        if validate and not (ab.min() >= 0.0 and ab.max() <= 1.0 and cb.min() >= 0.0 and c_top < inf):
            return False
        (tmp,), (mask, mask2) = scratch.views(e - s)
        np.subtract(1.0, cb, out=tmp)  # C'
        if not gated or c_top > 1.0:  # skipped where the mask alone gates every C <= 1
            np.maximum(tmp, 0.0, out=tmp)  # (np.maximum propagates NaN)
        np.multiply(ab, tmp, out=o)  # A C'
        tmp *= beta2
        tmp += ab
        tmp += tiny  # beta2 C' + A (+ tiny)
        np.divide(o, tmp, out=o)
        if gated:
            np.less_equal(cb, c_max, out=mask)
            if a_min > 0.0:
                np.greater_equal(ab, a_min, out=mask2)
                mask &= mask2
            o *= mask
        o *= 1.0 + beta2
        return True

    ok = run_blocks(a.size, HARD_BLOCK, lambda: _Scratch(dtype, 1, 2, HARD_BLOCK), work)
    return out if ok else None


# --------------------------------------------------------------------------- smooth
def _scratch(dtype: np.dtype) -> Callable[[], _Scratch]:
    return lambda: _Scratch(dtype, 8, 2, BLOCK)


def _h(a: np.ndarray, c: np.ndarray, b: float, t: list[np.ndarray], m: np.ndarray) -> None:
    """t[0] = C' = max(1 - C, 0), t[1] = max(A, 0), t[2] = D (1 at the corner), t[3] = H."""
    cp, a0, den, h = t[0], t[1], t[2], t[3]
    np.subtract(1.0, c, out=cp)
    np.maximum(cp, 0.0, out=cp)
    np.maximum(a, 0.0, out=a0)
    np.multiply(cp, b, out=den)
    den += a0  # beta2 C' + A
    np.equal(den, 0.0, out=m)
    den += m  # the 0/0 corner: D = 1 (the numerator is 0 there)
    np.multiply(a0, 1.0 + b, out=h)
    h *= cp
    h /= den


def _gate(margin: np.ndarray, tau: float, u: np.ndarray, g: np.ndarray, w: np.ndarray) -> None:
    """u = clip(m / tau, 0, 1) and g = (u u)(3 - 2u), in the kernel's order (``w``: scratch)."""
    np.divide(margin, tau, out=u)
    np.clip(u, 0.0, 1.0, out=u)
    np.multiply(u, u, out=w)
    np.multiply(u, 2.0, out=g)
    np.subtract(3.0, g, out=g)
    np.multiply(w, g, out=g)


def _dgate(u: np.ndarray, tau: float, out: np.ndarray) -> None:
    """out = dg/dm = 6 u (1 - u) / tau (0 at both ends of the band, where the clip is flat)."""
    np.subtract(1.0, u, out=out)
    out *= u
    out *= 6.0 / tau


def soft_forward(
    a: np.ndarray, c: np.ndarray, beta2: float, a_min: float, c_max: float, tau: float,
    leak: float, out: np.ndarray,
) -> None:
    """:math:`S_\\tau` of 1-D same-dtype ``a`` and ``c`` into ``out``, streamed (no checks)."""
    gate_a = a_min > 0.0

    def work(start: int, end: int, s: _Scratch) -> bool:
        ab, cb = a[start:end], c[start:end]
        t, (m, _) = s.views(end - start)
        _h(ab, cb, beta2, t, m)
        h, margin, u, pen, g, w = t[3], t[0], t[1], t[2], t[4], t[5]  # C', A0, D are done
        np.subtract(c_max, cb, out=margin)
        _gate(margin, tau, u, g, w)
        h *= g
        np.negative(margin, out=pen)
        np.maximum(pen, 0.0, out=pen)
        if gate_a:
            np.subtract(ab, a_min, out=margin)
            _gate(margin, tau, u, g, w)
            h *= g
            np.negative(margin, out=margin)
            np.maximum(margin, 0.0, out=margin)
            pen += margin
        pen *= leak
        np.subtract(h, pen, out=out[start:end])
        return True

    run_blocks(a.size, BLOCK, _scratch(out.dtype), work)


def soft_backward(
    g: np.ndarray | float, a: np.ndarray, c: np.ndarray, beta2: float, a_min: float,
    c_max: float, tau: float, leak: float, ga: np.ndarray | None, gc: np.ndarray | None,
) -> None:
    """``g * dS/dA`` into ``ga`` and ``g * dS/dC`` into ``gc`` (either may be None), streamed.

    ``g`` is the upstream gradient: a 1-D array like ``a``, or one number.
    """
    gate_a = a_min > 0.0
    b = beta2
    scalar_g = not isinstance(g, np.ndarray)

    def work(start: int, end: int, s: _Scratch) -> bool:
        ab, cb = a[start:end], c[start:end]
        t, (m, leak_c) = s.views(end - start)
        cp, a0, den, h, dc, u, gate, w = t
        _h(ab, cb, b, t, m)
        # C gate: G_C in `gate`, dG/dm_C in `dc`; the C leak acts where m_C <= 0
        np.subtract(c_max, cb, out=dc)
        np.less_equal(dc, 0.0, out=leak_c)
        _gate(dc, tau, u, gate, w)
        _dgate(u, tau, dc)
        da = None
        if gate_a:  # A gate: dS/dm_C = H g_A g_C', dS/dm_A = H g_C g_A'
            da = np.empty_like(ab) if ga is None else ga[start:end]
            np.subtract(ab, a_min, out=da)
            np.less_equal(da, 0.0, out=m)  # the A leak acts where m_A <= 0
            g_a = cp  # C' is recomputed below
            _gate(da, tau, u, g_a, w)
            _dgate(u, tau, da)
            dc *= g_a
            da *= gate
            gate *= g_a  # G = g_C g_A
            da *= h
            np.multiply(m, leak, out=w)
            da += w  # H dG/dm_A + leak [m_A <= 0]
            np.subtract(1.0, cb, out=cp)
            np.maximum(cp, 0.0, out=cp)
        dc *= h  # H dG/dm_C
        if gc is not None:
            # dS/dC = -([1 - C >= 0] (1+b) A0^2 / D^2 G + H dG/dm_C + leak [m_C <= 0])
            out = gc[start:end]
            np.divide(a0, den, out=out)  # (A0 / D)^2: no D^2 to underflow
            out *= out
            out *= 1.0 + b
            out *= gate
            np.subtract(1.0, cb, out=w)
            np.greater_equal(w, 0.0, out=m)
            out *= m
            out += dc
            np.multiply(leak_c, leak, out=w)
            out += w
            np.negative(out, out=out)
            out *= g if scalar_g else g[start:end]  # type: ignore[index]
        if ga is not None:
            # dS/dA = [A >= 0] (1+b) b C'^2 / D^2 G + (H dG/dm_A + leak [m_A <= 0])
            out = ga[start:end]
            if da is not None:
                np.copyto(w, da)
            np.divide(cp, den, out=out)
            out *= out
            out *= (1.0 + b) * b
            out *= gate
            np.greater_equal(ab, 0.0, out=m)
            out *= m
            if da is not None:
                out += w
            out *= g if scalar_g else g[start:end]  # type: ignore[index]
        return True

    run_blocks(a.size, BLOCK, _scratch(a.dtype), work)
