r"""The Optuna objective that profiles a candidate first and trains it only if it can count.

One trial runs

.. code-block:: text

    build(trial) -> candidate -> measure(candidate) -> costs (CostReport or mapping)
        -> cost gate: over budget?       -> not trained, E_beta = 0 (the gate), cost constraint > 0
           (a latency budget: the side and whether the latency's interval cleared it recorded)
        -> upper bound E_beta(A=1, C)
           below the incumbent?          -> not trained ("hopeless"): PRUNED, no value;
                                            the bound in user_attrs["e_beta_upper_bound"]
        -> evaluate(candidate, trial, report) -> perf  (report(epoch, perf) -> pruners)
        -> spec.score(perf, costs) = E_beta, spec.constraints(perf, costs)

and records everything in the trial as one :class:`~effobj.record.TrialRecord` (see
:mod:`effobj.record`).

**What an untrained trial tells the sampler.** An untrained trial has no measured
performance, and a trial value is only ever one that was measured:

- *Over budget* (``over_budget="prune"``, the default): PRUNED, with no value, and the
  violated cost constraint recorded (optuna-dashboard shows it infeasible). Its record
  says ``status`` "over_budget", ``e_beta`` 0.0 (the cost gate's value, known from the
  measured cost whatever the performance), ``perf`` None (never measured). The samplers
  :func:`~effobj.optuna.make_sampler` makes (TPE, GP, NSGA-II, in both modes) read it
  as before, COMPLETE and infeasible at :math:`E_\beta = 0` (multi-objective: perf 0
  and its measured costs), on a read-only view (:mod:`effobj.optuna._hopeless`), so they
  learn the boundary as they did, while the storage, optuna-dashboard's history and its
  importance hold only measured values. ``over_budget="complete"`` keeps the form of
  effobj before 0.4: COMPLETE with those values stored (a perf of 0 that was never
  measured, in the multi-objective mode).
- *Hopeless* (single objective, ``hopeless="prune"``, the default): PRUNED, with no value
  and no intermediate value, its constraints feasible; the bound
  :math:`E_\beta(A{=}1, C)`, strictly below the incumbent, is in the user attributes
  (``trained`` False, ``status`` "hopeless", ``e_beta`` None, ``e_beta_upper_bound``,
  ``incumbent_e_beta``). Optuna's tools read only measured results: optuna-dashboard's
  history and its hyper-parameter importance (COMPLETE trials) leave it out, TPE ranks
  it below every completed trial (it cannot win: it belongs to the "bad" side), GP and
  NSGA-II skip it (a re-proposal of it costs a profiling run from the cache, not a
  training). ``benchmarks/bm_hopeless.py`` measures the samplers with both forms
  (``benchmarks/results/hopeless.md``). ``hopeless="complete"`` keeps the form of effobj
  before 0.3: COMPLETE with the bound as its value (optimistic, never above what it could
  score, so never ``study.best_trial``), which the dashboard shows as a result. Readers
  (the summary, ``effobj best``, the report, the sampler, the pruner) go by the
  ``status``, so both forms read alike; a hopeless record has ``trained`` False and no
  ``stop_prediction``, so it is never taken for a stopped training.

In the multi-objective mode (perf maximized, each weighted cost minimized) there is no
incumbent, so only over-budget candidates are skipped; their performance objective is
recorded as 0 (the worst), which constrained samplers ignore in favour of the violation.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import math
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast

import optuna

from effobj import record as K
from effobj._validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_real,
    refusal,
)
from effobj.errors import EffobjError, InputError, InputTypeError
from effobj.optuna import _compat
from effobj.optuna._calibration import (
    current_study,
    gate_decision,
    latency_budget_ms,
    measuring_for,
    reference_check,
    study_profiler,
)
from effobj.optuna._study import (
    Direction,
    create_study,
    objective_names,
    weighted_cost_names,
)
from effobj.optuna._write import write_record
from effobj.record import Incumbent, Status, TrialRecord, incumbent
from effobj.spec import check_spec

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["EfficiencyObjective", "Reporter", "TrialFailed", "report_epoch"]

_log = logging.getLogger("effobj.optuna")

#: ``report(epoch, perf)``: what ``evaluate`` calls after each epoch (may raise TrialPruned)
Reporter = Callable[[int, float], None]


class _QuietNanFailures(logging.Filter):
    """Drops Optuna's two warnings about a trial this objective failed on purpose ("failed
    with parameters ... The value nan is not acceptable", "failed with value nan"): the
    NaN is how a failure is handed to Optuna, the real reason is logged by effobj. A NaN
    returned by anyone else's objective is still reported."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[int] = set()  # trials failed by an EfficiencyObjective, not yet told

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if not msg.startswith("Trial "):
            return True
        head = msg[len("Trial "):].split(" ", 1)[0]
        if not head.isdigit() or int(head) not in self.numbers:
            return True
        if "failed with value nan" in msg:
            self.numbers.discard(int(head))  # the last of the two
            return False
        return "The value nan is not acceptable" not in msg


_NAN_FILTER = _QuietNanFailures()
_compat.optimize_logger().addFilter(_NAN_FILTER)

Mode = Literal["single", "multi"]


class TrialFailed(EffobjError, RuntimeError):
    """Raised by the objective (``on_error="raise"``) when a stage of the trial failed."""


class _Misconfigured(Exception):
    """Carries a configuration error past the trial's failure handling: the objective
    records it on the trial, then raises ``error`` so that the study stops."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Costs:
    """The measured costs of one candidate."""

    indicators: dict[str, float]
    #: ``CostReport.to_dict()``; ``None`` when the costs came as a plain mapping
    report: dict[str, Any] | None


def _is_finite_number(x: Any) -> bool:
    if isinstance(x, str | bytes):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _takes_reporter(fn: Callable[..., Any]) -> bool:
    """Whether ``evaluate`` accepts a third positional argument (the reporter)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins: assume the short form
        return False
    n = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n >= 3


