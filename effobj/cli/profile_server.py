"""``effobj profile-server --token-file F``: measure candidates here for searches elsewhere.

Run it on the target device; a search on another machine points at it with
``effobj search ... --profiler http://HOST:PORT --profiler-token-file F``. The protocol
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
                   help="file holding the token clients must send (e.g. made with "
                   "'python -c \"import secrets; print(secrets.token_urlsafe(32))\" > F')")
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
    return p


def run(args: argparse.Namespace) -> int:
    """Check the options and serve until interrupted."""
    import os

    from effobj.remote._client import read_token
    from effobj.remote._server import ServerConfig, port_is_free, serve

    port = check_int(args.port, "--port", _FUNC, low=1, high=65535)
    threads = check_int(args.threads, "--threads", _FUNC, low=1, high=max(256, 4 * (os.cpu_count() or 1)),
                        allow_none=True)
    upload = check_real(args.max_upload_mb, "--max-upload-mb", _FUNC, low=0.0, low_open=True)
    limit = check_real(args.time_limit_s, "--time-limit-s", _FUNC, low=0.0, low_open=True)
    token = read_token(args.token_file, "--token-file", _FUNC)
    if len(token) < 16:
        raise refusal("--token-file", _FUNC, "hold a token of at least 16 characters",
                      f"{len(token)} characters",
                      hint="Make one with: python -c \"import secrets; "
                           "print(secrets.token_urlsafe(32))\"")
    _check_device(args.device)
    if not port_is_free(args.host, port):
        raise refusal("--port", _FUNC, f"be a port free on {args.host}", f"{port} (in use, or "
                      "the host is not an address of this machine)")
    cache_dir = None if args.no_cache else Path(args.cache_dir)
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise refusal("--cache-dir", _FUNC, "name a folder", f"{str(cache_dir)!r} (a file)")
    serve(ServerConfig(token=token, host=args.host, port=port, device=args.device,
                       threads=threads, max_upload_bytes=int(upload * 2**20), time_limit_s=limit,
                       cache_dir=cache_dir, upload_dir=Path(args.cache_dir) / "uploads"))
    return 0


def _check_device(device: str) -> None:
    if device == "cpu":  # the server's process need not import torch (its worker does)
        return
    from effobj.profiler._profiler import _resolve_device

    _resolve_device(device, _FUNC)
