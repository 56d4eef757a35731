r"""FLOP counting: torch's :class:`~torch.utils.flop_counter.FlopCounterMode` plus the formulas it lacks.

Convention (torch's): one fused multiply-add is **2 FLOPs = 1 MAC**. Only the
matrix-multiply family carries FLOPs (matmuls, convolutions, attention), so
``macs = flops // 2``. For a convolution with weight ``[C_out, C_in / g, k_1, ..., k_d]``
and output spatial size ``S_out`` at batch ``N`` (``g`` groups, depthwise when
``g = C_in``):

.. math::

    \mathrm{FLOPs}_{\mathrm{conv}} = 2\, N\, C_{\mathrm{out}}\, \frac{C_{\mathrm{in}}}{g}
        \prod_i k_i\, |S_{\mathrm{out}}|,
    \qquad
    \mathrm{FLOPs}_{\mathrm{addmm}}(M\times K \cdot K\times N) = 2MKN,
    \qquad
    \mathrm{FLOPs}_{\mathrm{sdpa}} = 2\, B\, H\, L_q\, L_k\, (d_{qk} + d_v).

Bias additions, activations, normalization, softmax and pooling are not counted (same
convention as torch and fvcore). Attention is counted dense (a causal mask does not
halve it), as torch counts it.

torch 2.13 has no formula for the kernels CPU inference actually runs for attention:
``_scaled_dot_product_flash_attention_for_cpu`` (what ``F.scaled_dot_product_attention``
dispatches to on CPU), ``_native_multi_head_attention`` (the inference fast path of
``nn.MultiheadAttention``) and ``_transformer_encoder_layer_fwd`` (the fast path of
``nn.TransformerEncoderLayer``), so its counter reports 0 FLOPs for attention. This module
registers them (and a few more matmul-family kernels, and the quantized linear and conv2d
kernels, whose weights hide in packed parameters) through ``custom_mapping``, without
touching torch's global registry.

Any operator that ran, has no formula and is not FLOP-free by the convention above is
reported in ``unsupported_ops``; the total is then a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

__all__ = ["FlopCounts", "count_flops", "extra_flop_formulas", "is_flop_free"]

aten = torch.ops.aten
Shape = Sequence[int]


# ---------------------------------------------------------------------------- formulas
def _sdpa(q: Shape, k: Shape, v: Shape) -> int:
    """Dense attention ``softmax(q k^T) v``: two batched matmuls (GQA-aware)."""
    *batch, s_q, d_qk = q
    s_k, d_v = k[-2], v[-1]
    bh = math.prod(batch)  # batch x query heads; k/v heads are broadcast to them
    return 2 * bh * s_q * s_k * d_qk + 2 * bh * s_q * s_k * d_v


def _sdpa_backward(grad_out: Shape, q: Shape, k: Shape, v: Shape) -> int:
    """Backward of dense attention: recompute scores, then four matmuls of the same size."""
    *batch, s_q, d_qk = q
    s_k, d_v = k[-2], v[-1]
    bh = math.prod(batch)
    # dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q, plus the recomputed S = Q K^T
    return 2 * bh * s_q * s_k * (2 * d_v + 3 * d_qk)


def _sdpa_cpu_flop(query: Shape, key: Shape, value: Shape, *args: Any, **kwargs: Any) -> int:
    return _sdpa(query, key, value)


def _sdpa_cpu_backward_flop(grad_out: Shape, query: Shape, key: Shape, value: Shape,
                            *args: Any, **kwargs: Any) -> int:
    return _sdpa_backward(grad_out, query, key, value)


def _native_mha_flop(query: Shape, key: Shape, value: Shape, embed_dim: int, num_head: int,
                     *args: Any, **kwargs: Any) -> int:
    """``nn.MultiheadAttention``'s fused inference kernel: q/k/v projections, attention, output projection."""
    *batch_q, l_q, e = query
    *batch_k, l_k, _ = key
    b = math.prod(batch_q)
    proj_in = 2 * b * l_q * e * e + 2 * 2 * math.prod(batch_k) * l_k * e * e
    attention = 2 * b * l_q * l_k * e * 2  # summed over heads: head_dim * num_head = e
    proj_out = 2 * b * l_q * e * e
    return proj_in + attention + proj_out


def _encoder_layer_flop(src: Shape, embed_dim: int, num_heads: int, qkv_weight: Shape,
                        qkv_bias: Shape, proj_weight: Shape, proj_bias: Shape, use_gelu: bool,
                        norm_first: bool, eps: float, nw1: Shape, nb1: Shape, nw2: Shape,
                        nb2: Shape, ffn_weight_1: Shape, *args: Any, **kwargs: Any) -> int:
    """``nn.TransformerEncoderLayer``'s fused inference kernel: self-attention plus the two FFN matmuls."""
    *batch, length, e = src
    tokens = math.prod(batch) * length
    ffn = ffn_weight_1[0]
    return _native_mha_flop(src, src, src, embed_dim, num_heads) + 2 * 2 * tokens * e * ffn


