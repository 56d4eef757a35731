r"""Re-rank a finished study for any :math:`\beta^2` and budget, without new trials.

:math:`E_\beta` is non-decreasing in :math:`A` and in :math:`C' = 1 - C`, and the gates do
not depend on :math:`\beta^2`. Every trained trial recorded its raw performance and its
raw cost indicators, so the score of every trial under *another* spec is a vectorized
function of two arrays: re-ranking a 10,000-trial study is one pass over the trials to
collect the arrays and a few numpy operations.

Trials that were not trained (over budget or hopeless under the search's spec) have no
performance; a new spec may make them relevant (a larger budget). They are not ranked,
but those whose upper bound :math:`E_\beta(A=1, C)` under the new spec beats the new
winner are listed as *contenders*: the candidates worth training next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from effobj._validation import check_int, refusal
from effobj.errors import InputError, InputTypeError
from effobj.record import PERF, STATUS, TrialRecord, decision_mark, perf_recorded, rank_values
from effobj.spec import check_spec

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = [
    "Contender",
    "RankedTrial",
    "Ranking",
    "TrialTable",
    "best_trials",
    "rerank",
    "trial_table",
]

StudyOrTrials = optuna.Study | Iterable[FrozenTrial]


@dataclass(frozen=True)
class TrialTable:
    """A study's trials as arrays, one entry per trial (what re-ranking reads).

    Attributes:
        numbers: trial numbers, int64 ``(n,)``.
        perf: raw final performance, float64 ``(n,)``; NaN where unknown (not trained,
            pruned during training).
        costs: raw cost indicators by name, float64 ``(n,)`` each; NaN where missing.
        trials: the frozen trials, in the same order.
        recorded: bool ``(n,)``, whether each trial recorded a final performance
            (:func:`effobj.record.perf_recorded`), even one that ``perf`` cannot use (NaN);
            ``None``: not known (then a NaN ``perf`` counts as not recorded).
    """

    numbers: np.ndarray
    perf: np.ndarray
    costs: dict[str, np.ndarray]
    trials: Sequence[FrozenTrial]
    recorded: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.numbers.shape[0])


_TRIALS = "be an optuna.Study or an iterable of optuna.trial.FrozenTrial"


def _trials_of(source: StudyOrTrials, name: str, func: str) -> tuple[list[FrozenTrial], list[str] | None]:
    if isinstance(source, optuna.Study):
        trials = source.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        return list(trials), source.metric_names
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        trials = list(source)
        for t in trials:
            if not isinstance(t, FrozenTrial):
                raise refusal(name, func, _TRIALS, f"an element of type {type(t).__name__}",
                              error=InputTypeError)
        return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)], None
    raise refusal(name, func, _TRIALS, type(source).__name__, error=InputTypeError)


def trial_table(source: StudyOrTrials, cost_names: Sequence[str]) -> TrialTable:
    """Collect the performance and the named cost indicators of a study's trials.

    Values come from the trials' ``user_attrs`` (what :class:`EfficiencyObjective`
    records). For a study effobj did not run, a value missing from the user attributes
    is taken from the objective values whose ``study.metric_names`` carry its name
    (``"perf"`` and the cost names). Only COMPLETE and PRUNED trials are read; the
    performance of a trial pruned during training is partial and counts as unknown.

    Which values count is :func:`effobj.record.rank_values`'s rule (the performance of a
    trial trained to the end; a repeat's costs not twice). For a study effobj created on
    an RDB storage the arrays are read with one query (see :mod:`effobj.rerank._rdb_table`),
    and the frozen trials are loaded only when a ranking shows them.

    Args:
        source: a study or its frozen trials.
        cost_names: the cost indicators to collect.

    Returns:
        A :class:`TrialTable`.
    """
    return _trial_table(source, cost_names, "source", "trial_table")


def _trial_table(source: StudyOrTrials, cost_names: Sequence[str], name: str, func: str) -> TrialTable:
    """:func:`trial_table`, its refusals naming parameter ``name`` of ``func``."""
    if isinstance(source, optuna.Study):
        from effobj.rerank._rdb_table import rdb_trial_arrays

        fast = rdb_trial_arrays(source, list(cost_names))
        if fast is not None:
            numbers_f, perf_f, costs_f, lazy, recorded_f = fast
            return TrialTable(numbers_f, perf_f, costs_f, lazy, recorded_f)
    trials, metric_names = _trials_of(source, name, func)
    n = len(trials)
    names = list(cost_names)
    index = {m: i for i, m in enumerate(metric_names or ())}
    perf = np.full(n, np.nan)
    costs = {name: np.full(n, np.nan) for name in names}
    numbers = np.empty(n, dtype=np.int64)
    recorded = np.zeros(n, dtype=bool)
    by_value = [(name, index[name]) for name in (PERF, *names) if name in index]
    for i, t in enumerate(trials):
        numbers[i] = t.number
        complete = t.state == TrialState.COMPLETE
        values = t.values if complete else None
        fallback = None if values is None else {name: values[j] for name, j in by_value}
        perf[i], row = rank_values(t.user_attrs, t.number, complete, names, fallback)
        recorded[i] = perf_recorded(t.user_attrs, complete, fallback)
        for name, v in zip(names, row, strict=True):
            costs[name][i] = v
    return TrialTable(numbers, perf, costs, trials, recorded)


@dataclass(frozen=True, repr=False)
class RankedTrial:
    """One trained trial scored under a spec.

    Its ``repr`` is one line (number, rank, :math:`E_\\beta`, performance, the spec's
    costs, status); everything else is in the attributes and :meth:`to_dict`.

    Attributes:
        rank: 1 for the winner.
        number: the trial's number in the study.
        e_beta: its :math:`E_\\beta` under the spec (0 when a gate fails).
        perf: raw performance.
        A: normalized performance.
        C: normalized (combined) cost.
        feasible: whether every gate of the spec passes.
        costs: the spec's raw cost indicators.
        params: the trial's hyper-parameters.
        user_attrs: everything the trial recorded in its ``user_attrs``.
        cost_report: the full cost report (``CostReport.to_dict()``, from the trial's
            ``system_attrs``), ``None`` when the costs did not come from the profiler.

    ``uncertain_gate`` says whether the search's latency gate let it through on an
    uncertain decision (``to_dict()`` has it, ``None`` when certain or not recorded).
    """

    rank: int
    number: int
    e_beta: float
    perf: float
    A: float
    C: float
    feasible: bool
    costs: dict[str, float]
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    cost_report: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        """effobj's status of the trial (``"trained"``, ``"pruned"``...), ``"-"`` unknown."""
        status = self.user_attrs.get(STATUS)
        return str(status) if isinstance(status, str) else "-"

    @property
    def uncertain_gate(self) -> str:
        """``"under?"`` / ``"over?"`` when the search's latency gate decided this trial
        uncertainly (:func:`effobj.record.decision_mark`), ``""`` otherwise."""
        return decision_mark(self.user_attrs)

    def __repr__(self) -> str:
        costs = ", ".join(f"{k}={v:.4g}" for k, v in self.costs.items())
        return (
            f"RankedTrial(number={self.number}, rank={self.rank}, e_beta={self.e_beta:.4f}, "
            f"perf={self.perf:.4g}, {costs}, status={self.status!r}"
            + ("" if self.feasible else ", infeasible") + ")"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rank": self.rank,
            "number": self.number,
            "e_beta": self.e_beta,
            "perf": self.perf,
            "A": self.A,
            "C": self.C,
            "feasible": self.feasible,
            "costs": dict(self.costs),
            "params": dict(self.params),
            "user_attrs": dict(self.user_attrs),
            "cost_report": self.cost_report,
            "uncertain_gate": self.uncertain_gate or None,
        }


