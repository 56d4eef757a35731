"""Running a study: trial budgets, the training budget, progress, resuming, the summary."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from effobj.errors import InputError
from effobj.optuna import _attrs as K
from effobj.optuna._attrs import Status

__all__ = [
    "MaxTrainingsCallback",
    "TrainingSummary",
    "optimize",
    "requeue_interrupted",
    "training_summary",
]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class TrainingSummary:
    """How much training a study did and how much it avoided.

    Attributes:
        n_trials: trials in the study (every state).
        n_complete, n_pruned, n_failed, n_running, n_waiting: trials by Optuna state.
        n_trained: candidates trained (completed or pruned during training).
        n_over_budget: candidates skipped because their cost broke a budget.
        n_hopeless: candidates skipped because their upper bound was below the incumbent.
        n_pruned_training: trained candidates stopped early by a pruner.
        trainings_avoided: ``n_over_budget + n_hopeless``.
        train_time_s: seconds spent in ``evaluate`` over all trained candidates.
        profile_time_s: seconds spent measuring costs over all candidates.
        est_train_time_saved_s: ``trainings_avoided`` times the mean training time of the
            candidates trained to the end (an estimate: skipped candidates were not run).
        best_e_beta: the best E_beta of a trained, completed trial (``None`` if none).
        best_number: its trial number.
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
        return (
            f"{self.n_trials} trials: {self.n_trained} trained "
            f"({self.n_pruned_training} pruned while training), "
            f"{self.trainings_avoided} trainings avoided ({share:.0%}: "
            f"{self.n_over_budget} over budget, {self.n_hopeless} hopeless), "
            f"{self.n_failed} failed; training {self.train_time_s:.1f} s, profiling "
            f"{self.profile_time_s:.1f} s, about {self.est_train_time_saved_s:.1f} s of "
            f"training saved; best {best}"
        )


def training_summary(study: optuna.Study | Sequence[FrozenTrial]) -> TrainingSummary:
    """Count trained, skipped and failed candidates of a study (or of its trials)."""
    trials = (
        study.get_trials(deepcopy=False) if isinstance(study, optuna.Study) else list(study)
    )
    by_state = {s: 0 for s in TrialState}
    by_status = {s: 0 for s in Status.ALL}
    train_time = 0.0
    full_train_times: list[float] = []
    profile_time = 0.0
    best: tuple[float, int] | None = None
    for t in trials:
        by_state[t.state] += 1
        ua = t.user_attrs
        status = ua.get(K.STATUS)
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        if status in by_status:
            by_status[status] += 1
        tt = ua.get(K.TRAIN_TIME_S)
        if ua.get(K.TRAINED) is True and isinstance(tt, int | float):
            train_time += float(tt)
            if status == Status.TRAINED:
                full_train_times.append(float(tt))
        pt = ua.get(K.PROFILE_TIME_S)
        if isinstance(pt, int | float):
            profile_time += float(pt)
        e = ua.get(K.E_BETA)
        if (
            t.state == TrialState.COMPLETE
            and status == Status.TRAINED
            and isinstance(e, int | float)
            and (best is None or e > best[0])
        ):
            best = (float(e), t.number)
    avoided = by_status[Status.OVER_BUDGET] + by_status[Status.HOPELESS]
    mean_train = sum(full_train_times) / len(full_train_times) if full_train_times else 0.0
    return TrainingSummary(
        n_trials=len(trials),
        n_complete=by_state[TrialState.COMPLETE],
        n_pruned=by_state[TrialState.PRUNED],
        n_failed=by_state[TrialState.FAIL],
        n_running=by_state[TrialState.RUNNING],
        n_waiting=by_state[TrialState.WAITING],
        n_trained=by_status[Status.TRAINED] + by_status[Status.PRUNED],
        n_over_budget=by_status[Status.OVER_BUDGET],
        n_hopeless=by_status[Status.HOPELESS],
        n_pruned_training=by_status[Status.PRUNED],
        trainings_avoided=avoided,
        train_time_s=train_time,
        profile_time_s=profile_time,
        est_train_time_saved_s=avoided * mean_train,
        best_e_beta=None if best is None else best[0],
        best_number=None if best is None else best[1],
    )


