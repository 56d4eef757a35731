r"""The scale of drift-compensated latency: a fixed reference workload, calibrated per device.

A shared machine changes speed in phases of seconds (a neighbour's job, frequency
scaling), and every block of a latency measurement taken in a slow phase is slow. The
compensated measurement (:attr:`ProfileOptions.latency_method
<effobj.profiler.ProfileOptions.latency_method>` ``= "compensated"``) times the candidate's
blocks interleaved with blocks of a fixed *reference workload* on the same device and
thread count, ``R C R C ... C R``, and takes for block :math:`i` the ratio

.. math::

    q_i = \frac{c_i}{\tfrac12 (r_i + r_{i+1})},

the candidate's per-pass time over that of the reference blocks around it: both ran at
the machine's speed of that moment, so the ratio does not move with it. The latency is

.. math::

    \hat{t} = \operatorname{median}_i(q_i) \cdot t_{\mathrm{ref}},

with :math:`t_{\mathrm{ref}}` the reference's per-pass time from a :class:`LatencyScale`
(reference blocks last as long as the candidate's, so both average the machine's state
over the same span):
a calibration made once per device, the quietest phase of a few hundred reference blocks
(the lowest of the medians of consecutive segments), so :math:`\hat{t}` estimates the
candidate's latency on the quiet machine. A search stores the scale with its study, so
all workers and all sessions on one kind of device report on one scale
(:mod:`effobj.optuna._calibration`); without one, each process calibrates once per
device and thread count.

**Runtimes.** The reference runs in eager PyTorch beside eager and ``torch.compile``
candidates, and in ONNX Runtime beside ONNX Runtime ones (with a scale of its own key):
ONNX Runtime's thread pool spins between runs, and a torch reference beside it read the
machine 3-4x slower than it was; the reference's own session sleeps instead of spinning,
so that it does not hold the cores the candidate's session needs.

**Limits.** The ratio cancels what slows both workloads alike: time-slicing with other
processes and clock changes. It does not cancel what slows them differently: a neighbour
thrashing the cache hurts a memory-bound candidate more than the compute-bound
reference, and intra-op threads that wait on each other at a barrier, when other
processes hold some of the cores the profile's threads run on, slow large parallel
operators more than small ones. A calibration taken while the whole machine is loaded
sets every latency of that scale too high by one factor (rankings hold, absolute values
and budget decisions do not); the scale says when and where it was measured.

This module imports neither torch nor optuna; :func:`calibrate` imports torch.
"""

from __future__ import annotations

import math
import platform
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from effobj._validation import check_choice, check_instance, check_int
from effobj.profiler._options import RUNTIMES, max_threads
from effobj.profiler._report import LatencyScale

__all__ = ["LatencyScale", "calibrate", "cpu_model", "process_scale", "reference_runtime",
           "reference_workload", "scale_key"]

#: segments the calibration's blocks are cut into; the quietest segment's median is the scale
_CAL_SEGMENTS = 8
#: blocks per segment of the calibration
_CAL_BLOCKS_PER_SEGMENT = 25
#: seconds a reference block lasts (about)
_BLOCK_S = 1e-3
#: time cap of a calibration, seconds
_CAL_MAX_S = 2.0


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def reference_runtime(runtime: str) -> str:
    """The runtime the reference workload runs in beside a candidate timed in ``runtime``:
    ONNX Runtime for ONNX Runtime (its thread pool spins between runs and stalls torch's
    threads, so a torch reference beside it reads the machine several times too slow),
    eager PyTorch otherwise (a compiled reference would reset the candidate's compiled
    code: dynamo's caches are reset per model)."""
    return "onnxruntime" if runtime == "onnxruntime" else "eager"


