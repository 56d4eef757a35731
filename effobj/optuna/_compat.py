"""Every use of a private Optuna name, in one module.

effobj needs a few things Optuna's public API does not give: a study's storage and id
(for study *system* attributes, which ``optuna.Study`` no longer reads or writes), a
trial's id (for the storage's per-trial calls), the RDB storage under Optuna's cache and
its tables (one-transaction writes, one-query reads), heartbeats, the stop flag of
``study.stop()``, the study view Optuna's samplers read, and the name of Optuna's
optimize logger. Each is a small function here, with why no public call does it and the
Optuna versions it was checked on; the rest of effobj calls these functions and never
touches a name starting with ``_`` of Optuna (``tests/optuna_tests/test_optuna_compat.py``
checks every file of the package for that). When a new Optuna moves one of these
internals, this module is the one to change.

Checked on Optuna 5.0.0 and 5.1.0 (the oldest supported and the newest; CI runs the test
suite on both). "Checked" means: the name exists with the signature and meaning used
here in both versions' source, and the tests of this module pass on both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Container, Generator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "OPTIMIZE_LOGGER",
    "TrialsView",
    "cached_frozen_trial",
    "heartbeat_enabled",
    "optimize_logger",
    "rdb_models",
    "scoped_session",
    "set_study_system_attr",
    "set_trial_attr_without_commit",
    "set_trial_system_attr",
    "stale_trial_ids",
    "stop_heartbeat_thread",
    "stop_requested",
    "storage_of",
    "study_id",
    "study_key",
    "study_system_attrs",
    "study_trials",
    "trial_id",
    "unwrap_cache",
]


# ---------------------------------------------------------------------------- studies
def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes (Optuna's cache layer over an RDB storage).

    Private: ``Study._storage``. No public attribute gives a study's storage, and a study
    loaded by name (``optuna.load_study``, a sampler's ``study`` argument) comes without
    the object its creator passed. Checked on Optuna 5.0.0 and 5.1.0.
    """
    storage: BaseStorage = study._storage
    return storage


def study_id(study: optuna.Study) -> int:
    """The study's id in its storage (what every ``BaseStorage`` call takes).

    Private: ``Study._study_id``. The public way,
    ``storage.get_study_id_from_name(study.study_name)``, is one more query of the
    database per call. Checked on Optuna 5.0.0 and 5.1.0.
    """
    return int(study._study_id)


