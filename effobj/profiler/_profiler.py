"""Profile a model for every cost indicator: :func:`profile_model`, :class:`LocalProfiler`, :class:`Profiler`.

One profile runs these stages, in this order, and names the step in any error:

1. **validate** the options (:class:`~effobj.profiler.ProfileOptions`), the model and the
   example inputs;
2. **place** the model in eval mode on the target device (:func:`_place`: a copy, never
   the caller's model moved) at the deployed thread count;
3. **count** FLOPs and peak activation memory (:func:`_count`) in *one* forward pass on
   the ``meta`` device (shapes only, no arithmetic: a ResNet-50 costs a few milliseconds);
   a model that cannot run on ``meta`` (data-dependent control flow, tensors created on a
   fixed device, operators without a meta kernel) is counted in one real forward pass
   instead; a second count with other input values shows input-dependent control flow
   (:func:`_second_count`);
4. **memory** on CUDA from the allocator, in one real pass that also checks the output and
   warms up (:func:`_real_pass`);
5. **time** it (:func:`_time`, :mod:`effobj.profiler._latency`) under
   :func:`torch.inference_mode`, in the runtime of the options (eager, ``torch.compile``,
   ONNX Runtime: :mod:`effobj.profiler._runtime`, prepared and warmed up first, that time
   reported apart), reading the device's energy counter around the timed blocks when
   there is one;
6. **assemble** the :class:`CostReport` (:func:`_assemble`), with the model's size
   (parameters, trainable parameters, state-dict bytes by dtype: :func:`_sizes`).

The model's train/eval flags, the thread count and the grad mode are restored whatever
happens; a model on another device than ``device`` is copied, never moved.
"""

from __future__ import annotations

import copy
import functools
import gc
import os
import platform
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from effobj._validation import check_instance, refusal
from effobj.errors import InputError, InputTypeError, ProfilingError
from effobj.profiler._cache import ProfileCache, architecture_signature, default_cache
from effobj.profiler._options import ProfileOptions
from effobj.profiler._report import CostReport, DeviceInfo, compact_blocks
from effobj.profiler._scale import cpu_model as _cpu_model

if TYPE_CHECKING:
    import torch

    from effobj.profiler._flops import FlopCounts
    from effobj.profiler._latency import LatencyResult
    from effobj.profiler._scale import LatencyScale

__all__ = ["LocalProfiler", "Profiler", "profile_model"]


@runtime_checkable
class Profiler(Protocol):
    """Anything that turns a model and example inputs into a :class:`CostReport`.

    :class:`LocalProfiler` measures in this process; a profiler that sends the model to
    another machine, or one that looks costs up in a latency table, can take its place
    without changing callers.
    """

    def profile(self, model: torch.nn.Module, example_inputs: Any) -> CostReport:
        """Profile ``model`` on ``example_inputs`` (a tensor or a tuple of tensors)."""
        ...


class LocalProfiler:
    """A :class:`Profiler` measuring on a device of this process, with fixed options.

    Args:
        options: The :class:`~effobj.profiler.ProfileOptions` (default: its defaults).
        **overrides: Fields of :class:`~effobj.profiler.ProfileOptions` applied over
            ``options`` (``LocalProfiler(latency=False)``). The options are validated, and
            the device checked, here once.

    The options' fields read as attributes (``profiler.device``, ``profiler.latency``...).

    Example:
        >>> import torch
        >>> from effobj.profiler import LocalProfiler, Profiler, ProfileOptions
        >>> prof = LocalProfiler(latency=False)
        >>> isinstance(prof, Profiler), prof.options == ProfileOptions(latency=False)
        (True, True)
        >>> prof.profile(torch.nn.Linear(8, 4), torch.ones(2, 8)).macs
        64
    """

    def __init__(self, options: ProfileOptions | None = None, **overrides: Any) -> None:
        from effobj.profiler._runtime import check_runtime_available

        self.options = ProfileOptions.resolve(options, overrides, "LocalProfiler")
        _resolve_device(self.options.device, "LocalProfiler")
        check_runtime_available(self.options.runtime, "LocalProfiler")

    def profile(self, model: torch.nn.Module, example_inputs: Any) -> CostReport:
        """Profile ``model`` with this profiler's options (see :func:`profile_model`)."""
        return profile_model(model, example_inputs, self.options)

    def with_options(self, **changes: Any) -> LocalProfiler:
        """A profiler with ``changes`` (fields of :class:`ProfileOptions`) applied: how a
        search gives it the study's latency scale and the budget to decide against."""
        return LocalProfiler(self.options.replace(**changes))

    def __getattr__(self, name: str) -> Any:
        if name in _OPTION_NAMES:  # read-only views of the options
            return getattr(object.__getattribute__(self, "options"), name)
        raise AttributeError(f"'LocalProfiler' object has no attribute {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self.options, n)!r}" for n in _OPTION_NAMES if n != "cache")
        return f"LocalProfiler({shown})"


