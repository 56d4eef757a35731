"""Search efficiency on NAS-Bench-Graph: trainings needed to find the exact E_beta optimum.

Cases: the datasets cora, citeseer and pubmed of the PyPI package nas-bench-graph
(26,206 GNN architectures each, with measured validation accuracy and latency), and
beta^2 in {0.25, 1, 4}. The spec of every case:

    A = valid_perf / best valid_perf        perf_min = 0.9 * best valid_perf
    C = latency / p90(latency)              cost budget = p90(latency)

**Budget.** A *training* is a look-up of an architecture's ``valid_perf`` (what a real
search pays for). A *cost look-up* (the table's latency) stands for profiling, which is
cheap but not free: every method pays one per candidate it considers, and effobj's may
consider at most ``COST_LOOKUPS_PER_TRAINING`` = 20 candidates per training. Runs stop
after ``MAX_TRAININGS`` = 100 trainings (or 2,000 cost look-ups), or after a cap on
sampler proposals (400; effobj 1,000, most of its proposals being cheap skips; REINFORCE
200 samples), which bounds the sampler's time. Trainings and cost look-ups count
distinct architectures (the table's canonical hash). The all-``skip``
architecture is not in the benchmark; a sampler proposing it is told E_beta = 0 at no
look-up (every method alike).

**Methods** (all Optuna 5, in-memory storage, one seed per run):

- ``tpe``, ``random``: plain Optuna on the hard E_beta, every candidate trained.
- ``nsga2``: NSGAIISampler on (A max, C min), every candidate trained; the best E_beta
  among its trials is its answer (the E_beta winner lies on the Pareto front).
- ``mnasnet+tpe``: TPE on MnasNet's soft reward ACC * (LAT / T)^-0.07, T = the budget,
  every candidate trained; answer: the best E_beta among its trials.
- ``effobj``: ``effobj.optuna.EfficiencyObjective`` (profile first; over-budget
  candidates are not trained; candidates whose upper bound E_beta(A=1, C) is below the
  incumbent are not trained, recorded at their bound) with TPE, exactly as
  ``effobj search`` runs it.
- ``reinforce``: ``effobj.rl.run_reinforce`` with the E_beta reward (when effobj.rl is
  installed), hopeless skipping on.

**Measures**, per method and case over the seeds: median regret (optimum minus the best
E_beta found) after 25, 50 and 100 trainings; the share of runs that found the exact
optimum within 100 trainings; the median number of trainings to find it (runs that did
not find it count as "never", so the median is "> 100" when fewer than half did); the
median cost look-ups.

Run: ``.venv/bin/python benchmarks/bm_search.py`` (``--seeds 5``, ``--quick`` for one
case and 2 seeds, ``--methods tpe,effobj``, ``--datasets cora``). To use both cores, run
method groups in parallel with ``--json FILE --no-write`` and merge them with
``--render-from FILE1,FILE2,...``, which writes results/search.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATASETS = ("cora", "citeseer", "pubmed")
BETA2S = (0.25, 1.0, 4.0)
CHECKPOINTS = (25, 50, 100)
MAX_TRAININGS = 100
COST_LOOKUPS_PER_TRAINING = 20
#: sampler proposals per run, repeats of known architectures included (a time cap:
#: Optuna's TPE slows down as the study grows); ``--max-trials``
MAX_TRIALS = 400
#: effobj's proposals are mostly cheap skips (cost look-ups), so it gets a larger cap
MAX_TRIALS_EFFOBJ = 1000
#: samples of a REINFORCE run (1,500 take 2-3 s on a quiet machine); ``--rl-samples``
RL_SAMPLES = 1500
MNAS_W = -0.07
TIE = 1e-12


@dataclass
class Case:
    """One dataset and beta^2, with its spec and exhaustive optimum."""

    dataset: str
    beta2: float
    space: Any
    spec: Any
    optimum: float
    perf_best: float
    budget: float


@dataclass
class Run:
    """One search: the E_beta of each training in order, and the look-ups it paid."""

    method: str
    case: str
    seed: int
    e_by_training: list[float] = field(default_factory=list)
    cost_lookups: int = 0
    seconds: float = 0.0

    def best_after(self, k: int) -> float:
        e = self.e_by_training[:k]
        return max(e) if e else 0.0

    def found_at(self, optimum: float) -> int | None:
        for i, e in enumerate(self.e_by_training, start=1):
            if e >= optimum - TIE:
                return i
        return None


def make_case(dataset: str, beta2: float) -> Case:
    import search_spaces
    from effobj.spec import EfficiencySpec

    space = search_spaces.get(f"nas-bench-graph:{dataset}")
    a = space.arrays()
    best = float(np.max(a["perf"]))
    p90 = float(np.percentile(a["latency"], 90))
    spec = EfficiencySpec(beta2=beta2, perf_ref=best, cost_ref=p90, perf_min=0.9 * best,
                          cost_max=p90, cost_name="latency")
    scores = spec.score(a["perf"], {"latency": a["latency"]})
    return Case(dataset, beta2, space, spec, float(np.max(scores)), best, p90)


class Table:
    """Counting, caching access to one case's benchmark table.

    An architecture is identified by the benchmark's canonical hash (configs that differ
    only in the inputs of ``skip`` nodes are the same network): looking up one already
    looked up is free for every method, so trainings and cost look-ups count distinct
    architectures.
    """

    def __init__(self, case: Case, run: Run) -> None:
        self.case = case
        self.run = run
        self._profiled: dict[int, float] = {}
        self._trained: dict[int, float] = {}

    @staticmethod
    def valid(config: dict[str, Any]) -> bool:
        return not all(config[f"op_{i}"] == "skip" for i in range(4))

    def cost(self, config: dict[str, Any]) -> float:
        key = self.case.space.arch_hash(config)
        if key not in self._profiled:
            self.run.cost_lookups += 1
            self._profiled[key] = float(self.case.space.lookup(config)["latency"])
        return self._profiled[key]

    def train(self, config: dict[str, Any]) -> float:
        """Look the accuracy up: one training (if new); records the candidate's E_beta."""
        key = self.case.space.arch_hash(config)
        if key not in self._trained:
            rec = self.case.space.lookup(config)
            e = float(self.case.spec.score(rec["perf"], {"latency": rec["latency"]}))
            self.run.e_by_training.append(e)
            self._trained[key] = float(rec["perf"])
        return self._trained[key]


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")


