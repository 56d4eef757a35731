"""The model archive and its checks, without a server: nothing that travels can run code."""

from __future__ import annotations

import io
import json
import pickle
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import models  # noqa: E402

from effobj.errors import InputError, ProfilingError  # noqa: E402
from effobj.profiler import profile_model  # noqa: E402
from effobj.remote import RemoteProfiler  # noqa: E402
from effobj.remote._protocol import (  # noqa: E402
    MAGIC,
    ProtocolError,
    check_options,
    check_program,
    parse_archive,
    parse_header,
)
from effobj.remote._transport import pack_model, unpack_model  # noqa: E402

OPTS = {"latency": False, "memory": True, "target_rel_spread": 0.02, "max_time_s": 1.0}
SIG = "a" * 64


def _archive(model=None, x=None) -> bytes:
    model = model or models.small()
    x = torch.randn(1, 3, 8, 8) if x is None else x
    return pack_model(model, (x,), model_name="Small", signature=SIG, options=OPTS)


def _edit(body: bytes, change) -> bytes:
    header, data = parse_header(body)
    change(header)
    raw = json.dumps(header).encode()
    return MAGIC + len(raw).to_bytes(8, "little") + raw + bytes(data)


def test_round_trip_counts_are_the_local_ones():
    model, x = models.small(), torch.randn(2, 3, 8, 8)
    archive, module, inputs = unpack_model(pack_model(model, (x,), model_name="Small",
                                                      signature=SIG, options=OPTS))
    assert archive.model_name == "Small" and archive.options == check_options(OPTS)
    assert torch.equal(inputs[0], x)
    local = profile_model(model, x, latency=False, cache=False)
    remote = profile_model(module, inputs, latency=False, cache=False)
    for name in ("flops", "macs", "n_params", "trainable_params", "model_bytes", "unsupported_ops"):
        assert getattr(remote, name) == getattr(local, name), name
    torch.testing.assert_close(module(*inputs), model.eval()(x))  # the weights travelled


@pytest.mark.parametrize("body, match", [
    (pickle.dumps({"a": 1}), "it is a Python pickle"),
    (b"PK\x03\x04rest", "zip file"),
    (b"", "it is empty"),
    (MAGIC + (10**9).to_bytes(8, "little") + b"{}", "truncated"),
    (MAGIC + (3).to_bytes(8, "little") + b"{x}", "not JSON"),
])
def test_anything_but_an_archive_is_refused(body, match):
    with pytest.raises(ProtocolError, match=match):
        parse_archive(body)


def test_torch_save_and_export_save_files_are_refused():
    buf = io.BytesIO()
    torch.save(models.small().state_dict(), buf)
    with pytest.raises(ProtocolError, match="never unpickles"):
        parse_archive(buf.getvalue())
    buf = io.BytesIO()
    torch.export.save(torch.export.export(models.small(), (torch.randn(1, 3, 8, 8),)), buf)
    with pytest.raises(ProtocolError, match="zip file"):
        parse_archive(buf.getvalue())


def _set_target(target):
    def change(h):
        h["program"]["graph_module"]["graph"]["nodes"][0]["target"] = target
    return change


@pytest.mark.parametrize("change, match", [
    # torch's deserializer resolves any torch.* attribute: torch.os.system would run
    (_set_target("torch.os.system"), "only torch.ops.aten"),
    (_set_target("builtins.eval"), "only torch.ops.aten"),
    (_set_target("torch.ops.mylib.evil.default"), "only torch.ops.aten"),
    (lambda h: h["program"].__setitem__("guards_code", ["__import__('os').system('id')"]),
     "guard code"),
    (lambda h: h["program"]["graph_module"]["graph"]["nodes"][0]["inputs"][0]["arg"].update(
        {"as_expr": {"expr_str": "__import__('os')"}}), "as_expr"),
    (lambda h: h["program"]["graph_module"]["graph"]["nodes"][0].__setitem__(
        "name", 'a") or __import__("os").system("id") or ("'), "identifiers joined by dots"),
    (lambda h: h["tensors"][0].__setitem__("name", "../../etc/passwd"), "identifiers"),
    (lambda h: h["tensors"][0].__setitem__("nbytes", 4), "needs"),
    (lambda h: h["tensors"][0].__setitem__("dtype", "object"), "accepted"),
    (lambda h: h.__setitem__("signature", "../x"), "64 lowercase hex"),
    (lambda h: h["options"].__setitem__("max_time_s", -1), "max_time_s"),
    (lambda h: h["options"].__setitem__("evil", 1), "unknown option"),
    (lambda h: h.__setitem__("model_name", "x; rm -rf /"), "identifier"),
])
def test_a_tampered_archive_is_refused_before_torch_reads_it(change, match):
    with pytest.raises(ProtocolError, match=match):
        unpack_model(_edit(_archive(), change))


