"""CostReport / DeviceInfo: serialization round trips, indicators, validation."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from effobj.errors import InputError
from effobj.profiler import CostReport, DeviceInfo
from effobj.profiler._report import iqr_text

DEV = DeviceInfo("cpu", "AMD EPYC", 2, 2, "2.13.0+cpu", None, "vm", "Linux")


def _report(**kw) -> CostReport:
    base = dict(model_name="Net", input_shapes=((2, 3),), input_dtypes=("torch.float32",), batch_size=2,
                flops=20, macs=10, n_params=12, trainable_params=9, model_bytes=48, device=DEV)
    base.update(kw)
    return CostReport(**base)


@given(
    flops=st.integers(0, 10**15).map(lambda n: 2 * n),
    latency=st.one_of(st.none(), st.floats(1e-6, 1e6)),
    peak=st.one_of(st.none(), st.integers(0, 10**12)),
    energy=st.one_of(st.none(), st.floats(0, 1e3)),
    shapes=st.lists(st.lists(st.integers(1, 512), min_size=0, max_size=4).map(tuple), min_size=1, max_size=3),
)
def test_json_round_trip(flops, latency, peak, energy, shapes) -> None:
    r = _report(
        flops=flops, macs=flops // 2, peak_activation_bytes=peak, latency_ms=latency,
        latency_ci95_ms=None if latency is None else (latency * 0.9, latency * 1.1),
        input_shapes=tuple(shapes), input_dtypes=tuple("torch.float32" for _ in shapes),
        energy_j=energy, energy_source=None if energy is None else "rapl",
        flops_by_module={"Net": flops}, unsupported_ops=("aten._cdist_forward",),
    )
    back = CostReport.from_json(r.to_json())
    assert back == r
    assert CostReport.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_indicators_names_and_optional_entries() -> None:
    r = _report()
    assert set(r.indicators()) == {"flops", "macs", "n_params", "trainable_params", "model_bytes"}
    r2 = _report(peak_activation_bytes=100, latency_ms=2.0, throughput=1000.0, energy_j=0.5)
    ind = r2.indicators()
    assert ind["latency_ms"] == 2.0 and ind["throughput"] == 1000.0 and ind["energy_j"] == 0.5
    assert ind["peak_activation_bytes"] == 100.0
    assert all(isinstance(v, float) for v in ind.values())


def test_from_dict_rejects_unknown_and_missing_keys() -> None:
    d = _report().to_dict()
    with pytest.raises(InputError, match="unknown keys"):
        CostReport.from_dict({**d, "bogus": 1})
    d.pop("flops")
    with pytest.raises(InputError, match="lacks the required keys"):
        CostReport.from_dict(d)
    with pytest.raises(TypeError, match="'d' parameter of CostReport.from_dict must be a dict. Got list instead"):
        CostReport.from_dict([1, 2])  # type: ignore[arg-type]


def test_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        _report(latency_ms=float("nan")).to_json()


def test_table_mentions_every_indicator() -> None:
    r = _report(peak_activation_bytes=4096, latency_ms=1.5, latency_iqr_ms=0.1, latency_rel_spread=0.01,
                latency_samples=10, latency_runs=20, latency_converged=True, throughput=1333.3,
                flops_by_module={"Net": 20, "Net.fc": 20})
    table = r.to_table()
    for text in ("MACs", "FLOPs", "n_params", "peak activations", "4.00 KiB", "1.500 ms", "converged",
                 "throughput", "not reported", "AMD EPYC", "Net.fc"):
        assert text in table, text


def test_report_is_frozen() -> None:
    r = _report()
    with pytest.raises(AttributeError):
        r.flops = 3  # type: ignore[misc]


# -- the IQR of a single timed block says nothing: "n/a", not "0.000 ms"
def test_table_says_na_for_the_iqr_of_one_timed_block() -> None:
    timed = dict(latency_ms=1.5, latency_rel_spread=None, latency_runs=3, latency_converged=False, throughput=1.0)
    one = _report(latency_iqr_ms=0.0, latency_samples=1, **timed).to_table()
    assert "IQR n/a" in one and "IQR 0.000" not in one
    many = _report(latency_iqr_ms=0.1, latency_samples=10, **timed).to_table()
    assert "IQR 0.100 ms" in many


def test_iqr_text() -> None:
    assert iqr_text(0.25, 2) == "0.250 ms" and iqr_text(0.0, 12) == "0.000 ms"
    assert iqr_text(0.0, 1) == iqr_text(None, None) == iqr_text(float("nan"), 5) == "n/a"
    assert iqr_text(0.01, None, digits=4, unit="") == "0.0100"


def test_a_profile_capped_after_one_block_prints_na(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """End to end: `effobj profile` with a time cap that only lets one block run."""
    from effobj.cli import main

    model = tmp_path / "tiny.py"
    model.write_text("import torch\ndef build():\n    return torch.nn.Linear(4, 2)\n")
    rc = main(["profile", f"{model}:build", "--input-shape", "1,4", "--threads", "1", "--max-time", "1e-6"])
    out = capsys.readouterr().out
    assert rc == 0 and re.search(r"latency samples +1 blocks", out), out
    assert "IQR n/a" in out and "IQR 0.000" not in out


def test_a_single_block_stores_no_iqr() -> None:
    """The stored report says the same as its table: no IQR from one block (a 0 would draw a
    zero-width error bar in the report and read as a machine without noise)."""
    import torch

    from effobj.profiler import profile_model

    one = profile_model(torch.nn.Linear(4, 2), torch.zeros(1, 4), threads=1, max_time_s=1e-6,
                        cache=False)
    assert one.latency_samples == 1 and one.latency_iqr_ms is None
    many = profile_model(torch.nn.Linear(4, 2), torch.zeros(1, 4), threads=1, max_time_s=0.05,
                         cache=False)
    assert many.latency_samples >= 2 and many.latency_iqr_ms is not None and many.latency_iqr_ms >= 0


def test_latency_table_cli_prints_na_for_one_block(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from effobj.cli import main

    rc = main(["latency-table", "--out", str(tmp_path / "t.json"), "--threads", "1", "--max-time", "1e-6"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = [line for line in out.splitlines() if " ms  IQR " in line]
    assert rows and all("IQR n/a" in line for line in rows), out
