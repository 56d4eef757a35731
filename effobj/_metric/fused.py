r"""The torch fused paths of the surrogate: the stream under autograd, and torch.compile.

Eager torch runs :func:`~effobj._metric.kernels.soft_kernel` as about 25 elementwise
kernels forward and more backward, each a full pass over memory: 25-30x the time of one
add's forward and backward (``benchmarks/results/metric.md``). Two ways fuse them:

- :func:`fused_soft` wraps the numpy stream (:func:`~effobj._metric.stream.soft_forward`,
  :func:`~effobj._metric.stream.soft_backward`, over numpy views of the tensors) in a
  custom autograd Function: bit-identical values, the closed-form gradient, a few times an
  add. It serves CPU tensors of one shape and dtype (float32 or float64) with at least
  ``STREAM_MIN`` elements, outside ``torch.compile`` and torch.func transforms, and
  returns ``None`` for anything else (CUDA, broadcasting, small inputs), which the
  dispatcher then runs through the generic kernel. A backward with ``create_graph=True``
  recomputes the generic kernel under autograd, so higher derivatives stay available.
- :func:`compiled_soft` runs the kernel through ``torch.compile`` with :math:`\beta^2`,
  the budgets and the temperature passed as 0-d tensors, so one compiled graph serves
  every setting (about 4x an add's forward+backward on 10^7 pairs; compiling costs tens
  of seconds once per process and shape family).

torch is imported inside the calls only.
"""

from __future__ import annotations

from typing import Any

from effobj._metric.kernels import gate_margins, soft_kernel
from effobj._metric.stream import STREAM_MIN, soft_backward, soft_forward

__all__ = ["fused_soft", "compiled_soft"]

_function: Any = None
_compiled: Any = None


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


def _flat(x: Any) -> Any:
    """A tensor's data as a flat numpy array (a view when it is contiguous)."""
    return x.detach().contiguous().numpy().reshape(-1)


def _make_function() -> Any:
    import torch

    def empty(x: Any) -> Any:
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    class _SoftEBeta(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, c: Any, b: float, lo: float, hi: float, tau: float, lam: float) -> Any:
            ctx.save_for_backward(a, c)
            ctx.params = (b, lo, hi, tau, lam)
            out = empty(a)
            soft_forward(_flat(a), _flat(c), b, lo, hi, tau, lam, out.numpy().reshape(-1))
            return out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            a, c = ctx.saved_tensors
            b, lo, hi, tau, lam = ctx.params
            need_a, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
            if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
                s = soft_kernel(a, c, b, gate_margins(a, lo, ((c, hi),)), tau, lam, torch)
                wrt = [x for x, need in ((a, need_a), (c, need_c)) if need]
                grads = iter(torch.autograd.grad(s, wrt, grad, create_graph=True))
                ga = next(grads) if need_a else None
                gc = next(grads) if need_c else None
                return ga, gc, None, None, None, None, None
            if grad.dim() == 0 or all(st == 0 for st in grad.stride()):
                g: Any = float(grad.reshape(-1)[0]) if grad.numel() else 0.0
            else:
                g = _flat(grad)
            ga = empty(a) if need_a else None
            gc = empty(c) if need_c else None
            soft_backward(
                g, _flat(a), _flat(c), b, lo, hi, tau, lam,
                None if ga is None else ga.numpy().reshape(-1),
                None if gc is None else gc.numpy().reshape(-1),
            )
            return ga, gc, None, None, None, None, None

    return _SoftEBeta


def fused_soft(a: Any, c: Any, beta2: float, a_min: float, c_max: float, tau: float, leak: float) -> Any:
    """:math:`S_\\tau` of two tensors through the streamed autograd Function; ``None`` if ineligible."""
    global _function
    if not _eligible(a, c):
        return None
    if _function is None:
        _function = _make_function()
    return _function.apply(a, c, beta2, a_min, c_max, tau, leak)


def compiled_soft(a: Any, c: Any, beta2: float, a_min: float, c_max: float, tau: float, leak: float) -> Any:
    """:math:`S_\\tau` of two tensors through ``torch.compile``, the parameters as 0-d tensors."""
    global _compiled
    import torch

    if _compiled is None:

        def soft(a: Any, c: Any, beta2: Any, a_min: Any, c_max: Any, tau: Any, leak: Any) -> Any:
            return soft_kernel(a, c, beta2, gate_margins(a, a_min, ((c, c_max),)), tau, leak, torch)

        _compiled = torch.compile(soft, dynamic=None)
    p = [torch.tensor(v, dtype=a.dtype, device=a.device) for v in (beta2, a_min, c_max, tau, leak)]
    return _compiled(a, c, *p)
