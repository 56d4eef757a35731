"""The study's latency scale and the budget a profile decides against.

A compensated latency (:mod:`effobj.profiler._scale`) is a ratio to a reference workload
times that workload's calibrated time, a :class:`~effobj.profiler.LatencyScale`. Each
process calibrates its own scale unless it is given one; two workers of one search, or
two sessions of one study, would then report candidates on slightly different scales.
A search therefore keeps its scales in the study:

- **Where.** One study system attribute per calibration,
  ``"effobj:latency_scale:<writer>"`` (:data:`SCALE_PREFIX`; ``<writer>`` a random hex id
  of the process that stored it), holding :meth:`LatencyScale.to_dict`; the scale's own
  ``key`` (:func:`~effobj.profiler._scale.scale_key`: device, hardware, threads, torch)
  says which profiles it is valid for. Study system attributes are out of the dashboard's
  and ``optuna studies``'s view.
- **Which.** For a key, the scale with the earliest ``measured_at`` (ties: the host, then
  the attribute name): a rule every reader applies to the same set, so all workers use
  one scale once they see the same attributes. A worker that finds none calibrates (this
  process's :func:`~effobj.profiler._scale.process_scale`, measured once), stores it under
  its own attribute, and reads again, so two workers calibrating at the same time on a
  fresh study each write once and then both take the earlier one. Only a profile taken
  between one worker's write and the other's can use the later scale; every trial's cost
  report names the scale it used (``CostReport.latency_scale``).
- **When.** Before every profile, one read of the study's system attributes, until this
  process has seen a scale of that key for :data:`SETTLE_S` seconds: by then every
  worker that calibrated concurrently has stored its scale, and the earliest stays the
  earliest, so the one found is kept without reading again. The study
  is the one whose trial is measuring, or whose sampler is looking costs up
  (:func:`measuring_for`, set by the objective and by
  :class:`~effobj.optuna.EfficiencySampler`; read by :func:`current_study`), so a
  ``measure`` function (``objective_from_space``'s) and
  :meth:`~effobj.optuna.EfficiencyObjective.costs_of` find it without an argument;
  outside a study (``effobj space-range``) the process's own scale is used.

What is prepared (:func:`study_profiler`): the profiler ``None`` (the objective's default,
:func:`~effobj.profiler.profile_model`) and any profiler with ``with_options`` and
``options`` (:class:`~effobj.profiler.LocalProfiler`) get the study's scale when their
options measure compensated latency and name no scale, and the spec's latency budget
(:func:`latency_budget_ms`) when they measure latency and name no budget. Other profilers
(:class:`~effobj.remote.RemoteProfiler`, user-written ones) are used as they are; the
objective derives the gate decision from any report (:func:`gate_decision`).

torch and the profiler are imported inside the calls.
"""

from __future__ import annotations

import math
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any

from effobj.optuna import _compat
from effobj.profiler._report import budget_decision

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from effobj.profiler import LatencyScale
    from effobj.spec import EfficiencySpec

__all__ = ["SCALE_PREFIX", "current_study", "gate_decision", "latency_budget_ms", "measuring_for",
           "reference_check", "stored_scale", "study_profiler", "study_scale"]

#: prefix of the study system attributes holding latency scales (one per calibration)
SCALE_PREFIX = "effobj:latency_scale:"
#: the cost indicator a latency budget is on
LATENCY = "latency_ms"

#: seconds after this process first saw a study's scale for a key that it stops reading
#: the storage for it: longer than a calibration lasts (about 0.3 s on a quiet CPU, tens
#: of seconds on a loaded one), so no worker that found none before that scale was
#: stored can still be calibrating. (The read returns every study system attribute,
#: the cost registry's too: 0.17 s with 3000 registered candidates on SQLite.)
SETTLE_S = 300.0
# storage -> (study id, scale key) -> (the scale found, when this process first saw one)
_SEEN: weakref.WeakKeyDictionary[Any, dict[tuple[int, str], tuple[LatencyScale, float]]] = (
    weakref.WeakKeyDictionary())

# the study whose trial (or whose sampler) is measuring in this thread
_STUDY: ContextVar[Any] = ContextVar("effobj_measuring_study", default=None)


@contextmanager
def measuring_for(study: optuna.Study | None) -> Iterator[None]:
    """Within the block, measurements are for ``study`` (:func:`current_study`)."""
    token = _STUDY.set(study)
    try:
        yield
    finally:
        _STUDY.reset(token)


def current_study() -> optuna.Study | None:
    """The study a measurement in this thread is for (``None``: none)."""
    study: optuna.Study | None = _STUDY.get()
    return study


def latency_budget_ms(spec: EfficiencySpec) -> float | None:
    """The spec's budget on ``latency_ms`` (its ``max``), ``None`` when it has none.

    A ``latency_ms`` indicator without ``max`` gates at its ``ref``, where
    :math:`E_\\beta` is 0 whatever the side: no decision there is worth measuring longer.
    """
    for ind in spec.costs:
        if ind.name == LATENCY and ind.max is not None:
            return float(ind.max)
    return None


