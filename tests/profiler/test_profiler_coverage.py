"""Operator coverage: common architectures, written by hand, report no unsupported operator
and count what hand formulas give, on the meta pass and on a real pass; in-place, ``.out``
and backward variants follow their functional operator's formula or convention."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import reference_models as R
import torch
import torch.nn.functional as F
from torch import nn

from effobj.profiler import (
    count_flops,
    is_flop_free,
    profile_model,
    register_flop_formula,
    register_flop_free,
    unregister_flop_op,
)
from effobj.profiler._flops import (
    _FLOP_FREE,
    _FLOP_FREE_TAGS,
    _functional,
    _inplace_variant,
    flop_formulas,
)

aten = torch.ops.aten


# ---------------------------------------------------------------------------- the models
class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)), inplace=True)
        return x * F.hardsigmoid(self.fc2(w), inplace=True)


class MobileNetV3Block(nn.Module):
    """Inverted residual of MobileNetV3: 1x1 expand, depthwise 3x3, squeeze-excite, 1x1 project."""

    def __init__(self, c: int = 16, e: int = 64) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e), nn.Hardswish(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(e, e, 3, 1, 1, groups=e, bias=False), nn.BatchNorm2d(e),
                                nn.Hardswish(inplace=True))
        self.se = SqueezeExcite(e)
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.se(self.dw(self.expand(x))))


class CausalSelfAttention(nn.Module):
    """A GPT-style block's attention: one qkv projection and ``F.scaled_dot_product_attention``."""

    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads, self.qkv, self.out = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class SwinBlock(nn.Module):
    """Shifted-window attention (Swin): roll, window partition by view/permute, MHA per window, MLP."""

    def __init__(self, d: int = 32, heads: int = 4, window: int = 4) -> None:
        super().__init__()
        self.w = window
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w_, c = x.shape
        w = self.w
        y = torch.roll(self.norm1(x), (-(w // 2), -(w // 2)), (1, 2))
        y = y.view(b, h // w, w, w_ // w, w, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, w * w, c)
        y, _ = self.attn(y, y, y, need_weights=False)
        y = y.view(b, h // w, w_ // w, w, w, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w_, c)
        x = x + torch.roll(y, (w // 2, w // 2), (1, 2))
        return x + self.mlp(self.norm2(x))


class Recurrent(nn.Module):
    """An LSTM or GRU over a sequence (the output alone, as a classifier's trunk uses it)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class Cells(nn.Module):
    """``nn.LSTMCell`` and ``nn.GRUCell`` stepped by hand over a sequence."""

    def __init__(self, i: int = 8, h: int = 16) -> None:
        super().__init__()
        self.lstm, self.gru = nn.LSTMCell(i, h), nn.GRUCell(i, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx = cx = gx = None
        for t in range(x.shape[1]):
            hx, cx = self.lstm(x[:, t], None if hx is None else (hx, cx))
            gx = self.gru(x[:, t], gx)
        return torch.cat([hx, gx], 1)


class Extras(nn.Module):
    """Common layers around the matmuls: GroupNorm, SiLU, pooling, interpolation, flatten,
    in-place ReLU, dropout, embedding, cat/stack, BatchNorm1d, GELU, LayerNorm, Bilinear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.gn = nn.Conv2d(4, 8, 3, padding=1), nn.GroupNorm(2, 8)
        self.fc, self.drop = nn.Linear(32, 16), nn.Dropout(0.1)
        self.emb, self.bn, self.ln = nn.Embedding(100, 16), nn.BatchNorm1d(16), nn.LayerNorm(16)
        self.bilinear = nn.Bilinear(16, 16, 4)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(F.silu(self.gn(self.conv(x))), 2)                       # 8 x 4 x 4
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)  # 8 x 8 x 8
        y = F.avg_pool2d(F.interpolate(y, scale_factor=0.5, mode="nearest"), 2)   # 8 x 2 x 2
        y = self.drop(F.relu(self.fc(torch.flatten(y, 1)), inplace=True))
        e = self.emb(ids).mean(1)
        z = torch.stack([y, e], 0).sum(0)
        z = F.gelu(self.bn(self.ln(torch.cat([z, e], 1)[:, :16])))
        return self.bilinear(z, e)


class RealPass(nn.Module):
    """Reads a value in forward, so it cannot run on meta: the profiler counts a real pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        assert bool(x.float().abs().sum() >= 0)
        return self.inner(x, *rest)


# ---------------------------------------------------------------------------- hand counts (MACs)
def _conv_block_macs(n: int = 2, cin: int = 16, planes: int = 32, hw: int = 8) -> int:
    """``R.BasicBlock(16, 32, stride=2)`` on 16x16: two 3x3 convolutions and a 1x1 downsample."""
    return n * hw * hw * (planes * cin * 9 + planes * planes * 9 + planes * cin)


def _bottleneck_macs(n: int = 2, cin: int = 64, planes: int = 16, hw: int = 8) -> int:
    return n * hw * hw * (planes * cin + planes * planes * 9 + 4 * planes * planes)


def _mbv3_macs(n: int = 2, c: int = 16, e: int = 64, hw: int = 8) -> int:
    """1x1 expand, depthwise 3x3 (one input channel per output), SE's two 1x1 on 1x1, 1x1 project."""
    return n * (hw * hw * (e * c + e * 9 + c * e) + 2 * e * (e // 4))


def _encoder_macs(n: int = 2, length: int = 10, d: int = 32, ff: int = 64) -> int:
    """q/k/v and output projections, attention (QK^T and AV), the two FFN matmuls."""
    return n * length * (4 * d * d + 2 * d * ff) + n * 2 * length * length * d


def _causal_attention_macs(n: int = 2, length: int = 10, d: int = 32) -> int:
    return n * length * 4 * d * d + n * 2 * length * length * d  # attention counted dense


def _swin_macs(n: int = 2, hw: int = 8, d: int = 32, window: int = 4) -> int:
    tokens, windows = n * hw * hw, n * (hw // window) ** 2
    return tokens * 4 * d * d + windows * 2 * window**4 * d + tokens * 2 * d * 2 * d


def _rnn_macs(gates: int, i: int, h: int, layers: int, tokens: int, directions: int = 1,
              proj: int = 0) -> int:
    """Per token, layer and direction: ``gates*h x (d_in + d_h)`` (and the ``h x proj`` projection)."""
    out = proj or h
    macs = 0
    for layer in range(layers):
        d_in = i if layer == 0 else directions * out
        macs += directions * (gates * h * (d_in + out) + (proj * h if proj else 0))
    return tokens * macs


def _cells_macs(n: int = 3, steps: int = 5, i: int = 8, h: int = 16) -> int:
    return n * steps * (4 * h * (i + h) + 3 * h * (i + h))


def _extras_macs(n: int = 2) -> int:
    conv = n * 8 * 4 * 9 * 8 * 8
    return conv + n * 32 * 16 + n * 4 * 16 * 16  # fc, bilinear (out x in1 x in2 per sample)


Case = tuple[Callable[[], nn.Module], Callable[[], tuple[torch.Tensor, ...]], int]
ARCHITECTURES: dict[str, Case] = {
    "resnet_basic_block": (lambda: R.BasicBlock(16, 32, 2), lambda: (torch.randn(2, 16, 16, 16),),
                           _conv_block_macs()),
    "resnet_bottleneck": (lambda: R.Bottleneck(64, 16), lambda: (torch.randn(2, 64, 8, 8),), _bottleneck_macs()),
    "mobilenet_v3_block": (MobileNetV3Block, lambda: (torch.randn(2, 16, 8, 8),), _mbv3_macs()),
    "transformer_encoder": (lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
                            lambda: (torch.randn(2, 10, 32),), _encoder_macs()),
    "transformer_encoder_gelu_pre_norm": (
        lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu", norm_first=True),
        lambda: (torch.randn(2, 10, 32),), _encoder_macs()),
    "causal_sdpa": (CausalSelfAttention, lambda: (torch.randn(2, 10, 32),), _causal_attention_macs()),
    "swin_window_attention": (SwinBlock, lambda: (torch.randn(2, 8, 8, 32),), _swin_macs()),
    "lstm_2_layers": (lambda: Recurrent(nn.LSTM(8, 16, num_layers=2, batch_first=True)),
                      lambda: (torch.randn(3, 5, 8),), _rnn_macs(4, 8, 16, 2, 15)),
    "lstm_bidirectional_proj": (lambda: Recurrent(nn.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4)),
                                lambda: (torch.randn(5, 3, 8),), _rnn_macs(4, 8, 16, 2, 15, 2, 4)),
    "gru": (lambda: Recurrent(nn.GRU(8, 16, num_layers=2, batch_first=True)), lambda: (torch.randn(3, 5, 8),),
            _rnn_macs(3, 8, 16, 2, 15)),
    "gru_bidirectional": (lambda: Recurrent(nn.GRU(8, 16, bidirectional=True)), lambda: (torch.randn(5, 3, 8),),
                          _rnn_macs(3, 8, 16, 1, 15, 2)),
    "rnn_tanh": (lambda: Recurrent(nn.RNN(8, 16)), lambda: (torch.randn(5, 3, 8),), _rnn_macs(1, 8, 16, 1, 15)),
    "lstm_gru_cells": (Cells, lambda: (torch.randn(3, 5, 8),), _cells_macs()),
    "extras": (Extras, lambda: (torch.randn(2, 4, 8, 8), torch.randint(0, 100, (2, 5))), _extras_macs()),
}


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_common_architectures_report_no_unsupported_operator(name: str) -> None:
    """The meta pass (the profiler's count) and a real CPU pass (which runs other kernels:
    the fused MHA/encoder fast paths, ``mkldnn_rnn_layer`` for the LSTM) agree with the hand count."""
    factory, inputs, hand_macs = ARCHITECTURES[name]
    torch.manual_seed(0)
    model, x = factory(), inputs()
    meta = profile_model(model, x, latency=False, cache=False)
    real = profile_model(RealPass(model), x, latency=False, cache=False)
    assert meta.count_device == "meta" and real.count_device == "cpu"
    for report in (meta, real):
        assert report.unsupported_ops == () and report.unsupported_by_module == {}, report.unsupported_by_module
        assert report.macs == hand_macs, (report.count_device, report.macs, hand_macs, report.flops_by_op)


@pytest.mark.parametrize("name", ["mobilenet_v3_block", "transformer_encoder", "swin_window_attention",
                                  "lstm_2_layers", "gru", "extras"])
def test_a_counted_training_step_lists_no_operator(name: str) -> None:
    """The backward of a flop-free operator is flop-free; the recurrent kernels' backward is counted."""
    factory, inputs, hand_macs = ARCHITECTURES[name]
    model = factory().train()
    with count_flops() as c:
        out = model(*inputs())
        out.float().sum().backward()
    assert c.unsupported == ()
    assert c.flops > 2 * 2 * hand_macs  # forward plus at least the weight gradients


def test_lstm_kernel_of_a_real_cpu_pass_is_counted_like_its_decomposition() -> None:
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
    x = torch.randn(3, 5, 8)
    with torch.inference_mode(), count_flops() as c:
        lstm(x)
    # the count is right whichever kernel the build runs; the pinned CPU torch runs mkldnn's
    assert c.flops == 2 * _rnn_macs(4, 8, 16, 2, 15) and c.unsupported == ()
    assert "aten.mkldnn_rnn_layer" in c.by_op, sorted(c.by_op)
    with count_flops() as train:
        lstm(x.requires_grad_())[0].sum().backward()
    assert train.by_op["aten.mkldnn_rnn_layer_backward"] == 2 * c.flops


def test_cudnn_rnn_kernel_is_counted_on_meta() -> None:
    """The GPU kernel of nn.LSTM/nn.GRU (``_cudnn_rnn``, all layers and directions in one call)."""
    lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4, device="meta")
    x = torch.empty(5, 3, 8, device="meta")
    h, cell = torch.empty(4, 3, 4, device="meta"), torch.empty(4, 3, 16, device="meta")
    with count_flops() as c:
        aten._cudnn_rnn(x, lstm._flat_weights, 5, None, h, cell, 2, 16, 4, 2, False, 0.0, False, True, [], None)
    assert c.flops == 2 * _rnn_macs(4, 8, 16, 2, 15, 2, 4) and c.unsupported == ()


def test_bilinear_is_counted_as_one_multiply_add_per_weight_and_sample() -> None:
    layer = nn.Bilinear(6, 5, 3)
    with count_flops() as c:
        layer(torch.randn(4, 6), torch.randn(4, 5))
    assert c.by_op == {"aten._trilinear": 2 * 4 * 3 * 6 * 5} and c.unsupported == ()


def test_inplace_zero_cost_operators_are_not_unsupported() -> None:
    """The false alarms of the issue: ``hardswish_``, ``as_strided_`` and their kind."""
    x = torch.randn(4, 6)
    with count_flops() as c:
        F.hardswish(x, inplace=True)
        x.as_strided_((6, 4), (1, 6))
        x.t_().unsqueeze_(0).squeeze_(0).transpose_(0, 1)
        F.threshold(x.abs_().cumsum_(0).tril_(), 0.1, 0.0, inplace=True)
        F.mish(x, inplace=True)
        F.relu6(x, inplace=True)
        F.dropout(x, 0.5, training=True, inplace=True)
        x.ge_(0)
    assert c.unsupported == () and c.flops == 0


@pytest.mark.parametrize("op", [
    aten.hardswish_.default, aten.as_strided_.default, aten.mish_.default, aten.threshold_.default,
    aten.cumsum_.default, aten.relu.out, aten.add.out, aten.hardswish.out, aten.sum.IntList_out,
    aten.hardswish_backward.default, aten.native_layer_norm_backward.default,
    aten._softmax_backward_data.default, aten.select_backward.default,
])
def test_inplace_out_and_backward_variants_follow_their_functional_operator(op) -> None:
    assert is_flop_free(op), op


@pytest.mark.parametrize("op", [
    aten.addmm_.default, aten.mm.out, aten.baddbmm_.default, aten.convolution_backward.default,
    aten._cdist_forward.default, aten._cdist_backward.default, aten.mkldnn_rnn_layer_backward.default,
])
def test_operators_with_compute_are_never_free(op) -> None:
    assert not is_flop_free(op), op


def test_inplace_variant_of_an_operator_with_a_formula_uses_it() -> None:
    a, b, c3 = torch.randn(6, 5), torch.randn(5, 7), torch.randn(3, 6, 7)
    with count_flops() as c:
        torch.zeros(6, 7).addmm_(a, b)
        c3.baddbmm_(torch.randn(3, 6, 5), torch.randn(3, 5, 7))
        torch.mm(a, b, out=torch.empty(6, 7))
    assert c.by_op == {"aten.addmm_": 2 * 6 * 5 * 7, "aten.baddbmm_": 2 * 3 * 6 * 5 * 7, "aten.mm": 2 * 6 * 5 * 7}
    assert c.unsupported == ()


def test_every_inplace_variant_of_a_formula_has_it() -> None:
    """In general, not by a list: each operator with a formula lends it to its in-place variant."""
    from torch.utils.flop_counter import flop_registry

    formulas = flop_formulas()
    for packet in {*flop_registry, *formulas}:
        variant = _inplace_variant(packet)
        if variant is not None:
            assert variant in formulas or variant in flop_registry, variant
            assert _functional(variant) is packet


def test_every_inplace_variant_of_a_free_operator_is_free() -> None:
    names = {n.split("::")[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")}
    checked = 0
    for name in sorted(n for n in names if n.endswith("_") and not n.endswith("__")):
        variant = getattr(aten, name)
        functional = _functional(variant)
        if functional is variant:
            continue
        free = any(is_flop_free(getattr(functional, o)) for o in functional.overloads())
        for overload in variant.overloads():
            op = getattr(variant, overload)
            if torch.Tag.inplace in op.tags:
                # free like its functional operator; or free anyway when it changes only
                # sizes and strides (resize_, set_)
                assert is_flop_free(op) == (free or torch.Tag.inplace_view in op.tags), op
                checked += 1
    assert checked > 200


def test_a_formula_for_a_pointwise_operator_counts_its_inplace_and_out_variants() -> None:
    """Registering a cost for a pointwise operator (free by convention) counts it everywhere:
    the formula wins over the convention, for ``gelu``, ``gelu_`` and ``gelu.out``."""
    x = torch.randn(3, 4)
    register_flop_formula("aten.gelu", lambda self, *a, out_shape=None, **k: 8 * self[0] * self[1])
    try:
        with count_flops() as c:
            F.gelu(x)
            aten.gelu_(x.clone())
            aten.gelu.out(x, out=torch.empty(3, 4))
        assert c.by_op == {"aten.gelu": 2 * 96, "aten.gelu_": 96} and c.unsupported == ()
    finally:
        unregister_flop_op("aten.gelu")
    with count_flops() as c:
        aten.gelu_(x.clone())
    assert c.flops == 0 and c.unsupported == ()


def test_the_backward_of_an_operator_given_a_formula_is_not_free() -> None:
    """The backward of a free forward is free; once the forward has a cost, its backward is
    reported (it needs its own formula) rather than free by its forward's convention."""
    x = torch.randn(3, 4, requires_grad=True)
    with count_flops() as free:
        F.hardswish(x).sum().backward()
    assert free.unsupported == ()
    register_flop_formula("aten.hardswish", lambda self, *a, out_shape=None, **k: 5 * self[0] * self[1])
    try:
        assert not is_flop_free(aten.hardswish_backward.default)
        with count_flops() as counted:
            F.hardswish(x).sum().backward()
        assert counted.by_op == {"aten.hardswish": 60} and counted.unsupported == ("aten.hardswish_backward",)
    finally:
        unregister_flop_op("aten.hardswish")
    assert is_flop_free(aten.hardswish_backward.default)


def test_registering_a_functional_operator_free_frees_its_inplace_variant() -> None:
    x = torch.rand(2, 3, 4)
    with count_flops() as before:
        torch.renorm(x, 2, 0, 1.0)
        x.clone().renorm_(2, 0, 1.0)
    assert before.unsupported == ("aten.renorm", "aten.renorm_")
    register_flop_free("aten.renorm")
    try:
        with count_flops() as after:
            torch.renorm(x, 2, 0, 1.0)
            x.clone().renorm_(2, 0, 1.0)
        assert after.unsupported == ()
    finally:
        unregister_flop_op("aten.renorm")


def test_the_list_names_only_functional_operators_torch_does_not_tag() -> None:
    """Tags and the in-place rule cover the rest, so the hand list stays short and true."""
    for name in _FLOP_FREE:
        packet = getattr(aten, name, None)
        assert packet is not None, f"{name} is not an operator of this torch"
        assert _functional(packet) is packet, f"{name} is an in-place variant"
        tagged = [o for o in packet.overloads()
                  if any(tag in getattr(packet, o).tags for tag in _FLOP_FREE_TAGS)]
        assert not tagged, f"{name} is tagged {tagged}: the tag already makes it free"