@dataclass(frozen=True)
class Contender:
    """An untrained (or partly trained) trial that could still beat the winner."""

    number: int
    upper_bound: float
    costs: dict[str, float]
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "number": self.number,
            "upper_bound": self.upper_bound,
            "costs": dict(self.costs),
            "params": dict(self.params),
        }


@dataclass
class Ranking:
    """A study re-ranked under a spec.

    Attributes:
        spec: the spec of the ranking.
        table: the arrays the ranking was computed from.
        order: indices into ``table`` of the trained trials, best first.
        e_beta, A, C, feasible: per-row scores (NaN/False for rows without performance).
        contender_rows: rows without final performance whose upper bound beats the winner.
        unusable_rows: rows that recorded a final performance which is NaN, infinite or
            negative: neither ranked nor contenders (their training produced no score).
    """

    spec: EfficiencySpec
    table: TrialTable
    order: np.ndarray
    e_beta: np.ndarray
    A: np.ndarray
    C: np.ndarray
    feasible: np.ndarray
    upper_bound: np.ndarray
    contender_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    unusable_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n_ranked(self) -> int:
        """Number of trained trials ranked."""
        return int(self.order.shape[0])

    def top(self, k: int | None = None) -> list[RankedTrial]:
        """The ``k`` best trained trials (all when ``k`` is None), best first."""
        rows = self.order if k is None else self.order[:k]
        out = []
        names = self.spec.cost_names
        for rank, r in enumerate(rows.tolist(), start=1):
            t = self.table.trials[r]
            out.append(
                RankedTrial(
                    rank=rank,
                    number=t.number,
                    e_beta=float(self.e_beta[r]),
                    perf=float(self.table.perf[r]),
                    A=float(self.A[r]),
                    C=float(self.C[r]),
                    feasible=bool(self.feasible[r]),
                    costs={n: float(self.table.costs[n][r]) for n in names},
                    params=dict(t.params),
                    user_attrs=dict(t.user_attrs),
                    cost_report=TrialRecord.from_trial(t, ()).cost_report,
                )
            )
        return out

    @property
    def best(self) -> RankedTrial | None:
        """The winner (``None`` when no trained trial is feasible)."""
        top = self.top(1)
        return top[0] if top and top[0].feasible and top[0].e_beta > 0.0 else None

    def unusable(self) -> list[tuple[int, float]]:
        """``(trial number, perf)`` of the trials whose recorded performance is NaN,
        infinite or negative: trained, yet without a score (left out of the ranking and of
        the contenders)."""
        return [(int(self.table.numbers[r]), float(self.table.perf[r]))
                for r in self.unusable_rows.tolist()]

    def contenders(self) -> list[Contender]:
        """Trials without final performance whose upper bound beats the winner's E_beta."""
        names = self.spec.cost_names
        out = []
        for r in self.contender_rows.tolist():
            t = self.table.trials[r]
            out.append(
                Contender(
                    number=t.number,
                    upper_bound=float(self.upper_bound[r]),
                    costs={n: float(self.table.costs[n][r]) for n in names},
                    params=dict(t.params),
                )
            )
        return out


