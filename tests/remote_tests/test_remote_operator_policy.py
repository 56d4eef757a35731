"""The profiling server's operator policy (effobj.remote._ops): models pass, side effects don't.

Both ways: every operator of the project's reference models, its search spaces and
torchvision-style blocks passes; every aten operator with a side effect is refused, by
enumeration over ``torch.ops.aten`` and by crafted archives sent to a real server. The
crafted archives are built by one function, :func:`crafted_archive`, so that a change of
transport keeps them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "profiler"))

import models  # noqa: E402
import reference_models as R  # noqa: E402

from effobj.remote._ops import call_refusal, check_graph, operator_refusal  # noqa: E402
from effobj.remote._protocol import CONTENT_TYPE, MAGIC, ProtocolError, parse_header  # noqa: E402
from effobj.remote._transport import pack_model, unpack_model  # noqa: E402

OPTS = {"latency": False, "memory": False, "target_rel_spread": 0.05, "max_time_s": 0.2}
SIG = "c" * 64
aten = torch.ops.aten


# ----------------------------------------------------------------------- crafted archives
class _Base(nn.Module):
    """Three calls to overwrite: ``relu``, ``add``, ``mul``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.relu() + 1.0) * 2.0


def _arg(value):
    if isinstance(value, bool):
        return {"as_bool": value}
    if isinstance(value, int):
        return {"as_int": value}
    if isinstance(value, float):
        return {"as_float": value}
    if isinstance(value, str):
        return {"as_string": value}
    if isinstance(value, Tensor):
        return {"as_tensor": {"name": value.name}}
    raise TypeError(value)


class Tensor:
    """A reference to a value of the crafted graph: ``x`` (the input) or a node's output."""

    def __init__(self, name: str) -> None:
        self.name = name


def crafted_archive(calls: list[tuple[str, dict]]) -> bytes:
    """A model archive whose program makes ``calls`` in order: ``(target, {arg: value})``,
    each output named ``relu``, ``add``, ``mul`` in turn (the last is returned). Values:
    ``Tensor("x")`` (the input) or an earlier output, bool, int, float, str. Everything
    else of the archive is a real export's, so only the operator policy can refuse it."""
    body = pack_model(_Base(), (torch.randn(4),), model_name="Crafted", signature=SIG,
                      options=OPTS)
    header, data = parse_header(body)
    nodes = header["program"]["graph_module"]["graph"]["nodes"]
    assert [n["name"] for n in nodes] == ["relu", "add", "mul"]
    keep = nodes[len(nodes) - len(calls):]
    for node, (target, args) in zip(keep, calls, strict=True):
        node["target"] = f"torch.ops.{target}"
        node["inputs"] = [{"name": k, "arg": _arg(v), "kind": 1} for k, v in args.items()]
    header["program"]["graph_module"]["graph"]["nodes"] = keep
    raw = json.dumps(header).encode()
    return MAGIC + len(raw).to_bytes(8, "little") + raw + bytes(data)


def _from_file_then_fill(path: Path) -> bytes:
    return crafted_archive([
        ("aten.from_file.default", {"filename": str(path), "shared": True, "size": 4}),
        ("aten.fill_.Scalar", {"self": Tensor("add"), "value": 7.0}),
    ])


