"""Energy: only real counters, read from powercap files; None where there are none."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from effobj.profiler import profile_model
from effobj.profiler._energy import RaplMeter, energy_meter


def _domain(root: Path, name: str, label: str, energy: int, rng: int = 1000) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{rng}\n")
    return d


def test_rapl_reads_package_domains_and_handles_wraparound(tmp_path: Path) -> None:
    p0 = _domain(tmp_path, "intel-rapl:0", "package-0", 900)
    _domain(tmp_path, "intel-rapl:0:0", "core", 5)  # a sub-domain: inside the package, skipped
    _domain(tmp_path, "intel-rapl:1", "package-1", 10)
    _domain(tmp_path, "intel-rapl:2", "psys", 10)  # not a package
    meter = energy_meter("cpu", rapl_root=tmp_path)
    assert isinstance(meter, RaplMeter) and meter.source == "rapl"
    before = meter.read()
    assert before == (900, 10)
    (p0 / "energy_uj").write_text("100\n")  # wrapped past 1000
    after = meter.read()
    assert abs(meter.delta(before, after) - (1000 - 900 + 100) * 1e-6) < 1e-15


def test_unreadable_or_absent_counters_give_none(tmp_path: Path) -> None:
    assert energy_meter("cpu", rapl_root=tmp_path / "absent") is None
    d = _domain(tmp_path, "intel-rapl:0", "package-0", 1)
    (d / "energy_uj").write_text("not a number")
    assert energy_meter("cpu", rapl_root=tmp_path) is None
    assert energy_meter("mps") is None


def test_profile_reports_energy_only_when_this_machine_has_a_counter() -> None:
    r = profile_model(nn.Linear(8, 8), torch.randn(1, 8), max_time_s=0.05, cache=False)
    if energy_meter("cpu") is None:
        assert r.energy_j is None and r.energy_source is None
        assert "energy_j" not in r.indicators()
    else:
        assert r.energy_j is not None and r.energy_j >= 0 and r.energy_source == "rapl"
