"""Start an ``effobj profile-server`` process and read its log: for tests, benchmarks, scripts.

>>> from effobj.remote._launch import overlapping_measurements
>>> overlapping_measurements("measure start id=1 t=1.0\\nmeasure end id=1 t=2.0\\n"
...                          "measure start id=2 t=1.5\\nmeasure end id=2 t=3.0")
[(1, 2)]
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "free_port", "overlapping_measurements"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One ``python -m effobj.cli profile-server`` on loopback, with its own folder.

    The folder holds the token file (a fresh token, mode 600), the server's log and its
    cache. ``extra`` are more command-line options (``"--time-limit-s", "15"``); with
    ``--ssl-certfile`` the server is addressed by https and its certificate is trusted
    (``ca_file``).
    """

    def __init__(self, folder: Path, *extra: str, port: int | None = None,
                 threads: int = 1) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(24)
        self.token_file = folder / "token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        self.port = port or free_port()
        self.ca_file: Path | None = None
        if "--ssl-certfile" in extra:
            self.ca_file = Path(extra[list(extra).index("--ssl-certfile") + 1])
        scheme = "https" if self.ca_file is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log = folder / "server.log"
        self.cache_dir = folder / "cache"
        self.args = ["--port", str(self.port), "--token-file", str(self.token_file),
                     "--threads", str(threads), "--cache-dir", str(self.cache_dir), *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ServerProcess:
        """Start it (again); with ``wait``, return once its worker is ready."""
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "effobj.cli", "profile-server", *self.args],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, env=env)
        if wait:
            self.wait_ready()
        return self

    @property
    def verify(self) -> Any:
        """What httpx's ``verify=`` needs for this server."""
        if self.ca_file is None:
            return True
        import ssl

        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def wait_ready(self, timeout: float = 180.0) -> dict[str, Any]:
        """Poll ``/status`` until the worker is ready; its status."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            try:
                r = httpx.get(f"{self.url}/status", headers=self.auth, timeout=2,
                              verify=self.verify)
                if r.status_code == 200 and r.json()["worker"] == "ready":
                    return dict(r.json())
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {timeout} s:\n{self.log.read_text()}")

    def status(self) -> dict[str, Any]:
        import httpx

        r = httpx.get(f"{self.url}/status", headers=self.auth, timeout=10, verify=self.verify)
        r.raise_for_status()
        return dict(r.json())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def overlapping_measurements(log_text: str) -> list[tuple[int, int]]:
    """Pairs of measurement ids whose [start, end] overlap, from a server's log lines
    ``measure start id=N t=T`` and ``measure end id=N t=T``."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for line in log_text.splitlines():
        fields = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "measure start" in line:
            starts[int(fields["id"])] = float(fields["t"])
        elif "measure end" in line:
            ends[int(fields["id"])] = float(fields["t"])
    spans = sorted((starts[i], ends[i], i) for i in starts if i in ends)
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
