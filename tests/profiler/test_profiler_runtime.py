"""``ProfileOptions.runtime``: the latency of the runtime a model is deployed with.

Counts come from the meta pass whatever the runtime; the latency from eager PyTorch,
``torch.compile`` or ONNX Runtime, with its interval and its blocks; a model the runtime
cannot take fails with the runtime's reason.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import torch
from reference_models import BasicBlock, BertEncoder, ResNet, ViT
from torch import nn

from effobj.cli import main
from effobj.errors import InputError, ProfilingError
from effobj.profiler import CostReport, LocalProfiler, ProfileCache, ProfileOptions, profile_model
from effobj.profiler._report import LATENCY_BLOCKS_KEPT


def _tiny_vit() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return ViT(dim=32, depth=1, heads=2, mlp=64, patch=8, image=32, num_classes=10), torch.randn(1, 3, 32, 32)


def _tiny_bert() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return (BertEncoder(vocab=100, dim=32, depth=1, heads=2, ffn=64, max_len=16),
            torch.randint(0, 100, (1, 16)))


def _mlp() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)), torch.randn(2, 16)


class DataDependent(nn.Module):
    """Control flow on a tensor's value: torch.export (hence ONNX) cannot trace one graph."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if y.sum() > 0:
            return y * 2
        return y


def _check_timed(r: CostReport, runtime: str) -> None:
    assert r.runtime == runtime
    assert r.latency_ms is not None and r.latency_ms > 0
    assert r.latency_ci95_ms is not None
    lo, hi = r.latency_ci95_ms
    assert 0 < lo <= r.latency_ms <= hi
    blocks = r.latency_block_ms
    assert blocks and 1 <= len(blocks) <= LATENCY_BLOCKS_KEPT and min(blocks) > 0
    assert min(blocks) <= r.latency_ms * (1 + 1e-6) and r.latency_ms <= max(blocks) * (1 + 1e-6)
    if runtime == "eager":
        assert r.compile_time_s is None
    else:
        assert r.compile_time_s is not None and r.compile_time_s > 0
        assert r.peak_activation_bytes is None  # not reported there: never the eager count
        assert f"n/a (not reported in the {runtime} runtime)" in r.to_table()
    line = next(ln for ln in r.to_table().splitlines() if ln.startswith("runtime "))
    assert line.split()[1] == runtime


def _same_counts(a: CostReport, b: CostReport) -> None:
    assert (a.flops, a.macs, a.n_params, a.model_bytes) == (b.flops, b.macs, b.n_params, b.model_bytes)
    assert a.flops_by_op == b.flops_by_op and a.flops_by_module == b.flops_by_module
    assert a.count_device == b.count_device == "meta"


# ---------------------------------------------------------------------------- options
def test_runtime_is_an_option_checked_when_built() -> None:
    assert ProfileOptions().runtime == "eager"
    assert ProfileOptions(runtime="compile").runtime == "compile"
    with pytest.raises(InputError, match="'runtime' parameter of ProfileOptions must be one of"):
        ProfileOptions(runtime="tflite")
    with pytest.raises(InputError, match="'runtime' parameter of profile_model"):
        profile_model(nn.Linear(2, 2), torch.ones(1, 2), runtime="jit")
    with pytest.raises(InputError, match="CPUExecutionProvider"):
        ProfileOptions(device="cuda", runtime="onnxruntime")
    assert LocalProfiler(runtime="compile", latency=False).runtime == "compile"
    # the peak memory is an eager measurement: another runtime does not promise it
    assert "peak_activation_bytes" not in ProfileOptions(runtime="compile", latency=False).indicators()
    assert "peak_activation_bytes" in ProfileOptions(latency=False).indicators()


def test_the_cache_key_includes_the_runtime() -> None:
    model, x = _mlp()
    cache = ProfileCache()
    a = profile_model(model, x, latency=False, cache=cache)
    b = profile_model(model, x, latency=False, cache=cache, runtime="compile")
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)
    assert (a.runtime, b.runtime) == ("eager", "compile")
    assert profile_model(model, x, latency=False, cache=cache, runtime="compile").from_cache


def test_reports_written_before_runtimes_and_blocks_still_load() -> None:
    model, x = _mlp()
    r = profile_model(model, x, max_time_s=0.05, threads=1, cache=False)
    d = r.to_dict()
    assert json.loads(r.to_json())["latency_block_ms"] == list(r.latency_block_ms or ())
    assert CostReport.from_json(r.to_json()) == r
    for key in ("runtime", "latency_block_ms", "compile_time_s"):
        del d[key]
    old = CostReport.from_dict(d)
    assert (old.runtime, old.latency_block_ms, old.compile_time_s) == ("eager", None, None)


# ---------------------------------------------------------------------------- the runtimes
def test_eager_keeps_its_blocks_within_the_bound() -> None:
    model, x = _mlp()
    r = profile_model(model, x, max_time_s=0.1, threads=1, cache=False)
    _check_timed(r, "eager")
    assert len(r.latency_block_ms or ()) == min(r.latency_samples or 0, LATENCY_BLOCKS_KEPT)


