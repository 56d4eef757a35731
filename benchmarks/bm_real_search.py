"""Real training on digits: plain TPE vs effobj's current path vs the EfficiencySampler.

The study is ``effobj demo``'s: the mobilenet space narrowed as in ``demo_space()``
(architecture + a training recipe that converges in seconds) on scikit-learn's digits,
``demo_spec()``: E_beta with beta^2 = 1, A = validation accuracy (perf_ref = 1.0, no
oracle), C = MACs / 2 M, accuracy >= 0.9, MACs <= 1.5 M. Every method uses the same space,
data, profiler (``LocalProfiler(threads=1, max_time_s=0.3)``, as the demo) and training
seed (= the run's seed), and gets the same number of trials:

- ``plain TPE``: ``TPESampler(multivariate=True, seed)`` on the hard E_beta; every
  candidate is built, profiled (for its cost) and trained.
- ``effobj current path``: ``objective_from_space`` with TPE (same seed): over-budget
  candidates and candidates whose bound E_beta(A=1, C) is below the incumbent are not
  trained; ``IncumbentPruner(spec, slack=0.05)`` stops trainings that cannot catch up.
- ``effobj sampler``: the same objective and pruner, the study's sampler
  ``EfficiencySampler.for_objective(objective, seed=seed)``; its cost look-ups of
  candidates it does not train go through the objective (a MACs-only spec is counted on
  the meta pass, no timing) and are part of the wall-clock.

Per trial: the wall-clock since the run's start at the end of the trial, whether it
trained, the best E_beta so far (trained, completed trials; plain TPE: the study value).
Per seed: each method's final best E_beta, total wall-clock, trainings, and the
wall-clock at which it first reached plain TPE's final best E_beta of that seed ("never"
if it did not), also as a ratio of plain TPE's total wall-clock.

Targets: the sampler reaches plain TPE's final best in <= 1/2 of plain TPE's wall-clock
in the median seed; and it beats the current path: a lower median time to plain TPE's
best ("never" counts as infinite) and a final best E_beta >= the current path's in a
majority of seeds.

The methods run interleaved per seed (their order rotates with the seed) in one process,
so that they share the machine's load; the 1-minute load average is recorded at the start
and end of every run.

Run: ``.venv/bin/python benchmarks/bm_real_search.py`` (``--trials 60 --seeds 5``);
smoke test: ``--trials 6 --seeds 1 --no-write``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("plain TPE", "effobj current path", "effobj sampler")
_TOL = 1e-12


def _setup() -> tuple[Any, Any, Any, Any]:
    import optuna

    from effobj.apps import demo_space, demo_spec
    from effobj.optuna import load_space_data
    from effobj.profiler import LocalProfiler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    space = demo_space()
    data = load_space_data(space)
    profiler = LocalProfiler(threads=1, max_time_s=0.3)
    # warm up torch, the FLOP counter, the timer and one training, outside every run
    config = space.default_config()
    model = space.build(config, data)
    profiler.profile(model, space.example_input(config, data, batch_size=1))
    space.train(model, config, data, seed=0)
    return space, demo_spec(), data, profiler


class _Trace:
    """Per-trial record of one run: wall-clock at the trial's end, trained, best so far."""

    def __init__(self, label: str, plain: bool) -> None:
        self.label = label
        self.plain = plain
        self.t0 = time.perf_counter()
        self.rows: list[dict[str, Any]] = []
        self.best: float | None = None
        self.failed: list[str] = []

    def __call__(self, study: Any, frozen: Any) -> None:
        import optuna

        t = time.perf_counter() - self.t0
        ua = frozen.user_attrs
        complete = frozen.state == optuna.trial.TrialState.COMPLETE
        if self.plain:
            trained = frozen.state != optuna.trial.TrialState.FAIL
            e = frozen.value if complete else None
            status = "trained" if complete else frozen.state.name.lower()
        else:
            trained = ua.get("trained") is True
            status = str(ua.get("status", frozen.state.name.lower()))
            e = ua.get("e_beta") if complete and status == "trained" else None
        if frozen.state == optuna.trial.TrialState.FAIL:
            self.failed.append(f"trial {frozen.number}: {ua.get('fail_reason', '(no reason)')}")
        if e is not None and (self.best is None or float(e) > self.best):
            self.best = float(e)
        self.rows.append({"trial": frozen.number, "t_s": t, "trained": trained,
                          "status": status, "e_beta": e, "best": self.best})
        print(f"  {self.label} #{frozen.number:2d} t {t:6.1f} s  {status:11s} "
              f"E {'-' if e is None else f'{float(e):.4f}':6s}  best "
              f"{'-' if self.best is None else f'{self.best:.4f}'}", flush=True)


