"""``effobj latency-table --space supernet --device cpu --out table.json``: build a latency table.

Profiles every candidate operation of the space's supernet on the device (each entry
keeps its median and spread), writes the table as JSON, and with ``--check N``
compares the summed table with N architectures measured end to end.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_parser", "run"]


from effobj.cli._runtime_arg import add_runtime_argument
from effobj.cli._threads import add_threads_argument


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``latency-table`` subcommand."""
    p = subparsers.add_parser(
        "latency-table",
        help="profile every candidate operation of a supernet space into a latency table (JSON)",
        description=(
            "Build a per-operator latency table for gradient search under a latency budget, "
            "measured on this machine's DEVICE. Each entry keeps its median and measured spread."
        ),
    )
    p.add_argument("--space", default="supernet", help="search space with a supernet "
                   "(default supernet): a registered name, FILE.py:Class or module:Class")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps (default cpu)")
    p.add_argument("--out", required=True, metavar="FILE.json", help="where to write the table")
    p.add_argument("--dataset", default=None, help="dataset fixing the input shape (default: the space's)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the timed inputs (default 1)")
    p.add_argument("--max-time", type=float, default=0.5, metavar="SECONDS",
                   help="time cap per entry (default 0.5)")
    p.add_argument("--target-spread", type=float, default=0.05, metavar="FRACTION",
                   help="relative precision of each entry's median (default 0.05)")
    p.add_argument("--check", type=int, default=0, metavar="N",
                   help="also measure N random architectures end to end and report the table's error")
    p.add_argument("--seed", type=int, default=0, help="seed of the --check sample")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_runtime_argument(p)
    add_threads_argument(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Build, save, optionally check; print a summary. Returns the exit code."""
    from effobj._validation import check_int, check_output_path
    from effobj.cli._threads import check_threads, contention_note, threads_text

    func = "effobj latency-table"
    threads = check_threads(args.threads, func)
    check_int(args.check, "--check", func, low=0)
    check_output_path(args.out, "--out", func, (".json",), create_folder=False)  # before measuring
    from effobj.cli._load import load_space
    from effobj.cost_models import TABLE_PROFILE, build_latency_table, check_table
    from effobj.optuna import load_space_data
    from effobj.profiler import ProfileOptions

    space = load_space(args.space, func)
    data = load_space_data(space, args.dataset) if args.dataset else None
    options = ProfileOptions.resolve(
        TABLE_PROFILE, {"device": args.device, "threads": threads,
                        "target_rel_spread": args.target_spread, "max_time_s": args.max_time,
                        "runtime": args.runtime, "latency_method": args.latency_method},
        "effobj latency-table",
    )
    table = build_latency_table(space, data=data, batch_size=args.batch_size, options=options)
    check = None
    if args.check:
        check = check_table(table, space, n=args.check, seed=args.seed, data=data, options=options)
        table.meta["check"] = {
            "n": args.check, "mean_abs_rel_error": check.mean_abs_rel_error,
            "max_abs_rel_error": check.max_abs_rel_error, "mean_rel_error": check.mean_rel_error,
            "spearman": check.spearman, "scale": check.scale,
        }
    table.meta["threads"] = threads
    table.save(args.out)
    if args.format == "json":
        json.dump({"out": args.out, "entries": len(table.entries), "threads": threads,
                   "check": table.meta.get("check")}, sys.stdout)
        print()
        return 0
    print(f"{table.space}: {len(table.entries)} entries on {table.device.get('device', args.device)} ({table.device.get('cpu_model', '?')}) "
          f"(batch {table.batch_size}, {threads_text(threads)}) -> {args.out}")
    note = contention_note(threads)
    if note is not None:
        print(note)
    from effobj.profiler._report import iqr_text

    width = max(len(k) for k in table.entries)
    for key, e in table.entries.items():
        spread = "" if e.ci95_ms is None else f"  95% CI [{e.ci95_ms[0]:.4f}, {e.ci95_ms[1]:.4f}]"
        print(f"  {key:<{width}}  {e.median_ms:.4f} ms  IQR {iqr_text(e.iqr_ms, e.samples, digits=4, unit='')}{spread}")
    if check is not None:
        print(f"check: {check.to_text()}")
    return 0