def _plain(case: Case, seed: int, sampler_name: str, reward: str) -> Run:
    """Plain Optuna: ask, train every candidate, tell."""
    import optuna

    run = Run(f"{sampler_name}" if reward == "e_beta" else f"{reward}+{sampler_name}",
              f"{case.dataset} b2={case.beta2:g}", seed)
    table = Table(case, run)
    spec = case.spec
    if sampler_name == "tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed,
                                                                          multivariate=True)
    elif sampler_name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    directions = ["maximize", "minimize"] if sampler_name == "nsga2" else ["maximize"]
    study = optuna.create_study(directions=directions, sampler=sampler)
    for _ in range(MAX_TRIALS):
        if len(run.e_by_training) >= MAX_TRAININGS:
            break
        trial = study.ask()
        config = case.space.suggest(trial)
        if not table.valid(config):
            study.tell(trial, [0.0, 10.0] if sampler_name == "nsga2" else 0.0)
            continue
        lat = table.cost(config)
        perf = table.train(config)
        if sampler_name == "nsga2":
            a, c = spec.normalize(perf, {"latency": lat})
            study.tell(trial, [float(a), float(c)])
        elif reward == "mnasnet":
            study.tell(trial, perf * (lat / case.budget) ** MNAS_W)
        else:
            study.tell(trial, float(spec.score(perf, {"latency": lat})))
    return run