def run_plain(space: Any, spec: Any, data: Any, profiler: Any, trials: int, seed: int,
              trace: _Trace) -> dict[str, Any]:
    """Plain Optuna TPE: profile (for the cost), train every candidate, tell its E_beta."""
    import optuna

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))

    def objective(trial: optuna.trial.Trial) -> float:
        config = space.suggest(trial)
        model = space.build(config, data)
        report = profiler.profile(model, space.example_input(config, data, batch_size=1))
        result = space.train(model, config, data, seed=seed)
        return float(spec.score(result.perf, {"macs": float(report.macs)}))

    trace.t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, gc_after_trial=False, callbacks=[trace],
                   catch=(Exception,))
    return {"trainings": sum(r["trained"] for r in trace.rows), "skipped": 0, "pruned": 0,
            "lookups": None}


def _run_effobj(space: Any, spec: Any, data: Any, profiler: Any, trials: int, seed: int,
                trace: _Trace, use_sampler: bool) -> dict[str, Any]:
    import optuna

    from effobj.optuna import (
        EfficiencySampler,
        IncumbentPruner,
        objective_from_space,
        optimize,
    )

    trace.t0 = time.perf_counter()  # building the objective and the sampler counts too
    obj = objective_from_space(spec, space, data=data, seed=seed, profiler=profiler)
    sampler = (EfficiencySampler.for_objective(obj, seed=seed) if use_sampler
               else optuna.samplers.TPESampler(seed=seed, multivariate=True))
    study = obj.create_study(storage=":memory:", seed=seed, sampler=sampler,
                             pruner=IncumbentPruner(spec, slack=0.05))
    summary = optimize(study, obj, trials, callbacks=[trace])
    return {"trainings": summary.n_trained, "skipped": summary.trainings_avoided,
            "pruned": summary.n_pruned_training,
            "lookups": len(sampler.lookup_log) if use_sampler else None,
            "distinct_costs": summary.cost_lookups}


def run_current(*a: Any) -> dict[str, Any]:
    """effobj's current path: TPE, skip over-budget and hopeless candidates, prune."""
    return _run_effobj(*a, use_sampler=False)


def run_sampler(*a: Any) -> dict[str, Any]:
    """effobj with the EfficiencySampler (cost look-ups through the objective)."""
    return _run_effobj(*a, use_sampler=True)


RUNNERS = {"plain TPE": run_plain, "effobj current path": run_current,
           "effobj sampler": run_sampler}


def _time_to(rows: list[dict[str, Any]], target: float) -> float | None:
    for r in rows:
        if r["best"] is not None and r["best"] >= target - _TOL:
            return float(r["t_s"])
    return None


def _fmt_s(x: float | None) -> str:
    return "never" if x is None else f"{x:.0f}"


def _fmt_r(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:.2f}"


