"""What every benchmark writes beside its numbers: the machine and the command."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU, cores, OS load, Python, numpy and torch versions (torch if imported)."""
    import numpy as np

    parts = [
        f"CPU {cpu_model()}",
        f"{len(os.sched_getaffinity(0))} cores",
        f"load {os.getloadavg()[0]:.2f}",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
    ]
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    return ", ".join(parts)


def command() -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])


def write(name: str, title: str, body: str) -> Path:
    """Write ``benchmarks/results/NAME.md`` with the command, machine and date heading ``body``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    head = (
        f"# {title}\n\n"
        f"- command: `{command()}`\n"
        f"- machine: {machine()}\n"
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
    )
    path.write_text(head + body.rstrip() + "\n")
    return path