_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ProfileOptions))


def profile_model(
    model: torch.nn.Module,
    example_inputs: Any,
    options: ProfileOptions | None = None,
    **overrides: Any,
) -> CostReport:
    r"""Measure every cost indicator of ``model`` for one inference at the inputs' batch size.

    FLOPs follow torch's convention, a fused multiply-add is 2 FLOPs = 1 MAC, and count the
    matmul/convolution/attention family, so ``macs = flops // 2``:

    .. math::

        \mathrm{MACs}(\mathrm{Linear}_{d_{in}\to d_{out}}) = N\,d_{in}\,d_{out},\qquad
        \mathrm{MACs}(\mathrm{attention}) = B\,H\,L_q\,L_k\,(d_{qk} + d_v).

    Operators without a formula are listed in ``unsupported_ops`` (and where they ran in
    ``unsupported_by_module``), never counted as zero silently; give them one with
    :func:`~effobj.profiler.register_flop_formula`. Latency is the median over timed blocks
    at ``threads`` threads, measured until the 95 % interval of the median is within
    ``target_rel_spread`` of it, or until ``max_time_s``; ``latency_converged`` says which.
    A profile needs at least two warm-up passes and ten timed blocks to converge, so a
    model whose forward pass takes more than about ``max_time_s / 12`` reports
    ``latency_converged=False``: raise ``max_time_s``.

    ``runtime`` says what runs the timed passes: eager PyTorch, ``torch.compile`` or ONNX
    Runtime (:attr:`ProfileOptions.runtime <effobj.profiler.ProfileOptions.runtime>`); the
    counts are the same in all three, the compile/export time is in ``compile_time_s``,
    and a model the runtime cannot take raises :class:`ProfilingError` with its reason.

    The intra-op thread count is process-wide in torch: profile from one thread at a time.
    The first profile in a process also pays a one-time import of ``torch._dynamo`` (about
    2 s on a small CPU), which any ``TorchDispatchMode`` triggers.

    Args:
        model: The model (an ``nn.Module``); it is neither moved nor modified (a copy is
            made when it lives on another device than ``device``).
        example_inputs: A tensor, or a tuple/list of tensors passed positionally.
        options: How to profile (:class:`~effobj.profiler.ProfileOptions`: ``device``,
            ``threads``, ``latency``, ``memory``, ``target_rel_spread``, ``max_time_s``,
            ``cache``, ``runtime``); default its defaults.
        **overrides: Fields of :class:`~effobj.profiler.ProfileOptions` applied over
            ``options``: ``profile_model(net, x, latency=False)``.

    Returns:
        A :class:`CostReport`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``example_inputs`` are not tensors,
            or an override is not an option.
        InputError: An option breaks its rule or the device is not available.
        ProfilingError: The model failed at a step (raised, returned no tensor, ran out of
            memory, did not accept the inputs); the message names the model and the step.

    Example:
        >>> import torch
        >>> from effobj.profiler import profile_model
        >>> net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        >>> r = profile_model(net, torch.randn(4, 16), latency=False)
        >>> r.macs == 4 * (16 * 32 + 32 * 2), r.flops == 2 * r.macs, r.n_params
        (True, True, 610)
    """
    import torch

    from effobj.profiler._flops import registry_version
    from effobj.profiler._runtime import check_runtime_available

    t_start = time.perf_counter()
    opts = ProfileOptions.resolve(options, overrides, "profile_model")
    check_instance(model, "model", "profile_model", torch.nn.Module, "a torch.nn.Module")
    inputs = _as_tensor_tuple(example_inputs)
    dev = _resolve_device(opts.device, "profile_model")
    if opts.latency:
        check_runtime_available(opts.runtime, "profile_model")
    n_threads = torch.get_num_threads() if opts.threads is None else int(opts.threads)
    name = type(model).__name__
    _materialize_lazy(model, inputs, name)

    store: ProfileCache | None
    store = default_cache if opts.cache is True else (opts.cache if isinstance(opts.cache, ProfileCache) else None)
    key = None
    if store is not None:
        key = architecture_signature(
            model, inputs, device=str(dev), threads=n_threads,
            options=(opts.latency, opts.memory, opts.target_rel_spread, opts.max_time_s,
                     registry_version(), opts.runtime, opts.latency_method,
                     None if opts.latency_scale is None else opts.latency_scale.to_dict(),
                     opts.latency_budget_ms, opts.decision_cap_s),
        )
        hit = store.get(key)
        if hit is not None:
            return _replace(hit, from_cache=True, profile_time_s=time.perf_counter() - t_start)

    with _restored_state(model):
        run = _place(model, inputs, name=name, dev=dev, threads=n_threads, opts=opts)
        report = _profile(run, model, t_start)
    if store is not None and key is not None and report.flops_range is None:
        store.put(key, report)  # a count that varies run to run is not pinned by the cache
    return report


