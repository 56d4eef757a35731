r"""The smooth surrogate on large CPU arrays: streamed in cache-sized blocks, gradient fused.

:func:`effobj.metric._soft_kernel` is the one definition of :math:`S_\tau`. Run eagerly on
a large torch tensor it is about 25 elementwise kernels forward and more backward, each a
full pass over memory: 25-30x the time of one add's forward and backward (measured in
``benchmarks/results/metric.md``). Here the same arithmetic, in the same order (so the
values are bit-identical), runs block by block while each block is in cache, the blocks
split over the cores, and the backward pass is the closed form

.. math::

    \frac{\partial S}{\partial A} = [A \ge 0]\,(1+\beta^2)\beta^2 \Big(\frac{C'}{D}\Big)^2 G
        + H\,\frac{\partial G}{\partial m_A} + \lambda\,[m_A \le 0],
    \qquad
    \frac{\partial S}{\partial C} = -[1 - C \ge 0]\,(1+\beta^2) \Big(\frac{A}{D}\Big)^2 G
        - H\,\frac{\partial G}{\partial m_C} - \lambda\,[m_C \le 0],

with :math:`D = \beta^2 C' + A` (1 at the 0/0 corner, where both numerators vanish;
the ratios are squared, not :math:`D`, so a tiny :math:`D` cannot underflow to 0/0),
:math:`G = \prod g(u)` the product of the smoothstep gates, :math:`g'(u) = 6u(1-u)` and
:math:`\partial u / \partial m = 1/\tau` inside the band (0 outside, where
:math:`g'` vanishes too). The indicator conventions are those of torch's ``clamp``
backward (inclusive bounds), so the gradient is the one autograd computes on
:func:`~effobj.metric._soft_kernel`, up to rounding. Reading the inputs once and writing
the output once, forward and backward, makes it a few times an add
(``benchmarks/bm_metric.py``).

The torch face (:func:`soft_e_beta_torch`) takes this path for CPU tensors of one shape
and a float dtype with at least 2^16 elements, outside ``torch.compile`` and torch.func
transforms; everything else (CUDA, broadcasting, small inputs) runs the generic kernel.
A backward with ``create_graph=True`` recomputes the generic kernel under autograd, so
higher derivatives stay available. numpy imports at module level, torch only inside.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["run_blocks", "soft_forward", "soft_backward", "soft_e_beta_torch", "STREAM_MIN", "BLOCK"]

#: arrays at least this large are streamed
STREAM_MIN = 1 << 16
#: elements per block of the surrogate (eight temporaries a thread; measured against an
#: add's forward+backward on 10^7 elements: 2^14 4.5-6.3x, 2^15 3.1-4.7x, 2^16 2.8-3.8x, 2^17 3.4x)
BLOCK = 1 << 16


def _n_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_blocks(n: int, work: Callable[[int, int], bool], block: int = BLOCK) -> bool:
    """Run ``work(lo, hi)`` over ``[0, n)``, split over the cores in chunks of whole blocks.

    ``work`` is called once per contiguous chunk of whole ``block``-sized blocks (one chunk
    per thread)
    and returns ``False`` to report a failed check; the result is ``True`` only if every
    chunk returned ``True``. numpy releases the GIL inside its loops, so threads run in
    parallel.
    """
    workers = max(1, min(_n_threads(), n // STREAM_MIN))
    if workers == 1:
        return work(0, n)
    step = -(-n // workers)
    step = -(-step // block) * block
    with ThreadPoolExecutor(workers) as pool:
        return all(pool.map(lambda i: work(i * step, min(n, (i + 1) * step)), range(workers)))


class _Scratch:
    """Per-thread temporaries of one block: eight float arrays and two masks."""

    def __init__(self, dtype: np.dtype) -> None:
        self.t = [np.empty(BLOCK, dtype=dtype) for _ in range(8)]
        self.m = [np.empty(BLOCK, dtype=bool) for _ in range(2)]

    def views(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [t[:k] for t in self.t], [m[:k] for m in self.m]


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

    def work(lo: int, hi: int) -> bool:
        s = _Scratch(out.dtype)
        for start in range(lo, hi, BLOCK):
            end = min(hi, start + BLOCK)
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

    run_blocks(a.size, work)


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

    def work(lo: int, hi: int) -> bool:
        s = _Scratch(a.dtype)
        for start in range(lo, hi, BLOCK):
            end = min(hi, start + BLOCK)
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

    run_blocks(a.size, work)


# --------------------------------------------------------------------------- torch face
_function: Any = None


def _eligible(a: Any, c: Any) -> bool:
    import torch

    if a.shape != c.shape or a.dtype != c.dtype or a.dtype not in (torch.float32, torch.float64):
        return False
    if a.device.type != "cpu" or c.device.type != "cpu" or a.numel() < STREAM_MIN:
        return False
    if a.layout != torch.strided or c.layout != torch.strided:
        return False
    if torch.compiler.is_compiling():
        return False
    try:  # torch.func transforms wrap tensors; a custom Function without vmap rules can't run there
        from torch._C._functorch import is_functorch_wrapped_tensor

        if is_functorch_wrapped_tensor(a) or is_functorch_wrapped_tensor(c):
            return False
    except ImportError:  # pragma: no cover - older torch
        pass
    return True


def _make_function() -> Any:
    import torch

    from effobj.metric import _soft_kernel, _soft_margins

    class _SoftEBeta(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, c: Any, b: float, lo: float, hi: float, tau: float, lam: float) -> Any:
            ctx.save_for_backward(a, c)
            ctx.params = (b, lo, hi, tau, lam)
            out = torch.empty_like(a, memory_format=torch.contiguous_format)
            an = a.detach().contiguous().numpy().reshape(-1)
            cn = c.detach().contiguous().numpy().reshape(-1)
            soft_forward(an, cn, b, lo, hi, tau, lam, out.numpy().reshape(-1))
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            a, c = ctx.saved_tensors
            b, lo, hi, tau, lam = ctx.params
            need_a, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
            if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
                s = _soft_kernel(a, c, b, _soft_margins(a, c, lo, hi), tau, lam, torch)
                wrt = [x for x, need in ((a, need_a), (c, need_c)) if need]
                grads = iter(torch.autograd.grad(s, wrt, grad, create_graph=True))
                ga = next(grads) if need_a else None
                gc = next(grads) if need_c else None
                return ga, gc, None, None, None, None, None
            if grad.dim() == 0 or all(st == 0 for st in grad.stride()):
                g: Any = float(grad.reshape(-1)[0]) if grad.numel() else 0.0
            else:
                g = grad.detach().contiguous().numpy().reshape(-1)
            ga = torch.empty_like(a, memory_format=torch.contiguous_format) if need_a else None
            gc = torch.empty_like(c, memory_format=torch.contiguous_format) if need_c else None
            soft_backward(
                g, a.detach().contiguous().numpy().reshape(-1), c.detach().contiguous().numpy().reshape(-1),
                b, lo, hi, tau, lam,
                None if ga is None else ga.numpy().reshape(-1),
                None if gc is None else gc.numpy().reshape(-1),
            )
            return ga, gc, None, None, None, None, None

    return _SoftEBeta


def soft_e_beta_torch(
    a: Any, c: Any, beta2: float, a_min: float, c_max: float, tau: float, leak: float
) -> Any:
    """:math:`S_\\tau` of torch tensors: the streamed path where eligible, else the generic kernel."""
    global _function
    if _eligible(a, c):
        if _function is None:
            _function = _make_function()
        return _function.apply(a, c, beta2, a_min, c_max, tau, leak)
    import torch

    from effobj.metric import _soft_kernel, _soft_margins

    return _soft_kernel(a, c, beta2, _soft_margins(a, c, a_min, c_max), tau, leak, torch)
