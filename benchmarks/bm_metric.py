"""E_beta throughput against the memory-bound floor: one elementwise add over the same arrays.

numpy: hard E_beta over 10^7 (A, C) pairs vs ``a + c`` (target: within 3x).
torch: soft E_beta forward+backward vs ``(a + c)`` forward+backward (target: within 5x),
eager and through ``SoftEBetaScore(compile=True)``.

Each ratio is a median over interleaved repeats (baseline and candidate alternate), so
a noisy shared machine moves both sides together. Writes benchmarks/results/metric.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np


def interleaved(base: Callable[[], object], cand: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median base time, median candidate time, median of per-pair ratios."""
    base()
    cand()
    tb, tc, ratios = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        base()
        t1 = time.perf_counter()
        cand()
        t2 = time.perf_counter()
        tb.append(t1 - t0)
        tc.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(tb), statistics.median(tc), statistics.median(ratios)


def threaded_add(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a + c`` split over the cores exactly as effobj's numpy path splits E_beta
    (``effobj._metric.stream.run_blocks``, the hard metric's block size): the floor on the
    same threads."""
    from effobj._metric.stream import HARD_BLOCK, run_blocks

    out = np.empty_like(a)

    def work(lo: int, hi: int, _s: None) -> bool:
        np.add(a[lo:hi], c[lo:hi], out=out[lo:hi])
        return True

    run_blocks(a.size, HARD_BLOCK, lambda: None, work)
    return out


def thread_scaling(n: int = 10**7) -> float:
    """Speed-up of two threads over one on pure numpy divides (2.0 = two real cores)."""
    from concurrent.futures import ThreadPoolExecutor

    x = np.random.default_rng(1).random(n)
    y = np.empty(n)
    blk = 1 << 15

    def work(lo: int, hi: int) -> None:
        for s in range(lo, hi, blk):
            for _ in range(5):
                np.divide(x[s : s + blk], 1.7, out=y[s : s + blk])

    def best(f: Callable[[], object]) -> float:
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    with ThreadPoolExecutor(2) as pool:
        one = best(lambda: work(0, n))
        two = best(lambda: list(pool.map(lambda i: work(i * n // 2, (i + 1) * n // 2), range(2))))
    return one / two


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10**7)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    args = ap.parse_args()

    import torch

    import effobj
    from effobj import SoftEBetaScore, e_beta, soft_e_beta
    from effobj._metric.kernels import gate_margins, soft_kernel

    rng = np.random.default_rng(0)
    n, r = args.n, args.repeats
    rows: list[tuple[str, str, float, float, float, str]] = []

    for dtype in (np.float64, np.float32):
        a = rng.random(n).astype(dtype)
        c = (rng.random(n) * 1.2).astype(dtype)
        for label, kw in (
            ("e_beta", {}),
            ("e_beta, a_min=0.5, c_max=0.9", {"a_min": 0.5, "c_max": 0.9}),
            ("e_beta, validate_args=False", {"validate_args": False}),
        ):
            tb, tc, q = interleaved(lambda: threaded_add(a, c), lambda: e_beta(a, c, **kw), r)  # noqa: B023
            target = "<= 3x" if "validate" not in label else ""
            rows.append((f"numpy {np.dtype(dtype).name}", label, tb, tc, q, target))
        tb, tc, q = interleaved(lambda: np.add(a, c), lambda: e_beta(a, c), r)  # noqa: B023
        rows.append((f"numpy {np.dtype(dtype).name}", "e_beta against a one-thread np.add "
                     "(the old, unequal floor)", tb, tc, q, ""))

    for dtype in (torch.float32, torch.float64):
        a = torch.rand(n, dtype=dtype, requires_grad=True)
        c = (torch.rand(n, dtype=dtype) * 1.2).requires_grad_()
        g = torch.ones(n, dtype=dtype)

        def fb(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
            def step() -> None:
                a.grad = None  # noqa: B023
                c.grad = None  # noqa: B023
                f().backward(g)  # noqa: B023

            return step

        add = fb(lambda: a + c)  # noqa: B023
        cands = [
            ("soft_e_beta fwd+bwd, eager", lambda: soft_e_beta(a, c, a_min=0.5, c_max=0.9, validate_args=False)),  # noqa: B023
            ("soft_e_beta fwd+bwd, eager, checked", lambda: soft_e_beta(a, c, a_min=0.5, c_max=0.9)),  # noqa: B023
            ("generic kernel under autograd (what the streamed path replaces)",
             lambda: soft_kernel(a, c, 1.0, gate_margins(a, 0.5, [(c, 0.9)]), 0.02, 0.02, torch)),  # noqa: B023
            ("e_beta (hard) fwd+bwd, eager", lambda: e_beta(a, c, a_min=0.5, c_max=0.9, validate_args=False)),  # noqa: B023
        ]
        if not args.no_compile:
            mod = SoftEBetaScore(a_min=0.5, c_max=0.9, validate_args=False, compile=True)
            cands.append(("SoftEBetaScore(compile=True) fwd+bwd", lambda: mod(a, c)))  # noqa: B023
        for label, f in cands:
            tb, tc, q = interleaved(add, fb(f), r)
            target = "<= 5x" if label.startswith(("soft_e_beta fwd+bwd, eager", "Soft")) and "checked" not in label else ""
            rows.append((f"torch {str(dtype).removeprefix('torch.')}", label, tb, tc, q, target))

    lines = [
        "| backend | what | floor (add) ms | E_beta ms | ratio | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for backend, label, tb, tc, q, target in rows:
        mark = ""
        if target:
            limit = float(target.split()[1].rstrip("x"))
            mark = f"{target} {'met' if q <= limit else 'MISSED'}"
        lines.append(f"| {backend} | {label} | {tb * 1e3:.1f} | {tc * 1e3:.1f} | {q:.2f}x | {mark} |")
    body = (
        f"{n:,} pairs, median of {r} interleaved repeats; ratio = median over repeats of "
        "(E_beta time / add time measured just before it). The numpy floor is `a + c` split "
        "into the same blocks over the same threads as effobj's numpy path (`run_blocks`, "
        f"{__import__('effobj._metric.stream', fromlist=['x'])._n_threads()} threads here); the "
        "torch floor is `(a + c).backward(g)` on torch's own intra-op threads "
        f"({torch.get_num_threads()}), as many as the streamed path uses.\n\n" + "\n".join(lines) + "\n\n"
        "How: numpy streams 2^17-element blocks (the surrogate: 2^16) through in-place ufuncs (no masked `where=` "
        "loops, which measured 3-7x slower than plain ones), the checks done per block while "
        "it is in cache, blocks split over the cores. torch on CPU: `soft_e_beta` streams the "
        "same arithmetic block by block through numpy views of the tensors (bit-identical "
        "values) and computes the closed-form gradient the same way in a custom autograd "
        "Function (effobj/_metric/fused.py); the generic kernel under autograd is ~25 "
        "elementwise kernels forward and more backward, each a full pass over memory; "
        f"`torch.compile` fuses each direction into one loop. effobj {effobj.__version__}.\n"
    )
    scaling = thread_scaling()
    body += (
        f"\nParallel capacity measured in the same run: two threads of numpy divides ran "
        f"{scaling:.2f}x as fast as one (2.0 would be two real cores). effobj's numpy path "
        "splits its blocks over the cores, so its ratio moves with this number (an earlier "
        "probe the same day measured 1.05x: two busy processes each ran at half speed).\n"
    )
    from _machine import write

    path = write("metric", "E_beta throughput (bm_metric.py)", body)
    print(path.read_text())


if __name__ == "__main__":
    main()