# ---------------------------------------------------------------------------- the stages
def _materialize_lazy(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], name: str) -> None:
    """Give lazy modules (``nn.LazyLinear``...) their shapes with one forward pass, as the
    model's first call would: neither the signature nor the counts can see an
    uninitialized parameter. The pass runs where the weights are, without gradients."""
    import torch
    from torch.nn.parameter import is_lazy

    if not any(is_lazy(t) for t in (*model.parameters(), *model.buffers())):
        return
    where = next(
        (t.device for t in (*model.parameters(), *model.buffers()) if not is_lazy(t)),
        inputs[0].device if inputs else torch.device("cpu"),
    )

    def run() -> None:
        with torch.no_grad():
            model(*(x.to(where) for x in inputs))

    _step(name, "materializing its lazy modules with one forward pass", run)


@dataclass
class _Run:
    """What the stages of one profile share."""

    name: str  # the model's class name, in every error
    dev: torch.device
    threads: int
    opts: ProfileOptions
    model: torch.nn.Module  # the model that runs: the caller's, or its copy on ``dev``
    inputs: tuple[torch.Tensor, ...]  # as given: their shapes are counted
    real_inputs: tuple[torch.Tensor, ...]  # on ``dev``; () for a model on meta
    on_meta: bool  # the weights are on the meta device: counted, never run


@dataclass
class _Counted:
    """The outcome of :func:`_count`."""

    counts: FlopCounts
    peak: int | None  # peak activation bytes, when tracked in the counting pass
    device: str  # "meta", or the device of the real pass that was counted
    pass_s: list[float] = field(default_factory=list)  # real forward passes run: the first warm-up


def _profile(run: _Run, model: torch.nn.Module, t_start: float) -> CostReport:
    """The stages after placement: count, real pass, time, assemble."""
    counted = _count(run)
    flops_range = _second_count(run.model, run.inputs, run.real_inputs, counted.counts,
                                counted.device, run.name)
    peak = _real_pass(run, counted)
    lat, setup_s, scale = (_time(run, counted.pass_s) if run.opts.latency and not run.on_meta
                           else (None, None, None))
    return _assemble(run, model, counted, flops_range, peak, lat, t_start, setup_s, scale)


