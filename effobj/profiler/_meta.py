"""Shape-only shortcuts for the meta-device counting pass.

On the meta device torch computes no values, but several operators still run their
meta implementation in Python (batch norm through its decomposition, layer norm,
GELU, softmax), at a few milliseconds each; a ResNet-50 spends most of its meta pass in
its 53 batch norms. These operators carry no FLOPs by convention and return a tensor
shaped, strided and typed like their input, so the innermost mode of the counting pass
answers them with ``torch.empty_like(input)``. The allocation goes through the outer
modes, so the memory tracker still sees the output; nothing else about the pass changes.

Only meta tensors take the shortcut; a real pass is untouched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MetaKernels", "MetaShortcuts"]

aten = torch.ops.aten


def _same_as_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return True


def _eval_batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    # batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
    training = args[5] if len(args) > 5 else kwargs.get("training", False)
    return not training


def _softmax_same_dtype(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    dtype = args[2] if len(args) > 2 else kwargs.get("dtype")
    return dtype is None


#: operator overload -> predicate on (args, kwargs) saying the output is empty_like(args[0])
_SHORTCUTS: dict[Any, Any] = {
    aten.batch_norm.default: _eval_batch_norm,
    aten.layer_norm.default: _same_as_input,
    aten.group_norm.default: _same_as_input,
    aten.gelu.default: _same_as_input,
    aten.silu.default: _same_as_input,
    aten.hardswish.default: _same_as_input,
    aten.mish.default: _same_as_input,
    aten.softmax.int: _softmax_same_dtype,
    aten.log_softmax.int: _softmax_same_dtype,
}


#: out-of-place elementwise operators whose output is shaped and typed like their inputs
#: when all tensor inputs share one shape and dtype (no broadcasting, no promotion)
_SAME_SHAPE: frozenset[Any] = frozenset(
    getattr(aten, name).default if hasattr(getattr(aten, name), "default") else getattr(aten, name).Tensor
    for name in (
        "relu", "relu6", "hardtanh", "sigmoid", "tanh", "elu", "leaky_relu", "hardsigmoid",
        "softplus", "neg", "exp", "sqrt", "rsqrt", "abs",
    )
    if hasattr(aten, name)
) | frozenset(
    getattr(aten, name).Tensor for name in ("add", "sub", "mul", "div", "maximum", "minimum")
    if hasattr(getattr(aten, name, None), "Tensor")
)


class MetaShortcuts(TorchDispatchMode):
    """Answers flop-free, shape-preserving operators on meta tensors without their Python meta kernels.

    * in-place elementwise operators (``relu_``, ``hardtanh_``, ``add_``) return their
      first argument, as they would;
    * the operators in ``_SHORTCUTS`` (normalizations, activations, softmax) and same-shape,
      same-dtype elementwise operators return ``torch.empty_like(first argument)``.
    """

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            first = args[0]
            tags = func.tags
            if torch.Tag.pointwise in tags and torch.Tag.inplace in tags and not kwargs.get("out"):
                return first
            rule = _SHORTCUTS.get(func)
            if rule is not None and rule(args, kwargs):
                return torch.empty_like(first)
            if func in _SAME_SHAPE and all(
                a.shape == first.shape and a.dtype == first.dtype
                for a in args if isinstance(a, torch.Tensor)
            ):
                return torch.empty_like(first)
            if func is aten.scaled_dot_product_attention.default and _flash_cpu_applies(args, kwargs):
                # the kernel CPU inference runs: no L_q x L_k score matrix is materialized
                q, k, v = args[:3]
                mask = args[3] if len(args) > 3 else kwargs.get("attn_mask")
                dropout = args[4] if len(args) > 4 else kwargs.get("dropout_p", 0.0)
                causal = args[5] if len(args) > 5 else kwargs.get("is_causal", False)
                return aten._scaled_dot_product_flash_attention_for_cpu(
                    q, k, v, dropout, causal, attn_mask=mask, scale=kwargs.get("scale")
                )[0]
        return func(*args, **kwargs)


def _flash_cpu_applies(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if not hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu") or len(args) < 3:
        return False
    q, k, v = args[:3]
    if len(args) > 6 or kwargs.get("enable_gqa", False):
        return False
    return (
        all(isinstance(t, torch.Tensor) and t.dim() == 4 and t.dtype == q.dtype for t in (q, k, v))
        and q.shape[:2] == k.shape[:2] == v.shape[:2]
        and q.dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16)
    )


class MetaKernels(TorchDispatchMode):
    """The outermost mode of the meta pass: fast output allocation for leaf operators whose
    meta kernel is a slow Python decomposition (``addmm``, ``_safe_softmax``).

    It sits outside the FLOP counter, so these operators are still counted; it only
    replaces how their (value-less) outputs are made.
    """

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            if func in (aten.addmm.default, aten._addmm_activation.default) and not kwargs.get("out"):
                mat1, mat2 = args[1], args[2]
                if mat1.dim() == 2 and mat2.dim() == 2 and mat1.dtype == mat2.dtype:
                    return mat1.new_empty((mat1.shape[0], mat2.shape[1]))
            if func is aten._safe_softmax.default and (len(args) < 3 and kwargs.get("dtype") is None):
                return torch.empty_like(args[0])
        return func(*args, **kwargs)
