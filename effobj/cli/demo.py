"""``effobj demo``: the README's main job, a real E_beta-driven architecture search.

Searches the ``mobilenet`` space (MobileNetV2/MnasNet-style CNNs: per-stage depth,
kernel, expansion, squeeze-excitation, width multiplier, input resolution, jointly with
the training recipe) on scikit-learn's digits, maximizing

    E_beta = (1 + b2) * A * (1 - C) / (b2 * (1 - C) + A) * [acc >= 0.9] * [MACs <= 150 k]

with A = validation accuracy and C = MACs / 300 k. The budget binds: about one random
candidate of the space in twenty fits it, and within it the accurate CNNs trade against
cheaper ones; the end of the run shows the winner at beta^2 = 1 and at beta^2 = 16,
re-ranked from the same study. The candidates are proposed by
:class:`effobj.optuna.EfficiencySampler`: it models the accuracy from the trained
candidates, knows each candidate's MACs before training (a meta-device count), and
proposes the best expected improvement of E_beta. Every candidate is profiled (MACs,
parameters, latency with its spread); over-budget candidates and candidates whose upper
bound E_beta(A=1, C) cannot beat the incumbent are never trained, nor is a candidate
trained twice; trainings that cannot catch up are pruned. The study lives in an SQLite file in the working folder
(``effobj-demo.db``): running the demo again continues it. ``--trials`` is the study's
target size, as in ``effobj search``: a run stopped by ``--minutes`` or Ctrl-C is topped
up by the same command, and ``--trials 200`` grows a finished study of 40. At the end it
prints the leaderboard and writes ``effobj-demo-report.html`` with its PNG figures.

MACs (counted by torch's FlopCounterMode) are the cost the demo optimizes because they
are the same on every machine and in every run; the latency is measured and shown too,
but on a shared CPU it moves with the load. ``--paper-tables`` instead scores the
paper's Tables 1 and 2 (shipped with effobj) and checks every printed value.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from effobj.apps._demo import DEMO_SPEC

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``effobj demo``."""
    p = sub.add_parser(
        "demo",
        help="the main job: an E_beta-driven CNN search on digits, its leaderboard and report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--trials", type=int, default=40,
                   help="the study's target size: finished trials it should hold (default "
                   "40, sized to fit the default 4 minutes on an idle 2-core machine). Running "
                   "again tops it up to this size (the same command never "
                   "overshoots); a larger value grows it. As in effobj search")
    p.add_argument("--minutes", type=float, default=4.0,
                   help="stop starting new candidates after this many minutes (default 4)")
    p.add_argument("--max-trainings", type=int, default=None,
                   help="stop once the study holds this many trained candidates (default: "
                   "no limit). As in effobj search")
    p.add_argument("--beta2", type=float, default=DEMO_SPEC["beta2"],
                   help="beta^2 of E_beta (default 1); a new value starts a new study")
    p.add_argument("--storage", default="sqlite:///effobj-demo.db",
                   help="Optuna storage URL (default sqlite:///effobj-demo.db)")
    p.add_argument("--study-name", default=None, help="default demo-mobilenet-digits-b<beta2>")
    p.add_argument("--report", default="effobj-demo-report.html",
                   help="HTML report to write (default effobj-demo-report.html)")
    p.add_argument("--seed", type=int, default=0)
    from effobj.cli._threads import add_threads_argument

    add_threads_argument(p)
    p.add_argument("--top", type=int, default=10, help="leaderboard rows (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--paper-tables", action="store_true",
                   help="only score the paper's Tables 1 and 2 and check every printed value")
    return p


def _run_paper_tables() -> int:
    from effobj.apps import paper_tables
    from effobj.cli._table import render

    status = 0
    for caption, rows, bad, n in paper_tables():
        print(f"\n{caption}\n")
        digits = {"perf": 1, "cost": 1, "perf/cost": 2, "A/C": 2}
        digits |= {k: 3 for k in rows[0] if k.startswith("e_beta@")}
        print(render(rows, "table", digits))
        if bad:
            status = 1
            for name, col, printed, got in bad:
                print(f"  MISMATCH {name} {col}: paper {printed}, effobj {got}")
        else:
            print(f"\n  every printed value reproduced ({n} values checked at the printed precision)")
    return status