def _place(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], *, name: str,
           dev: torch.device, threads: int, opts: ProfileOptions) -> _Run:
    """Refuse what a model on meta cannot do, set the thread count (restored by the caller),
    and put an eval-mode model and the inputs on ``dev`` (copies, never the caller's moved)."""
    import torch

    model_devices = {t.device for t in _tensors_of(model)}
    meta = torch.device("meta")
    on_meta = model_devices == {meta}
    if meta in model_devices and not on_meta:  # part on meta: nothing can run it
        names = [n for n, t in (*model.named_parameters(), *model.named_buffers())
                 if t.device == meta]
        raise ProfilingError(
            f"Profiling {name} failed: some of its weights are on the meta device (no data: "
            f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) and others on "
            f"{', '.join(sorted(str(d) for d in model_devices - {meta}))}, so it can be neither "
            "counted on meta nor run. Materialize them (e.g. model.to_empty(device=...) and "
            "load the weights), or build the whole model on the meta device to count it."
        )
    if on_meta and opts.latency:
        raise InputError(
            f"The model {name} has its weights on the meta device: it can be counted but not "
            f"timed. Pass latency=False, or materialize it on {dev}."
        )
    if on_meta and opts.memory and dev.type == "cuda":
        raise InputError(
            f"The model {name} has its weights on the meta device: its CUDA memory cannot be "
            f"measured. Pass memory=False, or materialize it on {dev}."
        )
    torch.set_num_threads(threads)  # real passes run at the deployed thread count
    run_model = model
    if not on_meta and model_devices - {dev}:
        run_model = _step(name, f"copying the model to {dev}", lambda: copy.deepcopy(model).to(dev))
    run_model.eval()
    real_inputs: tuple[torch.Tensor, ...] = ()
    if not on_meta:
        real_inputs = _step(name, f"copying the example inputs to {dev}",
                            lambda: tuple(x.to(dev) for x in inputs))
    return _Run(name, dev, threads, opts, run_model, inputs, real_inputs, on_meta)


