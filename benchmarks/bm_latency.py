"""Drift-compensated latency beside plain timing, under a load that comes and goes.

Run: ``.venv/bin/python benchmarks/bm_latency.py`` (writes ``benchmarks/results/latency.md``).
``--quick`` (6 candidates, threads=1 only, ResNet-18 and MobileNetV2 in the runtimes part)
is a smoke run: it writes ``/tmp/effobj_bm_latency_quick.md``, never the results file.

Part 1, stability under load. Candidates: a fixed-seed random pool of the ``mobilenet``
space (``--pool`` configs plus the all-smallest and all-largest ones), reduced to distinct
architectures (the training hyper-parameters and dropout do not change what runs at
inference), each quick-timed (the fastest of 3 rounds over the pool of a few blocks each,
at one thread, before the load), and 20 of them
picked log-spaced in that latency so that they span >= 10x; batch 8. A child process (this
script with ``--load-child``) runs one busy worker per core, switched on and off in phases
of a random 1.5-4 s (fixed seed); it is started before pass 1 and killed after pass 2, also
on an exception or Ctrl-C. Each pass profiles every candidate in its own shuffled order, the
plain and the compensated method back to back (which one goes first alternates), with the
public ``effobj.profiler.profile_model(..., threads=T, max_time_s=1.0, memory=False,
cache=False)``: both methods get the same time cap and the same information. The
compensated profiles of a thread setting share one calibration,
``effobj.profiler.calibrate("cpu", T)``, measured once before the load starts, as a study
stores one. Per method: Kendall's tau between the two passes' latencies, the share of
candidates whose budget decision (budget = the median of that method's pass-1 latencies)
is the same in both passes, the relative spread |p1 - p2| / mean(p1, p2) (median and max
over candidates), and the share of profiles that hit the time cap. At threads=1 (the
primary table; the targets apply) and at threads = all cores, in the same run.

Part 2, runtimes: latency (median, interval, converged) of eager, torch.compile and ONNX
Runtime on the five reference models (tests/profiler/reference_models.py) at batch 1,
compensated, no load of ours, threads = all cores; a runtime that fails on a model is shown
with its reason.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "profiler"), str(ROOT / "benchmarks")]

# The load child is this script run again: it must not pay for (or fork after) torch.
_LOAD_CHILD = len(sys.argv) > 1 and sys.argv[1] == "--load-child"

if not _LOAD_CHILD:
    import torch
    from _machine import command, machine, write
    from scipy.stats import kendalltau

    import effobj.spaces as S
    from effobj.errors import EffobjError
    from effobj.profiler import LatencyScale, calibrate, profile_model

    warnings.filterwarnings("ignore")

TITLE = "Latency: drift-compensated beside plain timing, under an on/off load"
BATCH = 8  # candidates' batch size
MAX_TIME_S = 1.0  # time cap of every candidate profile, both methods
N_CANDIDATES = 20
QUICK_ROUNDS = 3  # rounds of quick timing over the pool (the fastest is kept)
PHASE_S = (1.5, 4.0)  # on and off phases of the load, uniform random, seconds
RUNTIMES = ("eager", "compile", "onnxruntime")
RUNTIME_MAX_TIME_S = 3.0  # per runtime profile: ResNet-50 and BERT-base passes are ~0.1-0.3 s
#: not architecture: they change training, not the network that runs in eval mode
TRAINING_NAMES = {"dropout", "lr", "weight_decay", "batch_size", "epochs", "optimizer"}
QUICK_FILE = Path(tempfile.gettempdir()) / "effobj_bm_latency_quick.md"


# ------------------------------------------------------------------------------ the load
def load_child(seed: int, workers: int) -> None:
    """One busy worker per core, all on or all off, in phases of a random 1.5-4 s.

    Prints one line per phase (``on 2.31``) to stdout. Exits, stopping its workers, on
    SIGTERM or SIGINT; each worker also exits once its parent is gone.
    """
    import multiprocessing as mp
    import signal

    def stop(*_: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctx = mp.get_context("fork")
    flag = ctx.Value("b", 0, lock=False)
    procs = [ctx.Process(target=_busy, args=(flag, os.getpid()), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    rng = random.Random(seed)
    on = True
    try:
        while True:
            d = rng.uniform(*PHASE_S)
            flag.value = 1 if on else 0
            print(f"{'on' if on else 'off'} {d:.2f}", flush=True)
            time.sleep(d)
            on = not on
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=2)


def _busy(flag: Any, parent: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the controller stops us
    x = 0
    while os.getppid() == parent:
        if flag.value:
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        else:
            time.sleep(0.01)


class Load:
    """The on/off load as a child process: ``with Load(seed, workers) as load: ...``."""

    def __init__(self, seed: int, workers: int) -> None:
        self.seed, self.workers = seed, workers
        self.log = tempfile.NamedTemporaryFile("w+", prefix="effobj_load_", suffix=".log", delete=False)
        self.proc: subprocess.Popen[bytes] | None = None
        self.phases: list[tuple[str, float]] = []

    def __enter__(self) -> Load:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--load-child", str(self.seed),
             str(self.workers)], stdout=self.log, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # the workers are running before the first profile
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.flush()
        self.log.seek(0)
        for line in self.log.read().splitlines():
            state, d = line.split()
            self.phases.append((state, float(d)))
        self.log.close()
        os.unlink(self.log.name)


# ------------------------------------------------------------------------------ candidates
def arch_key(space: Any, cfg: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(cfg[n] for n, _ in space.encoding() if n not in TRAINING_NAMES)


def short(cfg: dict[str, Any]) -> str:
    """``r16 x1.0 [2k3e6s 1k5e3 3k7e1]``"""
    stages = " ".join(f"{cfg[f'depth_{s}']}k{cfg[f'kernel_{s}']}e{cfg[f'expand_{s}']}"
                      + ("s" if cfg[f"se_{s}"] else "") for s in (1, 2, 3))
    return f"r{cfg['resolution']} x{cfg['width_mult']} [{stages}]"


def quick_time(fn: Callable[[], object]) -> float:
    """Seconds per pass: the fastest of 3 blocks of about 2 ms, after 2 warm-up passes."""
    block = timeit.Timer(stmt="fn()", globals={"fn": fn})
    warm = [block.timeit(1) for _ in range(2)]
    number = max(1, math.ceil(2e-3 / warm[-1]))
    return min(block.timeit(number) / number for _ in range(3))


def pick_candidates(space: Any, pool: int, n: int, seed: int) -> tuple[list[dict], dict]:
    """``n`` distinct architectures log-spaced in their quick-timed latency at one thread."""
    enc = space.encoding()
    rng = random.Random(seed)
    indices = [[0] * len(enc), [len(v) - 1 for _, v in enc]]
    indices += [[rng.randrange(len(v)) for _, v in enc] for _ in range(pool)]
    seen: dict[tuple, dict] = {}
    for idx in indices:
        cfg = space.decode(idx)
        seen.setdefault(arch_key(space, cfg), cfg)
    cfgs = list(seen.values())
    built = []
    for cfg in cfgs:
        torch.manual_seed(0)
        built.append((space.build(cfg).eval(), space.example_input(cfg, batch_size=BATCH)))
    best = [math.inf] * len(cfgs)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # rounds over the whole pool, each in its own order, keeping each one's fastest: a
        # neighbour's burst during one round does not decide where a candidate lands
        for r in range(QUICK_ROUNDS):
            order = list(range(len(cfgs)))
            random.Random(seed * 100 + r).shuffle(order)
            for k in order:
                model, x = built[k]
                with torch.inference_mode():
                    best[k] = min(best[k], quick_time(lambda m=model, x=x: m(*x)))
    finally:
        torch.set_num_threads(old)
    del built
    timed = sorted(zip(best, cfgs, strict=True), key=lambda tc: tc[0])
    lo, hi = timed[0][0], timed[-1][0]
    chosen: list[int] = []
    for i in range(n):
        target = math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1)
        j = min((k for k in range(len(timed)) if k not in chosen),
                key=lambda k: abs(math.log(timed[k][0]) - target))
        chosen.append(j)
    chosen.sort()
    picked = [{"cfg": timed[j][1], "quick_ms": timed[j][0] * 1e3} for j in chosen]
    info = {"drawn": len(indices), "distinct": len(seen), "pool_lo_ms": lo * 1e3,
            "pool_hi_ms": hi * 1e3}
    return picked, info


# ------------------------------------------------------------------------------ part 1
def profile_pass(cands: list[dict], models: list, inputs: list, threads: int, scale: LatencyScale,
                 order_seed: int, pass_no: int) -> dict[str, list]:
    """One pass: every candidate in a shuffled order, both methods back to back."""
    order = list(range(len(cands)))
    random.Random(order_seed).shuffle(order)
    out: dict[str, list] = {"plain": [None] * len(cands), "compensated": [None] * len(cands)}
    for pos, i in enumerate(order):
        methods = ["plain", "compensated"]
        if (pos + pass_no) % 2:
            methods.reverse()
        for meth in methods:
            extra = {"latency_scale": scale} if meth == "compensated" else {}
            r = profile_model(models[i], inputs[i], latency_method=meth, threads=threads,
                              max_time_s=MAX_TIME_S, memory=False, cache=False, **extra)
            out[meth][i] = r
        print(f"  T={threads} pass {pass_no} [{pos + 1:2d}/{len(cands)}] {short(cands[i]['cfg']):34s} "
              f"plain {out['plain'][i].latency_ms:8.3f} ms  compensated "
              f"{out['compensated'][i].latency_ms:8.3f} ms  (machine x"
              f"{out['compensated'][i].latency_reference_now_ms / scale.reference_ms:.2f})",
              flush=True)
    return out


def metrics(p1: list[float], p2: list[float], conv: list[bool]) -> dict[str, float]:
    tau = float(kendalltau(p1, p2).statistic)
    budget = statistics.median(p1)
    agree = sum((a <= budget) == (b <= budget) for a, b in zip(p1, p2, strict=True)) / len(p1)
    rel = [abs(a - b) / (0.5 * (a + b)) for a, b in zip(p1, p2, strict=True)]
    return {"tau": tau, "agree": agree, "spread_med": statistics.median(rel),
            "spread_max": max(rel), "unconverged": 1 - sum(conv) / len(conv), "budget": budget}


def run_threads(cands: list[dict], models: list, inputs: list, threads: int, scale: LatencyScale,
                seed: int) -> dict[str, Any]:
    passes = []
    for pass_no in (1, 2):
        t0, l0 = time.perf_counter(), os.getloadavg()[0]
        res = profile_pass(cands, models, inputs, threads, scale, seed * 1000 + threads * 10 + pass_no,
                           pass_no)
        passes.append({"res": res, "wall_s": time.perf_counter() - t0, "load": (l0, os.getloadavg()[0])})
    out: dict[str, Any] = {"threads": threads, "scale": scale, "passes": passes, "metrics": {}}
    for meth in ("plain", "compensated"):
        p1 = [r.latency_ms for r in passes[0]["res"][meth]]
        p2 = [r.latency_ms for r in passes[1]["res"][meth]]
        conv = [r.latency_converged for p in passes for r in p["res"][meth]]
        out["metrics"][meth] = metrics(p1, p2, conv)
    # information only: the plain median of the candidate's own blocks inside the
    # compensated profiles (half the blocks of the plain method, the other half reference)
    p1 = [r.latency_raw_ms for r in passes[0]["res"]["compensated"]]
    p2 = [r.latency_raw_ms for r in passes[1]["res"]["compensated"]]
    out["metrics"]["raw in compensated"] = metrics(p1, p2, [True] * len(p1))
    slow = [r.latency_reference_now_ms / scale.reference_ms for p in passes
            for r in p["res"]["compensated"]]
    out["slowdown"] = (min(slow), statistics.median(slow), max(slow))
    # compensated profiles that failed the reference check: their latency is plain
    out["flagged"] = sum(r.latency_reference_disturbed is True for p in passes
                         for r in p["res"]["compensated"])
    return out


# ------------------------------------------------------------------------------ part 2
IMAGE = (1, 3, 224, 224)


def reference_models() -> dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], torch.Tensor]]]:
    import reference_models as R

    return {
        "ResNet-18": (R.resnet18, lambda: torch.randn(IMAGE)),
        "ResNet-50": (R.resnet50, lambda: torch.randn(IMAGE)),
        "MobileNetV2": (R.mobilenet_v2, lambda: torch.randn(IMAGE)),
        "ViT-Ti/16": (R.vit_tiny, lambda: torch.randn(IMAGE)),
        "BERT-base seq 128": (R.bert_base, lambda: torch.zeros(1, 128, dtype=torch.long)),
    }


def run_runtimes(names: list[str], threads: int, scale: LatencyScale) -> list[dict]:
    rows = []
    # ONNX Runtime is compensated by the reference in ONNX Runtime, on a scale of its own
    ort_scale = calibrate("cpu", threads, "onnxruntime")
    print(f"calibration threads={threads} onnxruntime: {ort_scale.label()}", flush=True)
    for name in names:
        factory, make_x = reference_models()[name]
        torch.manual_seed(0)
        model, x = factory().eval(), make_x()
        for rt in RUNTIMES:
            t0 = time.perf_counter()
            print(f"  {name} in {rt} ...", flush=True)
            try:
                r = profile_model(model, x, runtime=rt, latency_method="compensated",
                                  latency_scale=ort_scale if rt == "onnxruntime" else scale,
                                  threads=threads,
                                  max_time_s=RUNTIME_MAX_TIME_S, memory=False, cache=False)
                row = {"model": name, "runtime": rt, "report": r}
            except EffobjError as exc:  # ProfilingError / InputError: the runtime's reason
                row = {"model": name, "runtime": rt, "error": f"{type(exc).__name__}: {exc}"}
            except Exception as exc:  # anything else is reported too, never a crash of the run
                traceback.print_exc(limit=2)
                row = {"model": name, "runtime": rt, "error": f"{type(exc).__name__}: {exc}"}
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            if "report" in row:
                r = row["report"]
                ci = "no interval" if r.latency_ci95_ms is None else (
                    f"[{r.latency_ci95_ms[0]:.2f}, {r.latency_ci95_ms[1]:.2f}]")
                print(f"  {name} in {rt}: {r.latency_ms:.2f} ms {ci} "
                      f"{'converged' if r.latency_converged else 'cap'}, {row['wall_s']:.0f} s",
                      flush=True)
            else:
                print(f"  {name} in {rt}: {row['error'][:200]}", flush=True)
        del model
    return rows


# ------------------------------------------------------------------------------ report
def _ratio(a: float, b: float) -> str:
    return "n/a" if b == 0 else f"{a / b:.2f}"


def metric_table(m: dict[str, dict[str, float]]) -> list[str]:
    p, c, raw = m["plain"], m["compensated"], m["raw in compensated"]
    rows = [
        ("Kendall's tau, pass 1 vs pass 2", "tau", lambda v: f"{v:.3f}"),
        ("budget decisions that agree", "agree", lambda v: f"{100 * v:.0f} %"),
        ("relative spread, median", "spread_med", lambda v: f"{100 * v:.1f} %"),
        ("relative spread, max", "spread_max", lambda v: f"{100 * v:.1f} %"),
        ("profiles at the time cap (not converged)", "unconverged", lambda v: f"{100 * v:.0f} %"),
        ("budget (median of pass 1), ms", "budget", lambda v: f"{v:.3f}"),
    ]
    lines = ["| metric | plain | compensated | compensated / plain | (info) raw median inside the compensated profiles |",
             "|---|---|---|---|---|"]
    for label, key, fmt in rows:
        ratio = _ratio(c[key], p[key]) if key != "unconverged" else ""
        info = fmt(raw[key]) if key != "unconverged" else ""
        lines.append(f"| {label} | {fmt(p[key])} | {fmt(c[key])} | {ratio} | {info} |")
    return lines


def targets(m: dict[str, dict[str, float]]) -> list[tuple[str, bool]]:
    p, c = m["plain"], m["compensated"]
    return [
        (f"compensated tau >= 0.9: {c['tau']:.3f}", c["tau"] >= 0.9),
        (f"compensated decisions agree >= 95 %: {100 * c['agree']:.0f} %", c["agree"] >= 0.95),
        (f"compensated tau above plain's: {c['tau']:.3f} vs {p['tau']:.3f}", c["tau"] > p["tau"]),
        (f"compensated agreement above plain's: {100 * c['agree']:.0f} % vs {100 * p['agree']:.0f} %",
         c["agree"] > p["agree"]),
        (f"compensated median spread below plain's: {100 * c['spread_med']:.1f} % vs "
         f"{100 * p['spread_med']:.1f} %", c["spread_med"] < p["spread_med"]),
    ]


def render(args: argparse.Namespace, cands: list[dict], info: dict, runs: list[dict], load: Load,
           rt_rows: list[dict], rt_threads: int, loads: dict, wall: dict) -> str:
    L: list[str] = []
    if args.note:
        L += [f"> {args.note}", ""]
    cores = len(os.sched_getaffinity(0))
    on = [d for s, d in load.phases if s == "on"]
    off = [d for s, d in load.phases if s == "off"]
    L.append(f"- load average (1 min) at the start {loads['start']:.2f}, before the load of ours "
             f"{loads['before_load']:.2f}, at the end {loads['end']:.2f} (ours included). The machine "
             "is a shared VM: load beyond ours is not controlled, these averages show it.")
    L.append(f"- wall time {wall['total'] / 60:.1f} min (candidate choice {wall['pick']:.0f} s, "
             f"part 1 {wall['part1']:.0f} s, runtimes {wall['part2']:.0f} s).")
    L.append("")
    L.append("## Setup")
    L.append("")
    span_q = cands[-1]["quick_ms"] / cands[0]["quick_ms"]
    L.append(f"- candidates: {len(cands)} distinct architectures of the `mobilenet` space at batch "
             f"{BATCH}, picked log-spaced in a quick timing (the fastest of {QUICK_ROUNDS} rounds over "
             f"the pool, each the fastest of 3 blocks of ~2 ms; one thread, before the load) out of a pool of {info['drawn']} configs drawn with seed "
             f"{args.seed} (the all-smallest and all-largest included), {info['distinct']} distinct "
             f"architectures after dropping the training hyper-parameters and dropout. Quick-timed "
             f"span {cands[0]['quick_ms']:.3f}-{cands[-1]['quick_ms']:.3f} ms = **{span_q:.1f}x**.")
    L.append(f"- every profile: `profile_model(model, x, latency_method=M, threads=T, "
             f"max_time_s={MAX_TIME_S}, memory=False, cache=False)`; the compensated ones with "
             f"`latency_scale=calibrate(\"cpu\", T)`, one calibration per thread setting measured "
             f"once before the load started, shared by all compensated profiles of that setting.")
    L.append(f"- the load: a child process with {cores} busy Python workers (one per core), all on "
             f"or all off, phases uniform in {PHASE_S[0]}-{PHASE_S[1]} s (seed {args.seed}); "
             f"started before the first pass of the first thread setting and killed after the "
             f"last pass: {len(on)} on phases ({sum(on):.0f} s), {len(off)} off phases "
             f"({sum(off):.0f} s).")
    L.append("- per pass every candidate is profiled in its own shuffled order (a different order "
             "per pass), plain and compensated back to back, which one first alternating, so both "
             "methods see the same load regime and the same time cap.")
    L.append("- metrics per method: Kendall's tau (scipy) between the pass-1 and pass-2 latencies; "
             "the share of candidates whose decision `latency <= budget` is the same in both passes, "
             "budget = the median of that method's pass-1 latencies; the relative spread "
             "|p1 - p2| / mean(p1, p2) over candidates; the share of the 2 x N profiles that hit "
             "the cap. The last column, for information, scores `latency_raw_ms` of the "
             "compensated profiles: the plain median of the candidate's own blocks in them.")
    for run in runs:
        T = run["threads"]
        m = run["metrics"]
        sp = [r.latency_ms for p in run["passes"] for r in p["res"]["compensated"]]
        pl = [r.latency_ms for p in run["passes"] for r in p["res"]["plain"]]
        L.append("")
        head = ("threads = 1 (single-thread deployment; the targets apply)" if T == 1 else
                f"threads = {T} (all cores; reported, no target)")
        L.append(f"## Stability under the on/off load, {head}")
        L.append("")
        L.append(f"- calibration: {run['scale'].label()}; the reference ran x{run['slowdown'][0]:.2f} "
                 f"to x{run['slowdown'][2]:.2f} (median x{run['slowdown'][1]:.2f}) slower during "
                 "the compensated profiles than calibrated.")
        n_comp = 2 * len(cands)
        L.append(f"- reference check: {run.get('flagged', 0)} of {n_comp} compensated profiles "
                 "failed it (reference ratio, or compensated over a plain probe, beyond 3x "
                 "either way) and are plain measurements in the compensated column "
                 "(`latency_reference_disturbed`).")
        L.append(f"- measured span: compensated {min(sp):.3f}-{max(sp):.3f} ms "
                 f"({max(sp) / min(sp):.1f}x), plain {min(pl):.3f}-{max(pl):.3f} ms "
                 f"({max(pl) / min(pl):.1f}x).")
        L.append("- passes: " + "; ".join(
            f"pass {k + 1} {p['wall_s']:.0f} s, load {p['load'][0]:.2f} -> {p['load'][1]:.2f}"
            for k, p in enumerate(run["passes"])) + ".")
        L.append("")
        L += metric_table(m)
        L.append("")
        if T == 1:
            L.append("Targets (compensated method, threads = 1):")
            L.append("")
            for text, ok in targets(m):
                L.append(f"- {text}: **{'met' if ok else 'missed'}**")
        else:
            L.append("The same comparisons at this thread count (the targets are for one thread): "
                     + "; ".join(f"{text}: {'yes' if ok else 'no'}" for text, ok in targets(m)) + ".")
            L.append("")
            L.append("With every core contended, the profile's OpenMP threads wait for each other at "
                     "the barrier that ends each parallel operator: a thread descheduled by the "
                     "load stalls all of them. How long depends on the operator (how many barriers "
                     "a pass has, how much work sits between them), so a large candidate and the "
                     "small reference are not slowed by one factor, and their ratio does not cancel "
                     "the load the way it does at one thread.")
    L.append("")
    L.append("## Per-candidate latencies, ms")
    L.append("")
    cols = [f"T={run['threads']} {meth} p{k}" for run in runs for meth in ("plain", "comp.")
            for k in (1, 2)]
    L.append("| # | architecture | quick | " + " | ".join(cols) + " |")
    L.append("|---|---|---|" + "---|" * len(cols))
    for i, c in enumerate(cands):
        vals = []
        for run in runs:
            for meth in ("plain", "compensated"):
                for p in run["passes"]:
                    r = p["res"][meth][i]
                    vals.append(f"{r.latency_ms:.3f}" + ("" if r.latency_converged else "*"))
        L.append(f"| {i + 1} | {short(c['cfg'])} | {c['quick_ms']:.3f} | " + " | ".join(vals) + " |")
    L.append("")
    L.append("`*`: the profile hit its 1 s cap before its interval reached +-2 %.")
    if rt_rows:
        L.append("")
        L.append(f"## Runtimes: reference models at batch 1, compensated, threads = {rt_threads}, "
                 "no load of ours")
        L.append("")
        L.append(f"`profile_model(model, x, runtime=R, latency_method=\"compensated\", "
                 f"latency_scale=<the threads={rt_threads} calibration above; for onnxruntime "
                 f"calibrate(\"cpu\", {rt_threads}, \"onnxruntime\"), its reference run in ONNX "
                 f"Runtime>, threads={rt_threads}, "
                 f"max_time_s={RUNTIME_MAX_TIME_S}, memory=False, cache=False)`, one profile each. The "
                 "interval is the profiler's (95 % interval of the median widened by drift between "
                 "segments); setup = compilation, or export plus session creation. For "
                 "information, the plain median of the model's own blocks in the same profile "
                 "(`latency_raw_ms`) and how much slower the reference workload ran during the "
                 "profile than calibrated (`latency_reference_now_ms / latency_reference_ms`): "
                 "where that factor is far from the slowdown the raw median shows, the ratio did "
                 "not cancel the machine's state and the compensated latency is off by as much.")
        L.append("")
        L.append("| model | runtime | latency, ms | interval, ms | +- | converged | blocks | setup, s | profile wall, s | (info) raw median, ms | (info) reference now / calibrated |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rt_rows:
            if "report" in row:
                r = row["report"]
                ci = ("none (fewer than 6 blocks)" if r.latency_ci95_ms is None else
                      f"[{r.latency_ci95_ms[0]:.2f}, {r.latency_ci95_ms[1]:.2f}]")
                rel = "" if r.latency_rel_spread is None else f"{100 * r.latency_rel_spread:.1f} %"
                setup = "" if r.compile_time_s is None else f"{r.compile_time_s:.1f}"
                L.append(f"| {row['model']} | {row['runtime']} | {r.latency_ms:.2f} | {ci} "
                         f"| {rel} | {'yes' if r.latency_converged else 'no (cap)'} | "
                         f"{r.latency_samples} | {setup} | {row['wall_s']:.0f} | {r.latency_raw_ms:.2f} | "
                         f"x{r.latency_reference_now_ms / r.latency_reference_ms:.2f} |")
            else:
                reason = " ".join(row["error"].split())
                reason = reason if len(reason) <= 300 else reason[:300] + " ..."
                L.append(f"| {row['model']} | {row['runtime']} | failed: {reason.replace('|', '/')} "
                         f"| | | | | | {row['wall_s']:.0f} | | |")
    L.append("")
    L.append("## What compensation does not fix")
    L.append("")
    L.append("- It divides out what slows the candidate and the reference workload alike "
             "(time-slicing with other processes, clock changes). At more than one thread on a "
             "machine whose every core is contended, barrier stalls slow operators unequally and "
             "the ratio keeps part of the load (the threads = all-cores table).")
    L.append("- A neighbour that thrashes the cache or memory bandwidth hurts a memory-bound "
             "candidate more than the small compute-bound reference; the load here is a pure "
             "compute spin, so this run does not exercise that case.")
    L.append("- The absolute scale is the calibration's: taken while the machine was busy, every "
             "compensated latency of that scale is too high by one factor (and too low by one "
             "factor for a calibration taken in a quiet moment the profiles did not see). Rankings and the spread between passes do not move "
             "with it; budget decisions against an absolute budget do.")
    bad = [row for row in rt_rows if "report" in row
           and row["report"].latency_reference_now_ms > 5 * row["report"].latency_reference_ms]
    if rt_rows:
        L.append(f"- Runtimes at threads = {rt_threads}: in {len(bad)} of "
                 f"{sum('report' in row for row in rt_rows)} profiles the reference workload ran more "
                 "than 5x slower than calibrated"
                 + (": " + ", ".join(
                     f"{row['model']} in {row['runtime']} "
                     f"(x{row['report'].latency_reference_now_ms / row['report'].latency_reference_ms:.0f})"
                     for row in bad) if bad else "")
                 + (". A small multi-threaded reference between blocks of a large model (or of "
                    "another runtime's threads) is stalled by the cores the neighbours hold far "
                    "more than the model is, so those compensated latencies are too low by about "
                    "that factor; the raw medians beside them are the better reading there."
                    if bad else
                    ". Where the reference ran slower or faster than calibrated by a factor the "
                    "raw median does not share, the compensated latency differs from the raw "
                    "one by about that factor: the level is the calibration's (previous point)."))
    L.append("- Both methods had the same 1 s cap; the compensated one spends about half of it on "
             "reference blocks, so it has fewer candidate blocks to take a median over.")
    return "\n".join(L)


# ------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="6 candidates, threads=1 only, 2 reference models; writes a tmp file only")
    ap.add_argument("--seed", type=int, default=0, help="pool, order and load seed (default 0)")
    ap.add_argument("--pool", type=int, default=120, help="random configs drawn (default 120)")
    ap.add_argument("--no-runtimes", action="store_true", help="skip the runtimes part")
    ap.add_argument("--note", default="", help="a paragraph written under the heading")
    args = ap.parse_args()
    t_start = time.perf_counter()
    loads = {"start": os.getloadavg()[0]}
    cores = len(os.sched_getaffinity(0))
    n_cands = 6 if args.quick else N_CANDIDATES
    thread_settings = [1] if args.quick else sorted({1, cores})
    rt_names = ["ResNet-18", "MobileNetV2"] if args.quick else list(reference_models())

    # effobj's first profile in a process imports torch._dynamo: pay it before anything timed
    profile_model(torch.nn.Linear(4, 4), torch.randn(1, 4), latency=False, cache=False)

    space = S.get("mobilenet")
    t0 = time.perf_counter()
    print(f"quick-timing a pool of {args.pool + 2} configs ...", flush=True)
    cands, info = pick_candidates(space, args.pool, n_cands, args.seed)
    pick_s = time.perf_counter() - t0
    print(f"  {info['distinct']} distinct architectures, {info['pool_lo_ms']:.3f}-"
          f"{info['pool_hi_ms']:.3f} ms; picked {len(cands)} spanning "
          f"{cands[-1]['quick_ms'] / cands[0]['quick_ms']:.1f}x ({pick_s:.0f} s)", flush=True)
    models, inputs = [], []
    for c in cands:
        torch.manual_seed(0)
        models.append(space.build(c["cfg"]).eval())
        inputs.append(space.example_input(c["cfg"], batch_size=BATCH))

    scales = {T: calibrate("cpu", T) for T in sorted({*thread_settings, cores})}
    for T, s in scales.items():
        print(f"calibration threads={T}: {s.label()}", flush=True)
    loads["before_load"] = os.getloadavg()[0]

    t1 = time.perf_counter()
    runs = []
    load = Load(args.seed, cores)
    with load:
        for T in thread_settings:
            runs.append(run_threads(cands, models, inputs, T, scales[T], args.seed))
    part1_s = time.perf_counter() - t1
    for run in runs:
        m = run["metrics"]
        print(f"threads={run['threads']}: " + "; ".join(
            f"{meth} tau {m[meth]['tau']:.3f} agree {100 * m[meth]['agree']:.0f} % spread "
            f"{100 * m[meth]['spread_med']:.1f} % (max {100 * m[meth]['spread_max']:.1f} %)"
            for meth in ("plain", "compensated", "raw in compensated")), flush=True)

    t2 = time.perf_counter()
    rt_rows = [] if args.no_runtimes else run_runtimes(rt_names, cores, scales[cores])
    part2_s = time.perf_counter() - t2
    loads["end"] = os.getloadavg()[0]
    wall = {"total": time.perf_counter() - t_start, "pick": pick_s, "part1": part1_s, "part2": part2_s}
    body = render(args, cands, info, runs, load, rt_rows, cores, loads, wall)
    if args.quick:
        head = (f"# {TITLE} (--quick smoke run)\n\n- command: `{command()}`\n- machine: {machine()}\n"
                f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n")
        QUICK_FILE.write_text(head + body + "\n")
        print(f"wrote {QUICK_FILE} (--quick: results/latency.md untouched); {wall['total']:.0f} s")
    else:
        print(f"wrote {write('latency', TITLE, body)}; {wall['total']:.0f} s")


if __name__ == "__main__":
    if _LOAD_CHILD:
        load_child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
