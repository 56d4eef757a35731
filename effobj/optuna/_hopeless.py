r"""Optuna's samplers fed unmeasured candidates at their bound, without storing it as a value.

A hopeless candidate (its :math:`E_\beta` upper bound below the incumbent) and an
over-budget one are recorded PRUNED with no value (:class:`~effobj.optuna.EfficiencyObjective`,
``hopeless="prune"`` and ``over_budget="prune"``, the defaults), so that optuna-dashboard
and Optuna's importance read only measured results. Optuna's GP and NSGA-II samplers read
only COMPLETE trials, though: to them such a trial is a blank, and they propose the same
region again (``benchmarks/results/hopeless.md``: GP re-proposed 21 of 30 hopeless
candidates and trained a third as many). :class:`HopelessAware` wraps a sampler and shows
it each such trial as COMPLETE, as effobj stored it before, on a read-only view of the
study; the storage keeps the honest record. So the sampler learns exactly as it did, and
the tools show no value that was never measured:

- hopeless (single objective): at its upper bound :math:`E_\beta(A{=}1, C)`;
- over budget: at :math:`E_\beta = 0` (the cost gate's value), or in a multi-objective
  study at perf 0 and its measured costs, with its violated cost constraint.

:func:`~effobj.optuna.make_sampler` wraps TPE, GP and NSGA-II this way, in both modes.

The view overrides ``Study._get_trials`` (a private name, unavoidable: it is what
Optuna's samplers call to read the trials; :class:`effobj.optuna._compat.TrialsView`
holds it) and ``get_trials``; everything else is the study's own.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from effobj.optuna._compat import TrialsView, study_trials
from effobj.record import E_BETA, PERF, STATUS, UPPER_BOUND, Status

__all__ = ["HopelessAware", "as_sampler_sees"]


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def as_sampler_sees(t: FrozenTrial, metric_names: Sequence[str] | None = None) -> FrozenTrial:
    """An unmeasured PRUNED trial as COMPLETE with the values effobj stored before (a
    copy); any other trial as it is.

    - hopeless: its upper bound (single objective);
    - over budget: ``e_beta`` 0.0 in a single-objective study; in a multi-objective one
      (``metric_names`` the study's, ``["perf", cost names...]``) perf 0 and its measured
      costs.

    A trial whose record lacks what its values need is returned as it is.
    """
    if t.state != TrialState.PRUNED:
        return t
    status = t.user_attrs.get(STATUS)
    names = list(metric_names) if metric_names else [E_BETA]
    if status == Status.HOPELESS and names == [E_BETA]:
        values = [t.user_attrs.get(UPPER_BOUND)]
    elif status == Status.OVER_BUDGET:
        values = [0.0 if n in (E_BETA, PERF) else t.user_attrs.get(n) for n in names]
    else:
        return t
    if not all(_finite(v) for v in values):
        return t
    seen = copy.copy(t)
    seen.state = TrialState.COMPLETE
    seen.values = [float(v) for v in values]  # type: ignore[arg-type]
    return seen


class _View(TrialsView):
    """A study whose trials read as :func:`as_sampler_sees` shows them."""

    def read_trials(self, deepcopy: bool, states: Container[TrialState] | None,
                    use_cache: bool) -> list[FrozenTrial]:
        study = self.wrapped
        names = None  # one objective: E_beta
        if len(study.directions) > 1:
            names = study.metric_names
            if names is None:  # unnamed values: nothing to rebuild an over-budget trial's
                return study_trials(study, deepcopy=deepcopy, states=states,
                                    use_cache=use_cache)
        asked = None if states is None else tuple(s for s in TrialState if s in states)
        read = None if asked is None else tuple({*asked, TrialState.PRUNED})
        out = []
        for t in study_trials(study, deepcopy=deepcopy, states=read, use_cache=use_cache):
            seen = as_sampler_sees(t, names)
            if asked is None or seen.state in asked:
                out.append(seen)
        return out


class HopelessAware(BaseSampler):
    """``sampler`` reading unmeasured (hopeless, over-budget) PRUNED trials as COMPLETE at
    the values effobj stored before (:func:`as_sampler_sees`).

    Args:
        sampler: any Optuna sampler (TPE, GP, NSGA-II, ...).

    Example:
        >>> import optuna
        >>> s = HopelessAware(optuna.samplers.TPESampler(seed=0))
        >>> type(s.sampler).__name__
        'TPESampler'
    """

    def __init__(self, sampler: BaseSampler) -> None:
        if not isinstance(sampler, BaseSampler):
            from effobj._validation import refusal
            from effobj.errors import InputTypeError

            raise refusal("sampler", "HopelessAware", "be an optuna.samplers.BaseSampler",
                          type(sampler).__name__, error=InputTypeError)
        self.sampler = sampler

    def __getattr__(self, name: str) -> Any:  # the wrapped sampler's own attributes
        if name == "sampler":
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __str__(self) -> str:
        return f"HopelessAware({type(self.sampler).__name__})"

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(_View(study), trial)  # type: ignore[arg-type]

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler.sample_relative(_View(study), trial, search_space)  # type: ignore[arg-type]

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.sampler.sample_independent(_View(study), trial, param_name,  # type: ignore[arg-type]
                                               param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(_View(study), trial)  # type: ignore[arg-type]

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.sampler.after_trial(_View(study), trial, state, values)  # type: ignore[arg-type]

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