def _effobj(case: Case, seed: int, *, tell_hopeless: bool = False) -> Run:
    """effobj's Optuna path: EfficiencyObjective (profile first, skip what cannot count).

    With ``tell_hopeless`` every trial also sets a constraint ``beats_incumbent`` =
    incumbent - E_beta(A=1, C), positive (violated) exactly for the hopeless candidates,
    so that the sampler files them with the infeasible trials instead of near the top.
    """
    import optuna

    from effobj.optuna import EfficiencyObjective, create_study

    run = Run("effobj+tell" if tell_hopeless else "effobj", f"{case.dataset} b2={case.beta2:g}",
              seed)
    table = Table(case, run)
    invalid = 10.0 * case.budget  # the all-skip cell: over budget, E_beta 0, no look-up

    def build(trial: optuna.trial.Trial) -> dict[str, Any]:
        return case.space.suggest(trial)

    def measure(config: dict[str, Any]) -> dict[str, float]:
        if not table.valid(config):
            return {"latency": invalid}
        return {"latency": table.cost(config)}

    def evaluate(config: dict[str, Any], trial: optuna.trial.Trial) -> float:
        return table.train(config)

    effobj_obj = EfficiencyObjective(case.spec, build, evaluate, measure=measure)

    def obj(trial: optuna.trial.Trial) -> Any:
        value = effobj_obj(trial)
        if tell_hopeless:
            ua = trial.user_attrs
            gap = 0.0
            if ua.get("status") == "hopeless":
                gap = float(ua["incumbent_e_beta"]) - float(ua["e_beta_upper_bound"])
            trial.set_constraint("beats_incumbent", gap)
        return value

    study = create_study(case.spec, storage=":memory:",
                         sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
    max_lookups = COST_LOOKUPS_PER_TRAINING * MAX_TRAININGS
    for _ in range(MAX_TRIALS_EFFOBJ):
        if len(run.e_by_training) >= MAX_TRAININGS or run.cost_lookups >= max_lookups:
            break
        study.optimize(obj, n_trials=1, gc_after_trial=False)
    return run


def _reinforce(case: Case, seed: int) -> Run:
    """effobj.rl's REINFORCE controller with the E_beta reward, hopeless skipping on.

    The controller records every sample as a trial; trainings and cost look-ups are
    counted afterwards over distinct architectures, in sample order, as for the others.
    """
    from effobj.optuna import create_study
    from effobj.rl import run_reinforce

    run = Run("reinforce", f"{case.dataset} b2={case.beta2:g}", seed)
    study = create_study(case.spec, storage=":memory:")
    run_reinforce(case.space, case.spec, study=study, n_samples=RL_SAMPLES, seed=seed,
                  objective_kwargs={"skip_hopeless": True})
    profiled: set[int] = set()
    trained: set[int] = set()
    for t in sorted(study.trials, key=lambda t: t.number):
        if not t.params or "latency" not in t.user_attrs:
            continue
        key = case.space.arch_hash(t.params)
        if key not in profiled:
            profiled.add(key)
            run.cost_lookups += 1
        if t.user_attrs.get("trained") is True and key not in trained:
            trained.add(key)
            rec = case.space.lookup(t.params)
            run.e_by_training.append(float(case.spec.score(rec["perf"], {"latency": rec["latency"]})))
        if len(run.e_by_training) >= MAX_TRAININGS:
            break
    return run


METHODS: dict[str, Callable[[Case, int], Run]] = {
    "random": lambda c, s: _plain(c, s, "random", "e_beta"),
    "tpe": lambda c, s: _plain(c, s, "tpe", "e_beta"),
    "nsga2": lambda c, s: _plain(c, s, "nsga2", "e_beta"),
    "mnasnet+tpe": lambda c, s: _plain(c, s, "tpe", "mnasnet"),
    "effobj": _effobj,
    "effobj+tell": lambda c, s: _effobj(c, s, tell_hopeless=True),
    "reinforce": _reinforce,
}


def _rl_available() -> bool:
    try:
        import effobj.rl  # noqa: F401
    except ImportError:
        return False
    return True


def summarize(case: Case, runs: list[Run]) -> dict[str, Any]:
    regrets = {k: statistics.median(case.optimum - r.best_after(k) for r in runs)
               for k in CHECKPOINTS}
    found = [r.found_at(case.optimum) for r in runs]
    hits = [f for f in found if f is not None]
    ordered = sorted(math.inf if f is None else f for f in found)
    med = statistics.median(ordered)
    return {
        "regret": regrets,
        "found": len(hits),
        "n": len(runs),
        "median_to_find": med,
        "cost_lookups": statistics.median(r.cost_lookups for r in runs),
        "trainings": statistics.median(len(r.e_by_training) for r in runs),
        "seconds": statistics.median(r.seconds for r in runs),
    }


def _fmt_med(x: float) -> str:
    return f"> {MAX_TRAININGS}" if not math.isfinite(x) else f"{x:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--beta2s", default=",".join(f"{b:g}" for b in BETA2S))
    p.add_argument("--methods", default=None, help="comma-separated; default all available")
    p.add_argument("--quick", action="store_true", help="cora, beta2 = 1, 2 seeds; no file")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--max-trials", type=int, default=None,
                   help=f"sampler proposals per run (default {MAX_TRIALS}; effobj "
                   f"{MAX_TRIALS_EFFOBJ})")
    p.add_argument("--rl-samples", type=int, default=RL_SAMPLES,
                   help=f"REINFORCE samples per run (default {RL_SAMPLES})")
    p.add_argument("--json", default=None, help="also save the summaries to this JSON file")
    p.add_argument("--render-from", default=None,
                   help="comma-separated JSON files of earlier (parallel) runs: merge them, "
                   "write results/search.md, run nothing")
    args = p.parse_args(argv)
    _quiet()
    if args.render_from:
        return _render_from(args.render_from.split(","))
    if args.max_trials is not None:
        globals().update(MAX_TRIALS=args.max_trials, MAX_TRIALS_EFFOBJ=args.max_trials)
    globals().update(RL_SAMPLES=args.rl_samples)
    datasets = ["cora"] if args.quick else args.datasets.split(",")
    betas = [1.0] if args.quick else [float(b) for b in args.beta2s.split(",")]
    seeds = range(2 if args.quick else args.seeds)
    names = args.methods.split(",") if args.methods else [
        m for m in METHODS
        if m != "effobj+tell" and (m != "reinforce" or _rl_available())
    ]
    t_all = time.perf_counter()
    results: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}
    for ds in datasets:
        for b in betas:
            case = make_case(ds, b)
            results[(ds, b)] = {}
            for name in names:
                runs = []
                for seed in seeds:
                    t0 = time.perf_counter()
                    run = METHODS[name](case, seed)
                    run.seconds = time.perf_counter() - t0
                    runs.append(run)
                s = summarize(case, runs)
                results[(ds, b)][name] = s
                print(
                    f"{ds:9s} b2={b:<5g} {name:12s} regret@25/50/100 "
                    + " ".join(f"{s['regret'][k]:.4f}" for k in CHECKPOINTS)
                    + f"  found {s['found']}/{s['n']}  median trainings "
                    f"{_fmt_med(s['median_to_find'])}  cost look-ups {s['cost_lookups']:g}"
                    f"  {s['seconds']:.1f} s/run",
                    flush=True,
                )
            if args.json:
                _save(args.json, results, names, len(seeds), time.perf_counter() - t_all)
    total = time.perf_counter() - t_all
    body = render(results, names, len(seeds), total)
    print(body)
    if not (args.quick or args.no_write):
        from _machine import write

        path = write("search", "Search efficiency on NAS-Bench-Graph (trainings to the exact E_beta optimum)", body)
        print(f"wrote {path}")
    return 0


