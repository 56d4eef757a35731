"""Creating, resuming and reading effobj studies."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any, Literal

import optuna

from effobj._validation import check_choice, check_int, check_str, refusal
from effobj.errors import InputError
from effobj.optuna._storage import resolve_storage
from effobj.record import E_BETA, PERF, STUDY_MODE, STUDY_SPEC, STUDY_VERSION
from effobj.spec import check_spec

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = [
    "MODES",
    "SAMPLERS",
    "create_study",
    "default_sampler_name",
    "load_spec",
    "make_sampler",
    "objective_names",
    "spec_diff",
    "weighted_cost_names",
    "worker_seed",
]

#: sampler names accepted by :func:`make_sampler` and ``effobj search --sampler``
SAMPLERS = ("effobj", "tpe", "gp", "nsga2", "random")
#: what a study optimizes: E_beta alone, or the performance and each weighted cost
MODES = ("single", "multi")


def weighted_cost_names(spec: EfficiencySpec) -> tuple[str, ...]:
    """The cost indicators with a non-zero weight (objectives in the multi mode)."""
    costs = getattr(spec, "costs", None)
    if not costs:
        return tuple(spec.cost_names)
    names = tuple(c.name for c in costs if float(getattr(c, "weight", 1.0)) != 0.0)
    return names or tuple(spec.cost_names)


Direction = Literal["minimize", "maximize"]


def objective_names(spec: EfficiencySpec, mode: str) -> tuple[list[Direction], list[str]]:
    """``(directions, metric names)`` of a study's objective values in ``mode``.

    ``"single"``: E_beta, maximized; ``"multi"``: the performance, maximized, and each
    weighted cost indicator, minimized (named as the trial record names them).
    """
    if mode == "single":
        return ["maximize"], [E_BETA]
    costs = weighted_cost_names(spec)
    directions: list[Direction] = ["maximize"]
    directions += ["minimize"] * len(costs)
    return directions, [PERF, *costs]


def worker_seed(seed: int, study_name: str, n_finished: int) -> int:
    """A sampler seed of its own for each worker and each session of one study.

    Mixes the user's ``seed`` with the study's name, the number of finished trials when
    the worker joined, the host name and the process id, so the same command on three
    machines, or run three times, never replays the same proposals. (The
    :class:`~effobj.optuna.EfficiencySampler` needs none of this: it seeds each proposal
    with ``(seed, trial number)``, reproducible and never replayed.)

    Example:
        >>> worker_seed(0, "s", 0) != worker_seed(0, "s", 5)
        True
    """
    import os
    import socket
    import zlib

    import numpy as np

    seed = check_int(seed, "seed", "worker_seed", low=0)
    n_finished = check_int(n_finished, "n_finished", "worker_seed", low=0)
    study_name = check_str(study_name, "study_name", "worker_seed")
    parts = [
        seed,
        zlib.crc32(study_name.encode()),
        n_finished,
        zlib.crc32(socket.gethostname().encode()),
        os.getpid(),
    ]
    return int(np.random.SeedSequence(parts).generate_state(1)[0] % (2**31 - 1))


def make_sampler(
    name: str = "tpe",
    *,
    seed: int | None = None,
    mode: str = "single",
    objective: Any = None,
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name; all of them read the trials' constraints.

    Args:
        name: ``"effobj"`` (:class:`~effobj.optuna.EfficiencySampler`: models the
            performance, knows each candidate's cost before training; single mode, needs
            ``objective``), ``"tpe"`` (TPESampler, multivariate), ``"gp"`` (GPSampler),
            ``"nsga2"`` (NSGAIISampler) or ``"random"`` (RandomSampler).
        seed: seed of the sampler.
        mode: the mode of the study the sampler serves, ``"single"`` or ``"multi"``;
            checked against the sampler: ``"effobj"`` is single-objective only (the
            others serve either mode).
        objective: the :class:`~effobj.optuna.EfficiencyObjective` whose costs the
            ``"effobj"`` sampler looks up.

    Returns:
        A sampler. In Optuna 5 every one of them takes the constraints from the trials
        (``FrozenTrial.constraints``, which the objective records; no ``constraints_func``).
        TPE, GP and NSGA-II come wrapped in :class:`~effobj.optuna.HopelessAware` (the
        Optuna sampler is its ``sampler``): they read a hopeless or over-budget
        candidate, recorded PRUNED without a value, at the values effobj stored before
        (its upper bound; :math:`E_\beta` 0, or perf 0 and its costs).

    Raises:
        InputError: an unknown name or mode, the ``"effobj"`` sampler in the multi mode
            or without ``objective``, or a bad seed.

    Example:
        >>> type(make_sampler("nsga2", seed=0, mode="multi").sampler).__name__
        'NSGAIISampler'
    """
    check_choice(name, "name", "make_sampler", SAMPLERS)
    check_choice(mode, "mode", "make_sampler", MODES)
    seed = check_int(seed, "seed", "make_sampler", low=0, allow_none=True)
    if name == "effobj":
        if mode != "single":
            raise refusal("name", "make_sampler", f"not be 'effobj' in mode {mode!r}", repr(name),
                          hint="The effobj sampler maximizes the single E_beta objective.")
        if objective is None:
            raise refusal("objective", "make_sampler",
                          "be an EfficiencyObjective for the 'effobj' sampler (it looks up the "
                          "candidates' costs through it)", "None")
        from effobj.optuna._sampler import EfficiencySampler

        return EfficiencySampler.for_objective(objective, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "tpe":
            sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
                seed=seed, multivariate=True)
        elif name == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed)
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=seed)
    # hopeless and over-budget trials are PRUNED without a value; the sampler reads them
    # at the values effobj stored before (GP and NSGA-II ignore PRUNED trials):
    # effobj/optuna/_hopeless.py
    from effobj.optuna._hopeless import HopelessAware

    return HopelessAware(sampler)


