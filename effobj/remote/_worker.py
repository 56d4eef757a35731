"""The profiling server's measuring process: it alone imports torch and runs models.

The server starts it with the ``spawn`` method and talks to it over a pipe in raw bytes
(no pickle of anything): a request is a JSON object naming the file the server spooled
the upload in (in the server's own upload folder) and its size, the answer one JSON
object. The worker maps that file privately (copy-on-write) and rebuilds the tensors in
place from the mapping: a large model's weights are not copied again between the two
processes. A worker that hangs past the time limit or dies is killed and
replaced by the server (:class:`~effobj.remote._server.Measurer`); the server itself
never runs a model. The worker exits by itself when the server's process goes away, even
killed with SIGKILL mid-measurement: a thread watches its parent's pid (not
``PR_SET_PDEATHSIG``, which fires when the *thread* that started the worker exits, and the
server starts workers from a thread pool).
"""

from __future__ import annotations

import json
import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["main"]


#: how often the worker checks that the server is still its parent
_WATCH_S = 0.25


def main(conn: Connection, device: str, threads: int | None,
         server_pid: int | None = None) -> None:
    """Serve measurements on ``conn`` until it closes, or until the process ``server_pid``
    is no longer this one's parent (the server died)."""
    import signal
    import warnings

    # Ctrl-C in the server's terminal reaches this process too: the server ends it (and
    # the watchdog below, should the server die), so it prints no traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if server_pid is not None:
        threading.Thread(target=_exit_with_server, args=(server_pid,), daemon=True,
                         name="effobj-worker-watchdog").start()

    import torch

    from effobj.profiler import profile_model

    warnings.filterwarnings("ignore")
    if threads is not None:
        torch.set_num_threads(threads)
    # pay the one-time imports (torch._dynamo, the serde) before the first request
    profile_model(torch.nn.Linear(2, 2), torch.ones(1, 2), latency=False, cache=False)
    import torch._export.serde.serialize  # noqa: F401

    conn.send_bytes(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send_bytes(json.dumps(_measure(msg, device, threads)).encode())


def _exit_with_server(server_pid: int) -> None:
    """Exit the process (at once, whatever the main thread is running) when the server is
    gone: a dead parent's children are handed to another process, so the parent pid
    changes."""
    while os.getppid() == server_pid:
        time.sleep(_WATCH_S)
    os._exit(3)


def _measure(msg: bytes, device: str, threads: int | None) -> dict[str, Any]:
    import mmap

    from effobj.errors import EffobjError
    from effobj.profiler import profile_model
    from effobj.remote._protocol import ProtocolError
    from effobj.remote._transport import unpack_model

    t0 = time.perf_counter()
    request = json.loads(msg)  # from the server process: its own file name and size
    try:
        f = open(request["path"], "rb")  # noqa: SIM115  (closed below, the mapping stays)
    except OSError as exc:
        return {"status": 500, "error": f"the worker cannot read the spooled upload: {exc}"}
    try:
        with f:
            size = os.fstat(f.fileno()).st_size
            if size != request["size"]:
                return {"status": 500, "error": f"the spooled upload has {size} bytes, "
                                                f"{request['size']} expected"}
            # private and writable: torch.frombuffer needs a writable buffer, and nothing
            # written reaches the file (the tensors are not written to anyway)
            mapped: Any = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) if size \
                else bytearray()
        archive, module, inputs = unpack_model(memoryview(mapped))
    except ProtocolError as exc:
        return {"status": 400, "error": f"malformed model archive: {exc}"}
    except Exception as exc:  # a crafted archive that trips the deserializer
        return {"status": 400, "error": f"malformed model archive: {type(exc).__name__}: {exc}"}
    decode_s = time.perf_counter() - t0
    opts = archive.options
    try:
        report = profile_model(
            module, inputs, device=device, threads=threads, latency=opts["latency"],
            memory=opts["memory"], target_rel_spread=opts["target_rel_spread"],
            max_time_s=opts["max_time_s"], cache=False, runtime=opts["runtime"],
            latency_method=opts["latency_method"], latency_budget_ms=opts["latency_budget_ms"],
        )
    except EffobjError as exc:
        return {"status": 422, "error": str(exc).replace("GraphModule", archive.model_name)}
    except Exception as exc:
        return {"status": 422, "error": f"Profiling {archive.model_name} failed: "
                                        f"{type(exc).__name__}: {exc}"}
    d = report.to_dict()
    root = type(module).__name__
    d["model_name"] = archive.model_name
    d["flops_by_module"] = {archive.model_name + k[len(root):] if k.startswith(root) else k: v
                            for k, v in d["flops_by_module"].items()}
    d["unsupported_by_module"] = {
        archive.model_name + k[len(root):] if k.startswith(root) else k: v
        for k, v in d["unsupported_by_module"].items()}
    return {"status": 200, "report": d, "decode_s": decode_s}
