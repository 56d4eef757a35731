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

This module is effobj's one FLOP registry: torch's ``flop_registry`` plus

* the formulas torch 2.13 lacks for the kernels CPU inference actually runs for attention:
  ``_scaled_dot_product_flash_attention_for_cpu`` (what ``F.scaled_dot_product_attention``
  dispatches to on CPU) and its backward, ``_native_multi_head_attention`` (the inference
  fast path of ``nn.MultiheadAttention``) and ``_transformer_encoder_layer_fwd`` (the fast
  path of ``nn.TransformerEncoderLayer``), for which torch's counter reports 0 FLOPs; a few
  more matmul-family kernels (``mv``, ``dot``, ``addbmm``, ``_trilinear`` of ``nn.Bilinear``);
  the recurrent kernels real passes run instead of the matmuls of their decomposition
  (``mkldnn_rnn_layer`` for ``nn.LSTM`` on the CPU, ``_cudnn_rnn``, ``miopen_rnn``,
  ``_lstm_mps``): every token through every weight matrix of every layer and direction
  (their backward twice that: the data and the weight gradients),

  .. math::

      \mathrm{FLOPs}_{\mathrm{RNN}} = 2\, T\, B \sum_{\text{layers, directions}}
          \big(|W_{ih}| + |W_{hh}| + |W_{hr}|\big),

  (``|W_{ih}| = G H \times d_{in}`` with ``G`` = 4 gates for an LSTM, 3 for a GRU, 1 for
  an RNN), the quantized linear and conv2d kernels, whose weights hide in packed parameters;
* a correction: torch counts the weight gradient of a grouped convolution's backward as a
  dense convolution, ``groups`` times too high (a 48-channel 5x5 depthwise conv on 12x12:
  16.9 MFLOPs instead of 0.69); here it is divided by ``groups``,

  .. math::

      F_{\nabla w} = \frac{2\, N\, |S_{out}|\, C_{in}\, C_{out}\, \prod_i k_i}{g};

* what users register: :func:`register_flop_formula` for their own operators or
  corrections, :func:`register_flop_free` for operators that carry no FLOPs by their
  convention (:func:`unregister_flop_op` forgets either).

