"""E_beta as a learning signal: gradient search losses and RL rewards, side by side.

(a) Gradient search on the ``supernet`` space over digits, one latency budget measured on
    this machine: EBetaLoss vs the FBNet/ProxylessNAS loss alpha*CE*(log LAT/log T)^beta
    vs the linear penalty CE + lambda*(LAT - T)/T; same supernet, same per-operator table
    and calibration, same seeds. Reported: test accuracy of the retrained architecture,
    measured latency (before and after the repair step), budget violations, E_beta.
(b) REINFORCE on NAS-Bench-Graph (cora, citeseer, pubmed) with the E_beta reward (hard
    and smooth) vs MnasNet's reward (soft w = -0.07 and hard alpha = 0, beta = -1), and
    uniform random sampling: regret of the best E_beta found to the exhaustive E_beta
    optimum of the table after 100, 300 and 1000 samples, over 5 seeds.

Writes benchmarks/results/learning.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import machine, write  # noqa: E402

CHECKPOINTS = (100, 300, 1000)
BATCH, LR = 16, 0.02


def _ms(xs: list[float]) -> str:
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}"


# ----------------------------------------------------------------------------- RL
def rl_part(seeds: int, samples: int, datasets: list[str]) -> tuple[str, float]:
    import effobj.spaces
    from effobj import EfficiencySpec
    from effobj.errors import InputError
    from effobj.rl import EBetaReward, MnasNetReward, reinforce_search

    t_start = time.perf_counter()
    lines = []
    summary: dict[str, dict[int, list[float]]] = {}
    for ds in datasets:
        space = effobj.spaces.get(f"nas-bench-graph:{ds}")
        arr = space.arrays()
        perf_ref = float(arr["perf"].max())
        budget = float(np.median(arr["latency"]))
        spec = EfficiencySpec(beta2=1.0, perf_ref=perf_ref, cost_ref=float(arr["latency"].max()),
                              cost_max=budget, cost_name="latency")
        _, opt_rec, opt = space.exhaustive_optimum(lambda p, c, spec=spec: spec.score(p, c["latency"]))
        encoding = space.encoding()
        choices = [len(c) for _, c in encoding]
        memo: dict[tuple[int, ...], tuple[float, float, float]] = {}

        def record(idx: tuple[int, ...], memo=memo, space=space, spec=spec) -> tuple[float, float, float]:
            """(perf, latency, hard E_beta); the all-skip cell (not in the benchmark) is (nan, nan, 0)."""
            if idx not in memo:
                try:
                    r = space.lookup(space.decode(list(idx)))
                    memo[idx] = (r["perf"], r["latency"], float(spec.score(r["perf"], r["latency"])))
                except InputError:
                    memo[idx] = (np.nan, np.nan, 0.0)
            return memo[idx]

        rewards = {
            "E_beta (hard)": EBetaReward(spec),
            "E_beta (smooth, tau=0.02)": EBetaReward(spec, smooth=True, temperature=0.02),
            "MnasNet soft (w=-0.07)": MnasNetReward("latency", budget, perf_ref=perf_ref),
            "MnasNet hard (a=0, b=-1)": MnasNetReward("latency", budget, perf_ref=perf_ref, mode="hard"),
        }
        results: dict[str, dict[int, list[float]]] = {name: {n: [] for n in CHECKPOINTS} for name in [*rewards, "random"]}
        for name, fn in [*rewards.items(), ("random", None)]:
            for seed in range(seeds):
                judged: list[float] = []

                def reward(batch: np.ndarray, fn=fn, judged=judged) -> np.ndarray:
                    recs = np.array([record(idx) for idx in map(tuple, batch.tolist())])
                    judged.extend(recs[:, 2].tolist())
                    ok = np.isfinite(recs[:, 0])
                    r = np.full(len(recs), np.nan)
                    if ok.any():
                        r[ok] = fn(recs[ok, 0], {"latency": recs[ok, 1]})
                    worst = np.nanmin(r) if ok.any() else 0.0
                    return np.where(ok, r, min(worst, 0.0))

                if fn is None:
                    rng = np.random.default_rng(seed)
                    batch = np.stack([rng.integers(c, size=samples) for c in choices], axis=1)
                    judged.extend(record(idx)[2] for idx in map(tuple, batch.tolist()))
                else:
                    reinforce_search(choices, reward, samples, seed=seed, batch_size=BATCH, lr=LR)
                best = np.maximum.accumulate(np.asarray(judged))
                for n in CHECKPOINTS:
                    if n <= samples:
                        results[name][n].append(opt - float(best[n - 1]))
        lines.append(f"\n### nas-bench-graph:{ds}\n")
        lines.append(
            f"Spec: beta2 = 1, perf_ref = {perf_ref:.4f} (best validation accuracy of the table), "
            f"latency budget = median latency = {budget * 1e3:.3f} ms, cost_ref = max latency. "
            f"Exhaustive optimum E_beta = {opt:.4f} (perf {opt_rec['perf']:.4f}, latency "
            f"{opt_rec['latency'] * 1e3:.3f} ms) over {len(arr['perf'])} architectures.\n"
        )
        cps = [n for n in CHECKPOINTS if n <= samples]
        lines.append("| reward | " + " | ".join(f"regret @ {n}" for n in cps) + " | optimum found @ max |")
        lines.append("|---|" + "---|" * (len(cps) + 1))
        for name, per in results.items():
            last = per[cps[-1]]
            found = sum(r <= 1e-12 for r in last)
            lines.append(f"| {name} | " + " | ".join(_ms(per[n]) for n in cps) + f" | {found}/{seeds} |")
            for n in cps:
                summary.setdefault(name, {}).setdefault(n, []).extend(per[n])
    cps = [n for n in CHECKPOINTS if n <= samples]
    base = summary["E_beta (hard)"]
    lines.append("\n### All three datasets: mean regret, and as a ratio to the hard E_beta reward\n")
    lines.append("| reward | " + " | ".join(f"regret @ {n} (ratio)" for n in cps) + " |")
    lines.append("|---|" + "---|" * len(cps))
    for name, per in summary.items():
        cells = []
        for n in cps:
            m, b = statistics.mean(per[n]), statistics.mean(base[n])
            cells.append(f"{m:.4f} ({m / b:.2f}x)" if b > 0 else f"{m:.4f} (base 0)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    elapsed = time.perf_counter() - t_start
    return "\n".join(lines), elapsed


# ----------------------------------------------------------------------------- gradient
def gradient_part(seeds: int, epochs: int, steps: int, retrain: int,
                  settings: list[tuple[float, float]]) -> tuple[str, float]:
    import effobj.spaces
    from effobj.cost_models import build_latency_table, check_table

    t_start = time.perf_counter()
    space = effobj.spaces.get("supernet")
    data = effobj.spaces.load_dataset("digits", layout="image")
    table = build_latency_table(space, data=data, threads=1, max_time_s=0.3)
    chk = check_table(table, space, n=6, seed=0, data=data, threads=1, max_time_s=0.5)
    lines = [
        f"Latency table: {len(table.entries)} entries (batch 1, 1 thread). Check against "
        f"{len(chk.configs)} random architectures measured end to end: {chk.to_text()}. "
        f"Every prediction below is the table sum times that measured/predicted factor ({chk.scale:.3f}).",
        "",
    ]
    for beta2, frac in settings:
        lines.extend(_gradient_setting(space, data, table, chk.scale, seeds, epochs, steps, retrain, beta2, frac))
    return "\n".join(lines), time.perf_counter() - t_start


def _gradient_setting(space, data, table, scale: float, seeds: int, epochs: int, steps: int, retrain: int,
                      beta2: float, budget_frac: float) -> list[str]:
    from effobj.apps import LOSSES, gradient_search

    vecs = table.vectors()
    fastest = scale * (table.fixed() + sum(min(v) for v in vecs))
    slowest = scale * (table.fixed() + sum(max(v) for v in vecs))
    budget = fastest + budget_frac * (slowest - fastest)
    rows: dict[str, list] = {loss: [] for loss in LOSSES}
    for seed in range(seeds):
        for loss in LOSSES:  # interleaved, so machine load hits every loss alike
            r = gradient_search(budget_ms=budget, loss=loss, table=table, space=space, data=data,
                                scale=scale, cost_ref_ms=slowest, beta2=beta2, epochs=epochs, warmup_epochs=1,
                                max_steps_per_epoch=steps, retrain_epochs=retrain, seed=seed,
                                profile_max_time_s=0.5)
            rows[loss].append(r)
            print(f"  {loss} seed {seed}: ops {r.derived_ops} -> {r.config and [r.config[f'op_{i}'] for i in range(1, 6)]}, "
                  f"derived {r.derived_measured_ms:.3f} ms, final {r.measured_ms:.3f} ms (budget {budget:.3f}), "
                  f"test acc {r.test_accuracy:.4f}, E_beta {r.e_beta:.4f} (beta2 {beta2:g})", flush=True)
    lines = [
        f"### beta2 = {beta2:g}, budget at {budget_frac:g} of the latency range",
        "",
        f"Budget T = {budget:.3f} ms (fastest architecture {fastest:.3f} ms + {budget_frac:g} x the range to "
        f"the slowest {slowest:.3f} ms, calibrated predictions); cost_ref = slowest; beta2 = {beta2:g} "
        "(for the E_beta loss and the reported E_beta). "
        f"Search: 1 warm-up epoch (CE on weights) + {epochs} search epochs of {steps} batches of 64 "
        f"(weights on train, architecture on validation, Adam); retrain {retrain} epochs from scratch; "
        f"{seeds} seeds. 'derived' = the argmax architecture as the loss left it; 'final' = after the "
        "repair step that switches operations until the measured latency meets the budget.",
        "",
        "| loss | test accuracy | derived: measured ms | derived over budget | final: measured ms | final over budget | repairs | E_beta (final) | E_beta ratio to EBetaLoss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = statistics.mean(r.e_beta for r in rows["e_beta"])
    for loss, rs in rows.items():
        e = [r.e_beta for r in rs]
        lines.append(
            f"| {loss} | {_ms([r.test_accuracy for r in rs])} | {_ms([r.derived_measured_ms for r in rs])} | "
            f"{sum(not r.derived_meets_budget for r in rs)}/{len(rs)} | {_ms([r.measured_ms for r in rs])} | "
            f"{sum(not r.meets_budget for r in rs)}/{len(rs)} | {sum(len(r.repairs) for r in rs)} | {_ms(e)} | "
            f"{statistics.mean(e) / base:.3f} |"
        )
    lines.append("")
    lines.append("Architectures (derived -> final):")
    lines.append("")
    for loss, rs in rows.items():
        for seed, r in enumerate(rs):
            final = [r.config[f"op_{i}"] for i in range(1, 6)]
            lines.append(f"- {loss}, seed {seed}: {r.derived_ops} -> {final}, search {r.search_s:.0f} s, "
                         f"retrain {r.retrain_s:.0f} s")
    lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rl-seeds", type=int, default=5)
    ap.add_argument("--rl-samples", type=int, default=1000)
    ap.add_argument("--datasets", default="cora,citeseer,pubmed")
    ap.add_argument("--gs-seeds", type=int, default=3)
    ap.add_argument("--gs-epochs", type=int, default=2)
    ap.add_argument("--gs-steps", type=int, default=8, help="training batches per search epoch")
    ap.add_argument("--gs-retrain", type=int, default=5)
    ap.add_argument("--gs-settings", default="1:0.35,8:0.3",
                    help="comma-separated BETA2:BUDGET_FRACTION settings of the gradient part")
    ap.add_argument("--skip-gradient", action="store_true")
    ap.add_argument("--skip-rl", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    load0 = machine()
    body = []
    if not args.skip_rl:
        print("RL part ...", flush=True)
        rl, rl_s = rl_part(args.rl_seeds, args.rl_samples, args.datasets.split(","))
        body.append(f"## (b) REINFORCE on NAS-Bench-Graph: regret to the exhaustive E_beta optimum ({rl_s:.0f} s)\n")
        body.append(
            "Regret = optimum E_beta - best hard E_beta among the first N samples (mean ± std over "
            f"{args.rl_seeds} seeds). Every controller is judged by the hard E_beta; only the reward it "
            f"learns from differs. Controller: LSTM (64 units), batch {BATCH}, Adam lr {LR}, entropy 1e-3, "
            "moving-average baseline (decay 0.9) with normalized advantages. An index vector outside "
            "the benchmark (all skip) gets the batch's lowest reward and E_beta 0.\n"
        )
        body.append(rl)
    if not args.skip_gradient:
        print("gradient part ...", flush=True)
        gs, gs_s = gradient_part(args.gs_seeds, args.gs_epochs, args.gs_steps, args.gs_retrain,
                               [tuple(map(float, x.split(":"))) for x in args.gs_settings.split(",")])
        body.insert(0, gs + "\n")
        body.insert(0, f"## (a) Gradient search on the supernet under a measured latency budget ({gs_s:.0f} s)\n")
    load_end = os.getloadavg()[0]
    busy = load_end > (os.cpu_count() or 1)
    body.append(
        f"\nMachine at the start: {load0}; 1-minute load at the end {load_end:.2f}. "
        + ("Other jobs shared the cores during the run: latencies, and hence budget "
           "violations, are noisy on a loaded machine." if busy else
           "The load stayed below the core count, so the latencies are the machine's own "
           "(it still changes speed in phases of seconds).")
    )
    path = write("learning", "E_beta as a learning signal", "\n".join(body))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
