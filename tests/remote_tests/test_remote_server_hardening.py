"""Hardening of ``effobj profile-server``, each against a real server process on loopback:
slow and stalled clients, TLS, the token and its file, URLs with credentials, deeply
nested JSON, SIGTERM, a SIGKILLed server's worker, an unusable cache folder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import models  # noqa: E402

from effobj.errors import InputError  # noqa: E402
from effobj.remote import RemoteProfiler  # noqa: E402
from effobj.remote._launch import ServerProcess, free_port  # noqa: E402
from effobj.remote._protocol import CONTENT_TYPE, MAGIC  # noqa: E402
from effobj.remote._server import plain_http_warning  # noqa: E402
from effobj.remote._transport import pack_model  # noqa: E402

OPTS = {"latency": False, "memory": True, "target_rel_spread": 0.02, "max_time_s": 0.3}
#: the read timeout of the server the slow clients are sent to
TIMEOUT_S = 2.0


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _closed_within(socks: list[socket.socket], bound_s: float,
                   t0: float | None = None) -> list[float]:
    """Seconds from ``t0`` (now) until each socket saw EOF or a reset (inf if not within
    ``bound_s``); what the server sent before closing is ignored."""
    t0 = time.monotonic() if t0 is None else t0
    closed = [float("inf")] * len(socks)
    for s in socks:
        s.setblocking(False)
    while time.monotonic() - t0 < bound_s and any(c == float("inf") for c in closed):
        for i, s in enumerate(socks):
            if closed[i] != float("inf"):
                continue
            try:
                if s.recv(65536) == b"":
                    closed[i] = time.monotonic() - t0
            except BlockingIOError:
                pass
            except OSError:  # reset
                closed[i] = time.monotonic() - t0
        time.sleep(0.02)
    return closed


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server with a 2 s read timeout and at most 30 connections."""
    s = ServerProcess(tmp_path_factory.mktemp("strict"), "--read-timeout-s", str(TIMEOUT_S),
                      "--max-connections", "30", "--max-upload-mb", "4").start()
    yield s
    s.stop()


# ---------------------------------------------------------------- 1. slow clients
def test_slow_headers_are_cut_off_and_normal_requests_go_on(strict):
    socks = [_connect(strict.port) for _ in range(20)]
    t0 = time.monotonic()
    for s in socks:  # half a request, then nothing (five of them trickle a byte at a time)
        s.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor")
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.3):
            for s in socks[:5]:
                try:
                    s.send(b"i")
                except OSError:
                    pass

    dripper = threading.Thread(target=trickle)
    dripper.start()
    try:
        r = httpx.get(f"{strict.url}/status", headers=strict.auth, timeout=5)  # meanwhile
        assert r.status_code == 200 and r.json()["worker"] == "ready"
        closed = _closed_within(socks, TIMEOUT_S + 8, t0)
    finally:
        stop.set()
        dripper.join()
        for s in socks:
            s.close()
    print(f"20 slow-header sockets closed after {min(closed):.2f}-{max(closed):.2f} s "
          f"(read timeout {TIMEOUT_S:g} s)")
    assert max(closed) <= TIMEOUT_S + 3, closed
    assert min(closed) >= TIMEOUT_S - 0.5  # not before the timeout
    assert strict.status()["worker"] == "ready"


def test_stalled_uploads_get_408_and_are_disconnected(strict):
    socks = []
    for kind in ("profile", "profile", "profile", "lookup", "lookup"):
        s = _connect(strict.port)
        ctype = CONTENT_TYPE if kind == "profile" else "application/json"
        s.sendall((f"POST /{kind} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                   f"{strict.token}\r\nContent-Type: {ctype}\r\nContent-Length: 100000\r\n\r\n"
                   ).encode() + (MAGIC if kind == "profile" else b'{"sig'))
        socks.append(s)
    r = httpx.get(f"{strict.url}/status", headers=strict.auth, timeout=5)  # meanwhile
    assert r.status_code == 200
    t0 = time.monotonic()
    answers = [b""] * len(socks)
    for s in socks:
        s.settimeout(TIMEOUT_S + 8)
    closed_at = []
    for i, s in enumerate(socks):
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answers[i] += chunk
        closed_at.append(time.monotonic() - t0)
        s.close()
    print(f"5 stalled uploads answered and closed after {max(closed_at):.2f} s "
          f"(read timeout {TIMEOUT_S:g} s)")
    assert max(closed_at) <= TIMEOUT_S + 3
    for a in answers:
        assert a.startswith(b"HTTP/1.1 408") and b"--read-timeout-s" in a, a[:300]
    assert list((strict.cache_dir / "uploads").iterdir()) == []


