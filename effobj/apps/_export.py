"""Ship the winner of a search: its trained weights, exported, re-profiled, with a model card.

``effobj best --export DIR`` calls :func:`export_trial` for the E_beta winner under the
chosen beta^2 and budget. The weights are the ones the search kept as an Optuna artifact
(:class:`~effobj.optuna._weights.WeightsKeeper`); the model is rebuilt from the trial's
parameters by the study's space (``effobj_space``), the weights loaded, and written as

- ``weights.pt``: the ``state_dict`` (``torch.load(..., weights_only=True)``);
- ``model.pt2``: a ``torch.export`` program (``torch.export.load``);
- ``model.torchscript.pt``: TorchScript (``torch.jit.trace``), when asked for;
- ``model.onnx``: ONNX (``torch.onnx.export(dynamo=True)``);
- ``model_card.json``: the spec, the trial, its accuracy (validation and test), its costs
  as the search measured them (with the latency's interval) and as re-measured here.

Each exported file is loaded back and must reproduce the trained model's output on the
example input (``model.pt2`` through ``torch.export.load``, ``model.onnx`` in an ONNX
Runtime session). The re-profile then measures the trained model with the saved weights
with :func:`effobj.profiler.profile_model` in the chosen runtime (eager, ``torch.compile``,
or ONNX Runtime, which runs the same ``torch.onnx`` export as ``model.onnx``) at the
chosen thread count, on the study's stored latency scale when it has one for them (so
the latency compares with the search's), and decides against the spec's budget (a
latency budget: the profile measures on while its interval contains it). ``model.onnx``
itself is also timed, plainly, in an ONNX Runtime session (``onnx_file_latency_ms``). The
card says whether the model still meets the budget, and which cost does not. (A
``torch.export`` program cannot be put in eval mode, which the profiler does, so the
program file is checked, not profiled.)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_trial"]

#: what ``--export-formats`` accepts
EXPORT_FORMATS = ("state_dict", "export", "torchscript", "onnx")
#: the key of a study's user attributes that names its search space (effobj search, demo)
SPACE_ATTR = "effobj_space"


@dataclass
class ExportResult:
    """What :func:`export_trial` wrote and measured.

    Attributes:
        files: format -> path written.
        card: the model card (also written as ``model_card.json``).
        meets_budget: whether the re-profiled costs are within every budget of the spec.
        over: the costs over their budget (name -> "value > max").
    """

    files: dict[str, Path] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    meets_budget: bool = True
    over: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def export_trial(
    study: Any,
    trial: Any,
    spec: Any,
    out_dir: str | Path,
    *,
    store: Any,
    space: Any,
    formats: Sequence[str] = ("state_dict", "export", "onnx"),
    runtime: str = "eager",
    threads: int = 1,
    max_time_s: float = 1.0,
    e_beta: float | None = None,
) -> ExportResult:
    """Export ``trial``'s trained model to ``out_dir`` and re-profile it.

    Args:
        study: the study (its stored latency scale is read, never written).
        trial: the trial to export (a ``FrozenTrial`` that saved weights).
        spec: the spec it is judged under (the chosen beta^2 and budget).
        out_dir: the folder to write (created).
        store: the Optuna artifact store holding the weights.
        space: the model space that built the trial's candidate.
        formats: of :data:`EXPORT_FORMATS`; ``state_dict`` is always written.
        runtime: the runtime of the re-profile (``"eager"``, ``"compile"``, ``"onnxruntime"``).
        threads: intra-op threads of the re-profile (the deployment's).
        max_time_s: time cap of the latency measurement; 0 measures no latency (the
            counts only).
        e_beta: the trial's E_beta under ``spec`` (for the card).

    Raises:
        InputError: an unknown format, a space that builds no model, weights missing or
            not matching the rebuilt model.
        ProfilingError: the model cannot be exported or run in ``runtime``.
    """
    import io

    import optuna
    import torch

    from effobj._validation import check_choice, check_int
    from effobj.errors import InputError, ProfilingError
    from effobj.optuna._calibration import latency_budget_ms, stored_scale
    from effobj.optuna._weights import WEIGHTS_ATTR, weights_of
    from effobj.profiler import LocalProfiler
    from effobj.profiler._runtime import _quiet_exporter
    from effobj.profiler._scale import scale_key
    from effobj.record import TrialRecord

    func = "export_trial"
    for f in formats:
        check_choice(f, "formats", func, EXPORT_FORMATS)
    threads = check_int(threads, "threads", func, low=1)
    if getattr(space, "kind", None) != "model":
        raise InputError(f"The study's space {getattr(space, 'name', space)!r} is not a model "
                         "space: there is no trained model to export.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = ExportResult()

    raw = weights_of(trial, store)
    try:
        config = dict(space.suggest(optuna.trial.FixedTrial(dict(trial.params))))
        model = space.build(config, None)
    except Exception as exc:
        raise InputError(
            f"The params of trial {trial.number} do not build a model of the space "
            f"{getattr(space, 'name', '?')!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); was the study searched with "
            "another space? (effobj best --space names the one it used)") from None
    try:
        state = torch.load(io.BytesIO(raw), weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise InputError(
            f"The saved weights of trial {trial.number} do not fit the model its params build "
            f"in the space {getattr(space, 'name', '?')!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); was the search run on another "
            "dataset or space?") from None
    model.eval()
    inputs = space.example_input(config, None, batch_size=1)

    path = out / "weights.pt"
    path.write_bytes(raw)
    res.files["state_dict"] = path
    reloaded: torch.nn.Module = model
    try:
        if "export" in formats:
            path = out / "model.pt2"
            with torch.no_grad():
                program = torch.export.export(model, inputs)
            torch.export.save(program, path)
            res.files["export"] = path
            reloaded = torch.export.load(path).module()  # the file, as a deployment loads it
        if "torchscript" in formats:
            path = out / "model.torchscript.pt"
            with torch.no_grad():
                traced = torch.jit.trace(model, inputs)
            torch.jit.save(traced, str(path))
            res.files["torchscript"] = path
        if "onnx" in formats:
            path = out / "model.onnx"
            with _quiet_exporter(), torch.no_grad():
                torch.onnx.export(model, inputs, str(path), dynamo=True, external_data=False)
            res.files["onnx"] = path
    except Exception as exc:
        raise ProfilingError(f"Exporting trial {trial.number} failed at {path.name}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                             ) from None
    with torch.no_grad():  # the exported files compute what the trained model does
        expected = model(*inputs)
        if not torch.allclose(reloaded(*inputs), expected, atol=1e-5, rtol=1e-4):
            raise ProfilingError(f"The exported program of trial {trial.number} does not "
                                 "reproduce the trained model's output.")
    if "onnx" in res.files:
        got = _onnx_session(res.files["onnx"], inputs, threads)
        if not torch.allclose(torch.as_tensor(got()[0]), expected, atol=1e-4, rtol=1e-3):
            raise ProfilingError(f"model.onnx of trial {trial.number} does not reproduce the "
                                 "trained model's output in ONNX Runtime.")

    budget = latency_budget_ms(spec)
    options: dict[str, Any] = {"threads": threads, "runtime": runtime, "device": "cpu"}
    if max_time_s > 0:
        options["max_time_s"] = max_time_s
    else:
        options["latency"] = False
    if budget is not None and max_time_s > 0:
        options["latency_budget_ms"] = budget
    scale = stored_scale(study, scale_key("cpu", threads, runtime)) if max_time_s > 0 else None
    if scale is not None:
        options["latency_scale"] = scale  # the search's own calibration: comparable latencies
    report = LocalProfiler(**options).profile(model, inputs)
    costs = report.indicators()
    missing = [n for n in spec.cost_names if n not in costs]
    if missing:
        raise InputError(f"The re-profile gives no {missing} (the spec's costs); it gave "
                         f"{sorted(costs)}.")
    violation = spec.cost_constraints({n: costs[n] for n in spec.cost_names})
    by_name = {c.name: c for c in spec.costs}
    for key, v in violation.items():
        if v > 0:
            name = key.removesuffix("_max")
            ind = by_name.get(name)
            res.over[name] = (f"{costs[name]:.4g} > {ind.max:.4g}" if ind is not None
                              and ind.max is not None else f"exceeded by {v:.4g}")
    res.meets_budget = not res.over

    onnx_ms = None
    if "onnx" in res.files and max_time_s > 0:
        onnx_ms = _time_onnx_file(res.files["onnx"], inputs, threads)

    rec = TrialRecord.from_trial(trial, spec.cost_names)
    searched = rec.cost_report or {}
    card = {
        "study_name": study.study_name,
        "trial": {"number": trial.number, "params": dict(trial.params),
                  "identity": rec.identity, "weights_artifact": trial.user_attrs.get(WEIGHTS_ATTR),
                  "datetime_complete": str(trial.datetime_complete)},
        "space": getattr(space, "name", None),
        "spec": spec.to_dict(),
        "e_beta": e_beta,
        "accuracy": {"perf": rec.perf, "A": rec.A, "test_perf": rec.test_perf,
                     "epochs_run": rec.epochs_run},
        "costs_searched": {
            **{n: rec.costs.get(n) for n in spec.cost_names},
            "latency_ms": searched.get("latency_ms"),
            "latency_ci95_ms": searched.get("latency_ci95_ms"),
            "latency_iqr_ms": searched.get("latency_iqr_ms"),
            "runtime": searched.get("runtime"),
            "threads": (searched.get("device") or {}).get("threads")
            if isinstance(searched.get("device"), dict) else None,
        },
        "reprofile": {
            "runtime": runtime, "threads": threads,
            "of": "the model rebuilt from params with the saved weights (every exported file "
                  "was checked to reproduce its output)",
            "latency_scale": None if max_time_s <= 0 else
            "the study's" if scale is not None else "this process's",
            "costs": {n: costs[n] for n in spec.cost_names},
            "latency_ms": report.latency_ms, "latency_ci95_ms": report.latency_ci95_ms,
            "latency_iqr_ms": report.latency_iqr_ms,
            "latency_decision": report.latency_decision,
            "latency_decision_certain": report.latency_decision_certain,
            "onnx_file_latency_ms": onnx_ms,
        },
        "meets_budget": res.meets_budget,
        "over_budget": res.over,
        "files": {k: {"path": p.name, "sha256": _sha256(p)} for k, p in res.files.items()},
        "versions": _versions(),
    }
    res.card = _clean(card)
    (out / "model_card.json").write_text(json.dumps(res.card, indent=2, default=str) + "\n")
    res.files["card"] = out / "model_card.json"
    return res


def _onnx_session(path: Path, inputs: tuple[Any, ...], threads: int) -> Any:
    """``run()``: one pass of the ONNX file on ``inputs`` in an ONNX Runtime session."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {n: x.detach().cpu().contiguous().numpy() for n, x in zip(names, inputs, strict=False)}

    def run() -> Any:
        return session.run(None, feeds)

    return run


def _time_onnx_file(path: Path, inputs: tuple[Any, ...], threads: int) -> dict[str, float]:
    """The median and IQR (ms) of one pass of the ONNX file in an ONNX Runtime session."""
    import torch.utils.benchmark as bench

    run = _onnx_session(path, inputs, threads)
    run()
    m = bench.Timer(stmt="run()", globals={"run": run}).blocked_autorange(min_run_time=0.5)
    return {"median_ms": m.median * 1e3, "iqr_ms": m.iqr * 1e3}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("effobj", "torch", "optuna", "onnx", "onnxruntime"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out
