"""Running a study: trial budgets, the training budget, progress, resuming, the summary."""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from effobj._validation import check_int, check_real
from effobj.optuna import _compat
from effobj.optuna._objective import (
    BUDGET_SPENT_ATTR,
    counts_as_training,
    holds_slot,
    training_budget,
)
from effobj.record import (
    FAIL_REASON,
    STUDY_SPEC,
    Status,
    TrialRecord,
    disturbed_note,
    disturbed_references,
    incumbent,
)

__all__ = [
    "CheapestCost",
    "MaxTrainingsCallback",
    "TrainingSummary",
    "optimize",
    "requeue_interrupted",
    "training_summary",
]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

#: system attribute optimize() sets on a trial it fails for a stale heartbeat: the trial's
#: own number (Optuna's retry callback copies system attributes into the retry, whose
#: number differs, so only the failed trial itself matches)
STALE_ATTR = "effobj_heartbeat_stale"
#: system attributes of Optuna's retry callback (RetryHeartbeatStaleTrialCallback)
_RETRY_OF_STALE = "failed_trial"
_RETRY_HISTORY = "retry_history"
#: seconds between two looks at the RUNNING trials while waiting for them
_POLL_S = 0.5


@dataclass(frozen=True)
class CheapestCost:
    """The lowest value of one cost indicator seen in a study, beside its budget.

    Attributes:
        name: the indicator.
        cost: the lowest value any finished candidate had, raw units.
        trial: the trial that had it.
        budget: the indicator's budget (``None`` if it has none).
    """

    name: str
    cost: float
    trial: int
    budget: float | None

    def __str__(self) -> str:
        over = "" if self.budget is None else f", budget {self.budget:.4g}"
        return f"{self.name} {self.cost:.4g} (trial {self.trial}{over})"