def _check(args: argparse.Namespace) -> None:
    from effobj._validation import check_int, check_output_path, check_real
    from effobj.cli._threads import check_threads

    func = "effobj demo"
    args.threads = check_threads(args.threads, func)
    check_int(args.trials, "--trials", func, low=1)
    check_real(args.minutes, "--minutes", func, low=0.0, low_open=True)
    check_int(args.max_trainings, "--max-trainings", func, low=1, allow_none=True)
    check_int(args.top, "--top", func, low=1)
    # outputs are checked before the search, not after its minutes
    check_output_path(args.report, "--report", func, (".html", ".htm"))
    from effobj.optuna._storage import check_writable

    check_writable(args.storage)


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the demo search, print the leaderboard, write the report."""
    if args.paper_tables:
        return _run_paper_tables()
    _check(args)
    t_start = time.monotonic()
    from effobj.apps import demo_space, demo_spec, leaderboard

    spec = demo_spec(args.beta2)
    import optuna

    from effobj.cli._table import render
    from effobj.cli.search import rerank_hint
    from effobj.optuna import (
        EfficiencyPruner,
        objective_from_space,
        optimize,
    )
    from effobj.optuna._storage import masked_url
    from effobj.profiler import LocalProfiler
    from effobj.report import write_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from effobj.cli._safe import quiet_interrupts

    quiet_interrupts()  # Ctrl-C in a trial: effobj's one line, not Optuna's traceback
    name = args.study_name or f"demo-mobilenet-digits-b{args.beta2:g}"
    url = masked_url(args.storage)
    space = demo_space()
    # one thread and a short latency measurement: the models are tiny, MACs are the cost
    profiler = LocalProfiler(threads=args.threads, max_time_s=0.3)
    from effobj.optuna._weights import keeper_for

    # the winners' trained weights kept beside the study (effobj best --export)
    objective = objective_from_space(spec, space, seed=args.seed, profiler=profiler,
                                     weights=keeper_for(args.storage))
    # trainings stop once their learning curve gives them little chance of reaching the
    # accuracy that would win at their (known) MACs
    pruner = EfficiencyPruner(spec)
    # the effobj sampler (a model of the accuracy, each candidate's MACs known before
    # training); it seeds each proposal by (seed, trial number), so a resumed demo does not
    # replay its first run
    study = objective.create_study(storage=args.storage, study_name=name, sampler="effobj",
                                   seed=args.seed, pruner=pruner)
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))
    # the space that rebuilds a trial's model (effobj best --export): the demo's own
    # (its training parameters are narrower than the registered "mobilenet"'s)
    study.set_user_attr("effobj_space", "effobj.apps:demo_space")
    from effobj.cli._threads import contention_note, store_threads

    store_threads(study, args.threads, "effobj demo")
    note = contention_note(args.threads)
    if note is not None:
        print(note)
    print(
        f"effobj demo: E_beta search of the mobilenet space on digits (beta^2 = {args.beta2:g}, "
        f"accuracy >= {spec.perf_min:g}, MACs <= {spec.costs[0].max:.3g}, C = MACs / "
        f"{spec.costs[0].ref:.3g})\nstudy {name!r} in {url}: {done} finished trials, "
        + (f"topping up to {args.trials} (at most {args.minutes:g} min)" if done < args.trials
           else f"already at --trials {args.trials} (give a larger --trials to grow it)")
    )
    summary = optimize(
        study,
        objective,
        args.trials,  # the study's size, as in effobj search
        max_trainings=args.max_trainings,
        timeout=args.minutes * 60.0,
        progress_bar=not args.no_progress,
    )
    print(f"\n{summary}\n")
    rows = leaderboard(study, spec, top=args.top)
    if rows:
        print(render(rows, "table"))
    from effobj.apps import DEMO_BETA2_ACCURACY, winners_at

    # the same study re-ranked: what the budget trades at two beta^2, no new trial
    other = DEMO_BETA2_ACCURACY if args.beta2 != DEMO_BETA2_ACCURACY else 1.0
    print("\nwinners (re-ranked from this study, no new trial):")
    for w in winners_at(study, spec, (args.beta2, other)):
        print(f"  beta^2 = {w['beta2']:g}: " + (
            "no trained candidate is feasible" if w["trial"] is None else
            f"trial {w['trial']}, E_beta {w['E_beta']:.4f}, accuracy {w['accuracy']:.4f}, "
            f"MACs {w['MACs']:,}"))
    out = write_report(study, args.report, spec=spec, storage=url)
    print(f"\nreport: {out['html']} (figures: {', '.join(str(p) for k, p in out.items() if k != 'html')})")
    print(
        f"continue the search: effobj demo   |   re-rank for another beta^2: "
        f"{rerank_hint(args.storage, name, 4.0).removesuffix(' [--cost-max Y]')}\n"
        f"demo wall-clock: {time.monotonic() - t_start:.0f} s"
    )
    return 0