def _count(run: _Run) -> _Counted:
    """FLOPs and (off CUDA) peak activation memory: one pass on meta, else one real pass."""
    from effobj.profiler._flops import count_flops
    from effobj.profiler._memory import LiveTensorTracker

    track = run.opts.memory and run.dev.type != "cuda" and run.opts.runtime == "eager"
    try:
        counts, peak = _count_on_meta(run.model, run.inputs, track, count_flops, LiveTensorTracker)
        return _Counted(counts, peak, "meta")
    except _NoTensorOutput as exc:
        raise ProfilingError(f"Profiling {run.name} failed at step 'counting FLOPs': {exc}") from None
    except Exception as exc:  # the model cannot run on meta: count a real pass instead
        if run.on_meta:
            raise ProfilingError(
                f"Profiling {run.name} failed at step 'counting FLOPs on the meta device': "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return _count_real(run, track)


def _count_real(run: _Run, track: bool) -> _Counted:
    """Count one real forward pass on the target device (its time is the first warm-up)."""
    import torch

    from effobj.profiler._flops import count_flops
    from effobj.profiler._memory import LiveTensorTracker

    tracker = LiveTensorTracker(exclude=[*_tensors_of(run.model), *run.real_inputs])

    def real_count() -> tuple[Any, Any]:
        with ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if track:
                stack.enter_context(tracker)
            fc = stack.enter_context(count_flops())
            out = run.model(*run.real_inputs)
        _check_output(out)
        return fc, out

    t_count = time.perf_counter()
    counts, out = _step(run.name, f"counting FLOPs in a forward pass on {run.dev}", real_count)
    t_count = time.perf_counter() - t_count
    del out
    return _Counted(counts, tracker.peak_bytes if track else None, str(run.dev), [t_count])


def _real_pass(run: _Run, counted: _Counted) -> int | None:
    """One real forward pass when the counting ran none and one is needed: the CUDA
    allocator's peak, the output check, the first warm-up (appended to ``counted.pass_s``).

    Returns:
        The peak activation bytes (the allocator's on CUDA, else the counted one).
    """
    import torch

    from effobj.profiler._memory import cuda_peak_bytes

    cuda_memory = run.opts.memory and run.dev.type == "cuda" and run.opts.runtime == "eager"
    if run.on_meta or not (cuda_memory or (run.opts.latency and not counted.pass_s)):
        return counted.peak

    def once() -> Any:
        with torch.inference_mode():
            if cuda_memory:
                return cuda_peak_bytes(lambda: run.model(*run.real_inputs), run.dev)
            return None, run.model(*run.real_inputs)

    t_once = time.perf_counter()
    cuda_peak, out = _step(run.name, f"forward pass on {run.dev}", once)
    counted.pass_s.append(time.perf_counter() - t_once)
    _step(run.name, f"checking the output of the forward pass on {run.dev}",
          functools.partial(_check_output, out))
    del out
    return counted.peak if cuda_peak is None else cuda_peak


def _time(run: _Run, prior_runs: list[float]
          ) -> tuple[LatencyResult, float | None, LatencyScale | None]:
    """Latency (and energy, where the device reports it) at the deployed thread count, in
    the options' runtime and method; the runtime's one-time setup seconds (``None`` in
    eager); the calibration of a compensated latency (``None`` in the plain method)."""
    import torch

    from effobj.profiler._energy import energy_meter
    from effobj.profiler._latency import compensated_or_plain, measure_latency
    from effobj.profiler._runtime import prepare_runtime
    from effobj.profiler._scale import reference_workload

    meter = energy_meter(run.dev.type, run.dev.index)
    # at the deployed thread count, set by _place
    ready = prepare_runtime(run.opts.runtime, run.model, run.real_inputs, threads=run.threads,
                            name=run.name)
    warm = prior_runs if run.opts.runtime == "eager" else list(ready.warm_s)
    opts = run.opts
    scale = _scale_of(run) if opts.latency_method == "compensated" else None
    reference = None if scale is None else reference_workload(str(run.dev), run.threads,
                                                              opts.runtime)
    budget_s = None if opts.latency_budget_ms is None else opts.latency_budget_ms / 1e3
    made: list[LatencyResult] = []

    def once(method: str) -> LatencyResult:
        with torch.inference_mode():
            made.append(measure_latency(
                ready.fn, threads=run.threads, target_rel_spread=opts.target_rel_spread,
                # the passes run before count as the first measurement's warm-up
                max_time_s=opts.max_time_s, energy=meter, prior_runs=() if made else warm,
                reference=reference if method == "compensated" else None,
                scale_s=(scale.reference_ms / 1e3
                         if scale is not None and method == "compensated" else None),
                budget_s=budget_s, decision_cap_s=opts.decision_cap_s))
            return made[-1]

    def timed() -> LatencyResult:
        if scale is None:
            return once("plain")
        # a compensated measurement whose reference ran more than 3x off its calibration,
        # or more than 3x off the candidate's plain probe, gives way to a plain one,
        # flagged (_latency's policy)
        return compensated_or_plain(functools.partial(once, "compensated"),
                                    functools.partial(once, "plain"))

    where = run.dev if opts.runtime == "eager" else f"{run.dev} in {opts.runtime}"
    lat = _step(run.name, f"measuring latency on {where}", timed)
    return lat, ready.setup_s, scale


def _scale_of(run: _Run) -> LatencyScale:
    """The calibration of a compensated latency: the options' (checked against this
    device and thread count), else this process's."""
    from effobj.profiler._scale import process_scale, scale_key

    given, runtime = run.opts.latency_scale, run.opts.runtime
    if given is None:
        return process_scale(str(run.dev), run.threads, runtime)
    key = scale_key(str(run.dev), run.threads, runtime)
    if given.key != key:
        raise InputError(
            f"The 'latency_scale' parameter of profile_model must be a calibration of this "
            f"device, thread count and runtime's reference, {key!r}. Got one of "
            f"{given.key!r} instead.",
        )
    return given


def _assemble(run: _Run, model: torch.nn.Module, counted: _Counted,
              flops_range: tuple[int, int] | None, peak: int | None,
              lat: LatencyResult | None, t_start: float, setup_s: float | None = None,
              scale: LatencyScale | None = None) -> CostReport:
    """The :class:`CostReport` of the stages' results (sizes read off the caller's model)."""
    inputs = run.inputs
    batch = int(inputs[0].shape[0]) if inputs[0].dim() > 0 else 1
    params, trainable, model_bytes, by_dtype = _sizes(model)
    counts = counted.counts
    flops = int(counts.flops)
    return CostReport(
        model_name=run.name,
        input_shapes=tuple(tuple(int(n) for n in x.shape) for x in inputs),
        input_dtypes=tuple(str(x.dtype) for x in inputs),
        batch_size=batch,
        flops=flops,
        macs=flops // 2,
        flops_by_module=dict(counts.by_module),
        flops_by_op=dict(counts.by_op),
        unsupported_ops=tuple(counts.unsupported),
        unsupported_by_module={m: dict(ops) for m, ops in counts.unsupported_by_module.items()},
        count_device=counted.device,
        flops_range=flops_range,
        n_params=params,
        trainable_params=trainable,
        model_bytes=model_bytes,
        model_bytes_by_dtype=by_dtype,
        peak_activation_bytes=None if not run.opts.memory or peak is None else int(peak),
        device=_device_info(run.dev, run.threads),
        runtime=run.opts.runtime,
        compile_time_s=setup_s,
        profile_time_s=time.perf_counter() - t_start,
        **({} if lat is None else _latency_fields(lat, batch, scale, run.opts)),
    )


def _latency_fields(lat: LatencyResult, batch: int, scale: LatencyScale | None,
                    opts: ProfileOptions) -> dict[str, Any]:
    """The report's latency, throughput and energy fields, in its units (ms, samples/s, J)."""
    return {
        "latency_method": "plain" if scale is None else "compensated",
        "latency_raw_ms": None if lat.raw_median_s is None else lat.raw_median_s * 1e3,
        "latency_reference_ms": None if scale is None else scale.reference_ms,
        "latency_reference_now_ms": (None if lat.reference_now_s is None
                                     else lat.reference_now_s * 1e3),
        "latency_reference_ratio": lat.reference_ratio,
        "latency_compensated_ms": None if lat.compensated_s is None else lat.compensated_s * 1e3,
        "latency_reference_disturbed": lat.reference_disturbed,
        "latency_scale": None if scale is None else scale.to_dict(),
        "latency_budget_ms": opts.latency_budget_ms,
        "latency_decision": lat.decision,
        "latency_decision_certain": lat.decision_certain,
        "latency_ms": lat.median_s * 1e3,
        # one timed block has no spread to show: None, not an IQR of 0 that reads as no noise
        "latency_iqr_ms": lat.iqr_s * 1e3 if lat.samples >= 2 else None,
        "latency_ci95_ms": None if lat.ci95_s is None else (lat.ci95_s[0] * 1e3, lat.ci95_s[1] * 1e3),
        "latency_rel_spread": lat.rel_spread,
        "latency_samples": lat.samples,
        "latency_runs": lat.runs,
        "latency_converged": lat.converged,
        "latency_block_ms": compact_blocks([t * 1e3 for t in lat.block_s]),
        "throughput": batch / lat.median_s,
        "energy_j": lat.energy_j,
        "energy_source": lat.energy_source,
    }


def _second_count(run_model: Any, inputs: tuple[Any, ...], real_inputs: tuple[Any, ...],
                  counts: Any, count_device: str, name: str) -> tuple[int, int] | None:
    """Count the FLOPs again, with other values in the floating-point inputs: a model
    whose control flow depends on its input or on chance counts differently. Returns
    ``(lowest, highest)`` and warns when the two counts differ, else ``None``."""
    import warnings

    import torch

    from effobj.profiler._flops import count_flops
    from effobj.profiler._memory import LiveTensorTracker

    try:
        if count_device == "meta":  # shapes only: chance inside the model still shows
            again, _ = _count_on_meta(run_model, inputs, False, count_flops, LiveTensorTracker)
        else:  # the inputs negated, then redrawn: a branch on a sign or a threshold shows
            for redraw in (torch.neg, torch.randn_like):
                other = tuple(redraw(x) if x.is_floating_point() else x for x in real_inputs)
                with ExitStack() as stack:
                    stack.enter_context(torch.inference_mode())
                    again = stack.enter_context(count_flops())
                    run_model(*other)
                if int(again.flops) != int(counts.flops):
                    break
    except Exception:  # the first count stands; the second is only a check
        return None
    a, b = int(counts.flops), int(again.flops)
    if a == b:
        return None
    warnings.warn(
        f"profile_model: {name} counted {a:,} and then {b:,} FLOPs for inputs of one shape: "
        "its control flow depends on the input values or on chance. The report gives the "
        "first count and both in 'flops_range'; it is not cached.",
        stacklevel=4,
    )
    return (min(a, b), max(a, b))


class _NoTensorOutput(Exception):
    pass


def _check_output(out: Any) -> None:
    import torch
    from torch.utils._pytree import tree_leaves

    if not any(isinstance(t, torch.Tensor) for t in tree_leaves(out)):
        raise _NoTensorOutput(
            f"the model returned {type(out).__name__} ({_short(out)}) with no tensor in it; "
            f"profile_model needs a model that returns a tensor or a tuple/list/dict of tensors"
        )


def _count_on_meta(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], track_memory: bool,
                   count_flops: Any, tracker_cls: Any) -> tuple[Any, int | None]:
    """One forward pass with weights, buffers and inputs replaced by meta tensors."""
    import torch
    from torch.func import functional_call

    from effobj.profiler._meta import MetaKernels, MetaShortcuts

    meta_of: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    for nm, t in [*model.named_parameters(remove_duplicate=False),
                  *model.named_buffers(remove_duplicate=False)]:
        if id(t) not in meta_of:  # shared (tied) tensors stay shared
            meta_of[id(t)] = torch.empty_like(t, device="meta").requires_grad_(False)
        state[nm] = meta_of[id(t)]
    meta_inputs = tuple(torch.empty_like(x, device="meta") for x in inputs)
    tracker = tracker_cls(exclude=[*meta_of.values(), *meta_inputs])
    # modes, outermost first: fast leaf kernels, memory, op log + FLOP counter, shortcuts
    with ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        stack.enter_context(MetaKernels())
        if track_memory:
            stack.enter_context(tracker)
        fc = stack.enter_context(count_flops())
        stack.enter_context(MetaShortcuts())
        out = functional_call(model, state, meta_inputs, strict=False, tie_weights=True)
    _check_output(out)
    return fc, (tracker.peak_bytes if track_memory else None)


