"""``effobj profile-server``: measure candidates on this machine for searches elsewhere.

A Starlette application served by uvicorn (no HTTP of our own). The protocol is in
:mod:`effobj.remote._protocol`; what the server guarantees:

* **authentication**: every endpoint needs the bearer token read from ``--token-file``,
  compared with :func:`hmac.compare_digest`;
* **loopback by default**: it binds ``127.0.0.1`` unless ``--host`` says otherwise, and
  prints where it listens; a host other than loopback without TLS (``--ssl-certfile`` and
  ``--ssl-keyfile``) prints a warning: the token would cross the network in plain HTTP;
* **bounded connections**: a request's headers must arrive within ``--read-timeout-s`` of
  the connection opening (or of the previous answer), each chunk of a body within
  ``--read-timeout-s`` of the one before (408 otherwise, and the connection is closed),
  headers are at most 16 KiB, and past ``--max-connections`` open connections a request
  gets 503: slow or stalled clients cannot hold the server;
* **bounded JSON**: a ``/lookup`` body or an archive header nesting deeper than
  :data:`~effobj.remote._protocol.MAX_JSON_DEPTH` is refused with 400 before it is parsed;
* **bounded uploads**: a ``Content-Length`` over ``--max-upload-mb`` is refused (413)
  before the body is read, and so is a body that grows past it while streaming; a
  model upload is written as it arrives to a file of the server's own upload folder
  (``--cache-dir``/uploads, owner-only; the file name is the server's), handed to the
  worker by name (the worker maps it: the weights are not copied through the pipe) and
  removed when its request ends, whatever the outcome; a restarted server empties the
  folder of what a killed one left;
* **no code from the client**: the model archive is JSON plus raw tensor bytes
  (:mod:`effobj.remote._transport`), checked before torch reads it; a raw pickle,
  a ``torch.save`` or ``torch.export.save`` file is refused with 400;
* **one measurement at a time**: requests queue on one lock; the queue length and each
  request's wait are in ``GET /status`` and in the answer, and every measurement's start
  and end are logged (``measure start id=N t=...`` / ``measure end id=N t=...``);
* **faults stay in the worker**: models run in a separate worker process
  (:mod:`effobj.remote._worker`); one that runs past ``--time-limit-s`` or dies is
  killed and replaced, that request fails (504 / 500) and the server goes on;
* **a cache by architecture signature** (computed on the search side), in memory and as
  JSON files in ``--cache-dir`` only (file names are hashes the server computes), so the
  same candidate sent by two search workers is measured once; ``--no-cache`` measures
  every request;
* **prompt shutdown**: on SIGTERM or SIGINT the measuring worker is killed at once (no new
  one is started), the request it measured, the queued ones and any that arrive until the
  server has closed get 503 "shutting down" (a client retries with back-off), and the
  process exits; the worker itself exits when the server's process goes away, even
  killed with SIGKILL (it watches its parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effobj.remote._protocol import (
    CONTENT_TYPE,
    ProtocolError,
    check_options,
    check_signature,
    header_size,
    loads_bounded,
    parse_header,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

__all__ = ["Measurer", "ServerConfig", "build_app", "serve"]

#: measurements kept in ``/status``'s log
_LOG_SIZE = 200
#: the suffix of the files uploads are spooled in
_UPLOAD_SUFFIX = ".upload"
#: the largest request line plus headers accepted (h11's buffer for an unfinished event)
MAX_HEADER_BYTES = 16 * 1024
_SHUTTING_DOWN = "the server is shutting down (SIGTERM); retry on its next start"
#: seconds uvicorn waits for open connections after SIGTERM/SIGINT before closing them
SHUTDOWN_GRACE_S = 1


@dataclass(frozen=True)
class ServerConfig:
    """What ``effobj profile-server`` was started with (validated by the command line)."""

    token: str
    host: str = "127.0.0.1"
    port: int = 8765
    device: str = "cpu"
    threads: int | None = None
    max_upload_bytes: int = 1024 * 2**20
    time_limit_s: float = 300.0
    #: where the cache lives; None: no cache (every request measured)
    cache_dir: Path | None = Path("effobj-server-cache")
    #: where uploads are spooled while they wait and are measured (one file each, removed
    #: when its request ends); None: a private folder made at start, removed at shutdown
    upload_dir: Path | None = None
    #: longest wait for a request's headers, and for each chunk of its body
    read_timeout_s: float = 10.0
    #: open connections past which a request gets 503
    max_connections: int = 64
    #: TLS: the certificate (chain) and its private key, PEM files; None: plain HTTP
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile is not None else "http"


def _log(msg: str) -> None:
    print(f"effobj profile-server: {msg}", flush=True)


class Measurer:
    """The worker process that measures, replaced when it hangs or dies.

    Every method blocks; the server calls them from one thread at a time (under its lock).
    """

    def __init__(self, device: str, threads: int | None) -> None:
        self.device = device
        self.threads = threads
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None
        self.pid: int | None = None
        self.ready = threading.Event()
        self.restarts = 0
        self._start_lock = threading.Lock()
        #: set by :meth:`abort` (the server is shutting down): no worker is started again
        self.closing = False

    def start(self) -> None:
        """Start a worker and wait until it has imported torch and warmed up."""
        from effobj.remote import _worker

        with self._start_lock:
            if self.ready.is_set():  # started by another thread meanwhile
                return
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(target=_worker.main, args=(child, self.device, self.threads, os.getpid()),
                                     daemon=True, name="effobj-profile-worker")
            proc.start()
            child.close()
            self._proc, self._conn = proc, parent
            while not parent.poll(0.2):
                if self.closing:
                    proc.kill()
                    raise RuntimeError("the server is shutting down")
                if not proc.is_alive():
                    raise RuntimeError(f"the measuring worker exited at start (code {proc.exitcode})")
            hello = json.loads(parent.recv_bytes())
            self.pid = int(hello["pid"])
            self.ready.set()
            _log(f"worker ready (pid {self.pid}, device {self.device}, threads "
                 f"{self.threads if self.threads is not None else 'torch default'})")

    def abort(self) -> None:
        """Kill the worker now and start none again (the server is shutting down); safe to
        call from a signal handler. A measurement under way ends with a 503."""
        self.closing = True
        proc = self._proc
        if proc is not None and proc.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self.ready.clear()

    def measure(self, path: Path, size: int, time_limit_s: float) -> dict[str, Any]:
        """Have the worker measure the archive spooled in ``path`` (``size`` bytes, a file
        of the server's upload folder: only its name goes through the pipe, the worker maps
        the file); the worker's answer, or a 504/500 after replacing the worker."""
        if self.closing:
            return {"status": 503, "error": _SHUTTING_DOWN}
        if not self.ready.is_set():
            self.start()
        conn, proc = self._conn, self._proc
        try:
            conn.send_bytes(json.dumps({"path": str(path), "size": size}).encode())
            deadline = time.monotonic() + time_limit_s
            while not conn.poll(min(0.2, max(0.0, deadline - time.monotonic()))):
                if not proc.is_alive():
                    raise EOFError
                if time.monotonic() >= deadline and not self.closing:
                    self._replace(f"ran past the time limit of {time_limit_s:g} s")
                    return {"status": 504, "error": f"the measurement ran past the server's time "
                                                    f"limit of {time_limit_s:g} s (the model hangs "
                                                    "or is too slow on this device); the worker "
                                                    "was replaced"}
            return dict(json.loads(conn.recv_bytes()))
        except (EOFError, OSError, BrokenPipeError):
            if self.closing:  # killed by abort(): not the model's fault
                return {"status": 503, "error": _SHUTTING_DOWN + " (the measurement was "
                                                "stopped)"}
            code = proc.exitcode if proc is not None else None
            self._replace(f"died (exit code {code})")
            return {"status": 500, "error": f"the measuring worker died during the measurement "
                                            f"(exit code {code}: the model crashed the process); "
                                            "the worker was replaced"}

    def _replace(self, why: str) -> None:
        _log(f"worker pid {self.pid} {why}: replacing it")
        self.stop()
        self.restarts += 1
        if not self.closing:
            self.start()