def _cap(name: str) -> int:
    """The proposal (or sample) cap a method runs under."""
    if name == "reinforce":
        return RL_SAMPLES
    return MAX_TRIALS_EFFOBJ if name.startswith("effobj") else MAX_TRIALS


def _save(path: str, results: dict[tuple[str, float], dict[str, dict[str, Any]]],
          names: list[str], n_seeds: int, total_s: float) -> None:
    import json

    out = {"names": names, "n_seeds": n_seeds, "total_s": total_s,
           "caps": {n: _cap(n) for n in names},
           "results": [{"dataset": ds, "beta2": b, "by_method": m} for (ds, b), m in results.items()]}
    Path(path).write_text(json.dumps(out, default=lambda x: None if x == math.inf else x))


def _render_from(paths: list[str]) -> int:
    import json

    merged: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}
    names: list[str] = []
    n_seeds = 0
    total = 0.0
    caps: dict[str, int] = {}
    for path in paths:
        d = json.loads(Path(path).read_text())
        caps.update(d.get("caps", {}))
        names += [n for n in d["names"] if n not in names]
        n_seeds = max(n_seeds, d["n_seeds"])
        total += d["total_s"]
        for r in d["results"]:
            for m in r["by_method"].values():
                m["regret"] = {int(k): v for k, v in m["regret"].items()}
                if m["median_to_find"] is None:
                    m["median_to_find"] = math.inf
            merged.setdefault((r["dataset"], r["beta2"]), {}).update(r["by_method"])
    # cases every method but REINFORCE (the slowest, possibly cut short) ran
    complete = {k: v for k, v in merged.items()
                if all(n in v for n in names if n != "reinforce")}
    body = render(complete, names, n_seeds, total, caps)
    print(body)
    from _machine import write

    path = write("search", "Search efficiency on NAS-Bench-Graph (trainings to the exact E_beta "
                 "optimum)", body)
    print(f"wrote {path}")
    return 0