def test_past_max_connections_a_request_gets_503_until_they_close(strict):
    socks = [_connect(strict.port) for _ in range(30)]  # idle: they send nothing
    try:
        time.sleep(0.3)
        r = httpx.get(f"{strict.url}/status", headers=strict.auth, timeout=5)
        assert r.status_code == 503
        closed = _closed_within(socks, TIMEOUT_S + 8)  # the idle ones time out...
        assert max(closed) <= TIMEOUT_S + 3
    finally:
        for s in socks:
            s.close()
    assert strict.status()["worker"] == "ready"  # ...and the server serves again


def test_read_timeout_and_max_connections_are_checked(tmp_path):
    out = _cli(tmp_path, "--read-timeout-s", "0")
    assert out.returncode != 0 and "'--read-timeout-s' option" in out.stderr
    out = _cli(tmp_path, "--max-connections", "1")
    assert out.returncode != 0 and "'--max-connections' option" in out.stderr


# ---------------------------------------------------------------- 2. TLS
def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", "1", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key),
                        "-out", str(cert)], check=True, capture_output=True)
        return cert, key
    try:  # pragma: no cover - machines without openssl
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:  # pragma: no cover
        pytest.skip("neither the openssl command nor the cryptography package is here to "
                    "make a self-signed certificate")
    pk = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pragma: no cover
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(pk.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName(
             [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
             critical=False)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(pk, hashes.SHA256()))
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))
    return cert, key


def test_tls_server_and_client_with_a_self_signed_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    srv = ServerProcess(tmp_path / "srv", "--ssl-certfile", str(cert), "--ssl-keyfile",
                        str(key)).start()
    try:
        assert srv.url.startswith("https://")
        log = srv.log.read_text()
        assert f"listening on https://127.0.0.1:{srv.port}" in log and "WARNING" not in log
        prof = RemoteProfiler(srv.url, token_file=srv.token_file, ca_file=cert, latency=False,
                              cache=False, retry_deadline_s=0)
        assert prof.profile(models.mlp(6), torch.randn(1, 16)).macs == 16 * 6 + 6 * 2
        assert prof.with_options(memory=False).ca_file == cert
        # without the certificate the client refuses the server's
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
            RemoteProfiler(srv.url, token_file=srv.token_file, retry_deadline_s=0).status()
        # plain HTTP to the TLS port gets nothing
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{srv.port}/status", headers=srv.auth, timeout=5)
        # SIGTERM with the client's TLS connection still open: the server exits promptly
        # (it waited out a 15 s grace period for that idle connection)
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 8
    finally:
        srv.stop()


def test_tls_options_are_checked(tmp_path):
    cert, key = _self_signed(tmp_path)
    out = _cli(tmp_path, "--ssl-certfile", str(cert))
    assert out.returncode != 0 and "'--ssl-keyfile' option" in out.stderr
    out = _cli(tmp_path, "--ssl-certfile", str(key), "--ssl-keyfile", str(cert))
    assert out.returncode != 0 and "'--ssl-certfile' option" in out.stderr
    with pytest.raises(InputError, match="'ca_file'.*https"):
        RemoteProfiler("http://127.0.0.1:1", token="t" * 20, ca_file=cert)
    with pytest.raises(InputError, match="'ca_file'.*PEM"):
        RemoteProfiler("https://127.0.0.1:1", token="t" * 20, ca_file=tmp_path / "nope.pem")


def test_a_host_beyond_loopback_without_tls_is_warned_about():
    warning = plain_http_warning("0.0.0.0", tls=False)
    assert warning is not None and "--host 0.0.0.0" in warning and "plain HTTP" in warning
    assert "--ssl-certfile" in warning
    assert plain_http_warning("0.0.0.0", tls=True) is None
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert plain_http_warning(host, tls=False) is None
    assert plain_http_warning("example.org", tls=False) is not None