@dataclass(frozen=True)
class TrainingSummary:
    """How much training a study did and how much it avoided.

    Attributes:
        n_trials: trials in the study (every state).
        n_complete, n_pruned, n_running, n_waiting: trials by Optuna state.
        n_failed: FAIL trials whose build, measurement or training failed (status
            "failed", or a FAIL trial effobj did not record).
        n_interrupted: FAIL trials stopped by Ctrl-C, SIGTERM or the training budget
            (status "interrupted"): not failures, their candidates are re-run.
        n_trained: candidates trained (completed or pruned during training).
        n_over_budget: candidates skipped because their cost broke a budget.
        n_hopeless: candidates skipped because their upper bound was below the incumbent.
        n_pruned_training: trained candidates stopped early by a pruner.
        epochs_saved: epochs the stopped trainings did not run (``max_epochs`` minus
            ``epochs_run``, for trials that recorded both).
        est_stop_time_saved_s: those epochs priced at each stopped training's own seconds
            per epoch (an estimate: the epochs were not run).
        n_repeats: candidates already trained in the study (same identity), recorded from
            that trial instead of being trained again (status ``"repeat"``).
        trainings_avoided: ``n_over_budget + n_hopeless + n_repeats``.
        train_time_s: seconds spent in ``evaluate`` over all trained candidates.
        profile_time_s: seconds the trials spent measuring costs (a candidate a sampler's
            look-up measured first counts there, not here).
        lookup_time_s: seconds the sampler's cost look-ups took while choosing candidates
            (every process of the study: :func:`effobj.optuna._costs.lookup_time_s`).
        est_train_time_saved_s: ``trainings_avoided`` times the mean training time of the
            candidates trained to the end (an estimate: skipped candidates were not run).
        best_e_beta: the incumbent, the best E_beta of a trained, completed trial
            (:func:`effobj.record.incumbent`; ``None`` if none).
        best_number: its trial number.
        n_stale_failed: trials failed because their worker stopped sending heartbeats
            (killed, crashed or hung): marked by :func:`optimize` (system attribute
            ``effobj_heartbeat_stale``) or named in the ``retry_history`` of Optuna's
            retry callback.
        n_retried: re-runs of such trials (Optuna's retry callback, system attribute
            ``failed_trial``) that ran to an end (COMPLETE, PRUNED or FAIL).
        n_interrupted_pending: trials stopped by Ctrl-C or SIGTERM (status
            "interrupted", parameters drawn) whose candidate was not re-run: no re-run
            started (its re-run WAITING, or none queued: the study reached its size
            first). A run of :func:`optimize` with trials left re-runs them first.
        n_budget_stopped: trials stopped before training because ``max_trainings`` was
            spent when they came to train (another worker took the last slot; status
            "interrupted", system attribute ``effobj_budget_spent``) and not re-run: a
            run with trainings left re-runs them first.
        n_running_unresolved: RUNNING trials :func:`optimize` stopped beside without
            knowing whether their worker is alive: the storage has no heartbeat (Journal
            storage, ``heartbeat_interval=None``), or the trial never sent one. Always 0
            from :func:`training_summary`, which reads the study, not a run.
        cost_lookups: distinct candidates whose costs were measured (by trials or by
            :class:`~effobj.optuna.EfficiencySampler` while choosing), the study's
            ``cost_lookups`` attribute.
        n_latency_unconverged: finished trials whose cost report says the latency
            measurement did not reach its precision before its time cap
            (``latency_converged`` False).
        n_uncertain_decisions: finished trials whose latency gate decision was uncertain
            (``latency_decision_certain`` False: the latency's 95 % interval contained
            the spec's budget, so the candidate was trained or skipped on its median).
        latency_threads: the intra-op thread count the study's latencies were measured at
            (``effobj search --threads``; ``None``: not recorded).
        first_failure: the reason of the study's first failed trial (``None``: none).
        stopped_after_failures: set by :func:`optimize` when it stopped because this many
            trials failed in a row (``max_failures``); 0 otherwise.
        stopped_after_hopeless: set by :func:`optimize` when it stopped because this many
            candidates since the last training were hopeless (``max_hopeless``): what the
            sampler proposes can no longer beat the incumbent; 0 otherwise.
        n_latency_disturbed: finished trials whose latency profile failed the profiler's
            reference check (``latency_reference_disturbed``: the reference ratio, or the
            compensated latency over a plain probe, beyond 3x either way), so that their
            latency is a plain measurement, slower by the load of its moment.
        worst_reference_ratio: the reference ratio farthest from 1 among them (> 1: the
            machine ran that much slower than calibrated; < 1: the calibration was taken
            on a loaded machine); ``None`` when none.
        cheapest_seen: when every finished candidate was over budget (none trained), the
            cheapest value seen of each cost indicator of the study's spec, with its
            budget (:class:`CheapestCost`): how far the budget is from the space. Empty
            otherwise.
    """

    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    n_waiting: int
    n_trained: int
    n_over_budget: int
    n_hopeless: int
    n_pruned_training: int
    trainings_avoided: int
    train_time_s: float
    profile_time_s: float
    est_train_time_saved_s: float
    best_e_beta: float | None
    best_number: int | None
    n_stale_failed: int = 0
    n_retried: int = 0
    n_running_unresolved: int = 0
    n_repeats: int = 0
    cost_lookups: int = 0
    n_latency_unconverged: int = 0
    n_uncertain_decisions: int = 0
    n_latency_disturbed: int = 0
    worst_reference_ratio: float | None = None
    cheapest_seen: tuple[CheapestCost, ...] = ()
    epochs_saved: int = 0
    est_stop_time_saved_s: float = 0.0
    n_interrupted_pending: int = 0
    n_budget_stopped: int = 0
    n_interrupted: int = 0
    lookup_time_s: float = 0.0
    latency_threads: int | None = None
    first_failure: str | None = None
    stopped_after_failures: int = 0
    stopped_after_hopeless: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        candidates = self.n_trained + self.trainings_avoided
        share = self.trainings_avoided / candidates if candidates else 0.0
        best = (
            "none yet"
            if self.best_e_beta is None
            else f"E_beta {self.best_e_beta:.4f} (trial {self.best_number})"
        )
        text = (
            f"{self.n_trials} trials: {self.n_trained} trained "
            f"({self.n_pruned_training} pruned while training), "
            f"{self.trainings_avoided} trainings avoided ({share:.0%}: "
            f"{self.n_over_budget} over budget, {self.n_hopeless} hopeless"
            + (f", {self.n_repeats} repeats of trained candidates" if self.n_repeats else "")
            + "), "
            f"{self.cost_lookups} cost look-ups, "
            f"{self.n_failed} failed"
            + (f", {self.n_interrupted} interrupted" if self.n_interrupted else "")
            + f"; training {self.train_time_s:.1f} s, profiling "
            f"{self.profile_time_s:.1f} s"
            + (f", cost look-ups {self.lookup_time_s:.1f} s" if self.lookup_time_s >= 0.05
               else "")
            + f", about {self.est_train_time_saved_s:.1f} s of "
            f"training saved; best {best}"
        )
        if self.latency_threads is not None:
            n = self.latency_threads
            text += f"; latency measured at {n} thread{'s' if n != 1 else ''}"
        if self.stopped_after_failures:
            text += (f"; stopped: {self.stopped_after_failures} trials failed in a row, the "
                     f"first with: {self.first_failure}")
        if self.stopped_after_hopeless:
            text += (f"; stopped: {self.stopped_after_hopeless} candidates since the last "
                     "training were hopeless (even at perf_ref none could beat the best "
                     "E_beta), the rest over budget or repeats: the search "
                     "has converged under this spec (effobj best re-ranks it for another "
                     "beta2 or budget without new trials)")
        if self.n_pruned_training:
            n = self.n_pruned_training
            text += (f"; {n} training{'s' if n > 1 else ''} stopped early: "
                     f"{self.epochs_saved} epochs, about {self.est_stop_time_saved_s:.1f} s "
                     "of training saved")
        if self.cheapest_seen:
            text += ("; every candidate was over budget" if not self.n_failed else
                     f"; no candidate trained: {self.n_over_budget} over budget, "
                     f"{self.n_failed} failed") + ", the cheapest seen: " + ", ".join(
                str(c) for c in self.cheapest_seen
            )
        if self.n_uncertain_decisions:
            n = self.n_uncertain_decisions
            text += (f"; {n} uncertain latency gate decision{'s' if n > 1 else ''} (the "
                     "latency's interval contained the budget: judged by the median)")
        if self.n_latency_unconverged:
            n = self.n_latency_unconverged
            text += (f"; {n} latency profile{'s' if n > 1 else ''} did not converge in "
                     "the time cap (a longer one gives firmer latencies)")
        if self.n_latency_disturbed:
            text += "; " + disturbed_note(self.n_latency_disturbed, self.worst_reference_ratio)
        if self.n_stale_failed:
            n = self.n_stale_failed
            dead = "trial of a dead worker" if n == 1 else "trials of dead workers"
            if self.n_retried == n:
                text += f"; {n} {dead} failed and re-run"
            else:
                text += f"; {n} {dead} failed, {self.n_retried} re-run"
        if self.n_interrupted_pending:
            n = self.n_interrupted_pending
            text += (f"; {n} interrupted trial{'s' if n > 1 else ''} not re-run yet (a run "
                     f"with trials left re-runs {'them' if n > 1 else 'it'} first)")
        if self.n_budget_stopped:
            n = self.n_budget_stopped
            text += (f"; {n} trial{'s' if n > 1 else ''} not trained: the training budget "
                     "was spent when " + ("they" if n > 1 else "it") + " came to train "
                     "(a run with trainings left re-runs " + ("them" if n > 1 else "it")
                     + " first)")
        if self.n_running_unresolved:
            n = self.n_running_unresolved
            text += (
                f"; {n} trial{'s' if n > 1 else ''} still RUNNING with no heartbeat, left "
                "as is: without heartbeats (Journal storage, heartbeat off) a dead worker "
                "cannot be told from a slow one, so a dead worker's trial stays RUNNING "
                "and is not re-run"
            )
        return text