def _when(measured_at: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(measured_at)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def stored_scale(study: optuna.Study, key: str) -> LatencyScale | None:
    """The study's scale for ``key``: of those stored, the earliest measured (ties: host,
    then attribute name); ``None`` when none is stored. One read of the storage; an
    attribute that does not parse as a scale (other code's) is passed over."""
    from effobj.errors import EffobjError
    from effobj.profiler import LatencyScale

    attrs = _compat.study_system_attrs(study)
    found: list[tuple[datetime, str, str, LatencyScale]] = []
    for name, value in attrs.items():
        if not name.startswith(SCALE_PREFIX) or not isinstance(value, dict):
            continue
        try:
            scale = LatencyScale.from_dict(value)
        except (EffobjError, KeyError, TypeError, ValueError):
            continue
        when = _when(scale.measured_at)
        if scale.key == key and when is not None:
            found.append((when, scale.host, name, scale))
    return min(found, key=lambda f: f[:3])[3] if found else None


def study_scale(study: optuna.Study, device: str, threads: int | None,
                runtime: str = "eager") -> LatencyScale:
    """The study's latency scale for ``device`` at ``threads`` (``None``: torch's thread
    count now), calibrated and stored first when the study has none for that key."""
    import torch

    from effobj.profiler._scale import process_scale, scale_key

    n = torch.get_num_threads() if threads is None else int(threads)
    key = scale_key(device, n, runtime)
    seen = _SEEN.setdefault(_compat.storage_of(study), {})
    hit = seen.get((_compat.study_id(study), key))
    now = time.monotonic()
    if hit is not None and now - hit[1] >= SETTLE_S:
        return hit[0]  # settled: no other worker's calibration can still arrive
    found = stored_scale(study, key)
    if found is None:
        mine = process_scale(device, n, runtime)
        _compat.set_study_system_attr(study, SCALE_PREFIX + uuid.uuid4().hex, mine.to_dict())
        found = stored_scale(study, key) or mine  # another worker's may be earlier
    seen[(_compat.study_id(study), key)] = (found, now if hit is None else hit[1])
    return found


def study_profiler(profiler: Any, study: optuna.Study | None, budget_ms: float | None) -> Any:
    """The profiler a trial of ``study`` measures with: ``profiler`` (``None``: a
    :class:`~effobj.profiler.LocalProfiler` with the defaults of
    :func:`~effobj.profiler.profile_model`) with the study's latency scale and the
    latency budget ``budget_ms`` applied where its options leave them open; ``profiler``
    itself when it has no ``with_options`` or nothing applies."""
    from effobj.profiler import LocalProfiler, ProfileOptions

    if profiler is None:
        if study is None and budget_ms is None:
            return None
        profiler = LocalProfiler()
    options = getattr(profiler, "options", None)
    if not callable(getattr(profiler, "with_options", None)):
        return profiler
    if isinstance(options, Mapping) and options.get("latency") and "latency_budget_ms" in options:
        # a remote profiler (effobj.remote.RemoteProfiler): the budget travels to the
        # server; the calibration is the server's own
        if budget_ms is not None and options["latency_budget_ms"] is None:
            return profiler.with_options(latency_budget_ms=budget_ms)
        return profiler
    if not isinstance(options, ProfileOptions) or not options.latency:
        return profiler
    changes: dict[str, Any] = {}
    if budget_ms is not None and options.latency_budget_ms is None:
        changes["latency_budget_ms"] = budget_ms
    if (study is not None and options.latency_method == "compensated"
            and options.latency_scale is None):
        changes["latency_scale"] = study_scale(study, options.device, options.threads,
                                               options.runtime)
    return profiler.with_options(**changes) if changes else profiler


def gate_decision(report: Mapping[str, Any] | None, budget_ms: float | None
                  ) -> tuple[str, bool] | None:
    """``(side, certain)`` of a cost report against the latency budget, ``None`` without
    a budget or a measured latency.

    ``side`` is ``"under"`` when the median ``latency_ms`` is at or under the budget (the
    spec's gate passes), else ``"over"``; ``certain`` is whether the 95 % interval
    ``latency_ci95_ms`` lies on that side (a report without an interval: not certain).
    Derived here for every profiler, the local one that decided (the same rule) and
    remote or user-written ones that did not.

    Example:
        >>> gate_decision({"latency_ms": 2.0, "latency_ci95_ms": [1.9, 2.1]}, 3.0)
        ('under', True)
        >>> gate_decision({"latency_ms": 2.0, "latency_ci95_ms": [1.9, 2.1]}, 2.05)
        ('under', False)
        >>> gate_decision({"latency_ms": 2.0, "latency_ci95_ms": None}, 1.0)
        ('over', False)
    """
    if budget_ms is None or report is None:
        return None
    median: Any = report.get(LATENCY)
    if not _real(median):
        return None
    ci = report.get("latency_ci95_ms")
    interval = ((float(ci[0]), float(ci[1])) if isinstance(ci, list | tuple) and len(ci) == 2
                and all(_real(v) for v in ci) else None)
    return budget_decision(float(median), interval, budget_ms)  # the profiler's own rule


def reference_check(report: Mapping[str, Any] | None) -> tuple[float | None, bool | None]:
    """``(ratio, disturbed)``: the reference ratio of a compensated latency profile and
    whether it failed the profiler's reference check (its latency is then a plain
    measurement: :func:`effobj.profiler._latency.compensated_or_plain`), as the trial
    record keeps them; ``(None, None)`` for a plain profile, no report, or a report
    written before effobj made the check.

    Example:
        >>> reference_check({"latency_reference_ratio": 360.0,
        ...                  "latency_reference_disturbed": True})
        (360.0, True)
        >>> reference_check({"latency_ms": 1.0}), reference_check(None)
        ((None, None), (None, None))
    """
    if report is None:
        return None, None
    ratio: Any = report.get("latency_reference_ratio")
    flag = report.get("latency_reference_disturbed")
    return (float(ratio) if _real(ratio) else None), (flag if isinstance(flag, bool) else None)


def _real(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