def test_check_program_drops_node_metadata():
    header, _ = parse_header(_archive())
    check_program(header["program"])
    assert all(n["metadata"] == {} for n in header["program"]["graph_module"]["graph"]["nodes"])


def test_options_are_checked():
    # the options added after the first release may be left out: their defaults
    assert check_options(OPTS) == {**OPTS, "runtime": "eager", "latency_method": "compensated",
                                   "latency_budget_ms": None}
    given = {**OPTS, "runtime": "onnxruntime", "latency_method": "plain", "latency_budget_ms": 2}
    assert check_options(given) == {**given, "latency_budget_ms": 2.0}
    with pytest.raises(ProtocolError, match="missing"):
        check_options({"latency": True})
    with pytest.raises(ProtocolError, match="true or false"):
        check_options({**OPTS, "latency": 1})
    with pytest.raises(ProtocolError, match="'runtime' must be one of"):
        check_options({**OPTS, "runtime": "tensorrt"})
    with pytest.raises(ProtocolError, match="'latency_budget_ms' must be a number > 0 or null"):
        check_options({**OPTS, "latency_budget_ms": 0})
    with pytest.raises(ProtocolError, match="unknown option"):
        check_options({**OPTS, "latency_scale": 1.0})


def test_a_model_export_cannot_capture_fails_with_the_exporters_reason():
    with pytest.raises(ProfilingError, match="torch.export cannot capture it"):
        pack_model(models.DataDependent(), (torch.ones(2),), model_name="DataDependent",
                   signature=SIG, options=OPTS)


def test_export_restores_the_train_flags():
    m = models.small().train()
    _archive(m)
    assert all(mod.training for mod in m.modules())


@pytest.mark.parametrize("kwargs, match", [
    ({"url": "ftp://x:1", "token": "t"}, "'url' parameter"),
    ({"url": "http://127.0.0.1:1/path", "token": "t"}, "'url' parameter"),
    ({"url": "http://127.0.0.1:1"}, "not both"),
    ({"url": "http://127.0.0.1:1", "token": "t", "token_file": "f"}, "not both"),
    ({"url": "http://127.0.0.1:1", "token_file": "/nonexistent/token"}, "'token_file'"),
    ({"url": "http://127.0.0.1:1", "token": "t", "max_time_s": 0}, "'max_time_s'"),
    ({"url": "http://127.0.0.1:1", "token": "t", "retry_deadline_s": -1}, "'retry_deadline_s'"),
])
def test_remote_profiler_arguments_are_checked(kwargs, match):
    url = kwargs.pop("url")
    with pytest.raises(InputError, match=match):
        RemoteProfiler(url, **kwargs)


def test_an_unreachable_server_fails_after_the_deadline():
    from effobj.remote._launch import free_port

    prof = RemoteProfiler(f"http://127.0.0.1:{free_port()}", token="t", retry_deadline_s=0.6)
    with pytest.raises(ProfilingError, match=r"could not be reached for 0.6 s \(\d+ tries"):
        prof.profile(models.mlp(), torch.randn(1, 16))


class _OddBuffers(torch.nn.Module):
    """A bool buffer of 3 bytes before a float one: the latter's bytes lie unaligned."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scale", torch.tensor([1.0, 2.0, 3.0]))

    def forward(self, x):
        return self.fc(x * self.mask * self.scale)


def test_tensors_are_decoded_in_place_when_aligned_and_copied_when_not():
    from effobj.remote._protocol import ALIGN

    model, x = _OddBuffers(), torch.randn(1, 3)
    body = bytearray(pack_model(model, (x,), model_name="Odd", signature=SIG, options=OPTS))
    _, data = parse_header(body)
    start = len(body) - len(data)
    assert start % ALIGN == 0  # the header is padded
    archive, module, inputs = unpack_model(body)
    assert [e.name for e in archive.tensors] == ["fc.weight", "fc.bias", "mask", "scale",
                                                 "input_0"]
    base = torch.frombuffer(body, dtype=torch.uint8).data_ptr()
    inside = {n: base + start <= t.data_ptr() < base + len(body)
              for n, t in [*module.state_dict().items(), ("input_0", inputs[0])]}
    assert inside["fc.weight"] and inside["fc.bias"] and inside["mask"]  # in place
    assert not inside["scale"] and not inside["input_0"]  # after the 3 bytes: copied
    torch.testing.assert_close(module(*inputs), model.eval()(x))
    assert torch.equal(inputs[0], x)


def test_the_aligned_tensors_of_a_writable_body_share_its_memory():
    body = bytearray(_archive())
    _, module, inputs = unpack_model(body)
    base = torch.frombuffer(body, dtype=torch.uint8).data_ptr()
    ptrs = [t.data_ptr() for t in [*module.state_dict().values(), *inputs] if t.numel()]
    assert ptrs and all(base <= p < base + len(body) for p in ptrs)