def _n_trained(study: optuna.Study) -> int:
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=_FINISHED + (TrialState.FAIL,))
        if t.user_attrs.get(K.TRAINED) is True
    )


class MaxTrainingsCallback:
    """Stop the study once ``max_trainings`` candidates were actually trained.

    Counts every trial of the study (all workers) whose ``trained`` attribute is True:
    completed, pruned during training, or failed during training. Skipped candidates
    (over budget, hopeless) cost profiling only and do not count.
    """

    def __init__(self, max_trainings: int) -> None:
        if isinstance(max_trainings, bool) or not isinstance(max_trainings, int) or max_trainings < 1:
            raise InputError(
                "The 'max_trainings' parameter of MaxTrainingsCallback must be an int >= 1. "
                f"Got {max_trainings!r} instead."
            )
        self.max_trainings = max_trainings

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get(K.TRAINED) is True and _n_trained(study) >= self.max_trainings:
            study.stop()


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Enqueue again the trials a Ctrl-C interrupted, once each; returns their numbers.

    A trial stopped by ``KeyboardInterrupt`` ends FAIL with ``status`` "interrupted" (the
    study stays consistent). Resuming the study runs the same parameters again as a new
    trial carrying ``user_attrs["effobj_retry_of"]`` = the interrupted trial's number.
    """
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs.get(K.RETRY_OF) for t in trials}
    out = []
    for t in trials:
        if (
            t.state == TrialState.FAIL
            and t.user_attrs.get(K.STATUS) == Status.INTERRUPTED
            and t.number not in done
            and t.params
        ):
            study.enqueue_trial(t.params, user_attrs={K.RETRY_OF: t.number})
            out.append(t.number)
    return out


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished = COMPLETE + PRUNED, running) trials of the study."""
    trials = study.get_trials(
        deepcopy=False, states=_FINISHED + (TrialState.RUNNING,)
    )
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    return len(trials) - running, running


class _Tracked:
    """Calls the objective and remembers which trial it was given."""

    def __init__(self, objective: Callable[[optuna.trial.Trial], Any]) -> None:
        self._objective = objective
        self.trial_id: int | None = None

    def __call__(self, trial: optuna.trial.Trial) -> Any:
        self.trial_id = trial._trial_id
        return self._objective(trial)