def _fmt_e(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def analyse(runs: list[dict[str, Any]], args: argparse.Namespace, total_s: float) -> str:
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        by_seed.setdefault(r["seed"], {})[r["method"]] = r
    for m in by_seed.values():
        target = m["plain TPE"]["best"] if "plain TPE" in m else None
        wall_tpe = m["plain TPE"]["wall_s"] if "plain TPE" in m else None
        for r in m.values():
            r["t_to_tpe"] = (None if target is None or "rows" not in r
                             else _time_to(r["rows"], target))
            r["ratio"] = (math.inf if r["t_to_tpe"] is None or not wall_tpe
                          else r["t_to_tpe"] / wall_tpe)

    lines = [
        f"{len(by_seed)} seeds x {args.trials} trials per method (the same trial budget; "
        "TPE's random start-up is its first 10 trials, the EfficiencySampler's its first 5 "
        "trainings), one process, the methods interleaved per seed (order rotated by the "
        "seed). Cost = MACs (deterministic), profiler `LocalProfiler(threads=1, "
        "max_time_s=0.3)`, training seed = the seed. 'to TPE best' = the wall-clock at "
        "the end of the trial where the method first reached plain TPE's final best "
        "E_beta of that seed; 'ratio' = that time / plain TPE's total wall-clock. Load = "
        f"1-min load average at the start -> end of the run, on {len(os.sched_getaffinity(0))} "
        "cores.",
        "",
        "| seed | method | final best E_beta | wall s | trainings (pruned) | skipped | "
        "sampler look-ups | to TPE best s | ratio | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for seed, m in sorted(by_seed.items()):
        for name in METHODS:
            r = m.get(name)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {seed} | {name} | error | | | | | | | "
                             f"{r['load'][0]:.1f} -> {r['load'][1]:.1f} |")
                continue
            lines.append(
                f"| {seed} | {name} | {_fmt_e(r['best'])} | {r['wall_s']:.0f} | "
                f"{r['trainings']} ({r['pruned']}) | {r['skipped']} | "
                f"{'-' if r['lookups'] is None else r['lookups']} | {_fmt_s(r['t_to_tpe'])} | "
                f"{_fmt_r(r['ratio'])} | {r['load'][0]:.1f} -> {r['load'][1]:.1f} |"
            )

    ok = {name: [m[name] for m in by_seed.values() if name in m and "error" not in m[name]]
          for name in METHODS}
    lines += ["", "Summary (medians over seeds; 'never' counts as infinite):", "",
              "| method | median final best E_beta | median wall s | total wall s | "
              "median trainings | seeds reaching TPE's best | median time to TPE best s | "
              "median ratio |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in METHODS:
        rs = ok[name]
        if not rs:
            continue
        ts = [math.inf if r["t_to_tpe"] is None else r["t_to_tpe"] for r in rs]
        med_t = statistics.median(ts)
        lines.append(
            f"| {name} | {statistics.median(r['best'] or 0.0 for r in rs):.4f} | "
            f"{statistics.median(r['wall_s'] for r in rs):.0f} | "
            f"{sum(r['wall_s'] for r in rs):.0f} | "
            f"{statistics.median(r['trainings'] for r in rs):g} | "
            f"{sum(r['t_to_tpe'] is not None for r in rs)}/{len(rs)} | "
            f"{'never' if math.isinf(med_t) else f'{med_t:.0f}'} | "
            f"{_fmt_r(statistics.median(r['ratio'] for r in rs))} |"
        )

    # targets
    pairs = [(m["effobj sampler"], m["effobj current path"]) for m in by_seed.values()
             if all(k in m and "error" not in m[k] for k in
                    ("effobj sampler", "effobj current path", "plain TPE"))]
    lines += ["", "Targets:", ""]
    if pairs:
        med_ratio = statistics.median(s["ratio"] for s, _ in pairs)
        t1 = med_ratio <= 0.5
        inf = math.inf
        med_ts = statistics.median(inf if s["t_to_tpe"] is None else s["t_to_tpe"]
                                   for s, _ in pairs)
        med_tc = statistics.median(inf if c["t_to_tpe"] is None else c["t_to_tpe"]
                                   for _, c in pairs)
        faster = sum((inf if s["t_to_tpe"] is None else s["t_to_tpe"])
                     < (inf if c["t_to_tpe"] is None else c["t_to_tpe"]) for s, c in pairs)
        ge = sum((s["best"] or 0.0) >= (c["best"] or 0.0) - _TOL for s, c in pairs)
        gt = sum((s["best"] or 0.0) > (c["best"] or 0.0) + _TOL for s, c in pairs)
        t2 = med_ts < med_tc and ge > len(pairs) / 2
        lines += [
            f"- sampler reaches plain TPE's final best in <= 1/2 of plain TPE's wall-clock "
            f"(median seed): median ratio {_fmt_r(med_ratio)} -> **{'met' if t1 else 'not met'}**.",
            f"- sampler beats the current path (lower median time to TPE's best, and final "
            f"best E_beta >= the current path's in a majority of seeds): median time "
            f"{'never' if math.isinf(med_ts) else f'{med_ts:.0f} s'} vs "
            f"{'never' if math.isinf(med_tc) else f'{med_tc:.0f} s'}; faster in {faster}/"
            f"{len(pairs)} seeds; final best >= in {ge}/{len(pairs)} (> in {gt}) -> "
            f"**{'met' if t2 else 'not met'}**.",
        ]
    errors = [r for r in runs if "error" in r]
    fails = [(r["seed"], r["method"], f) for r in runs for f in r.get("failed", [])]
    if errors or fails:
        lines += ["", "Errors and failed trials:", ""]
        lines += [f"- seed {r['seed']} {r['method']}: {r['error']}" for r in errors]
        lines += [f"- seed {s} {m}: {f}" for s, m, f in fails]

    lines += ["", "Improvement traces (wall-clock s: best E_beta, at each new best; "
              "T = trainings so far):", ""]
    for seed, m in sorted(by_seed.items()):
        for name in METHODS:
            r = m.get(name)
            if r is None or "rows" not in r:
                continue
            steps, last, n = [], None, 0
            for row in r["rows"]:
                n += bool(row["trained"])
                if row["best"] is not None and row["best"] != last:
                    steps.append(f"{row['t_s']:.0f}: {row['best']:.4f} (T{n})")
                    last = row["best"]
            lines.append(f"- seed {seed} {name}: " + ", ".join(steps))
    loads = [x for r in runs for x in r["load"]]
    lines += ["", f"Load average (1 min) over the runs: {min(loads):.1f} - {max(loads):.1f}; "
              f"total benchmark time {total_s:.0f} s ({total_s / 60:.1f} min)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=60, help="trials per run (default 60)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    p.add_argument("--no-write", action="store_true",
                   help="print only; do not write benchmarks/results/real_search.md")
    p.add_argument("--json", default=None, help="also dump every run's per-trial records here")
    args = p.parse_args(argv)
    t_all = time.perf_counter()
    space, spec, data, profiler = _setup()
    print(f"setup {time.perf_counter() - t_all:.0f} s", flush=True)
    runs: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        order = METHODS[seed % 3:] + METHODS[:seed % 3]
        for name in order:
            label = f"seed {seed} {name:19s}"
            trace = _Trace(label, plain=(name == "plain TPE"))
            load0 = os.getloadavg()[0]
            r: dict[str, Any] = {"method": name, "seed": seed}
            try:
                r |= RUNNERS[name](space, spec, data, profiler, args.trials, seed, trace)
            except Exception as exc:  # report and go on with the other methods
                traceback.print_exc()
                r["error"] = f"{type(exc).__name__}: {exc}"
            r |= {"wall_s": time.perf_counter() - trace.t0, "rows": trace.rows,
                  "best": trace.best, "failed": trace.failed,
                  "load": (load0, os.getloadavg()[0])}
            runs.append(r)
            print(f"{label} best E_beta {_fmt_e(r['best'])}  wall {r['wall_s']:.0f} s  "
                  f"({r['wall_s'] / max(len(trace.rows), 1):.1f} s/trial)  trainings "
                  f"{r.get('trainings')}  skipped {r.get('skipped')}  pruned {r.get('pruned')}  "
                  f"look-ups {r.get('lookups')}  load {r['load'][0]:.1f}->{r['load'][1]:.1f}"
                  + (f"  ERROR {r['error']}" if "error" in r else ""), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(runs, indent=1))
    body = analyse(runs, args, time.perf_counter() - t_all)
    print(body)
    if not args.no_write:
        import torch  # noqa: F401  (so that the machine line names its version)
        from _machine import write

        path = write("real_search",
                     "Real training on digits: plain TPE vs effobj (current path, EfficiencySampler)",
                     body)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
