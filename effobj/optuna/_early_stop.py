r"""Cost-aware early stopping: stop a training once its chance of reaching its target is small.

A candidate's cost is known before it trains, so the performance it needs to win is
known too (:mod:`effobj.targets`): its *target* :math:`A^*(C)` (single objective: beat
the incumbent; multi-objective: stay off the trained trials' staircase). A small model
needs less than a large one. :class:`EfficiencyPruner` compares each training's
learning curve with that target.

**Rungs.** A training is judged only after :math:`r_k = \lceil r_0 \eta^k\rceil` epochs
(``min_epochs`` :math:`r_0`, ``reduction_factor`` :math:`\eta`), before its last epoch:
geometric rungs as in ASHA, asynchronous (no worker waits for a cohort).

**Prediction.** At a rung after :math:`e` epochs, with its normalized performance
:math:`y`, each earlier trial :math:`j` that ran to its end (its curve :math:`y_j`, final
:math:`f_j = y_j(T)` at the judged trial's last epoch :math:`T` or its own, whichever is
first) gives one prediction of where this training ends, closing the same share of the
gap to the performance ceiling :math:`U` (1, or the best seen) that :math:`j` closed:

.. math::

    \hat f_j = y + \frac{f_j - y_j(e)}{U - y_j(e)}\,(U - y)
    \quad (\text{or } y + f_j - y_j(e) \text{ when } j \text{ fell}).

Sharing the gap, not the gain, carries a curve to another level: a curve that closed
half its gap predicts half of this one's, whether this one starts lower or higher. The
training reaches its target :math:`A^*` when its share exceeds
:math:`r^* = (A^* - y)/(U - y)`. On the logit scale the shares are modelled as Normal
with a weak conjugate prior (one pseudo-curve of unit variance), so the next share is
Student-t with :math:`n + 1` degrees of freedom around the mean logit share, and

.. math::

    P = 1 - F_{t,\,n+1}\Bigl(\frac{\operatorname{logit} r^* - \bar z}
        {s \sqrt{1 + 1/n}}\Bigr),
    \qquad s^2 = \frac{1 + \sum_j (z_j - \bar z)^2}{n + 1}.

It uses how far beyond the finished curves the target lies, and it widens as they
disagree. Where many curves have levelled off (shares piled at 0) a logit-Normal is too
sure of itself, so the chance used is the larger of this and the count of the curves'
predictions :math:`\hat f_j = y + r_j (U - y)` that reach the target, with a half-count
prior, :math:`(\#\{\hat f_j \ge A^*\} + \tfrac12)/(n + 1)`: a training is stopped
only when both say it is unlikely (with the default ``p_min = 0.05``, not before 10
finished curves). In the fallback without a ceiling the predictions are additive and
:math:`P` is that count.

**Rule and guarantees** (each tested):

1. a training is never stopped before its first rung, nor at an epoch that is not a rung;
2. never while no trained trial sets a target, nor once its performance reaches its target;
3. never on fewer than ``min_curves`` finished curves that ran past this epoch;
4. otherwise it is stopped exactly when :math:`P <` ``p_min``.

It reads the study at each rung (finished curves are parsed once and kept), so it works
with several workers on one storage and in multi-objective studies, where Optuna's own
pruners cannot run. The stopped trial records its evidence (``stop_rung``,
``stop_probability``, ``stop_prediction``, ``target_perf``) and ends PRUNED with
``epochs_run``.

In a study not run by :class:`~effobj.optuna.EfficiencyObjective` (no known cost: a plain
Optuna objective that calls ``trial.report`` and ``trial.should_prune``), the documented
fallback: the target is the best final value of the completed trials, the curves are the
intermediate values, and gains are additive (no ceiling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from effobj._validation import check_int, check_real, refusal
from effobj.record import Status, TrialRecord
from effobj.targets import perf_to_be_nondominated, perf_to_beat, perf_to_beat_some_beta2

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["EfficiencyPruner", "StopDecision", "rungs"]


def rungs(min_epochs: int, reduction_factor: float, max_epochs: int) -> list[int]:
    """The epoch counts at which a training of ``max_epochs`` epochs is judged.

    >>> rungs(1, 2, 20)
    [1, 2, 4, 8, 16]
    >>> rungs(3, 3, 40)
    [3, 9, 27]
    """
    out: list[int] = []
    r = float(min_epochs)
    while math.ceil(r - 1e-9) < max_epochs:
        n = math.ceil(r - 1e-9)
        if not out or n > out[-1]:
            out.append(n)
        r *= reduction_factor
    return out


@dataclass(frozen=True)
class StopDecision:
    """One judgement of a training at a report.

    Attributes:
        stop: whether to stop it now.
        rung: the epochs run, when the report was at a rung (else ``None``: not judged).
        target: the normalized performance it must reach (``inf``: nothing wins).
        probability: the estimated chance of reaching ``target`` by the last epoch.
        prediction: the weighted median of the predicted final normalized performance.
        n_curves: the number of finished curves that ran past this epoch.
        reason: the decision in words.
    """

    stop: bool
    rung: int | None
    target: float
    probability: float | None = None
    prediction: float | None = None
    n_curves: float = 0.0
    reason: str = ""


@dataclass
class _Finished:
    """What the pruner keeps of a finished trial (immutable once finished)."""

    curve: np.ndarray  # normalized performance per epoch
    trained: bool
    a: float | None
    c: float | None
    costs: dict[str, float]
    e_beta: float | None


class EfficiencyPruner(optuna.pruners.BasePruner):
    r"""Stop a training once its chance of reaching its own target is below ``p_min``.

    See the module's docstring for the target, the rungs, the prediction and the rule.

    Args:
        spec: the spec the study optimizes (its :math:`\beta^2`, gates and weighted cost
            indicators); ``None``: the fallback for plain Optuna studies only.
        min_epochs: epochs of the first rung (never stopped before).
        reduction_factor: :math:`\eta > 1`, the ratio between rungs.
        p_min: stop when the chance of reaching the target is below this.
        min_curves: finished curves (that ran past the rung) needed to judge.
        max_epochs: the epochs of a full training when trials do not record it
            (``max_epochs`` in their record); ``None``: the longest finished curve.
        beta2_range: multi-objective only: also require winning for some
            :math:`\beta^2` in ``(low, high)`` (:func:`effobj.targets.perf_to_beat_some_beta2`).

    Example:
        >>> from effobj import EfficiencySpec
        >>> pruner = EfficiencyPruner(EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0))
        >>> pruner.rungs(30)
        [1, 2, 4, 8, 16]
    """

    def __init__(
        self,
        spec: EfficiencySpec | None = None,
        *,
        min_epochs: int = 1,
        reduction_factor: float = 2.0,
        p_min: float = 0.05,
        min_curves: int = 5,
        max_epochs: int | None = None,
        beta2_range: tuple[float, float] | None = None,
    ) -> None:
        func = "EfficiencyPruner"
        if spec is not None:
            from effobj.spec import check_spec

            spec = check_spec(spec, "spec", func)
        self.spec = spec
        self.min_epochs = check_int(min_epochs, "min_epochs", func, low=1)
        self.reduction_factor = check_real(reduction_factor, "reduction_factor", func,
                                           low=1.0, low_open=True)
        self.p_min = check_real(p_min, "p_min", func, low=0.0, high=1.0, high_open=True)
        self.min_curves = check_int(min_curves, "min_curves", func, low=1)
        self.max_epochs = check_int(max_epochs, "max_epochs", func, low=1, allow_none=True)
        if beta2_range is not None:
            if not (isinstance(beta2_range, tuple | list) and len(beta2_range) == 2):
                raise refusal("beta2_range", func, "be a pair (low, high)", repr(beta2_range))
            lo = check_real(beta2_range[0], "beta2_range[0]", func, low=0.0, low_open=True)
            hi = check_real(beta2_range[1], "beta2_range[1]", func, low=lo)
            beta2_range = (lo, hi)
        self.beta2_range = beta2_range
        if self.max_epochs is not None and self.min_epochs >= self.max_epochs:
            raise refusal("min_epochs", func, f"be below max_epochs ({self.max_epochs}): no "
                          "rung would fit the epoch budget", repr(self.min_epochs))
        self._finished: dict[tuple[Any, ...], _Finished | None] = {}
        #: trainings this pruner stopped, and the last decision (for plain studies)
        self.n_stopped = 0
        self.last_decision: StopDecision | None = None

    def rungs(self, max_epochs: int) -> list[int]:
        """The rungs of a training of ``max_epochs`` epochs."""
        return rungs(self.min_epochs, self.reduction_factor, max_epochs)

    # ------------------------------------------------------------------ Optuna's API
    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """Optuna's pruner call (``trial.should_prune()``): the fallback on intermediate
        values for trials that carry no effobj curve. effobj's objective calls
        :meth:`decide` instead, with the trial's curve and cost."""
        rec = TrialRecord.from_user_attrs(trial.user_attrs, ())
        if rec.curve:
            decision = self.decide(study, trial.number, rec.curve, rec, rec.max_epochs)
        else:
            steps = sorted(trial.intermediate_values)
            if not steps:
                return False
            values = [float(trial.intermediate_values[s]) for s in steps]
            decision = self._decide_plain(study, trial.number, steps[-1] + 1, values)
        self.last_decision = decision
        self.n_stopped += decision.stop
        return decision.stop

    # ------------------------------------------------------------------ effobj trials
    def target(self, study: optuna.Study, rec: TrialRecord) -> float:
        """The normalized performance the candidate of ``rec`` must reach (``inf``: none
        would win; 0: anything would). Needs the record's ``C`` (single objective) or its
        cost indicators (multi-objective)."""
        return self._target(self._finished_trials(study), rec, len(study.directions) > 1)

    def decide(self, study: optuna.Study, number: int, curve: Sequence[float],
               rec: TrialRecord, max_epochs: int | None = None) -> StopDecision:
        """Judge trial ``number`` after ``len(curve)`` epochs (its normalized performance
        per epoch), at the cost recorded in ``rec``."""
        n = len(curve)
        t_max = max_epochs or self.max_epochs
        if t_max and n not in self.rungs(t_max):  # off a rung: the study is not read
            return StopDecision(False, None, math.nan, reason="not at a rung")
        finished = self._finished_trials(study)
        t_max = t_max or max((len(f.curve) for f in finished if f.trained), default=0)
        if not t_max or n not in self.rungs(t_max):
            return StopDecision(False, None, math.nan, reason="not at a rung")
        target = self._target(finished, rec, len(study.directions) > 1)
        curves = [f.curve for f in finished if f.trained and len(f.curve) > 0]
        ceiling = max(1.0, max((float(np.max(c)) for c in curves), default=1.0))
        return self._judge(n, list(curve), target, t_max, curves, ceiling)

    # ------------------------------------------------------------------ internals
    def _finished_trials(self, study: optuna.Study) -> list[_Finished]:
        out = []
        key0 = study.study_name
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            # a finished trial never changes; its start time tells apart two studies of
            # one name (two in-memory storages) that a pruner object may serve in turn
            key = (key0, t.number, t.datetime_start)
            if key not in self._finished:
                self._finished[key] = self._parse(t)
            f = self._finished[key]
            if f is not None:
                out.append(f)
        return out

    def _parse(self, t: FrozenTrial) -> _Finished | None:
        rec = TrialRecord.from_user_attrs(t.user_attrs,
                                          () if self.spec is None else self.spec.cost_names)
        if rec.status != Status.TRAINED:
            return None
        curve = np.asarray(rec.curve or [], dtype=float)
        return _Finished(curve, rec.trained is True, rec.A, rec.C, dict(rec.costs), rec.e_beta)

    def _target(self, finished: list[_Finished], rec: TrialRecord, multi: bool) -> float:
        spec = self.spec
        if spec is None or rec.C is None:
            return math.nan
        gates = {"a_min": spec.a_min, "c_max": math.inf}  # the candidate passed its budgets
        trained = [f for f in finished if f.trained and f.a is not None]
        if not multi:
            inc = max((f.e_beta for f in trained if f.e_beta is not None), default=None)
            if inc is None:
                return math.nan
            return perf_to_beat(inc, rec.C, beta2=spec.beta2, **gates)
        names = [c.name for c in spec.costs if c.weight > 0.0]
        mine = [rec.costs.get(n) for n in names]
        if any(v is None for v in mine) or not trained:
            return math.nan
        front = [(float(f.a), [f.costs[n] for n in names]) for f in trained  # type: ignore[arg-type]
                 if all(n in f.costs for n in names)]
        if not front:
            return math.nan
        need = perf_to_be_nondominated([float(v) for v in mine], front)  # type: ignore[arg-type]
        if self.beta2_range is not None:
            pairs = [(float(f.a), float(f.c)) for f in trained if f.c is not None]  # type: ignore[arg-type]
            need = max(need, perf_to_beat_some_beta2(rec.C, pairs, self.beta2_range,
                                                     a_min=spec.a_min))
        return need

    def _decide_plain(self, study: optuna.Study, number: int, n: int,
                      values: list[float]) -> StopDecision:
        """The fallback: a plain Optuna study (no effobj record, no known cost)."""
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        finals = [sign * float(t.value) for t in done if t.value is not None]
        curves = []
        for t in done:
            steps = sorted(t.intermediate_values)
            if steps:
                curves.append(np.asarray([sign * float(t.intermediate_values[s])
                                          for s in steps]))
        t_max = self.max_epochs or max((len(c) for c in curves), default=0)
        if not t_max or n not in self.rungs(t_max) or not finals:
            return StopDecision(False, None, math.nan, reason="not at a rung")
        return self._judge(n, [sign * v for v in values], max(finals), t_max, curves, None)

    def _judge(self, n: int, curve: list[float], target: float, t_max: int,
               curves: list[np.ndarray], ceiling: float | None) -> StopDecision:
        y = float(curve[-1])
        if math.isnan(target):
            return StopDecision(False, n, target, reason="no target yet (nothing trained)")
        if y >= target:
            return StopDecision(False, n, target, reason="at or above its target")
        e = n - 1
        now, fin = [], []
        for c in curves:
            last = min(t_max, len(c)) - 1
            if last <= e:
                continue
            now.append(c[e])
            fin.append(c[last])
        if not now:
            return StopDecision(False, n, target, n_curves=0.0,
                                reason="no finished curve reaches this epoch")
        yj, fj = np.asarray(now), np.asarray(fin)
        n_eff = float(len(yj))
        if ceiling is not None and y < ceiling:
            p_model, median = _chance_bounded(y, target, yj, fj, ceiling)
            gap = np.maximum(ceiling - yj, 1e-12)
            pred = y + np.clip((fj - yj) / gap, 0.0, 1.0) * (ceiling - y)
            p_count = (int(np.count_nonzero(pred >= target)) + 0.5) / (n_eff + 1.0)
            # the larger of the two: the model extrapolates past the curves seen, the count
            # guards it where shares pile up at 0 (plateaus), which a logit-Normal squeezes
            p = max(p_model, p_count)
        else:
            pred = y + (fj - yj)
            p = (int(np.count_nonzero(pred >= target)) + 0.5) / (n_eff + 1.0)
            median = float(np.median(pred))
        if n_eff < self.min_curves:
            return StopDecision(False, n, target, p, median, n_eff,
                                f"{n_eff:.0f} finished curves past this epoch, fewer than "
                                f"min_curves={self.min_curves}")
        stop = p < self.p_min
        return StopDecision(stop, n, target, p, median, n_eff,
                            f"chance {p:.3f} of reaching the target {target:.4g} by epoch "
                            f"{t_max} ({'below' if stop else 'not below'} p_min={self.p_min})")