def _is_interrupt(exc: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is ``exc`` or in its chain of causes."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _close_running(
    study: optuna.Study, trial_id: int | None, interrupted: bool, exc: BaseException
) -> None:
    """A Ctrl-C (or an error) in Optuna's own code after the objective ran, e.g. in
    ``tell``, can leave the trial RUNNING: record why and end it as FAIL, as one inside
    the objective would be, so the study stays consistent and resumable."""
    if trial_id is None:
        return
    storage = study._storage
    try:
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return
        if interrupted:
            status, reason = Status.INTERRUPTED, "interrupted by Ctrl-C (KeyboardInterrupt)"
        else:
            status, reason = Status.FAILED, f"Optuna failed: {type(exc).__name__}: {exc}"
        storage.set_trial_user_attr(trial_id, K.STATUS, status)
        storage.set_trial_user_attr(trial_id, K.FAIL_REASON, reason)
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
    """A tqdm bar over the study's finished trials, with E_beta and trainings."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=min(initial, total), unit="trial",
                             dynamic_ncols=True)
        self.enabled = enabled
        self._shown = initial
        self._best: float | None = None
        self._trained = 0
        self._skipped = 0

    def start_from(self, best: float | None, trained: int, skipped: int) -> None:
        self._best, self._trained, self._skipped = best, trained, skipped

    def update(self, trial: FrozenTrial, finished: int) -> None:
        ua = trial.user_attrs
        status = ua.get(K.STATUS)
        if ua.get(K.TRAINED) is True:
            self._trained += 1
        elif status in (Status.OVER_BUDGET, Status.HOPELESS):
            self._skipped += 1
        e = ua.get(K.E_BETA)
        if status == Status.TRAINED and isinstance(e, int | float):
            self._best = e if self._best is None else max(self._best, e)
        if self._bar is not None:
            self._bar.update(max(0, finished - self._shown))
            self._shown = max(self._shown, finished)
            best = "-" if self._best is None else f"{self._best:.4f}"
            self._bar.set_postfix(best_e=best, trained=self._trained, skipped=self._skipped,
                                  refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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
) -> TrainingSummary:
    """Run a study until it holds ``n_trials`` finished trials; resumable and shareable.

    Unlike ``study.optimize(n_trials=...)``, which counts the trials of *this call*,
    ``n_trials`` is the size the study should reach: a resumed study (after Ctrl-C, or a
    crash) tops up, and several workers running this on one storage share the budget.
    Before each trial, dead workers' trials are failed and re-queued (heartbeat storages)
    and the study is counted again; a worker stops when the finished plus running trials
    reach ``n_trials`` (two workers starting in the same instant can each take the last
    slot, so a shared study can end up to ``n_workers - 1`` trials over).

    A trial that fails (build, profile or training raised) is recorded as FAIL and the
    study goes on; failed trials do not count towards ``n_trials``, but each call runs at
    most ``n_trials`` trials so a candidate that always fails cannot loop forever.

    Args:
        study: the study (:func:`effobj.optuna.create_study`).
        objective: usually an :class:`EfficiencyObjective`.
        n_trials: finished (COMPLETE or PRUNED) trials the study should hold.
        max_trainings: stop once this many candidates were trained (all workers).
        timeout: stop starting trials after this many seconds.
        progress_bar: show a tqdm progress bar.
        callbacks: Optuna callbacks, called after each trial.
        requeue: re-run trials a Ctrl-C interrupted in an earlier session.

    Returns:
        The study's :class:`TrainingSummary` at the end.

    Raises:
        KeyboardInterrupt: re-raised after the interrupted trial was recorded as FAIL
            (status "interrupted"), wherever the Ctrl-C landed (in the objective, or in
            Optuna's own ``tell``); calling ``optimize`` again resumes.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
        raise InputError(
            f"The 'n_trials' parameter of optimize must be an int >= 0. Got {n_trials!r} instead."
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InputError(
            f"The 'timeout' parameter of optimize must be a number > 0 or None. Got {timeout!r}."
        )
    cbs = list(callbacks)
    if max_trainings is not None:
        cbs.append(MaxTrainingsCallback(max_trainings))
        if _n_trained(study) >= max_trainings:
            return training_summary(study)
    if requeue:
        requeue_interrupted(study)
    import time

    t_end = None if timeout is None else time.monotonic() + float(timeout)
    finished, _ = _counts(study)
    progress = _Progress(n_trials, finished, progress_bar)
    if progress_bar:  # a resumed study: start from what it already holds
        before = training_summary(study)
        progress.start_from(before.best_e_beta, before.n_trained, before.trainings_avoided)
    study._stop_flag = False
    try:
        for _ in range(n_trials):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            finished, running = _counts(study)
            if finished + running >= n_trials or study._stop_flag:
                break
            if t_end is not None and time.monotonic() >= t_end:
                break
            holder: list[FrozenTrial] = []
            tracked = _Tracked(objective)
            try:
                study.optimize(
                    tracked,
                    n_trials=1,
                    callbacks=[*cbs, _Collect(holder)],
                    gc_after_trial=False,
                    show_progress_bar=False,
                )
            except BaseException as exc:  # Ctrl-C, or an error of the storage itself
                interrupted = _is_interrupt(exc)
                _close_running(study, tracked.trial_id, interrupted, exc)
                if interrupted and not isinstance(exc, KeyboardInterrupt):
                    # Optuna 5 turns a Ctrl-C inside `tell` into an UnboundLocalError
                    raise KeyboardInterrupt from exc
                raise
            if holder and progress.enabled:
                progress.update(holder[0], _counts(study)[0])
            if study._stop_flag:
                break
    finally:
        progress.close()
    return training_summary(study)