def test_compile_times_the_compiled_model_with_the_eager_counts() -> None:
    """Compilation is reported apart from the latency; this tiny model compiles in seconds."""
    model, x = _mlp()
    eager = profile_model(model, x, max_time_s=0.1, threads=1, cache=False)
    t0 = time.perf_counter()
    compiled = profile_model(model, x, max_time_s=0.1, threads=1, cache=False, runtime="compile")
    assert time.perf_counter() - t0 < 60
    _check_timed(compiled, "compile")
    _same_counts(eager, compiled)
    assert compiled.latency_ms is not None and compiled.compile_time_s is not None
    assert compiled.compile_time_s > compiled.latency_ms / 1e3  # the first call compiled


@pytest.mark.parametrize("build", [_tiny_vit, _tiny_bert, _mlp], ids=["vit", "bert", "mlp"])
def test_onnxruntime_times_the_exported_model_with_the_eager_counts(build) -> None:
    model, x = build()
    eager = profile_model(model, x, max_time_s=0.1, threads=1, cache=False)
    ort = profile_model(model, x, max_time_s=0.1, threads=1, cache=False, runtime="onnxruntime")
    _check_timed(eager, "eager")
    _check_timed(ort, "onnxruntime")
    _same_counts(eager, ort)


def test_a_model_onnx_cannot_export_fails_with_the_runtimes_reason() -> None:
    with pytest.raises(ProfilingError) as info:
        profile_model(DataDependent(), torch.randn(2, 8), max_time_s=0.1, cache=False,
                      runtime="onnxruntime")
    text = str(info.value)
    assert "DataDependent" in text and "runtime 'onnxruntime'" in text
    assert "torch.onnx.export" in text and "torch.export" in text
    assert "data-dependent" in text.lower() or "DataDependent" in text.split("(", 1)[-1]
    # the same model is timed in eager and compile (dynamo breaks the graph there)
    assert profile_model(DataDependent(), torch.randn(2, 8), max_time_s=0.05, cache=False).latency_ms


def test_a_trial_the_runtime_refuses_fails_with_its_reason_and_the_study_goes_on() -> None:
    import optuna

    from effobj.optuna import EfficiencyObjective
    from effobj.record import TrialRecord
    from effobj.spec import EfficiencySpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=1e3, cost_name="latency_ms")

    def build(trial: optuna.trial.Trial) -> nn.Module:
        if trial.suggest_categorical("kind", ["branchy", "plain"]) == "branchy":
            return DataDependent()
        return nn.Sequential(nn.Linear(8, 8), nn.ReLU())

    obj = EfficiencyObjective(spec, build, lambda m, t: 0.9, torch.randn(2, 8),
                              profiler=LocalProfiler(max_time_s=0.05, threads=1,
                                                     runtime="onnxruntime"),
                              skip_hopeless=False)
    study = obj.create_study(storage=":memory:", study_name="rt")
    study.enqueue_trial({"kind": "branchy"})
    study.enqueue_trial({"kind": "plain"})
    study.optimize(obj, n_trials=2)
    failed, done = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    reason = TrialRecord.from_trial(failed).fail_reason or ""
    assert "runtime 'onnxruntime'" in reason and "torch.onnx.export" in reason
    assert done.state == optuna.trial.TrialState.COMPLETE
    report = TrialRecord.from_trial(done).cost_report or {}
    assert report["runtime"] == "onnxruntime" and report["latency_ms"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["eager", "compile", "onnxruntime"])
def test_a_small_resnet_in_each_runtime(runtime: str) -> None:
    torch.manual_seed(0)
    model, x = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10), torch.randn(1, 3, 32, 32)
    eager = profile_model(model, x, max_time_s=0.5, cache=False)
    r = profile_model(model, x, max_time_s=0.5, cache=False, runtime=runtime)
    _check_timed(r, runtime)
    _same_counts(eager, r)


# ---------------------------------------------------------------------------- the CLI
def test_cli_profile_takes_a_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.py"
    f.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Linear(8, 4))\n")
    code = main(["profile", f"{f}:build", "--input-shape", "2,8", "--max-time", "0.05",
                 "--format", "json", "--runtime", "compile"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runtime"] == "compile" and out["compile_time_s"] > 0 and out["latency_ms"] > 0
    with pytest.raises(SystemExit):
        main(["profile", f"{f}:build", "--input-shape", "2,8", "--runtime", "tflite"])
    assert "invalid choice: 'tflite'" in capsys.readouterr().err


def test_search_and_space_range_offer_the_runtime() -> None:
    from effobj.cli import build_parser

    parser = build_parser()
    for command in (["search", "--space", "mlp", "--trials", "1", "--perf-ref", "1",
                     "--cost", "macs"], ["space-range", "--space", "mlp"]):
        args = parser.parse_args([*command, "--runtime", "onnxruntime"])
        assert args.runtime == "onnxruntime"
        assert parser.parse_args(command).runtime == "eager"


def test_a_missing_onnx_extra_is_refused_before_any_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(InputError, match=r"pip install 'effobj\[onnx\]'"):
        LocalProfiler(runtime="onnxruntime")
    assert ProfileOptions(runtime="onnxruntime").runtime == "onnxruntime"  # options need no ORT
