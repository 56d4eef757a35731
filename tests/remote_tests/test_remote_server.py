"""Security and faults, each against a real ``effobj profile-server`` process on loopback."""

from __future__ import annotations

import io
import os
import pickle
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import models  # noqa: E402

from effobj.errors import InputTypeError, ProfilingError  # noqa: E402
from effobj.profiler import profile_model  # noqa: E402
from effobj.remote import RemoteCostReport, RemoteProfiler  # noqa: E402
from effobj.remote._launch import overlapping_measurements  # noqa: E402
from effobj.remote._protocol import CONTENT_TYPE, MAGIC, parse_header  # noqa: E402
from effobj.remote._transport import pack_model  # noqa: E402

OPTS = {"latency": False, "memory": True, "target_rel_spread": 0.02, "max_time_s": 0.3}
SIG = "b" * 64


def _post(server, body: bytes, *, token: str | None = "ok", ctype: str = CONTENT_TYPE,
          headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"Content-Type": ctype, **(headers or {})}
    if token is not None:
        h["Authorization"] = f"Bearer {server.token if token == 'ok' else token}"
    return httpx.post(f"{server.url}/profile", content=body, headers=h, timeout=120)


def _profiler(server, **kw) -> RemoteProfiler:
    kw.setdefault("latency", False)
    kw.setdefault("cache", False)
    return RemoteProfiler(server.url, token_file=server.token_file, **kw)


