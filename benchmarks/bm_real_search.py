"""Real training: the demo's digits study run plainly and with effobj, same trial budget.

The study is ``effobj demo``'s: the mobilenet space (architecture + a training recipe
that converges in seconds) on scikit-learn's digits, E_beta with beta^2 = 1,
A = validation accuracy, C = MACs / 2 M, accuracy >= 0.9, MACs <= 1.5 M.

- ``plain``: Optuna TPE; every candidate is built, profiled (for its cost) and trained;
  the trial's value is its hard E_beta.
- ``effobj``: ``effobj.optuna.objective_from_space`` with the same space, profiler and
  sampler: over-budget candidates and candidates whose upper bound E_beta(A=1, C) is
  below the incumbent are not trained; ``IncumbentPruner(slack=0.05)`` stops trainings
  that cannot catch up.

Both use the same sampler seed per run, so they see the same candidates while TPE is
in its random start-up phase (its first 10 trials); afterwards TPE follows each method's
own history (effobj's holds skipped candidates at their bounds), so the proposals differ. Runs are interleaved (plain, then
effobj, per seed) so that both see the same machine load. Measured per run: the best
E_beta found, the wall-clock time, the trainings started.

Run: ``.venv/bin/python benchmarks/bm_real_search.py`` (``--trials 14 --seeds 3``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _setup() -> tuple[Any, Any, Any, Any]:
    import optuna

    from effobj.cli.demo import demo_space, demo_spec
    from effobj.optuna import load_space_data
    from effobj.profiler import LocalProfiler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    space = demo_space()
    data = load_space_data(space)
    profiler = LocalProfiler(threads=1, max_time_s=0.3)
    # warm up torch, the FLOP counter and the timer once, outside every measured run
    config = space.default_config()
    profiler.profile(space.build(config, data), space.example_input(config, data, batch_size=1))
    return space, demo_spec(), data, profiler


def run_plain(space: Any, spec: Any, data: Any, profiler: Any, trials: int, seed: int) -> dict[str, Any]:
    """Plain Optuna: profile (for the cost), train every candidate, tell its E_beta."""
    import optuna

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
    trainings = 0

    def objective(trial: optuna.trial.Trial) -> float:
        nonlocal trainings
        config = space.suggest(trial)
        model = space.build(config, data)
        report = profiler.profile(model, space.example_input(config, data, batch_size=1))
        trainings += 1
        result = space.train(model, config, data, seed=seed)
        return float(spec.score(result.perf, {"macs": float(report.macs)}))

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, gc_after_trial=False)
    wall = time.perf_counter() - t0
    return {"best": study.best_value, "wall_s": wall, "trainings": trainings, "skipped": 0,
            "pruned": 0}


def run_effobj(space: Any, spec: Any, data: Any, profiler: Any, trials: int, seed: int) -> dict[str, Any]:
    """effobj: profile first, skip over-budget and hopeless candidates, prune hopeless trainings."""
    import optuna

    from effobj.optuna import IncumbentPruner, create_study, objective_from_space, optimize

    obj = objective_from_space(spec, space, data=data, seed=seed, profiler=profiler)
    study = create_study(spec, storage=":memory:", seed=seed,
                         sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True),
                         pruner=IncumbentPruner(spec, slack=0.05))
    t0 = time.perf_counter()
    summary = optimize(study, obj, trials)
    wall = time.perf_counter() - t0
    best = summary.best_e_beta if summary.best_e_beta is not None else 0.0
    return {"best": best, "wall_s": wall, "trainings": summary.n_trained,
            "skipped": summary.trainings_avoided, "pruned": summary.n_pruned_training}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=14)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    space, spec, data, profiler = _setup()
    rows = []
    t_all = time.perf_counter()
    for seed in range(args.seeds):
        for name, fn in (("plain", run_plain), ("effobj", run_effobj)):
            r = fn(space, spec, data, profiler, args.trials, seed) | {"method": name, "seed": seed}
            rows.append(r)
            print(f"seed {seed} {name:7s} best E_beta {r['best']:.4f}  wall {r['wall_s']:.0f} s  "
                  f"trainings {r['trainings']}  skipped {r['skipped']}  pruned {r['pruned']}",
                  flush=True)
    import os

    load = os.getloadavg()[0]
    lines = [
        f"{args.seeds} seeds x {args.trials} trials per method (the same trial budget), "
        "runs interleaved per seed. Cost = MACs (deterministic); latency is not the cost "
        "because it moves with the load on this shared machine.",
        f"Load average at the end: {load:.1f} on {len(os.sched_getaffinity(0))} cores"
        + (" (other jobs were running: absolute times are inflated, the ratios compare runs "
           "that shared the same load)." if load > 2.5 else "."),
        "",
        "| seed | plain best E_beta | effobj best E_beta | plain wall s | effobj wall s | "
        "wall ratio effobj/plain | plain trainings | effobj trainings (pruned) | effobj skipped |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_seed.setdefault(r["seed"], {})[r["method"]] = r
    ratios = []
    for seed, m in by_seed.items():
        pl, ef = m["plain"], m["effobj"]
        ratio = ef["wall_s"] / pl["wall_s"]
        ratios.append(ratio)
        lines.append(
            f"| {seed} | {pl['best']:.4f} | {ef['best']:.4f} | {pl['wall_s']:.0f} | "
            f"{ef['wall_s']:.0f} | {ratio:.2f} | {pl['trainings']} | {ef['trainings']} "
            f"({ef['pruned']}) | {ef['skipped']} |"
        )
    same_or_better = sum(m["effobj"]["best"] >= m["plain"]["best"] - 1e-12 for m in by_seed.values())
    lines += [
        "",
        f"- effobj found the same or a better E_beta in {same_or_better} of {len(by_seed)} seeds; "
        f"median best E_beta plain {statistics.median(m['plain']['best'] for m in by_seed.values()):.4f}, "
        f"effobj {statistics.median(m['effobj']['best'] for m in by_seed.values()):.4f}.",
        f"- median wall-clock ratio effobj / plain: {statistics.median(ratios):.2f} "
        f"(total plain {sum(m['plain']['wall_s'] for m in by_seed.values()):.0f} s, effobj "
        f"{sum(m['effobj']['wall_s'] for m in by_seed.values()):.0f} s).",
        f"- total benchmark time {time.perf_counter() - t_all:.0f} s.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        import torch  # noqa: F401  (so that the machine line names its version)
        from _machine import write

        path = write("real_search", "Real training on digits: plain Optuna vs effobj", body)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