def rerank(source: StudyOrTrials | TrialTable, spec: EfficiencySpec) -> Ranking:
    r"""Score every trained trial of a study under ``spec``, vectorized.

    Args:
        source: a study, its frozen trials, or a :class:`TrialTable` already collected
            (to re-rank one study under many specs without reading it again).
        spec: the spec to rank under (any :math:`\beta^2`, budgets, references).

    Returns:
        A :class:`Ranking`: feasible trials by decreasing :math:`E_\beta` (ties: higher
        performance, then lower trial number), then the infeasible ones.

    Raises:
        InputError: a trained trial lacks a cost indicator of the spec.
    """
    return _rerank(source, spec, "source", "rerank")


def _rerank(source: StudyOrTrials | TrialTable, spec: EfficiencySpec, name: str, func: str) -> Ranking:
    """:func:`rerank`, its refusals naming parameter ``name`` (the source) of ``func``."""
    spec = check_spec(spec, "spec", func)
    table = source if isinstance(source, TrialTable) else _trial_table(source, spec.cost_names, name, func)
    missing = [n for n in spec.cost_names if n not in table.costs]
    if missing:
        raise InputError(
            f"The trial table has no column for the spec's cost indicator(s) {missing}; "
            f"it has {sorted(table.costs)}. Collect it with trial_table(study, spec.cost_names)."
        )
    n = len(table)
    cost_ok = np.ones(n, dtype=bool)
    for name in spec.cost_names:
        cost_ok &= np.isfinite(table.costs[name]) & (table.costs[name] >= 0.0)
    trained = cost_ok & np.isfinite(table.perf) & (table.perf >= 0.0)
    bad = np.flatnonzero(np.isfinite(table.perf) & ~cost_ok)
    if bad.size:
        t = table.trials[int(bad[0])]
        raise InputError(
            f"Trial {t.number} has a performance but lacks a valid value of the spec's cost "
            f"indicator(s) {list(spec.cost_names)} (user_attrs {sorted(t.user_attrs)})."
        )
    e = np.full(n, np.nan)
    a = np.full(n, np.nan)
    c = np.full(n, np.nan)
    feas = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(trained)
    if rows.size:
        perf = table.perf[rows]
        cost = {name: table.costs[name][rows] for name in spec.cost_names}
        e[rows] = spec.score(perf, cost)
        a_r, c_r = spec.normalize(perf, cost)
        a[rows] = a_r
        c[rows] = c_r
        feas[rows] = np.asarray(spec.is_feasible(perf, cost), dtype=bool)
    # feasible first, then E_beta, A (higher first), trial number (lower first)
    key_e = np.where(trained, e, -np.inf)[rows]
    key_a = np.where(trained, a, -np.inf)[rows]
    order = rows[np.lexsort((table.numbers[rows], -key_a, -key_e, ~feas[rows]))]
    bound = np.full(n, np.nan)
    # a recorded performance that is NaN, inf or negative: the trial was trained but has
    # no score; it is no untrained candidate either (its bound would call it a contender)
    recorded = table.recorded if table.recorded is not None else ~np.isnan(table.perf)
    unusable = recorded & ~(np.isfinite(table.perf) & (table.perf >= 0.0))
    untrained = np.flatnonzero(cost_ok & ~trained & ~unusable)
    if untrained.size:
        cost_u = {name: table.costs[name][untrained] for name in spec.cost_names}
        bound[untrained] = spec.upper_bound(cost_u)
    best_e = float(e[order[0]]) if order.size and feas[order[0]] else 0.0
    contenders = untrained[bound[untrained] > best_e] if untrained.size else untrained
    contenders = contenders[np.argsort(-bound[contenders], kind="stable")]
    return Ranking(spec, table, order, e, a, c, feas, bound, contenders, np.flatnonzero(unusable))