class _State:
    """The queue, the counters, the measurement log and the cache of one server."""

    def __init__(self, config: ServerConfig, measurer: Measurer) -> None:
        self.config = config
        self.measurer = measurer
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.measuring = 0
        self.next_id = 1
        self.counts = {"requests": 0, "measured": 0, "cache_hits": 0, "failed": 0,
                       "refused": 0}
        self.log: deque[dict[str, Any]] = deque(maxlen=_LOG_SIZE)
        self.cache: dict[str, dict[str, Any]] = {}
        self.t0 = time.time()
        self.address = f"{config.scheme}://{_bracket(config.host)}:{config.port}"
        #: set on SIGTERM/SIGINT (:func:`serve`): every request is answered 503
        self.stopping = False
        #: the server's event loop (set at startup), for what a signal handler schedules
        self.loop: asyncio.AbstractEventLoop | None = None
        self.upload_dir: Path | None = None  # made at startup (open_uploads)

    # ---------------------------------------------------------------- uploads
    def open_uploads(self) -> Path:
        """The upload folder, made (owner only) on first use, emptied of what a killed
        server left in it."""
        if self.upload_dir is None:
            if self.config.upload_dir is None:
                self.upload_dir = Path(tempfile.mkdtemp(prefix="effobj-server-uploads-"))
            else:
                self.upload_dir = self.config.upload_dir
                self.upload_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._remove_uploads(self.upload_dir)
        return self.upload_dir

    def close_uploads(self) -> None:
        folder, self.upload_dir = self.upload_dir, None
        if folder is not None:
            self._remove_uploads(folder)
            try:
                folder.rmdir()
            except OSError:  # something else is in it: leave it
                pass

    @staticmethod
    def _remove_uploads(folder: Path) -> None:
        for f in folder.glob(f"*{_UPLOAD_SUFFIX}"):  # only our own spool files
            f.unlink(missing_ok=True)

    # ---------------------------------------------------------------- cache
    def shut_down(self) -> None:
        """SIGTERM/SIGINT: refuse what comes (503), kill the worker now. Called from the
        signal handler: no I/O here (a print interrupted by the signal would be re-entered);
        the log line is left to the event loop."""
        if not self.stopping:
            self.stopping = True
            if self.loop is not None:
                self.loop.call_soon_threadsafe(
                    _log, "shutting down: the measuring worker is stopped, requests get 503")
        self.measurer.abort()

    def cache_key(self, signature: str, options: dict[str, Any]) -> str:
        c = self.config
        text = json.dumps([signature, options, c.device, c.threads, _torch_version()],
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def cached(self, key: str) -> dict[str, Any] | None:
        if self.config.cache_dir is None:  # --no-cache: every request is measured
            return None
        hit = self.cache.get(key)
        if hit is None:
            path = self.config.cache_dir / f"{key}.json"  # key: our own hex digest
            try:
                hit = json.loads(path.read_text())
            except (OSError, ValueError):
                hit = None
            if isinstance(hit, dict):
                self.cache[key] = hit
            else:
                hit = None
        return hit

    def store(self, key: str, report: dict[str, Any]) -> None:
        folder = self.config.cache_dir
        if folder is None:
            return
        self.cache[key] = report
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(report, f)
            os.replace(tmp, folder / f"{key}.json")
        except OSError as exc:
            _log(f"cannot write the cache in {folder}: {exc}")

    # ---------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        m = self.measurer
        return {
            "server": self.address,
            "hostname": platform.node(),
            "device": self.config.device,
            "threads": self.config.threads,
            "worker": "ready" if m.ready.is_set() else "starting",
            "worker_pid": m.pid,
            "worker_restarts": m.restarts,
            "queue_length": self.waiting,
            "measuring": self.measuring,
            "uptime_s": round(time.time() - self.t0, 3),
            "time_limit_s": self.config.time_limit_s,
            "max_upload_bytes": self.config.max_upload_bytes,
            **self.counts,
            "cache_size": len(self.cache),
            "measurements": list(self.log),
        }

    def answer(self, report: dict[str, Any], **server: Any) -> dict[str, Any]:
        return {"report": report, "server": {"server": self.address, "hostname": platform.node(),
                                             **server}}


def build_app(config: ServerConfig, measurer: Measurer | None = None) -> Starlette:
    """The Starlette application of a server (its worker started at startup)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state = _State(config, measurer or Measurer(config.device, config.threads))
    token = config.token.encode()

    def error(status: int, reason: str) -> JSONResponse:
        if status != 401:
            state.counts["refused" if status < 500 and status != 422 else "failed"] += 1
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if status in (408, 503):  # a stalled body, shutting down: do not keep the connection
            headers["Connection"] = "close"
        return JSONResponse({"error": reason}, status_code=status, headers=headers)

    def shutting_down() -> JSONResponse:
        return error(503, _SHUTTING_DOWN)

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        # compare_digest on bytes of any length: constant time in the token's content
        return hmac.compare_digest(value.strip().encode(), token) and scheme.lower() == "bearer"

    def unauthorized() -> JSONResponse:
        return error(401, "missing or wrong token: send 'Authorization: Bearer <token>' with "
                          "the token of the server's --token-file")

    async def receive(request: Request, sink: Any) -> int | JSONResponse:
        """Hand the upload to ``sink`` chunk by chunk as it arrives; its size, or the 400/413
        refusing it (by its Content-Length before reading, or as soon as it grows past)."""
        limit = config.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return error(400, f"Content-Length {declared[:40]!r} is not a number")
            if int(declared) > limit:
                return error(413, f"the upload of {int(declared)} bytes is over the server's "
                                  f"limit of {limit} bytes (--max-upload-mb)")
        size = 0
        stream = request.stream()
        while True:
            if state.stopping:
                return shutting_down()
            try:  # a client that stalls mid-upload must not hold the connection
                chunk = await asyncio.wait_for(anext(stream), config.read_timeout_s)
            except StopAsyncIteration:
                break
            except TimeoutError:
                return error(408, f"the upload stalled: no data for {config.read_timeout_s:g} s "
                                  f"after {size} bytes (the server's --read-timeout-s)")
            size += len(chunk)
            if size > limit:
                return error(413, f"the upload grew past the server's limit of {limit} bytes "
                                  "(--max-upload-mb)")
            sink(chunk)
        return size

    async def read_body(request: Request) -> bytes | JSONResponse:
        chunks: list[bytes] = []
        size = await receive(request, chunks.append)
        return size if isinstance(size, JSONResponse) else b"".join(chunks)

    async def status(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        if state.stopping:
            return shutting_down()
        return JSONResponse(state.status())

    async def lookup(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        if state.stopping:
            return shutting_down()
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            query = loads_bounded(body, "the body")
            if not isinstance(query, dict):
                raise ProtocolError("the body must be a JSON object")
            key = state.cache_key(check_signature(query.get("signature")),
                                  check_options(query.get("options")))
        except ProtocolError as exc:
            return error(400, f"malformed lookup: {exc}")
        hit = state.cached(key)
        if hit is None:
            return JSONResponse({"error": "not measured yet"}, status_code=404)
        state.counts["cache_hits"] += 1
        return JSONResponse(state.answer(hit, from_server_cache=True, queue_wait_s=0.0,
                                         queue_ahead=0, measure_s=0.0, decode_s=0.0,
                                         measurement_id=None))

    async def profile(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        if state.stopping:
            return shutting_down()
        state.counts["requests"] += 1
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip() != CONTENT_TYPE:
            return error(400, f"Content-Type must be {CONTENT_TYPE}; got {ctype[:80]!r}")
        fd, name = tempfile.mkstemp(dir=state.open_uploads(), suffix=_UPLOAD_SUFFIX)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                t_receive = time.perf_counter()
                size = await receive(request, f.write)  # never held whole in memory
                receive_s = time.perf_counter() - t_receive
            if isinstance(size, JSONResponse):
                return size
            return await measure(path, size, receive_s)
        finally:
            path.unlink(missing_ok=True)

    async def measure(path: Path, size: int, receive_s: float) -> JSONResponse:
        with open(path, "rb") as f:
            head = f.read(16)
            head += f.read(max(0, min(header_size(head), size) - len(head)))
        try:
            header, _ = parse_header(head)
            key = state.cache_key(check_signature(header.get("signature")),
                                  check_options(header.get("options")))
        except ProtocolError as exc:
            return error(400, f"malformed model archive: {exc}")
        arrived = time.perf_counter()
        ahead = state.waiting + state.measuring
        state.waiting += 1
        try:
            await state.lock.acquire()
        finally:  # also when the client went away while queued
            state.waiting -= 1
        try:
            if state.stopping:
                return shutting_down()
            wait = time.perf_counter() - arrived
            hit = state.cached(key)  # measured while this request waited
            if hit is not None:
                state.counts["cache_hits"] += 1
                return JSONResponse(state.answer(
                    hit, from_server_cache=True, queue_wait_s=wait, queue_ahead=ahead,
                    measure_s=0.0, decode_s=0.0, receive_s=receive_s, measurement_id=None))
            state.measuring = 1
            mid = state.next_id
            state.next_id += 1
            start = time.time()
            _log(f"measure start id={mid} t={start:.6f} model={header.get('model_name')!s:.60} "
                 f"queue_wait_s={wait:.3f} queue_ahead={ahead}")
            try:
                result = await asyncio.to_thread(state.measurer.measure, path, size,
                                                 config.time_limit_s)
            finally:
                end = time.time()
                state.measuring = 0
                _log(f"measure end id={mid} t={end:.6f}")
            state.log.append({"id": mid, "start": start, "end": end,
                              "status": result.get("status")})
        finally:
            state.lock.release()
        if result.get("status") == 503:
            return shutting_down()
        if result.get("status") != 200:
            return error(int(result.get("status", 500)), str(result.get("error")))
        state.counts["measured"] += 1
        report = result["report"]
        state.store(key, report)
        return JSONResponse(state.answer(report, from_server_cache=False, queue_wait_s=wait,
                                         queue_ahead=ahead, measure_s=end - start,
                                         decode_s=result.get("decode_s"), receive_s=receive_s,
                                         measurement_id=mid))

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state.loop = asyncio.get_running_loop()
        if config.cache_dir is not None:
            config.cache_dir.mkdir(parents=True, exist_ok=True)
        state.open_uploads()
        starter = asyncio.create_task(asyncio.to_thread(state.measurer.start))
        try:
            yield
        finally:
            state.measurer.abort()  # also stops a worker still starting
            with contextlib.suppress(BaseException):
                await starter
            state.measurer.stop()
            state.close_uploads()

    app = Starlette(routes=[
        Route("/status", status, methods=["GET"]),
        Route("/lookup", lookup, methods=["POST"]),
        Route("/profile", profile, methods=["POST"]),
    ], lifespan=lifespan)
    app.state.effobj = state
    return app


def serve(config: ServerConfig) -> None:
    """Run the server until SIGTERM or SIGINT (then :meth:`_State.shut_down`, and uvicorn
    closes the connections)."""
    import uvicorn

    app = build_app(config)
    state: _State = app.state.effobj
    where = "loopback only" if is_loopback(config.host) else "reachable from other machines"
    _log(f"listening on {state.address} ({where}; --host to change), "
         f"device {config.device}, time limit {config.time_limit_s:g} s, uploads up to "
         f"{config.max_upload_bytes / 2**20:g} MiB, read timeout {config.read_timeout_s:g} s, "
         f"up to {config.max_connections} connections, cache "
         f"{config.cache_dir if config.cache_dir is not None else 'in memory only'}")
    warning = plain_http_warning(config.host, tls=config.ssl_certfile is not None)
    if warning:
        _log(warning)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            state.shut_down()  # kill the worker now, answer 503 from here on
            super().handle_exit(sig, frame)

    uvicorn_config = uvicorn.Config(
        app, host=config.host, port=config.port, log_level="warning", access_log=False,
        http=_protocol_class(config.read_timeout_s), timeout_keep_alive=max(
            1, round(config.read_timeout_s)), h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=config.max_connections,
        # after SIGTERM every request is answered 503 at once, so nothing is worth waiting
        # for: an idle TLS keep-alive connection (a search's client between requests)
        # otherwise held the exit for the whole grace period (15 s measured at the default
        # read timeout; plain HTTP closed at once)
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        ssl_certfile=None if config.ssl_certfile is None else str(config.ssl_certfile),
        ssl_keyfile=None if config.ssl_keyfile is None else str(config.ssl_keyfile))
    Server(uvicorn_config).run()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def plain_http_warning(host: str, *, tls: bool) -> str | None:
    """The warning printed when the server listens beyond loopback without TLS.

    >>> plain_http_warning("127.0.0.1", tls=False) is None
    True
    >>> "plain HTTP" in plain_http_warning("0.0.0.0", tls=False)
    True
    """
    if tls or is_loopback(host):
        return None
    return (f"WARNING: --host {host} is reachable from other machines and TLS is off: the "
            "bearer token and the models cross the network in plain HTTP, readable by anyone "
            "on the path. Give --ssl-certfile and --ssl-keyfile, or keep the default "
            "--host 127.0.0.1 and reach it through an SSH tunnel (ssh -N -L 8765:127.0.0.1:8765 "
            "HOST).")


def _protocol_class(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a deadline on each request's headers.

    uvicorn 0.55 times out only idle keep-alive connections, and a byte of an unfinished
    request disarms that timer: a client that opens connections and sends half a request
    line (slowloris) would hold them forever. Here a timer is armed when the connection
    opens and after each answer, and disarmed only once a request's headers are complete;
    when it fires the connection is closed. Bytes trickled in do not reset it.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _timed_cycle: Any = None

        def _arm_header_timer(self, cycle: Any) -> None:
            """Close the connection unless a request other than ``cycle`` starts in time."""
            self._disarm_header_timer()
            self._timed_cycle = cycle
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _check_request_started(self) -> None:
            if self._header_timer is not None and self.cycle is not self._timed_cycle:
                self._disarm_header_timer()  # a new request's headers are in

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer(None)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._check_request_started()

        def on_response_complete(self) -> None:
            answered = self.cycle
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer(answered)
                self._check_request_started()  # a pipelined request already started

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

    return Protocol


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (the command line checks before starting)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: effobj profile-server --token-file F")