# ------------------------------------------------------------------------ models pass
class _SE(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 4, 1),
                                nn.ReLU(inplace=True), nn.Conv2d(c // 4, c, 1), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True, dropout=0.1)
        self.norm = nn.LayerNorm(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.attn(x, x, x, need_weights=False)[0])


class _InPlaceOnComputed(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        y.mul_(2.0).relu_()
        return y.to(torch.float16).float()


def _space_model(name: str):
    import effobj.spaces as S

    space = S.get(name)
    cfg = space.default_config()
    x = space.example_input(cfg)
    return space.build(cfg), x if isinstance(x, torch.Tensor) else x[0]


MODELS = {
    "resnet18": lambda: (R.resnet18(), torch.randn(1, 3, 32, 32)),
    "resnet50_bottleneck": lambda: (R.Bottleneck(64, 16, 1), torch.randn(1, 64, 8, 8)),
    "mobilenet_v2": lambda: (R.mobilenet_v2(), torch.randn(1, 3, 32, 32)),
    "vit_block": lambda: (R.ViTBlock(64, 4, 128), torch.randn(1, 5, 64)),
    "bert_layer": lambda: (R.bert_base(depth=1), torch.randint(0, 100, (1, 8))),
    "squeeze_excite": lambda: (_SE(16), torch.randn(1, 16, 4, 4)),
    "attention_dropout": lambda: (_Attention(), torch.randn(1, 6, 32)),
    "lstm": lambda: (nn.LSTM(8, 16, num_layers=2, dropout=0.2, batch_first=True),
                     torch.randn(1, 5, 8)),
    "gru_bidirectional": lambda: (nn.GRU(8, 8, bidirectional=True), torch.randn(5, 1, 8)),
    "batchnorm_1d_dropout": lambda: (nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16),
                                                   nn.Dropout(0.5), nn.SiLU(), nn.Linear(16, 2)),
                                     torch.randn(2, 8)),
    "in_place_on_computed": lambda: (_InPlaceOnComputed(), torch.randn(3)),
    "remote_small": lambda: (models.small(), torch.randn(1, 3, 8, 8)),
    "space_mlp": lambda: _space_model("mlp"),
    "space_mobilenet": lambda: _space_model("mobilenet"),
    "space_transformer": lambda: _space_model("transformer"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_operator_of_real_models_passes(name):
    model, x = MODELS[name]()
    body = pack_model(model, (x,), model_name="M", signature=SIG, options=OPTS)
    _, module, inputs = unpack_model(body)  # the policy runs inside; raises if refused
    with torch.no_grad():
        model.eval()
        want, got = model(x), module(*inputs)
    want = want[0] if isinstance(want, tuple) else want
    got = got[0] if isinstance(got, tuple | list) else got
    torch.testing.assert_close(got, want)


# --------------------------------------------------------------- side effects refused
def _placeholder_call(op, write_input: bool = True) -> torch.fx.Graph:
    """A graph calling ``op`` with a placeholder for every tensor argument and a plain value
    for the rest (nothing runs: the policy only reads the graph)."""
    g = torch.fx.Graph()
    args, kwargs = [], {}
    for i, a in enumerate(op._schema.arguments):
        t = str(a.type)
        if "Tensor" in t:
            p = g.placeholder(f"p{i}")
            v = [p] if t.startswith(("List", "Optional[List")) else p
        elif a.has_default_value():
            v = a.default_value
        elif "List" in t:
            v = [1]
        elif "bool" in t:
            v = False
        elif "float" in t or "number" in t:
            v = 1.0
        elif "str" in t:
            v = "x"
        else:
            v = 1
        if a.kwarg_only:
            kwargs[a.name] = v
        else:
            args.append(v)
    g.output(g.call_function(op, tuple(args), kwargs))
    return g


def _all_aten_ops():
    out = []
    for full in torch._C._dispatch_get_all_op_names():
        if not full.startswith("aten::"):
            continue
        base, _, overload = full[6:].partition(".")
        try:
            out.append(getattr(getattr(aten, base), overload or "default"))
        except (AttributeError, RuntimeError):
            continue
    return out


ALL_OPS = _all_aten_ops()


def test_every_aten_operator_that_writes_an_argument_is_refused_on_a_graph_input():
    writers = [op for op in ALL_OPS if op._schema.is_mutable]
    assert len(writers) > 300  # in-place, out= and inplace-view overloads
    let_through = []
    for op in writers:
        try:
            check_graph(_placeholder_call(op))
        except ProtocolError:
            continue
        let_through.append(str(op))
    assert let_through == []


def test_every_aten_operator_drawing_randomness_or_touching_storage_or_streams_is_refused():
    refused, leaked = 0, []
    for op in ALL_OPS:
        types = [str(a.type) for a in op._schema.arguments] + \
                [str(r.type) for r in op._schema.returns]
        seeded = torch.Tag.nondeterministic_seeded in op.tags or any("Generator" in t
                                                                      for t in types)
        outside = any(k in t for t in types for k in ("Storage", "Stream", "__torch__"))
        if not (seeded or outside):
            continue
        refused += 1
        switch = any(a.name in ("train", "training", "dropout_p", "dropout")
                     for a in op._schema.arguments)
        if operator_refusal(op) is None and not (seeded and switch and not outside):
            leaked.append(str(op))
    assert refused > 50 and leaked == []


@pytest.mark.parametrize("op, args, kwargs, match", [
    (aten.from_file.default, ("/tmp/x", True, 4), {}, "takes text and no tensor"),
    (aten._print.default, ("forged log line",), {}, "takes text and no tensor"),
    (aten.set_.source_Storage, (None, None), {}, "Storage"),
    (aten.record_stream.default, (None, None), {}, "Stream"),
    (aten.normal_.default, (None,), {}, "random state"),
    (aten.randn.default, ([3],), {}, "random state"),
    (aten.randperm.default, (5,), {}, "random state"),
    (aten.bernoulli.default, (None,), {}, "random state"),
    (aten.multinomial.default, (None, 2), {}, "random state"),
    (aten.rand_like.default, (None,), {}, "random state"),
    (aten._fused_dropout.default, (None, 0.5), {}, "random state"),
    (aten.dropout.default, (None, 0.5, True), {}, "train=True"),
    (aten.native_dropout.default, (None, 0.5, None), {}, "train=None"),
    (aten.batch_norm.default, (None, None, None, None, None, True, 0.1, 1e-5, False), {},
     "training=True"),
    (aten.rrelu.default, (None,), {"training": True}, "training=True"),
    (aten.scaled_dot_product_attention.default, (None, None, None, None, 0.1), {},
     "dropout_p=0.1"),
    (aten._backward.default, (None, [None]), {}, "returns nothing"),
    (aten._cufft_set_plan_cache_max_size.default, (0, 1), {}, "returns nothing"),
    (aten._cufft_clear_plan_cache.default, (0,), {}, "returns nothing"),
])
def test_known_side_effects_are_refused_by_name_of_the_rule(op, args, kwargs, match):
    why = call_refusal(op, args, kwargs)
    assert why is not None and match in why


@pytest.mark.parametrize("op, args", [
    (aten.dropout.default, (None, 0.5, False)),
    (aten.batch_norm.default, (None, None, None, None, None, False, 0.1, 1e-5, False)),
    (aten.rrelu.default, (None,)),
    (aten.scaled_dot_product_attention.default, (None, None, None)),
    (aten._assert_tensor_metadata.default, (None,)),
    (aten.gelu.default, (None,)),
    (aten.div.Tensor_mode, (None, None)),
    (aten.empty.memory_format, ([3],)),
])
def test_inference_calls_and_checks_pass(op, args):
    assert call_refusal(op, args, {}) is None


def test_set_then_write_through_the_alias_is_refused():
    g = torch.fx.Graph()
    x = g.placeholder("x")
    e = g.call_function(aten.empty.memory_format, ([4],))
    g.call_function(aten.set_.source_Tensor, (e, x))
    g.output(g.call_function(aten.fill_.Scalar, (e, 7.0)))
    with pytest.raises(ProtocolError, match="fill_.*writes its argument 'self' \\(empty"):
        check_graph(g)


def test_a_write_through_a_view_of_an_input_is_refused_and_into_a_copy_is_not():
    g = torch.fx.Graph()
    x = g.placeholder("x")
    v = g.call_function(aten.view.default, (x, [2, 2]))
    parts = g.call_function(aten.unbind.int, (v,))
    import operator

    first = g.call_function(operator.getitem, (parts, 0))
    g.output(g.call_function(aten.relu_.default, (first,)))
    with pytest.raises(ProtocolError, match="relu_"):
        check_graph(g)
    g = torch.fx.Graph()
    x = g.placeholder("x")
    c = g.call_function(aten.clone.default, (x,))
    g.output(g.call_function(aten.relu_.default, (c,)))
    check_graph(g)


@pytest.mark.parametrize("calls, match", [
    ([("aten.from_file.default", {"filename": "/tmp/effobj-never", "shared": True, "size": 4}),
      ("aten.fill_.Scalar", {"self": Tensor("add"), "value": 7.0})], "from_file"),
    ([("aten._print.default", {"s": "INFO forged"})], "_print"),
    ([("aten.fill_.Scalar", {"self": Tensor("x"), "value": 7.0})], "writes its argument"),
    ([("aten.normal_.default", {"self": Tensor("x")})], "random state"),
    ([("aten.dropout.default", {"input": Tensor("x"), "p": 0.5, "train": True}),
      ], "train=True"),
])
def test_crafted_archives_are_refused_before_anything_runs(calls, match):
    with pytest.raises(ProtocolError, match=match):
        unpack_model(crafted_archive(calls))
    assert not Path("/tmp/effobj-never").exists()


def _post(server, body: bytes) -> httpx.Response:
    return httpx.post(f"{server.url}/profile", content=body, timeout=120, headers={
        "Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {server.token}"})


def test_the_server_answers_400_to_from_file_and_writes_no_file(server, tmp_path):
    new, old = tmp_path / "created", tmp_path / "existing"
    old.write_bytes(b"\0" * 16)
    for target in (new, old):
        r = _post(server, _from_file_then_fill(target))
        assert r.status_code == 400, r.text
        assert "aten.from_file.default takes text and no tensor" in r.json()["error"]
    assert not new.exists() and old.read_bytes() == b"\0" * 16


def test_the_server_answers_400_to_print_and_its_log_has_no_forged_line(server):
    r = _post(server, crafted_archive([("aten._print.default", {"s": "FORGED-LOG-LINE"})]))
    assert r.status_code == 400 and "_print" in r.json()["error"]
    r = _post(server, pack_model(models.small(), (torch.randn(1, 3, 8, 8),), model_name="Ok",
                                 signature=SIG, options=OPTS))
    assert r.status_code == 200  # the server goes on
    assert "FORGED-LOG-LINE" not in server.log.read_text()


def test_the_policys_docstring_examples_run():
    import doctest

    import effobj.remote._ops as ops

    result = doctest.testmod(ops)
    assert result.failed == 0 and result.attempted > 0
