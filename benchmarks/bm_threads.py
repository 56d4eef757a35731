"""Does `effobj space-range` give the same latency range twice, at 1 thread and at 2?

Issue 22's target: at ``--threads 1`` on a loaded 2-core machine, the latency quantiles
of two runs of ``effobj space-range`` (the same random candidates: same seed) agree
within 10 %. Each run is the command a user types, in its own process (so each
calibrates its own latency scale, as two sessions would); the load average is recorded
beside each run. Writes ``benchmarks/results/threads.md``.

    .venv/bin/python benchmarks/bm_threads.py [--samples 20] [--threads 1 2] [--runs 2] [--busy N]

``--busy N`` starts N processes that spin on the CPU for the whole benchmark (a controlled
load: N = the core count is one busy process per core), beside whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("min", "q10", "q25", "q50", "q75", "q90", "max")


def run_once(space: str, samples: int, threads: int) -> tuple[dict, float, float, float]:
    """(latency_ms stats, load before, load after, seconds) of one space-range run."""
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/effobj"), "space-range", "--space", space, "--samples",
         str(samples), "--threads", str(threads), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, check=True)
    out = json.loads(done.stdout)
    return out["indicators"]["latency_ms"], load0, os.getloadavg()[0], time.monotonic() - t0


def _spin() -> None:
    while True:
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--space", default="mobilenet")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--busy", type=int, default=0, help="busy processes beside the runs")
    args = p.parse_args()
    import multiprocessing as mp

    busy = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for b in busy:
        b.start()
    load = (f"with {args.busy} busy process(es) spinning beside them (a controlled load) "
            if args.busy else "")
    lines = [f"`effobj space-range --space {args.space} --samples {args.samples} --threads N` "
             f"run {args.runs} times per N, each in its own process (the same {args.samples} "
             f"candidates, seed 0), {load}on this {os.cpu_count()}-core machine shared with "
             "the other work of the moment (load averages below). Latency quantiles in ms; "
             "spread = (largest - smallest) / smallest over the runs.", ""]
    for threads in args.threads:
        runs = [run_once(args.space, args.samples, threads) for _ in range(args.runs)]
        lines += [f"### --threads {threads}", "",
                  "| run | load before | load after | seconds | " + " | ".join(KEYS) + " |",
                  "|---:|---:|---:|---:|" + "---:|" * len(KEYS)]
        for i, (stats, l0, l1, secs) in enumerate(runs, 1):
            lines.append(f"| {i} | {l0:.1f} | {l1:.1f} | {secs:.0f} | "
                         + " | ".join(f"{stats[k]:.3f}" for k in KEYS) + " |")
        spread = [max(r[0][k] for r in runs) / min(r[0][k] for r in runs) - 1 for k in KEYS]
        lines.append("| spread | | | | " + " | ".join(f"{s:.0%}" for s in spread) + " |")
        worst = max(spread[1:-1])  # the quantiles (min and max are single candidates)
        lines += ["", f"Largest spread of the 10-90 % quantiles: {worst:.0%} "
                  f"({'within' if worst <= 0.10 else 'beyond'} the 10 % target).", ""]
    for b in busy:
        b.terminate()
    write("threads", "Latency range of a space, twice, at 1 and 2 threads", "\n".join(lines))


if __name__ == "__main__":
    main()
