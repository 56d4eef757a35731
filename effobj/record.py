r"""The trial record: what effobj writes in a trial's attributes, and how it is read back.

Every trial of an :class:`~effobj.optuna.EfficiencyObjective` carries the keys below as
``user_attrs`` (they show up in optuna-dashboard, in ``optuna trials`` and in
``study.trials_dataframe()``), plus one ``user_attr`` per cost indicator, named after it
(``"macs"``, ``"n_params"``, ``"latency_ms"``, ...). Two things go in the trial's
``system_attrs`` instead:

- ``"constraints"``: the list of constraint values (one per gate of the spec, in the
  order of ``EfficiencyObjective.constraint_names``; a value <= 0 is feasible), the form
  Optuna's samplers read (``FrozenTrial.constraints``, keys ``"0"``, ``"1"``, ...) and
  optuna-dashboard reads to show a trial as infeasible. The same values by name are the
  ``user_attr`` ``"constraints"`` (``{"perf_min": ..., "latency_ms_max": ...}``).
- ``"effobj:cost_report"``: the full cost report (``CostReport.to_dict()``, tens of
  kilobytes with the per-module FLOPs), kept out of the ``user_attrs`` that Optuna's
  command line and the dashboard print; :meth:`TrialRecord.from_trial` reads it back.

A study effobj created carries the three ``STUDY_*`` keys.

This module is the one owner of those names and of their meaning:

- the key constants (``PERF``, ``E_BETA``, ``STATUS``, ...) and :class:`Status`;
- :class:`TrialRecord`, the typed record: ``to_user_attrs()`` and ``to_system_attrs()``
  are what the objective writes, ``TrialRecord.from_trial(trial)`` (or
  ``from_user_attrs(trial.user_attrs)``) what every reader parses (tolerant of missing
  keys and of values of another type, e.g. a study written by other code or by an older
  effobj: its ``"params"`` attribute is read as ``n_params``, its ``"cost_report"``
  user_attr as the report, its per-name ``"constraints:NAME"`` keys by Optuna);
- :func:`incumbent`, the incumbent of a study (the best :math:`E_\beta` of a trained,
  completed trial), which the objective, the pruner, the sampler, the run summary and the
  progress bar all compare with;
- :func:`rank_values`, the performance and costs a re-ranking reads from a trial, and
  :func:`perf_recorded`, whether it recorded a final performance at all.

It does not import optuna (``tests/test_imports.py`` checks), so the report, the
command line and the metric layer can use it without importing Optuna. (Writing to a running trial in one storage
transaction is Optuna's business: :mod:`effobj.optuna._write`.)

Example:
    >>> rec = TrialRecord(costs={"size": 3.0}, C=0.3, upper_bound=0.82)
    >>> rec = rec.skipped(Status.HOPELESS, "hopeless: bound 0.82 < incumbent 0.9")
    >>> attrs = rec.to_user_attrs()
    >>> attrs["status"], attrs["trained"], attrs["e_beta"], attrs["size"]
    ('hopeless', False, None, 3.0)
    >>> TrialRecord.from_user_attrs(attrs) == rec
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "A",
    "C",
    "CONSTRAINTS",
    "COST_REPORT",
    "E_BETA",
    "EPOCHS_RUN",
    "FAIL_REASON",
    "CURVE",
    "IDENTITY",
    "MAX_EPOCHS",
    "INCUMBENT",
    "LATENCY_DECISION",
    "LATENCY_DECISION_CERTAIN",
    "LATENCY_REFERENCE_DISTURBED",
    "LATENCY_REFERENCE_RATIO",
    "OPTUNA_CONSTRAINTS",
    "OVERHEAD_S",
    "PERF",
    "PROFILE_TIME_S",
    "REPEAT_OF",
    "RESERVED_KEYS",
    "RETRY_OF",
    "SKIP_REASON",
    "STATUS",
    "STUDY_KEYS",
    "STUDY_MODE",
    "STUDY_SPEC",
    "STUDY_THREADS",
    "STUDY_VERSION",
    "TEST_PERF",
    "STOP_PREDICTION",
    "STOP_PROBABILITY",
    "STOP_RUNG",
    "TARGET_PERF",
    "TRAIN_FLOPS",
    "TRAIN_TIME_S",
    "TRAINED",
    "TRIAL_KEYS",
    "UPPER_BOUND",
    "Incumbent",
    "Status",
    "TrialRecord",
    "as_number",
    "decision_mark",
    "disturbed_note",
    "disturbed_references",
    "incumbent",
    "perf_recorded",
    "rank_values",
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
#: the constraint values by name (``{"perf_min": ..., "latency_ms_max": ...}``; <= 0 feasible)
CONSTRAINTS = "constraints"
#: where an older effobj recorded the full cost report (a ``user_attr``); read, not written
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
#: the performance (raw units) the candidate must reach to win at its cost: beat the
#: incumbent (single objective) or stay off the trained trials' staircase (multi-objective);
#: written when training starts and updated at each early-stopping check
TARGET_PERF = "target_perf"
#: the normalized performance after each epoch reported, in order (the learning curve)
CURVE = "curve"
#: the epochs the training would run to its end (the fidelity's maximum), when known
MAX_EPOCHS = "max_epochs"
#: an early stop's evidence: the epochs run at the rung where it stopped, the chance
#: of reaching the target by the last epoch, and the predicted final performance (raw)
STOP_RUNG = "stop_rung"
STOP_PROBABILITY = "stop_probability"
STOP_PREDICTION = "stop_prediction"
#: the candidate's identity: trials with one identity are one training run
IDENTITY = "identity"
#: number of the trial whose result a repeat of the same candidate took over
REPEAT_OF = "repeat_of"
#: number of the interrupted trial this one re-runs (set on re-queued trials)
RETRY_OF = "effobj_retry_of"
#: the side of the spec's latency budget the candidate's measured latency fell on, as the
#: gate decided it: ``"under"`` (median at or under the budget) or ``"over"``; recorded
#: when the spec has a budget on ``latency_ms`` and the costs came with a cost report
LATENCY_DECISION = "latency_decision"
#: whether that decision is certain: the latency's 95 % interval (``latency_ci95_ms``) lies
#: on the decided side of the budget; ``False`` when it contains the budget (or the report
#: has no interval): the gate could have gone the other way
LATENCY_DECISION_CERTAIN = "latency_decision_certain"
#: the reference ratio of the candidate's compensated latency profile: the reference
#: workload's per-pass time during the profile over its calibrated time (> 1: the machine
#: ran slower than calibrated); the cost report's ``latency_reference_ratio``
LATENCY_REFERENCE_RATIO = "latency_reference_ratio"
#: ``True`` when that profile failed the reference check (the ratio, or the compensated
#: latency over a plain probe, beyond 3x either way) and its latency is a plain measurement
#: made instead; ``False`` when the compensated latency passed
LATENCY_REFERENCE_DISTURBED = "latency_reference_disturbed"

#: trial ``system_attrs``: the constraint values as a list, in the order of the names
#: (Optuna's own key, read by its samplers and by optuna-dashboard)
OPTUNA_CONSTRAINTS = "constraints"
#: trial ``system_attrs``: the full cost report (``CostReport.to_dict()``)
SYSTEM_COST_REPORT = "effobj:cost_report"
#: the parameter count of a model (a cost indicator), beside Optuna's ``params``
N_PARAMS = "n_params"
#: its name before effobj 0.2 (``"params"``), read as ``n_params`` from older studies
OLD_N_PARAMS = "params"

#: study ``user_attrs``: the spec the study optimizes, its mode, the effobj version
STUDY_SPEC = "effobj_spec"
STUDY_MODE = "effobj_mode"
STUDY_VERSION = "effobj_version"
#: study ``user_attrs``: the intra-op thread count its latencies were measured at
#: (``effobj search --threads``, ``effobj demo --threads``; a profile server's own count)
STUDY_THREADS = "effobj_latency_threads"


class Status(StrEnum):
    """Values of the ``status`` user attribute (each member is its plain string)."""

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


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _as_float(x: Any) -> float | None:
    return float(x) if _is_real(x) else None


def _as_int(x: Any) -> int | None:
    return int(x) if isinstance(x, numbers.Integral) and not isinstance(x, bool) else None


def _as_bool(x: Any) -> bool | None:
    return x if isinstance(x, bool) else None


def _as_str(x: Any) -> str | None:
    return x if isinstance(x, str) else None


_STATUSES = {s.value: s for s in Status}


def _as_status(x: Any) -> str | None:
    # a status effobj does not know (another tool's) is kept as its string
    return _STATUSES.get(x, x) if isinstance(x, str) else None


def _as_report(x: Any) -> dict[str, Any] | None:
    return dict(x) if isinstance(x, Mapping) else None


def _as_decision(x: Any) -> str | None:
    return x if x in ("under", "over") else None


def _as_curve(x: Any) -> list[float] | None:
    if isinstance(x, list) and all(_is_real(v) for v in x):
        return [float(v) for v in x]
    return None


def _as_constraints(x: Any) -> dict[str, float] | None:
    # values as stored (a read record written back is unchanged)
    if not isinstance(x, Mapping) or not all(
        isinstance(k, str) and _is_real(v) for k, v in x.items()
    ):
        return None
    return dict(x)


#: (record field, user_attr key, parser of a stored value: None when of another type)
_FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("perf", PERF, _as_float),
    ("A", A, _as_float),
    ("C", C, _as_float),
    ("e_beta", E_BETA, _as_float),
    ("upper_bound", UPPER_BOUND, _as_float),
    ("trained", TRAINED, _as_bool),
    ("status", STATUS, _as_status),
    ("skip_reason", SKIP_REASON, _as_str),
    ("fail_reason", FAIL_REASON, _as_str),
    ("incumbent", INCUMBENT, _as_float),
    ("constraints", CONSTRAINTS, _as_constraints),
    ("cost_report", COST_REPORT, _as_report),
    ("profile_time_s", PROFILE_TIME_S, _as_float),
    ("train_time_s", TRAIN_TIME_S, _as_float),
    ("overhead_s", OVERHEAD_S, _as_float),
    ("test_perf", TEST_PERF, _as_float),
    ("epochs_run", EPOCHS_RUN, _as_int),
    ("train_flops", TRAIN_FLOPS, _as_float),
    ("target_perf", TARGET_PERF, _as_float),
    ("curve", CURVE, _as_curve),
    ("max_epochs", MAX_EPOCHS, _as_int),
    ("stop_rung", STOP_RUNG, _as_int),
    ("stop_probability", STOP_PROBABILITY, _as_float),
    ("stop_prediction", STOP_PREDICTION, _as_float),
    ("identity", IDENTITY, _as_str),
    ("repeat_of", REPEAT_OF, _as_int),
    ("retry_of", RETRY_OF, _as_int),
    ("latency_decision", LATENCY_DECISION, _as_decision),
    ("latency_decision_certain", LATENCY_DECISION_CERTAIN, _as_bool),
    ("latency_reference_ratio", LATENCY_REFERENCE_RATIO, _as_float),
    ("latency_reference_disturbed", LATENCY_REFERENCE_DISTURBED, _as_bool),
)
_BY_KEY = {key: (name, parse) for name, key, parse in _FIELDS}

#: every key of a trial record's ``user_attrs``, in the order
#: :meth:`TrialRecord.to_user_attrs` writes them (``cost_report``: read from older studies)
TRIAL_KEYS: tuple[str, ...] = tuple(key for _, key, _ in _FIELDS)
#: the keys of a study's record
STUDY_KEYS: tuple[str, ...] = (STUDY_SPEC, STUDY_MODE, STUDY_VERSION, STUDY_THREADS)
#: names a cost indicator cannot take (it is recorded under its own name beside them)
RESERVED_KEYS: tuple[str, ...] = TRIAL_KEYS + STUDY_KEYS

#: statuses that state the outcome of a candidate: they write ``perf``, ``A`` and
#: ``e_beta`` even when unknown (``None``), as effobj always has
_OUTCOMES = frozenset({Status.TRAINED, Status.OVER_BUDGET, Status.HOPELESS, Status.PRUNED,
                       Status.REPEAT})
_STATED = frozenset({"perf", "A", "e_beta"})
#: attribute names in the effobj namespace that are not cost indicators (e.g. RL's)
_OWN_PREFIX = "effobj_"


@dataclass(frozen=True)
class TrialRecord:
    r"""What effobj records about one trial, typed; ``None`` is unknown or not recorded.

    Attributes:
        costs: the measured cost indicators, each stored under its own name.
        perf: raw performance (``"perf"``); ``None`` when not trained.
        A: normalized performance; ``None`` when not trained.
        C: normalized (weighted) cost, known before training.
        e_beta: the hard :math:`E_\beta` (0 when over budget; ``None`` when unknown).
        upper_bound: :math:`E_\beta(A{=}1, C)` (``"e_beta_upper_bound"``).
        trained: whether the candidate was trained (also while training, and when
            pruned or failed during training).
        status: a :class:`Status` (another tool's string is kept as it is).
        skip_reason: why training was skipped or stopped, in words.
        fail_reason: why the trial failed or was interrupted.
        incumbent: the incumbent :math:`E_\beta` the candidate was compared with
            (``"incumbent_e_beta"``).
        constraints: the constraint values by name, in the order the objective sets
            them (<= 0 feasible); written as the ``user_attr`` ``"constraints"`` and, as a
            list, the ``system_attr`` Optuna and optuna-dashboard read.
        cost_report: ``CostReport.to_dict()`` when the costs came as a report; written
            as the ``system_attr`` ``"effobj:cost_report"`` (an older effobj: the
            ``user_attr`` ``"cost_report"``).
        profile_time_s: seconds spent measuring the costs.
        train_time_s: seconds spent in ``evaluate``.
        overhead_s: seconds of effobj's own work (``"effobj_overhead_s"``).
        test_perf, epochs_run, train_flops: extras an evaluation returned.
        target_perf: the raw performance the candidate must reach to win at its cost
            (:mod:`effobj.targets`); ``inf`` when nothing would.
        curve: the normalized performance after each reported epoch.
        max_epochs: the epochs a full training runs, when known.
        stop_rung, stop_probability, stop_prediction: an early stop's evidence
            (:class:`~effobj.optuna.EfficiencyPruner`): epochs run at the rung, the
            estimated chance of reaching ``target_perf`` by the last epoch, and the
            predicted final raw performance.
        identity: the candidate's identity (one identity, one training).
        repeat_of: the trial whose result a repeat took over.
        retry_of: the interrupted trial this one re-runs (``"effobj_retry_of"``).
        latency_decision: the side of the spec's latency budget the gate put the candidate
            on, ``"under"`` or ``"over"`` (``None``: no latency budget, or costs without a
            cost report).
        latency_decision_certain: ``True`` when the latency's 95 % interval lies on that
            side, ``False`` when it contains the budget (an uncertain gate decision:
            :func:`decision_mark` shows it as ``"under?"`` or ``"over?"``).
        latency_reference_ratio: the reference ratio of a compensated latency profile
            (the reference's time during it over its calibrated time).
        latency_reference_disturbed: ``True`` when that profile failed the reference
            check and its latency is a plain measurement (:func:`disturbed_references`
            counts them); ``None``: a plain profile, or costs without a cost report.
        extras: every other attribute (the user's, another tool's, or a value of a type
            its field does not take), kept so that a record read and written back is
            unchanged.
    """

    costs: Mapping[str, float] = field(default_factory=dict)
    perf: float | None = None
    A: float | None = None
    C: float | None = None
    e_beta: float | None = None
    upper_bound: float | None = None
    trained: bool | None = None
    status: str | None = None
    skip_reason: str | None = None
    fail_reason: str | None = None
    incumbent: float | None = None
    constraints: dict[str, float] | None = None
    cost_report: dict[str, Any] | None = None
    profile_time_s: float | None = None
    train_time_s: float | None = None
    overhead_s: float | None = None
    test_perf: float | None = None
    epochs_run: int | None = None
    train_flops: float | None = None
    target_perf: float | None = None
    curve: list[float] | None = None
    max_epochs: int | None = None
    stop_rung: int | None = None
    stop_probability: float | None = None
    stop_prediction: float | None = None
    identity: str | None = None
    repeat_of: int | None = None
    retry_of: int | None = None
    latency_decision: str | None = None
    latency_decision_certain: bool | None = None
    latency_reference_ratio: float | None = None
    latency_reference_disturbed: bool | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ storage form
    def to_user_attrs(self) -> dict[str, Any]:
        """The record as Optuna ``user_attrs``: the cost indicators, every field that is
        set (but the cost report: :meth:`to_system_attrs`), and the extras. A record
        stating an outcome (trained, over budget, hopeless, pruned, repeat) also writes
        ``perf``, ``A`` and ``e_beta`` when they are unknown, as ``None``."""
        out: dict[str, Any] = dict(self.costs)
        out.update(self.extras)  # a field that is set replaces what extras hold
        outcome = self.status in _OUTCOMES
        for name, key, _ in _FIELDS:
            if name == "cost_report":
                continue  # a system attribute
            value = getattr(self, name)
            if value is None and (key in self.extras or not (outcome and name in _STATED)):
                continue
            out[key] = str(value) if isinstance(value, Status) else value
        return out

    def to_system_attrs(self) -> dict[str, Any]:
        """What the record keeps in the trial's ``system_attrs``: the constraint values as
        Optuna's list (``"constraints"``) and the cost report (``"effobj:cost_report"``),
        each when set."""
        out: dict[str, Any] = {}
        if self.constraints is not None:
            out[OPTUNA_CONSTRAINTS] = [float(v) for v in self.constraints.values()]
        if self.cost_report is not None:
            out[SYSTEM_COST_REPORT] = self.cost_report
        return out

    @classmethod
    def from_trial(cls, trial: Any, cost_names: Iterable[str] | None = None) -> TrialRecord:
        """Parse a trial (an Optuna ``FrozenTrial`` or ``Trial``): its ``user_attrs``
        (:meth:`from_user_attrs`) and the cost report of its ``system_attrs``; never raises.
        """
        rec = cls.from_user_attrs(getattr(trial, "user_attrs", {}) or {}, cost_names)
        report = _as_report((getattr(trial, "system_attrs", None) or {}).get(SYSTEM_COST_REPORT))
        return rec if report is None else replace(rec, cost_report=report)

    @classmethod
    def from_user_attrs(
        cls, attrs: Mapping[str, Any], cost_names: Iterable[str] | None = None
    ) -> TrialRecord:
        """Parse a trial's ``user_attrs``; never raises.

        Args:
            attrs: the trial's ``user_attrs``.
            cost_names: the cost indicators to read into ``costs``; ``None``: every
                other attribute holding a real number, except names starting with
                ``effobj_`` (effobj's own). A study of an older effobj recorded the
                parameter count as ``"params"``: it is read as ``n_params`` (when the
                trial has no ``n_params``).

        Missing keys are ``None``; a value of a type its field does not take (a study
        written by other code) stays in ``extras``, unparsed, and so does a ``None``
        that :meth:`to_user_attrs` would not write: the record written back holds what
        was read (plus, for an outcome, ``perf``, ``A`` and ``e_beta`` stated).
        """
        wanted = None if cost_names is None else frozenset(cost_names)
        if OLD_N_PARAMS in attrs and N_PARAMS not in attrs and _is_real(attrs[OLD_N_PARAMS]):
            attrs = {(N_PARAMS if k == OLD_N_PARAMS else k): v for k, v in attrs.items()}
        values: dict[str, Any] = {}
        costs: dict[str, float] = {}
        extras: dict[str, Any] = {}
        for key, raw in attrs.items():
            known = _BY_KEY.get(key)
            if known is not None:
                parsed = known[1](raw)
                if key == COST_REPORT:
                    # an older effobj's user_attr: read as the report, and kept where it
                    # was (to_user_attrs writes the field to the system_attrs)
                    if parsed is not None:
                        values[known[0]] = parsed
                    extras[key] = raw
                    continue
                if parsed is not None or raw is None:
                    values[known[0]] = parsed
                    continue
            elif _is_real(raw) and (
                key in wanted if wanted is not None else not key.startswith(_OWN_PREFIX)
            ):
                costs[key] = float(raw)
                continue
            extras[key] = raw
        outcome = values.get("status") in _OUTCOMES
        for key, raw in attrs.items():
            if raw is None and key in _BY_KEY and not (outcome and _BY_KEY[key][0] in _STATED):
                extras[key] = None
        return cls(costs=costs, extras=extras, **values)

    # ------------------------------------------------------------------ outcomes
    def skipped(self, status: Status, reason: str, *, e_beta: float | None = None) -> TrialRecord:
        """The record of a candidate not trained (over budget, hopeless): no performance."""
        return replace(self, perf=None, A=None, e_beta=e_beta, trained=False, status=status,
                       skip_reason=reason)

    def scored(
        self, perf: float, a: float, e_beta: float, *, status: Status = Status.TRAINED,
        **changes: Any,
    ) -> TrialRecord:
        """The record of a trained candidate with its (final or last) score."""
        return replace(self, perf=perf, A=a, e_beta=e_beta, trained=True, status=status,
                       **changes)

    def with_attrs(self, attrs: Mapping[str, Any]) -> TrialRecord:
        """This record with the fields named by the user_attr keys of ``attrs`` replaced."""
        return replace(self, **{_BY_KEY[k][0]: v for k, v in attrs.items()})


def decision_mark(attrs: Mapping[str, Any]) -> str:
    """How a table shows a trial's latency gate decision (from its ``user_attrs``):
    ``"under?"`` or ``"over?"`` when it was uncertain (the latency's 95 % interval contained
    the budget, so the gate could have gone the other way), ``""`` otherwise (certain, or
    no decision recorded).

    Example:
        >>> decision_mark({"latency_decision": "under", "latency_decision_certain": False})
        'under?'
        >>> decision_mark({"latency_decision": "over", "latency_decision_certain": True})
        ''
    """
    side = _as_decision(attrs.get(LATENCY_DECISION))
    if side is None or attrs.get(LATENCY_DECISION_CERTAIN) is not False:
        return ""
    return f"{side}?"


#: what a table's note says about :func:`decision_mark`'s marks
DECISION_NOTE = (
    "under? / over?: an uncertain latency gate decision: the 95 % interval of the measured "
    "latency still contained the budget (effobj's profiler measures on while it does, up to "
    "a time cap), so the candidate was judged by its median latency and may lie on the "
    "other side of the budget"
)


def disturbed_references(attrs: Iterable[Mapping[str, Any]]) -> tuple[int, float | None]:
    r"""How many trials' latencies rest on a disturbed reference, and the worst ratio.

    Reads each trial's ``user_attrs``: the trials flagged
    ``latency_reference_disturbed`` (their latency is a plain measurement that replaced a
    compensated one), and among them the reference ratio :math:`\rho` farthest from 1
    (largest :math:`|\log \rho|`; ``None`` when none is flagged or none recorded a ratio).

    Example:
        >>> disturbed_references([{"latency_reference_disturbed": True,
        ...                        "latency_reference_ratio": 360.0},
        ...                       {"latency_reference_disturbed": True,
        ...                        "latency_reference_ratio": 0.001},
        ...                       {"latency_reference_disturbed": False,
        ...                        "latency_reference_ratio": 1.2}])
        (2, 0.001)
    """
    n, worst = 0, None
    for a in attrs:
        if a.get(LATENCY_REFERENCE_DISTURBED) is not True:
            continue
        n += 1
        ratio = _as_float(a.get(LATENCY_REFERENCE_RATIO))
        if ratio is not None and math.isfinite(ratio) and ratio > 0.0 and (
                worst is None or abs(math.log(ratio)) > abs(math.log(worst))):
            worst = ratio
    return n, worst


def disturbed_note(n: int, worst: float | None) -> str:
    """What the search summary and ``effobj best`` say about :func:`disturbed_references`:
    ``""`` when no trial is flagged.

    Example:
        >>> disturbed_note(2, 360.0)[:58]
        '2 latencies rest on a disturbed reference (worst ratio 360'
    """
    if n == 0:
        return ""
    if worst is None:
        how = ""
    elif worst >= 1.0:
        how = (f" (worst ratio {worst:.3g}: the reference ran {worst:.3g}x slower than "
               "calibrated, a loaded machine)")
    else:
        how = (f" (worst ratio {worst:.3g}: the reference ran {1 / worst:.3g}x faster than "
               "calibrated, a calibration taken on a loaded machine)")
    return (f"{n} latenc{'ies rest' if n > 1 else 'y rests'} on a disturbed reference{how}: "
            "compensation did not hold within 3x, so "
            + ("they are plain measurements" if n > 1 else "it is a plain measurement")
            + ", slower by the load of their moment (latency_reference_disturbed)")


def as_number(value: object, trial: int, key: str) -> float:
    """A recorded value as a float; ``None`` is NaN (unknown).

    A study written by other code may hold anything under ``perf`` or a cost's name: a
    value that is not a real number is refused with the trial and the key named,
    rather than failing deep inside numpy.

    Raises:
        InputError: ``value`` is not a real number.
    """
    from effobj.errors import InputError

    if value is None:
        return math.nan
    if not _is_real(value):
        raise InputError(
            f"Trial {trial} records {key!r} as {value!r} ({type(value).__name__}); effobj "
            "needs a number there (was the study written by other code?)."
        )
    return float(value)  # type: ignore[arg-type]


def perf_recorded(attrs: Mapping[str, Any], complete: bool,
                  fallback: Mapping[str, Any] | None = None) -> bool:
    """Whether a trial recorded a final performance (:func:`rank_values`'s rule): it is
    COMPLETE, its ``perf`` (or the ``fallback``'s) is not ``None`` and it was trained (an
    untrained trial's value is a placeholder). The value itself may still be unusable
    (NaN, inf, negative): re-ranking sets those trials apart."""
    if not complete:
        return False
    p = attrs.get(PERF, (fallback or {}).get(PERF))
    return p is not None and attrs.get(STATUS) in (None, Status.TRAINED)


def rank_values(
    attrs: Mapping[str, Any],
    number: int,
    complete: bool,
    cost_names: Sequence[str],
    fallback: Mapping[str, Any] | None = None,
) -> tuple[float, list[float]]:
    """``(perf, costs)`` of one trial as re-ranking reads them (NaN: unknown).

    The performance counts only for a completed trial that was trained to the end (an
    untrained trial's value is a placeholder, a pruned one's partial); the costs of a
    repeat are NaN (it is its source trial's candidate: neither ranked twice nor a
    contender). ``n_params`` is read from ``params`` where an older effobj recorded it
    there. ``fallback`` gives values missing from ``attrs`` (a study effobj did not
    run: its objective values by metric name): the performance when ``perf`` is absent,
    a cost when it is absent or ``None``.

    Raises:
        InputError: a value is not a real number (the trial and the key named).
    """
    fb = fallback or {}
    status = attrs.get(STATUS)
    perf = math.nan
    if perf_recorded(attrs, complete, fb):
        perf = as_number(attrs.get(PERF, fb.get(PERF)), number, PERF)
    if status == Status.REPEAT:
        return perf, [math.nan] * len(cost_names)
    costs = []
    for name in cost_names:
        v = attrs.get(name)
        if v is None and name == N_PARAMS:
            v = attrs.get(OLD_N_PARAMS)  # a study of an older effobj
        costs.append(as_number(fb.get(name) if v is None else v, number, name))
    return perf, costs


@dataclass(frozen=True)
class Incumbent:
    r"""The incumbent of a study: its best :math:`E_\beta` and the trial that scored it."""

    e_beta: float
    number: int


def incumbent(trials: Iterable[Any]) -> Incumbent | None:
    r"""The incumbent: the best :math:`E_\beta` of a trained, completed trial (``None``: none).

    The one definition every part of effobj compares with: the objective (hopeless
    candidates), :class:`~effobj.optuna.IncumbentPruner`, the sampler's expected
    improvement, :func:`~effobj.optuna.training_summary` and the progress bar.

    A trial counts when its state is COMPLETE, it recorded ``trained`` True and a finite
    ``e_beta``: not a skipped candidate (its value is a bound), not a repeat (its source
    counts), not one pruned during training. Ties go to the lower trial number.

    Args:
        trials: Optuna ``FrozenTrial`` objects (anything with ``number``, ``state`` and
            ``user_attrs``), in any order.

    Example:
        >>> from types import SimpleNamespace as T
        >>> trials = [T(number=0, state="COMPLETE", user_attrs={"trained": True, "e_beta": 0.6}),
        ...           T(number=1, state="COMPLETE", user_attrs={"trained": False, "e_beta": 0.9}),
        ...           T(number=2, state="PRUNED", user_attrs={"trained": True, "e_beta": 0.8})]
        >>> incumbent(trials)
        Incumbent(e_beta=0.6, number=0)
    """
    best: Incumbent | None = None
    for t in trials:
        if getattr(t.state, "name", t.state) != "COMPLETE":
            continue
        ua = t.user_attrs
        e = ua.get(E_BETA)
        if ua.get(TRAINED) is not True or not _is_real(e) or not math.isfinite(e):
            continue
        if best is None or e > best.e_beta or (e == best.e_beta and t.number < best.number):
            best = Incumbent(float(e), int(t.number))
    return best