class EfficiencyObjective:
    r"""An Optuna objective maximizing :math:`E_\beta`, training only candidates that can count.

    Args:
        spec: the :class:`~effobj.EfficiencySpec` (references, budgets, :math:`\beta^2`);
            validated here, before any trial runs.
        build: ``build(trial) -> candidate``; suggests the hyper-parameters with
            ``trial.suggest_*`` and returns what ``measure`` and ``evaluate`` take (an
            ``nn.Module`` with the default profiler).
        evaluate: ``evaluate(candidate, trial[, report]) -> perf``; trains and measures the
            performance (higher is better, in the unit of ``spec.perf_ref``). If it accepts a
            third argument it gets ``report(epoch, perf)``, which records the epoch's
            :math:`E_\beta` for Optuna's pruners and raises :class:`optuna.TrialPruned` when
            one says stop. It may return a number, a mapping with ``"perf"`` or an object
            with a ``perf`` attribute (e.g. ``effobj.spaces.TrainResult``); the extras
            ``test_perf``, ``epochs_run``, ``train_time_s`` and ``train_flops`` are recorded.
        example_inputs: inputs of the model's ``forward`` for the profiler: a tensor, a
            tuple of tensors, or ``callable(candidate) -> inputs``. Not needed with ``measure``.
        profiler: an object with ``profile(model, example_inputs) -> CostReport``
            (:class:`effobj.profiler.LocalProfiler`); ``None`` uses
            :func:`effobj.profiler.profile_model` with its defaults. The default and
            a profiler with ``with_options`` (``LocalProfiler``) measure a compensated
            latency on the study's stored latency scale and, when the spec has a budget on
            ``latency_ms``, measure on while the latency's interval contains it
            (:mod:`effobj.optuna._calibration`); other profilers are used as they are.
            Either way, with such a budget every trial records the side of it the gate
            decided and whether the decision was certain (``latency_decision``,
            ``latency_decision_certain``).
        measure: instead of a profiler, ``measure(candidate) -> costs``: a ``CostReport``
            or a mapping ``name -> value`` (e.g. a benchmark table's measured latency).
        mode: ``"single"`` maximizes :math:`E_\beta`; ``"multi"`` maximizes ``perf`` and
            minimizes each cost indicator of non-zero weight, with the same constraints.
        over_budget: ``"prune"`` (default) ends an over-budget candidate PRUNED without a
            value (its cost constraint violated; the samplers of :func:`make_sampler`
            read it as COMPLETE at :math:`E_\beta = 0`, so they learn the boundary);
            ``"complete"`` stores those values (effobj before 0.4).
        skip_hopeless: in ``"single"`` mode, skip training when
            :math:`E_\beta(A=1, C) <` incumbent :math:`-` ``hopeless_tolerance``.
        hopeless: how a skipped hopeless candidate ends: ``"prune"`` (default) PRUNED
            without a value (its bound in ``user_attrs["e_beta_upper_bound"]``), so
            Optuna's tools show no value that was never measured; ``"complete"``
            COMPLETE with the bound as its value (effobj before 0.3).
        hopeless_tolerance: margin (in E_beta) before a candidate counts as hopeless, e.g.
            to allow for latency noise; 0 skips exactly those that cannot win.
        incumbent_refresh_s: how often (seconds) the incumbent is re-read from the storage;
            in between, the best E_beta this process scored is used. A stale incumbent is
            never above the true one (it only grows), so staleness can only make a worker
            train a candidate another worker's result would have skipped, never skip one
            that could win. 0 reads the storage before every candidate.
        on_error: ``"fail"`` records why a stage raised (``user_attrs["fail_reason"]``) and
            ends the trial as FAIL while the study goes on; ``"raise"`` re-raises it
            wrapped in :class:`TrialFailed` after recording it.
        identity: ``identity(candidate) -> str``: candidates with one identity are one
            training run (e.g. a search space's ``identity(config)``); default: the
            trial's parameters as canonical JSON. Recorded as ``user_attrs["identity"]``.
        repeats: ``False`` (default) records a candidate whose identity was already
            trained in the study from that trial (status ``"repeat"``, ``repeat_of`` its
            number, the same value) instead of training it again, and waits for another
            worker that is training it right now; ``True`` trains every trial.
        weights: a :class:`~effobj.optuna._weights.WeightsKeeper`: each candidate trained
            to the end (an ``nn.Module``, or a ``SpaceCandidate``'s ``model``) has its
            ``state_dict`` saved as an Optuna artifact (``user_attrs["effobj_weights"]``)
            while it is among those that can still win (the top k per beta^2 of the
            keeper's grid); the weights of the others are removed. ``None``: none saved.

    Raises:
        InputError: a bad argument, named, before any trial runs; and, from the first
            trial (out of ``study.optimize`` and :func:`~effobj.optuna.optimize`, which
            stop), a spec naming a cost indicator the first measurement lacks: the message
            names the missing indicator(s) and the available ones. Unlike a failure of a
            stage of one trial (recorded, the study goes on), it would fail every trial.

    Example:
        >>> import optuna
        >>> from effobj import EfficiencySpec
        >>> from effobj.optuna import EfficiencyObjective
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_max=5.0,
        ...                       cost_name="size")
        >>> obj = EfficiencyObjective(
        ...     spec,
        ...     build=lambda t: t.suggest_int("size", 1, 9),
        ...     evaluate=lambda size, t: size / 10,
        ...     measure=lambda size: {"size": float(size)},
        ... )
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = obj.create_study(storage=":memory:")
        >>> study.optimize(obj, n_trials=20)
        >>> study.best_trial.user_attrs["size"] <= 5.0      # never over budget
        True
    """

    def __init__(
        self,
        spec: EfficiencySpec,
        build: Callable[[optuna.trial.Trial], Any],
        evaluate: Callable[..., Any],
        example_inputs: Any = None,
        *,
        profiler: Any = None,
        measure: Callable[[Any], Any] | None = None,
        mode: Mode = "single",
        over_budget: Literal["complete", "prune"] = "prune",
        skip_hopeless: bool = True,
        hopeless: Literal["prune", "complete"] = "prune",
        hopeless_tolerance: float = 0.0,
        incumbent_refresh_s: float = 2.0,
        on_error: Literal["fail", "raise"] = "fail",
        identity: Callable[[Any], Any] | None = None,
        repeats: bool = False,
        weights: Any = None,
    ) -> None:
        name = "EfficiencyObjective"
        spec = check_spec(spec, "spec", name)
        build = check_callable(build, "build", name)
        evaluate = check_callable(evaluate, "evaluate", name)
        measure = check_callable(measure, "measure", name, allow_none=True)
        identity = check_callable(identity, "identity", name, allow_none=True)
        if profiler is not None and not callable(getattr(profiler, "profile", None)):
            raise refusal("profiler", name, "have a profile(model, example_inputs) method",
                          type(profiler).__name__, error=InputTypeError)
        if measure is None and example_inputs is None:
            raise refusal("example_inputs", name,
                          "be given to profile the candidates unless 'measure' is given", "None")
        check_choice(mode, "mode", name, ("single", "multi"))
        check_choice(over_budget, "over_budget", name, ("complete", "prune"))
        check_choice(hopeless, "hopeless", name, ("prune", "complete"))
        check_choice(on_error, "on_error", name, ("fail", "raise"))
        skip_hopeless = check_bool(skip_hopeless, "skip_hopeless", name)
        repeats = check_bool(repeats, "repeats", name)
        hopeless_tolerance = check_real(hopeless_tolerance, "hopeless_tolerance", name, low=0.0, high=1.0)
        incumbent_refresh_s = check_real(incumbent_refresh_s, "incumbent_refresh_s", name, low=0.0)
        self.spec = spec
        self.build = build
        self.evaluate = evaluate
        self.example_inputs = example_inputs
        self.profiler = profiler
        self.measure = measure
        self.mode: Mode = mode
        self.over_budget = over_budget
        self.skip_hopeless = skip_hopeless
        self.hopeless = hopeless
        self.hopeless_tolerance = hopeless_tolerance
        self.incumbent_refresh_s = incumbent_refresh_s
        # (storage id, study id) -> [the incumbent, time of the last read]
        self._incumbents: dict[tuple[int, int], list[Any]] = {}
        #: the pruner that computes multi-objective targets when the study has none of its own
        self._target_pruner: Any = None
        self.on_error = on_error
        self.identity = identity
        self.repeats = repeats
        self.weights = weights
        #: ``params -> identity`` without building (set by objective_from_space); else built
        self.params_identity: Callable[[Mapping[str, Any]], str] | None = None
        #: a cheaper ``measure(candidate)`` for :meth:`costs_of` (e.g. counts without
        #: timing when the spec needs no latency); ``None``: the trial's own measurement
        self.cost_measure: Callable[[Any], Any] | None = None
        #: the price of one cost look-up in trainings for the effobj sampler (``None``:
        #: measured)
        self.lookup_price: float | None = None
        self._quick_cache: dict[str, dict[str, float]] = {}
        # whether a measurement provided every indicator of the spec (checked once)
        self._indicators_checked = False
        # identity -> measured costs, shared by the trials and the sampler of this process
        self._cost_cache: dict[str, tuple[_Costs, float]] = {}
        self._evaluate_takes_reporter = _takes_reporter(evaluate)
        self._cost_names: tuple[str, ...] = tuple(spec.cost_names)
        self._objective_costs: tuple[str, ...] = weighted_cost_names(spec)
        self._perf_ref = float(spec.perf_ref)
        #: the budget on ``latency_ms`` a profile decides against (``None``: none)
        self._latency_budget = latency_budget_ms(spec)
        # the order in which constraints are set, identical in every trial (GPSampler
        # stacks them per trial and needs the same count and order everywhere)
        self._constraint_names: tuple[str, ...] = tuple(
            self.spec.constraints(self._perf_ref, self._probe_costs())
        )

    # ------------------------------------------------------------------ study set-up
    @property
    def directions(self) -> list[Direction]:
        """Optuna directions of the objective values, in order."""
        return objective_names(self.spec, self.mode)[0]

    @property
    def metric_names(self) -> list[str]:
        """Names of the objective values, in order (``study.set_metric_names``)."""
        return objective_names(self.spec, self.mode)[1]

    @property
    def constraint_names(self) -> tuple[str, ...]:
        """The constraints every trial sets, in the order it sets them: the order of the
        list in ``system_attrs["constraints"]`` (Optuna's ``FrozenTrial.constraints``
        keys ``"0"``, ``"1"``, ...); ``user_attrs["constraints"]`` has them by name."""
        return self._constraint_names

    def create_study(self, **kwargs: Any) -> optuna.Study:
        """Create (or load) a study for this objective; see :func:`effobj.optuna.create_study`."""
        kwargs.setdefault("objective", self)
        return create_study(self.spec, mode=self.mode, **kwargs)

    # ------------------------------------------------------------------ the trial
    def __call__(self, trial: optuna.trial.Trial) -> float | list[float]:
        """Run one trial: build, measure, gate, train if it can count, score."""
        clock = _Clock()
        stage = "build"
        trained = False
        try:
            with clock.user():
                candidate = self.build(trial)
                ident = self._identity(candidate, trial.params)
            study = getattr(trial, "study", None)  # None for FixedTrial (debugging)
            if study is not None:
                # visible to other workers at once
                _safe_record(trial, TrialRecord(identity=ident))
            stage = "measure"
            with clock.user(), measuring_for(study):
                costs, profile_s = self._measure_once(candidate, ident)
            if study is not None:
                _register(study, ident, trial.params, costs.indicators, self._cost_names)
            cost = self._check_costs(costs.indicators)
            _, c_norm = self.spec.normalize(self._perf_ref, cost)
            bound = float(self.spec.upper_bound(cost))
            decision = gate_decision(costs.report, self._latency_budget)
            ref_ratio, ref_disturbed = reference_check(costs.report)  # 3x off: plain, flagged
            rec = TrialRecord(
                costs={name: v for name, v in costs.indicators.items() if math.isfinite(v)},
                cost_report=costs.report,
                profile_time_s=profile_s,
                C=float(c_norm),
                upper_bound=bound,
                latency_decision=None if decision is None else decision[0],
                latency_decision_certain=None if decision is None else decision[1],
                latency_reference_ratio=ref_ratio,
                latency_reference_disturbed=ref_disturbed,
            )
            cost_violation = self.spec.cost_constraints(cost)
            over = {k: v for k, v in cost_violation.items() if v > 0.0}

            if over:
                return self._skip_over_budget(trial, rec, cost, over, clock)

            if self.mode == "single" and self.skip_hopeless and study is not None:
                inc = self._incumbent(study)
                if inc is not None:
                    rec = replace(rec, incumbent=inc.e_beta)
                    if bound < inc.e_beta - self.hopeless_tolerance:
                        return self._skip_hopeless(trial, rec, cost, bound, inc, clock)

            if study is not None and not self.repeats:
                # returns with this trial's claim to train on record, or a twin to take over
                prior = _claim_training(study, trial, ident)
                if prior is not None:
                    return self._repeat(trial, rec, cost, prior, clock)

            budget = _MAX_TRAININGS.get()
            if study is not None and budget is not None:
                # a numbered slot of optimize's training budget, taken in the storage
                if not _take_training_slot(study, trial, budget):
                    return self._budget_spent(trial, study, rec, budget)

            stage = "evaluate"
            trained = True
            # with a pruner, the costs are on record while the candidate trains (pruners
            # read C); constraints are set once, at the end
            # the costs and the target are on record while the candidate trains (pruners,
            # other workers and the dashboard read them); constraints are set at the end
            rec = replace(rec, trained=True, status=Status.TRAINING,
                          target_perf=self._target_perf(study, rec))
            if study is not None:
                write_record(trial, rec)
            reporter = _EpochReporter(self, trial, cost, rec)
            try:
                with clock.user():
                    t0 = time.perf_counter()
                    if self._evaluate_takes_reporter:
                        result = self.evaluate(candidate, trial, reporter)
                    else:
                        result = self.evaluate(candidate, trial)
                    train_s = time.perf_counter() - t0
            finally:
                _REPORTERS.pop(trial, None)
            if reporter.stopped is not None:  # report_epoch said stop; evaluate returned
                raise optuna.TrialPruned(reporter.stopped)
            perf, extras = _unpack_evaluation(result)
            if self.weights is not None and study is not None:
                self._save_weights(study, trial, candidate, perf, cost)
            rec = replace(reporter.rec, status=Status.TRAINING).with_attrs(extras)
            if rec.train_time_s is None:
                rec = replace(rec, train_time_s=train_s)
            stage = "score"
            return self._score(trial, rec, perf, cost, clock)
        except optuna.TrialPruned:
            raise
        except _Misconfigured as stop:
            # a configuration error: every trial would fail the same way, so the study stops
            reason = f"{stage} failed: {stop.error}"
            _safe_record(trial, TrialRecord(status=Status.FAILED, trained=False,
                                            fail_reason=reason))
            raise stop.error from None
        except KeyboardInterrupt:
            reason = f"interrupted during {stage} (KeyboardInterrupt)"
            _safe_record(
                trial,
                TrialRecord(status=Status.INTERRUPTED, trained=trained, fail_reason=reason),
            )
            raise
        except Exception as exc:  # any failure of the user's code or of the costs
            return self._fail(trial, stage, exc, trained)

    # ------------------------------------------------------------------ candidates
    def _identity(self, candidate: Any, params: Mapping[str, Any]) -> str:
        if self.identity is not None:
            ident = self.identity(candidate)
            if not isinstance(ident, str) or not ident:
                # str(None) made every candidate one "None": 14 distinct ones became repeats
                raise _Misconfigured(InputError(
                    "The 'identity' parameter of EfficiencyObjective must return a non-empty "
                    f"string for each candidate (one per distinct training). Got {ident!r} "
                    f"({type(ident).__name__}) instead."))
            return ident
        from effobj.optuna._costs import params_identity

        return params_identity(params)

    def identity_of(self, params: Mapping[str, Any]) -> str:
        """The identity of the candidate that ``params`` build (what a trial records)."""
        if self.params_identity is not None:
            return str(self.params_identity(params))
        if self.identity is None:
            from effobj.optuna._costs import params_identity

            return params_identity(params)
        return self._identity(self.build(_fixed_trial(params)), params)

    def costs_of(self, params: Mapping[str, Any]) -> dict[str, float]:
        """The spec's cost indicators of the candidate ``params`` build, measured once.

        What :class:`~effobj.optuna.EfficiencySampler` calls to learn a candidate's cost
        before proposing it: the candidate is built from ``params`` (an
        ``optuna.trial.FixedTrial``) and measured as a trial would measure it; the result
        is kept by identity, so the trial that later runs it does not measure it again.

        Raises:
            InputError: the measurement lacks an indicator of the spec or one is invalid.
        """
        t0 = time.perf_counter()
        try:
            params = dict(params)
            candidate = self.build(_fixed_trial(params))
            ident = self._identity(candidate, params)
            if self.cost_measure is not None and ident not in self._cost_cache:
                quick = self._quick_cache.get(ident)
                if quick is None:
                    quick = self._check_costs(_as_costs(self.cost_measure(candidate)).indicators)
                    self._quick_cache[ident] = quick
                return dict(quick)
            try:
                costs, _ = self._measure_once(candidate, ident)
            except _Misconfigured as stop:
                raise stop.error from None
            return self._check_costs(costs.indicators)
        finally:
            # the sampler's look-ups are time the search spends: counted in its summary
            from effobj.optuna._costs import note_lookup_time

            note_lookup_time(current_study(), time.perf_counter() - t0)

    def _measure_once(self, candidate: Any, ident: str) -> tuple[_Costs, float]:
        """(costs, seconds it took): measured, or from this process's cache by identity
        (0 s: the time was counted where it was measured, e.g. a sampler's look-up).

        Raises:
            _Misconfigured: the first measurement lacks an indicator the spec names.
        """
        hit = self._cost_cache.get(ident)
        if hit is not None:  # measured before (e.g. by a sampler's look-up): no time now
            return hit[0], 0.0
        t0 = time.perf_counter()
        costs = self._measure(candidate)
        out = (costs, time.perf_counter() - t0)
        if not self._indicators_checked:
            self._check_indicators(costs.indicators)
        self._check_costs(costs.indicators)  # a measurement the spec refuses is not kept
        self._cost_cache[ident] = out
        return out

    def _repeat(
        self,
        trial: optuna.trial.Trial,
        rec: TrialRecord,
        cost: Mapping[str, float],
        prior: optuna.trial.FrozenTrial,
        clock: _Clock,
    ) -> float | list[float]:
        """Record a repeat of the trained trial ``prior``: its result, not trained again."""
        done = TrialRecord.from_user_attrs(prior.user_attrs)
        source = prior.number if done.repeat_of is None else done.repeat_of
        pruned = prior.state == optuna.trial.TrialState.PRUNED
        rec = replace(
            rec,
            **{name: getattr(done, name) for name in _TAKEN_OVER},
            trained=False,
            status=Status.PRUNED if pruned else Status.REPEAT,
            repeat_of=source,
            skip_reason=f"repeat of trial {source}: its result recorded, not trained again",
        )
        perf = self._perf_ref if done.perf is None else done.perf
        self._record(trial, rec, self._constraints_at(perf, cost), clock)
        if pruned:
            raise optuna.TrialPruned(rec.skip_reason)
        if self.mode == "single":
            return float(prior.value if prior.value is not None else 0.0)
        return list(prior.values or [])

    def _save_weights(self, study: optuna.Study, trial: optuna.trial.Trial, candidate: Any,
                      perf: float, cost: Mapping[str, float]) -> None:
        """Save the trained weights as an artifact; drop those that can no longer win."""
        model = getattr(candidate, "model", candidate)
        if not callable(getattr(model, "state_dict", None)):
            return  # nothing to save (a tabular space, a plain candidate)
        try:
            self.weights.offer(study, self.spec, trial, model, perf, cost)
        except Exception as exc:  # the training stands; the loss of its weights is recorded
            reason = f"{type(exc).__name__}: {exc}"
            _log.warning("Trial %d: its weights were not saved: %s", trial.number, reason)
            _safe_record(trial, TrialRecord(extras={"effobj_weights_error": reason}))

    def _budget_spent(
        self, trial: optuna.trial.Trial, study: optuna.Study, rec: TrialRecord, budget: int
    ) -> float | list[float]:
        """End a trial that found the training budget spent when it came to train: FAIL,
        status "interrupted" (re-queued by a run with trainings left), not trained; this
        worker's study stops."""
        reason = (f"not trained: the training budget (max_trainings={budget}) was spent by "
                  "other trainings of the study when this one came to train; re-run when the "
                  "search resumes with trainings left")
        _safe_record(trial, replace(rec, status=Status.INTERRUPTED, trained=False,
                                    fail_reason=reason))
        _safe_set_system(trial, K.FAIL_REASON, reason)
        _safe_set_system(trial, BUDGET_SPENT_ATTR, trial.number)
        _log.info("Trial %d: %s", trial.number, reason)
        study.stop()
        # A NaN value makes Optuna end the trial as FAIL without stopping the study (its
        # warning about the NaN is dropped: the reason is logged above).
        _NAN_FILTER.numbers.add(trial.number)
        return math.nan if self.mode == "single" else [math.nan] * len(self.directions)

    # ------------------------------------------------------------------ stages
    def _probe_costs(self) -> dict[str, float]:
        # any valid cost works to learn the constraint names: take the references
        return {name: 0.0 for name in self._cost_names}

    def _measure(self, candidate: Any) -> _Costs:
        if self.measure is not None:
            raw = self.measure(candidate)
        else:
            inputs = self.example_inputs
            if callable(inputs) and not _is_tensor_like(inputs):
                inputs = inputs(candidate)
            # with the study's latency scale and the spec's latency budget (_calibration)
            profiler = study_profiler(self.profiler, current_study(), self._latency_budget)
            if profiler is not None:
                raw = profiler.profile(candidate, inputs)
            else:
                from effobj.profiler import profile_model

                raw = profile_model(candidate, inputs)
        return _as_costs(raw)

    def _check_indicators(self, indicators: Mapping[str, float]) -> None:
        """Check the first measurement's indicator names against the spec's, once.

        A spec naming an indicator the measurement does not provide (``"latency"`` for the
        profiler's ``"latency_ms"``) is a configuration error: every trial would measure a
        candidate and fail the same way. Later measurements lacking an indicator (a
        ``measure`` mapping without a value for one candidate) fail their trial only.
        """
        missing = [n for n in self._cost_names if n not in indicators]
        if not missing:
            self._indicators_checked = True
            return
        import difflib

        available = sorted(indicators)
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
            if close:
                hints.append(f"{name!r} -> {close[0]!r}?")
        source = ("the measure function" if self.measure is not None
                  else "the profiler's CostReport.indicators()")
        raise _Misconfigured(InputError(
            f"The spec's cost indicator(s) {missing} are not among those {source} "
            f"provides: {available}."
            + (f" Did you mean {', '.join(hints)}" if hints else "")
            + (" latency_ms needs latency measured (the profiler's latency settings)."
               if "latency_ms" in missing and self.measure is None else "")
            + " Correct the spec's cost names (EfficiencySpec cost_name / costs); the "
            "study was stopped at its first measurement."
        ))

    def _check_costs(self, indicators: Mapping[str, float]) -> dict[str, float]:
        missing = [n for n in self._cost_names if n not in indicators]
        if missing:
            raise InputError(
                f"The cost measurement lacks the indicator(s) {missing} that the spec "
                f"uses; it has {sorted(indicators)}."
            )
        cost = {}
        for name in self._cost_names:
            v = indicators[name]
            if not _is_finite_number(v) or float(v) < 0.0:
                raise InputError(
                    f"The cost indicator {name!r} must be a finite number >= 0. "
                    f"Got {v!r} instead."
                )
            cost[name] = float(v)
        return cost

    def _constraints_at(self, perf: float, cost: Mapping[str, float]) -> dict[str, float]:
        cons = self.spec.constraints(perf, cost)
        return {name: float(cons[name]) for name in self._constraint_names}

    def _skip_over_budget(
        self,
        trial: optuna.trial.Trial,
        rec: TrialRecord,
        cost: Mapping[str, float],
        over: Mapping[str, float],
        clock: _Clock,
    ) -> float | list[float]:
        budgets = {f"{c.name}_max": c for c in self.spec.costs}
        parts = []
        for key, excess in over.items():
            ind = budgets.get(key)
            if ind is not None and ind.max is not None:
                parts.append(f"{ind.name} {cost[ind.name]:.4g} > max {ind.max:.4g}")
            else:
                parts.append(f"{key} exceeded by {excess:.4g} (normalized)")
        why = ", ".join(parts)
        rec = rec.skipped(Status.OVER_BUDGET, f"over budget before training ({why})", e_beta=0.0)
        self._record(trial, rec, self._constraints_at(self._perf_ref, cost), clock)
        if self.over_budget == "prune":
            raise optuna.TrialPruned(rec.skip_reason)
        if self.mode == "single":
            return 0.0
        return [0.0, *(cost[n] for n in self._objective_costs)]

    def _skip_hopeless(
        self,
        trial: optuna.trial.Trial,
        rec: TrialRecord,
        cost: Mapping[str, float],
        bound: float,
        inc: Incumbent,
        clock: _Clock,
    ) -> float:
        reason = (
            f"hopeless: E_beta upper bound {bound:.6g} < incumbent {inc.e_beta:.6g} "
            f"(trial {inc.number}); not trained, "
            + ("no value recorded (PRUNED)" if self.hopeless == "prune"
               else "value recorded = the bound")
        )
        self._record(
            trial, rec.skipped(Status.HOPELESS, reason), self._constraints_at(self._perf_ref, cost),
            clock,
        )
        if self.hopeless == "prune":
            # no trial value: Optuna's tools (dashboard history, importance, GP, NSGA-II)
            # read only measured results; the bound stays in the user_attrs
            raise optuna.TrialPruned(reason)
        return bound

    def _score(
        self,
        trial: optuna.trial.Trial,
        rec: TrialRecord,
        perf: float,
        cost: Mapping[str, float],
        clock: _Clock,
    ) -> float | list[float]:
        a_norm, _ = self.spec.normalize(perf, cost)
        e = float(self.spec.score(perf, cost))
        self._record(trial, rec.scored(perf, float(a_norm), e), self._constraints_at(perf, cost),
                     clock)
        if self.mode == "single":
            study = getattr(trial, "study", None)
            if study is not None:
                self._note_score(study, e, trial.number)
            return e
        return [perf, *(cost[n] for n in self._objective_costs)]

    def _target_perf(self, study: optuna.Study | None, rec: TrialRecord) -> float | None:
        """The raw performance the candidate of ``rec`` must reach to win at its cost
        (:mod:`effobj.targets`); ``None`` while nothing trained sets one."""
        if study is None or rec.C is None:
            return None
        if self.mode == "single":
            inc = self._incumbent(study) if self.skip_hopeless else _stored_incumbent(study)
            if inc is None:
                return None
            from effobj.targets import perf_to_beat

            a = perf_to_beat(inc.e_beta, rec.C, beta2=self.spec.beta2, a_min=self.spec.a_min)
        else:
            from effobj.optuna._early_stop import EfficiencyPruner

            pruner = study.pruner
            if not isinstance(pruner, EfficiencyPruner) or pruner.spec is None:
                # one per objective: it parses each finished trial once, not every training
                if self._target_pruner is None:
                    self._target_pruner = EfficiencyPruner(self.spec)
                pruner = self._target_pruner
            a = pruner.target(study, rec)
        return None if math.isnan(a) else a * self._perf_ref

    def _incumbent(self, study: optuna.Study) -> Incumbent | None:
        """The incumbent, from the storage at most every ``incumbent_refresh_s`` seconds."""
        key = _compat.study_key(study)
        entry = self._incumbents.get(key)
        now = time.monotonic()
        if entry is None or now - entry[1] >= self.incumbent_refresh_s:
            found = _stored_incumbent(study)
            ours = None if entry is None else entry[0]
            if ours is not None and (found is None or ours.e_beta > found.e_beta):
                found = ours  # ours, not yet visible to the query
            entry = [found, now]
            self._incumbents[key] = entry
        inc: Incumbent | None = entry[0]
        return inc

    def _note_score(self, study: optuna.Study, e: float, number: int) -> None:
        key = _compat.study_key(study)
        entry = self._incumbents.get(key)
        if entry is None:
            return  # skip_hopeless off or multi mode: nothing cached
        if entry[0] is None or e > entry[0].e_beta:
            entry[0] = Incumbent(e, number)

    def _record(
        self,
        trial: optuna.trial.Trial,
        rec: TrialRecord,
        constraints: Mapping[str, float],
        clock: _Clock,
    ) -> None:
        # everything but this one write
        write_record(trial, replace(rec, overhead_s=clock.own(), constraints=dict(constraints)))

    def _fail(
        self, trial: optuna.trial.Trial, stage: str, exc: Exception, trained: bool
    ) -> float | list[float]:
        reason = f"{stage} failed: {type(exc).__name__}: {exc}"
        _safe_record(trial, TrialRecord(status=Status.FAILED, trained=trained, fail_reason=reason))
        _safe_set_system(trial, K.FAIL_REASON, reason)
        _log.warning("Trial %d failed: %s", trial.number, reason)
        if self.on_error == "raise":
            raise TrialFailed(f"Trial {trial.number} {reason}") from exc
        # A NaN value makes Optuna end the trial as FAIL without stopping the study (its
        # warning about the NaN is dropped: the reason is logged above).
        _NAN_FILTER.numbers.add(trial.number)
        return math.nan if self.mode == "single" else [math.nan] * len(self.directions)