def render(results: dict[tuple[str, float], dict[str, dict[str, Any]]], names: list[str],
           n_seeds: int, total_s: float, caps: dict[str, int] | None = None) -> str:
    lines = [
        f"{n_seeds} seeds per method and case; budget {MAX_TRAININGS} trainings (accuracy "
        f"look-ups); effobj may spend up to {COST_LOOKUPS_PER_TRAINING} cost look-ups per "
        "training. Every run also stops after a number of sampler proposals (repeats "
        "included; REINFORCE: samples), a cap on the sampler's time: "
        + ", ".join(f"{n} {c}" for n, c in (caps or {n: _cap(n) for n in names}).items())
        + ". So some runs end with fewer than 100 trainings (see 'median trainings run'): "
        "their regret @100 is the regret at their end. Trainings and "
        "cost look-ups count distinct architectures (the benchmark's canonical hash): "
        "re-proposing a known one is free for every method. Spec: A = valid_perf / best, C = latency / p90(latency), perf_min = 0.9 "
        "best, budget = p90. Regret = exhaustive optimum - best E_beta found (median over "
        "seeds). 'found' = runs whose trainings include the exact optimum; 'median trainings' "
        f"counts runs that never found it as never (> {MAX_TRAININGS}).",
        "",
        "| case | optimum | method | regret @25 | regret @50 | regret @100 | found | "
        "median trainings to optimum | median trainings run | median cost look-ups | s/run |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (ds, b), by_method in results.items():
        case = make_case(ds, b)
        for name in names:
            if name not in by_method:
                continue
            s = by_method[name]
            lines.append(
                f"| {ds} b2={b:g} | {case.optimum:.4f} | {name} | "
                + " | ".join(f"{s['regret'][k]:.4f}" for k in CHECKPOINTS)
                + f" | {s['found']}/{s['n']} | {_fmt_med(s['median_to_find'])} | "
                f"{s['trainings']:g} | {s['cost_lookups']:g} | {s['seconds']:.1f} |"
            )
    lines += ["", "## Totals over all cases", "",
              "| method | runs finding the exact optimum | median of per-case median trainings | "
              "trainings ratio plain TPE / method (median over cases where both found it) |",
              "|---|---:|---:|---:|"]
    for name in names:
        ran = [r[name] for r in results.values() if name in r]
        found = sum(r["found"] for r in ran)
        n = sum(r["n"] for r in ran)
        meds = [r["median_to_find"] for r in ran]
        where = "" if len(ran) == len(results) else f" (only {len(ran)} of {len(results)} cases)"
        ratios = [
            r["tpe"]["median_to_find"] / r[name]["median_to_find"]
            for r in results.values()
            if name in r and "tpe" in r
            and math.isfinite(r["tpe"]["median_to_find"])
            and math.isfinite(r[name]["median_to_find"])
        ]
        ratio = f"{statistics.median(ratios):.1f}x ({len(ratios)} cases)" if ratios else "-"
        lines.append(f"| {name}{where} | {found}/{n} ({100 * found / n:.0f} %) | "
                     f"{_fmt_med(statistics.median(meds))} | {ratio} |")
    lines += ["", f"Total benchmark time: {total_s:.0f} s (sum over the processes that ran it)."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
