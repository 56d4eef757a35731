"""Issue 22 item 6: Ctrl-C in the profile server's terminal stops it without a traceback
from its measuring worker (a terminal sends SIGINT to the whole process group: the server
and its worker alike)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from effobj.remote._launch import ServerProcess


def test_ctrl_c_stops_the_server_without_a_worker_traceback(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "srv").start()
    try:
        worker = int(server.status()["worker_pid"])
        assert server.proc is not None
        # what the terminal's Ctrl-C delivers, to both; the worker's first, and a moment
        # for it to act before the server's shutdown ends it
        os.kill(worker, signal.SIGINT)
        time.sleep(1.0)
        os.kill(server.proc.pid, signal.SIGINT)
        server.proc.wait(timeout=60)
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
    log = server.log.read_text()
    assert "shutting down" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
