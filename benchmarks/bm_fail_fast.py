"""How fast does `effobj search` refuse a custom space that cannot train?

Issue 22's target: a broken space is refused in < 5 s with the missing key named. The
space is a user's own ``ModelSpace`` that forgot the training parameters (``epochs``,
``lr``, ...), searched from the command line as a user types it, each run a fresh
process (Python start-up, imports, loading the space file, the check). The wall time
counts all of it. Writes ``benchmarks/results/fail_fast.md``.

    .venv/bin/python benchmarks/bm_fail_fast.py [--runs 5] [--busy N] [--note TEXT]

``--busy N`` starts N processes that spin on the CPU beside the runs (N = the core count:
one busy process per core).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0

#: the user's space file: a ModelSpace without the training parameters
SPACE = '''import math

import torch

from effobj.spaces import Int, ModelSpace


class NoTraining(ModelSpace):
    """A user's own space that forgot the training keys ModelSpace.train reads."""
    name = "no-training"
    layouts = ("flat", "image")
    params = (Int("width", 8, 10),)

    def _build(self, config, info):
        return torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(math.prod(info.input_shape), config["width"]),
            torch.nn.ReLU(), torch.nn.Linear(config["width"], info.num_classes))
'''

COMMAND = ["search", "--space", "spaces.py:NoTraining", "--trials", "10", "--perf-ref", "1",
           "--cost", "macs", "--budget", "1e6", "--storage", "sqlite:///x.db"]
#: the training parameters the refusal must name
KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay")


def run_once(folder: Path) -> tuple[float, int, str, float]:
    """(wall seconds, exit code, stderr, load before) of one refusal, a fresh process."""
    db = folder / "x.db"
    if db.exists():
        db.unlink()
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    done = subprocess.run([str(ROOT / ".venv/bin/effobj"), *COMMAND], capture_output=True,
                          text=True, cwd=folder)
    return time.monotonic() - t0, done.returncode, done.stderr, load


def _spin() -> None:
    while True:
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--busy", type=int, default=0, help="busy processes beside the runs")
    p.add_argument("--note", action="append", default=[], help="a line for the notes")
    args = p.parse_args()
    if args.runs < 1:
        p.error(f"--runs must be an integer >= 1. Got {args.runs}.")
    if args.busy < 0:
        p.error(f"--busy must be an integer >= 0. Got {args.busy}.")
    busy = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for b in busy:
        b.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "spaces.py").write_text(SPACE)
        runs = [run_once(folder) for _ in range(args.runs)]
    for b in busy:
        b.terminate()
    lines = [f"`effobj {' '.join(COMMAND)}` in a folder holding the user's `spaces.py` (a "
             "ModelSpace without the training parameters), each run a fresh process: Python "
             "start-up, imports, loading the space, the check"
             + (f", with {args.busy} busy process(es) spinning beside the runs" if args.busy
                else "") + ".", "",
             "| run | load before | wall s | exit code | names every missing key | traceback |",
             "|---:|---:|---:|---:|---|---|"]
    ok = True
    for i, (secs, rc, err, load) in enumerate(runs, 1):
        named = all(f"'{k}'" in err for k in KEYS)
        tb = "Traceback" in err
        ok &= rc == 2 and named and not tb
        lines.append(f"| {i} | {load:.2f} | {secs:.2f} | {rc} | {'yes' if named else 'NO'} | "
                     f"{'YES' if tb else 'no'} |")
    worst = max(r[0] for r in runs)
    lines += ["", f"- median {statistics.median(r[0] for r in runs):.2f} s, slowest {worst:.2f} s",
              f"- target: refused in < {TARGET_S:g} s with the missing keys named: slowest "
              f"{worst:.2f} s, {'every' if ok else 'NOT every'} run exit 2 naming "
              f"{', '.join(KEYS)} -> {'PASS' if ok and worst < TARGET_S else 'FAIL'}",
              "", "The refusal (last run's standard error):", "", "```text",
              runs[-1][2].strip()[-1200:], "```",
              *(["", "Notes:", "", *(f"- {n}" for n in args.note)] if args.note else [])]
    path = write("fail_fast", "A broken custom space refused (issue 22)", "\n".join(lines))
    print(path)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
