"""``--profiler URL --profiler-token-file F``: the options that send profiles to a server.

Shared by ``effobj search`` and ``effobj profile``; imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from effobj._validation import refusal
from effobj.errors import InputError

__all__ = ["add_remote_options", "check_remote_options", "remote_profiler"]

#: seconds the command waits for the server's first answer before it refuses to start
_REACH_S = 1.0


def add_remote_options(p: argparse.ArgumentParser) -> None:
    """Add ``--profiler``, ``--profiler-token-file`` and ``--profiler-ca-file`` to a
    command's parser."""
    p.add_argument("--profiler", default=None, metavar="URL",
                   help="have an effobj profile-server at URL (http://HOST:PORT, or https://) measure, on its "
                   "machine, instead of this one")
    p.add_argument("--profiler-token-file", default=None, metavar="FILE",
                   help="file holding the profile-server's token (with --profiler)")
    p.add_argument("--profiler-ca-file", default=None, metavar="PEM",
                   help="certificates to trust for an https --profiler (the server's own "
                   "certificate when it is self-signed; default: the system's)")


def check_remote_options(args: argparse.Namespace, func: str) -> None:
    """Refuse one of the two options without the other (before any work)."""
    if args.profiler is not None and args.profiler_token_file is None:
        raise refusal("--profiler-token-file", func, "be given with --profiler", "nothing")
    if args.profiler is None and args.profiler_token_file is not None:
        raise refusal("--profiler", func, "be given with --profiler-token-file", "nothing")
    if args.profiler is None and getattr(args, "profiler_ca_file", None) is not None:
        raise refusal("--profiler", func, "be given with --profiler-ca-file", "nothing")


def remote_profiler(args: argparse.Namespace, func: str, **options: Any) -> Any:
    """A :class:`~effobj.remote.RemoteProfiler` for the options, its server asked for its
    status once (so that a wrong token or address fails the command now, naming the
    option). ``options`` are RemoteProfiler's measurement options."""
    from effobj.errors import ProfilingError, require_extra

    require_extra("remote", ("httpx",), f"The '--profiler' option of {func}")
    from effobj.remote import RemoteProfiler, read_token
    from effobj.remote._client import check_url, redact_url

    try:
        check_url(args.profiler)
    except InputError as exc:
        rule = ("hold no user name or password (the token goes in --profiler-token-file)"
                if "password" in str(exc) else
                "be the server's address, http://HOST:PORT or https://HOST:PORT")
        raise refusal("--profiler", func, rule, repr(redact_url(str(args.profiler)))) from None
    ca_file = getattr(args, "profiler_ca_file", None)
    if ca_file is not None:
        options.setdefault("ca_file", ca_file)
    token = read_token(args.profiler_token_file, "--profiler-token-file", func)
    # the server measures in the runtime and with the method asked for (its calibration)
    options.setdefault("runtime", getattr(args, "runtime", "eager"))
    options.setdefault("latency_method", getattr(args, "latency_method", "compensated"))
    try:
        profiler = RemoteProfiler(args.profiler, token=token, **options)
    except InputError as exc:
        if "'ca_file'" in str(exc):
            raise InputError(str(exc).replace("The 'ca_file' parameter of RemoteProfiler",
                                              f"The '--profiler-ca-file' option of {func}")
                             ) from None
        raise
    # reachable now or not: asked once, within about a second (the retries of a
    # measurement, for a server restarting mid-search, stay as configured)
    deadline, profiler.retry_deadline_s = profiler.retry_deadline_s, _REACH_S
    try:
        status = profiler.status()
    except InputError as exc:  # 401
        raise refusal("--profiler-token-file", func, "hold the token of the server at "
                      f"{profiler.url}", f"{args.profiler_token_file!r} ({exc})") from None
    except ProfilingError as exc:
        raise ProfilingError(f"The '--profiler' option of {func}: {exc}") from None
    finally:
        profiler.retry_deadline_s = deadline
    setattr(profiler, "server_threads", status.get("threads"))  # noqa: B010 (stored with a study)
    print(f"profiling on {profiler.url}: host {status.get('hostname')}, device "
          f"{status.get('device')}, {status.get('queue_length', 0)} request(s) queued",
          file=sys.stderr)
    return profiler