#: the reporter of each trial an EfficiencyObjective is training (for report_epoch)
_REPORTERS: weakref.WeakKeyDictionary[Any, _EpochReporter] = weakref.WeakKeyDictionary()


class _EpochReporter:
    """``report(epoch, perf)``: the learning curve, the target, the early-stopping call.

    Each report appends the epoch's normalized performance to the trial's ``curve``
    (epochs skipped between two reports are filled by linear interpolation), then asks
    the study's pruner: an :class:`~effobj.optuna.EfficiencyPruner` directly, with the
    candidate's cost (single and multi-objective); another Optuna pruner through
    ``trial.report(E_beta)`` and ``trial.should_prune()`` (single objective only, as
    Optuna's pruners are). A stop records the trial as PRUNED with its evidence.
    """

    def __init__(
        self,
        objective: EfficiencyObjective,
        trial: optuna.trial.Trial,
        cost: Mapping[str, float],
        rec: TrialRecord,
    ) -> None:
        self._obj = objective
        self._trial = trial
        self._cost = cost
        self.rec = rec
        self.last_perf: float | None = None
        self.last_epoch: int | None = None
        self.curve: list[float] = []
        #: the epochs of a full training, when the space or the caller says
        self.max_epochs: int | None = rec.max_epochs
        #: why training was stopped (``None``: it was not)
        self.stopped: str | None = None
        self._t0 = time.perf_counter()
        #: what _write_progress last wrote (the record written at the start holds the target)
        self._written: dict[str, Any] = {K.TARGET_PERF: rec.target_perf}
        _REPORTERS[trial] = self

    def _write_progress(self) -> None:
        """The curve so far, and the epochs and target where they changed: one storage
        write per attribute that changed (max_epochs and the target rarely do)."""
        rec = self.rec
        for key, value in ((K.CURVE, rec.curve), (K.EPOCHS_RUN, rec.epochs_run),
                           (K.MAX_EPOCHS, rec.max_epochs), (K.TARGET_PERF, rec.target_perf)):
            if value is not None and self._written.get(key) != value:
                self._trial.set_user_attr(key, value)
                self._written[key] = value

    def __call__(self, epoch: int, perf: float) -> None:
        if self.report(epoch, perf):
            raise optuna.TrialPruned(self.stopped)

    def report(self, epoch: int, perf: float, max_epochs: int | None = None) -> bool:
        """Record one epoch; whether training should stop now (recorded as PRUNED)."""
        func = "report_epoch"
        epoch = check_int(epoch, "epoch", func, low=0)
        perf = check_real(perf, "perf", func)
        if max_epochs is not None:
            self.max_epochs = check_int(max_epochs, "max_epochs", func, low=1)
        if self.last_epoch is not None and epoch <= self.last_epoch:
            raise refusal("epoch", func, f"increase from one report to the next (the last "
                          f"was {self.last_epoch})", repr(epoch))
        if self.max_epochs is not None and epoch >= self.max_epochs:
            raise refusal("epoch", func, f"be below max_epochs={self.max_epochs} (epochs "
                          "count from 0)", repr(epoch))
        if self.stopped is not None:
            return True
        a = float(self._obj.spec.normalize_perf(perf))  # refuses a negative performance
        prev = self.curve[-1] if self.curve else a
        gap = epoch - len(self.curve) + 1
        self.curve.extend(prev + (a - prev) * (i + 1) / gap for i in range(gap))
        self.last_perf, self.last_epoch = perf, epoch
        trial = self._trial
        study = getattr(trial, "study", None)
        changes: dict[str, Any] = {"curve": list(self.curve), "epochs_run": epoch + 1}
        if self.max_epochs is not None:
            changes["max_epochs"] = self.max_epochs
        self.rec = replace(self.rec, **changes)
        if study is None:
            return False
        from effobj.optuna._early_stop import EfficiencyPruner, stop_fields

        pruner = study.pruner
        reason = None
        if self._obj.mode == "single":  # E_beta per epoch: the dashboard's curves, the pruners'
            trial.report(float(self._obj.spec.score(perf, self._cost)), epoch)
        if isinstance(pruner, EfficiencyPruner):
            decision = pruner.decide(study, trial.number, self.curve, self.rec, self.max_epochs)
            if decision.rung is not None and not math.isnan(decision.target):
                self.rec = replace(self.rec, target_perf=decision.target * self._obj._perf_ref)
            if decision.stop:
                pruner.n_stopped += 1
                self.rec = replace(self.rec, **stop_fields(decision, self._obj._perf_ref))
                reason = (f"stopped after epoch {epoch} (rung {decision.rung}): "
                          f"{decision.reason}")
            self._write_progress()
        elif self._obj.mode == "single" and not isinstance(pruner, optuna.pruners.NopPruner):
            self._write_progress()
            if trial.should_prune():
                e = float(self._obj.spec.score(perf, self._cost))
                reason = f"pruned after epoch {epoch} at E_beta {e:.6g}"
        else:
            self._write_progress()
        if reason is None:
            return False
        e = float(self._obj.spec.score(perf, self._cost))
        a_norm, _ = self._obj.spec.normalize(perf, self._cost)
        rec = self.rec.scored(perf, float(a_norm), e, status=Status.PRUNED,
                              epochs_run=epoch + 1, skip_reason=reason,
                              train_time_s=time.perf_counter() - self._t0)
        self._obj._record(trial, rec, self._obj._constraints_at(perf, self._cost), _Clock())
        self.stopped = reason
        return True