def scale_key(device: str, threads: int, runtime: str = "eager") -> str:
    """The key of a :class:`LatencyScale`: ``"cpu|<cpu model>|threads=1|torch 2.13.0"``
    (the GPU's name for CUDA devices), with ``"|onnxruntime"`` appended for the
    reference of ONNX Runtime profiles (:func:`reference_runtime`). Imports torch."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        hardware = torch.cuda.get_device_name(dev)
    else:
        hardware = cpu_model()
    key = f"{dev.type}|{hardware}|threads={threads}|torch {torch.__version__}"
    return key if reference_runtime(runtime) == "eager" else f"{key}|onnxruntime"


_REFERENCES: dict[tuple[str, int, str], Callable[[], object]] = {}


def reference_workload(device: str, threads: int = 1, runtime: str = "eager"
                       ) -> Callable[[], object]:
    """The reference workload: one pass of a fixed small convolutional network.

    A 3x3 convolution, a depthwise 3x3, a pointwise 1x1 and a linear layer on a
    16-channel 12 x 12 input, weights from a fixed seed, in eval and inference mode (the
    caller enters inference mode). The same ops as the candidates of a CNN search, small
    enough (about 0.1-0.5 ms on a CPU core) to interleave finely. In
    :func:`reference_runtime` of ``runtime``: for ONNX Runtime, exported once per process
    and thread count and run by an ``InferenceSession`` at ``threads`` whose idle threads
    sleep rather than spin (``session.intra_op.allow_spinning = 0``). Imports torch.
    """
    import torch

    kind = reference_runtime(runtime)
    cached = _REFERENCES.get((device, threads, kind))
    if cached is not None:
        return cached
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 16, 1), torch.nn.Flatten(), torch.nn.Linear(16 * 12 * 12, 64),
        ).eval().to(device)
        x = torch.randn(1, 16, 12, 12).to(device)
    if kind == "onnxruntime":
        from effobj.profiler._runtime import prepare_runtime

        # its idle threads sleep: spinning, they would hold the cores the candidate's
        # session needs (both then read about 2x slow, and the ratio low)
        fn = prepare_runtime("onnxruntime", net, (x,), threads=threads, name="reference",
                             spin=False).fn
    else:
        def fn() -> object:
            return net(x)
    _REFERENCES[(device, threads, kind)] = fn
    return fn


def calibrate(device: str = "cpu", threads: int | None = None, runtime: str = "eager"
              ) -> LatencyScale:
    """Measure the reference workload's per-pass time on ``device`` at ``threads``.

    Times up to :data:`_CAL_SEGMENTS` x :data:`_CAL_BLOCKS_PER_SEGMENT` blocks of about
    1 ms (about 0.3 s in all on a quiet CPU; at most :data:`_CAL_MAX_S` seconds, at least
    :data:`_CAL_SEGMENTS` blocks, on a machine so loaded that a block takes far longer),
    cuts them in :data:`_CAL_SEGMENTS` consecutive segments and takes the lowest of the
    segments' medians: the quietest phase of the calibration, as an estimate of the quiet
    machine.

    Args:
        device: The device as torch spells it.
        threads: Intra-op threads (``None``: ``torch.get_num_threads()``).
        runtime: The runtime of the profiles the scale is for (the reference runs in
            :func:`reference_runtime` of it).

    Returns:
        A :class:`LatencyScale` keyed by :func:`scale_key`.
    """
    check_instance(device, "device", "calibrate", str, "a str such as 'cpu' or 'cuda:0'")
    threads = check_int(threads, "threads", "calibrate", low=1, high=max_threads(),
                        allow_none=True)
    check_choice(runtime, "runtime", "calibrate", RUNTIMES)
    import torch

    from effobj.profiler._latency import block_timer

    n_threads = torch.get_num_threads() if threads is None else int(threads)
    fn = reference_workload(device, n_threads, runtime)
    old = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with torch.inference_mode():
            timed = block_timer(fn)
            warm = [timed(1) for _ in range(3)]
            number = max(1, math.ceil(_BLOCK_S / min(warm[1:])))
            per: list[float] = []
            t0 = time.perf_counter()
            while len(per) < _CAL_SEGMENTS * _CAL_BLOCKS_PER_SEGMENT and (
                    len(per) < _CAL_SEGMENTS or time.perf_counter() - t0 < _CAL_MAX_S):
                per.append(timed(number) / number)
    finally:
        torch.set_num_threads(old)
    cuts = [round(i * len(per) / _CAL_SEGMENTS) for i in range(_CAL_SEGMENTS + 1)]
    seg = [sorted(per[cuts[i]:cuts[i + 1]]) for i in range(_CAL_SEGMENTS)]
    medians = [s[len(s) // 2] for s in seg]
    return LatencyScale(
        key=scale_key(device, n_threads, runtime),
        reference_ms=min(medians) * 1e3,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        host=socket.gethostname(),
    )


_PROCESS_SCALES: dict[str, LatencyScale] = {}
_LOCK = threading.Lock()


def process_scale(device: str, threads: int, runtime: str = "eager") -> LatencyScale:
    """This process's scale for ``device`` at ``threads`` in ``runtime``'s reference:
    calibrated on first use."""
    key = scale_key(device, threads, runtime)
    with _LOCK:
        hit = _PROCESS_SCALES.get(key)
        if hit is None:
            hit = _PROCESS_SCALES[key] = calibrate(device, threads, runtime)
        return hit