def _addmm_activation_flop(self_shape: Shape, mat1: Shape, mat2: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * mat1[0] * mat1[1] * mat2[1]


def _mv_flop(mat: Shape, vec: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * mat[0] * mat[1]


def _addmv_flop(self_shape: Shape, mat: Shape, vec: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * mat[0] * mat[1]


def _dot_flop(a: Shape, b: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * a[0]


def _addbmm_flop(self_shape: Shape, b1: Shape, b2: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * b1[0] * b1[1] * b1[2] * b2[2]


def _int_mm_flop(a: Shape, b: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * a[0] * a[1] * b[1]


def _mkldnn_conv_flop(x: Shape, w: Shape, *args: Any, out_shape: Shape | None = None, **kwargs: Any) -> int:
    assert out_shape is not None
    return 2 * x[0] * w[0] * math.prod(w[1:]) * math.prod(out_shape[2:])


def _quantized_linear_flop(x: Any, packed: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """``quantized::linear`` / ``linear_dynamic``: the weight ``[N, K]`` is inside the packed params."""
    n, k = packed.unpack()[0].shape
    return 2 * math.prod(x.shape[:-1]) * k * n


def _quantized_conv_flop(x: Any, packed: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """``quantized::conv2d``: the conv formula with the unpacked weight ``[C_out, C_in / g, k...]``."""
    w = packed.unpack()[0]
    out = out_val.shape
    return 2 * out[0] * w.shape[0] * math.prod(w.shape[1:]) * math.prod(out[2:])


_quantized_linear_flop._get_raw = True  # type: ignore[attr-defined]
_quantized_conv_flop._get_raw = True  # type: ignore[attr-defined]


def extra_flop_formulas() -> dict[Any, Callable[..., int]]:
    """The formulas effobj adds to torch's registry (operator packet -> shape formula).

    Only operators that exist in the running torch and that torch does not already count
    are returned, so torch's own formulas always win when both exist.
    """
    wanted: dict[str, Callable[..., int]] = {
        "_scaled_dot_product_flash_attention_for_cpu": _sdpa_cpu_flop,
        "_scaled_dot_product_flash_attention_for_cpu_backward": _sdpa_cpu_backward_flop,
        "_scaled_dot_product_fused_attention_overrideable": _sdpa_cpu_flop,
        "_scaled_dot_product_fused_attention_overrideable_backward": _sdpa_cpu_backward_flop,
        "_scaled_dot_product_attention_math_for_mps": _sdpa_cpu_flop,
        "_native_multi_head_attention": _native_mha_flop,
        "_transformer_encoder_layer_fwd": _encoder_layer_flop,
        "_addmm_activation": _addmm_activation_flop,
        "mkldnn_convolution": _mkldnn_conv_flop,
        "mv": _mv_flop,
        "addmv": _addmv_flop,
        "dot": _dot_flop,
        "vdot": _dot_flop,
        "addbmm": _addbmm_flop,
        "_int_mm": _int_mm_flop,
    }
    out: dict[Any, Callable[..., int]] = {}
    for name, formula in wanted.items():
        packet = getattr(aten, name, None)
        if packet is not None and packet not in flop_registry:
            out[packet] = formula
    quantized = torch.ops.quantized
    for name, formula in (("linear", _quantized_linear_flop), ("linear_dynamic", _quantized_linear_flop),
                          ("linear_relu", _quantized_linear_flop),
                          ("linear_relu_dynamic", _quantized_linear_flop),
                          ("conv2d", _quantized_conv_flop), ("conv2d_relu", _quantized_conv_flop)):
        try:
            packet = getattr(quantized, name)
        except (AttributeError, RuntimeError):  # a build without quantized kernels
            continue
        if packet not in flop_registry:
            out[packet] = formula
    return out


# ---------------------------------------------------------------------------- convention
#: aten operators that carry no multiply-adds by convention (besides views and
#: pointwise-tagged operators, which are recognized from their schema and tags).
_FLOP_FREE: frozenset[str] = frozenset(
    """
    _to_copy to clone copy_ copy contiguous _unsafe_view lift_fresh lift_fresh_copy detach alias
    empty empty_like empty_strided empty_permuted new_empty new_empty_strided new_zeros new_ones
    new_full zeros zeros_like ones ones_like full full_like fill_ fill zero_ arange linspace
    scalar_tensor rand rand_like randn randn_like randint bernoulli bernoulli_ native_dropout dropout
    cat stack split_with_sizes_copy slice_scatter select_scatter index_put index_put_ _index_put_impl_
    index index_select _unsafe_index gather scatter scatter_ scatter_add scatter_add_ scatter_reduce
    embedding _embedding_bag embedding_bag masked_fill masked_fill_ masked_scatter where roll flip
    repeat tile constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d
    replication_pad1d replication_pad2d replication_pad3d _local_scalar_dense nonzero sort topk
    argmax argmin max min amax amin aminmax sum mean prod var var_mean std std_mean norm
    linalg_vector_norm cumsum cumprod logsumexp all any count_nonzero native_batch_norm
    _native_batch_norm_legit _native_batch_norm_legit_no_training _native_batch_norm_legit_functional
    native_layer_norm native_group_norm _fused_rms_norm rms_norm _softmax _safe_softmax _log_softmax
    softmax log_softmax max_pool1d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d
    avg_pool2d avg_pool3d _adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool2d
    adaptive_max_pool3d upsample_nearest1d upsample_nearest2d upsample_nearest3d
    _upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d upsample_linear1d
    upsample_bilinear2d upsample_bicubic2d upsample_trilinear3d _upsample_bilinear2d_aa
    pixel_shuffle pixel_unshuffle channel_shuffle native_channel_shuffle im2col col2im bucketize
    searchsorted _unique2 unique_dim unique_consecutive one_hot tril triu diag_embed
    _assert_async _assert_tensor_metadata _functional_assert_async sym_constrain_range_for_size
    _weight_norm_interface _reshape_alias quantize_per_tensor quantize_per_channel dequantize
    _empty_affine_quantized _empty_per_channel_affine_quantized q_scale q_zero_point int_repr
    _make_per_tensor_quantized_tensor _make_per_channel_quantized_tensor
    """.split()
)

#: flop-free operators of the ``quantized`` namespace (elementwise, pooling, data movement)
_QUANTIZED_FLOP_FREE: frozenset[str] = frozenset(
    "add add_relu add_scalar mul mul_relu mul_scalar cat cat_relu relu6 leaky_relu sigmoid hardswish "
    "batch_norm2d layer_norm max_pool2d adaptive_avg_pool2d".split()
)


def is_flop_free(op: Any) -> bool:
    """Whether an operator carries no multiply-adds by convention (view, pointwise, data movement, ...).

    Args:
        op: An ``OpOverload`` as seen by a ``TorchDispatchMode``.
    """
    if getattr(op, "is_view", False):
        return True
    tags = getattr(op, "tags", ())
    if torch.Tag.pointwise in tags or torch.Tag.view_copy in tags:
        return True
    packet = getattr(op, "_overloadpacket", op)
    qualified = getattr(packet, "_qualified_op_name", "")
    namespace, _, name = qualified.partition("::")
    if namespace == "prim":
        return True
    if namespace == "quantized":
        return name in _QUANTIZED_FLOP_FREE
    return namespace == "aten" and name in _FLOP_FREE


# ---------------------------------------------------------------------------- counting
@dataclass
class FlopCounts:
    """What one counted forward pass yields.

    Attributes:
        flops: Total FLOPs (2 per multiply-add).
        by_module: FLOPs per module path (parents include children).
        by_op: FLOPs per operator name.
        unsupported: Operators that ran without a formula and are not FLOP-free.
    """

    flops: int = 0
    by_module: dict[str, int] = field(default_factory=dict)
    by_op: dict[str, int] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()


class _OpLog(TorchDispatchMode):
    """Records the operators that really execute (below FlopCounterMode's decompositions)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[Any] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.seen.add(func)
        return func(*args, **(kwargs or {}))


@contextmanager
def count_flops() -> Iterator[FlopCounts]:
    """Count the FLOPs of everything run inside the block (works on real and meta tensors).

    Yields a :class:`FlopCounts` that is filled in when the block exits without error.

    Example:
        >>> import torch
        >>> from effobj.profiler._flops import count_flops
        >>> lin = torch.nn.Linear(4, 3)
        >>> with count_flops() as c:
        ...     _ = lin(torch.ones(2, 4))
        >>> c.flops, c.unsupported
        (48, ())
    """
    result = FlopCounts()
    counter = FlopCounterMode(display=False, custom_mapping=extra_flop_formulas())
    log = _OpLog()
    with log, counter:
        yield result
    counts = counter.get_flop_counts()
    result.flops = int(counter.get_total_flops())
    result.by_module = {
        name: int(sum(ops.values())) for name, ops in counts.items() if name != "Global"
    }
    result.by_op = {str(op): int(n) for op, n in counts.get("Global", {}).items()}
    registry = counter.flop_registry
    packets = {op: getattr(op, "_overloadpacket", op) for op in log.seen}
    result.unsupported = tuple(sorted({
        str(packet) for op, packet in packets.items()
        if packet not in registry and not is_flop_free(op)
    }))
