"""``effobj profile FILE.py:factory --input-shape 1,3,224,224``: print a model's CostReport.

The factory is a callable in FILE.py (or an importable module, ``module:factory``) that
takes no argument and returns an ``nn.Module``.
Each ``--input-shape`` adds one positional input (random normal for floating dtypes,
zeros for integer ones, e.g. token ids).
"""

from __future__ import annotations

import argparse
from typing import Any

from effobj._validation import refusal
from effobj.cli._load import load_object
from effobj.cli._remote import add_remote_options, check_remote_options, remote_profiler
from effobj.cli._runtime_arg import add_runtime_argument
from effobj.errors import InputError

__all__ = ["add_parser", "run"]

_FUNC = "effobj profile"
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``profile`` subcommand."""
    p = subparsers.add_parser(
        "profile",
        help="profile a model: FLOPs/MACs, n_params, bytes, peak memory, latency, energy",
        description=(
            "Profile the model built by FACTORY in FILE.py on example inputs of the given shapes. "
            "FLOPs count a fused multiply-add as 2 (MACs = FLOPs / 2)."
        ),
    )
    p.add_argument("target", metavar="FILE.py:factory",
                   help="python file (or importable module:factory) and the name of a "
                   "no-argument callable in it returning an nn.Module")
    p.add_argument("--input-shape", action="append", required=True, metavar="N,C,H,W",
                   help="shape of one input, comma-separated; repeat for several inputs")
    p.add_argument("--input-dtype", action="append", choices=_DTYPES, metavar="DTYPE",
                   help=f"dtype of each input ({', '.join(_DTYPES)}); one for all or one per "
                        "--input-shape (default float32)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads to time at (default: torch.get_num_threads())")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--max-time", type=float, default=1.0, metavar="SECONDS",
                   help="time cap of the latency measurement (default 1.0)")
    p.add_argument("--target-spread", type=float, default=0.02, metavar="FRACTION",
                   help="relative precision of the median latency to reach (default 0.02)")
    add_remote_options(p)
    add_runtime_argument(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Build the model, profile it and print the report; returns the exit code."""
    check_remote_options(args, _FUNC)
    if args.profiler is not None and (args.device != "cpu" or args.threads is not None):
        raise refusal("--device" if args.device != "cpu" else "--threads", _FUNC,
                      "be left out with --profiler (the server measures on its --device at its "
                      "--threads)", repr(args.device if args.device != "cpu" else args.threads))
    shapes = [_parse_shape(s) for s in args.input_shape]
    dtypes = _dtypes(args.input_dtype, len(shapes))
    factory = load_object(args.target, "target", _FUNC, "FILE.py:factory or module:factory",
                          "models.py:build")

    import torch

    from effobj.profiler import profile_model

    try:
        model = factory()
    except (Exception, SystemExit) as exc:
        raise InputError(f"The factory {args.target!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"The factory {args.target!r} must return a torch.nn.Module. "
                         f"Got {type(model).__name__} instead.")
    _check_size(shapes, dtypes)
    inputs = tuple(_example(shape, dtype) for shape, dtype in zip(shapes, dtypes, strict=True))
    if args.profiler is not None:
        report = remote_profiler(
            args, _FUNC, latency=not args.no_latency, memory=not args.no_memory,
            max_time_s=args.max_time, target_rel_spread=args.target_spread, cache=False,
        ).profile(model, inputs)
    else:
        report = profile_model(
            model, inputs, device=args.device, threads=args.threads, latency=not args.no_latency,
            memory=not args.no_memory, max_time_s=args.max_time,
            target_rel_spread=args.target_spread, cache=False, runtime=args.runtime,
            latency_method=args.latency_method,
        )
    print(report.to_json() if args.format == "json" else report.to_table())
    return 0


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise refusal("--input-shape", _FUNC,
                      "be positive integers separated by commas, such as 1,3,224,224", repr(text))
    return shape


def _dtypes(given: list[str] | None, n: int) -> list[str]:
    if not given:
        return ["float32"] * n
    if len(given) == 1:
        return given * n
    if len(given) != n:
        raise refusal("--input-dtype", _FUNC, f"be given once or once per --input-shape ({n})",
                      str(len(given)))
    return list(given)


def _check_size(shapes: list[tuple[int, ...]], dtypes: list[str]) -> None:
    """Refuse example inputs larger than half the machine's memory (before allocating)."""
    import math
    import os

    import torch

    total = sum(math.prod(s) * getattr(torch, d).itemsize for s, d in zip(shapes, dtypes, strict=True))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        ram = 1 << 36
    if total > ram // 2:
        raise refusal(
            "--input-shape", _FUNC,
            f"ask for at most half this machine's memory ({ram / 2**30:.3g} GiB) of example inputs",
            f"{' '.join(','.join(map(str, s)) for s in shapes)} ({total / 2**30:.3g} GiB)",
        )


def _example(shape: tuple[int, ...], dtype: str) -> Any:
    import torch

    dt = getattr(torch, dtype)
    if dt.is_floating_point:
        return torch.randn(shape, dtype=dt)
    return torch.zeros(shape, dtype=dt)
