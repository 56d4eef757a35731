"""Run every benchmark (``benchmarks/bm_*.py``), one after the other; ``make bench`` calls this.

Each benchmark writes its own ``benchmarks/results/NAME.md`` (command, machine, numbers).
This runner starts each one with the same Python, streams its output, and prints a
summary of what ran, how long it took and whether it succeeded. The exit status is 1 if
any benchmark failed.

Usage::

    .venv/bin/python benchmarks/run_all.py                 # all of them
    .venv/bin/python benchmarks/run_all.py search metric   # only bm_search.py, bm_metric.py
    .venv/bin/python benchmarks/run_all.py --list
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    """Every ``bm_*.py`` beside this file, by name."""
    return sorted(HERE.glob("bm_*.py"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run every benchmark (or the named ones).")
    p.add_argument("names", nargs="*", help="benchmark names (bm_NAME.py), default all")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = p.parse_args(argv)
    found = {path.stem.removeprefix("bm_"): path for path in discover()}
    if args.list:
        print("\n".join(found))
        return 0
    unknown = [n for n in args.names if n not in found]
    if unknown:
        print(f"run_all: unknown benchmark(s) {unknown}; there are {sorted(found)}", file=sys.stderr)
        return 2
    todo = [found[n] for n in args.names] if args.names else list(found.values())
    summary = []
    for path in todo:
        print(f"\n=== {path.name} ===", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(path)], cwd=HERE.parent)
        summary.append((path.name, code, time.perf_counter() - t0))
    print("\n=== summary ===")
    for name, code, seconds in summary:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{name:24s} {status:18s} {seconds:7.0f} s")
    return 1 if any(code != 0 for _, code, _ in summary) else 0


if __name__ == "__main__":
    raise SystemExit(main())
