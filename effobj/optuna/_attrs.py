"""The record's names under their former import path.

The trial record lives in :mod:`effobj.record` (keys, :class:`~effobj.record.Status`,
:class:`~effobj.record.TrialRecord`, :func:`~effobj.record.incumbent`); this module only
re-exports it for code that still imports the keys from here
(``effobj/optuna/_space.py``). New code imports :mod:`effobj.record`.
"""

from __future__ import annotations

from effobj import record as _record
from effobj.record import *  # noqa: F403

__all__ = list(_record.__all__)
