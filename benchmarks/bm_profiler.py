"""effobj's profiler beside the FLOP counters users compare, and beside naive latency loops.

Run: ``.venv/bin/python benchmarks/bm_profiler.py`` (writes ``benchmarks/results/profiler.md``).
``--quick`` runs only ResNet-18 and MobileNetV2 with 2 latency repeats (a smoke test).

Part 1, counts: for the five hand-written reference models (tests/profiler/reference_models.py),
the MACs, parameter counts and wall time per count of effobj, fvcore, ptflops (pytorch and aten
backends), thop, calflops and DeepSpeed's flops profiler, beside the hand count. Every tool gets
its own deep copy of the model (some add hooks or buffers); each count is run once untimed
(imports, first-call set-up) and then timed twice, keeping the faster.

Part 2, latency: five repeated latency measurements of ResNet-18 and MobileNetV2 (batch 1, 224 x
224) by effobj's profile (at torch's thread count and at one thread, both with the default
``max_time_s=1``), a naive ``time.perf_counter`` loop (1 warm-up, 10 timed passes) and
``torch.utils.benchmark.Timer.blocked_autorange`` (at torch's thread count and at its default of
one thread); the spread is (max - min) / median of the five medians.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "profiler"), str(ROOT / "benchmarks")]

import reference_models as R  # noqa: E402
import torch  # noqa: E402
from _machine import write  # noqa: E402

from effobj.profiler import profile_model  # noqa: E402

warnings.filterwarnings("ignore")

IMAGE = (1, 3, 224, 224)
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], torch.Tensor]]] = {
    "ResNet-18": (R.resnet18, lambda: torch.randn(IMAGE)),
    "ResNet-50": (R.resnet50, lambda: torch.randn(IMAGE)),
    "MobileNetV2": (R.mobilenet_v2, lambda: torch.randn(IMAGE)),
    "ViT-Ti/16 (nn.MultiheadAttention)": (R.vit_tiny, lambda: torch.randn(IMAGE)),
    "BERT-base seq 128 (F.sdpa)": (R.bert_base, lambda: torch.zeros(1, 128, dtype=torch.long)),
}
HAND = {
    "ResNet-18": R.resnet18_macs(),
    "ResNet-50": R.resnet50_macs(),
    "MobileNetV2": R.mobilenet_v2_macs(),
    "ViT-Ti/16 (nn.MultiheadAttention)": R.vit_tiny_macs(),
    "BERT-base seq 128 (F.sdpa)": R.bert_base_macs(),
}


# ------------------------------------------------------------------------------ the counters
def c_effobj(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    r = profile_model(model, x, latency=False, memory=False, cache=False)
    return r.macs, r.n_params


def c_effobj_mem(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    r = profile_model(model, x, latency=False, memory=True, cache=False)
    return r.macs, r.n_params


def c_fvcore(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    fca = FlopCountAnalysis(model, (x,))
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    return fca.total(), parameter_count(model)[""]  # fvcore's "flop" is one fused multiply-add


def _ptflops(backend: str) -> Callable[[torch.nn.Module, torch.Tensor], tuple[float, float]]:
    def count(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
        from ptflops import get_model_complexity_info

        macs, params = get_model_complexity_info(
            model, tuple(x.shape[1:]), input_constructor=lambda _: x, as_strings=False,
            backend=backend, print_per_layer_stat=False, verbose=False,
        )
        return macs, params

    return count


def c_thop(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    import thop

    macs, params = thop.profile(model, inputs=(x,), verbose=False)
    return macs, params


def c_calflops(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    from calflops import calculate_flops

    _, macs, params = calculate_flops(model=model, args=[x], print_results=False,
                                      print_detailed=False, output_as_string=False)
    return macs, params


def c_deepspeed(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    from deepspeed.profiling.flops_profiler import get_model_profile

    _, macs, params = get_model_profile(model, args=[x], print_profile=False, detailed=False,
                                        as_string=False)
    return macs, params


TOOLS: dict[str, Callable[[torch.nn.Module, torch.Tensor], tuple[float, float]]] = {
    "effobj": c_effobj,
    "effobj (+memory)": c_effobj_mem,
    "fvcore": c_fvcore,
    "ptflops (pytorch)": _ptflops("pytorch"),
    "ptflops (aten)": _ptflops("aten"),
    "thop": c_thop,
    "calflops": c_calflops,
    "deepspeed": c_deepspeed,
}


def _version(tool: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"effobj": "effobj", "effobj (+memory)": "effobj", "fvcore": "fvcore",
            "ptflops (pytorch)": "ptflops", "ptflops (aten)": "ptflops", "thop": "thop",
            "calflops": "calflops", "deepspeed": "deepspeed"}[tool]
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def run_counts(models: list[str]) -> tuple[dict, dict]:
    results: dict[tuple[str, str], tuple[float, float, float] | str] = {}
    for mname in models:
        factory, make_x = MODELS[mname]
        torch.manual_seed(0)
        base = factory().eval()
        x = make_x()
        for tool, fn in TOOLS.items():
            try:
                model = copy.deepcopy(base)
                with torch.no_grad():
                    fn(model, x)  # untimed: imports and first-call set-up
                    times = []
                    for _ in range(2):
                        model = copy.deepcopy(base)
                        t = time.perf_counter()
                        macs, params = fn(model, x)
                        times.append(time.perf_counter() - t)
                results[(mname, tool)] = (float(macs), float(params), min(times))
            except Exception as exc:  # a peer that fails on a model is reported, not hidden
                results[(mname, tool)] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
                traceback.print_exc(limit=1)
            del model
            gc.collect()
            print(f"{mname:36s} {tool:18s} {results[(mname, tool)]}", flush=True)
        del base
        gc.collect()
    return results, {}


# ------------------------------------------------------------------------------ latency
def _latency_methods(model: torch.nn.Module, x: torch.Tensor, threads: int) -> dict[str, Callable[[], tuple[float, str]]]:
    from torch.utils.benchmark import Timer

    def effobj(n: int | None = None) -> tuple[float, str]:
        r = profile_model(model, x, threads=n, cache=False)
        if r.latency_rel_spread is None:
            return r.latency_ms, f"cap hit after {r.latency_samples} block(s): too few for a 95 % CI"
        return r.latency_ms, (f"{'converged' if r.latency_converged else 'cap'} "
                              f"±{100 * r.latency_rel_spread:.1f}%")

    def naive() -> tuple[float, str]:
        with torch.inference_mode():
            model(x)
            t = time.perf_counter()
            for _ in range(10):
                model(x)
            return (time.perf_counter() - t) / 10 * 1e3, ""

    def blocked(n: int) -> Callable[[], tuple[float, str]]:
        def f() -> tuple[float, str]:
            with torch.inference_mode():
                timer = Timer("model(x)", globals={"model": model, "x": x}, num_threads=n)
                m = timer.blocked_autorange(min_run_time=1.0)
            return m.median * 1e3, f"{len(m.times)} blocks"

        return f

    return {
        f"effobj profile_model (counts + memory + latency), threads={threads}": effobj,
        "effobj profile_model (counts + memory + latency), threads=1": lambda: effobj(1),
        "naive perf_counter loop (1 warm-up + 10)": naive,
        f"Timer.blocked_autorange(min_run_time=1), num_threads={threads}": blocked(threads),
        "Timer.blocked_autorange(min_run_time=1), default num_threads=1": blocked(1),
    }


def run_latency(models: list[str], repeats: int) -> dict:
    out: dict[tuple[str, str], dict[str, float | str]] = {}
    threads = torch.get_num_threads()
    for mname in models:
        factory, make_x = MODELS[mname]
        torch.manual_seed(0)
        model = factory().eval()
        x = make_x()
        for meth, fn in _latency_methods(model, x, threads).items():
            vals, walls, notes = [], [], []
            for _ in range(repeats):
                t = time.perf_counter()
                v, note = fn()
                walls.append(time.perf_counter() - t)
                vals.append(v)
                notes.append(note)
            med = statistics.median(vals)
            out[(mname, meth)] = {
                "median_ms": med,
                "spread": (max(vals) - min(vals)) / med,
                "wall_s": statistics.median(walls),
                "values": ", ".join(f"{v:.2f}" for v in vals),
                "notes": "; ".join(n for n in notes if n),
            }
            print(f"{mname:14s} {meth:60s} {out[(mname, meth)]}", flush=True)
    return out


# ------------------------------------------------------------------------------ report
def _g(v: float) -> str:
    return f"{v / 1e9:.4f} G"


def render(counts: dict, models: list[str], lat: dict, lat_models: list[str], first_call_s: float,
           load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    lines: list[str] = []
    lines.append(f"- load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
                 f"after: {', '.join(f'{v:.2f}' for v in load_after)}. The machine is shared: absolute "
                 "times move with its load; every ratio below comes from the same run.")
    lines.append("- peer versions: " + ", ".join(
        f"{t} {_version(t)}" for t in TOOLS if not t.startswith("effobj")))
    lines.append(f"- effobj's first profile in a fresh process paid {first_call_s:.2f} s once: the first "
                 "TorchDispatchMode use imports torch._dynamo (any dispatch-mode counter, ptflops' aten "
                 "backend included, pays it once per process); the times below are steady-state.")
    lines.append("- MACs convention: a fused multiply-add = 1 MAC = 2 FLOPs. fvcore's 'flops' and thop's/ptflops' "
                 "'macs' are MACs; calflops and DeepSpeed report MACs separately from FLOPs. fvcore, ptflops' "
                 "pytorch backend and thop add normalization, activation, pooling or bias work to their MACs, so "
                 "they read above the hand count on CNNs; ptflops' aten backend adds the bias of the final "
                 "Linear (1,000 MACs).")
    lines.append("")
    lines.append("## 1. MACs (ratio to the hand count)\n")
    tools = list(TOOLS)
    lines.append("| model | hand count | " + " | ".join(tools) + " |")
    lines.append("|---|---|" + "---|" * len(tools))
    for m in models:
        row = [m, _g(HAND[m])]
        for t in tools:
            v = counts.get((m, t))
            row.append(v if isinstance(v, str) else f"{_g(v[0])} ({v[0] / HAND[m]:.4f})")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("\n## 2. Parameters\n")
    lines.append("| model | published | " + " | ".join(tools) + " |")
    lines.append("|---|---|" + "---|" * len(tools))
    for m in models:
        pub = R.PUBLISHED[{"ResNet-18": "resnet18", "ResNet-50": "resnet50", "MobileNetV2": "mobilenet_v2",
                           "ViT-Ti/16 (nn.MultiheadAttention)": "vit_tiny",
                           "BERT-base seq 128 (F.sdpa)": "bert_base"}[m]][0] or R.BERT_BASE_PARAMS
        row = [m, f"{pub:,}"]
        for t in tools:
            v = counts.get((m, t))
            row.append(v if isinstance(v, str) else f"{int(v[1]):,}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("\n## 3. Wall time per count, ms (ratio to effobj)\n")
    lines.append("| model | " + " | ".join(tools) + " |")
    lines.append("|---|" + "---|" * len(tools))
    for m in models:
        ref = counts.get((m, "effobj"))
        row = [m]
        for t in tools:
            v = counts.get((m, t))
            if isinstance(v, str):
                row.append("failed")
            else:
                ratio = "" if isinstance(ref, str) or ref is None else f" ({v[2] / ref[2]:.2f}x)"
                row.append(f"{v[2] * 1e3:.1f}{ratio}")
        lines.append("| " + " | ".join(row) + " |")
    exact = {t: all(not isinstance(counts.get((m, t)), str) and abs(counts[(m, t)][0] / HAND[m] - 1) < 0.01
                    for m in models if "ViT" in m or "BERT" in m) for t in tools}
    lines.append("\nWithin 1 % of the hand count on both attention models: "
                 + ", ".join(f"{t}: {'yes' if ok else 'no'}" for t, ok in exact.items()) + ".")
    lines.append("\nPer model, the peers more than 1 % off the hand count, and effobj's count time beside "
                 "the fastest peer within 1 %:\n")
    for m in models:
        off = [f"{t} ({counts[(m, t)][0] / HAND[m] - 1:+.1%})" for t in tools
               if not isinstance(counts.get((m, t)), str) and abs(counts[(m, t)][0] / HAND[m] - 1) >= 0.01]
        failed = [t for t in tools if isinstance(counts.get((m, t)), str)]
        good = [(counts[(m, t)][2], t) for t in tools if not t.startswith("effobj")
                and not isinstance(counts.get((m, t)), str) and abs(counts[(m, t)][0] / HAND[m] - 1) < 0.01]
        ref = counts.get((m, "effobj"))
        best = (f"fastest peer within 1 %: {min(good)[1]} {min(good)[0] * 1e3:.0f} ms vs effobj "
                f"{ref[2] * 1e3:.0f} ms (effobj takes {ref[2] / min(good)[0]:.2f}x the peer's time)"
                if good and not isinstance(ref, str) else "no peer within 1 %")
        lines.append(f"- {m}: off by more than 1 %: {', '.join(off) or 'none'}"
                     f"{'; failed: ' + ', '.join(failed) if failed else ''}; {best}.")
    if lat:
        lines.append("\n## 4. Latency stability: 5 repeated measurements, batch 1\n")
        lines.append("| model | method | median of medians, ms | spread (max-min)/median | wall time per measurement, s | the five values, ms | notes |")
        lines.append("|---|---|---|---|---|---|---|")
        for m in lat_models:
            for (mm, meth), d in lat.items():
                if mm != m:
                    continue
                lines.append(f"| {m} | {meth} | {d['median_ms']:.2f} | {100 * d['spread']:.1f} % | "
                             f"{d['wall_s']:.2f} | {d['values']} | {d['notes']} |")
        lines.append("\nTargets for effobj's profile (spread of 5 profiles <= 2 %, <= 1.5 s per profile):")
        for (m, meth), d in lat.items():
            if meth.startswith("effobj"):
                lines.append(f"- {m}, {meth.split(', ')[-1]}: spread {100 * d['spread']:.1f} % "
                             f"({'met' if d['spread'] <= 0.02 else 'missed'}), "
                             f"{d['wall_s']:.2f} s per profile ({'met' if d['wall_s'] <= 1.5 else 'missed'}).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two models, two latency repeats (smoke test)")
    ap.add_argument("--no-latency", action="store_true", help="skip part 2")
    args = ap.parse_args()
    load_before = os.getloadavg()

    t = time.perf_counter()  # effobj's first-call cost in this process
    profile_model(torch.nn.Linear(4, 4), torch.randn(1, 4), latency=False, cache=False)
    first_call = time.perf_counter() - t

    models = ["ResNet-18", "MobileNetV2"] if args.quick else list(MODELS)
    counts, _ = run_counts(models)
    lat_models = ["ResNet-18", "MobileNetV2"]
    lat = {} if args.no_latency else run_latency(lat_models, 2 if args.quick else 5)
    body = render(counts, models, lat, lat_models, first_call, load_before, os.getloadavg())
    path = write("profiler", "Profiler: counts beside the peers, latency stability", body)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
