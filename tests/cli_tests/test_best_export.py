"""Issue 22, item 1: from a search to a shipped model. ``effobj search`` keeps the trained
weights that can still win as Optuna artifacts beside the SQLite study; ``effobj best
--export DIR`` writes the winner (state dict, torch.export program, ONNX) with a model
card, re-profiles it in the chosen runtime and says whether it still meets the budget."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import optuna
import pytest
import torch

from effobj import EfficiencySpec
from effobj.cli import main

SPACE = "tmp/my_space.py:MySpace"


def _search(url: str, *extra: str) -> None:
    rc = main(["search", "--space", SPACE, "--storage", url, "--study-name", "s",
               "--trials", "3", "--perf-ref", "1", "--cost-ref", "1000", "--cost", "macs",
               "--cost-max", "900", "--latency-time", "0", "--sampler", "random",
               "--no-progress", "--format", "json", *extra])
    assert rc == 0


#: the ONNX and torch.export exporters take 10-15 s each on a loaded 2-core machine: the
#: whole path (the README's command) is the slow test, the state dict alone the fast one
#: (the latency's calibration another 10 s: the fast test re-profiles the counts only)
PATHS = [
    pytest.param(("state_dict",), "eager", "0", id="state_dict-eager"),
    pytest.param(("state_dict", "export", "onnx"), "onnxruntime", "1", id="onnx-onnxruntime",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("formats", "runtime", "latency_time"), PATHS)
def test_search_then_best_export_writes_a_winner_that_reprofiles_within_budget(
        user_dir: Path, capsys: pytest.CaptureFixture[str], formats, runtime,
        latency_time) -> None:
    url = f"sqlite:///{user_dir.parent / 'w.db'}"
    _search(url)
    capsys.readouterr()
    out_dir = user_dir.parent / "ship"
    rc = main(["best", "--storage", url, "--study-name", "s", "--export", str(out_dir),
               "--runtime", runtime, "--export-formats", ",".join(formats),
               "--latency-time", latency_time, "--format", "json"])
    got = capsys.readouterr()
    assert rc == 0, got.err
    res = json.loads(got.out)
    assert res["export"]["meets_budget"] is True and res["export"]["over"] == {}
    names = sorted(p.name for p in out_dir.iterdir())
    files = {"state_dict": "weights.pt", "export": "model.pt2", "onnx": "model.onnx"}
    assert names == sorted(["model_card.json", *(files[f] for f in formats)])
    card = json.loads((out_dir / "model_card.json").read_text())
    winner = res["number"]
    assert card["trial"]["number"] == winner and card["e_beta"] == pytest.approx(res["e_beta"])
    assert card["reprofile"]["runtime"] == runtime and card["reprofile"]["threads"] == 1
    assert card["reprofile"]["costs"]["macs"] == card["costs_searched"]["macs"]  # the same model
    if latency_time == "0":
        assert card["reprofile"]["latency_ms"] is None  # counts only, as asked
    else:
        lo, hi = card["reprofile"]["latency_ci95_ms"]
        assert lo <= card["reprofile"]["latency_ms"] <= hi
        assert card["reprofile"]["onnx_file_latency_ms"]["median_ms"] > 0
    assert card["accuracy"]["perf"] == pytest.approx(res["perf"])
    assert card["accuracy"]["test_perf"] is not None
    assert card["spec"]["costs"][0]["max"] == 900.0

    # the files are the trained model: the same outputs as the weights in the space's model
    study = optuna.load_study(study_name="s", storage=url)
    trial = [t for t in study.trials if t.number == winner][0]
    sys.path.insert(0, str(user_dir))
    from my_space import MySpace  # the user's file, as the search loaded it

    space = MySpace()
    config = space.suggest(optuna.trial.FixedTrial(trial.params))
    model = space.build(config, None)
    model.load_state_dict(torch.load(io.BytesIO((out_dir / "weights.pt").read_bytes()),
                                     weights_only=True))
    model.eval()
    x = space.example_input(config, None, batch_size=1)
    if "onnx" not in formats:
        return
    program = torch.export.load(out_dir / "model.pt2").module()
    import onnxruntime as ort

    session = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = model(*x)
        assert torch.allclose(program(*x), want, atol=1e-5)
    onnx_out = session.run(None, {session.get_inputs()[0].name: x[0].numpy()})[0]
    assert torch.allclose(torch.as_tensor(onnx_out), want, atol=1e-4)


def test_export_says_when_the_model_no_longer_meets_the_budget(
        user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under a budget the winner's re-profiled costs exceed, the card and the return say so
    (the CLI's ranking never picks such a winner; the API can be asked for any trial)."""
    from effobj.apps._export import export_trial
    from effobj.cli._load import load_space
    from effobj.optuna._weights import default_artifact_store

    url = f"sqlite:///{user_dir.parent / 'w.db'}"
    _search(url)
    study = optuna.load_study(study_name="s", storage=url)
    trial = next(t for t in study.trials if t.user_attrs.get("effobj_weights"))
    macs = trial.user_attrs["macs"]
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_name="macs", cost_ref=1000.0,
                          cost_max=macs / 2)
    res = export_trial(study, trial, spec, user_dir.parent / "tight",
                       store=default_artifact_store(url, create=False),
                       space=load_space(SPACE, "test"), formats=("state_dict",),
                       max_time_s=0)
    assert res.meets_budget is False
    assert res.over == {"macs": f"{macs:.4g} > {macs / 2:.4g}"}
    card = json.loads((user_dir.parent / "tight" / "model_card.json").read_text())
    assert card["meets_budget"] is False and "macs" in card["over_budget"]


def test_export_refusals(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{user_dir.parent / 'w.db'}"
    _search(url, "--keep-weights", "0")  # no weights kept
    capsys.readouterr()
    rc = main(["best", "--storage", url, "--study-name", "s", "--export", "out"])
    assert rc == 2
    assert "No weights were kept" in capsys.readouterr().err
    rc = main(["best", "--storage", url, "--study-name", "s", "--export", "out",
               "--export-formats", "state_dict,tflite"])
    assert rc == 2
    assert "'--export-formats' option of effobj best" in capsys.readouterr().err
