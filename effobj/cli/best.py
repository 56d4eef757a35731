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
from pathlib import Path
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
    g = p.add_argument_group(
        "export the winner",
        "write the winner's trained weights (kept by the search as an Optuna artifact), its "
        "exported model and a model card, re-profiled; exit code 1 when it no longer meets "
        "the budget")
    g.add_argument("--export", metavar="DIR", default=None,
                   help="write weights.pt, the exported model(s) and model_card.json to DIR")
    g.add_argument("--export-formats", default="state_dict,export,onnx",
                   help="comma-separated, of state_dict, export (torch.export .pt2), "
                   "torchscript, onnx (default state_dict,export,onnx)")
    from effobj.profiler._options import RUNTIMES

    g.add_argument("--runtime", choices=RUNTIMES, default=None,
                   help="the runtime the export is re-profiled in (default: the one the "
                   "search measured the winner in)")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of the re-profile (default: the study's, else 1)")
    g.add_argument("--latency-time", type=float, default=1.0, metavar="S",
                   help="time cap of the re-profile's latency measurement in seconds; 0: "
                   "counts only, no latency (default 1)")
    g.add_argument("--space", default=None,
                   help="the search space that rebuilds the winner's model (default: the one "
                   "the study records, effobj_space; NAME, FILE.py:NAME or module:NAME)")
    g.add_argument("--artifacts", metavar="DIR", default=None,
                   help="the folder of the search's artifact store (default: next to the "
                   "SQLite file, FILE.db.artifacts)")
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


def run(args: argparse.Namespace) -> int:
    """Print the re-ranked winner; exit code 1 when no trained trial is feasible."""
    check_int(args.top, "--top", "effobj best", low=0)
    from effobj.cli._study import load_study, spec_for
    from effobj.optuna import load_spec
    from effobj.rerank import rerank, sensitivity

    formats = _check_export(args)
    study, url = load_study(args.storage, args.study_name)
    spec = spec_for(args, load_spec(study))
    ranking = rerank(study, spec)
    if ranking.n_ranked == 0:
        explain_missing(study, spec, ranking.table)
    ranked = [t for t in ranking.top(args.top + 1) if t.feasible]
    best = ranked[0] if ranked and ranked[0].e_beta > 0 else None
    sens = sensitivity(ranking.table, spec) if args.sensitivity else None
    contenders = ranking.contenders()
    exported = None
    if args.export is not None:
        if best is None:
            from effobj.errors import InputError

            raise InputError("The '--export' option has no winner to export: no trained "
                             "trial is feasible under this spec.")
        exported = _export(args, study, spec, best, formats)
    # latencies that rest on a disturbed reference (plain measurements, flagged)
    n_disturbed, worst_ratio = disturbed_references(
        t.user_attrs for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    if args.format == "json":
        out: dict[str, Any] = {
            "study_name": study.study_name,
            "storage": url,
            "spec": spec.to_dict(),
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
        if exported is not None:
            out["export"] = {"files": {k: str(p) for k, p in exported.files.items()},
                             "meets_budget": exported.meets_budget, "over": exported.over,
                             "reprofile": exported.card["reprofile"]}
        print(json.dumps(_clean(out), indent=2, default=str))
        if exported is not None and not exported.meets_budget:
            return 1
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
        hidden = _why_fewer_rows(ranking, len(ranked), args.top)
        if hidden:
            _print(hidden)
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
    if exported is not None:
        _print()
        _print(_export_text(exported))
        if not exported.meets_budget:
            return 1
    return 0 if best is not None else 1


def _check_export(args: argparse.Namespace) -> list[str]:
    """The export options, checked before the study is read."""
    from effobj._validation import check_choice
    from effobj.apps._export import EXPORT_FORMATS

    formats = [f.strip() for f in (args.export_formats or "").split(",") if f.strip()]
    for f in formats:
        check_choice(f, "--export-formats", "effobj best", EXPORT_FORMATS)
    if args.threads is not None:
        check_int(args.threads, "--threads", "effobj best", low=1)
    from effobj._validation import check_real

    check_real(args.latency_time, "--latency-time", "effobj best", low=0.0)
    if args.export is not None and Path(args.export).exists() and not Path(args.export).is_dir():
        from effobj._validation import refusal

        raise refusal("--export", "effobj best", "be a folder (created when absent)",
                      repr(args.export))
    return formats


def _export(args: argparse.Namespace, study: Any, spec: Any, best: Any, formats: list[str]) -> Any:
    """Export the winner ``best`` (a ranked trial) as ``--export`` asks."""
    import optuna

    from effobj.apps._export import SPACE_ATTR, export_trial
    from effobj.cli._load import load_space
    from effobj.errors import InputError
    from effobj.optuna._storage import storage_url
    from effobj.optuna._weights import default_artifact_store

    if args.artifacts is not None:
        store: Any = optuna.artifacts.FileSystemArtifactStore(args.artifacts)
    else:
        store = default_artifact_store(storage_url(args.storage), create=False)
    name = args.space if args.space is not None else study.user_attrs.get(SPACE_ATTR)
    if not isinstance(name, str):
        raise InputError(f"The study {study.study_name!r} does not name its search space "
                         f"(user attribute {SPACE_ATTR!r}, set by effobj search and demo): "
                         "give it with --space to rebuild the winner's model from its params.")
    space = load_space(name, "effobj best")
    (trial,) = [t for t in study.get_trials(deepcopy=False) if t.number == best.number]
    runtime = args.runtime
    if runtime is None:
        searched = K.TrialRecord.from_trial(trial).cost_report or {}
        runtime = searched.get("runtime") if isinstance(searched.get("runtime"), str) else "eager"
    threads = args.threads
    if threads is None:
        stored = study.user_attrs.get(K.STUDY_THREADS)
        threads = stored if isinstance(stored, int) and stored >= 1 else 1
    return export_trial(study, trial, spec, args.export, store=store, space=space,
                        formats=formats, runtime=runtime, threads=threads,
                        max_time_s=args.latency_time, e_beta=best.e_beta)


def _export_text(res: Any) -> str:
    """What ``--export`` prints: the files, the re-profile, the budget verdict."""
    card = res.card
    rp = card["reprofile"]
    lines = [f"exported trial {card['trial']['number']} to "
             f"{Path(res.files['card']).parent}: "
             + ", ".join(Path(p).name for p in res.files.values())]
    lat = rp.get("latency_ms")
    ci = rp.get("latency_ci95_ms")
    costs = ", ".join(f"{n} {v:.4g}" for n, v in rp["costs"].items())
    lines.append(
        f"re-profiled in {rp['runtime']} at {rp['threads']} thread(s): {costs}"
        + ("" if lat is None else f"; latency {lat:.4g} ms"
           + ("" if not ci else f" (95 % CI {ci[0]:.4g}-{ci[1]:.4g})"))
        + ("" if not rp.get("onnx_file_latency_ms") else
           f"; model.onnx in ONNX Runtime {rp['onnx_file_latency_ms']['median_ms']:.4g} ms")
    )
    if res.meets_budget:
        lines.append("it still meets the budget")
    else:
        lines.append("it no longer meets the budget: "
                     + ", ".join(f"{n} {v}" for n, v in res.over.items()))
    return "\n".join(lines)
