r"""A pruner that stops training once the candidate cannot beat the incumbent any more."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

from effobj._validation import check_instance, check_int, check_real
from effobj.record import TrialRecord, incumbent
from effobj.spec import check_spec
from effobj.targets import perf_to_beat

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["IncumbentPruner"]


class IncumbentPruner(optuna.pruners.BasePruner):
    r"""Prune a trial once even the best performance seen so far could not make it win.

    The cost :math:`C` of a candidate is fixed before training (the objective records it in
    ``user_attrs["C"]``), so its score can only move through :math:`A`. At each reported
    epoch the pruner takes the highest normalized performance any trained trial of the study
    has reached (the trial's own included), adds ``slack``, and stops the trial if

    .. math::

        E_\beta\bigl(\min(1, A_{\text{seen}} + \text{slack}),\, C\bigr) < E_\beta^{\text{inc}},

    the best :math:`E_\beta` of a trained, completed trial (:func:`effobj.record.incumbent`).
    With ``slack = 1`` this is the
    exact upper bound :math:`E_\beta(1, C)` (nothing is pruned that could win); smaller
    slacks assume, as the name says, that no candidate will beat the best performance seen
    by more than ``slack``, and prune more. The incumbent and :math:`A_{\text{seen}}` are
    re-read at every check, so trials finished by other workers count at once.

    Args:
        spec: the spec the study optimizes (its :math:`\beta^2`).
        slack: the performance margin, in normalized units :math:`[0, 1]`.
        min_trained: do not prune before this many trials were trained and completed
            (the best performance seen is not informative before).
        wrapped: another pruner (e.g. ``MedianPruner``); the trial is pruned when either
            says so.

    Example:
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0)
        >>> pruner = IncumbentPruner(spec, slack=0.02)
    """

    def __init__(
        self,
        spec: EfficiencySpec,
        *,
        slack: float = 0.0,
        min_trained: int = 3,
        wrapped: optuna.pruners.BasePruner | None = None,
    ) -> None:
        func = "IncumbentPruner"
        self.spec = check_spec(spec, "spec", func)
        self.slack = check_real(slack, "slack", func, low=0.0, high=1.0)
        self.min_trained = check_int(min_trained, "min_trained", func, low=0)
        self.wrapped = check_instance(wrapped, "wrapped", func, optuna.pruners.BasePruner,
                                      "an Optuna pruner", allow_none=True)
        #: how many times this pruner (not the wrapped one) stopped a trial
        self.n_pruned = 0

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether to stop ``trial`` now (Optuna calls this from ``trial.should_prune``)."""
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            return True
        step = trial.last_step
        c = TrialRecord.from_user_attrs(trial.user_attrs, ()).C
        if step is None or c is None:
            return False
        incumbent, best_a, n_trained = _study_state(study)
        if incumbent is None or n_trained < self.min_trained:
            return False
        own = trial.intermediate_values.get(step)
        if own is not None and own >= incumbent:
            return False
        a_seen = best_a
        if own is not None and own > 0.0:
            # the A the trial's own E_beta stands for at its cost (inf: none; cap at 1)
            a_seen = max(a_seen, min(1.0, perf_to_beat(own, max(c, 0.0), beta2=self.spec.beta2)))
        a_cap = min(1.0, a_seen + self.slack)
        from effobj.metric import e_beta

        reachable = e_beta(a_cap, min(max(c, 0.0), 1.0), beta2=self.spec.beta2)
        if reachable < incumbent:
            self.n_pruned += 1
            return True
        return False


def _study_state(study: optuna.Study) -> tuple[float | None, float, int]:
    """(incumbent E_beta, best A seen, number of trained COMPLETE trials)."""
    trials: Any = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best_a = 0.0
    n = 0
    for t in trials:
        rec = TrialRecord.from_user_attrs(t.user_attrs, ())
        if rec.trained is not True:
            continue
        n += 1
        if rec.A is not None and rec.A > best_a:
            best_a = rec.A
    inc = incumbent(trials)
    return (None if inc is None else inc.e_beta), best_a, n