def _sizes(model: torch.nn.Module) -> tuple[int, int, int, dict[str, int]]:
    """(params, trainable params, state-dict bytes, bytes by dtype), shared tensors once.

    Quantized modules keep their weights outside ``parameters()`` (packed, or plain tensors in
    the state dict): their ``weight``/``bias``/``_packed_params`` entries count as parameters,
    not trainable ones.
    """
    import torch
    from torch.utils._pytree import tree_leaves

    params = trainable = 0
    for p in model.parameters():  # deduplicated by identity
        params += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    known = {id(t) for t in model.parameters()} | {id(t) for t in model.buffers()}
    seen: set[Any] = set()
    by_dtype: dict[str, int] = {}
    for key, value in model.state_dict(keep_vars=True).items():
        last = key.rsplit(".", 1)[-1]
        for t in tree_leaves(value):
            if not isinstance(t, torch.Tensor):
                continue
            try:
                ident: Any = (t.untyped_storage()._cdata, t.storage_offset(), tuple(t.shape), t.dtype)
            except (RuntimeError, NotImplementedError):  # quantized / opaque tensors
                ident = id(t)
            if ident in seen:
                continue
            seen.add(ident)
            nbytes = t.numel() * t.element_size()
            by_dtype[str(t.dtype)] = by_dtype.get(str(t.dtype), 0) + nbytes
            if id(t) not in known and (t.is_quantized or last in ("weight", "bias", "_packed_params")):
                params += t.numel()
    return params, trainable, sum(by_dtype.values()), by_dtype