def report_epoch(trial: optuna.trial.Trial, epoch: int, perf: float, *,
                 max_epochs: int | None = None) -> bool:
    r"""Report one epoch of a training; ``True`` when it should stop now.

    Call it from your own ``evaluate`` after each epoch (or every few: the epochs between
    are interpolated), with the validation performance in the spec's raw units. In a
    trial of an :class:`EfficiencyObjective` it records the learning curve and asks the
    study's pruner (an :class:`~effobj.optuna.EfficiencyPruner` in single- and
    multi-objective studies; Optuna's own pruners in single-objective ones); a stop is
    recorded at once (PRUNED, with its evidence), so ``evaluate`` only has to stop
    training and return (or raise ``optuna.TrialPruned``). In any other Optuna trial it
    is ``trial.report(perf, epoch)`` then ``trial.should_prune()``.

    Args:
        trial: the trial ``evaluate`` was given.
        epoch: the epoch just finished, from 0, increasing from one call to the next.
        perf: its validation performance (finite, >= 0).
        max_epochs: the epochs the full training would run (the pruner's rungs and the
            final epoch it predicts); once is enough. Model spaces pass their config's.

    Raises:
        InputError: ``epoch`` not increasing or not below ``max_epochs``, ``perf``
            not a finite number >= 0.

    Example:
        >>> for epoch in range(epochs):                        # doctest: +SKIP
        ...     train_one_epoch(model)
        ...     if report_epoch(trial, epoch, accuracy(model), max_epochs=epochs):
        ...         break
    """
    reporter = _REPORTERS.get(trial)
    if reporter is not None:
        return reporter.report(epoch, perf, max_epochs)
    epoch = check_int(epoch, "epoch", "report_epoch", low=0)
    perf = check_real(perf, "perf", "report_epoch")
    study = getattr(trial, "study", None)
    if study is None or len(study.directions) > 1:
        return False  # Optuna's report is single-objective only: nothing to ask
    trial.report(perf, epoch)
    return bool(trial.should_prune())


