"""A real ``effobj profile-server`` process on a free loopback port, for the remote tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server process: start, wait until its worker is ready, stop."""

    def __init__(self, folder: Path, *extra: str, port: int | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(24)
        self.token_file = folder / "token"
        self.token_file.write_text(self.token + "\n")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "server.log"
        self.cache_dir = folder / "cache"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "effobj.cli", "profile-server", "--port", str(self.port),
                 "--token-file", str(self.token_file), "--threads", "1",
                 "--cache-dir", str(self.cache_dir), *self.extra],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                r = httpx.get(f"{self.url}/status", headers=self.auth, timeout=2)
                if r.status_code == 200 and r.json()["worker"] == "ready":
                    return dict(r.json())
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log.read_text()}")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def status(self) -> dict:
        r = httpx.get(f"{self.url}/status", headers=self.auth, timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server shared by the tests that do not stop it (uploads up to 16 MiB, 15 s limit)."""
    s = Server(tmp_path_factory.mktemp("server"), "--max-upload-mb", "16",
               "--time-limit-s", "15").start()
    yield s
    s.stop()


def measurements_overlap(log_text: str) -> list[tuple[int, int]]:
    """Pairs of measurements whose [start, end] intervals overlap, from the server's log."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for line in log_text.splitlines():
        parts = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "measure start" in line:
            starts[int(parts["id"])] = float(parts["t"])
        elif "measure end" in line:
            ends[int(parts["id"])] = float(parts["t"])
    spans = sorted((starts[i], ends[i], i) for i in starts if i in ends)
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