#: the weak prior of the share model: one pseudo-curve with a unit spread on the logit scale
_PRIOR_DOF, _PRIOR_VAR = 1.0, 1.0
#: the finest share of a gap told apart (a share of 0 or 1 has no logit)
_SHARE_EPS = 1e-3


def _logit(r: Any) -> Any:
    r = np.clip(r, _SHARE_EPS, 1.0 - _SHARE_EPS)
    return np.log(r) - np.log1p(-r)


def _chance_bounded(y: float, target: float, yj: np.ndarray, fj: np.ndarray,
                    ceiling: float) -> tuple[float, float]:
    r"""The chance that a training at :math:`y` reaches ``target`` below ``ceiling``, and
    the median predicted final value, from the finished curves' shares of the gap.

    Each finished curve closed :math:`r_j = (f_j - y_j)/(U - y_j)` of its gap (a curve
    that fell counts as closing none). On the logit scale, :math:`z_j = \operatorname{logit}
    r_j`, the next share is predicted by the Normal model with a weak conjugate prior
    (one pseudo-curve of unit variance): a Student-t with :math:`\nu = n + 1` degrees of
    freedom, location :math:`\bar z`, scale
    :math:`s\sqrt{1 + 1/n}`, :math:`s^2 = (1 + \sum (z_j - \bar z)^2)/(n + 1)`. The
    training reaches the target when its share exceeds
    :math:`r^* = (A^* - y)/(U - y)`: :math:`P = 1 - F_t((\operatorname{logit} r^* - \bar
    z)/\text{scale})`. Unlike a count of the curves that would reach it, this uses how far
    beyond them the target lies, so a few curves can already say "far out of reach".
    """
    from scipy.stats import t as student_t

    gap = np.maximum(ceiling - yj, 1e-12)
    share = np.clip((fj - yj) / gap, 0.0, 1.0)
    z = _logit(share)
    n = len(z)
    zbar = float(z.mean())
    s2 = (_PRIOR_DOF * _PRIOR_VAR + float(((z - zbar) ** 2).sum())) / (_PRIOR_DOF + n)
    scale = math.sqrt(s2 * (1.0 + 1.0 / n))
    need = (target - y) / (ceiling - y)
    median = y + float(1.0 / (1.0 + math.exp(-zbar))) * (ceiling - y)
    if need >= 1.0:
        return 0.0, median
    p = float(student_t.sf((float(_logit(need)) - zbar) / scale, df=_PRIOR_DOF + n))
    return p, median


