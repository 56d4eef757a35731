r"""Re-rank a finished study for any :math:`\beta^2`, budget or reference, without new trials.

Every trial effobj runs records its raw performance and raw cost indicators
(:mod:`effobj.record`), so its :math:`E_\beta` under *another* spec is a vectorized
function of two arrays:

- :func:`trial_table` collects the arrays of a study (one query on an RDB storage);
- :func:`rerank` scores them under a spec (a :class:`Ranking`: the trained trials best
  first, and the untrained :class:`Contender` trials whose bound beats the winner);
  :func:`best_trials` returns the top :class:`RankedTrial` objects;
- :func:`sensitivity` gives the winner across a :math:`\beta^2` grid and the exact
  :math:`\beta^2` where it changes.

Works on any study whose trials recorded ``perf`` and the costs (single or
multi-objective, any sampler, effobj's or not). Import it explicitly
(``import effobj.rerank``): it imports Optuna.

Example:
    >>> import optuna
    >>> from effobj import EfficiencySpec
    >>> from effobj.rerank import best_trials, sensitivity
    >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_name="size")
    >>> trials = [optuna.trial.create_trial(value=0.0, user_attrs={"perf": p, "size": s})
    ...           for p, s in [(0.6, 2.0), (0.8, 5.0), (0.9, 8.0)]]
    >>> [t.perf for t in best_trials(trials, spec, top=1)]
    [0.6]
    >>> [t.perf for t in best_trials(trials, spec.replace(beta2=20.0), top=1)]   # accuracy weighs more
    [0.8]
    >>> sensitivity(trials, spec).changes[0].beta2 > 1.0
    True
"""

from __future__ import annotations

from effobj.rerank._ranking import (
    Contender,
    RankedTrial,
    Ranking,
    TrialTable,
    best_trials,
    rerank,
    trial_table,
)
from effobj.rerank._sensitivity import Sensitivity, SensitivityRow, WinnerChange, sensitivity

__all__ = [
    "Contender",
    "RankedTrial",
    "Ranking",
    "Sensitivity",
    "SensitivityRow",
    "TrialTable",
    "WinnerChange",
    "best_trials",
    "rerank",
    "sensitivity",
    "trial_table",
]
