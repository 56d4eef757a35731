"""Writing a trial's record in one storage transaction.

``trial.set_user_attr`` and ``trial.set_constraint`` each commit one transaction. On an
RDB storage a commit costs milliseconds (an fsync on SQLite), and a trial of
:class:`~effobj.optuna.EfficiencyObjective` records some twenty values, so they are written
in one transaction through the RDB storage's own per-attribute upsert (the same rows the
public calls write). Storages other than RDB, or an Optuna whose internals moved, use the
public calls one by one; the result in the storage is the same.

What is written is a :class:`~effobj.record.TrialRecord` (:func:`write_record`): its
``user_attrs`` and its ``system_attrs``, the constraints among them as the list under
Optuna's ``"constraints"`` key (read by Optuna's samplers and by optuna-dashboard, which
does not read Optuna 5's per-name ``"constraints:NAME"`` keys; writing both would make
Optuna count every constraint twice). The record module owns the names and values, this
one only the transaction.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import optuna

from effobj.optuna import _compat
from effobj.optuna._storage import rdb_backend
from effobj.record import TrialRecord

__all__ = ["write_record", "write_trial_attrs"]

_log = logging.getLogger("effobj.optuna")


def write_record(trial: optuna.trial.Trial, record: TrialRecord) -> None:
    """Record ``record`` on a running trial: its ``user_attrs`` and ``system_attrs``
    (constraints, <= 0 feasible, and the cost report), in one transaction where it can."""
    for key, value in (record.constraints or {}).items():
        if not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"The constraint {key!r} must be a number, not NaN. Got {value!r}.")
    write_trial_attrs(trial, record.to_user_attrs(), record.to_system_attrs())


def write_trial_attrs(
    trial: optuna.trial.Trial,
    user_attrs: Mapping[str, Any],
    system_attrs: Mapping[str, Any],
) -> None:
    """Record ``user_attrs`` and ``system_attrs`` on a running trial."""
    storage = getattr(trial, "storage", None)
    rdb = rdb_backend(storage)
    if rdb is not None and _compat.cached_frozen_trial(trial) is not None:
        try:
            _write_rdb(rdb, trial, user_attrs, system_attrs)
            return
        except (AttributeError, ImportError, TypeError) as exc:  # internals changed
            _log.debug("batched attribute write unavailable (%s); writing one by one", exc)
    for key, value in user_attrs.items():
        trial.set_user_attr(key, value)
    if not system_attrs:
        return
    if storage is None:  # a FixedTrial (debugging outside a study) keeps its own
        own = getattr(trial, "system_attrs", None)  # FixedTrial's: its own dict, not a copy
        if isinstance(own, dict):
            own.update(system_attrs)
        return
    for key, value in system_attrs.items():
        storage.set_trial_system_attr(_compat.trial_id(trial), key, value)
    cached = _compat.cached_frozen_trial(trial)
    if cached is not None:
        cached.system_attrs.update(system_attrs)


def _write_rdb(
    rdb: Any,
    trial: optuna.trial.Trial,
    user_attrs: Mapping[str, Any],
    system: Mapping[str, Any],
) -> None:
    models = _compat.rdb_models()
    trial_id = _compat.trial_id(trial)
    tables = ((models.TrialUserAttributeModel, user_attrs), (models.TrialSystemAttributeModel, system))
    dialect = rdb.engine.name
    with _compat.scoped_session(rdb, True) as session:
        if dialect in ("sqlite", "postgresql"):
            # one check that the trial is still running, one upsert per table
            row = models.TrialModel.find_or_raise_by_id(trial_id, session)
            rdb.check_trial_is_updatable(trial_id, row.state)
            for model_cls, items in tables:
                if items:
                    session.execute(_upsert(dialect, model_cls, trial_id, items))
        else:  # e.g. MySQL: Optuna's own upsert, attribute by attribute
            for model_cls, items in tables:
                for key, value in items.items():
                    _compat.set_trial_attr_without_commit(
                        rdb, session, model_cls, trial_id, key, value
                    )
    cached = _compat.cached_frozen_trial(trial)
    if cached is None:  # checked by the caller; gone meanwhile: the rows are written
        return
    cached.user_attrs.update(user_attrs)
    cached.system_attrs.update(system)


def _upsert(dialect: str, model_cls: Any, trial_id: int, items: Mapping[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT (trial_id, key) DO UPDATE`` of several attributes at once."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
    rows = [
        {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
        for key, value in items.items()
    ]
    stmt = insert(model_cls).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=[model_cls.trial_id, model_cls.key],
        set_={"value_json": stmt.excluded.value_json},
    )