class _Clock:
    """Splits a trial's wall-clock time into the user's code and effobj's own work."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._user = 0.0

    def user(self) -> _UserSpan:
        return _UserSpan(self)

    def own(self) -> float:
        return time.perf_counter() - self._start - self._user


class _UserSpan:
    def __init__(self, clock: _Clock) -> None:
        self._clock = clock
        self._t0 = 0.0

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._clock._user += time.perf_counter() - self._t0


# ---------------------------------------------------------------------- helpers
def _fixed_trial(params: Mapping[str, Any]) -> optuna.trial.Trial:
    """A ``FixedTrial`` of ``params``, standing in for the trial ``build`` takes (it answers
    the same ``suggest_*`` calls)."""
    return cast(optuna.trial.Trial, optuna.trial.FixedTrial(dict(params)))


def _is_tensor_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _as_costs(raw: Any) -> _Costs:
    """A CostReport or a mapping name -> value, as indicators plus a JSON-able report."""
    if hasattr(raw, "indicators") and callable(raw.indicators):
        indicators = dict(raw.indicators())
        report = raw.to_dict() if callable(getattr(raw, "to_dict", None)) else dict(indicators)
    elif isinstance(raw, Mapping):
        indicators = dict(raw)
        report = None  # the indicators are recorded by name already
    else:
        raise InputTypeError(
            "The cost measurement must be a CostReport (with indicators()) or a mapping "
            f"name -> value. Got {type(raw).__name__} instead."
        )
    if K.OLD_N_PARAMS in indicators and K.N_PARAMS not in indicators:
        # a measure written before effobj 0.2 names the parameter count "params"
        indicators = {(K.N_PARAMS if k == K.OLD_N_PARAMS else k): v for k, v in indicators.items()}
    out: dict[str, float] = {}
    for k, v in indicators.items():
        if v is None or isinstance(v, bool | str | bytes):
            continue  # non-numeric extras stay in the report only
        try:
            out[str(k)] = float(v)  # NaN/inf kept: the spec's indicators are checked
        except (TypeError, ValueError):
            continue
    return _Costs(out, None if report is None else _jsonable(report))


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    if hasattr(x, "item"):
        return _jsonable(x.item())
    return str(x)


def _check_perf(perf: Any, where: str) -> float:
    if isinstance(perf, bool) or not _is_finite_number(perf):
        raise InputError(
            f"The performance returned by {where} must be a finite number. "
            f"Got {perf!r} instead."
        )
    return float(perf)


_EXTRAS = (K.TEST_PERF, K.EPOCHS_RUN, K.TRAIN_TIME_S, K.TRAIN_FLOPS)


def _unpack_evaluation(result: Any) -> tuple[float, dict[str, Any]]:
    """``evaluate``'s result as (perf, extras to record)."""
    if isinstance(result, Mapping):
        if K.PERF not in result:
            raise InputError(
                "A mapping returned by evaluate must hold the key 'perf'. "
                f"Got keys {sorted(result)} instead."
            )
        get = result.get
    elif hasattr(result, "perf") and not _is_tensor_like(result):
        def get(key: str, default: Any = None) -> Any:
            return getattr(result, key, default)
    else:
        perf = result.item() if _is_tensor_like(result) and hasattr(result, "item") else result
        return _check_perf(perf, "evaluate"), {}
    perf = _check_perf(get(K.PERF), "evaluate")
    extras = {}
    for key in _EXTRAS:
        v = get(key, None)
        if v is not None and not isinstance(v, bool) and _is_finite_number(v):
            extras[key] = float(v) if key != K.EPOCHS_RUN else int(v)
    return perf, extras


