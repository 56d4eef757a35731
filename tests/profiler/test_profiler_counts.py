"""FLOP/MAC and parameter counts: the five reference models, the missing attention formulas, conventions."""

from __future__ import annotations

import math

import pytest
import reference_models as R
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from effobj.profiler import profile_model
from effobj.profiler._flops import count_flops, is_flop_free

IMAGE = (1, 3, 224, 224)
CASES = {
    "resnet18": (R.resnet18, IMAGE, torch.float32),
    "resnet50": (R.resnet50, IMAGE, torch.float32),
    "mobilenet_v2": (R.mobilenet_v2, IMAGE, torch.float32),
    "vit_tiny": (R.vit_tiny, IMAGE, torch.float32),
    "bert_base": (R.bert_base, (1, 128), torch.int64),
}


def _example(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype) if not dtype.is_floating_point else torch.randn(shape)


@pytest.mark.parametrize("name", list(CASES))
def test_reference_model_counts(name: str) -> None:
    factory, shape, dtype = CASES[name]
    with torch.device("meta"):  # counted on meta: no weights are allocated
        model = factory()
    report = profile_model(model, _example(shape, dtype), latency=False, cache=False)
    hand = getattr(R, f"{name}_macs")()
    published_params, published_macs = R.PUBLISHED[name]
    assert report.macs == hand, (report.macs, hand)
    assert abs(report.macs - published_macs) / published_macs < 0.01
    assert report.flops == 2 * report.macs
    assert report.n_params == (published_params if published_params is not None else R.BERT_BASE_PARAMS)
    assert report.unsupported_ops == ()
    assert report.count_device == "meta"
    assert report.peak_activation_bytes is not None and report.peak_activation_bytes > 0
    # the per-module breakdown adds up: the root module holds the total
    root = type(model).__name__
    assert report.flops_by_module[root] == report.flops


