"""Profiling on the target device when it is not the search host.

* ``effobj profile-server`` (:mod:`effobj.remote._server`) runs on the target device and
  measures what :func:`~effobj.profiler.profile_model` measures, one model at a time;
* :class:`RemoteProfiler` is the search side: a :class:`~effobj.profiler.Profiler` that
  exports each candidate with ``torch.export``, sends it (JSON and raw tensors, never a
  pickle) and returns a :class:`RemoteCostReport` naming the server that measured it and
  the time the candidate queued.

The protocol is described in :mod:`effobj.remote._protocol`. Importing this package
imports neither torch nor the HTTP libraries.
"""

from __future__ import annotations

from effobj.remote._client import RemoteCostReport, RemoteProfiler, read_token

__all__ = ["RemoteCostReport", "RemoteProfiler", "read_token"]