# ---------------------------------------------------------------------------- helpers
def _step(name: str, step: str, fn: Any) -> Any:
    """Run one step; turn any failure into a ProfilingError naming the model and the step."""
    import torch

    try:
        return fn()
    except _NoTensorOutput as exc:
        raise ProfilingError(f"Profiling {name} failed at step '{step}': {exc}") from None
    except (torch.OutOfMemoryError, MemoryError) as exc:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise ProfilingError(
            f"Profiling {name} failed at step '{step}': out of memory "
            f"({type(exc).__name__}: {_first_line(exc)}). Try a smaller batch or another device."
        ) from exc
    except (InputError, ProfilingError):
        raise
    except Exception as exc:
        if _is_oom(exc):
            gc.collect()
            raise ProfilingError(
                f"Profiling {name} failed at step '{step}': out of memory "
                f"({type(exc).__name__}: {_first_line(exc)}). Try a smaller batch or another device."
            ) from exc
        raise ProfilingError(
            f"Profiling {name} failed at step '{step}': {type(exc).__name__}: {_first_line(exc)}"
        ) from exc


@contextmanager
def _restored_state(model: torch.nn.Module) -> Iterator[None]:
    """Restore every submodule's train/eval flag, the thread count and the grad mode."""
    import torch

    flags = [(m, m.training) for m in model.modules()]
    threads = torch.get_num_threads()
    grad = torch.is_grad_enabled()
    try:
        yield
    finally:
        for m, was_training in flags:
            m.training = was_training
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)


