"""``effobj space-range``: each cost indicator's range and quantiles, and budget settings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from user_space import write_user_space

import effobj.spaces
from effobj.cli import main
from effobj.cli.space_range import QUANTILES
from effobj.optuna import EfficiencyObjective


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(["space-range", *argv, "--format", "json"]) == 0, capsys.readouterr().err
    return dict(json.loads(capsys.readouterr().out))


def _check_stats(stats: dict[str, float], values: np.ndarray, q: float) -> None:
    expected = [values.min(), *(np.quantile(values, p) for p in QUANTILES), values.max()]
    got = [stats[k] for k in ("min", "q10", "q25", "q50", "q75", "q90", "max")]
    assert got == pytest.approx(expected)
    assert stats["cost_max"] == pytest.approx(np.quantile(values, q))
    assert stats["cost_ref"] == pytest.approx(2 * stats["cost_max"])  # at the budget C = 1/2


def test_a_model_space_is_profiled_through_the_objective_never_trained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[dict[str, Any]] = []
    costs_of = EfficiencyObjective.costs_of

    def spy(self: EfficiencyObjective, params: Any) -> dict[str, float]:
        out = costs_of(self, params)
        measured.append(out)
        return out

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("space-range trained a candidate")

    monkeypatch.setattr(EfficiencyObjective, "costs_of", spy)
    monkeypatch.setattr(effobj.spaces.ModelSpace, "train", no_training)
    r = _json(capsys, ["--space", "mlp", "--samples", "5", "--latency-time", "0",
                       "--budget-quantile", "0.75", "--seed", "3"])
    assert (r["space"], r["kind"], r["dataset"], r["candidates"], r["failed"]) == (
        "mlp", "model", "breast_cancer", 5, 0)
    assert len(measured) == 5
    assert list(r["indicators"]) == ["flops", "macs", "params", "trainable_params", "model_bytes",
                                     "peak_activation_bytes"]  # counts only: no latency
    for name, stats in r["indicators"].items():
        _check_stats(stats, np.array([m[name] for m in measured]), 0.75)


def test_latency_is_timed_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(capsys, ["--space", "mlp", "--samples", "2", "--latency-time", "0.05"])
    assert r["indicators"]["latency_ms"]["min"] > 0
    assert "throughput" not in r["indicators"]  # more is better: not a cost


def test_a_tabular_space_reads_its_whole_table(capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(capsys, ["--space", "nas-bench-graph:cora"])
    arrays = effobj.spaces.get("nas-bench-graph:cora").arrays()
    assert (r["kind"], r["dataset"], r["candidates"]) == ("tabular", None, len(arrays["latency"]))
    assert list(r["indicators"]) == ["latency", "params"]
    for name in ("latency", "params"):
        _check_stats(r["indicators"][name], arrays[name], 0.5)

    assert main(["space-range", "--space", "nas-bench-graph:cora"]) == 0
    text = capsys.readouterr().out
    lat = r["indicators"]["latency"]
    assert text.startswith("nas-bench-graph:cora (tabular): 26206 candidates: every row of its table")
    assert "indicator        min        10%        25%        50%        75%        90%        max" in text
    assert f"--cost latency   --cost-max {lat['cost_max']:<9.4g} --cost-ref {lat['cost_ref']:<9.4g}" in text
    assert "so a candidate exactly at the budget is\nfeasible and scores E_beta > 0" in text


@pytest.fixture
def odd_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's space file whose odd widths cannot be built."""
    write_user_space(tmp_path)
    (tmp_path / "odd_space.py").write_text('''
from effobj.errors import InputError
from my_space import MySpace


class OddSpace(MySpace):
    name = "odd"

    def _build(self, config, info):
        if config["hidden"] % 2:
            raise InputError(f"hidden {config['hidden']} is odd")
        return super()._build(config, info)
''')
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("_effobj_user_", "my_")):
            del sys.modules[name]


def test_candidates_that_fail_are_counted_not_fatal(odd_space: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space-range", "--space", "odd_space.py:OddSpace", "--samples", "12",
                 "--latency-time", "0"]) == 0
    text = capsys.readouterr().out
    first = text.splitlines()[0]
    assert first.startswith("odd (model, dataset wine): ") and " of 12 random candidates" in first
    assert "candidates could not be measured; the first: InputError: hidden" in text
    assert "--cost macs" in text