def _stored_incumbent(study: optuna.Study) -> Incumbent | None:
    """:func:`effobj.record.incumbent` of a single-objective study, read from its storage."""
    try:
        # the storage's best value, constraints or not (Study.best_trial would pick the
        # best feasible one)
        best = _compat.storage_of(study).get_best_trial(_compat.study_id(study))
    except ValueError:  # no COMPLETE trial yet
        return None
    top = incumbent([best])
    if top is not None and best.value == top.e_beta:
        return top  # the best value is a trained trial's: no trained one scores more
    # The top value is not a trained trial (only untrained ones, whose value is a bound):
    # scan the completed trials.
    return incumbent(
        study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    )


def _safe_record(trial: optuna.trial.Trial, rec: TrialRecord) -> None:
    """Write ``rec`` attribute by attribute, each one that the storage refuses skipped."""
    for key, value in rec.to_user_attrs().items():
        try:
            trial.set_user_attr(key, value)
        except Exception:  # the storage itself failing: the trial ends FAIL anyway
            _log.debug("could not record %s on trial %d", key, trial.number, exc_info=True)


def _safe_set_system(trial: optuna.trial.Trial, key: str, value: Any) -> None:
    try:
        _compat.set_trial_system_attr(trial, key, value)
    except Exception:
        _log.debug("could not record %s on trial %d", key, trial.number, exc_info=True)