class _Evil:
    """A pickle that would create a file if anything unpickled it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("token", [None, "wrong-token", "x"])
def test_no_token_or_a_wrong_one_gets_401(server, token):
    r = _post(server, b"anything", token=token)
    assert r.status_code == 401 and "token" in r.json()["error"]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/status", headers=headers).status_code == 401
    assert httpx.post(f"{server.url}/lookup", headers=headers, json={}).status_code == 401


def test_the_server_says_it_binds_loopback(server):
    text = server.log.read_text()
    assert f"listening on http://127.0.0.1:{server.port} (loopback only" in text


def test_an_oversized_upload_is_refused_by_its_content_length(server):
    big = b"x" * (17 * 2**20)
    r = _post(server, big)
    assert r.status_code == 413 and "--max-upload-mb" in r.json()["error"]


def test_an_oversized_upload_without_length_is_refused_while_streaming(server):
    sent = {"n": 0}

    def chunks():
        for _ in range(40):  # 40 MiB offered, chunked: no Content-Length
            sent["n"] += 1
            yield b"y" * 2**20

    try:
        r = _post(server, chunks())  # type: ignore[arg-type]
    except httpx.TransportError:  # the server may close the connection early
        assert sent["n"] < 40
        return
    assert r.status_code == 413 and "grew past" in r.json()["error"]


def test_a_pickle_upload_gets_400_and_is_never_unpickled(server, tmp_path):
    marker = tmp_path / "pwned"
    r = _post(server, pickle.dumps(_Evil(marker)))
    assert r.status_code == 400 and "pickle" in r.json()["error"]
    buf = io.BytesIO()
    torch.save(_Evil(marker), buf)
    r = _post(server, buf.getvalue())
    assert r.status_code == 400 and "zip file" in r.json()["error"]
    time.sleep(0.2)
    assert not marker.exists()


def test_a_program_calling_python_gets_400_and_runs_nothing(server, tmp_path):
    marker = tmp_path / "pwned2"
    body = pack_model(models.mlp(), (torch.randn(1, 16),), model_name="MLP", signature=SIG,
                      options=OPTS)
    header, data = parse_header(body)
    node = header["program"]["graph_module"]["graph"]["nodes"][0]
    node["target"] = "torch.os.system"
    node["inputs"] = [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}]
    import json

    raw = json.dumps(header).encode()
    r = _post(server, MAGIC + len(raw).to_bytes(8, "little") + raw + bytes(data))
    assert r.status_code == 400 and "only torch.ops.aten" in r.json()["error"]
    assert not marker.exists()


@pytest.mark.parametrize("body, ctype, match", [
    (b"EFFOBJM1" + (5).to_bytes(8, "little") + b"nope!", CONTENT_TYPE, "not JSON"),
    (b"{}", "application/json", "Content-Type must be"),
    (b"EFFOBJM1" + (2).to_bytes(8, "little") + b"{}", CONTENT_TYPE, "'signature'"),
])
def test_malformed_uploads_get_400_with_the_reason(server, body, ctype, match):
    r = _post(server, body, ctype=ctype)
    assert r.status_code == 400 and match in r.json()["error"], r.text


def test_a_model_failing_on_the_device_fails_that_request_only(server):
    with pytest.raises(ProfilingError, match=r"\(422\).*Crash.*out of memory"):
        _profiler(server).profile(models.Crash(), torch.ones(1))
    assert _profiler(server).profile(models.mlp(7), torch.randn(1, 16)).macs == 16 * 7 + 7 * 2


def test_a_hanging_model_hits_the_time_limit_and_the_server_goes_on(short_limit_server):
    server = short_limit_server
    before = server.status()
    with pytest.raises(ProfilingError, match=r"\(504\).*time limit of 3 s"):
        _profiler(server, latency=True).profile(models.Hang(), torch.ones(1, 1))
    after = server.status()
    assert after["worker_restarts"] == before["worker_restarts"] + 1
    assert after["worker_pid"] != before["worker_pid"]
    assert _profiler(server).profile(models.mlp(9), torch.randn(1, 16)).macs == 16 * 9 + 9 * 2


def test_a_worker_that_dies_fails_that_request_and_is_replaced(server):
    pid = server.status()["worker_pid"]
    out: dict = {}

    def send():
        try:
            _profiler(server, latency=True).profile(models.Hang(), torch.ones(1, 1))
        except ProfilingError as exc:
            out["error"] = str(exc)

    t = threading.Thread(target=send)
    t.start()
    deadline = time.monotonic() + 30
    while server.status()["measuring"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(pid, 9)  # the model took the process down
    t.join(60)
    assert "(500)" in out["error"] and "worker died" in out["error"]
    assert server.status()["worker_pid"] != pid
    assert _profiler(server).profile(models.mlp(11), torch.randn(1, 16)).n_params > 0


def test_counts_are_those_of_a_local_profile_and_the_server_is_named(server):
    model, x = models.small(), torch.randn(1, 3, 16, 16)
    remote = _profiler(server, latency=True, max_time_s=0.3).profile(model, x)
    local = profile_model(model, x, latency=False, cache=False)
    assert isinstance(remote, RemoteCostReport)
    for name in ("flops", "macs", "n_params", "trainable_params", "model_bytes",
                 "model_bytes_by_dtype", "unsupported_ops", "input_shapes", "model_name"):
        assert getattr(remote, name) == getattr(local, name), name
    assert remote.latency_ms is not None and remote.device.threads == 1
    assert remote.remote["server"] == server.url and remote.remote["measurement_id"] >= 1
    assert remote.remote["hostname"] == remote.device.hostname
    assert "measured by" in remote.to_table()
    again = RemoteCostReport.from_json(remote.to_json())
    assert again == remote


def test_the_runtime_method_and_budget_travel_to_the_server(server):
    model, x = models.small(), torch.randn(1, 3, 16, 16)
    prof = _profiler(server, latency=True, max_time_s=0.2)
    default = prof.profile(model, x)
    assert (default.runtime, default.latency_method) == ("eager", "compensated")
    assert default.latency_reference_ms is not None  # the server's own calibration
    onnx = prof.with_options(runtime="onnxruntime", latency_method="plain",
                             latency_budget_ms=1e4).profile(model, x)
    assert (onnx.runtime, onnx.latency_method) == ("onnxruntime", "plain")
    assert onnx.compile_time_s is not None and onnx.latency_reference_ms is None
    assert (onnx.latency_budget_ms, onnx.latency_decision, onnx.latency_decision_certain) == (
        1e4, "under", True)
    assert prof.options["runtime"] == "eager"  # with_options left the original alone
    with pytest.raises(InputTypeError, match=r"with_options got \['latency_scale'\]"):
        prof.with_options(latency_scale=None)


def test_concurrent_requests_never_overlap_and_queue_visibly(server):
    results: list = []
    errors: list = []

    def one(width: int) -> None:
        try:
            results.append(_profiler(server, latency=True, max_time_s=0.4).profile(
                models.mlp(width), torch.randn(1, 16)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen_queue = []
    threads = [threading.Thread(target=one, args=(w,)) for w in (101, 102, 103, 104)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        seen_queue.append(server.status()["queue_length"])
        time.sleep(0.05)
    assert not errors, errors
    assert len(results) == 4
    assert max(seen_queue) >= 1  # requests waited, and /status showed it
    waits = sorted(r.remote["queue_wait_s"] for r in results)
    assert waits[-1] > 0.2 and max(r.remote["queue_ahead"] for r in results) >= 1
    log = server.status()["measurements"]
    spans = sorted((m["start"], m["end"]) for m in log)
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))
    assert overlapping_measurements(server.log.read_text()) == []


def test_one_architecture_from_two_workers_is_measured_once(server):
    a = _profiler(server).profile(models.mlp(77), torch.randn(1, 16))
    measured = server.status()["measured"]
    b = _profiler(server).profile(models.mlp(77), torch.randn(1, 16))  # other weights
    assert server.status()["measured"] == measured
    assert b.remote["from_server_cache"] and b.from_cache and not a.from_cache
    assert b.macs == a.macs
    files = list(server.cache_dir.iterdir())
    assert files and all(f.parent == server.cache_dir for f in files)


def test_uploads_are_spooled_in_the_servers_folder_and_removed_after_use(server):
    uploads = server.cache_dir / "uploads"
    assert uploads.is_dir() and (uploads.stat().st_mode & 0o777) == 0o700
    _profiler(server).profile(models.mlp(5), torch.randn(1, 16))  # measured
    _post(server, b"EFFOBJM1" + (2).to_bytes(8, "little") + b"{}")  # refused: 400

    def chunks():
        for _ in range(20):
            yield b"y" * 2**20

    try:
        _post(server, chunks())  # type: ignore[arg-type]  # refused while streaming: 413
    except httpx.TransportError:
        pass
    with pytest.raises(ProfilingError, match=r"\(422\)"):
        _profiler(server).profile(models.Crash(), torch.ones(1))  # failed on the device
    time.sleep(0.2)
    assert list(uploads.iterdir()) == []