def default_sampler_name(mode: str, objective: Any = None) -> str:
    """The sampler a study gets when none is named, in the API and on the command line
    alike: ``"effobj"`` (:class:`~effobj.optuna.EfficiencySampler`, which takes each
    candidate's measured cost as known) for a single objective when an ``objective`` can
    look the costs up, else ``"tpe"`` (the effobj sampler serves the single mode only).

    Example:
        >>> default_sampler_name("multi"), default_sampler_name("single")
        ('tpe', 'tpe')
    """
    return "effobj" if mode == "single" and objective is not None else "tpe"


def create_study(
    spec: EfficiencySpec,
    *,
    mode: Literal["single", "multi"] = "single",
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    sampler: optuna.samplers.BaseSampler | str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    seed: int | None = None,
    load_if_exists: bool = True,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = None,
    max_retry: int | None = 3,
    objective: Any = None,
) -> optuna.Study:
    r"""Create (or resume) a study that optimizes the spec's :math:`E_\beta`.

    The spec, the mode and the effobj version are stored in the study's user attributes,
    so that ``effobj best`` can re-rank it later and a resumed study cannot silently
    switch to another objective.

    Args:
        spec: what the study optimizes.
        mode: ``"single"`` (maximize E_beta) or ``"multi"`` (maximize perf, minimize each
            cost indicator of non-zero weight).
        storage: see :func:`effobj.optuna.resolve_storage`; ``None`` is an SQLite file
            ``effobj.db`` in the working folder.
        study_name: the study's name (needed to share or resume it).
        sampler: a sampler, a name for :func:`make_sampler`, or ``None``: the default of
            ``effobj search`` too, :func:`default_sampler_name` (``"effobj"`` for a single
            objective with an ``objective`` to look costs up through, else ``"tpe"``).
        pruner: an Optuna pruner (e.g. :class:`~effobj.optuna.IncumbentPruner`); ``None``
            never prunes during training.
        seed: seed for a sampler given by name.
        load_if_exists: resume a study of the same name (its stored spec must match).
        heartbeat_interval, grace_period, max_retry: dead-worker recovery, see
            :func:`~effobj.optuna.resolve_storage`.
        objective: the objective, for ``sampler="effobj"`` (see :func:`make_sampler`);
            :meth:`EfficiencyObjective.create_study` passes itself.

    Returns:
        The study.

    Raises:
        InputError: the stored study optimizes another spec or mode, or a bad argument.
    """
    spec = check_spec(spec, "spec", "create_study")
    check_choice(mode, "mode", "create_study", MODES)
    if isinstance(sampler, str) or sampler is None:
        name = sampler or default_sampler_name(mode, objective)
        sampler = make_sampler(name, seed=seed, mode=mode, objective=objective)
    store = resolve_storage(
        storage,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
    )
    directions, metric_names = objective_names(spec, mode)
    study = optuna.create_study(
        storage=store,
        study_name=study_name,
        sampler=sampler,
        pruner=optuna.pruners.NopPruner() if pruner is None else pruner,
        directions=directions,
        load_if_exists=load_if_exists,
    )
    stored = study.user_attrs.get(STUDY_SPEC)
    spec_dict = json.loads(json.dumps(spec.to_dict()))  # as the storage keeps it
    if stored is None:
        from effobj import __version__

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names)
        study.set_user_attr(STUDY_SPEC, spec_dict)
        study.set_user_attr(STUDY_MODE, mode)
        study.set_user_attr(STUDY_VERSION, __version__)
    else:
        stored = _current_form(stored)
        stored_mode = study.user_attrs.get(STUDY_MODE, "single")
        if stored != spec_dict or stored_mode != mode:
            changed = spec_diff({**_as_dict(stored), "mode": stored_mode},
                                {**spec_dict, "mode": mode})
            raise InputError(
                f"The study {study.study_name!r} was created for another objective; resuming "
                f"it would mix two objectives. Changed (stored -> given): {'; '.join(changed)}. "
                "Start a new study under another name (study_name; on the command line "
                "--study-name NAME), or re-rank this one for the new spec with `effobj best` "
                "(effobj.rerank.best_trials)."
            )
    return study


