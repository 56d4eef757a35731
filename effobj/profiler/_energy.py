r"""Energy counters the hardware really reports; nothing is ever estimated.

* NVIDIA GPUs: NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  millijoules since driver load, Volta and newer), through the optional ``pynvml`` package.
* Linux CPUs: the powercap RAPL package counters
  (``/sys/class/powercap/intel-rapl:N/energy_uj``, also used by AMD since Zen), when the
  files exist and are readable (many kernels restrict them to root).

Energy per forward pass is the counter difference over the timed blocks divided by the
number of passes,

.. math::

    E = \frac{\sum_{d} \big((e_d^{\mathrm{after}} - e_d^{\mathrm{before}}) \bmod R_d\big)}{n_{\mathrm{runs}}},

summing the package domains :math:`d`, each wrapping at its range :math:`R_d`. A package
counter covers the whole socket: whatever else ran on it meanwhile is included.
Where no counter is available the profiler reports ``energy_j = None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["EnergyMeter", "NvmlMeter", "RaplMeter", "energy_meter"]

_POWERCAP = Path("/sys/class/powercap")


class EnergyMeter(Protocol):
    """A cumulative hardware energy counter."""

    source: str

    def read(self) -> Any:
        """Return an opaque reading of the counter(s)."""
        ...

    def delta(self, before: Any, after: Any) -> float:
        """Joules between two readings (handles counter wrap-around)."""
        ...


class RaplMeter:
    """The Linux powercap RAPL package-domain counters.

    Args:
        domains: Directories of package domains, each holding ``energy_uj`` and
            ``max_energy_range_uj``.
    """

    source = "rapl"

    def __init__(self, domains: Sequence[Path]) -> None:
        self._domains = [Path(d) for d in domains]
        self._ranges = [int((d / "max_energy_range_uj").read_text()) for d in self._domains]

    @classmethod
    def discover(cls, root: Path = _POWERCAP) -> RaplMeter | None:
        """Find readable package domains under ``root``; ``None`` if there are none."""
        if not root.is_dir():
            return None
        domains = []
        for d in sorted(root.iterdir()):
            if d.name.count(":") != 1 or "rapl" not in d.name:
                continue  # sub-domains (core, dram) are inside the package: skip them
            try:
                if not (d / "name").read_text().strip().startswith("package"):
                    continue
                int((d / "energy_uj").read_text())
                int((d / "max_energy_range_uj").read_text())
            except (OSError, ValueError):
                continue
            domains.append(d)
        return cls(domains) if domains else None

    def read(self) -> tuple[int, ...]:
        """Microjoules of every package domain."""
        return tuple(int((d / "energy_uj").read_text()) for d in self._domains)

    def delta(self, before: tuple[int, ...], after: tuple[int, ...]) -> float:
        """Joules between two readings (each domain wraps at its own range)."""
        total = 0
        for b, a, r in zip(before, after, self._ranges, strict=True):
            total += a - b if a >= b else r - b + a
        return total * 1e-6


class NvmlMeter:
    """NVML's total-energy counter of one NVIDIA GPU."""

    source = "nvml"

    def __init__(self, index: int) -> None:
        import pynvml  # type: ignore[import-not-found, unused-ignore]  # optional, untyped

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.read()  # raises if the GPU does not report energy

    def read(self) -> int:
        """Millijoules since the driver loaded."""
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    def delta(self, before: int, after: int) -> float:
        """Joules between two readings."""
        return (after - before) * 1e-3


def energy_meter(device_type: str, index: int | None = None, *, rapl_root: Path = _POWERCAP) -> EnergyMeter | None:
    """The energy counter for a device, or ``None`` where the device reports none.

    Args:
        device_type: ``torch.device.type`` (``"cpu"``, ``"cuda"``, ...).
        index: The device index (CUDA).
        rapl_root: Where powercap lives (a parameter so that it can be pointed elsewhere).
    """
    if device_type == "cpu":
        return RaplMeter.discover(rapl_root)
    if device_type == "cuda":
        try:
            return NvmlMeter(index or 0)
        except Exception:  # no pynvml, no NVML, or a GPU without an energy counter
            return None
    return None
