"""Search efficiency on NAS-Bench-Graph: budget in training-equivalents to the exact E_beta optimum.

Cases: the data sets cora, citeseer, pubmed, photo (26,206 GNN architectures each) and
proteins (2,021 architectures, five operations) of the PyPI package nas-bench-graph
(measured validation accuracy and latency of every architecture), and beta^2 in
{0.25, 1, 4}. The spec of every case, with no oracle in it:

    A = valid_perf / 1.0                    perf_ref = 1.0 (a perfect accuracy)
    C = latency / p90(latency)              cost_ref = the budget
    perf_min = 0.9 x best valid_perf        cost budget = p90(latency)

``perf_min`` and the budget are *stated requirements* of the case (as a user states
"at least 90 % of the best known accuracy, within this latency"); ``perf_ref`` is not the
table's best accuracy, so the upper bound E_beta(A=1, C) a method may use before
training is the honest one.

**Budget, in training-equivalents (TE).** A *training* (the first accuracy look-up of a
distinct architecture) costs 1 TE; a *cost look-up* (the first latency look-up of a
distinct architecture, standing for profiling) costs the price ``p`` (1/100 in the main
table). Distinct means the benchmark's canonical hash ``space.arch_hash(config)``:
repeats of a known architecture are free for every method. Every run is recorded as an
ordered event log (each new look-up, each training with its E_beta), so the tables at
the prices 0, 1/100 and 1/10 are computed afterwards from the same runs. A run stops at
``MAX_TRAININGS`` = 100 trainings, when its TE at price 1/100 exceeds ``MAX_TE`` = 110,
at its proposal cap (``CAPS``: bounds the sampler's time), or once it has trained the
exact optimum (a shortcut of the measurement, not of the method: nothing after that
changes a regret, a hit or a TE to the optimum; it saves the samplers' time, most of which
goes to the proposals after it). The all-``skip`` config is
not in the benchmark; a method proposing it is told E_beta 0 (or its cost is 10 x the
budget) at no look-up.

**Methods** (Optuna 5, in-memory storage, one seed per run):

- ``random``, ``tpe`` (TPESampler, multivariate), ``gp`` (GPSampler): plain Optuna on the
  hard E_beta, every candidate looked up and trained;
- ``mnasnet+tpe``: TPE on MnasNet's soft reward ACC x (LAT / T)^-0.07, T = the budget;
- ``bound-order``: look up every architecture's latency, then train in decreasing order
  of the upper bound E_beta(A=1, C) (``spec.upper_bound``), stopping when the next bound
  is below the incumbent (or at 100 trainings). It pays one look-up per architecture
  up front (262 TE at price 1/100 on the 26,206-architecture tables) and is exempt from
  the TE stop: at price 0 it is the reference, at 1/100 it is expensive;
- ``effobj``: ``effobj.optuna.EfficiencyObjective`` with TPE as ``effobj search`` runs it
  (costs first; over-budget and hopeless candidates not trained);
- ``effobj-sampler``: ``effobj.optuna.EfficiencySampler`` (it looks costs up itself,
  sparingly, through the same counting table) with ``EfficiencyObjective``; both get
  ``identity=`` the canonical hash, and the sampler ``lookup_price=`` the benchmark's
  price 1/100 (its default "auto" would measure look-up time over training time, ~1 here
  where both are table look-ups). Skipped, with a note, if it does not import;
- ``reinforce``: ``effobj.rl.run_reinforce`` with the E_beta reward, hopeless skipping on;
  its trials are replayed in order into the event log (the stop rule applies there; its
  seconds are those of the whole run).

**Measures**, per method and case over the seeds, at each price: median regret
(exhaustive optimum minus the best E_beta trained) after 10, 25, 50 and 100 TE; runs
whose trainings include the exact optimum (in the run, and within 100 TE); the median TE
to reach it (runs that never did count as never); the raw counts (trainings, look-ups);
wall-clock seconds per run. The targets of the new sampler are checked and printed.

Run: ``.venv/bin/python benchmarks/bm_search.py`` (``--seeds 5``, ``--first-seed``;
``--quick``: beta^2 = 1, 2 seeds, cora unless ``--datasets``, nothing written;
``--methods tpe,effobj``, ``--datasets cora,photo``, ``--cap METHOD=N``,
``--sampler-price auto``, ``--run-past-optimum``, ``--note TEXT`` for the results file).
In one process it takes ~23 min of process time on these machines, half of it GPSampler.
To use both cores, run method groups in parallel with ``--json FILE --no-write`` and
merge them with ``--render-from FILE1,FILE2,...``, which writes results/search.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# one BLAS / OpenMP thread, set before numpy loads OpenBLAS: the samplers' Gaussian
# processes solve many small systems, which at two threads on a loaded 2-core machine ran
# ~25x slower (measured: EfficiencySampler 8 s per proposal against 0.3 s)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATASETS = ("cora", "citeseer", "pubmed", "photo", "proteins")
BETA2S = (0.25, 1.0, 4.0)
CHECKPOINTS = (10, 25, 50, 100)
PRICES = (0.0, 0.01, 0.1)
PRICE = 0.01  # the main table's price of a cost look-up, in TE
MAX_TRAININGS = 100
MAX_TE = 110.0  # at PRICE
#: end a run once it has trained the exact optimum: nothing after that changes a regret,
#: a hit or a TE to the optimum, and the samplers' time goes mostly to the proposals after
#: it (``--run-past-optimum`` turns this off)
STOP_AT_OPTIMUM = True
#: proposals per run, repeats included (a cap on the sampler's time); REINFORCE: samples
CAPS: dict[str, int] = {
    "random": 400,
    "tpe": 400,
    "gp": 400,
    "mnasnet+tpe": 400,
    "bound-order": 26206,
    "effobj": 1000,
    "effobj-sampler": 400,
    "reinforce": 1500,
}
#: the price of a cost look-up the new sampler is told (``lookup_price``); "auto" lets it
#: measure look-up time over training time, which here (both are table look-ups) is ~1,
#: not the 1/100 the benchmark charges; ``--sampler-price``
SAMPLER_PRICE: float | str = PRICE
#: how the new sampler was constructed in this process (for the results file)
SAMPLER_WIRING: set[str] = set()
MNAS_W = -0.07
TIE = 1e-12
TITLE = "Search efficiency on NAS-Bench-Graph (training-equivalents to the exact E_beta optimum)"


@dataclass
class Case:
    """One data set and beta^2, with its spec and exhaustive optimum."""

    dataset: str
    beta2: float
    space: Any
    spec: Any
    optimum: float
    perf_best: float
    budget: float

    @property
    def name(self) -> str:
        return f"{self.dataset} b2={self.beta2:g}"


@dataclass
class Run:
    """One search as an ordered event log.

    ``events``: ``[0, n]`` = n new cost look-ups, ``[1, e]`` = one training of a new
    architecture that scored E_beta ``e``. ``stop``: why the run ended.
    """

    method: str
    dataset: str
    beta2: float
    seed: int
    events: list[list[float]] = field(default_factory=list)
    proposals: int = 0
    seconds: float = 0.0
    stop: str = ""

    @property
    def trainings(self) -> int:
        return sum(1 for k, _ in self.events if k == 1)

    @property
    def lookups(self) -> int:
        return int(sum(v for k, v in self.events if k == 0))

    def trained(self, price: float) -> list[tuple[float, float]]:
        """``(TE when the training ended, its E_beta)`` for every training, in order."""
        out = []
        n_t = 0
        n_l = 0.0
        for k, v in self.events:
            if k == 0:
                n_l += v
            else:
                n_t += 1
                out.append((n_t + price * n_l, v))
        return out

    def te_end(self, price: float) -> float:
        return self.trainings + price * self.lookups

    def best_within(self, price: float, te: float) -> float:
        e = [v for t, v in self.trained(price) if t <= te + 1e-9]
        return max(e) if e else 0.0

    def te_to(self, optimum: float, price: float) -> float:
        for t, v in self.trained(price):
            if v >= optimum - TIE:
                return t
        return math.inf


def make_case(dataset: str, beta2: float) -> Case:
    import effobj.spaces
    from effobj.spec import EfficiencySpec

    space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
    a = space.arrays()
    best = float(np.max(a["perf"]))
    p90 = float(np.percentile(a["latency"], 90))
    spec = EfficiencySpec(beta2=beta2, perf_ref=1.0, cost_ref=p90, perf_min=0.9 * best,
                          cost_max=p90, cost_name="latency")
    scores = space.scores(lambda perf, costs: spec.score(perf, {"latency": costs["latency"]}))
    return Case(dataset, beta2, space, spec, float(np.max(scores)), best, p90)


def case_facts(case: Case) -> dict[str, Any]:
    """Where the optimum lies in cost order, and how many bounds reach it."""
    a = case.space.arrays()
    lat = a["latency"]
    scores = case.space.scores(lambda p, c: case.spec.score(p, {"latency": c["latency"]}))
    opt = int(np.argmax(scores))
    ub = np.asarray(case.spec.upper_bound({"latency": lat}), dtype=np.float64)
    return {
        "n": int(lat.size),
        "cost_rank": int(np.sum(lat < lat[opt])) + 1,
        "n_bound_ge_opt": int(np.sum(ub >= scores[opt] - TIE)),
        "n_optima": int(np.sum(scores >= scores[opt] - TIE)),
        "perf": float(a["perf"][opt]),
        "perf_best": case.perf_best,
        "latency_over_budget": float(lat[opt] / case.budget),
        "n_feasible": int(np.sum(scores > 0)),
    }


class Table:
    """Counting, caching access to one case's benchmark table; writes the run's event log.

    An architecture is identified by the benchmark's canonical hash (configs that differ
    only in the inputs of ``skip`` nodes are one network): looking one up again is free.
    """

    def __init__(self, case: Case, run: Run) -> None:
        self.case = case
        self.run = run
        self._cost: dict[int, float] = {}
        self._perf: dict[int, float] = {}
        self.n_trained = 0
        self.n_lookups = 0
        self.found = False

    @staticmethod
    def valid(config: dict[str, Any]) -> bool:
        return not all(config[f"op_{i}"] == "skip" for i in range(4))

    def te(self, price: float = PRICE) -> float:
        return self.n_trained + price * self.n_lookups

    def spent(self) -> str | None:
        """Why the run must stop now (budget), or None."""
        if self.found and STOP_AT_OPTIMUM:
            return "optimum"
        if self.n_trained >= MAX_TRAININGS:
            return "trainings"
        if self.te() > MAX_TE:
            return "TE"
        return None

    def cost(self, config: dict[str, Any]) -> float:
        key = self.case.space.arch_hash(config)
        if key not in self._cost:
            self._cost[key] = float(self.case.space.lookup(config)["latency"])
            self.n_lookups += 1
            ev = self.run.events
            if ev and ev[-1][0] == 0:
                ev[-1][1] += 1
            else:
                ev.append([0, 1])
        return self._cost[key]

    def train(self, config: dict[str, Any]) -> float:
        """Look the accuracy up: one training if new (the latency must be known)."""
        key = self.case.space.arch_hash(config)
        if key not in self._perf:
            lat = self.cost(config)
            perf = float(self.case.space.lookup(config)["perf"])
            self._perf[key] = perf
            self.n_trained += 1
            e = float(self.case.spec.score(perf, {"latency": lat}))
            self.run.events.append([1, e])
            self.found = self.found or e >= self.case.optimum - TIE
        return self._perf[key]


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")


def _new_run(name: str, case: Case, seed: int) -> Run:
    return Run(name, case.dataset, case.beta2, seed)


def _plain(case: Case, seed: int, name: str) -> Run:
    """Plain Optuna: ask, look up and train every candidate, tell."""
    import optuna

    run = _new_run(name, case, seed)
    table = Table(case, run)
    spec = case.spec
    if name == "random":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=seed)
    elif name == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:  # tpe, mnasnet+tpe
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    run.stop = "proposals"
    for _ in range(CAPS[name]):
        why = table.spent()
        if why:
            run.stop = why
            break
        run.proposals += 1
        trial = study.ask()
        config = case.space.suggest(trial)
        if not table.valid(config):
            study.tell(trial, 0.0)
            continue
        perf = table.train(config)
        lat = table.cost(config)
        if name == "mnasnet+tpe":
            study.tell(trial, perf * (lat / case.budget) ** MNAS_W)
        else:
            study.tell(trial, float(spec.score(perf, {"latency": lat})))
    return run


def _bound_order(case: Case, seed: int) -> Run:
    """Look up every latency, then train in decreasing order of E_beta(A=1, C)."""
    run = _new_run("bound-order", case, seed)
    a = case.space.arrays()
    lat = a["latency"]
    run.events.append([0, int(lat.size)])
    ub = np.asarray(case.spec.upper_bound({"latency": lat}), dtype=np.float64)
    scores = np.asarray(case.spec.score(a["perf"], {"latency": lat}), dtype=np.float64)
    best = -math.inf
    run.stop = "bound below incumbent"
    for i in np.argsort(-ub, kind="stable"):
        if run.trainings >= MAX_TRAININGS:
            run.stop = "trainings"
            break
        if ub[i] < best:
            break
        run.proposals += 1
        run.events.append([1, float(scores[i])])
        best = max(best, float(scores[i]))
        if STOP_AT_OPTIMUM and best >= case.optimum - TIE:
            run.stop = "optimum"
            break
    return run


def _objective_parts(case: Case, table: Table) -> tuple[Any, Any, Any, Any]:
    invalid = 10.0 * case.budget  # the all-skip cell: over budget, E_beta 0, no look-up

    def build(trial: Any) -> dict[str, Any]:
        return case.space.suggest(trial)

    def measure(config: dict[str, Any]) -> dict[str, float]:
        if not table.valid(config):
            return {"latency": invalid}
        return {"latency": table.cost(config)}

    def evaluate(config: dict[str, Any], trial: Any) -> float:
        return table.train(config)

    def identity(config: dict[str, Any]) -> str:
        return str(case.space.arch_hash(config)) if table.valid(config) else "invalid"

    return build, measure, evaluate, identity


def _effobj(case: Case, seed: int) -> Run:
    """effobj's Optuna path: EfficiencyObjective with TPE (profile first, skip what cannot count)."""
    import optuna

    from effobj.optuna import EfficiencyObjective, create_study

    run = _new_run("effobj", case, seed)
    table = Table(case, run)
    build, measure, evaluate, _ = _objective_parts(case, table)
    obj = EfficiencyObjective(case.spec, build, evaluate, measure=measure)
    study = create_study(case.spec, storage=":memory:",
                         sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
    _drive(run, table, study, obj, CAPS["effobj"])
    return run


def _drive(run: Run, table: Table, study: Any, obj: Any, cap: int) -> None:
    run.stop = "proposals"
    for _ in range(cap):
        why = table.spent()
        if why:
            run.stop = why
            return
        run.proposals += 1
        study.optimize(obj, n_trials=1, gc_after_trial=False)


def _sampler_available() -> str | None:
    """None if ``effobj.optuna.EfficiencySampler`` imports, else why not."""
    try:
        from effobj.optuna import EfficiencySampler  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - being written; any failure means "not yet"
        return f"{type(exc).__name__}: {exc}"
    return None


def _effobj_sampler(case: Case, seed: int) -> Run:
    """The new EfficiencySampler with EfficiencyObjective; costs through the same table."""
    from effobj.optuna import EfficiencyObjective, EfficiencySampler, create_study

    run = _new_run("effobj-sampler", case, seed)
    table = Table(case, run)
    build, measure, evaluate, identity = _objective_parts(case, table)

    def cost_fn(params: dict[str, Any]) -> dict[str, float]:
        return measure(dict(params))

    sampler = None
    extras: dict[str, Any] = {"identity": identity}
    if SAMPLER_PRICE != "auto":
        extras["lookup_price"] = float(SAMPLER_PRICE)
    while sampler is None:
        try:
            sampler = EfficiencySampler(case.spec, costs=cost_fn, seed=seed, **extras)
        except TypeError:  # an argument not there (yet): drop the extras one by one
            if not extras:
                raise
            extras.popitem()
    SAMPLER_WIRING.add(
        "EfficiencySampler(spec, costs=<the counting table>, seed=seed"
        + "".join(f", {k}={'space.arch_hash' if k == 'identity' else v!r}" for k, v in extras.items())
        + ")")
    study = create_study(case.spec, storage=":memory:", sampler=sampler)
    try:
        obj = EfficiencyObjective(case.spec, build, evaluate, measure=measure, identity=identity)
    except TypeError:  # identity= not there yet
        obj = EfficiencyObjective(case.spec, build, evaluate, measure=measure)
    _drive(run, table, study, obj, CAPS["effobj-sampler"])
    return run


def _reinforce(case: Case, seed: int) -> Run:
    """effobj.rl's REINFORCE controller (E_beta reward, hopeless skipping), replayed in order."""
    from effobj.optuna import create_study
    from effobj.rl import run_reinforce

    run = _new_run("reinforce", case, seed)
    study = create_study(case.spec, storage=":memory:")
    run_reinforce(case.space, case.spec, study=study, n_samples=CAPS["reinforce"], seed=seed,
                  objective_kwargs={"skip_hopeless": True})
    table = Table(case, run)
    run.stop = "proposals"
    for t in sorted(study.trials, key=lambda t: t.number):
        why = table.spent()
        if why:
            run.stop = why
            break
        run.proposals += 1
        if not t.params or "latency" not in t.user_attrs:
            continue
        table.cost(t.params)
        if t.user_attrs.get("trained") is True:
            table.train(t.params)
    return run


METHODS: dict[str, Callable[[Case, int], Run]] = {
    "random": lambda c, s: _plain(c, s, "random"),
    "tpe": lambda c, s: _plain(c, s, "tpe"),
    "gp": lambda c, s: _plain(c, s, "gp"),
    "mnasnet+tpe": lambda c, s: _plain(c, s, "mnasnet+tpe"),
    "bound-order": _bound_order,
    "effobj": _effobj,
    "effobj-sampler": _effobj_sampler,
    "reinforce": _reinforce,
}


def _rl_available() -> bool:
    try:
        import effobj.rl  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- summaries
def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def summarize(case: Case, runs: list[Run], price: float) -> dict[str, Any]:
    opt = case.optimum
    te_opt = [r.te_to(opt, price) for r in runs]
    return {
        "n": len(runs),
        "regret": {k: _median([opt - r.best_within(price, k) for r in runs]) for k in CHECKPOINTS},
        "found": sum(math.isfinite(t) for t in te_opt),
        "found_100": sum(t <= 100 + 1e-9 for t in te_opt),
        "te_to_opt": _median(te_opt),
        "short": sum(r.te_end(price) < 100 - 1e-9 for r in runs),
        "trainings": _median([r.trainings for r in runs]),
        "lookups": _median([r.lookups for r in runs]),
        "seconds": _median([r.seconds for r in runs]),
    }


def _f(x: float, nd: int = 4) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return f"{x:.{nd}f}"


def _te(x: float) -> str:
    if math.isnan(x):
        return "-"
    return "never" if not math.isfinite(x) else f"{x:.4g}"


def _price(p: float) -> str:
    return {0.0: "0", 0.01: "1/100", 0.1: "1/10"}.get(p, f"{p:g}")


def _ratio(num: float, den: float) -> float:
    """Median TE to optimum of TPE over a method's; nan if neither found it."""
    if not math.isfinite(den):
        return math.nan if not math.isfinite(num) else 0.0
    return math.inf if not math.isfinite(num) else num / den


def _fmt_ratio(x: float) -> str:
    if math.isnan(x):
        return "-"
    return "inf" if not math.isfinite(x) else f"{x:.1f}x"


def targets(by_case: dict[str, dict[str, dict[str, Any]]], cases: dict[str, Case]) -> list[str]:
    """The new sampler's targets at price 1/100: one line per target, met or not."""
    new, ref = "effobj-sampler", "tpe"
    out = []
    small = [c for c in by_case if cases[c].dataset in ("cora", "citeseer", "pubmed")]
    big = [c for c in by_case if cases[c].dataset in ("photo", "proteins")]
    have = [c for c in small if new in by_case[c]]
    if have:
        hit = sum(by_case[c][new][PRICE]["found_100"] for c in have)
        n = sum(by_case[c][new][PRICE]["n"] for c in have)
        ok = hit >= 0.9 * n
        out.append(f"- {'MET' if ok else 'NOT MET'}: exact optimum within 100 TE in >= 90 % of the "
                   f"runs on cora, citeseer, pubmed: {hit}/{n} ({100 * hit / n:.0f} %).")
        both = [c for c in have if ref in by_case[c]]
        ratios = [_ratio(by_case[c][ref][PRICE]["te_to_opt"], by_case[c][new][PRICE]["te_to_opt"])
                  for c in both]
        ratios = [r for r in ratios if not math.isnan(r)]
        if ratios:
            med = statistics.median(ratios)
            out.append(f"- {'MET' if med >= 3 else 'NOT MET'}: >= 3x fewer TE to the optimum than "
                       f"plain TPE (median TE, per case; median over {len(ratios)} cases): "
                       f"{_fmt_ratio(med)} (per case: "
                       + ", ".join(_fmt_ratio(r) for r in ratios) + ").")
    else:
        out.append("- not checked: effobj-sampler did not run on cora, citeseer or pubmed.")
    have = [c for c in big if new in by_case[c] and ref in by_case[c]]
    if have:
        rows = [(c, by_case[c][new][PRICE]["regret"][50], by_case[c][ref][PRICE]["regret"][100])
                for c in have]
        ok = all(a <= b + TIE for _, a, b in rows)
        out.append(f"- {'MET' if ok else 'NOT MET'}: on photo and proteins, median regret after 50 "
                   "TE no worse than plain TPE's after 100 TE, in every case: "
                   + ", ".join(f"{c} {a:.4f} vs {b:.4f}{'' if a <= b + TIE else ' (worse)'}"
                               for c, a, b in rows) + ".")
    else:
        out.append("- not checked: effobj-sampler or tpe did not run on photo or proteins.")
    return out


def render(runs: list[Run], total_s: float, notes: list[str] | None = None) -> str:
    names = [m for m in METHODS if any(r.method == m for r in runs)]
    case_keys: list[tuple[str, float]] = []
    for r in runs:
        if (r.dataset, r.beta2) not in case_keys:
            case_keys.append((r.dataset, r.beta2))
    case_keys.sort(key=lambda k: (DATASETS.index(k[0]) if k[0] in DATASETS else 99, k[1]))
    cases = {}
    facts = {}
    for ds, b in case_keys:
        c = make_case(ds, b)
        cases[c.name] = c
        facts[c.name] = case_facts(c)
    by_case: dict[str, dict[str, dict[float, dict[str, Any]]]] = {}
    seeds: dict[str, int] = {}
    for cname, case in cases.items():
        by_case[cname] = {}
        for m in names:
            rs = [r for r in runs if r.method == m and (r.dataset, r.beta2) == (case.dataset, case.beta2)]
            if rs:
                by_case[cname][m] = {p: summarize(case, rs, p) for p in PRICES}
                seeds[m] = max(seeds.get(m, 0), len(rs))
    lines = [
        "Budget in training-equivalents (TE): a training (first accuracy look-up of a distinct "
        "architecture) = 1 TE, a cost look-up (first latency look-up of a distinct "
        f"architecture) = the price p; main table p = 1/100. A run stops at {MAX_TRAININGS} "
        f"trainings, when its TE at p = 1/100 exceeds {MAX_TE:g}, or at its proposal cap "
        "(repeats of known architectures are free and included; REINFORCE: samples): "
        + ", ".join(f"{m} {CAPS[m]}" for m in names if m != "bound-order")
        + ". "
        + ("A run also ends once it has trained the exact optimum (a shortcut of the "
           "measurement: nothing after it changes a regret, a hit or a TE to the optimum; the "
           "trainings, look-ups and seconds columns count up to the optimum or the stop). "
           if any(r.stop == "optimum" for r in runs) else "")
        + "`bound-order` pays every look-up first and is exempt from the TE stop (it is "
        "deterministic: its seeds are identical runs). "
        "Seeds per case: " + ", ".join(f"{m} {seeds[m]}" for m in names) + ". "
        "Spec: perf_ref = 1.0, A = valid_perf; cost_ref = budget = p90(latency), "
        "C = latency / budget; perf_min = 0.9 x best valid_perf (a stated requirement). "
        "Regret = exhaustive optimum - best E_beta trained within the TE, median over seeds "
        "(a run that ended earlier is read at its end). 'found' = runs whose trainings "
        "include the exact optimum, in the whole run / within 100 TE; 'TE to optimum' = "
        "median, runs that never found it counting as never.",
        "",
        "## Main table: price 1/100 per cost look-up",
        "",
        "| case | optimum | method | regret @10 | @25 | @50 | @100 | found run / <=100 TE | "
        "median TE to optimum | median trainings | median look-ups | s/run |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cname, per in by_case.items():
        for m, s_p in per.items():
            s = s_p[PRICE]
            lines.append(
                f"| {cname} | {cases[cname].optimum:.4f} | {m} | "
                + " | ".join(_f(s["regret"][k]) for k in CHECKPOINTS)
                + f" | {s['found']}/{s['n']} / {s['found_100']}/{s['n']} | {_te(s['te_to_opt'])} | "
                f"{s['trainings']:g} | {s['lookups']:g} | {s['seconds']:.1f} |"
            )
    for p in PRICES:
        if p == PRICE:
            continue
        lines += [
            "",
            f"## The same runs at price {_price(p)} per cost look-up",
            "",
            "'runs < 100 TE' = runs that ended (the optimum found, their own stop, a cap, or "
            "the TE stop at 1/100) before reaching 100 TE at this price: their later regrets "
            "are read at their end (0 after the optimum).",
            "",
            "| case | method | regret @10 | @25 | @50 | @100 | found <=100 TE | "
            "median TE to optimum | runs < 100 TE |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for cname, per in by_case.items():
            for m, s_p in per.items():
                s = s_p[p]
                lines.append(
                    f"| {cname} | {m} | " + " | ".join(_f(s["regret"][k]) for k in CHECKPOINTS)
                    + f" | {s['found_100']}/{s['n']} | {_te(s['te_to_opt'])} | {s['short']}/{s['n']} |"
                )
    lines += ["", "## Totals over all cases", ""]
    for p in PRICES:
        lines += [
            f"Price {_price(p)}:",
            "",
            "| method | found within 100 TE | median of per-case median TE to optimum | "
            "TE ratio plain TPE / method (median over cases; 0: method never, inf: TPE never) | "
            "median regret @50 | @100 | "
            "median s/run | seconds (all runs) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in names:
            ran = [per[m][p] for per in by_case.values() if m in per]
            hit = sum(s["found_100"] for s in ran)
            n = sum(s["n"] for s in ran)
            where = "" if len(ran) == len(by_case) else f" ({len(ran)} of {len(by_case)} cases)"
            ratios = [_ratio(per["tpe"][p]["te_to_opt"], per[m][p]["te_to_opt"])
                      for per in by_case.values() if m in per and "tpe" in per]
            ratios = [r for r in ratios if not math.isnan(r)]
            secs = sum(r.seconds for r in runs if r.method == m)
            lines.append(
                f"| {m}{where} | {hit}/{n} ({100 * hit / n:.0f} %) | "
                f"{_te(_median([s['te_to_opt'] for s in ran]))} | "
                + (f"{_fmt_ratio(statistics.median(ratios))} ({len(ratios)} cases)" if ratios else "-")
                + f" | {_f(_median([s['regret'][50] for s in ran]))} | "
                f"{_f(_median([s['regret'][100] for s in ran]))} | "
                f"{_median([r.seconds for r in runs if r.method == m]):.2f} | {secs:.0f} |"
            )
        lines.append("")
    flat = {c: {m: s_p for m, s_p in per.items()} for c, per in by_case.items()}
    lines += ["## Targets of effobj-sampler (price 1/100)", "",
              *targets(flat, cases), ""]
    lines += [
        "## Facts of the cases (where the optimum lies)",
        "",
        "Cost rank = the optimum's rank among the architectures sorted by latency (1 = the "
        "cheapest). 'bounds >= optimum' = architectures whose upper bound E_beta(A=1, C) "
        "reaches the optimum: what `bound-order` must train before it may stop.",
        "",
        "| case | architectures | feasible | optimum | its valid_perf (best) | its latency / budget | "
        "cost rank of the optimum | bounds >= optimum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cname, f in facts.items():
        lines.append(
            f"| {cname} | {f['n']} | {f['n_feasible']} | {cases[cname].optimum:.4f} | "
            f"{f['perf']:.4f} ({f['perf_best']:.4f}) | {f['latency_over_budget']:.3f} | "
            f"{f['cost_rank']} | {f['n_bound_ge_opt']} |"
        )
    per_ds: dict[str, list[int]] = {}
    for cname, f in facts.items():
        per_ds.setdefault(cases[cname].dataset, []).append(f["cost_rank"])
    ranks = [r for rs in per_ds.values() for r in rs]
    lines += [
        "",
        "Cost ranks of the optimum per data set (beta^2 ascending): "
        + "; ".join(f"{ds} {', '.join(map(str, rs))}" for ds, rs in per_ds.items())
        + f". The optimum is among the {max(ranks)} cheapest architectures in every case, "
        f"among the 4 cheapest in {sum(r <= 4 for r in ranks)} of {len(ranks)}: with a single "
        "cost indicator the bound E_beta(A=1, C) falls with the cost, so training in bound "
        "order is training in cost order, and when cost look-ups are free it finds the "
        "optimum after at most that many trainings. Its price is the look-up of every "
        "architecture first.",
    ]
    if notes:
        lines += ["", *notes]
    lines += ["", f"Total benchmark time: {total_s:.0f} s (sum over the processes that ran it)."]
    return "\n".join(lines)


def _save(path: str, runs: list[Run], total_s: float, notes: list[str]) -> None:
    out = {"total_s": total_s, "caps": CAPS, "notes": notes, "runs": [asdict(r) for r in runs]}
    Path(path).write_text(json.dumps(out))


def _load(paths: list[str]) -> tuple[list[Run], float, list[str]]:
    runs: list[Run] = []
    total = 0.0
    notes: list[str] = []
    for path in paths:
        d = json.loads(Path(path).read_text())
        CAPS.update(d.get("caps", {}))
        total += d["total_s"]
        notes += [n for n in d.get("notes", []) if n not in notes]
        runs += [Run(**r) for r in d["runs"]]
    return runs, total, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds run are first-seed .. first-seed + seeds - 1 (to add seeds later)")
    p.add_argument("--datasets", default=None, help=f"comma-separated (default {','.join(DATASETS)})")
    p.add_argument("--beta2s", default=",".join(f"{b:g}" for b in BETA2S))
    p.add_argument("--methods", default=None, help="comma-separated; default all available: "
                   + ",".join(METHODS))
    p.add_argument("--quick", action="store_true",
                   help="beta2 = 1, 2 seeds, cora unless --datasets; writes no file")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--cap", action="append", default=[], metavar="METHOD=N",
                   help="override a method's proposal cap (REINFORCE: samples), repeatable")
    p.add_argument("--sampler-price", default=None,
                   help=f"lookup_price told to effobj-sampler: a float or 'auto' (default {PRICE})")
    p.add_argument("--run-past-optimum", action="store_true",
                   help="do not end a run when it has trained the exact optimum")
    p.add_argument("--note", action="append", default=[],
                   help="a sentence for the results file's notes (e.g. why a method ran fewer "
                   "seeds), repeatable")
    p.add_argument("--json", default=None, help="also save every run's event log to this file")
    p.add_argument("--render-from", default=None,
                   help="comma-separated JSON files of earlier (parallel) runs: merge them, "
                   "write results/search.md, run nothing")
    args = p.parse_args(argv)
    _quiet()
    import torch

    # one thread: GPSampler and the REINFORCE controller run many tiny torch ops, which at
    # two threads on a loaded 2-core machine ran 10-20x slower (measured: GPSampler 2 s
    # per proposal against 0.12 s)
    torch.set_num_threads(1)
    if args.render_from:
        runs, total, notes = _load(args.render_from.split(","))
        notes += args.note
        body = render(runs, total, notes)
        print(body)
        if not args.no_write:
            from _machine import write

            print(f"wrote {write('search', TITLE, body)}")
        return 0
    for item in args.cap:
        m, _, n = item.partition("=")
        if m not in CAPS or not n.isdigit():
            p.error(f"--cap takes METHOD=N with METHOD one of {list(CAPS)}; got {item!r}")
        CAPS[m] = int(n)
    if args.run_past_optimum:
        globals()["STOP_AT_OPTIMUM"] = False
    if args.sampler_price is not None:
        globals()["SAMPLER_PRICE"] = (
            "auto" if args.sampler_price == "auto" else float(args.sampler_price))
    datasets = (args.datasets or ("cora" if args.quick else ",".join(DATASETS))).split(",")
    betas = [1.0] if args.quick else [float(b) for b in args.beta2s.split(",")]
    seeds = range(args.first_seed, args.first_seed + (2 if args.quick else args.seeds))
    notes: list[str] = list(args.note)
    why_not = _sampler_available()
    if args.methods:
        names = args.methods.split(",")
        bad = [m for m in names if m not in METHODS]
        if bad:
            p.error(f"unknown method(s) {bad}; there are {list(METHODS)}")
        if "effobj-sampler" in names and why_not:
            p.error(f"effobj-sampler does not import ({why_not})")
    else:
        names = list(METHODS)
        if why_not:
            names.remove("effobj-sampler")
            print(f"note: effobj-sampler skipped ({why_not})", flush=True)
            notes.append(f"effobj-sampler did not run: it did not import ({why_not}).")
        if not _rl_available():
            names.remove("reinforce")
    t_all = time.perf_counter()
    runs: list[Run] = []
    for ds in datasets:
        for b in betas:
            case = make_case(ds, b)
            for name in names:
                mine = []
                for seed in seeds:
                    t0 = time.perf_counter()
                    run = METHODS[name](case, seed)
                    run.seconds = time.perf_counter() - t0
                    mine.append(run)
                runs += mine
                s = summarize(case, mine, PRICE)
                print(
                    f"{case.name:17s} {name:15s} regret@10/25/50/100 "
                    + " ".join(f"{s['regret'][k]:.4f}" for k in CHECKPOINTS)
                    + f"  found {s['found']}/{s['n']} (<=100 TE {s['found_100']})"
                    f"  TE to opt {_te(s['te_to_opt'])}  trainings {s['trainings']:g}"
                    f"  look-ups {s['lookups']:g}  {s['seconds']:.2f} s/run"
                    f"  stops {sorted({r.stop for r in mine})}",
                    flush=True,
                )
            if args.json:
                _save(args.json, runs, time.perf_counter() - t_all,
                      notes + [f"effobj-sampler was built as `{w}`." for w in sorted(SAMPLER_WIRING)])
    notes += [f"effobj-sampler was built as `{w}`." for w in sorted(SAMPLER_WIRING)]
    total = time.perf_counter() - t_all
    body = render(runs, total, notes)
    print(body)
    if not (args.quick or args.no_write):
        from _machine import write

        print(f"wrote {write('search', TITLE, body)}")
    print(f"load average {os.getloadavg()[0]:.2f}; total {total:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