#: what a repeat takes over from the trial that trained its candidate (record fields)
_TAKEN_OVER = ("perf", "A", "e_beta", "test_perf", "epochs_run", "train_flops")
#: statuses of a finished trial whose result a repeat takes over
_REUSABLE = (Status.TRAINED, Status.REPEAT, Status.PRUNED)
_WAIT_POLL_S = 0.5


def _claim_training(
    study: optuna.Study, trial: optuna.trial.Trial, ident: str
) -> optuna.trial.FrozenTrial | None:
    """Claim the training of candidate ``ident`` for ``trial``, or find a twin to take over.

    Returns a finished trial of ``study`` that trained (or repeated, or was pruned on)
    the same candidate, whose result ``trial`` takes over; or ``None`` once ``trial``'s
    claim (``user_attrs["trained"] = True``) is on record and no other running trial of
    that identity can hold one: then ``trial`` trains.

    The claim is the one-bit mutual exclusion of Burns and Lamport, over the storage's
    attributes, which every worker reads and writes: write the claim, then read the
    twins. A running twin with a claim and a lower trial number wins: this trial
    withdraws its claim and waits. A twin with a claim and a higher number is waited
    for with this trial's claim kept (the twin withdraws when it sees it, or it is
    training already and its result is taken over). Of two trials that both train,
    each would have read the other's claim after it was written; so at most one
    trains, whatever the order in which workers build, measure, and write. A trial
    whose worker died is failed as stale by the storage's heartbeat meanwhile and then
    no longer waited for; a twin that fails leaves the training to its waiters.

    Without a heartbeat a dead worker cannot be told from a slow one, so nothing is
    waited for: a twin that finished is taken over, else the candidate trains here.
    """
    heartbeat = _compat.heartbeat_enabled(_compat.storage_of(study))
    number = trial.number
    claimed = False
    while True:
        finished, lower, higher = _twins(study, ident, number)
        if finished is not None:
            if claimed:
                _safe_record(trial, TrialRecord(trained=False))
            return finished
        if not heartbeat:
            _safe_record(trial, TrialRecord(trained=True))
            return None
        if not claimed and not lower:
            _safe_record(trial, TrialRecord(trained=True))
            claimed = True
            continue  # read the twins again, now that the claim is on record
        if claimed and lower:
            _safe_record(trial, TrialRecord(trained=False))  # withdrawn; wait for it
            claimed = False
        elif claimed and not higher:
            return None
        time.sleep(_WAIT_POLL_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def _twins(
    study: optuna.Study, ident: str, number: int
) -> tuple[optuna.trial.FrozenTrial | None, bool, bool]:
    """(a finished twin to take over, a running twin with a lower number holds a claim,
    a running twin with a higher number holds a claim) for trial ``number``."""
    from optuna.trial import TrialState

    lower = higher = False
    for t in study.get_trials(
        deepcopy=False,
        states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
    ):
        rec = TrialRecord.from_user_attrs(t.user_attrs)
        if t.number == number or rec.identity != ident:
            continue
        if t.state != TrialState.RUNNING:
            if rec.status in _REUSABLE:
                return t, False, False
        elif rec.trained is True:
            lower = lower or t.number < number
            higher = higher or t.number > number
    return None, lower, higher


#: the training budget of the :func:`~effobj.optuna.optimize` call running the objective
#: (``max_trainings``; ``None``: no budget)
_MAX_TRAININGS: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "effobj_max_trainings", default=None)
#: system attribute: a trial's claim on a slot of the training budget, the trial's own
#: number (Optuna's retry callback copies system attributes into a retry, whose number
#: differs: a copied claim is no claim); ``-1`` once withdrawn
SLOT_ATTR = "effobj_training_slot"
#: system attribute of a trial the training budget stopped before training: its own number
BUDGET_SPENT_ATTR = "effobj_budget_spent"