def stop_fields(decision: StopDecision, perf_ref: float) -> Mapping[str, Any]:
    """The record fields of a stop's evidence, in raw performance units."""
    pred = decision.prediction
    return {
        "stop_rung": decision.rung,
        "stop_probability": decision.probability,
        "stop_prediction": None if pred is None else pred * perf_ref,
        "target_perf": decision.target * perf_ref,
    }


#: the pruners ``effobj search --pruner`` offers
PRUNERS = ("effobj", "hyperband", "sha", "median", "none")


def make_pruner(name: str, spec: EfficiencySpec | None = None, *, mode: str = "single",
                **kwargs: Any) -> optuna.pruners.BasePruner:
    """The pruner called ``name`` (:data:`PRUNERS`), epochs as its steps.

    ``"effobj"``: :class:`EfficiencyPruner` (``kwargs`` go to it); ``"hyperband"``,
    ``"sha"``, ``"median"``: Optuna's ``HyperbandPruner``, ``SuccessiveHalvingPruner``
    and ``MedianPruner`` at their defaults (single objective only: Optuna's pruners
    cannot judge a multi-objective trial); ``"none"``: ``NopPruner``.

    Raises:
        InputError: an unknown name, or an Optuna pruner for a multi-objective study.
    """
    from effobj._validation import check_choice

    name = check_choice(name, "pruner", "make_pruner", PRUNERS)
    if name == "effobj":
        return EfficiencyPruner(spec, **kwargs)
    if name == "none":
        return optuna.pruners.NopPruner()
    if mode != "single":
        raise refusal("pruner", "make_pruner", "be 'effobj' or 'none' in a multi-objective "
                      "study (Optuna's pruners judge single-objective trials only)", repr(name))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.MedianPruner()
