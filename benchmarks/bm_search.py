"""Search efficiency on NAS-Bench-Graph: budget in training-equivalents to the exact E_beta optimum.

Cases: a data set of the PyPI package nas-bench-graph (cora, citeseer, pubmed, photo:
26,206 GNN architectures each; proteins: 2,021), a budget quantile Q in {0.5, 0.9, 0.99}
and beta^2 in {0.25, 1, 4, 16} (``--cases DS:Q:B2,...`` picks some). The spec of a case is
what a user writes, with no oracle in it: ``effobj space-range --space
nas-bench-graph:DS --budget-quantile Q`` prints the budget (the Q quantile of the table's
latency) and ``effobj search --budget`` turns it into ``EfficiencySpec.for_budget(budget,
beta2, perf_ref=1.0)`` (cost_max = budget, cost_ref = 2 x budget); no perf_min. Each
case's optimum cost rank (its rank among all architectures by latency) is printed: where
it is deep, a method that trains the cheapest first cannot reach it.

**Budget, in training-equivalents (TE).** A *training* (the first accuracy look-up of a
distinct architecture) costs 1 TE; a *cost look-up* (the first latency look-up of a
distinct architecture, standing for profiling) costs the price ``p``. Distinct means the
benchmark's canonical hash ``space.arch_hash(config)``: repeats of a known architecture
are free for every method. Every run is recorded as an ordered event log (each new
look-up, each training with its E_beta), so the tables at the prices 0, 1/100 and 1/10
are computed afterwards from the same runs. A run stops at ``MAX_TRAININGS`` = 100
trainings, when its TE at price 1/100 exceeds ``MAX_TE`` = 110, at its proposal cap
(``CAPS``), or once it has trained the exact optimum (nothing after that changes a
regret or a TE to the optimum). The all-``skip`` config is not in the benchmark; a method
proposing it is told E_beta 0 (or its cost is 10 x the budget) at no look-up.

**Methods** (Optuna 5, in-memory storage, one seed per run; the default set is
``DEFAULT_METHODS``):

- ``random``, ``tpe`` (TPESampler, multivariate), ``gp`` (GPSampler): plain Optuna on the
  hard E_beta, every candidate looked up and trained;
- ``effobj``: ``effobj.optuna.EfficiencyObjective`` with TPE as ``effobj search`` runs it
  (costs first; over-budget and hopeless candidates recorded as constraints, not trained);
- ``cheapest-first``: cheapest predicted first, then bound order (see
  :func:`_cheapest_first`);
- ``effobj-sampler``: ``effobj.optuna.EfficiencySampler`` with ``EfficiencyObjective``;
  both get ``identity=`` the canonical hash, and the sampler ``lookup_price=`` 1/100
  (``--sampler-price``; its default "auto" would measure look-up time over training
  time, ~1 here where both are table look-ups);
- not in the default set: ``mnasnet+tpe`` (TPE on MnasNet's soft reward), ``bound-order``
  (every latency looked up first), ``reinforce`` (``effobj.rl``).

**Measures**, per method and case at each price: median regret (exhaustive optimum minus
the best E_beta trained) after 10, 25, 50 and 100 TE; runs that trained the exact optimum
within 100 TE; the median TE to it; and, paired per (case, seed), the geometric mean of
each method's TE to the optimum over the sampler's (a run that never found it counts
``NEVER_TE`` = 220 TE) with a percentile-bootstrap 95 % interval over the pairs.

**Raw runs and regeneration.** ``--json FILE`` writes JSONL (a header line, then one run
per line). The committed runs are ``benchmarks/results/search_runs.jsonl``; every table of
``benchmarks/results/search.md`` comes from them with one command::

    .venv/bin/python benchmarks/bm_search.py --render-from benchmarks/results/search_runs.jsonl

Run: ``.venv/bin/python benchmarks/bm_search.py --cases cora:0.9:1,citeseer:0.9:4 --seeds 3
--json FILE --no-write`` (``--methods``, ``--first-seed``, ``--cap METHOD=N``,
``--note TEXT``); run groups in parallel processes and merge them with ``--render-from
F1,F2,...`` (which writes results/search.md).
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
BETA2S = (0.25, 1.0, 4.0, 16.0)
#: budget = this quantile of the table's latency (what ``effobj space-range
#: --budget-quantile Q`` suggests, then ``--budget``: cost_max = Q, cost_ref = 2 Q)
QUANTILES = (0.5, 0.9, 0.99)
#: a run that never trained the optimum counts this many TE in the paired ratios
NEVER_TE = 2 * 110.0
BOOTSTRAP = 10_000
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
    "cheapest-first": 400,
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
    quantile: float = 0.9

    @property
    def name(self) -> str:
        return f"{self.dataset} p{self.quantile * 100:g} b2={self.beta2:g}"


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
    quantile: float = 0.9
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


def make_case(dataset: str, beta2: float, quantile: float = 0.9) -> Case:
    """The spec a user writes: ``effobj space-range --space nas-bench-graph:DATASET
    --budget-quantile Q`` prints the budget (the table's latency quantile, ``np.quantile``),
    and ``--budget`` makes it ``EfficiencySpec.for_budget(budget, beta2, perf_ref=1.0)``
    (cost_max = budget, cost_ref = 2 x budget); no perf_min."""
    import effobj.spaces
    from effobj.spec import EfficiencySpec

    space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
    a = space.arrays()
    best = float(np.max(a["perf"]))
    budget = float(np.quantile(a["latency"], quantile))
    spec = EfficiencySpec.for_budget(budget, beta2=beta2, perf_ref=1.0, cost_name="latency")
    scores = space.scores(lambda perf, costs: spec.score(perf, {"latency": costs["latency"]}))
    return Case(dataset, beta2, space, spec, float(np.max(scores)), best, budget, quantile)


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
    return Run(name, case.dataset, case.beta2, seed, quantile=case.quantile)


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


def _cheapest_first(case: Case, seed: int) -> Run:
    """Cheapest predicted first, then bound order, paying for every look-up.

    Costs are predicted by the sampler's own cost model (Bayesian linear regression of
    the log latency on the encoded parameters, ``LinearCostModel``) fitted to the
    latencies looked up so far (20 random ones first). Each step looks up the 10
    candidates of a fresh random pool of 200 with the lowest predicted latency, then
    trains the looked-up, untrained architecture of the highest bound E_beta(A=1, C) (the
    cheapest one: with one cost indicator the bound falls with the cost) within budget;
    it stops when no known bound reaches the incumbent and ten more look-ups found none.
    """
    from optuna.distributions import CategoricalDistribution

    from effobj.optuna._surrogate import Encoder, LinearCostModel

    run = _new_run("cheapest-first", case, seed)
    table = Table(case, run)
    rng = np.random.default_rng(seed)
    dists = case.space.distributions() if hasattr(case.space, "distributions") else None
    if dists is None:
        import optuna

        t = optuna.create_study().ask()
        case.space.suggest(t)
        dists = dict(t.distributions)
    enc = Encoder(dists)

    def draw(n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            c = {k: (d.choices[int(rng.integers(len(d.choices)))]
                     if isinstance(d, CategoricalDistribution)
                     else int(rng.integers(d.low, d.high + 1))) for k, d in dists.items()}
            if table.valid(c):
                out.append(c)
        return out

    known: dict[int, tuple[dict[str, Any], float]] = {}
    trained: set[int] = set()
    for c in draw(20):
        known[case.space.arch_hash(c)] = (c, table.cost(c))
    best = 0.0
    run.stop = "proposals"
    for _ in range(CAPS["cheapest-first"]):
        why = table.spent()
        if why:
            run.stop = why
            break
        run.proposals += 1
        x = enc.encode([c for c, _ in known.values()])
        y = np.log([v for _, v in known.values()])
        pool = [c for c in draw(200) if case.space.arch_hash(c) not in known]
        if pool:
            mu, _ = LinearCostModel().fit(x, y).predict(enc.encode(pool))
            for i in np.argsort(mu)[:10]:
                c = pool[int(i)]
                known[case.space.arch_hash(c)] = (c, table.cost(c))
        cands = [(float(case.spec.upper_bound({"latency": v})), h, c)
                 for h, (c, v) in known.items() if h not in trained and v <= case.budget]
        cands = [t for t in cands if t[0] >= best]
        if not cands:
            continue
        _, h, c = max(cands, key=lambda t: t[0])
        trained.add(h)
        perf = table.train(c)
        best = max(best, float(case.spec.score(perf, {"latency": known[h][1]})))
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
    "cheapest-first": _cheapest_first,
}
#: earlier versions of the sampler whose runs are kept for comparison (rendered, not runnable)
ABLATIONS = ("effobj-sampler@bbb1cb4",)
#: what runs unless ``--methods`` says otherwise: the baselines of issue 20
DEFAULT_METHODS = ("random", "tpe", "effobj", "gp", "cheapest-first", "effobj-sampler")


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


def _capped(te: float) -> float:
    return te if math.isfinite(te) else NEVER_TE


def paired(runs: list[Run], base: str, new: str, price: float,
           cases: list[tuple[str, float, float]] | None = None) -> dict[str, Any]:
    """Paired per (case, seed): TE to the optimum of ``base`` over ``new`` ("never" =
    ``NEVER_TE``), their geometric mean and a percentile-bootstrap 95 % interval over the
    pairs; wins = pairs where ``new`` needed fewer TE."""
    idx: dict[tuple[Any, ...], dict[str, Run]] = {}
    for r in runs:
        k = (r.dataset, r.quantile, r.beta2, r.seed)
        if cases is not None and k[:3] not in cases:
            continue
        idx.setdefault(k, {})[r.method] = r
    optimum: dict[tuple[str, float, float], float] = {}
    logs = []
    wins = losses = 0
    for k, by in idx.items():
        if base not in by or new not in by:
            continue
        ck = k[:3]
        if ck not in optimum:
            optimum[ck] = make_case(ck[0], ck[2], ck[1]).optimum
        a = _capped(by[base].te_to(optimum[ck], price))
        b = _capped(by[new].te_to(optimum[ck], price))
        logs.append(math.log(a / b))
        wins += a > b
        losses += a < b
    if not logs:
        return {"n": 0}
    x = np.asarray(logs)
    rng = np.random.default_rng(0)
    boots = x[rng.integers(len(x), size=(BOOTSTRAP, len(x)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"n": len(x), "gmean": float(np.exp(x.mean())), "lo": float(np.exp(lo)),
            "hi": float(np.exp(hi)), "wins": int(wins), "losses": int(losses)}


def _fmt_paired(d: dict[str, Any]) -> str:
    if not d.get("n"):
        return "-"
    return (f"{d['gmean']:.2f}x [{d['lo']:.2f}, {d['hi']:.2f}] (n={d['n']}, "
            f"new fewer TE in {d['wins']}, more in {d['losses']})")


NEW = "effobj-sampler"


def targets(by_case: dict[str, dict[str, dict[float, dict[str, Any]]]], runs: list[Run]) -> list[str]:
    """The targets of issue 20 at price 1/100, met or not."""
    out = []
    rows = []
    for cname, per in by_case.items():
        if NEW not in per:
            continue
        others = {m: s[PRICE]["regret"][100] for m, s in per.items()
                  if not m.startswith(NEW) and m != "bound-order"}
        if not others:
            continue
        bm = min(others, key=lambda m: others[m])
        rows.append((cname, per[NEW][PRICE]["regret"][100], bm, others[bm]))
    if rows:
        bad = [r for r in rows if r[1] > r[3] + TIE]
        out.append(f"- {'MET' if not bad else 'NOT MET'}: median regret at 100 TE <= the best "
                   f"other method's in every case ({len(rows) - len(bad)} of {len(rows)} cases)"
                   + ("; not in: " + ", ".join(f"{c} {a:.4f} vs {m} {b:.4f}" for c, a, m, b in bad)
                      if bad else "") + ".")
    d = paired(runs, "effobj", NEW, PRICE)
    if d.get("n"):
        ok = d["gmean"] >= 2.0 and d["lo"] > 1.0
        out.append(f"- {'MET' if ok else 'NOT MET'}: paired geometric-mean TE to the optimum >= 2x "
                   f"better than TPE with the cost gate (effobj), interval above 1: "
                   f"{_fmt_paired(d)}.")
    return out


def render(runs: list[Run], total_s: float, notes: list[str] | None = None) -> str:
    names = [m for m in (*METHODS, *ABLATIONS) if any(r.method == m for r in runs)]
    case_keys: list[tuple[str, float, float]] = []
    for r in runs:
        if (r.dataset, r.quantile, r.beta2) not in case_keys:
            case_keys.append((r.dataset, r.quantile, r.beta2))
    case_keys.sort(key=lambda k: (DATASETS.index(k[0]) if k[0] in DATASETS else 99, k[1], k[2]))
    cases: dict[str, Case] = {}
    facts = {}
    for ds, q, b in case_keys:
        c = make_case(ds, b, q)
        cases[c.name] = c
        facts[c.name] = case_facts(c)
    by_case: dict[str, dict[str, dict[float, dict[str, Any]]]] = {}
    seeds: dict[str, set[int]] = {}
    for cname, case in cases.items():
        by_case[cname] = {}
        for m in names:
            rs = [r for r in runs if r.method == m
                  and (r.dataset, r.quantile, r.beta2) == (case.dataset, case.quantile, case.beta2)]
            if rs:
                by_case[cname][m] = {p: summarize(case, rs, p) for p in PRICES}
                seeds.setdefault(m, set()).update(r.seed for r in rs)
    lines = [
        "Every table below is computed from the raw runs in `benchmarks/results/search_runs.jsonl` "
        "(one JSON object per run: its case, method, seed and ordered event log) by "
        "`.venv/bin/python benchmarks/bm_search.py --render-from benchmarks/results/search_runs.jsonl`.",
        "",
        "**Spec of a case, as a user writes it:** `effobj space-range --space "
        "nas-bench-graph:DATASET --budget-quantile Q` gives the budget (the Q quantile of the "
        "table's latency), `--budget` makes it `EfficiencySpec.for_budget(budget, beta2, "
        "perf_ref=1.0)` (cost_max = budget, cost_ref = 2 x budget), no perf_min. Nothing is "
        "taken from the table's accuracies.",
        "",
        "**Budget, in training-equivalents (TE):** a training (first accuracy look-up of a "
        "distinct architecture) = 1 TE, a cost look-up (first latency look-up of a distinct "
        f"architecture) = the price p. A run stops at {MAX_TRAININGS} trainings, when its TE at "
        f"p = 1/100 exceeds {MAX_TE:g}, at its proposal cap ("
        + ", ".join(f"{m} {CAPS[m.split('@')[0]]}" for m in names if m != "bound-order")
        + "), or once it has trained the exact optimum (nothing after that changes a regret "
        "or a TE to the optimum). The tables at p = 0 and 1/10 re-price the same event logs; "
        "only the main table's price 1/100 was told to the sampler (see the notes).",
        "",
        "Seeds: " + ", ".join(f"{m} {sorted(seeds[m])}" for m in names) + ".",
        "",
        "## Cases: where the optimum lies",
        "",
        "Cost rank = the optimum's rank among all architectures sorted by latency (1 = the "
        "cheapest).",
        "",
        "| case | architectures | budget (s) | optimum E_beta | its valid_perf (table best) | "
        "cost rank of the optimum |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for cname, f in facts.items():
        lines.append(f"| {cname} | {f['n']} | {cases[cname].budget:.4g} | "
                     f"{cases[cname].optimum:.4f} | {f['perf']:.4f} ({f['perf_best']:.4f}) | "
                     f"{f['cost_rank']} ({100 * f['cost_rank'] / f['n']:.1f} %) |")
    for p in PRICES:
        lines += [
            "",
            f"## Price {_price(p)} per cost look-up",
            "",
            "Regret = exhaustive optimum - best E_beta trained within the TE, median over seeds "
            "(a run that ended earlier is read at its end). 'found' = runs that trained the "
            "exact optimum within 100 TE; 'TE to optimum' = median over seeds (never = not "
            "found).",
            "",
            "| case | method | regret @10 | @25 | @50 | @100 | found <=100 TE | "
            "median TE to optimum | median trainings | median look-ups | s/run |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for cname, per in by_case.items():
            for m, s_p in per.items():
                st = s_p[p]
                lines.append(
                    f"| {cname} | {m} | " + " | ".join(_f(st["regret"][k]) for k in CHECKPOINTS)
                    + f" | {st['found_100']}/{st['n']} | {_te(st['te_to_opt'])} | "
                    f"{st['trainings']:g} | {st['lookups']:g} | {st['seconds']:.1f} |")
        lines += [
            "",
            f"Paired per (case, seed) at price {_price(p)}: geometric mean of TE to the optimum "
            f"of the method over effobj-sampler's (a run that never found it counts "
            f"{NEVER_TE:g} TE), percentile bootstrap 95 % interval ({BOOTSTRAP} resamples of "
            "the pairs). Above 1: the sampler needed fewer TE.",
            "",
            "| method | all cases | cases with the optimum's cost rank > 100 |",
            "|---|---|---|",
        ]
        deep = [k for k in case_keys if facts[make_case(k[0], k[2], k[1]).name]["cost_rank"] > 100]
        for m in names:
            if m == NEW:
                continue
            lines.append(f"| {m} | {_fmt_paired(paired(runs, m, NEW, p))} | "
                         f"{_fmt_paired(paired(runs, m, NEW, p, deep))} |")
    lines += ["", "## Targets of effobj-sampler (price 1/100)", "", *targets(by_case, runs)]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    lines += ["", f"Total benchmark time: {total_s:.0f} s (sum over the processes that ran it)."]
    return "\n".join(lines)


def _save(path: str, runs: list[Run], total_s: float, notes: list[str]) -> None:
    """JSONL: a header line (total seconds, caps, notes), then one line per run."""
    with open(path, "w") as f:
        f.write(json.dumps({"total_s": total_s, "caps": CAPS, "notes": notes}) + "\n")
        for r in runs:
            f.write(json.dumps(asdict(r)) + "\n")


def _load(paths: list[str]) -> tuple[list[Run], float, list[str]]:
    runs: list[Run] = []
    total = 0.0
    notes: list[str] = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            if "events" in d:
                runs.append(Run(**d))
                continue
            CAPS.update(d.get("caps", {}))
            total += d.get("total_s", 0.0)
            notes += [n for n in d.get("notes", []) if n not in notes]
    return runs, total, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds run are first-seed .. first-seed + seeds - 1 (to add seeds later)")
    p.add_argument("--datasets", default=None, help=f"comma-separated (default {','.join(DATASETS)})")
    p.add_argument("--beta2s", default=",".join(f"{b:g}" for b in BETA2S))
    p.add_argument("--quantiles", default=",".join(f"{q:g}" for q in QUANTILES),
                   help="budget quantiles of the latency (comma-separated)")
    p.add_argument("--cases", default=None, metavar="DS:Q:B2,...",
                   help="explicit cases instead of datasets x quantiles x beta2s")
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
    quants = [0.9] if args.quick else [float(q) for q in args.quantiles.split(",")]
    if args.cases:
        case_list = [(c.split(":")[0], float(c.split(":")[1]), float(c.split(":")[2]))
                     for c in args.cases.split(",")]
    else:
        case_list = [(ds, q, b) for ds in datasets for q in quants for b in betas]
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
        names = list(DEFAULT_METHODS)
        if why_not:
            names.remove("effobj-sampler")
            print(f"note: effobj-sampler skipped ({why_not})", flush=True)
            notes.append(f"effobj-sampler did not run: it did not import ({why_not}).")
        if not _rl_available() and "reinforce" in names:
            names.remove("reinforce")
    t_all = time.perf_counter()
    runs: list[Run] = []
    for ds, q, b in case_list:
        if True:
            case = make_case(ds, b, q)
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