def _as_dict(d: Any) -> dict[str, Any]:
    return dict(d) if isinstance(d, dict) else {"spec": d}


def spec_diff(stored: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """The fields where two specs' dicts (:meth:`EfficiencySpec.to_dict`, plus ``mode``)
    differ, one ``"field: stored -> given"`` each, in the order of the fields.

    The cost indicators are compared by name (``costs[latency_ms].max: 8.0 -> 6.0``);
    indicators present on one side only are named as such.

    Example:
        >>> spec_diff({"beta2": 1.0, "costs": [{"name": "t", "ref": 10.0, "max": 6.0}]},
        ...           {"beta2": 1.0, "costs": [{"name": "t", "ref": 10.0, "max": 5.0}]})
        ['costs[t].max: 6.0 -> 5.0']
    """
    out: list[str] = []
    for key in [*stored, *(k for k in given if k not in stored)]:
        a, b = stored.get(key), given.get(key)
        if a == b:
            continue
        if key == "costs" and isinstance(a, list) and isinstance(b, list) and all(
            isinstance(c, dict) and "name" in c for c in [*a, *b]
        ):
            old = {c["name"]: c for c in a}
            new = {c["name"]: c for c in b}
            sub: list[str] = []
            for name in [*old, *(n for n in new if n not in old)]:
                if name not in new:
                    sub.append(f"costs[{name}]: {old[name]} -> (none)")
                elif name not in old:
                    sub.append(f"costs[{name}]: (none) -> {new[name]}")
                else:
                    sub += [f"costs[{name}].{f}: {old[name].get(f)!r} -> {new[name].get(f)!r}"
                            for f in [*old[name], *(f for f in new[name] if f not in old[name])]
                            if old[name].get(f) != new[name].get(f)]
            out += sub or [f"costs order: {list(old)} -> {list(new)}"]
            continue
        out.append(f"{key}: {a!r} -> {b!r}")
    return out


def _current_form(stored: Any) -> Any:
    """A stored spec dict as this effobj writes it (an older one's indicator "params" is
    "n_params" now); as stored when it does not parse."""
    from effobj.spec import EfficiencySpec

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return json.loads(json.dumps(EfficiencySpec.from_dict(stored).to_dict()))
    except Exception:
        return stored


def load_spec(study: optuna.Study) -> EfficiencySpec | None:
    """The spec stored in an effobj study (``None`` for a study effobj did not create)."""
    from effobj.spec import EfficiencySpec

    d: Any = study.user_attrs.get(STUDY_SPEC)
    if d is None:
        return None
    with warnings.catch_warnings():  # an older effobj's "params": stored, not the user's
        warnings.simplefilter("ignore", DeprecationWarning)
        return EfficiencySpec.from_dict(d)
