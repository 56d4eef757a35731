"""Collecting a trial table straight from an RDB storage (one query, not the whole study).

``study.get_trials()`` on an RDB storage loads every trial with its parameters,
distributions, system attributes and intermediate values through the ORM: seconds for
a few thousand trials. Re-ranking needs four user attributes per trial, so for a study
created by effobj on an RDB storage (SQLite, PostgreSQL, MySQL) the table is read with
one query over Optuna's ``trials`` and ``trial_user_attributes`` tables, and the few
trials a ranking shows are loaded afterwards, one by one. Any other storage, a study
effobj did not create, or a schema this code does not recognize takes the ordinary
path; the result is the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from effobj.optuna import _compat
from effobj.optuna._storage import rdb_backend
from effobj.record import (
    N_PARAMS,
    OLD_N_PARAMS,
    PERF,
    STATUS,
    STUDY_SPEC,
    perf_recorded,
    rank_values,
)

__all__ = ["LazyTrials", "rdb_trial_arrays"]

_log = logging.getLogger("effobj.rerank")


class LazyTrials(Sequence):
    """Frozen trials loaded from the storage when first indexed."""

    def __init__(self, storage: Any, trial_ids: list[int]) -> None:
        self._storage = storage
        self._ids = trial_ids
        self._cache: dict[int, FrozenTrial] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        trial = self._cache.get(i)
        if trial is None:
            trial = self._storage.get_trial(self._ids[i])
            self._cache[i] = trial
        return trial


def rdb_trial_arrays(
    study: optuna.Study, cost_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], LazyTrials, np.ndarray] | None:
    """(numbers, perf, costs, lazy trials, perf recorded) read with one query, or None when
    not applicable."""
    storage = _compat.storage_of(study)
    rdb = rdb_backend(storage)
    if rdb is None or STUDY_SPEC not in study.user_attrs:
        return None
    try:
        models = _compat.rdb_models()
        # an older effobj recorded n_params as "params": read too (rank_values prefers n_params)
        old = [OLD_N_PARAMS] if N_PARAMS in cost_names else []
        names = list(dict.fromkeys([PERF, STATUS, *cost_names, *old]))
        t, a = models.TrialModel, models.TrialUserAttributeModel
        with _compat.scoped_session(rdb) as session:
            rows = (
                session.query(t.trial_id, t.number, t.state, a.key, a.value_json)
                .outerjoin(a, (a.trial_id == t.trial_id) & a.key.in_(names))
                .filter(t.study_id == _compat.study_id(study))
                .filter(t.state.in_([TrialState.COMPLETE, TrialState.PRUNED]))
                .order_by(t.number)
                .all()
            )
    except Exception as exc:  # an Optuna whose schema moved: take the ordinary path
        _log.debug("direct trial-table query unavailable (%s)", exc)
        return None
    index: dict[int, int] = {}
    ids: list[int] = []
    numbers: list[int] = []
    states: list[TrialState] = []
    values: list[dict[str, Any]] = []
    for trial_id, number, state, key, value_json in rows:
        i = index.get(trial_id)
        if i is None:
            i = index[trial_id] = len(ids)
            ids.append(trial_id)
            numbers.append(number)
            states.append(state)
            values.append({})
        if key is not None:
            values[i][key] = json.loads(value_json)
    n = len(ids)
    perf = np.full(n, np.nan)
    recorded = np.zeros(n, dtype=bool)
    costs = {name: np.full(n, np.nan) for name in cost_names}
    for i, (state, v) in enumerate(zip(states, values, strict=True)):
        complete = state == TrialState.COMPLETE
        perf[i], row = rank_values(v, numbers[i], complete, cost_names)
        recorded[i] = perf_recorded(v, complete)
        for name, c in zip(cost_names, row, strict=True):
            costs[name][i] = c
    return (np.asarray(numbers, dtype=np.int64), perf, costs, LazyTrials(storage, ids),
            recorded)
