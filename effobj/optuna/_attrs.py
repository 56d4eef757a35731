"""Names under which effobj records a trial in Optuna's storage.

Every trial of an :class:`~effobj.optuna.EfficiencyObjective` carries these
``user_attrs`` (they show up in optuna-dashboard and in ``study.trials_dataframe()``),
plus one ``user_attr`` per cost indicator, named after it (``"macs"``, ``"params"``,
``"latency_ms"``, ...), and one Optuna constraint per gate of the spec
(``trial.set_constraint``; a value <= 0 is feasible).
"""

from __future__ import annotations

__all__ = [
    "A",
    "C",
    "COST_REPORT",
    "E_BETA",
    "EPOCHS_RUN",
    "FAIL_REASON",
    "IDENTITY",
    "INCUMBENT",
    "OVERHEAD_S",
    "PERF",
    "PROFILE_TIME_S",
    "REPEAT_OF",
    "RETRY_OF",
    "SKIP_REASON",
    "STATUS",
    "STUDY_MODE",
    "STUDY_SPEC",
    "STUDY_VERSION",
    "TEST_PERF",
    "TRAIN_FLOPS",
    "TRAIN_TIME_S",
    "TRAINED",
    "Status",
    "UPPER_BOUND",
]

#: raw performance returned by ``evaluate`` (``None`` when not trained)
PERF = "perf"
#: normalized performance ``perf / perf_ref`` (``None`` when not trained)
A = "A"
#: normalized (weighted) cost, known before training
C = "C"
#: the hard E_beta of the trial (``0.0`` when over budget: the gate; ``None`` when unknown)
E_BETA = "e_beta"
#: E_beta(A=1, C): the most the candidate could score, known before training
UPPER_BOUND = "e_beta_upper_bound"
#: whether the candidate was trained (``True`` also for trials pruned during training)
TRAINED = "trained"
#: one of :class:`Status`
STATUS = "status"
#: why training was skipped (over budget, hopeless), in words
SKIP_REASON = "skip_reason"
#: why the trial failed (build, profile, evaluate raised; non-finite performance)
FAIL_REASON = "fail_reason"
#: the incumbent E_beta this trial was compared with before training
INCUMBENT = "incumbent_e_beta"
#: the full cost report (``CostReport.to_dict()``) or the raw cost mapping
COST_REPORT = "cost_report"
#: seconds spent measuring the cost (profiling or a table look-up)
PROFILE_TIME_S = "profile_time_s"
#: seconds spent in ``evaluate`` (training and validation)
TRAIN_TIME_S = "train_time_s"
#: seconds of effobj's own work on the trial (everything but build, measure and evaluate)
OVERHEAD_S = "effobj_overhead_s"
#: optional extras an evaluation may return
TEST_PERF = "test_perf"
EPOCHS_RUN = "epochs_run"
TRAIN_FLOPS = "train_flops"
#: the candidate's identity: trials with one identity are one training run
IDENTITY = "identity"
#: number of the trial whose result a repeat of the same candidate took over
REPEAT_OF = "repeat_of"
#: number of the interrupted trial this one re-runs (set on re-queued trials)
RETRY_OF = "effobj_retry_of"

#: study ``user_attrs``: the spec the study optimizes, its mode, the effobj version
STUDY_SPEC = "effobj_spec"
STUDY_MODE = "effobj_mode"
STUDY_VERSION = "effobj_version"


class Status:
    """Values of the ``status`` user attribute."""

    #: being trained now (the costs are recorded; the score is not yet)
    TRAINING = "training"
    #: trained and scored
    TRAINED = "trained"
    #: cost over budget: not trained, E_beta 0 by the cost gate
    OVER_BUDGET = "over_budget"
    #: E_beta(A=1, C) below the incumbent: not trained, cannot win
    HOPELESS = "hopeless"
    #: stopped by a pruner during training
    PRUNED = "pruned"
    #: build, profile or evaluate raised, or the performance was not finite
    FAILED = "failed"
    #: stopped by Ctrl-C (KeyboardInterrupt); re-queued when the search resumes
    INTERRUPTED = "interrupted"
    #: a candidate already trained in the study: its result taken over, not trained again
    REPEAT = "repeat"

    ALL = (TRAINING, TRAINED, OVER_BUDGET, HOPELESS, PRUNED, FAILED, INTERRUPTED, REPEAT)


def as_number(value: object, trial: int, key: str) -> float:
    """A recorded value as a float; ``None`` is NaN (unknown).

    A study written by other code may hold anything under ``perf`` or a cost's name: a
    value that is not a real number is refused with the trial and the key named,
    rather than failing deep inside numpy.

    Raises:
        InputError: ``value`` is not a real number.
    """
    import numbers

    from effobj.errors import InputError

    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(
            f"Trial {trial} records {key!r} as {value!r} ({type(value).__name__}); effobj "
            "needs a number there (was the study written by other code?)."
        )
    return float(value)