def _tensors_of(model: torch.nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *model.buffers()]


def _as_tensor_tuple(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    import torch

    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, tuple | list) and example_inputs and all(
        isinstance(x, torch.Tensor) for x in example_inputs
    ):
        return tuple(example_inputs)
    got = (f"{type(example_inputs).__name__} of {[type(x).__name__ for x in example_inputs]}"
           if isinstance(example_inputs, tuple | list) else type(example_inputs).__name__)
    raise refusal("example_inputs", "profile_model",
                  "be a torch.Tensor or a non-empty tuple of torch.Tensor", got, error=InputTypeError)


def _resolve_device(device: str, where: str = "profile_model") -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise refusal("device", where, "be a device torch knows ('cpu', 'cuda', 'cuda:1', 'mps')",
                      repr(device)) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"The 'device' parameter of {where} names {device!r}, but CUDA "
                             f"is not available in this process (torch {torch.__version__}).")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise InputError(f"The 'device' parameter of {where} names {device!r}, but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist.")
        return torch.device("cuda", index)
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"The 'device' parameter of {where} names {device!r}, but MPS is "
                         f"not available on this machine.")
    if dev.type == "meta":
        raise refusal("device", where, "be a device that computes", repr(device),
                      hint="FLOPs are already counted on meta without asking.")
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        module = getattr(torch, dev.type, None)
        if module is None or not getattr(module, "is_available", lambda: False)():
            raise InputError(f"The 'device' parameter of {where} names {device!r}, which is "
                             f"not available in this process.")
    return dev


def _device_info(dev: torch.device, threads: int) -> DeviceInfo:
    import torch

    gpu = None
    if dev.type == "cuda":
        gpu = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        gpu = "Apple MPS"
    return DeviceInfo(
        device=str(dev),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        threads=threads,
        torch_version=torch.__version__,
        gpu_name=gpu,
        hostname=platform.node(),
        platform=platform.platform(),
    )


def _replace(report: CostReport, **changes: Any) -> CostReport:
    import dataclasses

    return dataclasses.replace(report, **changes)


def _is_oom(exc: BaseException) -> bool:
    # the CPU allocator raises a plain RuntimeError
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _short(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