All of it goes through ``FlopCounterMode(custom_mapping=...)``; torch's global registry is
left untouched. :func:`count_flops` (the profiler's count) and :func:`flop_counter_mode`
(plain torch counts, e.g. a training step's FLOPs in ``effobj.spaces``) both use it.

An in-place variant (``aten.addmm_``, ``aten.hardswish_``) is counted as its functional
operator: with its formula when that has one, free when that is free; an ``.out``
overload shares its operator's packet, hence both. FLOP-free by convention are views and
in-place changes of sizes and strides (torch's ``inplace_view`` tag: ``as_strided_``,
``t_``), operators torch tags ``pointwise``, ``view_copy`` or ``reduction``, and a list of
the remaining data-movement, normalization, pooling and resampling operators
(:func:`is_flop_free`). A formula is looked up first and always wins, so registering one
for a pointwise operator (``aten.gelu``) counts it, and its in-place variant, from then on.

Any operator that ran, has no formula and is not FLOP-free is reported in
``unsupported`` (``CostReport.unsupported_ops``), with the module that ran it
(``unsupported_by_module``, as fvcore's by-module report); the total is then a lower bound.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, flop_registry
from torch.utils.module_tracker import ModuleTracker

from effobj._validation import check_callable, refusal
from effobj.errors import InputError, InputTypeError

__all__ = [
    "FlopCounts",
    "count_flops",
    "flop_counter_mode",
    "flop_formulas",
    "is_flop_free",
    "register_flop_formula",
    "register_flop_free",
    "registry_version",
    "unregister_flop_op",
]

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


def _rnn_matrices_flop(input: Shape, weights: Sequence[Shape]) -> int:
    """A recurrent network's kernel: every token goes once through every weight matrix of
    every layer and direction (``W_ih``, ``W_hh`` and, for an LSTM with ``proj_size``,
    ``W_hr``); the bias vectors and the gates' pointwise work are not counted."""
    tokens = math.prod(input[:-1])  # [T, B, I], [B, T, I] or a packed [sum of lengths, I]
    return 2 * tokens * sum(math.prod(w) for w in weights if len(w) == 2)


def _cudnn_rnn_flop(input: Shape, weight: Sequence[Shape], *args: Any, **kwargs: Any) -> int:
    """``_cudnn_rnn`` / ``miopen_rnn``: the whole (multi-layer, bidirectional) RNN on the GPU."""
    return _rnn_matrices_flop(input, weight)


def _mkldnn_rnn_layer_flop(input: Shape, weight0: Shape, weight1: Shape, *args: Any, **kwargs: Any) -> int:
    """``mkldnn_rnn_layer``: one layer and direction of ``nn.LSTM`` on the CPU (``W_ih``, ``W_hh``)."""
    return _rnn_matrices_flop(input, (weight0, weight1))


def _cudnn_rnn_backward_flop(input: Shape, weight: Sequence[Shape], *args: Any, **kwargs: Any) -> int:
    """Backward of a recurrent kernel: the data gradient through every weight matrix and the
    weight gradient, each one forward's matmuls."""
    return 2 * _rnn_matrices_flop(input, weight)


def _mkldnn_rnn_layer_backward_flop(input: Shape, weight1: Shape, weight2: Shape, *args: Any,
                                    **kwargs: Any) -> int:
    return 2 * _rnn_matrices_flop(input, (weight1, weight2))


def _lstm_mps_flop(input: Shape, hx: Any, params: Sequence[Shape], *args: Any, **kwargs: Any) -> int:
    return _rnn_matrices_flop(input, params)


def _trilinear_flop(i1: Shape, i2: Shape, i3: Shape, expand1: Sequence[int], expand2: Sequence[int],
                    expand3: Sequence[int], *args: Any, **kwargs: Any) -> int:
    """``nn.Bilinear``'s kernel ``y_k = x_1^T W_k x_2``: one multiply-add per element of the
    broadcast product of the three operands, ``N * out * in1 * in2`` for ``nn.Bilinear``
    (the matmul of the ``in1 * in2`` outer products with the flattened weight)."""
    def unsqueezed(shape: Shape, expand: Sequence[int]) -> list[int]:
        full = list(shape)
        for dim in sorted(expand):
            full.insert(dim, 1)
        return full

    dims = zip(unsqueezed(i1, expand1), unsqueezed(i2, expand2), unsqueezed(i3, expand3), strict=True)
    return 2 * math.prod(max(d) for d in dims)


_quantized_linear_flop._get_raw = True  # type: ignore[attr-defined]
_quantized_conv_flop._get_raw = True  # type: ignore[attr-defined]


def _conv_backward_flop(grad_out_shape: Shape, x_shape: Shape, w_shape: Shape, _bias: Any,
                        _stride: Any, _padding: Any, _dilation: Any, transposed: bool,
                        _output_padding: Any, groups: int, output_mask: Sequence[bool],
                        out_shape: Any = None, **kwargs: Any) -> int:
    """torch's ``conv_backward_flop`` with the weight-gradient term divided by ``groups``
    (torch counts it as a dense convolution, ``groups`` times too high)."""
    def t(shape: Shape) -> list[int]:
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:  # grad_input: a (transposed) convolution of grad_out with w
        flops += conv_flop_count(list(grad_out_shape), list(w_shape), list(out_shape[0]),
                                 not transposed)
    if output_mask[1]:  # grad_weight: each group convolves only its own channels
        gw = list(out_shape[1])
        if transposed:
            dense = conv_flop_count(t(grad_out_shape), t(x_shape), t(gw), False)
        else:
            dense = conv_flop_count(t(x_shape), t(grad_out_shape), t(gw), False)
        flops += dense // max(int(groups), 1)
    return int(flops)


#: formulas effobj adds where torch has none (aten operator name -> shape formula)
_ADDED: dict[str, Callable[..., int]] = {
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
    "_trilinear": _trilinear_flop,
    "_cudnn_rnn": _cudnn_rnn_flop,
    "miopen_rnn": _cudnn_rnn_flop,
    "mkldnn_rnn_layer": _mkldnn_rnn_layer_flop,
    "_lstm_mps": _lstm_mps_flop,
    "_cudnn_rnn_backward": _cudnn_rnn_backward_flop,
    "miopen_rnn_backward": _cudnn_rnn_backward_flop,
    "mkldnn_rnn_layer_backward": _mkldnn_rnn_layer_backward_flop,
}
#: the same for the quantized kernels (their formulas read the packed weights)
_ADDED_QUANTIZED: dict[str, Callable[..., int]] = {
    "linear": _quantized_linear_flop, "linear_dynamic": _quantized_linear_flop,
    "linear_relu": _quantized_linear_flop, "linear_relu_dynamic": _quantized_linear_flop,
    "conv2d": _quantized_conv_flop, "conv2d_relu": _quantized_conv_flop,
}
#: torch's formulas effobj replaces because they are wrong
_CORRECTED: dict[Any, Callable[..., int]] = {aten.convolution_backward: _conv_backward_flop}


@lru_cache(maxsize=1)
def _builtin_formulas() -> dict[Any, Callable[..., int]]:
    """effobj's own formulas: those torch lacks (only for operators this torch has), and
    the corrections, which win over torch's."""
    out: dict[Any, Callable[..., int]] = {}
    for name, formula in _ADDED.items():
        packet = getattr(aten, name, None)
        if packet is not None and packet not in flop_registry:
            out[packet] = formula
    for name, formula in _ADDED_QUANTIZED.items():
        try:
            packet = getattr(torch.ops.quantized, name)
        except (AttributeError, RuntimeError):  # a build without quantized kernels
            continue
        if packet not in flop_registry:
            out[packet] = formula
    out.update(_CORRECTED)
    return out


# ---------------------------------------------------------------------------- convention
#: aten operators that carry no multiply-adds by convention and that torch's tags do not
#: mark (:func:`is_flop_free` recognizes views, in-place metadata changes and operators
#: tagged pointwise, view_copy or reduction without a list; in-place and ``.out`` variants
#: follow their functional operator, so only functional names are listed).
_FLOP_FREE: frozenset[str] = frozenset(
    """
    _to_copy to copy contiguous _unsafe_view lift_fresh detach alias _reshape_alias
    empty empty_like empty_strided empty_permuted new_empty new_empty_strided new_zeros new_ones
    new_full zeros zeros_like ones ones_like full full_like fill zero arange linspace
    scalar_tensor rand rand_like randn randn_like randint uniform normal bernoulli native_dropout
    dropout
    cat stack select_scatter index_put _index_put_impl _unsafe_index_put index index_select
    _unsafe_index gather scatter scatter_add scatter_reduce index_add index_copy index_fill
    masked_select embedding embedding_dense_backward embedding_renorm _embedding_bag _embedding_bag_forward_only
    embedding_bag masked_scatter roll flip repeat repeat_interleave tile unsafe_split
    unsafe_split_with_sizes unsafe_chunk constant_pad_nd reflection_pad1d reflection_pad2d
    reflection_pad3d replication_pad1d replication_pad2d replication_pad3d _local_scalar_dense
    nonzero sort topk median nanmedian kthvalue cumsum cumprod cummax cummin logcumsumexp
    native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training
    _native_batch_norm_legit_functional _batch_norm_no_update _batch_norm_with_update
    _batch_norm_with_update_functional native_layer_norm native_group_norm _fused_rms_norm
    rms_norm _softmax _safe_softmax _log_softmax _masked_softmax softmax log_softmax
    hardswish _prelu_kernel log_sigmoid_forward glu rrelu_with_noise _add_relu
    _thnn_fused_lstm_cell _thnn_fused_gru_cell _transform_bias_rescale_qkv
    max_pool1d max_pool2d_with_indices max_pool3d_with_indices fractional_max_pool2d
    fractional_max_pool3d max_unpool2d max_unpool3d avg_pool1d avg_pool2d avg_pool3d
    _adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d
    adaptive_max_pool3d upsample_nearest1d upsample_nearest2d upsample_nearest3d
    _upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d upsample_linear1d
    upsample_bilinear2d upsample_bicubic2d upsample_trilinear3d _upsample_bilinear2d_aa
    _upsample_bicubic2d_aa grid_sampler_2d grid_sampler_3d
    pixel_shuffle pixel_unshuffle channel_shuffle native_channel_shuffle im2col col2im bucketize
    searchsorted _unique2 unique_dim unique_consecutive one_hot tril triu diag_embed
    _assert_async _assert_tensor_metadata _functional_assert_async sym_constrain_range_for_size
    _weight_norm_interface quantize_per_tensor quantize_per_channel dequantize
    _empty_affine_quantized _empty_per_channel_affine_quantized q_scale q_zero_point int_repr
    _make_per_tensor_quantized_tensor _make_per_channel_quantized_tensor
    """.split()
)

#: flop-free operators of the ``quantized`` namespace (elementwise, pooling, data movement)
_QUANTIZED_FLOP_FREE: frozenset[str] = frozenset(
    "add add_relu add_scalar mul mul_relu mul_scalar cat cat_relu relu6 leaky_relu sigmoid hardswish "
    "batch_norm2d layer_norm max_pool2d adaptive_avg_pool2d".split()
)


#: tags of operators that carry no multiply-adds by convention: elementwise, copies of
#: views, reductions (``sum``, ``mean``, ``amax``, ``var``, ...)
_FLOP_FREE_TAGS = (torch.Tag.pointwise, torch.Tag.view_copy, torch.Tag.reduction)


def _namespace(packet: Any) -> Any:
    namespace = getattr(packet, "_qualified_op_name", "").partition("::")[0]
    return getattr(torch.ops, namespace, None) if namespace else None


@cache
def _functional(packet: Any) -> Any:
    """The functional operator of an in-place variant (``aten.relu_`` -> ``aten.relu``:
    torch names an in-place variant as its functional operator with a trailing ``_`` and
    tags it ``inplace``, or ``inplace_view`` when it changes only sizes and strides);
    ``packet`` itself otherwise. (``.out`` overloads belong to their functional packet.)"""
    name = getattr(packet, "__name__", "")
    if not name.endswith("_") or name.endswith("__"):
        return packet
    tags = {tag for overload in packet.overloads() for tag in getattr(packet, overload).tags}
    if torch.Tag.inplace not in tags and torch.Tag.inplace_view not in tags:
        return packet
    try:
        functional = getattr(_namespace(packet), name[:-1], None)
    except (AttributeError, RuntimeError):
        functional = None
    return functional if functional is not None else packet


@cache
def _inplace_variant(packet: Any) -> Any:
    """The in-place variant of a functional operator (``aten.addmm`` -> ``aten.addmm_``), or None."""
    name = getattr(packet, "__name__", "")
    try:
        variant = getattr(_namespace(packet), name + "_", None) if name else None
    except (AttributeError, RuntimeError):
        variant = None
    return variant if variant is not None and _functional(variant) is packet else None


@cache
def _forward(packet: Any) -> Any:
    """The forward operator of a backward one (``aten.hardswish_backward`` ->
    ``aten.hardswish``, ``aten._softmax_backward_data`` -> ``aten._softmax``), or None."""
    name = getattr(packet, "__name__", "")
    for suffix in ("_backward", "_backward_data"):
        if name.endswith(suffix) and len(name) > len(suffix):
            try:
                return getattr(_namespace(packet), name[: -len(suffix)], None)
            except (AttributeError, RuntimeError):
                return None
    return None


@cache
def _tagged_flop_free(packet: Any) -> bool:
    """Whether one of the functional overloads of ``packet`` is a view or is tagged
    pointwise, view_copy or reduction by torch (in-place and ``.out`` overloads carry other
    tags, or none)."""
    for overload in packet.overloads():
        op = getattr(packet, overload)
        if not op._schema.is_mutable and (op.is_view or any(tag in op.tags for tag in _FLOP_FREE_TAGS)):
            return True
    return False


# ---------------------------------------------------------------------------- the registry
_lock = threading.Lock()
_user_formulas: dict[Any, Callable[..., int]] = {}  # operator packet -> formula
_user_flop_free: set[str] = set()  # qualified names, "aten::cdist"
_version = 0  # bumped on every change, so that cached profiles of older counts are not served


def _packet(op: Any, where: str) -> Any:
    """The operator packet of an ``OpOverloadPacket``, an ``OpOverload`` or a name such as
    ``"aten.cdist"`` / ``"aten::cdist"`` (how ``unsupported_ops`` prints it)."""
    if isinstance(op, str):
        namespace, sep, name = op.partition("::") if "::" in op else op.partition(".")
        try:
            packet = getattr(getattr(torch.ops, namespace), name) if sep and name else None
        except (AttributeError, RuntimeError):
            packet = None
        if packet is None:
            raise refusal("op", where, "name an operator torch has, such as 'aten.cdist' or "
                          "'aten::cdist'", repr(op))
        return packet
    packet = getattr(op, "_overloadpacket", op)
    if not hasattr(packet, "_qualified_op_name"):
        raise refusal("op", where, "be a torch operator (torch.ops.aten.cdist) or its name "
                      "('aten.cdist')", type(op).__name__, error=InputTypeError)
    return packet


def register_flop_formula(op: Any, formula: Callable[..., int] | None = None, *, raw: bool = False,
                          override: bool = False) -> Any:
    """Count operator ``op`` with ``formula`` in every count effobj makes.

    :func:`~effobj.profiler.profile_model`, :func:`count_flops` and
    :func:`flop_counter_mode` (training FLOPs of ``effobj.spaces``) use it from then on;
    torch's global registry is left untouched. Usable as a decorator
    (``@register_flop_formula("aten.cdist")``).

    Args:
        op: The operator: ``torch.ops.aten.cdist``, an overload of it, or its name
            (``"aten.cdist"``, as ``unsupported_ops`` prints it, or ``"aten::cdist"``).
        formula: Returns the FLOPs (2 per multiply-add) of one call. It receives the
            operator's arguments with every tensor replaced by its shape, and the output's
            shape as ``out_shape`` (torch's ``register_flop_formula`` convention); with
            ``raw=True``, the arguments themselves and the output as ``out_val``.
        raw: Pass tensors rather than shapes (for weights hidden in packed parameters).
        override: Replace a formula torch or effobj already has (refused otherwise).

    Returns:
        ``formula`` (or, without it, a decorator that registers its function).

    Raises:
        InputError: ``op`` is not an operator, or already has a formula and not ``override``.

    Example:
        >>> import torch
        >>> from effobj.profiler import count_flops, register_flop_formula, unregister_flop_op
        >>> def cdist_flop(x1, x2, *args, out_shape=None, **kwargs):
        ...     return 3 * x1[-2] * x2[-2] * x1[-1]   # a difference, a square, an add per element
        >>> _ = register_flop_formula("aten._cdist_forward", cdist_flop)
        >>> with count_flops() as c:
        ...     _ = torch.cdist(torch.ones(4, 8), torch.ones(10, 8))
        >>> c.flops, c.unsupported
        (960, ())
        >>> unregister_flop_op("aten._cdist_forward")
    """
    where = "register_flop_formula"
    packet = _packet(op, where)
    if formula is None:
        return lambda fn: register_flop_formula(packet, fn, raw=raw, override=override)
    check_callable(formula, "formula", where)
    if not override and (packet in flop_registry or packet in _builtin_formulas()
                         or packet in _user_formulas):
        raise InputError(f"The operator {packet} given to {where} already has a FLOP formula; "
                         "pass override=True to replace it.")
    if raw:
        formula = _raw(formula)
    _change(lambda: _user_formulas.__setitem__(packet, formula))
    return formula


def register_flop_free(*ops: Any) -> None:
    """Count ``ops`` as carrying no FLOPs, by your convention, so that they are no longer
    listed in ``unsupported_ops`` (a formula, torch's or a registered one, still wins).

    Args:
        ops: Operators or their names, as for :func:`register_flop_formula`.
    """
    names = [_packet(op, "register_flop_free")._qualified_op_name for op in ops]
    _change(lambda: _user_flop_free.update(names))


def unregister_flop_op(op: Any) -> None:
    """Forget what :func:`register_flop_formula` or :func:`register_flop_free` said of ``op``."""
    packet = _packet(op, "unregister_flop_op")

    def forget() -> None:
        _user_formulas.pop(packet, None)
        _user_flop_free.discard(packet._qualified_op_name)

    _change(forget)


def _change(edit: Callable[[], object]) -> None:
    global _version
    with _lock:
        edit()
        _version += 1


def _raw(formula: Callable[..., int]) -> Callable[..., int]:
    def raw(*args: Any, **kwargs: Any) -> int:
        return formula(*args, **kwargs)

    raw._get_raw = True  # type: ignore[attr-defined]  # FlopCounterMode's flag for "no shape_wrapper"
    return raw


def registry_version() -> int:
    """A number that changes whenever a formula or a flop-free operator is registered."""
    return _version


def flop_formulas() -> dict[Any, Callable[..., int]]:
    """The formulas effobj counts with on top of torch's registry: its own (those torch
    lacks, and the corrections of torch's wrong ones) and the registered ones, which win;
    an in-place variant without a formula of its own is counted with its functional
    operator's (``aten.addmm_`` as ``aten.addmm``; ``.out`` overloads share their
    operator's packet, hence its formula).

    Returns:
        A new dict, operator packet -> formula, for ``FlopCounterMode(custom_mapping=...)``.
    """
    with _lock:
        own = {**_builtin_formulas(), **_user_formulas}
    out = dict(own)
    for packet in {*flop_registry, *own}:
        variant = _inplace_variant(packet)
        if variant is None or variant in flop_registry or variant in own:
            continue
        # torch's registered formulas already take tensors and convert them to shapes
        out[variant] = own[packet] if packet in own else _raw(flop_registry[packet])
    return out


def flop_counter_mode() -> FlopCounterMode:
    """torch's ``FlopCounterMode(display=False)`` with effobj's registry (see :func:`flop_formulas`).

    For counts torch's API gives (``get_total_flops``, ``get_flop_counts``), such as the
    FLOPs of a training step (forward and backward); :func:`count_flops` adds the
    operators that ran without a formula, and where.
    """
    return FlopCounterMode(display=False, custom_mapping=flop_formulas())


def is_flop_free(op: Any) -> bool:
    """Whether an operator carries no multiply-adds by convention, or by :func:`register_flop_free`.

    The rule, in order: a view or an in-place change of sizes and strides only (torch's
    ``inplace_view`` tag: ``as_strided_``, ``t_``, ``unsqueeze_``) is free; an in-place
    variant is judged as its functional operator (``hardswish_`` as ``hardswish``), and an
    ``.out`` overload as its operator, and a backward operator (``X_backward``,
    ``X_backward_data``) as its forward ``X`` unless ``X`` has a formula; an operator is
    free when it is registered free,
    is a ``prim``, is tagged ``pointwise``, ``view_copy`` or ``reduction`` by torch, or
    is in effobj's list of the remaining data-movement, normalization, pooling and
    resampling operators. A formula (torch's, effobj's or a registered one, found the same
    way for in-place variants) is looked up first and always wins: this only decides what
    an operator without one is.

    Args:
        op: An ``OpOverload`` as seen by a ``TorchDispatchMode`` (or an operator packet).
    """
    if getattr(op, "is_view", False):
        return True
    tags = getattr(op, "tags", ())
    if torch.Tag.inplace_view in tags or any(tag in tags for tag in _FLOP_FREE_TAGS):
        return True  # inplace_view: changes sizes and strides only
    own = getattr(op, "_overloadpacket", op)
    if getattr(own, "_qualified_op_name", "") in _user_flop_free:
        return True
    packet = _functional(own)
    if _packet_flop_free(packet):
        return True
    # the backward of a forward that has a formula (a registered one for ``gelu``) costs too
    forward = _forward(packet)
    return (forward is not None and _packet_flop_free(forward)
            and not (forward in flop_registry or forward in _builtin_formulas() or forward in _user_formulas))


def _packet_flop_free(packet: Any) -> bool:
    """:func:`is_flop_free`'s rule for a functional operator packet."""
    qualified = getattr(packet, "_qualified_op_name", "")
    namespace, _, name = qualified.partition("::")
    if namespace == "prim" or qualified in _user_flop_free:
        return True
    if hasattr(packet, "overloads") and _tagged_flop_free(packet):
        return True
    if namespace == "quantized":
        return name in _QUANTIZED_FLOP_FREE
    return namespace == "aten" and name in _FLOP_FREE


# ---------------------------------------------------------------------------- counting
@dataclass
class FlopCounts:
    """What one counted block of code yields (as fvcore's ``FlopCountAnalysis`` reports it).

    Module paths start with the root module's class name (``"ResNet.layer1.0.conv1"``);
    code run outside any module is ``"Global"``.

    Attributes:
        flops: Total FLOPs (2 per multiply-add).
        by_module: FLOPs per module path (parents include children).
        by_op: FLOPs per operator name.
        by_module_op: FLOPs per module path, then per operator name.
        unsupported: Operators that ran without a formula and are not FLOP-free.
        unsupported_by_module: Where they ran: the innermost module path, then the operator
            name and how many calls it made there.
    """

    flops: int = 0
    by_module: dict[str, int] = field(default_factory=dict)
    by_op: dict[str, int] = field(default_factory=dict)
    by_module_op: dict[str, dict[str, int]] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()
    unsupported_by_module: dict[str, dict[str, int]] = field(default_factory=dict)


class _OpLog(TorchDispatchMode):
    """Records the operators that really execute (below FlopCounterMode's decompositions),
    each with the innermost module running it and how often."""

    def __init__(self, modules: ModuleTracker) -> None:
        super().__init__()
        self.modules = modules
        self.calls: Counter[tuple[Any, str]] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls[func, max(self.modules.parents, key=_depth)] += 1
        return func(*args, **(kwargs or {}))


def _depth(path: str) -> tuple[int, str]:
    """Order module paths innermost last ("Global" is the outermost)."""
    return (-1 if path == "Global" else path.count("."), path)


@contextmanager
def count_flops() -> Iterator[FlopCounts]:
    """Count the FLOPs of everything run inside the block (works on real and meta tensors).

    Yields a :class:`FlopCounts` that is filled in when the block exits without error.

    Example:
        >>> import torch
        >>> from effobj.profiler import count_flops
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
        >>> with count_flops() as c:
        ...     _ = torch.cdist(net(torch.ones(2, 4)), torch.ones(5, 3))
        >>> c.flops, c.by_module
        (48, {'Sequential': 48, 'Sequential.0': 48})
        >>> c.unsupported, c.unsupported_by_module
        (('aten._cdist_forward',), {'Global': {'aten._cdist_forward': 1}})
    """
    result = FlopCounts()
    counter = flop_counter_mode()
    log = _OpLog(counter.mod_tracker)
    with log, counter:
        yield result
    counts = counter.get_flop_counts()
    result.flops = int(counter.get_total_flops())
    result.by_module_op = {
        name: {str(op): int(n) for op, n in ops.items()} for name, ops in counts.items()
        if name != "Global"
    }
    result.by_module = {name: sum(ops.values()) for name, ops in result.by_module_op.items()}
    result.by_op = {str(op): int(n) for op, n in counts.get("Global", {}).items()}
    registry = counter.flop_registry
    where: dict[str, dict[str, int]] = {}
    for (op, module), calls in sorted(log.calls.items(), key=lambda kv: (kv[0][1], str(kv[0][0]))):
        packet = getattr(op, "_overloadpacket", op)
        if packet not in registry and not is_flop_free(op):
            ops = where.setdefault(module, {})
            ops[str(packet)] = ops.get(str(packet), 0) + calls
    result.unsupported_by_module = where
    result.unsupported = tuple(sorted({op for ops in where.values() for op in ops}))