def training_summary(study: optuna.Study | Sequence[FrozenTrial]) -> TrainingSummary:
    """Count trained, skipped and failed candidates of a study (or of its trials)."""
    trials = (
        study.get_trials(deepcopy=False) if isinstance(study, optuna.Study) else list(study)
    )
    lookups = 0
    lookup_s = 0.0
    threads: int | None = None
    if isinstance(study, optuna.Study):
        from effobj.optuna._costs import COST_LOOKUPS, lookup_time_s
        from effobj.record import STUDY_THREADS

        n = study.user_attrs.get(COST_LOOKUPS, 0)
        lookups = int(n) if isinstance(n, int) else 0
        lookup_s = lookup_time_s(study)
        stored = study.user_attrs.get(STUDY_THREADS)
        threads = stored if isinstance(stored, int) and not isinstance(stored, bool) else None
    by_state = {s: 0 for s in TrialState}
    by_status = {s: 0 for s in Status}
    train_time = 0.0
    full_train_times: list[float] = []
    profile_time = 0.0
    unconverged = uncertain = 0
    epochs_saved, stop_saved = 0, 0.0
    retried_from: set[int] = set()  # trials a retry re-runs: failed for a stale heartbeat
    n_retried = 0
    for t in trials:
        history = t.system_attrs.get(_RETRY_HISTORY)
        if isinstance(history, list):
            retried_from.update(n for n in history if isinstance(n, int))
        if t.system_attrs.get(_RETRY_OF_STALE) is not None and t.state.is_finished():
            n_retried += 1
    pending, budget_stopped = _not_rerun(trials)
    n_stale = sum(
        1
        for t in trials
        if t.state == TrialState.FAIL
        and (t.number in retried_from or t.system_attrs.get(STALE_ATTR) == t.number)
    )
    first_failure: str | None = None
    n_interrupted = 0
    for t in trials:
        by_state[t.state] += 1
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        rec = TrialRecord.from_trial(t, ())
        if rec.status in by_status:
            by_status[Status(rec.status)] += 1
        if t.state == TrialState.FAIL:
            if rec.status == Status.INTERRUPTED:
                n_interrupted += 1
            elif first_failure is None:
                first_failure = rec.fail_reason or "(no reason recorded)"
        if rec.trained is True and rec.train_time_s is not None:
            train_time += rec.train_time_s
            if rec.status == Status.TRAINED:
                full_train_times.append(rec.train_time_s)
        if rec.profile_time_s is not None:
            profile_time += rec.profile_time_s
        if rec.status == Status.PRUNED and rec.trained is True and rec.repeat_of is None \
                and rec.max_epochs is not None and rec.epochs_run:
            left = max(0, rec.max_epochs - rec.epochs_run)
            epochs_saved += left
            if rec.train_time_s is not None:
                stop_saved += left * rec.train_time_s / rec.epochs_run
        uncertain += rec.latency_decision_certain is False
        report = rec.cost_report
        unconverged += report is not None and report.get("latency_converged") is False
    disturbed, worst_ratio = disturbed_references(
        t.user_attrs for t in trials if t.state not in (TrialState.RUNNING, TrialState.WAITING))
    best = incumbent(trials)
    avoided = (
        by_status[Status.OVER_BUDGET] + by_status[Status.HOPELESS] + by_status[Status.REPEAT]
    )
    mean_train = sum(full_train_times) / len(full_train_times) if full_train_times else 0.0
    return TrainingSummary(
        n_trials=len(trials),
        n_complete=by_state[TrialState.COMPLETE],
        n_pruned=by_state[TrialState.PRUNED],
        n_failed=by_state[TrialState.FAIL] - n_interrupted,
        n_interrupted=n_interrupted,
        lookup_time_s=lookup_s,
        latency_threads=threads,
        first_failure=first_failure,
        n_running=by_state[TrialState.RUNNING],
        n_waiting=by_state[TrialState.WAITING],
        n_trained=by_status[Status.TRAINED] + by_status[Status.PRUNED],
        n_over_budget=by_status[Status.OVER_BUDGET],
        n_hopeless=by_status[Status.HOPELESS],
        n_pruned_training=by_status[Status.PRUNED],
        trainings_avoided=avoided,
        n_repeats=by_status[Status.REPEAT],
        cost_lookups=lookups,
        n_latency_unconverged=unconverged,
        n_uncertain_decisions=uncertain,
        n_latency_disturbed=disturbed,
        worst_reference_ratio=worst_ratio,
        train_time_s=train_time,
        profile_time_s=profile_time,
        est_train_time_saved_s=avoided * mean_train,
        epochs_saved=epochs_saved,
        est_stop_time_saved_s=stop_saved,
        best_e_beta=None if best is None else best.e_beta,
        best_number=None if best is None else best.number,
        n_stale_failed=n_stale,
        n_retried=n_retried,
        n_interrupted_pending=pending,
        n_budget_stopped=budget_stopped,
        cheapest_seen=_cheapest_seen(study, trials)
        if best is None and by_status[Status.OVER_BUDGET] and not by_status[Status.TRAINED]
        + by_status[Status.PRUNED] else (),
    )


