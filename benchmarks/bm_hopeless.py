"""How Optuna's samplers learn from hopeless candidates recorded PRUNED vs COMPLETE.

Issue 22, item 3. A hopeless candidate (its E_beta upper bound E_beta(A=1, C) below the
incumbent) is not trained. effobj before 0.3 recorded it COMPLETE with the bound as its
value (a value never measured, which optuna-dashboard shows as a result); now it is
PRUNED without a value, the bound kept in the user attributes
(``EfficiencyObjective(hopeless="prune")``, the default). This benchmark runs the same
searches with both forms, paired by seed, for TPE (multivariate), GP and NSGA-II, and
compares what each sampler finds:

- ``best``: the best E_beta of a trained candidate (the incumbent) after the run;
- ``best@K``: the incumbent after the first K trainings (trainings are the expensive
  part: a hopeless or over-budget candidate costs a profiling run only);
- ``trained``: the trainings the run spent; ``hopeless``: the candidates skipped as
  hopeless, and how many of them were a candidate already skipped before
  (``re-proposed``: a sampler that learned nothing from the first one proposes it again).

The problem: a small network family with a width (4..64), a depth (1..8) and a learning
rate (log 1e-4..1e-1); its cost is the MACs-like ``width^2 * depth`` (budget 60 % of the
largest), its accuracy saturates in capacity and peaks at a learning rate of 1e-2, with
a deterministic per-candidate wobble. Every value is a closed form, so the runs measure
the samplers, not the machine.

Run: ``.venv/bin/python benchmarks/bm_hopeless.py [--seeds 10] [--gp-seeds 2] [--trials 30]``
(writes benchmarks/results/hopeless.md).
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import warnings
import zlib
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _machine  # noqa: E402

from effobj import EfficiencySpec  # noqa: E402
from effobj.optuna import EfficiencyObjective  # noqa: E402
from effobj.optuna._hopeless import HopelessAware  # noqa: E402
from effobj.record import Status, TrialRecord, incumbent  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
logging.getLogger("effobj.optuna").setLevel(logging.ERROR)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

COST_REF = 64.0**2 * 8
SPEC = EfficiencySpec(beta2=1.0, perf_ref=1.0, perf_min=0.3, cost_name="macs",
                      cost_ref=COST_REF, cost_max=0.6 * COST_REF)
K_TRAININGS = (5, 10, 20)


def build(trial: optuna.trial.Trial) -> tuple[int, int, float]:
    return (trial.suggest_int("width", 4, 64), trial.suggest_int("depth", 1, 8),
            trial.suggest_float("lr", 1e-4, 1e-1, log=True))


def measure(c: tuple[int, int, float]) -> dict[str, float]:
    width, depth, _ = c
    return {"macs": float(width * width * depth)}


def accuracy(c: tuple[int, int, float]) -> float:
    width, depth, lr = c
    capacity = 1.0 - math.exp(-(width * depth) / 60.0)
    lr_fit = math.exp(-((math.log10(lr) + 2.0) ** 2) / 1.5)
    wobble = (zlib.crc32(f"{width},{depth},{lr:.3g}".encode()) % 1000) / 1000.0 - 0.5
    return min(1.0, max(0.0, 0.25 + 0.7 * capacity * lr_fit + 0.03 * wobble))


def evaluate(c: tuple[int, int, float], trial: optuna.trial.Trial) -> float:
    return accuracy(c)


def sampler_of(name: str, seed: int, aware: bool) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        s: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    elif name == "gp":
        s = optuna.samplers.GPSampler(seed=seed)
    else:
        s = optuna.samplers.NSGAIISampler(seed=seed, population_size=10)
    return HopelessAware(s) if aware else s


def one_run(sampler: str, form: str, seed: int, n_trials: int) -> dict[str, float]:
    obj = EfficiencyObjective(SPEC, build, evaluate, measure=measure,
                              hopeless="complete" if form == "complete" else "prune",
                              incumbent_refresh_s=0.0)
    study = obj.create_study(storage=":memory:",
                             sampler=sampler_of(sampler, seed, form == "aware"))
    t0 = time.perf_counter()
    study.optimize(obj, n_trials=n_trials)
    wall = time.perf_counter() - t0
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if TrialRecord.from_user_attrs(t.user_attrs, ()).trained]
    out: dict[str, float] = {"wall_s": wall, "trained": len(trained)}
    best = incumbent(trials)
    out["best"] = 0.0 if best is None else best.e_beta
    for k in K_TRAININGS:
        first = incumbent(trained[:k])
        out[f"best@{k}"] = 0.0 if first is None else first.e_beta
    seen: set[tuple] = set()
    hopeless = again = 0
    for t in trials:
        if t.user_attrs.get("status") == Status.HOPELESS:
            hopeless += 1
            key = (t.params["width"], t.params["depth"], round(t.params["lr"], 6))
            again += key in seen
            seen.add(key)
    out["hopeless"] = hopeless
    out["re-proposed"] = again
    return out


def paired(rows_old: list[dict], rows_new: list[dict], key: str) -> str:
    d = [n[key] - o[key] for o, n in zip(rows_old, rows_new, strict=True)]
    wins = sum(x > 1e-12 for x in d)
    losses = sum(x < -1e-12 for x in d)
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    se = sd / math.sqrt(len(d)) if d else 0.0
    return f"{statistics.mean(d):+.4f} ± {1.96 * se:.4f} ({wins}/{len(d) - wins - losses}/{losses})"


FORMS = (("complete", "COMPLETE at the bound (old)"),
         ("prune", "PRUNED, the plain Optuna sampler"),
         ("aware", "PRUNED, HopelessAware(sampler) (make_sampler's)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds for TPE and NSGA-II")
    ap.add_argument("--gp-seeds", type=int, default=2, help="seeds for GP (slower)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--samplers", default="tpe,nsga2,gp")
    args = ap.parse_args()
    body = [
        __doc__.split("\n\n", 1)[1].split("Run:")[0].strip(), "",
        "Three forms per seed: " + "; ".join(f"`{k}`: {v}" for k, v in FORMS) + ".", "",
        f"Spec: beta2 {SPEC.beta2:g}, perf_min {SPEC.perf_min:g}, C = macs / {COST_REF:g}, "
        f"macs <= {SPEC.costs[0].max:g}; {args.trials} trials per run. Columns `prune - "
        "complete` and `aware - complete`: the difference to the old form, paired by seed, "
        "mean ± 95 % (1.96 standard errors), then (W/T/L) the seeds where the new form "
        "found more / the same / less (for `re-proposed` and `hopeless`, fewer is better).",
        "",
    ]
    per_seed: list[str] = ["| sampler | seed | form | " + " | ".join(
        ["best", *(f"best@{k}" for k in K_TRAININGS), "trained", "hopeless", "re-proposed",
         "wall s"]) + " |", "|" + "---|" * 12]
    for sampler in args.samplers.split(","):
        n = args.gp_seeds if sampler == "gp" else args.seeds
        rows: dict[str, list[dict]] = {f: [] for f, _ in FORMS}
        for seed in range(n):
            for form, _ in FORMS:
                r = one_run(sampler, form, seed, args.trials)
                rows[form].append(r)
                per_seed.append(
                    f"| {sampler} | {seed} | {form} | {r['best']:.4f} | "
                    + " | ".join(f"{r[f'best@{k}']:.4f}" for k in K_TRAININGS)
                    + f" | {r['trained']:.0f} | {r['hopeless']:.0f} | {r['re-proposed']:.0f}"
                    f" | {r['wall_s']:.1f} |")
                print(per_seed[-1], flush=True)
        body += [f"## {sampler} ({n} seeds)", "",
                 "| measure | complete (mean) | prune (mean) | aware (mean) | prune - complete "
                 "| aware - complete |", "|---|---|---|---|---|---|"]
        for key in ("best", *(f"best@{k}" for k in K_TRAININGS), "trained", "hopeless",
                    "re-proposed"):
            means = " | ".join(f"{statistics.mean(r[key] for r in rows[f]):.4f}"
                               for f, _ in FORMS)
            body.append(f"| {key} | {means} | {paired(rows['complete'], rows['prune'], key)} "
                        f"| {paired(rows['complete'], rows['aware'], key)} |")
        body.append("")
    body += ["## Every run", "", *per_seed]
    path = _machine.write("hopeless", "Hopeless candidates: PRUNED vs COMPLETE at the bound",
                          "\n".join(body))
    print(path)


if __name__ == "__main__":
    main()
