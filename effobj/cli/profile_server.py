"""``effobj profile-server --token-file F``: measure candidates here for searches elsewhere.

Run it on the target device; a search on another machine points at it with
``effobj search ... --profiler http://HOST:PORT --profiler-token-file F`` (https
with ``--ssl-certfile``). The protocol
and the guarantees (token, loopback by default, upload limit, no code from clients, one
measurement at a time, time limit) are described in :mod:`effobj.remote._server`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from effobj._validation import check_int, check_real, refusal

__all__ = ["add_parser", "run"]

_FUNC = "effobj profile-server"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``effobj profile-server``."""
    p = subparsers.add_parser(
        "profile-server",
        help="serve profiles of this machine to searches on other machines (one at a time)",
        description=(
            "Measure models sent by effobj search/profile --profiler URL on this machine, one "
            "at a time. Models travel as torch.export programs in JSON with raw tensors, never "
            "pickled. Binds 127.0.0.1 unless --host says otherwise."
        ),
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 "
                   "for every interface)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--token-file", required=True, metavar="FILE",
                   help="file holding the token clients must send, readable by its owner only "
                   "(e.g. made with '(umask 077; python -c \"import secrets; "
                   "print(secrets.token_urlsafe(32))\" > F)')")
    p.add_argument("--allow-readable-token", action="store_true",
                   help="accept a token file that other users can read (a warning instead of "
                   "a refusal)")
    p.add_argument("--device", default="cpu",
                   help="torch device to measure on: cpu, cuda, cuda:1, mps (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads to measure at (default: torch's default)")
    p.add_argument("--max-upload-mb", type=float, default=1024.0, metavar="MB",
                   help="largest model upload accepted, in MiB (default 1024)")
    p.add_argument("--time-limit-s", type=float, default=300.0, metavar="SECONDS",
                   help="longest one measurement may take; past it the worker is replaced "
                   "and that request fails (default 300)")
    p.add_argument("--cache-dir", default="effobj-server-cache", metavar="DIR",
                   help="folder of the server's profile cache (default ./effobj-server-cache); "
                   "its 'uploads' subfolder holds each upload while it waits and is measured "
                   "(also with --no-cache), removed when its request ends")
    p.add_argument("--no-cache", action="store_true",
                   help="keep no cache: measure every request, even one seen before")
    p.add_argument("--read-timeout-s", type=float, default=10.0, metavar="SECONDS",
                   help="longest wait for a request's headers, and for each chunk of an upload; "
                   "past it the connection is closed (an upload gets 408) (default 10)")
    p.add_argument("--max-connections", type=int, default=64, metavar="N",
                   help="open connections past which a request gets 503 (default 64)")
    p.add_argument("--ssl-certfile", default=None, metavar="PEM",
                   help="serve HTTPS with this certificate (chain); with --ssl-keyfile")
    p.add_argument("--ssl-keyfile", default=None, metavar="PEM",
                   help="the private key of --ssl-certfile")
    return p


def run(args: argparse.Namespace) -> int:
    """Check the options and serve until interrupted."""
    import os

    from effobj.errors import require_extra

    require_extra("remote", ("starlette", "uvicorn", "httptools", "httpx"), _FUNC)
    from effobj.remote._client import read_token
    from effobj.remote._server import ServerConfig, port_is_free, serve

    port = check_int(args.port, "--port", _FUNC, low=1, high=65535)
    threads = check_int(args.threads, "--threads", _FUNC, low=1, high=max(256, 4 * (os.cpu_count() or 1)),
                        allow_none=True)
    upload = check_real(args.max_upload_mb, "--max-upload-mb", _FUNC, low=0.0, low_open=True)
    limit = check_real(args.time_limit_s, "--time-limit-s", _FUNC, low=0.0, low_open=True)
    read_timeout = check_real(args.read_timeout_s, "--read-timeout-s", _FUNC, low=0.0,
                              low_open=True)
    connections = check_int(args.max_connections, "--max-connections", _FUNC, low=2)
    token = read_token(args.token_file, "--token-file", _FUNC)
    if len(token) < 16:
        raise refusal("--token-file", _FUNC, "hold a token of at least 16 characters",
                      f"{len(token)} characters",
                      hint="Make one with: (umask 077; python -c \"import secrets; "
                           "print(secrets.token_urlsafe(32))\" > FILE)")
    _check_token_mode(args.token_file, args.allow_readable_token)
    _check_device(args.device)
    if not port_is_free(args.host, port):
        raise refusal("--port", _FUNC, f"be a port free on {args.host}", f"{port} (in use, or "
                      "the host is not an address of this machine)")
    certfile, keyfile = _check_tls(args.ssl_certfile, args.ssl_keyfile)
    _check_folder(Path(args.cache_dir))  # the uploads live in it, also with --no-cache
    cache_dir = None if args.no_cache else Path(args.cache_dir)
    serve(ServerConfig(token=token, host=args.host, port=port, device=args.device,
                       threads=threads, max_upload_bytes=int(upload * 2**20), time_limit_s=limit,
                       cache_dir=cache_dir, upload_dir=Path(args.cache_dir) / "uploads",
                       read_timeout_s=read_timeout, max_connections=connections,
                       ssl_certfile=certfile, ssl_keyfile=keyfile))
    return 0


def _check_token_mode(path: str, allow_readable: bool) -> None:
    """Refuse (or, with --allow-readable-token, warn about) a token file that users other
    than its owner can read."""
    import os
    import shlex
    import sys

    if os.name == "nt":  # pragma: no cover - no POSIX modes
        return
    mode = os.stat(path).st_mode & 0o777
    if not mode & 0o077:
        return
    got = f"{path!r} (mode {mode:04o}: its group or other users can read it)"
    fix = f"chmod 600 {shlex.quote(path)}"
    if not allow_readable:
        raise refusal("--token-file", _FUNC, "be readable by its owner only (mode 600)", got,
                      hint=f"Fix it with: {fix} (or pass --allow-readable-token).")
    print(f"effobj profile-server: WARNING: the token file {got}; {fix} to fix it",
          file=sys.stderr, flush=True)


def _check_tls(certfile: str | None, keyfile: str | None) -> tuple[Path | None, Path | None]:
    """Both TLS files or neither; they must load as a certificate and its key."""
    import ssl

    if (certfile is None) != (keyfile is None):
        missing = "--ssl-keyfile" if keyfile is None else "--ssl-certfile"
        raise refusal(missing, _FUNC, "be given with "
                      f"{'--ssl-certfile' if keyfile is None else '--ssl-keyfile'}", "nothing")
    if certfile is None or keyfile is None:
        return None, None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise refusal("--ssl-certfile", _FUNC, "name a PEM certificate whose private key is in "
                      "--ssl-keyfile", f"{certfile!r} and {keyfile!r} ({type(exc).__name__}: "
                      f"{exc})") from None
    return Path(certfile), Path(keyfile)


def _check_folder(folder: Path) -> None:
    """--cache-dir must be a folder this process can make and write in (checked by writing
    a file), before the server says it listens."""
    import os
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise refusal("--cache-dir", _FUNC, "name a folder", f"{str(folder)!r} (a file)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".effobj-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise refusal("--cache-dir", _FUNC, "name a folder the server can create and write "
                      "in", f"{str(folder)!r} ({type(exc).__name__}: "
                      f"{exc.strerror or exc})") from None


def _check_device(device: str) -> None:
    if device == "cpu":  # the server's process need not import torch (its worker does)
        return
    from effobj.profiler._profiler import _resolve_device

    _resolve_device(device, _FUNC)
