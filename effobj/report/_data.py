r"""What a report shows, read once from a study: one row per trial, the ranking, the summary.

Every number drawn in a report comes from :class:`ReportData`, so the figures, the HTML
tables and the tests read the same values. The study is read through
:func:`effobj.rerank.rerank` (scores under the report's spec, which may differ from the
search's :math:`\beta^2`), :func:`effobj.optuna.training_summary` and each trial's
:class:`~effobj.record.TrialRecord`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from effobj.errors import InputError
from effobj.record import COST_REPORT, TrialRecord

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from effobj.optuna import TrainingSummary
    from effobj.rerank import Ranking, Sensitivity
    from effobj.spec import EfficiencySpec

__all__ = ["ReportData", "TrialRow", "collect", "latency_spread"]

#: the IQR of a normal distribution is 1.349 standard deviations
IQR_PER_STD = 1.3489795


@dataclass(frozen=True)
class TrialRow:
    """One finished trial as a report shows it.

    Attributes:
        number: the trial number.
        status: effobj's status (``trained``, ``over_budget``, ``hopeless``, ``pruned``,
            ``failed``) or the Optuna state in lower case for a trial effobj did not run.
        trained: whether the candidate was trained.
        perf, A, e_beta: under the report's spec; NaN when not trained.
        C: normalized (combined) cost under the report's spec; NaN when unknown.
        costs: the raw cost indicators of the spec.
        upper_bound: :math:`E_\beta(A=1, C)` under the report's spec.
        train_time_s: seconds of training (0 when not trained).
        skip_reason: why training was skipped, in words ("" when trained).
        latency_std: standard deviation of the latency measurement (from its IQR), or NaN.
        latency_blocks_ms: the measured per-block latencies in ms
            (``CostReport.latency_block_ms``), ``None`` for a report without them.
        params: the trial's hyper-parameters.
        user_attrs: everything the trial recorded.
    """

    number: int
    status: str
    trained: bool
    perf: float
    A: float
    C: float
    e_beta: float
    costs: dict[str, float]
    upper_bound: float
    train_time_s: float
    skip_reason: str
    latency_std: float
    params: dict[str, Any] = field(repr=False)
    user_attrs: dict[str, Any] = field(repr=False)
    latency_blocks_ms: tuple[float, ...] | None = field(default=None, repr=False)


@dataclass
class ReportData:
    """Everything a report draws, for one study under one spec.

    Attributes:
        study_name: the study's name.
        storage: the storage URL (as given).
        spec: the spec scores are computed under.
        search_spec: the spec the search ran with (``None`` if not stored).
        rows: one :class:`TrialRow` per finished (COMPLETE or PRUNED) trial, by number.
        ranking: the study re-ranked under ``spec``.
        summary: the study's training summary.
        sensitivity: the winner across a :math:`\beta^2` grid and its change points.
        n_failed: FAIL trials (not in ``rows``), interrupted ones included (the headline
            shows ``summary.n_failed`` and ``summary.n_interrupted`` apart).
    """

    study_name: str
    storage: str
    spec: EfficiencySpec
    search_spec: EfficiencySpec | None
    rows: list[TrialRow]
    ranking: Ranking
    summary: TrainingSummary
    sensitivity: Sensitivity
    n_failed: int

    @property
    def trained(self) -> list[TrialRow]:
        """Rows of trained trials with a final performance."""
        return [r for r in self.rows if math.isfinite(r.perf)]

    @property
    def winner(self) -> TrialRow | None:
        """The E_beta winner under the spec (``None`` when nothing trained is feasible)."""
        best = self.ranking.best
        if best is None:
            return None
        return next(r for r in self.rows if r.number == best.number)

    @property
    def cost_label(self) -> str:
        """What the x axis of the cost plane shows."""
        names = self.spec.cost_names
        if len(names) == 1:
            return f"C = {names[0]} / {self.spec.costs[0].ref:g}"
        return f"C = {self.spec.combine} of normalized ({', '.join(names)})"

    @property
    def c_max(self) -> float | None:
        """The normalized budget when the spec has one cost indicator with a budget."""
        if len(self.spec.costs) == 1 and self.spec.costs[0].max is not None:
            return float(self.spec.costs[0].c_max)
        return None

    @property
    def has_latency_spread(self) -> bool:
        """Whether at least two trained trials carry a latency spread."""
        return sum(1 for r in self.trained
                   if math.isfinite(r.latency_std) or r.latency_blocks_ms) >= 2


def latency_blocks(report: dict[str, Any] | None) -> tuple[float, ...] | None:
    """The per-block latencies (ms) of a trial's cost report, ``None`` when it has none
    (latency not measured, or a report written before effobj kept them)."""
    blocks = report.get("latency_block_ms") if isinstance(report, dict) else None
    if not isinstance(blocks, list | tuple) or not blocks:
        return None
    if not all(isinstance(t, int | float) and math.isfinite(t) for t in blocks):
        return None
    return tuple(float(t) for t in blocks)


def latency_spread(user_attrs: dict[str, Any], report: dict[str, Any] | None = None) -> float:
    r"""Standard deviation of a trial's latency, from the IQR of its cost report (NaN if none).

    .. math::

        \hat\sigma = \mathrm{IQR} / 1.349

    (exact for a normal distribution; per-pass timings are roughly normal around the
    median once warm-up is excluded). ``report`` is the trial's cost report
    (:meth:`TrialRecord.from_trial`); ``None``: the one an older effobj kept in the
    ``user_attrs``.
    """
    if report is None:
        report = user_attrs.get(COST_REPORT)
    iqr = report.get("latency_iqr_ms") if isinstance(report, dict) else None
    if iqr is None:
        iqr = user_attrs.get("latency_iqr_ms")
    if isinstance(iqr, int | float) and math.isfinite(iqr) and iqr >= 0:
        return float(iqr) / IQR_PER_STD
    return math.nan


def _status_of(t: optuna.trial.FrozenTrial, rec: TrialRecord) -> str:
    return t.state.name.lower() if rec.status is None else str(rec.status)


def collect(
    study: optuna.Study,
    spec: EfficiencySpec | None = None,
    *,
    storage: str = "",
    beta2_grid: Any = None,
) -> ReportData:
    """Read a study into a :class:`ReportData`.

    Args:
        study: the study (any sampler, single or multi-objective).
        spec: the spec to score under; default the one stored by effobj in the study.
        storage: the storage URL, shown in the report.
        beta2_grid: the :math:`\\beta^2` grid of the sensitivity view (default
            :math:`10^{-2} \\dots 10^{2}`).

    Returns:
        The report's data.

    Raises:
        InputError: no spec given and none stored in the study, or the study has no
            finished trial.
    """
    from optuna.trial import TrialState

    from effobj.optuna import load_spec, training_summary
    from effobj.rerank import rerank, sensitivity

    search_spec = load_spec(study)
    if spec is None:
        spec = search_spec
    if spec is None:
        raise InputError(
            f"The study {study.study_name!r} has no stored effobj spec; pass a spec (in the "
            "command line: --perf-ref, --cost-ref and --cost)."
        )
    ranking = rerank(study, spec)
    table = ranking.table
    if len(table) == 0:
        raise InputError(
            f"The study {study.study_name!r} has no finished (COMPLETE or PRUNED) trial to report."
        )
    rows: list[TrialRow] = []
    names = spec.cost_names
    # C and the bound E_beta(A=1, C) of every trial with known costs, in one pass each
    known = np.ones(len(table), dtype=bool)
    for n in names:
        known &= np.isfinite(table.costs[n]) & (table.costs[n] >= 0.0)
    c_all = np.full(len(table), np.nan)
    bound_all = np.full(len(table), np.nan)
    at = np.flatnonzero(known)
    if at.size:
        costs_at = {n: table.costs[n][at] for n in names}
        c_all[at] = spec.combine_costs(spec.normalize_costs(costs_at))
        bound_all[at] = spec.upper_bound(costs_at)
    for i, t in enumerate(table.trials):
        ua = dict(t.user_attrs)
        rec = TrialRecord.from_trial(t, ())
        costs = {n: float(table.costs[n][i]) for n in names}
        c, bound = float(c_all[i]), float(bound_all[i])
        trained = math.isfinite(table.perf[i]) if rec.trained is None else rec.trained
        tt = rec.train_time_s
        rows.append(
            TrialRow(
                number=int(t.number),
                status=_status_of(t, rec),
                trained=trained,
                perf=float(table.perf[i]),
                A=float(ranking.A[i]),
                C=c,
                e_beta=float(ranking.e_beta[i]),
                costs=costs,
                upper_bound=bound,
                train_time_s=tt if trained and tt is not None else 0.0,
                skip_reason="" if trained else (rec.skip_reason or ""),
                latency_std=latency_spread(ua, rec.cost_report),
                params=dict(t.params),
                user_attrs=ua,
                latency_blocks_ms=latency_blocks(rec.cost_report),
            )
        )
    rows.sort(key=lambda r: r.number)
    n_failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    sens = sensitivity(table, spec, beta2_grid=beta2_grid)
    return ReportData(
        study_name=study.study_name,
        storage=storage,
        spec=spec,
        search_spec=search_spec,
        rows=rows,
        ranking=ranking,
        summary=training_summary(study),
        sensitivity=sens,
        n_failed=n_failed,
    )


def best_so_far(data: ReportData) -> tuple[np.ndarray, np.ndarray]:
    """Trial numbers and the best trained E_beta up to each (NaN before the first)."""
    numbers = np.array([r.number for r in data.rows], dtype=np.int64)
    e = np.array([r.e_beta if math.isfinite(r.e_beta) else -np.inf for r in data.rows])
    best = np.maximum.accumulate(e) if e.size else e
    return numbers, np.where(np.isfinite(best), best, np.nan)
