"""What a study knows about its candidates before training: identities and measured costs.

Two facts are shared by every worker and every session of a study, through its storage:

- **Identity.** Two trials whose candidates have one identity are one training run (a
  search space's ``identity(config)``, e.g. NAS-Bench-Graph's canonical hash; by default
  the trial's parameters as canonical JSON). Each trial records its identity in
  ``user_attrs["identity"]``, so a repeat is recognised and recorded from the earlier
  trial instead of being trained again.
- **Cost look-ups.** Measuring a candidate's costs (profiling it, looking it up) is cheap
  next to training but not free. Every distinct identity whose costs were measured, by a
  trial or by :class:`~effobj.optuna.EfficiencySampler` while choosing one, is registered
  once in the study's system attributes (``effobj_cost:<identity>`` -> its parameters and
  cost indicators), and the study's user attribute ``cost_lookups`` counts them. The
  registry doubles as a cost cache across workers and resumed sessions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import optuna

from effobj.optuna import _compat

__all__ = ["COST_LOOKUPS", "CostRegistry", "lookup_time_s", "note_lookup_time", "params_identity"]

#: study user attribute: distinct candidates whose costs were measured
COST_LOOKUPS = "cost_lookups"
_PREFIX = "effobj_cost:"
#: study system attributes: seconds one process spent in cost look-ups outside trials
#: (``effobj_lookup_s:<host>:<pid>``, one key per process, so workers never race)
_LOOKUP_TIME_PREFIX = "effobj_lookup_s:"
#: this process's look-up seconds per study (storage, study id)
_LOOKUP_TIME: dict[tuple[int, int], float] = {}


def note_lookup_time(study: optuna.Study | None, seconds: float) -> None:
    """Add ``seconds`` of a cost look-up made outside a trial (a sampler choosing) to the
    study's record of this process's look-up time; nothing without a study. Never
    fails: the time is bookkeeping."""
    if study is None:
        return
    import os
    import socket

    key = _compat.study_key(study)
    name = f"{_LOOKUP_TIME_PREFIX}{socket.gethostname()}:{os.getpid()}"
    try:
        if key not in _LOOKUP_TIME:  # a process id used before (a resumed session): add to it
            stored = _compat.study_system_attrs(study).get(name, 0.0)
            _LOOKUP_TIME[key] = float(stored) if isinstance(stored, int | float) else 0.0
        total = _LOOKUP_TIME[key] + max(0.0, float(seconds))
        _LOOKUP_TIME[key] = total
        _compat.set_study_system_attr(study, name, total)
    except Exception:  # the storage is gone or read-only: the search goes on
        return


def lookup_time_s(study: optuna.Study) -> float:
    """Seconds every process spent in cost look-ups outside trials (see
    :func:`note_lookup_time`)."""
    attrs = _compat.study_system_attrs(study)
    return float(sum(v for k, v in attrs.items() if k.startswith(_LOOKUP_TIME_PREFIX)
                     and isinstance(v, int | float) and not isinstance(v, bool)))


def params_identity(params: Mapping[str, Any]) -> str:
    """The default identity of a candidate: its Optuna parameters as canonical JSON.

    Example:
        >>> params_identity({"b": 2, "a": "x"})
        '{"a": "x", "b": 2}'
    """

    def plain(v: Any) -> Any:
        return v.item() if hasattr(v, "item") else v

    return json.dumps({str(k): plain(v) for k, v in params.items()}, sort_keys=True,
                      default=str)


class CostRegistry:
    """The costs measured in one study, read from and written to its storage.

    Reads are cached in the process and refreshed with :meth:`refresh`; writes go to the
    storage at once (one system attribute per new identity) and the ``cost_lookups``
    count is written by :meth:`flush_count`.
    """

    def __init__(self, study: optuna.Study) -> None:
        from effobj._validation import check_instance

        self._study = check_instance(study, "study", "CostRegistry", optuna.Study, "an optuna.Study")
        self._known: dict[str, dict[str, Any]] = {}
        self._written_count = -1

    @classmethod
    def of(cls, study: optuna.Study) -> CostRegistry:
        """The registry of ``study``, one per study object (kept on the study)."""
        reg = getattr(study, "_effobj_cost_registry", None)
        if reg is None:
            reg = cls(study)
            study._effobj_cost_registry = reg  # type: ignore[attr-defined]
        return reg

    def refresh(self) -> None:
        """Read what other workers registered since the last read."""
        attrs = _compat.study_system_attrs(self._study)
        for key, value in attrs.items():
            if key.startswith(_PREFIX) and isinstance(value, Mapping):
                self._known.setdefault(key[len(_PREFIX):], dict(value))

    def __contains__(self, identity: str) -> bool:
        return identity in self._known

    def __len__(self) -> int:
        return len(self._known)

    def costs(self, identity: str) -> dict[str, float] | None:
        """The registered cost indicators of ``identity`` (``None`` if never measured)."""
        entry = self._known.get(identity)
        return None if entry is None else dict(entry["costs"])

    def entries(self) -> dict[str, dict[str, Any]]:
        """``identity -> {"params": ..., "costs": ...}`` of every registered candidate."""
        return dict(self._known)

    def add(self, identity: str, params: Mapping[str, Any], costs: Mapping[str, float]) -> bool:
        """Register a measured candidate; returns whether it was new."""
        if identity in self._known:
            return False
        entry = {
            "params": {str(k): (v.item() if hasattr(v, "item") else v) for k, v in params.items()},
            "costs": {str(k): float(v) for k, v in costs.items() if _finite(v)},
        }
        self._known[identity] = entry
        _compat.set_study_system_attr(self._study, _PREFIX + identity, entry)
        return True

    def flush_count(self) -> None:
        """Write the ``cost_lookups`` study attribute if it changed."""
        n = len(self._known)
        if n != self._written_count:
            self._study.set_user_attr(COST_LOOKUPS, n)
            self._written_count = n


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
