r"""Peak activation memory of one inference forward pass.

On CPU (and on the meta device, where no memory is touched at all) a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` watches every tensor an
operator returns and keeps the set of *storages* alive, so views and in-place
results are not counted twice. The peak is taken over all operator boundaries:

.. math::

    \mathrm{peak} = \max_{t} \sum_{s \in \mathrm{live}(t) \setminus W} \mathrm{nbytes}(s),

where :math:`W` holds the storages of the weights, buffers and example inputs, which
exist before the pass and are counted by ``model_bytes`` instead. Scratch space a kernel
allocates and frees internally (oneDNN workspaces) is invisible at the dispatcher and
not included.

On CUDA the caching allocator's own peak (``torch.cuda.max_memory_allocated``) over the
pass, minus what was allocated before it, is used instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["LiveTensorTracker", "cuda_peak_bytes"]


def _storage_key(t: torch.Tensor) -> tuple[int, StorageWeakRef, int] | None:
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):  # sparse, nested, or a subclass without storage
        return None
    ref = StorageWeakRef(storage)
    return ref.cdata, ref, storage.nbytes()


class LiveTensorTracker(TorchDispatchMode):
    """Tracks the bytes of live tensor storages across operator calls and keeps their peak.

    Args:
        exclude: Tensors whose storages are not activations (weights, buffers, inputs).

    Attributes:
        peak_bytes: Largest sum of live activation storages seen at an operator boundary.
        current_bytes: Bytes alive now.

    Example:
        >>> import torch
        >>> from effobj.profiler._memory import LiveTensorTracker
        >>> x = torch.ones(1000)            # 4000 bytes, an input: excluded
        >>> with LiveTensorTracker(exclude=[x]) as mem:
        ...     y = x * 2                   # +4000
        ...     z = y + 1                   # +4000 -> peak 8000
        ...     del y
        ...     w = z.relu_()               # in place: same storage
        >>> mem.peak_bytes
        8000
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self._excluded: dict[int, StorageWeakRef] = {}
        for t in exclude:
            key = _storage_key(t)
            if key is not None:
                self._excluded[key[0]] = key[1]
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current_bytes = 0
        self.peak_bytes = 0

    def _sweep(self) -> None:
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            self.current_bytes -= self._live.pop(k)[1]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self._sweep()
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            key = _storage_key(t)
            if key is None:
                continue
            cdata, ref, nbytes = key
            if cdata in self._live:
                continue
            excluded = self._excluded.get(cdata)
            if excluded is not None and not excluded.expired():
                continue
            self._live[cdata] = (ref, nbytes)
            self.current_bytes += nbytes
        self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        return out


def cuda_peak_bytes(run: Any, device: torch.device) -> tuple[int, Any]:
    """Run ``run()`` once and return (allocator peak minus the bytes allocated before, its output)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    out = run()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before), out
