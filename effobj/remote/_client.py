"""The search side of remote profiling: :class:`RemoteProfiler` and :class:`RemoteCostReport`."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effobj._validation import check_bool, check_choice, check_real, check_str, refusal
from effobj.errors import InputError, InputTypeError, ProfilingError
from effobj.profiler._cache import ProfileCache, architecture_signature
from effobj.profiler._options import LATENCY_METHODS, RUNTIMES
from effobj.profiler._report import CostReport
from effobj.remote._protocol import CONTENT_TYPE

if TYPE_CHECKING:
    import httpx
    import torch

__all__ = ["RemoteCostReport", "RemoteProfiler", "check_url", "read_token", "redact_url"]

_FUNC = "RemoteProfiler"
#: first and longest pause between two tries while the server does not answer
_BACKOFF_FIRST_S = 0.25
_BACKOFF_MAX_S = 5.0


@dataclass(frozen=True)
class RemoteCostReport(CostReport):
    """A :class:`~effobj.profiler.CostReport` measured by a profiling server.

    Every field means what it means for a local profile, measured on the server's machine
    (``device`` is the server's :class:`~effobj.profiler.DeviceInfo`: its host name, CPU,
    accelerator, torch). ``profile_time_s`` is the whole round trip seen by the search
    (export, upload, queue, measurement).

    Attributes:
        remote: Where and how it was measured: ``server`` (the URL), ``hostname``,
            ``measurement_id``, ``queue_wait_s`` (time queued behind other
            measurements), ``queue_ahead`` (requests ahead of it when it arrived),
            ``measure_s`` (the server's measurement, ``decode_s`` of it rebuilding the
            model from the archive), ``receive_s`` (the server receiving the upload),
            ``from_server_cache``,
            ``export_s`` and ``transfer_s`` (export and HTTP time on the search side),
            ``server_profile_time_s`` and ``tries`` (HTTP tries, retries included).
    """

    remote: dict[str, Any] = field(default_factory=dict)

    def to_table(self, *, top_modules: int = 10) -> str:
        """The local table, with the server, the queue wait and the transfer added."""
        r = self.remote
        rows = [
            ("measured by", f"{r.get('server')} (host {r.get('hostname')})"
             + (" from the server's cache" if r.get("from_server_cache") else "")),
            ("queue", f"waited {r.get('queue_wait_s', 0.0):.3f} s behind "
             f"{r.get('queue_ahead', 0)} request(s)"),
            ("transfer", f"export {r.get('export_s', 0.0):.3f} s, HTTP "
             f"{r.get('transfer_s', 0.0):.3f} s"),
        ]
        width = max(len(k) for k, _ in rows)
        return super().to_table(top_modules=top_modules) + "\n\n" + "\n".join(
            f"{k.ljust(width)}  {v}" for k, v in rows)


def read_token(path: str | Path, option: str = "token_file", func: str = _FUNC) -> str:
    """The token in ``path`` (surrounding whitespace dropped); refused if unreadable or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise refusal(option, func, "name a readable text file holding the token",
                      f"{str(path)!r} ({type(exc).__name__}: {exc.strerror or exc})"
                      if isinstance(exc, OSError) else f"{str(path)!r} (not UTF-8 text)") from None
    if not text or any(c.isspace() for c in text):
        raise refusal(option, func, "hold one token: non-empty, without spaces",
                      f"{str(path)!r} ({'empty' if not text else 'text with spaces'})")
    bad = _unprintable(text)
    if bad is not None:
        raise refusal(option, func, "hold a token of printable ASCII characters (it travels in "
                      "an HTTP header)", f"{str(path)!r} (character {bad + 1} is not)")
    return text


def _unprintable(token: str) -> int | None:
    """The index of the first character of ``token`` outside printable ASCII (``!`` to
    ``~``), or None; the character itself is never shown (it is part of a secret)."""
    for i, c in enumerate(token):
        if not "!" <= c <= "~":
            return i
    return None


