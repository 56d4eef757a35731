r"""Optuna studies that optimize :math:`E_\beta`, where infeasible and hopeless candidates never train.

Import this subpackage explicitly (``import effobj.optuna``): it imports Optuna, which the
metric layer of effobj never does.

- :class:`EfficiencyObjective` (and :func:`objective_from_space` for a ``effobj.spaces``
  space): build, profile, gate, then train only what can count; everything recorded in
  the trial (a :class:`~effobj.record.TrialRecord`, see :mod:`effobj.record`), its
  constraints where Optuna's samplers and optuna-dashboard read them.
- :class:`EfficiencySampler`: models the performance, takes each candidate's cost as
  known before training, proposes the best expected improvement of E_beta.
- :class:`EfficiencyPruner`: stops a training once its learning curve gives it little
  chance of reaching its own target (the performance that wins at its known cost), in
  single- and multi-objective studies; :func:`report_epoch` reports an epoch from your
  own ``evaluate``. :class:`IncumbentPruner`: the older, rung-less rule.
- :func:`create_study`, :func:`resolve_storage`, :func:`make_sampler`: studies on SQLite
  (default), any Optuna URL or a Journal file, with heartbeat and retry of dead workers.
- :func:`optimize`: a resumable, shareable run to a study size, with a training budget and
  a progress bar; :func:`training_summary` says how much training was avoided.

Re-ranking a finished study for any :math:`\beta^2` or budget (``best_trials``,
``rerank``, ``sensitivity``) is :mod:`effobj.rerank`; the names under which a trial is
recorded, the record's type and the incumbent are :mod:`effobj.record`.

Example:
    >>> import optuna
    >>> from effobj import EfficiencySpec
    >>> from effobj.optuna import EfficiencyObjective, optimize
    >>> from effobj.rerank import best_trials
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_max=6.0,
    ...                       cost_name="size")
    >>> objective = EfficiencyObjective(
    ...     spec,
    ...     build=lambda trial: trial.suggest_int("size", 1, 9),   # a model, usually
    ...     evaluate=lambda size, trial: 1 - abs(size - 3) / 10,   # train and validate
    ...     measure=lambda size: {"size": float(size)},            # or a profiler
    ... )
    >>> study = objective.create_study(storage=":memory:", sampler="random", seed=0)
    >>> summary = optimize(study, objective, 30)
    >>> summary.n_trained + summary.trainings_avoided
    30
    >>> best_trials(study, spec.replace(beta2=0.1), top=1)[0].params   # no new trial
    {'size': 1}
"""

from __future__ import annotations

from typing import Any as _Any

from effobj.optuna._costs import COST_LOOKUPS, CostRegistry
from effobj.optuna._early_stop import EfficiencyPruner, StopDecision
from effobj.optuna._hopeless import HopelessAware
from effobj.optuna._objective import EfficiencyObjective, Reporter, TrialFailed, report_epoch
from effobj.optuna._pruner import IncumbentPruner
from effobj.optuna._run import (
    MaxTrainingsCallback,
    TrainingSummary,
    optimize,
    requeue_interrupted,
    training_summary,
)
from effobj.optuna._sampler import EfficiencySampler
from effobj.optuna._space import SpaceCandidate, load_space_data, objective_from_space
from effobj.optuna._storage import DEFAULT_STORAGE, resolve_storage, storage_url
from effobj.optuna._study import SAMPLERS, create_study, load_spec, make_sampler, worker_seed
from effobj.optuna._weights import WeightsKeeper, weights_of

__all__ = [
    "COST_LOOKUPS",
    "DEFAULT_STORAGE",
    "SAMPLERS",
    "CostRegistry",
    "EfficiencySampler",
    "EfficiencyObjective",
    "EfficiencyPruner",
    "HopelessAware",
    "IncumbentPruner",
    "MaxTrainingsCallback",
    "Reporter",
    "SpaceCandidate",
    "StopDecision",
    "TrainingSummary",
    "TrialFailed",
    "WeightsKeeper",
    "create_study",
    "load_space_data",
    "load_spec",
    "make_sampler",
    "objective_from_space",
    "optimize",
    "report_epoch",
    "requeue_interrupted",
    "resolve_storage",
    "storage_url",
    "training_summary",
    "weights_of",
    "worker_seed",
]

#: names that moved out of effobj.optuna (issue 15) -> where they live now
_MOVED = {
    **dict.fromkeys(
        ("Contender", "RankedTrial", "Ranking", "TrialTable", "best_trials", "rerank",
         "trial_table", "Sensitivity", "SensitivityRow", "WinnerChange", "sensitivity"),
        "effobj.rerank",
    ),
    "Status": "effobj.record",
    "attrs": "effobj.record",
}


def __getattr__(name: str) -> _Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'effobj.optuna' has no attribute {name!r}")
    raise AttributeError(f"effobj.optuna.{name} moved to {home}: import it from there.")
