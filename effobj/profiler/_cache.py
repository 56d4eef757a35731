"""Profiles cached by architecture signature, so a candidate seen again is not profiled again.

The signature is a SHA-256 over everything the cost depends on:

* the module tree: each submodule's path, class (module and qualified name) and
  ``extra_repr()`` (kernel sizes, strides, groups, eps, ...);
* every parameter and buffer: path, shape, dtype, ``requires_grad``;
* the example inputs: shape and dtype (never their values);
* the target device and the thread count;
* the profiling options (latency on/off, memory on/off, target spread, time cap).

Weight *values* are not part of it (they do not change the cost of a dense model), nor is
behaviour hidden in ``forward`` that ``extra_repr`` does not show: two models whose only
difference is such a flag share a signature. Pass ``cache=False`` for those.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from effobj.profiler._report import CostReport

__all__ = ["ProfileCache", "architecture_signature", "default_cache"]


def architecture_signature(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    *,
    device: str,
    threads: int,
    options: tuple[Any, ...] = (),
) -> str:
    """Hex SHA-256 of the model's structure, parameter shapes, input shapes, device and options.

    Example:
        >>> import torch
        >>> a = architecture_signature(torch.nn.Linear(3, 4), [torch.ones(2, 3)], device="cpu", threads=1)
        >>> b = architecture_signature(torch.nn.Linear(3, 4), [torch.zeros(2, 3)], device="cpu", threads=1)
        >>> c = architecture_signature(torch.nn.Linear(3, 5), [torch.ones(2, 3)], device="cpu", threads=1)
        >>> a == b, a == c
        (True, False)
    """
    h = hashlib.sha256()

    def put(*parts: object) -> None:
        h.update(repr(parts).encode())
        h.update(b"\x00")

    for name, mod in model.named_modules(remove_duplicate=False):
        cls = type(mod)
        put("module", name, cls.__module__, cls.__qualname__, mod.extra_repr())
    for name, p in model.named_parameters(remove_duplicate=False):
        put("param", name, tuple(p.shape), str(p.dtype), bool(p.requires_grad))
    for name, b in model.named_buffers(remove_duplicate=False):
        put("buffer", name, tuple(b.shape), str(b.dtype))
    for i, x in enumerate(inputs):
        put("input", i, tuple(x.shape), str(x.dtype))
    put("device", device, "threads", threads, "options", options)
    return h.hexdigest()


class ProfileCache:
    """A thread-safe, bounded (least recently used) map from signature to :class:`CostReport`.

    Args:
        maxsize: Most reports kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[str, CostReport] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CostReport | None:
        """The cached report, or ``None``."""
        with self._lock:
            report = self._data.get(key)
            if report is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return report

    def put(self, key: str, report: CostReport) -> None:
        """Store a report."""
        with self._lock:
            self._data[key] = report
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Drop every report and reset the hit counters."""
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


#: the process-wide cache :func:`~effobj.profiler.profile_model` uses with ``cache=True``
default_cache = ProfileCache()
