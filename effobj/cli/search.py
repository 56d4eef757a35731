"""``effobj search``: an E_beta-driven Optuna search over a search space.

Example::

    effobj search --space nas-bench-graph:cora --trials 100 --beta2 1 \\
        --perf-ref 0.83 --cost latency --budget 0.008 \\
        --study-name cora --storage sqlite:///effobj.db

``--budget B`` is ``--cost-max B --cost-ref 2B`` (:meth:`effobj.EfficiencySpec.for_budget`:
a model at the budget is feasible and scores > 0). ``--trials`` is the study's target
size, as in ``effobj demo``.

The study lives in the storage (default: ``effobj.db`` in the working folder). Ctrl-C
leaves it consistent (the interrupted trial is recorded as FAIL, status "interrupted");
running the same command again resumes it up to ``--trials`` finished trials and re-runs
the interrupted candidate first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from effobj.cli._remote import add_remote_options, check_remote_options, remote_profiler
from effobj.cli._runtime_arg import add_runtime_argument
from effobj.cli._safe import printable, quiet_interrupts
from effobj.cli._threads import add_threads_argument

__all__ = ["add_parser", "run"]

_SAMPLERS = ("effobj", "tpe", "gp", "nsga2", "random")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``effobj search``."""
    p = subparsers.add_parser(
        "search",
        help="search a space for the best E_beta with Optuna (profile first, train what counts)",
        description=(
            "Run an Optuna study that maximizes E_beta over a search space. Each candidate is "
            "profiled first; candidates over budget or unable to beat the incumbent are "
            "recorded without training. Re-run the same command to resume."
        ),
    )
    p.add_argument("--space", required=True, help="the search space: a registered name (mlp, "
                   "mobilenet, transformer, supernet, nas-bench-graph:cora, ...), your own "
                   "FILE.py:Class or module:Class (or a function returning a space), or a name "
                   "an installed package provides (entry points 'effobj.spaces')")
    p.add_argument("--trials", type=int, required=True,
                   help="the study's target size: finished trials it should hold. A resumed "
                   "or interrupted study tops up to it (the same command never overshoots); "
                   "a larger value grows it. As in effobj demo")
    p.add_argument("--beta2", type=float, default=1.0, help="beta^2 of E_beta (default 1)")
    p.add_argument("--perf-ref", type=float, required=True,
                   help="reference performance (A = perf / perf-ref)")
    p.add_argument("--budget", type=float, default=None,
                   help="the largest acceptable cost, raw units: sets --cost-max to it and "
                   "--cost-ref to twice it, so a model at the budget is feasible and scores "
                   "> 0 (EfficiencySpec.for_budget). Give it or --cost-ref")
    p.add_argument("--cost-ref", type=float, default=None,
                   help="cost normalizer (C = cost / cost-ref; a model at cost-ref scores 0); "
                   "with --budget, overrides its 2 x budget")
    p.add_argument("--cost", required=True,
                   help="cost indicator, e.g. latency_ms, macs, n_params (tabular: latency)")
    p.add_argument("--perf-min", type=float, default=None, help="minimum performance (raw)")
    p.add_argument("--cost-max", type=float, default=None,
                   help="cost budget (raw, <= --cost-ref); over it a candidate scores 0 and "
                   "is not trained")
    p.add_argument("--sampler", choices=_SAMPLERS, default=None,
                   help="effobj (default in single mode, as create_study's; models the "
                   "performance, takes each candidate's "
                   "measured cost as known, proposes the best expected improvement of "
                   "E_beta; single mode), or Optuna's tpe (the default in multi mode), gp, "
                   "nsga2, random")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sampler and the training; Optuna's samplers mix it "
                   "with the worker and the session so that workers and resumes never "
                   "replay one another")
    p.add_argument("--repeats", action="store_true",
                   help="train a candidate again when it was already trained in the study "
                   "(default: record the repeat from the earlier trial)")
    p.add_argument("--keep-weights", type=int, default=3, metavar="K",
                   help="keep the trained weights of the top K trials per beta^2 of a grid "
                   "around --beta2 (x1/4..x4) as Optuna artifacts beside an SQLite study "
                   "(FILE.db.artifacts), for effobj best --export; 0: none (default 3)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL, journal:PATH, or :memory: (default "
                   "sqlite:///effobj.db in the working folder)")
    p.add_argument("--allow-foreign-tables", action="store_true",
                   help="write into an SQLite/RDB database that already holds tables other "
                   "than Optuna's (refused by default: likely another application's file)")
    p.add_argument("--study-name", default=None,
                   help="study name (default: derived from space, cost and beta2); a new "
                   "name starts a new study, e.g. for another budget")
    p.add_argument("--max-trainings", type=int, default=None,
                   help="stop once the study holds this many trained candidates (a study "
                   "total, like --trials)")
    p.add_argument("--dataset", default=None, help="dataset of a model space (default: the "
                   "space's own)")
    p.add_argument("--method", choices=("optuna", "reinforce"), default="optuna",
                   help="search method: optuna (the profile-first Optuna objective with "
                   "--sampler) or reinforce (a REINFORCE controller with the E_beta reward; "
                   "its samples are recorded as trials of the same study)")
    p.add_argument("--mode", choices=("single", "multi"), default="single",
                   help="single: maximize E_beta; multi: maximize perf, minimize the cost")
    p.add_argument("--over-budget", choices=("prune", "complete"), default="prune",
                   help="record over-budget candidates as PRUNED without a value (default: "
                   "nothing was measured; the samplers still read them at E_beta 0) or, as "
                   "before effobj 0.4, as COMPLETE with E_beta 0 (perf 0 in --mode multi)")
    p.add_argument("--no-skip-hopeless", action="store_true",
                   help="train candidates even when their upper bound is below the incumbent")
    p.add_argument("--pruner", choices=("effobj", "hyperband", "sha", "median", "none"),
                   default="effobj",
                   help="how trainings are stopped early (model spaces): effobj (default: "
                   "once the learning curve gives a training little chance of reaching its "
                   "target, the performance that wins at its known cost; single and multi "
                   "mode), Optuna's hyperband, sha (successive halving) or median "
                   "(single mode only), or none")
    p.add_argument("--prune-slack", type=float, default=None,
                   help="instead of --pruner: stop trainings that cannot beat the incumbent "
                   "even at the best performance seen plus this slack (IncumbentPruner)")
    p.add_argument("--latency-time", type=float, default=1.0,
                   help="model spaces: at most this many seconds to measure one candidate's "
                   "latency (0: do not measure latency; default 1)")
    add_remote_options(p)
    add_runtime_argument(p)
    add_threads_argument(p)
    p.add_argument("--max-failures", type=int, default=5, metavar="N",
                   help="stop after N trials failed in a row, with the first one's error "
                   "(default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="format of the final summary")
    return p


def _check_args(args: argparse.Namespace) -> None:
    from effobj._validation import check_int, check_real, refusal

    func = "effobj search"
    check_int(args.trials, "--trials", func, low=0)
    check_int(args.max_trainings, "--max-trainings", func, low=1, allow_none=True)
    check_int(args.seed, "--seed", func, low=0)
    check_int(args.max_failures, "--max-failures", func, low=1)
    if args.method == "reinforce" and args.max_trainings is not None:
        # refused before the study is created: it would otherwise be left empty
        raise refusal("--max-trainings", func, "be given with --method optuna only",
                      f"{args.max_trainings} with --method reinforce",
                      hint="With --method reinforce give the number of samples with --trials.")
    check_real(args.latency_time, "--latency-time", func, low=0.0)
    check_remote_options(args, func)
    for option, value, low_open in (("--budget", args.budget, True),
                                    ("--cost-ref", args.cost_ref, True),
                                    ("--cost-max", args.cost_max, False)):
        if value is not None:
            check_real(value, option, func, low=0.0, low_open=low_open)
    if args.budget is None and args.cost_ref is None:
        raise refusal("--budget", func, "be given, or --cost-ref (with --cost-max)", "neither",
                      hint="--budget B sets --cost-max B and --cost-ref 2 B.")
    if args.budget is not None and args.cost_max is not None and args.cost_max != args.budget:
        raise refusal("--cost-max", func, f"equal --budget ({args.budget:g}), which sets it",
                      f"{args.cost_max:g}", hint="Give one of --budget and --cost-max.")
    budget = args.budget if args.budget is not None else args.cost_max
    if budget is not None and args.cost_ref is not None and args.cost_ref < budget:
        which = "--budget" if args.budget is not None else "--cost-max"
        raise refusal("--cost-ref", func, f"be at least {which} ({budget:g}): the reference "
                      "is the cost that scores 0", f"{args.cost_ref:g}")


def _spec(args: argparse.Namespace) -> Any:
    """The spec of the options: ``--budget B`` is :meth:`EfficiencySpec.for_budget` (``B``
    the budget, ``2 B`` the reference) unless ``--cost-ref`` gives the reference."""
    from effobj.spec import EfficiencySpec

    cost_max = args.cost_max if args.budget is None else args.budget
    if args.budget is not None and args.cost_ref is None:
        return EfficiencySpec.for_budget(args.budget, beta2=args.beta2, perf_ref=args.perf_ref,
                                         perf_min=args.perf_min, cost_name=args.cost)
    return EfficiencySpec(
        beta2=args.beta2,
        perf_ref=args.perf_ref,
        cost_ref=args.cost_ref,
        perf_min=args.perf_min,
        cost_max=cost_max,
        cost_name=args.cost,
    )


def _study_name(args: argparse.Namespace) -> str:
    if args.study_name:
        return str(args.study_name)
    name = f"{args.space}-{args.cost}-b{args.beta2:g}"
    if args.mode != "single":
        name += f"-{args.mode}"
    return name


def rerank_hint(storage: str | None, study_name: str, beta2: float) -> str:
    """The ``effobj best`` command that re-ranks a study, ready to paste into a shell:
    every value shell-quoted, the storage's password masked (give your own)."""
    import shlex

    from effobj.optuna._storage import masked_url

    # another beta^2 (the caller's choice, e.g. 4x this one) and a budget slot: the point
    # of re-ranking
    return (
        f"effobj best --storage {shlex.quote(masked_url(storage))} "
        f"--study-name {shlex.quote(study_name)} --beta2 {beta2:g} [--cost-max Y]"
    )


def run(args: argparse.Namespace) -> int:
    """Run the search; returns the exit code (130 after Ctrl-C, the study kept)."""
    _check_args(args)
    spec = _spec(args)  # validated before anything is created or trained
    import optuna

    from effobj.cli._load import check_model_space, load_space
    from effobj.cli._threads import check_threads, contention_note, store_threads
    from effobj.optuna import (
        IncumbentPruner,
        create_study,
        make_sampler,
        objective_from_space,
        optimize,
        training_summary,
        worker_seed,
    )
    from effobj.optuna._storage import check_foreign_tables, check_writable, masked_url, storage_url
    from effobj.optuna._weights import keeper_for
    from effobj.record import Status, TrialRecord

    check_writable(args.storage)  # before any work: a read-only file fails now, not later
    check_foreign_tables(args.storage, allow=args.allow_foreign_tables)  # another app's file?
    threads = check_threads(args.threads, "effobj search")
    space = load_space(args.space, "effobj search")  # an unknown one: InputError
    check_model_space(space, args.space, "effobj search", dataset=args.dataset)  # < 5 s
    profiler = None
    if args.profiler is not None and getattr(space, "kind", None) != "model":
        from effobj._validation import refusal

        raise refusal("--profiler", "effobj search", "be given for a model space only",
                      f"{args.profiler!r} with {args.space!r}",
                      hint="A tabular space takes its costs from its table.")
    for option, value, default in (("--runtime", args.runtime, "eager"),
                                   ("--threads", args.threads, None),
                                   ("--latency-time", args.latency_time, 1.0),
                                   ("--latency-method", args.latency_method, "compensated")):
        if value != default and getattr(space, "kind", None) != "model":  # else ignored
            from effobj._validation import refusal

            raise refusal(option, "effobj search", "be left out for a tabular space: it "
                          "says how a model space's candidates are timed", f"{value!r} with "
                          f"{args.space!r}", hint="A tabular space takes its latency from its table.")
    if args.profiler is not None:
        profiler = remote_profiler(
            args, "effobj search", latency=args.latency_time > 0,
            max_time_s=args.latency_time if args.latency_time > 0 else 1.0)
    elif getattr(space, "kind", None) == "model":
        from effobj.profiler import LocalProfiler

        if args.latency_time > 0:
            profiler = LocalProfiler(max_time_s=args.latency_time, runtime=args.runtime,
                                     latency_method=args.latency_method, threads=threads)
        else:
            profiler = LocalProfiler(latency=False)
    if args.prune_slack is not None:
        pruner: Any = IncumbentPruner(spec, slack=args.prune_slack)
    else:
        from effobj.optuna._early_stop import make_pruner

        pruner = make_pruner(args.pruner, spec, mode=args.mode)
    objective = objective_from_space(
        spec,
        space,
        dataset=args.dataset,
        seed=args.seed,
        profiler=profiler,
        mode=args.mode,
        over_budget=args.over_budget,
        skip_hopeless=not args.no_skip_hopeless,
        repeats=args.repeats,
        # the trained weights that can still win, as Optuna artifacts beside the SQLite
        # file (effobj best --export writes the winner's)
        weights=keeper_for(storage_url(args.storage), args.keep_weights)
        if space.kind == "model" else None,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_interrupts()  # Ctrl-C in a trial: one line below, not Optuna's traceback
    name = _study_name(args)
    from effobj.optuna._study import default_sampler_name

    sampler = args.sampler or default_sampler_name(args.mode, objective)
    if sampler == "effobj" and args.mode != "single":
        sampler = "tpe"  # the effobj sampler maximizes the single E_beta objective
    study = create_study(
        spec, mode=args.mode, storage=args.storage, study_name=name, sampler="random",
        pruner=pruner,
    )
    if sampler == "effobj":
        seed = args.seed  # seeded per proposal by (seed, trial number): never replays
    else:
        done = len(study.get_trials(deepcopy=False, states=(
            optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)))
        seed = worker_seed(args.seed, name, done)
    study.sampler = make_sampler(sampler, seed=seed, mode=args.mode, objective=objective)
    study.set_user_attr("effobj_space", args.space)
    if getattr(space, "kind", None) == "model" and args.latency_time > 0:
        # the thread count the latencies are measured at: a profile server's own
        threads = getattr(profiler, "server_threads", None) or threads
        store_threads(study, threads, "effobj search")  # a resumed study keeps its count
        note = contention_note(threads)
        if note is not None and args.profiler is None:
            print(printable(note), file=sys.stderr)
    url = masked_url(args.storage)
    rerank = rerank_hint(args.storage, name, 4 * args.beta2)
    try:
        if args.method == "reinforce":
            from effobj.rl import run_reinforce

            n_new = args.trials - len(study.trials)  # --trials is the study's size, as optimize
            if n_new > 0:
                run_reinforce(
                    space, spec, study=study, n_samples=n_new, seed=args.seed,
                    dataset=args.dataset, profiler=profiler,
                    objective_kwargs={"over_budget": args.over_budget},
                    show_progress=not args.no_progress and args.format == "text",
                )
            summary = training_summary(study)
        else:
            summary = optimize(
                study,
                objective,
                args.trials,
                max_trainings=args.max_trainings,
                progress_bar=not args.no_progress and args.format == "text",
                max_failures=args.max_failures,
            )
    except KeyboardInterrupt:
        summary = training_summary(study)
        stopped = [t.number for t in study.get_trials(deepcopy=False)
                   if TrialRecord.from_user_attrs(t.user_attrs, ()).status == Status.INTERRUPTED]
        which = f"trial {stopped[-1]} was stopped and will be re-run; " if stopped else ""
        print(printable(
            f"\ninterrupted: {which}the study {name!r} in {url} is consistent; run the same command "
            f"again to resume ({summary.n_complete + summary.n_pruned} of {args.trials} trials "
            "finished)."),
            file=sys.stderr,
        )
        return 130
    failed_out = 1 if summary.stopped_after_failures else 0
    if args.format == "json":
        out: dict[str, Any] = {"storage": url, "study_name": name, "summary": summary.to_dict()}
        print(json.dumps(out, indent=2))
        return failed_out
    print(printable(f"study {name!r} in {url}"))
    print(printable(str(summary)))
    if summary.n_failed and not summary.n_trained and summary.n_failed >= summary.n_over_budget:
        # the advice follows the cause: failures are not a budget problem
        print(printable(
            f"{summary.n_failed} trial{'s' if summary.n_failed > 1 else ''} failed and none "
            f"trained; the first failure: {summary.first_failure}. Fix the space or its "
            "evaluate (run `effobj space-range --space ...` to build and profile a few "
            "candidates without training) and run the same command again"), file=sys.stderr)
    elif summary.cheapest_seen:
        print(printable(
            "no candidate fits the budget: the cheapest " + ", ".join(
                f"{c.name} seen was {c.cost:.4g} (trial {c.trial})"
                + ("" if c.budget is None else f", the budget {c.budget:.4g}")
                for c in summary.cheapest_seen)
            + "; raise --budget (or --cost-max) under a new --study-name, or search a "
            "cheaper space"))
    if summary.best_number is not None:
        best = study.trials[summary.best_number]
        rec = TrialRecord.from_user_attrs(best.user_attrs, [args.cost])
        print(printable(
            f"best: trial {best.number}  E_beta {rec.e_beta:.4f}  perf {rec.perf:.4g}"
            f"  {args.cost} {rec.costs[args.cost]:.4g}  params {best.params}"
        ))
    print(printable(f"re-rank it for another beta2 or budget: {rerank}"))
    return failed_out
