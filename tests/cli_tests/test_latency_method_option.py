"""``--latency-method`` of ``effobj profile``, ``search`` and ``space-range``, and the
study's latency scale and gate decisions as a search on the command line records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from effobj import record as K
from effobj.cli import main
from effobj.optuna._calibration import SCALE_PREFIX
from effobj.profiler import LatencyScale
from effobj.record import TrialRecord

MODEL = """
import torch

def build():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
"""


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0, capsys.readouterr().err
    return dict(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize(("argv", "method"), [([], "compensated"),
                                              (["--latency-method", "plain"], "plain"),
                                              (["--latency-method", "compensated"], "compensated")])
def test_profile_reports_the_latency_method_asked_for(tmp_path: Path, capsys, argv, method):
    (tmp_path / "model.py").write_text(MODEL)
    report = _json(capsys, ["profile", f"{tmp_path / 'model.py'}:build", "--input-shape", "1,4",
                            "--threads", "1", "--max-time", "0.05", "--format", "json", *argv])
    assert report["latency_method"] == method
    assert (report["latency_reference_ms"] is None) == (method == "plain")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch at one thread (what ``search`` profiles at): at two, on a loaded 2-core
    machine, the reference workload's calibration alone takes seconds."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _search(tmp_path: Path, capsys, *extra: str) -> tuple[dict[str, Any], optuna.Study]:
    """A model-space search whose latency budget every candidate breaks: profiled, never
    trained (fast)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    out = _json(capsys, [
        "search", "--space", "mlp", "--dataset", "wine", "--trials", "2", "--beta2", "1", "--perf-ref", "1",
        "--cost", "latency_ms", "--budget", "1e-6", "--storage", url, "--study-name", "lat",
        "--latency-time", "0.05", "--format", "json", "--seed", "0", "--no-progress", *extra,
    ])
    return out, optuna.load_study(study_name="lat", storage=url)


def test_search_profiles_on_the_studys_scale_and_records_the_gate_decision(tmp_path, capsys,
                                                                            one_thread):
    out, study = _search(tmp_path, capsys)
    stored = [v for k, v in study._storage.get_study_system_attrs(study._study_id).items()
              if k.startswith(SCALE_PREFIX)]
    assert len(stored) == 1
    scale = LatencyScale.from_dict(stored[0])
    assert scale.key.split("|")[2] == "threads=1"
    assert len(study.trials) == 2
    for t in study.trials:
        report = TrialRecord.from_trial(t).cost_report
        assert report["latency_method"] == "compensated"
        assert report["latency_scale"] == scale.to_dict()
        assert report["latency_budget_ms"] == 1e-6  # the spec's budget reached the profiler
        assert t.user_attrs[K.STATUS] == "over_budget"
        assert t.user_attrs[K.LATENCY_DECISION] == "over"
        assert isinstance(t.user_attrs[K.LATENCY_DECISION_CERTAIN], bool)
    summary = out["summary"]
    assert summary["n_uncertain_decisions"] == sum(
        t.user_attrs[K.LATENCY_DECISION_CERTAIN] is False for t in study.trials)
    assert "n_latency_unconverged" in summary


def test_search_with_the_plain_method_stores_no_scale(tmp_path, capsys, one_thread):
    _, study = _search(tmp_path, capsys, "--latency-method", "plain")
    assert not [k for k in study._storage.get_study_system_attrs(study._study_id)
                if k.startswith(SCALE_PREFIX)]
    for t in study.trials:
        report = TrialRecord.from_trial(t).cost_report
        assert report["latency_method"] == "plain" and report["latency_scale"] is None


def test_space_range_takes_the_latency_method(capsys):
    r = _json(capsys, ["space-range", "--space", "mlp", "--samples", "2", "--latency-time",
                       "0.05", "--latency-method", "plain", "--format", "json", "--seed", "0"])
    assert "latency_ms" in r["indicators"]
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        main(["space-range", "--space", "mlp", "--latency-method", "fast"])