class RemoteProfiler:
    """A :class:`~effobj.profiler.Profiler` that has ``effobj profile-server`` measure.

    The model is exported with ``torch.export`` on this side and sent as JSON and raw
    tensors (never pickled, see :mod:`effobj.remote._transport`); the server measures
    what :func:`~effobj.profiler.profile_model` measures, on its device at its thread
    count, one measurement at a time, and answers a :class:`RemoteCostReport`.

    Args:
        url: The server's address, ``http://HOST:PORT``, or ``https://HOST:PORT`` for a
            server started with ``--ssl-certfile`` (no user name or password in it).
        token: The server's token, or
        token_file: a file holding it (one of the two).
        latency, memory, target_rel_spread, max_time_s, runtime, latency_method,
        latency_budget_ms: As in :class:`~effobj.profiler.ProfileOptions` (the device,
            the thread count and the latency's calibration are the server's; a runtime
            the server has not installed fails each profile with its reason).
        timeout_s: Longest wait for one answer (the queue included).
        retry_deadline_s: While the server cannot be reached (not started yet,
            restarting), retry with back-off for this long, then fail.
        cache: Keep answers in this process by architecture signature (the server keeps
            its own cache too).
        ca_file: With an https ``url``: a PEM file of the certificates to trust (the
            server's own certificate when it is self-signed); None: the system's.

    Raises (from :meth:`profile`):
        ProfilingError: ``torch.export`` cannot capture the model (its reason), the
            model failed on the server (the server's reason), or the server did not
            answer before ``retry_deadline_s``. The Optuna objective records this as a
            failed trial with the reason and the study goes on.
    """

    def __init__(self, url: str, *, token: str | None = None,
                 token_file: str | Path | None = None, latency: bool = True,
                 memory: bool = True, target_rel_spread: float = 0.02, max_time_s: float = 1.0,
                 runtime: str = "eager", latency_method: str = "compensated",
                 latency_budget_ms: float | None = None,
                 timeout_s: float = 600.0, retry_deadline_s: float = 60.0,
                 cache: bool = True, ca_file: str | Path | None = None) -> None:
        self.url = check_url(url)
        self.ca_file = _check_ca_file(ca_file, self.url)
        if (token is None) == (token_file is None):
            raise refusal("token", _FUNC, "be given, or token_file, but not both",
                          "both" if token is not None else "neither")
        if token is not None:
            token = check_str(token, "token", _FUNC, nonempty=True)
            bad = _unprintable(token)
            if bad is not None:
                raise refusal("token", _FUNC, "be printable ASCII without spaces (it travels in "
                              "an HTTP header)", f"a token whose character {bad + 1} is not")
        self._token = token if token is not None else read_token(str(token_file))
        self.options = {
            "latency": check_bool(latency, "latency", _FUNC),
            "memory": check_bool(memory, "memory", _FUNC),
            "target_rel_spread": check_real(target_rel_spread, "target_rel_spread", _FUNC,
                                            low=0.0, high=1.0, low_open=True, high_open=True),
            "max_time_s": check_real(max_time_s, "max_time_s", _FUNC, low=0.0, low_open=True),
            "runtime": check_choice(runtime, "runtime", _FUNC, RUNTIMES),
            "latency_method": check_choice(latency_method, "latency_method", _FUNC,
                                           LATENCY_METHODS),
            "latency_budget_ms": check_real(latency_budget_ms, "latency_budget_ms", _FUNC,
                                            low=0.0, low_open=True, allow_none=True),
        }
        self._settings: dict[str, Any] = {"timeout_s": timeout_s,
                                          "retry_deadline_s": retry_deadline_s, "cache": cache,
                                          "ca_file": ca_file}
        self.timeout_s = check_real(timeout_s, "timeout_s", _FUNC, low=0.0, low_open=True)
        self.retry_deadline_s = check_real(retry_deadline_s, "retry_deadline_s", _FUNC, low=0.0)
        self.cache = ProfileCache() if check_bool(cache, "cache", _FUNC) else None
        self._local = threading.local()

    def with_options(self, **changes: Any) -> RemoteProfiler:
        """A profiler of the same server with ``changes`` to the measurement options
        (the names of this class's options: ``latency_budget_ms``, ``runtime``...).

        Raises:
            InputTypeError: a name that is not an option of a remote profile (the
                device, the threads and the latency's calibration are the server's).
        """
        unknown = sorted(set(changes) - set(self.options))
        if unknown:
            raise InputTypeError(f"RemoteProfiler.with_options got {unknown}: a remote "
                                 f"profile's options are {list(self.options)}.")
        options: dict[str, Any] = {**self.options, **changes}
        clone = RemoteProfiler(self.url, token=self._token, **options, **self._settings)
        clone.cache = self.cache  # one cache: its keys hold the options
        return clone

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"RemoteProfiler({self.url!r}, {shown})"

    # ------------------------------------------------------------------ the profile
    def profile(self, model: torch.nn.Module, example_inputs: Any) -> RemoteCostReport:
        """Have the server profile ``model`` on ``example_inputs``."""
        import torch

        from effobj.profiler._flops import registry_version
        from effobj.profiler._profiler import _as_tensor_tuple, _materialize_lazy
        from effobj.remote._transport import export_model

        t0 = time.perf_counter()
        if not isinstance(model, torch.nn.Module):
            raise refusal("model", f"{_FUNC}.profile", "be a torch.nn.Module", type(model).__name__)
        inputs = _as_tensor_tuple(example_inputs)
        name = type(model).__name__
        _materialize_lazy(model, inputs, name)
        o = self.options
        signature = architecture_signature(
            model, inputs, device="remote", threads=0,
            options=(o["latency"], o["memory"], o["target_rel_spread"], o["max_time_s"],
                     registry_version(), o["runtime"], o["latency_method"],
                     o["latency_budget_ms"]))
        if self.cache is not None:
            hit = self.cache.get(signature)
            if hit is not None:
                return dataclasses.replace(hit, from_cache=True,  # type: ignore[return-value]
                                           profile_time_s=time.perf_counter() - t0)
        tries = 0
        answer, n = self._post(name, "/lookup", json_body={"signature": signature, "options": o},
                               found_only=True)
        tries += n
        export_s = 0.0
        if answer is None:
            t_export = time.perf_counter()
            parts = export_model(model, inputs, model_name=name, signature=signature, options=o)
            export_s = time.perf_counter() - t_export
            answer, n = self._post(name, "/profile", content=parts)
            del parts
            tries += n
        assert answer is not None
        total = time.perf_counter() - t0
        server = dict(answer.get("server") or {})
        try:
            base = CostReport.from_dict(answer["report"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfilingError(f"Profiling {name} failed: the server at {self.url} answered "
                                 f"a malformed report ({type(exc).__name__}: {exc})") from None
        remote = {
            **server,
            "export_s": export_s,
            "transfer_s": max(0.0, total - export_s - float(server.get("queue_wait_s") or 0.0)
                              - float(server.get("measure_s") or 0.0)),
            "server_profile_time_s": base.profile_time_s,
            "tries": tries,
        }
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(CostReport)}
        fields.update(profile_time_s=total, from_cache=bool(server.get("from_server_cache")))
        report = RemoteCostReport(**fields, remote=remote)
        if self.cache is not None and report.flops_range is None:
            self.cache.put(signature, report)
        return report

    def status(self) -> dict[str, Any]:
        """The server's ``GET /status`` (retried until ``retry_deadline_s``).

        Raises:
            InputError: the server refused the token.
            ProfilingError: the server cannot be reached.
        """
        answer, _ = self._request("the server's status", "GET", "/status")
        assert answer is not None
        return answer

    # ------------------------------------------------------------------ HTTP
    def _client(self) -> httpx.Client:
        import httpx

        client = getattr(self._local, "client", None)
        if client is None:  # one connection pool per thread
            verify: Any = True
            if self.ca_file is not None:
                import ssl

                verify = ssl.create_default_context(cafile=str(self.ca_file))
            client = httpx.Client(
                base_url=self.url, verify=verify,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
            )
            self._local.client = client
        return client

    def _post(self, name: str, path: str, *, json_body: Any = None,
              content: list[Any] | None = None,
              found_only: bool = False) -> tuple[dict[str, Any] | None, int]:
        return self._request(f"Profiling {name}", "POST", path, json_body=json_body,
                             content=content, found_only=found_only)

    def _request(self, what: str, method: str, path: str, *, json_body: Any = None,
                 content: list[Any] | None = None,
                 found_only: bool = False) -> tuple[dict[str, Any] | None, int]:
        """One request, retried with back-off while the server cannot be reached;
        ``content``: buffers sent one after the other (streamed, never joined)."""
        import httpx

        deadline = time.monotonic() + self.retry_deadline_s
        pause = _BACKOFF_FIRST_S
        tries = 0
        headers = ({"Content-Type": CONTENT_TYPE,
                    "Content-Length": str(sum(memoryview(c).nbytes for c in content))}
                   if content is not None else None)
        while True:
            tries += 1
            try:
                resp = self._client().request(
                    method, path, json=json_body, headers=headers,
                    content=None if content is None else _chunks(content))
            except httpx.ReadTimeout:
                raise ProfilingError(f"{what} failed: the profiling server at {self.url} did not "
                                     f"answer within timeout_s={self.timeout_s:g} s") from None
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 503:
                    reason = f"503 {_reason(resp)}"
                else:
                    return self._answer(what, resp, found_only), tries
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProfilingError(
                    f"{what} failed: the profiling server at {self.url} could not be reached "
                    f"for {self.retry_deadline_s:g} s ({tries} tries; last: {reason})")
            time.sleep(min(pause * (1 + 0.2 * random.random()), left))
            pause = min(2 * pause, _BACKOFF_MAX_S)

    def _answer(self, what: str, resp: httpx.Response,
                found_only: bool) -> dict[str, Any] | None:
        if resp.status_code == 404 and found_only:
            return None
        if resp.status_code == 401:
            raise InputError(f"The profiling server at {self.url} refused the token (401): "
                             f"check the token file ({_reason(resp)})")
        if resp.status_code != 200:
            raise ProfilingError(f"{what} failed on the profiling server {self.url} "
                                 f"({resp.status_code}): {_reason(resp)}")
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProfilingError(f"{what} failed: the server at {self.url} answered "
                                 "something that is not a JSON object")
        return data


def _check_ca_file(ca_file: Any, url: str) -> Path | None:
    """``ca_file`` as a path, checked: it needs an https URL and must load as PEM
    certificates."""
    import ssl

    if ca_file is None:
        return None
    if not isinstance(ca_file, str | Path):
        raise refusal("ca_file", _FUNC, "be a path or None", type(ca_file).__name__,
                      error=InputTypeError)
    if not url.startswith("https://"):
        raise refusal("ca_file", _FUNC, "come with an https:// url (it verifies the server's "
                      "certificate)", f"{str(ca_file)!r} for {url!r}")
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise refusal("ca_file", _FUNC, "name a readable PEM file of certificates",
                      f"{str(ca_file)!r} ({type(exc).__name__}: {exc})") from None
    return Path(ca_file)


def _chunks(parts: list[Any], size: int = 4 << 20) -> Iterator[bytes]:
    """``parts`` (buffers) in pieces of about 4 MiB, small parts gathered into one piece:
    httpx sends one big ``bytes`` in 64 KiB writes, 20x slower over loopback for a few
    hundred MiB (measured: 400 MiB in 9.8 s vs 0.4 s). Each piece is the one copy made of
    the tensors on this side."""
    pending = bytearray()
    for part in parts:
        view = memoryview(part).cast("B")
        if len(pending) + len(view) <= size:
            pending += view
            continue
        if pending:
            yield bytes(pending)
            pending = bytearray()
        for start in range(0, len(view), size):
            piece = view[start:start + size]
            if len(piece) < size:
                pending += piece
            else:
                yield bytes(piece)
    if pending:
        yield bytes(pending)


def _reason(resp: Any) -> str:
    try:
        data = resp.json()
        return str(data.get("error", data))
    except ValueError:
        return str(resp.text[:300])


def check_url(url: Any) -> str:
    """``url`` as ``scheme://host:port`` when it is a server's address (http or https, no
    user name or password, path, query or fragment); refused in the name of RemoteProfiler's 'url' otherwise."""
    from urllib.parse import urlsplit

    text = check_str(url, "url", _FUNC, nonempty=True)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is not None and "@" in parts.netloc:
        raise refusal("url", _FUNC, "hold no user name or password (the token goes in "
                      "token or token_file, and is sent in a header)",
                      repr(redact_url(text)))
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or (
            parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise refusal("url", _FUNC, "be the server's address, http://HOST:PORT or "
                      "https://HOST:PORT", repr(text))
    del port
    return f"{parts.scheme}://{parts.netloc}"


def redact_url(url: str) -> str:
    """``url`` with whatever stands before an ``@`` of its address (a user name and a
    password) replaced by ``***``, for messages.

    >>> redact_url("http://me:secret@host:8765")
    'http://***@host:8765'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}"
