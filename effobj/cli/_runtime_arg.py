"""The ``--runtime`` and ``--latency-method`` options of the commands that profile models
(``profile``, ``search``, ``space-range``): one definition, so each command offers the same
choices and words."""

from __future__ import annotations

import argparse

from effobj.profiler._options import LATENCY_METHODS, RUNTIMES

__all__ = ["add_runtime_argument"]


def add_runtime_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--runtime {eager,compile,onnxruntime}`` (default eager) and ``--latency-method
    {compensated,plain}`` (default compensated) to ``p``."""
    p.add_argument("--runtime", choices=RUNTIMES, default="eager",
                   help="what runs the timed passes, as deployed: eager PyTorch, torch.compile, "
                   "or onnxruntime (exported with torch.onnx; needs the onnx extra, CPU only); "
                   "counts are the same in all (default eager)")
    p.add_argument("--latency-method", choices=LATENCY_METHODS, default="compensated",
                   help="compensated: the candidate timed between blocks of a fixed reference "
                   "workload, its latency the median ratio times the reference's calibrated "
                   "time (steadier on a machine whose speed drifts; one whose reference ran "
                   "more than 3x off its calibration, or off a plain probe of the candidate, "
                   "is replaced by a plain measurement, flagged latency_reference_disturbed); "
                   "plain: the median of its own blocks (default compensated)")