class DataDependent(nn.Module):
    """Reads a value in forward, so it cannot run on meta: the profiler must count a real pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.float().abs().sum() >= 0):
            return self.inner(x)
        return x


@pytest.mark.parametrize(
    ("factory", "shape", "dtype"),
    [
        (R.resnet18, (1, 3, 64, 64), torch.float32),
        (R.mobilenet_v2, (1, 3, 64, 64), torch.float32),
        (lambda: R.ViT(depth=1), IMAGE, torch.float32),
        (lambda: R.bert_base(depth=1), (1, 128), torch.int64),
    ],
    ids=["resnet18", "mobilenet_v2", "vit_1block", "bert_1layer"],
)
def test_real_pass_agrees_with_meta_pass(factory, shape, dtype) -> None:
    torch.manual_seed(0)
    model = factory()
    x = _example(shape, dtype)
    meta = profile_model(model, x, latency=False, cache=False)
    real = profile_model(DataDependent(model), x, latency=False, cache=False)
    assert meta.count_device == "meta" and real.count_device == "cpu"
    assert real.flops == meta.flops > 0
    assert real.unsupported_ops == ()
    assert real.peak_activation_bytes == meta.peak_activation_bytes


def test_cpu_sdpa_kernel_is_counted() -> None:
    q, k, v = torch.randn(2, 4, 16, 8), torch.randn(2, 4, 24, 8), torch.randn(2, 4, 24, 8)
    with count_flops() as c:
        out = F.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 4, 16, 8)
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in c.by_op
    assert c.flops == 2 * 2 * 4 * 16 * 24 * (8 + 8)
    # the same as torch's own count of the math path (explicit matmuls)
    with FlopCounterMode(display=False) as ref:
        torch.softmax(q @ k.transpose(-1, -2), -1) @ v
    assert c.flops == ref.get_total_flops()


def test_native_mha_fast_path_kernel_is_counted() -> None:
    mha = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(3, 5, 16)
    with count_flops() as slow:  # under a dispatch mode MHA takes its slow, decomposed path
        mha(x, x, x, need_weights=False)
    with torch.inference_mode(), count_flops() as fast:
        torch.ops.aten._native_multi_head_attention(
            x, x, x, 16, 2, mha.in_proj_weight, mha.in_proj_bias,
            mha.out_proj.weight, mha.out_proj.bias, None, False,
        )
    expected = 2 * (15 * 16 * 48 + 2 * 3 * 5 * 5 * 16 + 15 * 16 * 16)
    assert slow.flops == expected
    assert fast.flops == expected
    assert fast.unsupported == ()


def test_encoder_layer_fast_path_kernel_is_counted() -> None:
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True, dropout=0.0).eval()
    x = torch.randn(2, 7, 16)
    a, f1, f2 = layer.self_attn, layer.linear1, layer.linear2
    with torch.inference_mode(), count_flops() as fast:
        torch.ops.aten._transformer_encoder_layer_fwd(
            x, 16, 2, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight, a.out_proj.bias,
            False, False, 1e-5, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight,
            layer.norm2.bias, f1.weight, f1.bias, f2.weight, f2.bias, None, None,
        )
    with count_flops() as slow:
        layer(x)
    tokens = 14
    expected = 2 * (tokens * 16 * 48 + 2 * 2 * 7 * 7 * 16 + tokens * 16 * 16 + 2 * tokens * 16 * 32)
    assert slow.flops == expected
    assert fast.flops == expected


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_grouped_and_depthwise_convolution_formula(groups: int) -> None:
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=groups)
    with count_flops() as c:
        y = conv(torch.randn(2, 16, 9, 9))
    n, cout, h, w = y.shape
    assert c.flops == 2 * n * cout * (16 // groups) * 3 * 3 * h * w


def test_matmul_family_formulas() -> None:
    a, b, bias = torch.randn(6, 5), torch.randn(5, 7), torch.randn(7)
    with count_flops() as c:
        torch.addmm(bias, a, b)
        torch.bmm(torch.randn(3, 6, 5), torch.randn(3, 5, 7))
        torch.mv(a, torch.randn(5))
    assert c.by_op["aten.addmm"] == 2 * 6 * 5 * 7
    assert c.by_op["aten.bmm"] == 2 * 3 * 6 * 5 * 7
    assert c.by_op["aten.mv"] == 2 * 6 * 5
    assert c.flops == 2 * 6 * 5 * 7 + 2 * 3 * 6 * 5 * 7 + 2 * 6 * 5


class Cdist(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(10, 8))
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(self.fc(x), self.centers)


def test_operator_without_formula_is_reported_not_silently_zero() -> None:
    report = profile_model(Cdist(), torch.randn(4, 8), latency=False, cache=False)
    assert report.unsupported_ops, "cdist has no FLOP formula: it must be listed"
    assert all(op.startswith("aten.") for op in report.unsupported_ops)
    assert report.flops == 2 * 4 * 8 * 8  # the Linear is still counted


def test_flop_free_convention() -> None:
    aten = torch.ops.aten
    for op in (aten.relu.default, aten.view.default, aten.native_layer_norm.default,
               aten._softmax.default, aten.max_pool2d_with_indices.default, aten.cat.default):
        assert is_flop_free(op), op
    for op in (aten.linalg_inv_ex.default, aten._cdist_forward.default, aten.mm.default):
        assert not is_flop_free(op), op


def test_macs_are_half_the_flops_for_odd_sizes() -> None:
    report = profile_model(nn.Linear(3, 5, bias=False), torch.randn(7, 3), latency=False, cache=False)
    assert report.macs == 7 * 3 * 5 and report.flops == 2 * report.macs
    assert math.isclose(report.indicators()["macs"], 105.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_dynamically_quantized_model_is_sized_and_counted() -> None:
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    try:
        qnet = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
    except (AttributeError, RuntimeError) as exc:  # pragma: no cover - a torch without the quantized engine
        pytest.skip(f"dynamic quantization unavailable: {exc}")
    r = profile_model(qnet, torch.randn(4, 64), latency=False, cache=False)
    fp = profile_model(net, torch.randn(4, 64), latency=False, cache=False)
    assert r.model_bytes_by_dtype["torch.qint8"] == 64 * 128 + 128 * 10  # one byte per weight
    assert r.model_bytes < fp.model_bytes / 3
    assert r.n_params == fp.n_params and r.trainable_params == 0
    assert r.flops == fp.flops and r.unsupported_ops == ()
    assert r.count_device == "cpu"  # quantized kernels have no meta implementation