# ---------------------------------------------------------------- 3. the token
def _cli(folder: Path, *args: str, token: str = "t" * 24, mode: int = 0o600,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``effobj profile-server`` with a token file (of ``token``, ``mode``) that is
    expected to refuse before it listens (killed after ``timeout`` otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    tf = folder / "tok"
    tf.write_bytes(token.encode())
    tf.chmod(mode)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "effobj.cli", "profile-server", "--port", str(free_port()),
           "--token-file", str(tf), "--cache-dir", str(folder / "cache"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=folder)


def test_a_token_that_is_not_printable_ascii_is_refused(tmp_path):
    out = _cli(tmp_path, token="tökenwithumlaut-0123456789")
    assert out.returncode != 0 and "listening" not in out.stdout
    assert "'--token-file' option" in out.stderr and "printable ASCII" in out.stderr
    assert str(tmp_path / "tok") in out.stderr and "character 2" in out.stderr
    with pytest.raises(InputError, match="'token' parameter.*printable ASCII"):
        RemoteProfiler("http://127.0.0.1:1", token="tök" * 8)
    bad = tmp_path / "client-token"
    bad.write_text("tök" * 8)
    with pytest.raises(InputError, match="'token_file' parameter.*printable ASCII"):
        RemoteProfiler("http://127.0.0.1:1", token_file=bad)


def test_a_token_file_others_can_read_is_refused_with_the_fix(tmp_path):
    out = _cli(tmp_path, mode=0o644)
    assert out.returncode != 0 and "listening" not in out.stdout
    assert "'--token-file' option" in out.stderr and "mode 0644" in out.stderr
    assert f"chmod 600 {tmp_path / 'tok'}" in out.stderr
    assert "--allow-readable-token" in out.stderr


def test_allow_readable_token_warns_and_starts(tmp_path):
    srv = ServerProcess(tmp_path, "--allow-readable-token", "--read-timeout-s", "3")
    srv.token_file.chmod(0o640)
    srv.start(wait=False)
    try:
        deadline = time.monotonic() + 60
        while "listening" not in srv.log.read_text() and time.monotonic() < deadline:
            assert srv.proc is not None and srv.proc.poll() is None, srv.log.read_text()
            time.sleep(0.1)
        log = srv.log.read_text()
        assert "WARNING: the token file" in log and "chmod 600" in log and "listening" in log
    finally:
        srv.stop()


# ---------------------------------------------------------------- 4. credentials in a URL
@pytest.mark.parametrize("url", ["http://user:hunter2pw@127.0.0.1:8765",
                                 "https://hunter2pw@127.0.0.1:8765", "http://:hunter2pw@h:1"])
def test_credentials_in_the_url_are_refused_without_showing_them(url):
    with pytest.raises(InputError) as info:
        RemoteProfiler(url, token="t" * 20)
    msg = str(info.value)
    assert "'url' parameter" in msg and "password" in msg and "hunter2pw" not in msg
    assert "***@" in msg


def test_the_cli_refuses_credentials_in_profiler_without_showing_them(tmp_path):
    import argparse

    from effobj.cli._remote import remote_profiler

    tf = tmp_path / "tok"
    tf.write_text("t" * 20)
    args = argparse.Namespace(profiler="http://me:hunter2pw@127.0.0.1:1",
                              profiler_token_file=str(tf), profiler_ca_file=None)
    with pytest.raises(InputError) as info:
        remote_profiler(args, "effobj search")
    assert "'--profiler' option" in str(info.value) and "hunter2pw" not in str(info.value)


# ---------------------------------------------------------------- 5. nested JSON
@pytest.mark.parametrize("depth", [65, 100_000])
def test_deeply_nested_json_gets_400_without_a_traceback(server, depth):
    nested = b"[" * depth + b"]" * depth
    r = httpx.post(f"{server.url}/lookup", headers=server.auth, content=nested, timeout=30)
    assert r.status_code == 400 and "more than 64 deep" in r.json()["error"], r.text
    r = httpx.post(f"{server.url}/lookup", headers=server.auth, timeout=30,
                   content=b'{"signature": ' + nested + b"}")
    assert r.status_code == 400 and "more than 64 deep" in r.json()["error"], r.text
    header = b'{"format": 1, "program": ' + nested + b"}"
    body = MAGIC + len(header).to_bytes(8, "little") + header
    r = httpx.post(f"{server.url}/profile", content=body, timeout=30,
                   headers={**server.auth, "Content-Type": CONTENT_TYPE})
    assert r.status_code == 400 and "header nests" in r.json()["error"], r.text
    assert "Traceback" not in server.log.read_text()


# ---------------------------------------------------------------- 6. SIGTERM
def test_sigterm_answers_503_kills_the_worker_and_exits_at_once(tmp_path):
    srv = ServerProcess(tmp_path, "--time-limit-s", "120").start()
    pid = srv.status()["worker_pid"]
    hang = pack_model(models.Hang(), (torch.ones(1, 1),), model_name="Hang",
                      signature="c" * 64, options={**OPTS, "latency": True})
    answers: dict[str, int | str] = {}

    def post(name: str, body: bytes) -> None:
        try:
            r = httpx.post(f"{srv.url}/profile", content=body, timeout=60,
                           headers={**srv.auth, "Content-Type": CONTENT_TYPE})
            answers[name] = r.status_code
        except httpx.TransportError as exc:
            answers[name] = type(exc).__name__

    threads = [threading.Thread(target=post, args=("measuring", hang))]
    threads[0].start()
    deadline = time.monotonic() + 60
    while srv.status()["measuring"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    for i in (1, 2):
        body = pack_model(models.mlp(40 + i), (torch.randn(1, 16),), model_name="MLP",
                          signature=f"{i}" * 64, options=OPTS)
        threads.append(threading.Thread(target=post, args=(f"queued{i}", body)))
        threads[-1].start()
    while srv.status()["queue_length"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    # an upload under way: its headers are in, the rest of its body comes after SIGTERM
    late = pack_model(models.mlp(50), (torch.randn(1, 16),), model_name="MLP",
                      signature="d" * 64, options=OPTS)
    sock = _connect(srv.port)
    sock.sendall((f"POST /profile HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                  f"{srv.token}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len(late)}"
                  "\r\n\r\n").encode() + late[:100])
    time.sleep(0.3)
    assert srv.proc is not None
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    sock.sendall(late[100:])
    sock.settimeout(10)
    late_answer = b""
    while len(late_answer) < 100_000:  # to the end: the server closes the connection
        chunk = sock.recv(65536)
        if not chunk:
            break
        late_answer += chunk
    sock.close()
    for t in threads:
        t.join(30)
    code = srv.proc.wait(30)
    exit_s = time.monotonic() - t0
    worker_gone = not _alive(pid)
    print(f"SIGTERM: server exited after {exit_s:.2f} s, answers {answers}")
    assert exit_s < 10, exit_s
    assert worker_gone
    assert answers == {"measuring": 503, "queued1": 503, "queued2": 503}, answers
    assert late_answer.startswith(b"HTTP/1.1 503") and b"shutting down" in late_answer
    log = srv.log.read_text()
    after = log[log.index("shutting down"):]
    assert "worker ready" not in after and "replacing" not in after  # no new worker
    assert "Traceback" not in log
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    srv.proc = None


# ---------------------------------------------------------------- 7. SIGKILL
def test_the_worker_exits_when_its_server_is_killed(tmp_path):
    srv = ServerProcess(tmp_path, "--read-timeout-s", "3").start()
    pid = srv.status()["worker_pid"]
    assert srv.proc is not None and _alive(pid)
    t0 = time.monotonic()
    srv.proc.kill()
    srv.proc.wait(10)
    while _alive(pid) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    gone_s = time.monotonic() - t0
    print(f"worker gone {gone_s:.2f} s after its server's SIGKILL")
    srv.proc = None
    assert not _alive(pid) and gone_s < 5


# ---------------------------------------------------------------- 8. --cache-dir
def test_an_unusable_cache_dir_is_refused_before_listening(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for where, why in ((afile, "(a file)"), (afile / "sub", "NotADirectoryError")):
        out = _cli(tmp_path / "c", "--cache-dir", str(where))
        assert out.returncode != 0 and "listening" not in out.stdout, out.stdout
        assert "'--cache-dir' option" in out.stderr and why in out.stderr, out.stderr
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        out = _cli(tmp_path / "c", "--cache-dir", str(ro))
        assert "'--cache-dir' option" in out.stderr and "PermissionError" in out.stderr
