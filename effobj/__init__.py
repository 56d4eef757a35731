"""effobj: accuracy per unit of cost as a first-class objective for model search.

The metric layer (``e_beta``, ``soft_e_beta``, ``EfficiencySpec``, the comparison
metrics and the Pareto tools) imports only numpy and scipy. Everything that needs torch
or optuna (the profiler, the ``nn`` modules, the Optuna integration) is imported lazily
on first access, so ``import effobj`` and scoring a CSV never pay for importing torch.

A search is recorded trial by trial in Optuna's storage: the names and the typed record
(:class:`~effobj.record.TrialRecord`) are :mod:`effobj.record`, which imports neither
optuna nor torch; the Optuna integration is :mod:`effobj.optuna`, re-ranking a finished
study :mod:`effobj.rerank`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first attribute access
_LAZY: dict[str, str] = {
    # the metric (numpy / torch from one kernel)
    "e_beta": "effobj.metric",
    "soft_e_beta": "effobj.metric",
    "e_beta_grad": "effobj.metric",
    "e_beta_upper_bound": "effobj.metric",
    "crossover_beta2": "effobj.metric",
    # raw units in, normalized out
    "EfficiencySpec": "effobj.spec",
    "CostIndicator": "effobj.spec",
    # comparison metrics users weigh E_beta against
    "accuracy_to_compute_ratio": "effobj.ratios",
    "normalized_ratio": "effobj.ratios",
    "cost_efficiency_ratio": "effobj.ratios",
    "time_efficiency_ratio": "effobj.ratios",
    "performance_speed_ratio": "effobj.ratios",
    "mnasnet_reward": "effobj.ratios",
    "latency_loss": "effobj.ratios",
    "edp": "effobj.ratios",
    "ed2p": "effobj.ratios",
    "pareto_front": "effobj.pareto",
    "non_dominated_sort": "effobj.pareto",
    "stochastic_pareto": "effobj.pareto",
    # the performance a candidate of known cost must reach to win
    "perf_to_beat": "effobj.targets",
    "perf_to_be_nondominated": "effobj.targets",
    "perf_to_beat_some_beta2": "effobj.targets",
    # torch modules (import torch)
    "EBetaScore": "effobj.nn",
    "SoftEBetaScore": "effobj.nn",
    "EBetaLoss": "effobj.nn",
    "e_beta_loss": "effobj.nn",
    # the profiler (imports torch)
    "profile_model": "effobj.profiler",
    "CostReport": "effobj.profiler",
    "Profiler": "effobj.profiler",
    "LocalProfiler": "effobj.profiler",
    "ProfileOptions": "effobj.profiler",
    # what a trial records (no optuna needed to read it)
    "TrialRecord": "effobj.record",
    # applications (effobj.apps; import torch when run)
    "gradient_search": "effobj.apps",
    # errors
    "EffobjError": "effobj.errors",
    "InputError": "effobj.errors",
    "FileFormatError": "effobj.errors",
    "ProfilingError": "effobj.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'effobj' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from effobj.apps import gradient_search
    from effobj.errors import EffobjError, FileFormatError, InputError, ProfilingError
    from effobj.metric import (
        crossover_beta2,
        e_beta,
        e_beta_grad,
        e_beta_upper_bound,
        soft_e_beta,
    )
    from effobj.nn import EBetaLoss, EBetaScore, SoftEBetaScore, e_beta_loss
    from effobj.pareto import non_dominated_sort, pareto_front, stochastic_pareto
    from effobj.profiler import CostReport, LocalProfiler, ProfileOptions, Profiler, profile_model
    from effobj.ratios import (
        accuracy_to_compute_ratio,
        cost_efficiency_ratio,
        ed2p,
        edp,
        latency_loss,
        mnasnet_reward,
        normalized_ratio,
        performance_speed_ratio,
        time_efficiency_ratio,
    )
    from effobj.record import TrialRecord
    from effobj.spec import CostIndicator, EfficiencySpec
    from effobj.targets import perf_to_be_nondominated, perf_to_beat, perf_to_beat_some_beta2
