"""``effobj space-range --space SPACE``: the cost scale of a space, and budget settings for it.

Example::

    effobj space-range --space my_space.py:MyCNNSpace --samples 30

A *model* space: ``--samples`` random candidates (the space's own ``suggest``) are built
and profiled exactly as ``effobj search`` profiles a candidate before training it
(:meth:`~effobj.optuna.EfficiencyObjective.costs_of`, batch 1), and none is trained. A
*tabular* space (``nas-bench-graph:DATASET``): every row of its table. Each cost
indicator's min, 10/25/50/75/90 % quantiles and max are printed, with the budget settings
of ``effobj search`` for a budget at ``--budget-quantile`` of its range: ``--cost-max Q``
and ``--cost-ref 2Q`` (what ``--budget Q`` sets, :meth:`EfficiencySpec.for_budget`): a
candidate exactly at the budget is feasible and scores E_beta > 0, where ``--cost-ref Q``
would score it 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from effobj.cli._runtime_arg import add_runtime_argument
from effobj.cli._threads import add_threads_argument

__all__ = ["QUANTILES", "add_parser", "run"]

_FUNC = "effobj space-range"
#: the quantiles printed between the min and the max
QUANTILES: tuple[float, ...] = (0.10, 0.25, 0.50, 0.75, 0.90)
#: indicators of a profile that are not costs (more is better)
_NOT_COSTS = frozenset({"throughput"})


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``effobj space-range``."""
    p = subparsers.add_parser(
        "space-range",
        help="the cost range of a search space (quantiles per indicator) and budget settings "
        "for effobj search",
        description=(
            "Profile a random sample of a model space (as effobj search profiles a candidate, "
            "without training) or read a tabular space's whole table, print each cost "
            "indicator's min, quantiles and max, and suggest --cost-max and --cost-ref."
        ),
    )
    p.add_argument("--space", required=True, help="the search space: a registered name, "
                   "FILE.py:Class or module:Class, or a name an installed package provides")
    p.add_argument("--samples", type=int, default=20,
                   help="model spaces: how many random candidates to profile (default 20); a "
                   "tabular space reads its whole table")
    p.add_argument("--dataset", default=None,
                   help="dataset of a model space, fixing the input shape (default: the space's)")
    p.add_argument("--device", default="cpu",
                   help="torch device to profile on: cpu, cuda, cuda:1, mps (default cpu)")
    p.add_argument("--latency-time", type=float, default=0.5, metavar="SECONDS",
                   help="model spaces: at most this many seconds to time one candidate "
                   "(0: counts only, no latency_ms; default 0.5)")
    add_runtime_argument(p)
    add_threads_argument(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--budget-quantile", type=float, default=0.5, metavar="Q",
                   help="the quantile of each indicator suggested as its budget, in (0, 1] "
                   "(default 0.5: half the candidates fit)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    return p


def run(args: argparse.Namespace) -> int:
    """Measure, summarize and print; returns the exit code."""
    from effobj._validation import check_int, check_real, refusal
    from effobj.cli._load import load_space
    from effobj.cli._threads import check_threads, threads_text

    args.threads = check_threads(args.threads, _FUNC)
    check_int(args.samples, "--samples", _FUNC, low=1)
    check_int(args.seed, "--seed", _FUNC, low=0)
    check_real(args.latency_time, "--latency-time", _FUNC, low=0.0)
    check_real(args.budget_quantile, "--budget-quantile", _FUNC, low=0.0, high=1.0, low_open=True)
    space = load_space(args.space, _FUNC)
    kind = getattr(space, "kind", None)
    errors: list[str] = []
    if kind == "tabular":
        if args.dataset is not None:
            raise refusal("--dataset", _FUNC, f"be omitted for the tabular space {space.name!r} "
                          "(it has its own table)", repr(args.dataset))
        values = _table_costs(space)
        source = f"{_count(values)} candidates: every row of its table"
    elif kind == "model":
        values, errors = _sampled_costs(space, args)
        timing = (f"latency timed up to {args.latency_time:g} s each at "
                  f"{threads_text(args.threads)}" if args.latency_time > 0 else "counts only")
        n = _count(values)
        source = (f"{n if n == args.samples else f'{n} of {args.samples}'} random candidates "
                  f"built and profiled on {args.device} (batch 1, {timing}), none trained")
    else:
        raise refusal("--space", _FUNC, "name a space of kind 'model' or 'tabular'",
                      f"kind {kind!r} ({type(space).__name__})")
    result = _summary(space, args, values, errors, source)
    if args.format == "json":
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(_to_text(result))
    return 0 if result["indicators"] else 1


def _table_costs(space: Any) -> dict[str, list[float]]:
    """Every cost column of a tabular space's table (the rows' keys but the accuracies)."""
    from effobj import record as K

    values: dict[str, list[float]] = {}
    for _, row in space.table():
        for name, v in row.items():
            if name not in (K.PERF, K.TEST_PERF):
                values.setdefault(name, []).append(float(v))
    return values


def _sampled_costs(space: Any, args: argparse.Namespace) -> tuple[dict[str, list[float]], list[str]]:
    """Each cost indicator of ``--samples`` random candidates, through the objective's own
    cost path (build, profile; never train); the errors of those that fail."""
    import optuna

    from effobj.errors import InputError, ProfilingError
    from effobj.optuna import objective_from_space
    from effobj.profiler import LocalProfiler
    from effobj.spec import CostIndicator, EfficiencySpec

    if args.latency_time > 0:
        profiler = LocalProfiler(device=args.device, max_time_s=args.latency_time,
                                 runtime=args.runtime, latency_method=args.latency_method,
                                 threads=args.threads)
    else:
        profiler = LocalProfiler(device=args.device, latency=False)
    names = [n for n in profiler.options.indicators() if n not in _NOT_COSTS]
    # a spec of every indicator: costs_of returns the spec's indicators (the references
    # are placeholders, nothing is scored)
    spec = EfficiencySpec(costs=[CostIndicator(n, ref=1.0) for n in names])
    objective = objective_from_space(spec, space, dataset=args.dataset, seed=args.seed,
                                     profiler=profiler)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    finally:
        optuna.logging.set_verbosity(verbosity)
    values: dict[str, list[float]] = {n: [] for n in names}
    errors: list[str] = []
    for _ in range(args.samples):
        trial = study.ask()
        space.suggest(trial)  # the space's own sampling; costs_of rebuilds from the params
        try:
            costs = objective.costs_of(trial.params)
        except (InputError, ProfilingError) as exc:  # an invalid or unprofilable candidate
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        for n in names:
            values[n].append(costs[n])
    return {n: v for n, v in values.items() if v}, errors


def _summary(space: Any, args: argparse.Namespace, values: dict[str, list[float]],
             errors: list[str], source: str) -> dict[str, Any]:
    import numpy as np

    from effobj.spec import BUDGET_C  # the rule of EfficiencySpec.for_budget and --budget

    q = args.budget_quantile
    indicators: dict[str, dict[str, float]] = {}
    for name, vals in values.items():
        a = np.asarray(vals, dtype=float)
        stats = {"min": float(a.min())}
        stats.update({f"q{round(p * 100)}": float(np.quantile(a, p)) for p in QUANTILES})
        stats["max"] = float(a.max())
        budget = float(np.quantile(a, q))
        if budget > 0:  # a zero budget (a cost no candidate has) suggests nothing
            stats["cost_max"] = budget
            stats["cost_ref"] = budget / BUDGET_C
            stats["fit"] = float(np.mean(a <= budget))
        indicators[name] = stats
    return {
        "space": getattr(space, "name", type(space).__name__),
        "kind": space.kind,
        "dataset": None if space.kind == "tabular" else (args.dataset or space.default_dataset),
        "source": source,
        "candidates": _count(values),
        "failed": len(errors),
        "errors": errors[:3],
        "budget_quantile": q,
        "threads": None if space.kind == "tabular" else args.threads,
        "notes": _notes(space, args, values),
        "indicators": indicators,
    }


def _notes(space: Any, args: argparse.Namespace, values: dict[str, list[float]]) -> list[str]:
    """What the reader should know about the latencies (several threads under load)."""
    from effobj.cli._threads import contention_note

    if space.kind == "tabular" or "latency_ms" not in values:
        return []
    note = contention_note(args.threads)
    return [] if note is None else [note]


def _count(values: dict[str, list[float]]) -> int:
    """How many candidates were measured (each has every indicator)."""
    return max((len(v) for v in values.values()), default=0)


def _to_text(r: dict[str, Any]) -> str:
    from effobj.cli._safe import printable

    head = f"{r['space']} ({r['kind']}" + (f", dataset {r['dataset']}" if r["dataset"] else "")
    lines = [printable(f"{head}): {r['source']}")]
    if r["failed"]:
        lines.append(printable(f"{r['failed']} candidates could not be measured; the first: "
                               f"{r['errors'][0]}"))
    lines += [printable(n) for n in r.get("notes", ())]
    if not r["indicators"]:
        lines.append("no candidate was measured: no range to show")
        return "\n".join(lines)
    cols = ["min", *(f"{round(p * 100)}%" for p in QUANTILES), "max"]
    keys = ["min", *(f"q{round(p * 100)}" for p in QUANTILES), "max"]
    width = max(len("indicator"), *(len(k) for k in r["indicators"]))
    lines.append("")
    lines.append(f"{'indicator':<{width}}" + "".join(f"{c:>11}" for c in cols))
    for name, s in r["indicators"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{s[k]:>11.4g}" for k in keys))
    pct = f"{r['budget_quantile'] * 100:g} %"
    lines += ["", f"budget settings for effobj search, the budget at the {pct} quantile:"]
    for name, s in r["indicators"].items():
        if "cost_max" in s:
            options = f"--cost {name:<{width}} --budget {s['cost_max']:<9.4g}"
            lines.append(f"  {options}  ({s['fit'] * 100:.0f} % of the candidates fit)")
    lines += [
        "--budget B sets --cost-max B (a candidate over it scores 0 and is not trained) and",
        "--cost-ref 2B, so a candidate exactly at the budget is feasible and scores E_beta > 0;",
        "--cost-ref equal to the budget would score it 0 (EfficiencySpec.for_budget, README).",
        "Set the budget your deployment allows; the quantiles show how much of the space it keeps.",
    ]
    return "\n".join(lines)