def _stopped_to_rerun(t: FrozenTrial) -> bool:
    """A trial stopped (Ctrl-C, SIGTERM, or the training budget) whose candidate a later
    trial re-runs: FAIL, status "interrupted", its parameters drawn."""
    return (
        t.state == TrialState.FAIL
        and bool(t.params)
        and TrialRecord.from_user_attrs(t.user_attrs, ()).status == Status.INTERRUPTED
    )


def _not_rerun(trials: Sequence[FrozenTrial]) -> tuple[int, int]:
    """(interrupted trials, trials the budget stopped) whose re-run has not started."""
    started = {
        TrialRecord.from_user_attrs(t.user_attrs, ()).retry_of
        for t in trials
        if t.state != TrialState.WAITING
    }
    interrupted = budget = 0
    for t in trials:
        if _stopped_to_rerun(t) and t.number not in started:
            if t.system_attrs.get(BUDGET_SPENT_ATTR) == t.number:
                budget += 1
            else:
                interrupted += 1
    return interrupted, budget


def _cheapest_seen(
    study: optuna.Study | Sequence[FrozenTrial], trials: Sequence[FrozenTrial]
) -> tuple[CheapestCost, ...]:
    """The lowest recorded value of each cost indicator of the study's stored spec."""
    stored = study.user_attrs.get(STUDY_SPEC) if isinstance(study, optuna.Study) else None
    costs = stored.get("costs") if isinstance(stored, dict) else None
    out: list[CheapestCost] = []
    for c in costs if isinstance(costs, list) else ():
        name = c.get("name") if isinstance(c, dict) else None
        if not isinstance(name, str):
            continue
        seen = [
            (float(v), t.number)
            for t in trials
            if t.state in _FINISHED
            and isinstance(v := t.user_attrs.get(name), int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
        ]
        if seen:
            cost, number = min(seen)
            budget = c.get("max")
            out.append(CheapestCost(name, cost, number,
                                    float(budget) if isinstance(budget, int | float) else None))
    return tuple(out)


def _n_trained(study: optuna.Study) -> tuple[int, int]:
    """(trainings that count against ``max_trainings``, RUNNING trials holding a slot)."""
    trials = study.get_trials(deepcopy=False, states=_FINISHED + (TrialState.FAIL,
                                                                  TrialState.RUNNING))
    return sum(counts_as_training(t) for t in trials), sum(holds_slot(t) for t in trials)


class MaxTrainingsCallback:
    """Stop the study once ``max_trainings`` candidates were actually trained.

    Counts every trial of the study (all workers) that trained a candidate: completed,
    pruned during training, or failed during training (:func:`counts_as_training`; a
    training stopped by Ctrl-C, SIGTERM or a dead worker is re-run and not counted).
    Skipped candidates (over budget, hopeless) cost profiling only and do not count.

    Alone (``study.optimize(callbacks=[...])``) it stops after the trial that reached the
    budget, so trials other workers have in flight may go over it;
    :func:`optimize` (``max_trainings``) also gives each training a slot of the budget
    before it starts, and never goes over.
    """

    def __init__(self, max_trainings: int) -> None:
        self.max_trainings = check_int(max_trainings, "max_trainings", "MaxTrainingsCallback", low=1)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if counts_as_training(trial) and _n_trained(study)[0] >= self.max_trainings:
            study.stop()


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Enqueue again the trials a Ctrl-C interrupted, once each; returns their numbers.

    A trial stopped by ``KeyboardInterrupt`` ends FAIL with ``status`` "interrupted" (the
    study stays consistent), as does one the training budget stopped before it trained.
    Each is enqueued once, as a new WAITING trial with the same parameters carrying
    ``user_attrs["effobj_retry_of"]`` = the interrupted trial's number, which Optuna's
    next ``ask`` (of any worker) runs first. :func:`optimize` calls this before each of
    its trials, so a trial interrupted in another worker is re-run in the same run.
    Two workers enqueueing in the same instant can each enqueue one re-run; the second
    then repeats the first's training instead of training again (unless ``repeats``).
    """
    trials = study.get_trials(deepcopy=False)
    done = {TrialRecord.from_user_attrs(t.user_attrs, ()).retry_of for t in trials}
    out = []
    for t in trials:
        if _stopped_to_rerun(t) and t.number not in done:
            study.enqueue_trial(t.params, user_attrs=TrialRecord(retry_of=t.number).to_user_attrs())
            out.append(t.number)
    return out


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished = COMPLETE + PRUNED, running) trials of the study."""
    trials = study.get_trials(
        deepcopy=False, states=_FINISHED + (TrialState.RUNNING,)
    )
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return len(trials) - running, running


class _Slots(NamedTuple):
    """What one read of the study says before this worker asks for a trial."""

    finished: int
    running: list[FrozenTrial]
    retry_waiting: bool  # a retry of a stale trial is WAITING
    last_id: int  # the newest trial's id (-1: none)
    waiting: set[int]  # ids of WAITING trials (one of them may be popped by the next ask)


def _slots(study: optuna.Study) -> _Slots:
    """The study's trials, read once per trial of this worker."""
    trials = study.get_trials(deepcopy=False)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    return _Slots(
        finished=sum(1 for t in trials if t.state in _FINISHED),
        running=[t for t in trials if t.state == TrialState.RUNNING],
        retry_waiting=any(t.system_attrs.get(_RETRY_OF_STALE) is not None for t in waiting),
        last_id=max((_compat.trial_id(t) for t in trials), default=-1),
        waiting={_compat.trial_id(t) for t in waiting},
    )


def _heartbeat_enabled(study: optuna.Study) -> bool:
    """Whether the study's storage has heartbeats (RDB storages unless turned off)."""
    return _compat.heartbeat_enabled(_compat.storage_of(study))


def _fail_stale(study: optuna.Study) -> list[int]:
    """``optuna.storages.fail_stale_trials``, marking each trial it fails.

    Each RUNNING trial whose heartbeat is older than the storage's grace period gets the
    system attribute ``effobj_heartbeat_stale`` (its own number) and is set to FAIL; then
    the storage's stale-trial callback (effobj's storages: Optuna's retry callback, which
    enqueues a WAITING copy) runs for each trial this process failed. Returns the numbers
    of those trials. Storages without heartbeat: nothing to do.
    """
    if not _heartbeat_enabled(study):
        return []
    storage: Any = _compat.storage_of(study)  # a heartbeat storage (Optuna's BaseHeartbeat API)
    failed = []
    for trial_id in _compat.stale_trial_ids(storage, _compat.study_id(study)):
        try:
            number = storage.get_trial_number_from_id(trial_id)
            storage.set_trial_system_attr(trial_id, STALE_ATTR, number)
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker failed it first (or it just finished)
    callback = storage.get_heartbeat_stale_trial_callback()
    numbers = []
    for trial_id in failed:
        frozen = copy.deepcopy(storage.get_trial(trial_id))
        numbers.append(frozen.number)
        if callback is not None:
            callback(study, frozen)
    return numbers


def _never_beating(study: optuna.Study, running: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The RUNNING trials that can never go stale: no heartbeat on record although they
    started more than a grace period ago (a worker opened the storage without heartbeat,
    or ran ``study.ask()`` by hand). Waiting for them could last forever."""
    # Optuna's cache wraps an RDBStorage
    backend = _compat.unwrap_cache(_compat.storage_of(study))
    if not running or not isinstance(backend, optuna.storages.RDBStorage):
        return []
    try:  # Optuna's table of heartbeats (read only)
        import sqlalchemy

        beats = _compat.rdb_models().TrialHeartbeatModel

        ids = [_compat.trial_id(t) for t in running]
        query = sqlalchemy.select(beats.trial_id).where(beats.trial_id.in_(ids))
        with backend.engine.connect() as conn:
            beating = set(conn.execute(query).scalars())
    except Exception:  # another Optuna's schema: assume every trial beats
        return []
    grace = backend.grace_period or 2 * (backend.heartbeat_interval or 0)
    old = datetime.now() - timedelta(seconds=grace)
    return [
        t
        for t in running
        if _compat.trial_id(t) not in beating
        and t.datetime_start is not None
        and t.datetime_start < old
    ]


class _Tracked:
    """Calls the objective and remembers which trial it was given."""

    def __init__(self, objective: Callable[[optuna.trial.Trial], Any]) -> None:
        self._objective = objective
        self.trial_id: int | None = None

    def __call__(self, trial: optuna.trial.Trial) -> Any:
        self.trial_id = _compat.trial_id(trial)
        try:
            return self._objective(trial)
        except KeyboardInterrupt as exc:
            _name_the_signal(trial, exc)
            raise


def _interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that is ``exc`` or in its chain of causes, if any."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _signal_of(exc: BaseException | None) -> str | None:
    """The signal behind an interrupt: effobj's command line raises
    ``KeyboardInterrupt("SIGTERM")`` on SIGTERM (a plain Ctrl-C has no argument)."""
    ki = _interrupt_in(exc)
    if ki is not None and ki.args and isinstance(ki.args[0], str) and ki.args[0].startswith("SIG"):
        return ki.args[0]
    return None


def _name_the_signal(trial: optuna.trial.Trial, exc: KeyboardInterrupt) -> None:
    """Name the signal in the reason of a trial the objective recorded as interrupted
    ("... (KeyboardInterrupt)" -> "... (SIGTERM)"); the trial is still RUNNING here."""
    sig = _signal_of(exc)
    if sig is None:
        return
    try:
        attrs = trial.storage.get_trial(_compat.trial_id(trial)).user_attrs
        rec = TrialRecord.from_user_attrs(attrs, ())
        if rec.status != Status.INTERRUPTED:
            return
        reason = rec.fail_reason
        if reason is not None and "(KeyboardInterrupt)" in reason:
            reason = reason.replace("(KeyboardInterrupt)", f"({sig})")
        else:
            reason = f"interrupted by {sig}"
        trial.set_user_attr(FAIL_REASON, reason)
    except Exception:  # the storage is gone: the objective's own reason stays
        return


def _unentered_trial(study: optuna.Study, last_id: int, waiting: set[int]) -> int | None:
    """The trial this worker's Optuna created (or popped from the queue) but never handed to
    the objective: a Ctrl-C inside ``study.ask`` leaves it RUNNING with no parameters.

    It is the one RUNNING trial that holds no parameter yet and is newer than ``last_id``
    (the newest trial before this worker asked) or was ``waiting`` in the queue then. When other workers created trials in the
    same instant there may be several: none is chosen, and the stale-heartbeat repair of
    :func:`optimize` ends ours later (a trial of another worker is never touched).
    """
    try:
        fresh = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if (_compat.trial_id(t) > last_id or _compat.trial_id(t) in waiting)
            and not t.params
        ]
    except Exception:  # the storage is gone: nothing to repair
        return None
    return _compat.trial_id(fresh[0]) if len(fresh) == 1 else None


def _stop_orphan_heartbeats(trial_id: int | None) -> None:
    """Stop the heartbeat thread Optuna started for ``trial_id`` if nothing will stop it.

    Optuna starts a trial's heartbeat in a non-daemon thread on entering a ``with`` block;
    a Ctrl-C inside that entry leaves the block unentered, so its exit (which stops the
    thread) never runs and the process hangs at exit waiting for the thread. The thread's
    loop ends when its stop event is set: it is found among the live threads by its
    target and trial id (a thread that is not Optuna's heartbeat is never touched;
    :func:`effobj.optuna._compat.stop_heartbeat_thread`).
    """
    if trial_id is None:
        return
    _compat.stop_heartbeat_thread(trial_id)


def _close_running(
    study: optuna.Study, trial_id: int | None, interrupted: bool, exc: BaseException
) -> None:
    """A Ctrl-C (or an error) in Optuna's own code after the objective ran, e.g. in
    ``tell``, can leave the trial RUNNING: record why and end it as FAIL, as one inside
    the objective would be, so the study stays consistent and resumable."""
    if trial_id is None:
        return
    storage = _compat.storage_of(study)
    try:
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return
        if interrupted:
            sig = _signal_of(exc)
            status = Status.INTERRUPTED
            reason = (
                f"interrupted by {sig} (KeyboardInterrupt)"
                if sig
                else "interrupted by Ctrl-C (KeyboardInterrupt)"
            )
        else:
            status, reason = Status.FAILED, f"Optuna failed: {type(exc).__name__}: {exc}"
        for key, value in TrialRecord(status=status, fail_reason=reason).to_user_attrs().items():
            storage.set_trial_user_attr(trial_id, key, value)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except Exception:  # finished meanwhile, or the storage is gone: nothing to repair
        return


class _Collect:
    """An Optuna callback keeping the finished trial."""

    def __init__(self, into: list[FrozenTrial]) -> None:
        self._into = into

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._into.append(trial)


class _Progress:
    """Progress over the study's finished trials, with E_beta and trainings: a tqdm bar on
    a terminal, one line per trial otherwise (a log file gets lines, not one ``\\r`` line).

    Counted as :func:`training_summary` counts: ``trained`` are candidates trained to an
    outcome (status trained or pruned), ``skipped`` over budget or hopeless, ``failed``
    the failures (interrupted trials are not failures).
    """

    def __init__(self, total: int, initial: int, enabled: bool, stream: Any = None) -> None:
        import sys

        self._bar = None
        self._stream = sys.stderr if stream is None else stream
        self._lines = False
        if enabled:
            isatty = getattr(self._stream, "isatty", None)
            if callable(isatty) and isatty():
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, initial=min(initial, total), unit="trial",
                                 dynamic_ncols=True, file=self._stream)
            else:
                self._lines = True
        self.enabled = enabled
        self._total = total
        self._shown = initial
        self._best: float | None = None
        self._trained = 0
        self._skipped = 0
        self._failed = 0

    def start_from(self, best: float | None, trained: int, skipped: int, failed: int = 0) -> None:
        self._best, self._trained, self._skipped = best, trained, skipped
        self._failed = failed

    def update(self, trial: FrozenTrial, finished: int) -> None:
        rec = TrialRecord.from_user_attrs(trial.user_attrs, ())
        if trial.state == TrialState.FAIL:
            if rec.status != Status.INTERRUPTED:
                self._failed += 1
        elif rec.status in (Status.TRAINED, Status.PRUNED):
            self._trained += 1
        elif rec.status in (Status.OVER_BUDGET, Status.HOPELESS, Status.REPEAT):
            self._skipped += 1
        found = incumbent([trial])
        if found is not None:
            self._best = found.e_beta if self._best is None else max(self._best, found.e_beta)
        best = "-" if self._best is None else f"{self._best:.4f}"
        if self._bar is not None:
            self._bar.update(max(0, finished - self._shown))
            self._shown = max(self._shown, finished)
            self._bar.set_postfix(best_e=best, trained=self._trained, skipped=self._skipped,
                                  failed=self._failed, refresh=False)
        elif self._lines:
            what = "failed" if trial.state == TrialState.FAIL and \
                rec.status != Status.INTERRUPTED else str(rec.status or trial.state.name.lower())
            print(f"trial {trial.number} {what}: {min(finished, self._total)}/{self._total} "
                  f"finished, best E_beta {best}, trained {self._trained}, skipped "
                  f"{self._skipped}, failed {self._failed}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _pause(t_end: float | None) -> None:
    """Sleep about one poll interval (workers out of step), not past ``t_end``."""
    pause = _POLL_S * random.uniform(0.8, 1.2)
    if t_end is not None:
        pause = min(pause, max(0.0, t_end - time.monotonic()))
    time.sleep(pause)


def optimize(
    study: optuna.Study,
    objective: Callable[[optuna.trial.Trial], Any],
    n_trials: int,
    *,
    max_trainings: int | None = None,
    timeout: float | None = None,
    progress_bar: bool = False,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    requeue: bool = True,
    max_failures: int | None = 5,
    max_hopeless: int | None = 50,
) -> TrainingSummary:
    """Run a study until it holds ``n_trials`` finished trials; resumable and shareable.

    Unlike ``study.optimize(n_trials=...)``, which counts the trials of *this call*,
    ``n_trials`` is the size the study should reach: a resumed study (after Ctrl-C, or a
    crash) tops up, and several workers running this on one storage share the budget.
    Before each trial, dead workers' trials are failed and re-queued (heartbeat storages)
    and the study is counted again; a worker starts a trial while the finished plus
    running trials are fewer than ``n_trials`` (two workers starting in the same instant
    can each take the last slot, so a shared study can end up to ``n_workers - 1`` trials
    over).

    **Dead workers.** When every remaining slot is held by RUNNING trials of other
    workers, this call does not end: it looks at them every half second until each one
    either finished (a live worker) or went stale (its worker was killed: no heartbeat
    for the storage's grace period) and was failed; Optuna's retry callback (set up by
    :func:`effobj.optuna.resolve_storage`) enqueues a copy of a stale trial, which this
    call then runs, so the study reaches ``n_trials`` in the same run. ``timeout`` bounds
    the wait. A storage without heartbeat (Journal, ``heartbeat_interval=None``) cannot
    tell a dead worker from a slow one: there the call ends beside the RUNNING trials and
    the summary says so (``n_running_unresolved``), as it does for a RUNNING trial that
    never sent a heartbeat.

    A trial that fails (build, profile or training raised) is recorded as FAIL and the
    study goes on; failed trials do not count towards ``n_trials``, but each call runs at
    most ``n_trials`` trials (re-runs of dead workers' trials aside) so a candidate that
    always fails cannot loop forever.

    Args:
        study: the study (:func:`effobj.optuna.create_study`).
        objective: usually an :class:`EfficiencyObjective`.
        n_trials: finished (COMPLETE or PRUNED) trials the study should hold.
        max_trainings: train at most this many candidates (all workers, all runs;
            :func:`counts_as_training`). Each training takes a numbered slot of the
            budget in the storage before it starts, so workers racing for the last
            trainings never go over; a trial that finds the budget spent when it comes
            to train ends FAIL untrained (status "interrupted", re-run by a run with
            trainings left) and this worker stops. While the last trainings are under
            way in other workers, this call waits for them (as for ``n_trials``).
        timeout: stop starting trials, and waiting for other workers' trials, after this
            many seconds.
        progress_bar: show progress: a tqdm bar when standard error is a terminal, one
            line per finished trial otherwise (a log file).
        callbacks: Optuna callbacks, called after each trial.
        requeue: re-run trials a Ctrl-C or SIGTERM interrupted (in an earlier session,
            or in another worker during this run): before each trial of this call,
            :func:`requeue_interrupted` enqueues them, and the trial runs the re-run.
            One the study reached its size without is counted in the summary
            (``n_interrupted_pending``).
        max_failures: stop once this many trials of this call failed in a row (a broken
            space or evaluate fails every candidate alike); the summary's
            ``stopped_after_failures`` and ``first_failure`` say so. ``None``: never.
        max_hopeless: stop once this many candidates of this call were hopeless (not
            trained: their :math:`E_\beta` upper bound is below the incumbent) with no
            training between them (over-budget candidates and repeats may be), rather
            than spin on profiling candidates that cannot win; the summary's
            ``stopped_after_hopeless`` says so. ``None``: never.

    Returns:
        The study's :class:`TrainingSummary` at the end, with ``n_running_unresolved``
        set by this run.

    Raises:
        KeyboardInterrupt: re-raised after the interrupted trial was recorded as FAIL
            (status "interrupted"), wherever the Ctrl-C landed (in the objective, or in
            Optuna's own ``tell``; while waiting for other workers no trial is open);
            calling ``optimize`` again resumes. A ``KeyboardInterrupt("SIGTERM")`` (what
            ``effobj``'s command line raises on SIGTERM) is recorded the same way, its
            reason naming the signal.
    """
    n_trials = check_int(n_trials, "n_trials", "optimize", low=0)
    timeout = check_real(timeout, "timeout", "optimize", low=0.0, low_open=True, allow_none=True)
    max_failures = check_int(max_failures, "max_failures", "optimize", low=1, allow_none=True)
    max_hopeless = check_int(max_hopeless, "max_hopeless", "optimize", low=1, allow_none=True)
    hopeless_in_row = 0
    failures_in_row = 0
    first_in_row: str | None = None  # the reason of the first of those failures
    cbs = list(callbacks)
    if max_trainings is not None:
        cbs.append(MaxTrainingsCallback(max_trainings))
        if _n_trained(study)[0] >= max_trainings:
            return training_summary(study)

    t_end = None if timeout is None else time.monotonic() + float(timeout)
    heartbeat = _heartbeat_enabled(study)
    finished, _ = _counts(study)
    progress = _Progress(n_trials, finished, progress_bar)
    if progress_bar:  # a resumed study: start from what it already holds
        before = training_summary(study)
        progress.start_from(before.best_e_beta, before.n_trained, before.trainings_avoided,
                            before.n_failed)
    ran = 0  # trials this call started, re-runs of dead workers' trials aside
    unresolved = 0
    stopped = False  # study.stop() called during the last trial (by a callback, the objective)
    try:
        while not stopped:
            _fail_stale(study)
            if t_end is not None and time.monotonic() >= t_end:
                break
            if max_trainings is not None:
                done, claimed = _n_trained(study)  # other workers' trainings count too
                if done >= max_trainings:
                    break
                if done + claimed >= max_trainings:
                    # the last trainings are under way in other workers: wait until
                    # they end (or go stale) rather than start a trial with no slot
                    if not heartbeat:
                        break  # nothing can say whether their workers live
                    _pause(t_end)
                    continue
            slots = _slots(study)
            finished, running, retry_waiting = slots.finished, slots.running, slots.retry_waiting
            if finished >= n_trials:
                break
            if finished + len(running) >= n_trials:
                # every slot is held by another worker's RUNNING trial: wait until it
                # finishes or goes stale, unless nothing can ever say it is dead
                unknown = running if not heartbeat else _never_beating(study, running)
                if len(unknown) == len(running):
                    unresolved = len(unknown)
                    break
                _pause(t_end)
                continue
            if ran >= n_trials and not retry_waiting:
                break
            if requeue:  # now that this worker asks: the re-run is the trial it gets
                requeue_interrupted(study)
            holder: list[FrozenTrial] = []
            tracked = _Tracked(objective)
            try:
                with training_budget(max_trainings):
                    study.optimize(
                        tracked,
                        n_trials=1,
                        callbacks=[*cbs, _Collect(holder)],
                        gc_after_trial=False,
                        show_progress_bar=False,
                    )
                # Optuna clears the flag as its optimize starts, so it tells of this trial
                stopped = _compat.stop_requested(study)
            except BaseException as exc:  # Ctrl-C, or an error of the storage itself
                interrupt = _interrupt_in(exc)
                trial_id = tracked.trial_id
                if trial_id is None:  # stopped inside Optuna's ask, before the objective
                    trial_id = _unentered_trial(study, slots.last_id, slots.waiting)
                _close_running(study, trial_id, interrupt is not None, exc)
                _stop_orphan_heartbeats(trial_id)
                if interrupt is not None and interrupt is not exc:
                    # Optuna 5 turns a Ctrl-C inside `tell` into an UnboundLocalError
                    raise KeyboardInterrupt(*interrupt.args) from exc
                raise
            if not (holder and holder[0].system_attrs.get(_RETRY_OF_STALE) is not None):
                ran += 1
            if holder and progress.enabled:
                progress.update(holder[0], _counts(study)[0])
            if holder:
                rec = TrialRecord.from_user_attrs(holder[0].user_attrs, ())
                if holder[0].state == TrialState.FAIL and rec.status != Status.INTERRUPTED:
                    failures_in_row += 1
                    if failures_in_row == 1:
                        first_in_row = rec.fail_reason or "(no reason recorded)"
                    if max_failures is not None and failures_in_row >= max_failures:
                        break
                else:
                    failures_in_row = 0
                if rec.status == Status.HOPELESS:
                    hopeless_in_row += 1
                    if max_hopeless is not None and hopeless_in_row >= max_hopeless:
                        break
                elif rec.trained is True:  # over budget and repeats: neither
                    hopeless_in_row = 0
    finally:
        progress.close()
    summary = training_summary(study)
    if unresolved:
        summary = replace(summary, n_running_unresolved=min(unresolved, summary.n_running))
    if max_failures is not None and failures_in_row >= max_failures:
        summary = replace(summary, stopped_after_failures=failures_in_row,
                          first_failure=first_in_row)
    if max_hopeless is not None and hopeless_in_row >= max_hopeless:
        summary = replace(summary, stopped_after_hopeless=hopeless_in_row)
    return summary