def study_key(study: optuna.Study) -> tuple[int, int]:
    """A key of the study within this process: (``id`` of its storage object, its id).

    Two ``Study`` objects of one study opened through one storage object share it; the
    same study opened twice (two storage objects) does not.
    """
    return id(storage_of(study)), study_id(study)


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's system attributes (effobj's latency scales, cost registry, look-up times).

    Optuna 5's ``Study`` has no ``system_attrs`` (deprecated in 3.1, since removed): only
    ``BaseStorage.get_study_system_attrs`` (public) reads them, and it needs
    :func:`storage_of` and :func:`study_id`.
    """
    return storage_of(study).get_study_system_attrs(study_id(study))


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    """Write one system attribute of the study (see :func:`study_system_attrs`).

    Optuna 5's ``Study`` has no ``set_system_attr`` (deprecated in 3.1, since removed);
    ``BaseStorage.set_study_system_attr`` is public and needs the private storage and id.
    """
    storage_of(study).set_study_system_attr(study_id(study), key, value)


def study_trials(
    study: Any, deepcopy: bool = True, states: Container[TrialState] | None = None,
    use_cache: bool = False,
) -> list[FrozenTrial]:
    """``Study._get_trials``: the trials, read through the study's per-thread cache when
    ``use_cache`` (what Optuna's samplers ask for while a trial is proposed).

    Private: ``Study._get_trials``. The public ``Study.get_trials`` is the same call
    with ``use_cache=False``; a view of a study that stands in for it toward a sampler
    (:class:`TrialsView`) must pass the sampler's ``use_cache`` on. Checked on Optuna
    5.0.0 and 5.1.0 (same signature).
    """
    trials: list[FrozenTrial] = study._get_trials(
        deepcopy=deepcopy, states=states, use_cache=use_cache
    )
    return trials


class TrialsView:
    """A study as Optuna's samplers read it, with its trials as :meth:`read_trials` gives.

    Optuna's samplers read a study's trials through ``Study._get_trials`` (private) and
    ``get_trials``; everything else is the wrapped study's own (attribute look-ups go
    through). Subclasses override :meth:`read_trials`, which by default reads the
    wrapped study's trials unchanged.

    Private: defining ``_get_trials``, which the samplers call (TPE, GP, NSGA-II, random,
    and ``optuna.search_space.IntersectionSearchSpace``). There is no public hook for
    what a sampler sees. Checked on Optuna 5.0.0 and 5.1.0.
    """

    def __init__(self, study: optuna.Study) -> None:
        self._wrapped = study

    @property
    def wrapped(self) -> optuna.Study:
        """The study this view shows."""
        return self._wrapped

    def __getattr__(self, name: str) -> Any:
        if name == "_wrapped":  # not set yet (e.g. while copying): no recursion
            raise AttributeError(name)
        return getattr(self._wrapped, name)

    def read_trials(
        self, deepcopy: bool, states: Container[TrialState] | None, use_cache: bool
    ) -> list[FrozenTrial]:
        """The trials the sampler sees (override this)."""
        return study_trials(self._wrapped, deepcopy=deepcopy, states=states,
                            use_cache=use_cache)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return self.read_trials(deepcopy, states, use_cache)

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """``Study.get_trials`` of the view."""
        return self.read_trials(deepcopy, states, False)

    @property
    def trials(self) -> list[FrozenTrial]:
        """``Study.trials`` of the view."""
        return self.get_trials()


def stop_requested(study: optuna.Study) -> bool:
    """Whether ``study.stop()`` was called during the study's last ``optimize`` call.

    Private: ``Study._stop_flag``. ``Study.stop()`` is public but only sets it; Optuna
    clears it when ``optimize`` starts and reads it between trials, with no public
    reader. effobj's own loop (:func:`effobj.optuna.optimize`, one trial per Optuna
    ``optimize`` call) reads it after each call, so a callback's ``study.stop()`` ends
    that loop too. Checked on Optuna 5.0.0 and 5.1.0.
    """
    return bool(study._stop_flag)


# ---------------------------------------------------------------------------- trials
def trial_id(trial: optuna.trial.Trial | FrozenTrial) -> int:
    """The trial's id in its storage (what every per-trial ``BaseStorage`` call takes).

    Private: ``Trial._trial_id`` / ``FrozenTrial._trial_id``. The public way,
    ``storage.get_trial_id_from_study_id_trial_number(study_id, number)``, needs the
    (private) study id and one more query. Checked on Optuna 5.0.0 and 5.1.0.
    """
    return int(trial._trial_id)


def set_trial_system_attr(trial: optuna.trial.Trial, key: str, value: Any) -> None:
    """Write one system attribute of a running trial.

    Optuna 5's ``Trial`` has no ``set_system_attr`` (deprecated in 3.1, since removed);
    ``trial.storage`` and ``BaseStorage.set_trial_system_attr`` are public, the trial's id
    is not (:func:`trial_id`).
    """
    trial.storage.set_trial_system_attr(trial_id(trial), key, value)


def cached_frozen_trial(trial: Any) -> FrozenTrial | None:
    """The copy of the trial an ``optuna.trial.Trial`` keeps and reads its attributes
    from (``trial.user_attrs``, ``trial.system_attrs`` of its study's samplers), or
    ``None`` for other trials (``FixedTrial``, a trial whose class lacks it).

    Private: ``Trial._cached_frozen_trial``. Optuna's own ``set_user_attr`` and
    ``set_constraint`` update it after writing; a write that goes around them (one
    transaction for many attributes, :mod:`effobj.optuna._write`) must too, or the
    trial would read stale attributes. Checked on Optuna 5.0.0 and 5.1.0.
    """
    cached = getattr(trial, "_cached_frozen_trial", None)
    return cached if isinstance(cached, FrozenTrial) else None


# ---------------------------------------------------------------------------- storages
def unwrap_cache(storage: Any) -> Any:
    """The storage under Optuna's cache layer (``optuna.create_study`` wraps every
    ``RDBStorage`` in one), or ``storage`` itself.

    Private: the class ``optuna.storages._CachedStorage`` and its ``_backend``. The RDB
    storage's engine and tables are reached only through it; no public call unwraps it.
    Checked on Optuna 5.0.0 and 5.1.0.
    """
    if isinstance(storage, optuna.storages._CachedStorage):
        return storage._backend
    return storage


def rdb_models() -> ModuleType:
    """Optuna's SQLAlchemy models of the RDB schema (``TrialModel``,
    ``TrialUserAttributeModel``, ``TrialHeartbeatModel``, ``VersionInfoModel``, ...).

    Private: the module ``optuna.storages._rdb.models``. The tables are Optuna's schema
    (versioned by its migrations, public through ``optuna storage upgrade``); the models
    that map them have no public import. Raises ``ImportError`` where it moved: callers
    fall back to public calls. Checked on Optuna 5.0.0 and 5.1.0 (5.1.0 adds type
    annotations; the tables and columns are the same).
    """
    from optuna.storages._rdb import models

    return models


@contextmanager
def scoped_session(
    rdb: optuna.storages.RDBStorage, ignore_integrity_error: bool = False
) -> Generator[Any, None, None]:
    """A session of the RDB storage, committed at the end (rolled back on an error), as
    Optuna's own writes use it.

    Private: ``optuna.storages._rdb.storage._create_scoped_session``, over the public
    ``RDBStorage.scoped_session``; it also turns SQLAlchemy errors into Optuna's
    ``StorageInternalError`` like every write of the storage. Checked on Optuna 5.0.0
    and 5.1.0.
    """
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session, ignore_integrity_error) as session:
        yield session


def set_trial_attr_without_commit(
    rdb: optuna.storages.RDBStorage, session: Any, model_cls: Any, trial_id: int, key: str,
    value: Any,
) -> None:
    """Upsert one trial attribute (user or system, by ``model_cls``) inside ``session``,
    checking that the trial is still running, without committing: the storage's own
    per-attribute write for the databases whose upsert effobj does not write itself
    (e.g. MySQL).

    Private: ``RDBStorage._set_trial_attr_without_commit``. The public
    ``set_trial_user_attr`` commits once per attribute. Checked on Optuna 5.0.0 and 5.1.0.
    """
    rdb._set_trial_attr_without_commit(session, model_cls, trial_id, key, value)


# ---------------------------------------------------------------------------- heartbeats
def heartbeat_enabled(storage: BaseStorage) -> bool:
    """Whether the storage records heartbeats (RDB storages opened with a
    ``heartbeat_interval``; the cache layer over one).

    Private: ``optuna.storages._heartbeat.is_heartbeat_enabled`` (the test that
    ``optuna.storages.fail_stale_trials`` makes); the class it checks, ``BaseHeartbeat``,
    is private too. Checked on Optuna 5.0.0 and 5.1.0.
    """
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return bool(is_heartbeat_enabled(storage))


def stale_trial_ids(storage: BaseStorage, study_id: int) -> list[int]:
    """The ids of the study's RUNNING trials whose heartbeat is older than the storage's
    grace period (a heartbeat storage: :func:`heartbeat_enabled`).

    Private: ``BaseHeartbeat._get_stale_trial_ids``. The public
    ``optuna.storages.fail_stale_trials`` fails those trials but neither says which nor
    lets effobj mark them first (``effobj_heartbeat_stale``). Checked on Optuna 5.0.0
    and 5.1.0.
    """
    heartbeat: Any = storage
    return list(heartbeat._get_stale_trial_ids(study_id))


def stop_heartbeat_thread(trial_id: int) -> None:
    """Stop the heartbeat thread Optuna started for ``trial_id``, if one is alive.

    Optuna starts it (non-daemon) on entering a ``with`` block; a Ctrl-C inside that
    entry leaves the block unentered, so the exit that stops it never runs and the
    process hangs at exit. The thread is found among the live threads by its target
    and arguments (a thread that is not Optuna's heartbeat is never touched), and its
    stop event is set.

    Private: ``optuna.storages._heartbeat.HeartbeatThread._record_heartbeat`` (the
    thread's target; its arguments are ``(trial_id, storage, stop_event)``), and the
    ``_target``/``_args`` of ``threading.Thread``. No public call reaches a trial's
    heartbeat thread. Checked on Optuna 5.0.0 and 5.1.0.
    """
    from optuna.storages._heartbeat import HeartbeatThread

    for thread in threading.enumerate():
        args: tuple[Any, ...] = tuple(getattr(thread, "_args", ()))
        if (
            getattr(thread, "_target", None) is HeartbeatThread._record_heartbeat
            and len(args) == 3
            and args[0] == trial_id
            and isinstance(args[2], threading.Event)
        ):
            args[2].set()


# ---------------------------------------------------------------------------- logging
#: The logger of Optuna's optimize loop ("Trial N failed ...", "Trial N finished ...").
#: Private: a module name (``optuna.study._optimize``). A filter on Optuna's public
#: root logger ``"optuna"`` would not see these records (a logger's filters apply only to
#: its own records, not to those its children pass up). Checked on Optuna 5.0.0 and 5.1.0.
OPTIMIZE_LOGGER = "optuna.study._optimize"


def optimize_logger() -> logging.Logger:
    """The logger of Optuna's optimize loop (:data:`OPTIMIZE_LOGGER`)."""
    return logging.getLogger(OPTIMIZE_LOGGER)