def best_trials(
    study: StudyOrTrials | TrialTable,
    spec: EfficiencySpec,
    *,
    top: int | None = None,
    feasible_only: bool = True,
) -> list[RankedTrial]:
    r"""The trials of a finished study ranked by :math:`E_\beta` under ``spec``.

    Works on any study (single or multi-objective, any sampler) whose trials recorded
    their raw performance and cost indicators, for any :math:`\beta^2`, budget or
    reference, without running a trial.

    Args:
        study: a study, its frozen trials, or a :class:`TrialTable`.
        spec: the spec to rank under, e.g. ``load_spec(study).replace(beta2=4.0)``.
        top: return only the ``top`` best.
        feasible_only: leave out trials that fail a gate of ``spec``.

    Returns:
        :class:`RankedTrial` objects, best first.

    Example:
        >>> import optuna
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_name="size")
        >>> trials = [optuna.trial.create_trial(value=0.0, params={"k": k},
        ...     distributions={"k": optuna.distributions.IntDistribution(1, 9)},
        ...     user_attrs={"perf": k / 10, "size": float(k)}) for k in range(1, 10)]
        >>> [t.params["k"] for t in best_trials(trials, spec, top=2)]   # (6 ties 4: higher A)
        [5, 6]
        >>> [t.params["k"] for t in best_trials(trials, spec.replace(beta2=0.25), top=1)]
        [3]
    """
    top = check_int(top, "top", "best_trials", low=1, allow_none=True)
    ranking = _rerank(study, spec, "study", "best_trials")
    n = ranking.n_ranked
    if feasible_only:  # the feasible rows come first in the order
        n = int(np.count_nonzero(ranking.feasible[ranking.order]))
    return ranking.top(n if top is None else min(top, n))