@contextlib.contextmanager
def training_budget(max_trainings: int | None) -> Iterator[None]:
    """Within the block, an :class:`EfficiencyObjective` takes a slot of a study-wide
    budget of ``max_trainings`` trainings before it trains (``None``: no budget)."""
    token = _MAX_TRAININGS.set(max_trainings)
    try:
        yield
    finally:
        _MAX_TRAININGS.reset(token)


def counts_as_training(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a finished trial spent a training of the budget: it trained and ended
    COMPLETE or PRUNED, or FAIL with status "failed" (its training raised). A training
    stopped by Ctrl-C or SIGTERM ("interrupted") or by its worker's death (failed as
    stale) is re-run, and the re-run is the one that counts."""
    from optuna.trial import TrialState

    if t.state == TrialState.RUNNING or t.state == TrialState.WAITING:
        return False
    rec = TrialRecord.from_user_attrs(t.user_attrs, ())
    if rec.trained is not True:
        return False
    return t.state != TrialState.FAIL or rec.status == Status.FAILED


def holds_slot(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a RUNNING trial holds a claim on a slot of the training budget."""
    return t.state == optuna.trial.TrialState.RUNNING and t.system_attrs.get(SLOT_ATTR) == t.number


def _slots_taken(study: optuna.Study, number: int) -> tuple[int, int, int]:
    """(finished trainings, running trials with a lower number holding a slot claim,
    running trials with a higher number holding one) for trial ``number``."""
    from optuna.trial import TrialState

    done = lower = higher = 0
    for t in study.get_trials(
        deepcopy=False,
        states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING),
    ):
        if t.number == number:
            continue
        if t.state != TrialState.RUNNING:
            done += counts_as_training(t)
        elif holds_slot(t):
            lower += t.number < number
            higher += t.number > number
    return done, lower, higher


def _take_training_slot(study: optuna.Study, trial: optuna.trial.Trial, budget: int) -> bool:
    """Take one of the study's ``budget`` training slots for ``trial``: True once the claim
    (system attribute ``effobj_training_slot``) is on record and the trial may train;
    False (the claim withdrawn) when the study's trainings reached the budget.

    The claim protocol of :func:`_claim_training`, counted: write the claim, then read
    the finished trainings (:func:`counts_as_training`) and the running claims of lower
    and of higher trial number. A trial trains when all of them together leave a slot.
    Of any two trials that train, the one that read last saw the other's claim (each
    writes before it reads, and a trial that trains never withdraws), so the last of
    the trials that train saw every other one: the study never trains more than
    ``budget``. When the finished trainings and the lower claims fill the budget, the
    trial withdraws and waits (a lower claim may yet be interrupted, or its worker die
    and the claim go stale); when only the higher claims fill it, the trial keeps its
    claim and waits for them (a higher trial that read after this claim withdraws; one
    that read before it is training, and counts as finished once done). Waits only go
    from a claim to higher claims, so they end. The trial gives up once the finished
    trainings alone reach the budget, so none is left unused while trials come.

    Without a heartbeat a dead worker's claim never goes away, so nothing is waited for:
    the trial trains when every claim it reads leaves a slot, else gives up (never over
    the budget; a race may leave a slot unused).
    """
    heartbeat = _compat.heartbeat_enabled(_compat.storage_of(study))
    number = trial.number

    def claim(on: bool) -> None:
        # a claim must be on record before the trial reads (a failed write raises)
        _compat.set_trial_system_attr(trial, SLOT_ATTR, number if on else -1)

    claimed = False
    while True:
        done, lower, higher = _slots_taken(study, number)
        if done >= budget:
            if claimed:
                claim(False)
            return False
        if not claimed and (not heartbeat or done + lower < budget):
            claim(True)
            claimed = True
            continue  # read again, now that the claim is on record
        if claimed and done + lower + higher < budget:
            return True
        if not heartbeat:
            claim(False)
            return False
        if claimed and done + lower >= budget:
            claim(False)  # withdrawn; wait for the lower claims
            claimed = False
        time.sleep(_WAIT_POLL_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def _register(
    study: optuna.Study,
    ident: str,
    params: Mapping[str, Any],
    indicators: Mapping[str, float],
    names: Sequence[str],
) -> None:
    """Count a measured candidate in the study's cost registry (``cost_lookups``)."""
    from effobj.optuna._costs import CostRegistry

    try:
        reg = CostRegistry.of(study)
        if ident not in reg and reg.add(ident, params, {n: indicators[n] for n in names
                                                       if n in indicators}):
            reg.flush_count()
    except Exception:  # the count is bookkeeping: never fail a trial for it
        _log.debug("could not register the costs of %s", ident, exc_info=True)
