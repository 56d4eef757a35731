"""``effobj best``: the winner of a finished study for any beta^2 or budget, no new trials.

Example::

    effobj best --storage sqlite:///effobj.db --study-name cora --beta2 4 --format json

The spec stored by ``effobj search`` is the starting point; ``--beta2``, ``--cost-max``
and ``--perf-min`` replace its fields. A study effobj did not create needs
``--perf-ref``, ``--cost-ref`` and ``--cost`` (its trials must record ``perf`` and the
cost, as user attributes or as objective values named by ``study.metric_names``).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from effobj import record as K
from effobj._validation import check_int
from effobj.cli._safe import printable
from effobj.record import DECISION_NOTE, disturbed_note, disturbed_references

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``effobj best``."""
    p = subparsers.add_parser(
        "best",
        help="re-rank a finished study for any beta^2 or budget (no new trials)",
        description=(
            "Print the E_beta winner of a finished Optuna study and the runners-up under "
            "another beta^2, budget or performance floor, computed from the recorded "
            "performance and costs without running a trial."
        ),
    )
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL or journal:PATH (default sqlite:///effobj.db)")
    p.add_argument("--study-name", required=True)
    p.add_argument("--beta2", type=float, default=None,
                   help="beta^2 to rank with (default: the study's own)")
    p.add_argument("--cost-max", type=float, default=None, help="cost budget (raw units)")
    p.add_argument("--perf-min", type=float, default=None, help="performance floor (raw)")
    p.add_argument("--perf-ref", type=float, default=None,
                   help="reference performance (needed for a study effobj did not create)")
    p.add_argument("--cost-ref", type=float, default=None, help="cost normalizer (idem)")
    p.add_argument("--cost", default=None, help="cost indicator name (idem)")
    p.add_argument("--top", type=int, default=5, help="runners-up to show (default 5)")
    p.add_argument("--sensitivity", action="store_true",
                   help="also give the winner across a beta^2 grid and where it changes")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return p


#: why a trial whose recorded performance is NaN, inf or negative is neither ranked nor a
#: contender
UNUSABLE = ("their recorded performance is not a finite number >= 0 (NaN, inf or negative), "
            "so they have no score and are no untrained contenders either")


def explain_missing(study: Any, spec: Any, table: Any) -> None:
    """Refuse a study whose trials record none of the values the spec ranks by.

    A study effobj did not write (its own objective values and user attributes) would
    otherwise read as "no trained trial is feasible": say which values are missing and
    how to name them.

    Raises:
        InputError: no finished trial records a performance, or one of the spec's costs.
    """
    from optuna.trial import TrialState

    from effobj.errors import InputError

    if len(table) == 0:
        return
    missing = [n for n in spec.cost_names if not np.isfinite(table.costs[n]).any()]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    recorded = table.recorded if table.recorded is not None else ~np.isnan(table.perf)
    no_perf = bool(complete) and not recorded.any() and not any(
        t.user_attrs.get(K.STATUS) is not None for t in complete)  # effobj's: all skipped
    if no_perf:
        missing.insert(0, K.PERF)
    if not missing:
        return
    keys = sorted({k for t in complete[:1000] for k in t.user_attrs})
    n_values = len(complete[0].values or ()) if complete else 0
    raise InputError(
        f"The study {study.study_name!r} records no {' and no '.join(map(repr, missing))} in "
        f"its {len(table)} finished trial(s), so nothing can be ranked. effobj reads each "
        "value from a user attribute of that name, or else from the objective value that "
        f"study.metric_names names so (this study's metric_names: {study.metric_names}; its "
        f"trials have {n_values} objective value(s) and the user attributes {keys[:12]}"
        + ("..." if len(keys) > 12 else "") + "). Name them, e.g. "
        f"study.set_metric_names([{', '.join(repr(m) for m in (K.PERF, *spec.cost_names))}]) "
        "in the order of its objectives, or give --cost the name of a recorded cost."
    )


def _clean(x: Any) -> Any:
    """JSON-safe: non-finite floats become None."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _print(text: str = "") -> None:
    """Print text that holds names and values from a storage, control characters removed."""
    print(printable(text))


def run(args: argparse.Namespace) -> int:
    """Print the re-ranked winner; exit code 1 when no trained trial is feasible."""
    check_int(args.top, "--top", "effobj best", low=0)
    from effobj.cli._study import load_study, spec_for
    from effobj.optuna import load_spec
    from effobj.rerank import rerank, sensitivity

    study, url = load_study(args.storage, args.study_name)
    spec = spec_for(args, load_spec(study))
    ranking = rerank(study, spec)
    if ranking.n_ranked == 0:
        explain_missing(study, spec, ranking.table)
    ranked = [t for t in ranking.top(args.top + 1) if t.feasible]
    best = ranked[0] if ranked and ranked[0].e_beta > 0 else None
    sens = sensitivity(ranking.table, spec) if args.sensitivity else None
    contenders = ranking.contenders()
    # latencies that rest on a disturbed reference (plain measurements, flagged)
    n_disturbed, worst_ratio = disturbed_references(
        t.user_attrs for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    if args.format == "json":
        out: dict[str, Any] = {
            "study_name": study.study_name,
            "storage": url,
            "spec": spec.to_dict(),
def _why_fewer_rows(ranking: Any, shown: int, top: int) -> str:
    """Why the table shows fewer rows than "N trained trials ranked" ('' when it shows
    them all): the runners-up past ``--top``, and the infeasible trials (over a budget
    or under perf_min), which are never shown."""
    n = int(ranking.n_ranked)
    if shown >= n:
        return ""
    infeasible = int(n - np.count_nonzero(ranking.feasible[ranking.order]))
    beyond = n - infeasible - shown
    parts = []
    if beyond > 0:
        parts.append(f"{beyond} more feasible past --top {top} (raise --top to see them)")
    if infeasible:
        parts.append(f"{infeasible} infeasible under this spec (over a budget or under "
                     "perf_min; --cost-max or --perf-min changes that)")
    return f"showing {shown} of the {n} ranked: " + "; ".join(parts) + "."


            "n_ranked": ranking.n_ranked,
        }
        if best is not None:
            out.update(best.to_dict())
        else:
            out.update({"number": None, "e_beta": 0.0, "params": {}, "user_attrs": {}})
        out["runners_up"] = [t.to_dict() for t in ranked[1:]]
        out["untrained_contenders"] = [c.to_dict() for c in contenders[: max(args.top, 1)]]
        out["unusable_perf"] = [{"number": n, "perf": repr(p), "reason": UNUSABLE}
                                for n, p in ranking.unusable()]
        out["latency_reference_disturbed"] = {"n_trials": n_disturbed,
                                              "worst_ratio": worst_ratio}
        if sens is not None:
            out["sensitivity"] = sens.to_dict()
        print(json.dumps(_clean(out), indent=2, default=str))
        return 0 if best is not None else 1
    cost_names = ", ".join(
        f"{c.name} ref {c.ref:g}" + ("" if c.max is None else f" max {c.max:g}")
        for c in spec.costs
    )
    _print(
        f"study {study.study_name!r}: {ranking.n_ranked} trained trials ranked with beta2 "
        f"{spec.beta2:g}, perf_ref {spec.perf_ref:g}"
        + ("" if spec.perf_min is None else f", perf_min {spec.perf_min:g}")
        + f", {cost_names}"
    )
    if best is None:
        _print("no trained trial is feasible under this spec")
    else:
        # the gate column only when a shown trial passed an uncertain latency gate
        gate = any(t.uncertain_gate for t in ranked)
        # the target column when trials recorded one: the perf each needed to win at its
        # cost when its training started (effobj.targets)
        targets = [t.user_attrs.get(K.TARGET_PERF) for t in ranked]
        show_target = any(isinstance(v, int | float) for v in targets)
        _print(f"{'rank':>4} {'trial':>6} {'E_beta':>8} {'perf':>9} "
               + (f"{'target':>9} " if show_target else "")
               + " ".join(f"{n:>12}" for n in spec.cost_names)
               + (f" {'gate':>6}" if gate else "") + "  params")
        for t, target in zip(ranked, targets, strict=True):
            shown = f"{target:>9.4g} " if isinstance(target, int | float) else f"{'-':>9} "
            _print(
                f"{t.rank:>4} {t.number:>6} {t.e_beta:>8.4f} {t.perf:>9.4g} "
                + (shown if show_target else "")
                + " ".join(f"{t.costs[n]:>12.4g}" for n in spec.cost_names)
                + (f" {t.uncertain_gate:>6}" if gate else "")
                + f"  {t.params}"
            )
        if gate:
            _print(f"gate {DECISION_NOTE}.")
        if show_target:
            _print("target: the perf the candidate needed to beat the incumbent at its cost "
                   "when its training started (- : nothing trained yet).")
        stopped = [t for t in study.get_trials(deepcopy=False)
                   if t.user_attrs.get(K.STOP_RUNG) is not None]
        if stopped:
            _print(f"{len(stopped)} training(s) stopped early, each unlikely to reach its "
                   "target (stop_rung, stop_probability, stop_prediction in their records).")
    if n_disturbed:
        _print(disturbed_note(n_disturbed, worst_ratio) + ".")
    unusable = ranking.unusable()
    if unusable:
        shown = ", ".join(f"trial {n} (perf {p!r})" for n, p in unusable[:3])
        _print(f"{len(unusable)} trained trial(s) left out, {UNUSABLE}: {shown}"
               + (", ..." if len(unusable) > 3 else "") + ".")
    if contenders:
        _print(
            f"{len(contenders)} untrained candidate(s) could beat the winner under this spec "
            f"(upper bound above it), e.g. trial {contenders[0].number} "
            f"(bound {contenders[0].upper_bound:.4f}): train them to be sure."
        )
    if sens is not None:
        _print()
        _print(sens.to_markdown())
    return 0 if best is not None else 1
        hidden = _why_fewer_rows(ranking, len(ranked), args.top)
        if hidden:
            _print(hidden)
