"""The result of profiling one model: :class:`CostReport` and the :class:`DeviceInfo` it ran on.

Both are plain frozen dataclasses holding only JSON-friendly values (ints, floats,
strings, tuples and dicts of those), so a report can be stored as an Optuna user
attribute, written to disk and read back with :meth:`CostReport.from_dict`.

This module imports neither torch nor optuna.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from effobj._validation import check_instance, check_real, check_str
from effobj.errors import InputError

__all__ = ["LATENCY_BLOCKS_KEPT", "REFERENCE_BOUND", "CostReport", "DeviceInfo", "LatencyScale",
           "budget_decision", "compact_blocks", "iqr_text", "reference_disturbed"]


@dataclass(frozen=True)
class DeviceInfo:
    """Where a profile was measured, so that a study mixing workers can tell results apart.

    Attributes:
        device: The torch device the model ran on (``"cpu"``, ``"cuda:0"``, ...).
        cpu_model: The CPU's model name (from ``/proc/cpuinfo`` or :mod:`platform`).
        cpu_count: Logical CPUs of the machine (``os.cpu_count()``).
        threads: The intra-op thread count latency was measured at.
        torch_version: ``torch.__version__``.
        gpu_name: The accelerator's name, ``None`` on a CPU.
        hostname: The machine's network name.
        platform: ``platform.platform()``.
    """

    device: str
    cpu_model: str
    cpu_count: int
    threads: int
    torch_version: str
    gpu_name: str | None = None
    hostname: str = ""
    platform: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serializable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceInfo:
        """Rebuild a :class:`DeviceInfo` from :meth:`to_dict`'s output."""
        _check_keys("DeviceInfo", d, cls)
        return cls(**d)


# Fields stored as tuples (JSON gives lists back).
#: indicators every report has: counted on the meta device, or read off the model
COUNTED_INDICATORS: tuple[str, ...] = ("flops", "macs", "n_params", "trainable_params", "model_bytes")
#: indicators of a profile that measured memory (``ProfileOptions.memory``)
MEMORY_INDICATORS: tuple[str, ...] = ("peak_activation_bytes",)
#: indicators of a profile that measured latency (``energy_j`` only where the device reports energy)
TIMED_INDICATORS: tuple[str, ...] = ("latency_ms", "throughput", "energy_j")

_TUPLE_FIELDS = ("input_shapes", "input_dtypes", "unsupported_ops", "latency_ci95_ms", "flops_range",
                 "latency_block_ms")

#: the most per-block latencies a report keeps (:attr:`CostReport.latency_block_ms`)
LATENCY_BLOCKS_KEPT = 128


def compact_blocks(times_ms: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    r"""The per-block latencies a report keeps: at most :data:`LATENCY_BLOCKS_KEPT`, each
    to 6 significant digits.

    Up to the bound they are kept as measured, in time order. Beyond it, the bound's worth
    of evenly spaced order statistics (ranks :math:`\mathrm{round}(i (n-1)/(m-1))`, the
    smallest and the largest included) stand for them, in increasing order: the empirical
    distribution a bootstrap resamples is kept to within :math:`1/m` in every quantile.

    Example:
        >>> compact_blocks([0.5, 0.123456789, 0.7])
        (0.5, 0.123457, 0.7)
        >>> len(compact_blocks([float(i) for i in range(1000)])), compact_blocks([float(i) for i in range(1000)])[-1]
        (128, 999.0)
    """
    xs = [float(f"{t:.6g}") for t in times_ms]
    n, m = len(xs), LATENCY_BLOCKS_KEPT
    if n <= m:
        return tuple(xs)
    s = sorted(xs)
    return tuple(s[round(i * (n - 1) / (m - 1))] for i in range(m))


@dataclass(frozen=True)
class CostReport:
    r"""Every cost indicator of one model on one device, from :func:`~effobj.profiler.profile_model`.

    FLOP convention (torch's :class:`~torch.utils.flop_counter.FlopCounterMode`): a fused
    multiply-add counts as **2 FLOPs = 1 MAC**. Only the matrix-multiply family is counted
    (``mm``, ``addmm``, ``bmm``, convolutions, attention kernels), so

    .. math::

        \mathrm{macs} = \mathrm{flops} / 2 .

    Elementwise, normalization, pooling, softmax and data-movement operators are not
    counted, by the same convention as torch, fvcore and the published model cards.
    Any other operator that ran without a FLOP formula is listed in ``unsupported_ops``:
    the count is then a lower bound, never a silent zero.

    Attributes:
        model_name: The profiled model's class name.
        input_shapes: Shape of each example input.
        input_dtypes: dtype of each example input (``"torch.float32"``, ...).
        batch_size: First dimension of the first input (1 for a 0-d input).
        flops: Floating-point operations of one forward pass (2 per multiply-add).
        macs: Multiply-accumulates of one forward pass (``flops // 2``).
        flops_by_module: FLOPs per module, keyed by the module's dotted path under the
            model's class name (``"ResNet.layer1.0.conv1"``); a parent includes its children.
        flops_by_op: FLOPs per aten operator (``"aten.convolution"``).
        unsupported_ops: Operators that ran and have no FLOP formula (sorted names).
        unsupported_by_module: Where they ran: the innermost module's path, then each
            such operator and its number of calls there (``"Global"`` outside any module).
        count_device: ``"meta"`` when FLOPs and memory were counted without computing
            (shapes only), else the device of the real forward pass that was counted.
        flops_range: ``(lowest, highest)`` when a second count (other input values)
            differed from the first: the model's control flow depends on its input or on
            chance, and ``flops`` is one of the counts; ``None`` when they agree.
        n_params: Number of parameters (shared parameters counted once; the weights and
            biases of quantized modules included). Named ``params`` before effobj 0.2 (beside
            Optuna's ``params``, the hyper-parameters): :meth:`from_dict` reads the old key,
            and the ``params`` property answers with a ``DeprecationWarning``.
        trainable_params: Parameters with ``requires_grad``.
        model_bytes: Bytes of the model's state dict (parameters and persistent buffers,
            quantized weights included), shared storage counted once.
        model_bytes_by_dtype: ``model_bytes`` split by dtype name.
        peak_activation_bytes: Peak bytes of tensors alive during one inference forward
            pass beyond weights and inputs; ``None`` if not measured.
        latency_ms: Median wall time of one forward pass at ``batch_size``; ``None`` if
            latency was not measured.
        latency_iqr_ms: Inter-quartile range of the per-pass times (``None`` from a single
            timed block, which has no spread to show).
        latency_ci95_ms: Distribution-free 95 % confidence interval of the median, widened
            by the drift between consecutive segments of the measurement
            (:func:`effobj.profiler._latency.median_interval`).
        latency_rel_spread: Half-width of that interval over the median; the stopping rule
            compares it with the target.
        latency_samples: Number of timed blocks (each block runs ``latency_runs /
            latency_samples`` passes).
        latency_runs: Total timed forward passes (warm-up excluded).
        latency_converged: ``True`` if the spread reached the target before the time cap.
        throughput: Samples per second at ``batch_size`` (``batch_size / latency``).
        energy_j: Energy of one forward pass in joules, only where the device really reports
            energy (NVML, Linux powercap/RAPL); ``None`` otherwise, never estimated.
        energy_source: ``"nvml"``, ``"rapl"`` or ``None``.
        latency_block_ms: The per-pass time of each timed block, in ms (at most
            :data:`LATENCY_BLOCKS_KEPT`: :func:`compact_blocks`), what the stochastic
            Pareto view resamples; ``None`` when latency was not measured (and in reports
            written before effobj kept them).
        runtime: What ran the timed passes: ``"eager"``, ``"compile"`` (``torch.compile``)
            or ``"onnxruntime"``; reports written before effobj had runtimes read as eager.
        compile_time_s: Seconds of the runtime's one-time work, not in the latency:
            ``torch.compile``'s compilation (first call), or the ONNX export and the
            session's creation; ``None`` in eager or when latency was not measured.
        latency_method: ``"compensated"`` or ``"plain"``, the method asked for
            (:attr:`ProfileOptions.latency_method <effobj.profiler.ProfileOptions.latency_method>`;
            a compensated one that gave way to a plain measurement says so in
            ``latency_reference_disturbed``);
            ``None`` when latency was not measured (reports written before effobj had
            methods were plain).
        latency_raw_ms: The plain median of the candidate's own timed blocks, kept beside
            a compensated ``latency_ms`` (equal to it in the plain method).
        latency_reference_ms: The calibrated per-pass time of the reference workload, the
            scale of a compensated latency (``None`` in the plain method).
        latency_reference_now_ms: The reference's median during this profile: over
            ``latency_reference_ms``, how much slower the machine ran than calibrated.
        latency_reference_ratio: ``latency_reference_now_ms / latency_reference_ms``: the
            reference ratio :math:`\rho` of the compensated measurement (``None`` in the
            plain method).
        latency_compensated_ms: The compensated median of that measurement, kept when it
            was not used (equal to ``latency_ms`` when it was; ``None`` in the plain
            method).
        latency_reference_disturbed: The flag of the reference check
            (:func:`reference_disturbed`). ``True``: the reference ratio, or a plain probe
            of the candidate over the compensated median, left ``[1/3, 3]``
            (:data:`REFERENCE_BOUND`), so the compensated value was not used: the latency
            (and its interval, spread, samples, decision, throughput, energy) comes from a
            plain measurement made at once (``latency_method`` still names the method
            asked for: ``"compensated"``).
            ``False``: the compensated latency passed the check. ``None`` in the plain
            method (and in reports written before effobj made the check).
        latency_scale: Which calibration was used: :meth:`LatencyScale.to_dict
            <effobj.profiler.LatencyScale.to_dict>` (key, reference time, host, time).
        latency_budget_ms: The budget the profile decided against
            (:attr:`ProfileOptions.latency_budget_ms
            <effobj.profiler.ProfileOptions.latency_budget_ms>`), or ``None``.
        latency_decision: ``"under"`` (median at or under the budget) or ``"over"``.
        latency_decision_certain: ``True`` if the interval ``latency_ci95_ms`` lies on the
            decided side of the budget; ``False`` if it still contained the budget when
            the decision's time cap was reached.
        device: The :class:`DeviceInfo` it was measured on.
        profile_time_s: Wall time the profile took.
        from_cache: ``True`` if this report was served from the architecture-signature cache.

    Example:
        >>> from effobj.profiler import CostReport, DeviceInfo
        >>> dev = DeviceInfo("cpu", "some cpu", 2, 2, "2.13.0")
        >>> r = CostReport(model_name="M", input_shapes=((1, 4),), input_dtypes=("torch.float32",),
        ...                batch_size=1, flops=16, macs=8, n_params=20, trainable_params=20,
        ...                model_bytes=80, device=dev)
        >>> r.indicators()["macs"]
        8.0
        >>> CostReport.from_json(r.to_json()) == r
        True
    """

    model_name: str
    input_shapes: tuple[tuple[int, ...], ...]
    input_dtypes: tuple[str, ...]
    batch_size: int
    flops: int
    macs: int
    n_params: int
    trainable_params: int
    model_bytes: int
    device: DeviceInfo
    flops_by_module: dict[str, int] = field(default_factory=dict)
    flops_by_op: dict[str, int] = field(default_factory=dict)
    unsupported_ops: tuple[str, ...] = ()
    unsupported_by_module: dict[str, dict[str, int]] = field(default_factory=dict)
    count_device: str = "meta"
    flops_range: tuple[int, int] | None = None
    model_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    peak_activation_bytes: int | None = None
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None
    latency_ci95_ms: tuple[float, float] | None = None
    latency_rel_spread: float | None = None
    latency_samples: int | None = None
    latency_runs: int | None = None
    latency_converged: bool | None = None
    throughput: float | None = None
    energy_j: float | None = None
    energy_source: str | None = None
    latency_block_ms: tuple[float, ...] | None = None
    runtime: str = "eager"
    compile_time_s: float | None = None
    latency_method: str | None = None
    latency_raw_ms: float | None = None
    latency_reference_ms: float | None = None
    latency_reference_now_ms: float | None = None
    latency_reference_ratio: float | None = None
    latency_compensated_ms: float | None = None
    latency_reference_disturbed: bool | None = None
    latency_scale: dict[str, Any] | None = None
    latency_budget_ms: float | None = None
    latency_decision: str | None = None
    latency_decision_certain: bool | None = None
    profile_time_s: float = 0.0
    from_cache: bool = False

    # ------------------------------------------------------------------ indicators
    def indicators(self) -> dict[str, float]:
        """Every numeric cost indicator by name, for objectives that read costs by name.

        Always present: ``flops``, ``macs``, ``n_params``, ``trainable_params``,
        ``model_bytes``; present when measured: ``peak_activation_bytes``, ``latency_ms``,
        ``throughput`` (higher is better, unlike the others) and ``energy_j``. Which a
        profile will have is known before profiling: ``ProfileOptions.indicators()``.

        Returns:
            A new dict mapping indicator name to its value as a float.
        """
        out = {name: float(getattr(self, name)) for name in COUNTED_INDICATORS}
        for name in (*MEMORY_INDICATORS, *TIMED_INDICATORS):
            value = getattr(self, name)
            if value is not None:
                out[name] = float(value)
        return out

    @property
    def params(self) -> int:
        """Deprecated name of :attr:`n_params` (a parameter count, not Optuna's params)."""
        import warnings

        warnings.warn("CostReport.params is now CostReport.n_params", DeprecationWarning,
                      stacklevel=2)
        return self.n_params

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-serializable dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        for name in _TUPLE_FIELDS:
            if d[name] is not None:
                d[name] = _to_lists(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CostReport:
        """Rebuild a report from :meth:`to_dict`'s output.

        Raises:
            InputError: If ``d`` lacks a required key or has an unknown one.
        """
        check_instance(d, "d", "CostReport.from_dict", dict, "a dict")
        if "params" in d and "n_params" not in d:  # written before effobj 0.2
            d = {("n_params" if k == "params" else k): v for k, v in d.items()}
        _check_keys("CostReport", d, cls)
        kw = dict(d)
        kw["device"] = (
            kw["device"] if isinstance(kw["device"], DeviceInfo) else DeviceInfo.from_dict(kw["device"])
        )
        kw["input_shapes"] = tuple(tuple(int(n) for n in s) for s in kw["input_shapes"])
        kw["input_dtypes"] = tuple(kw["input_dtypes"])
        if "unsupported_ops" in kw:
            kw["unsupported_ops"] = tuple(kw["unsupported_ops"])
        if kw.get("flops_range") is not None:
            lo_f, hi_f = kw["flops_range"]
            kw["flops_range"] = (int(lo_f), int(hi_f))
        if kw.get("latency_block_ms") is not None:
            kw["latency_block_ms"] = tuple(float(t) for t in kw["latency_block_ms"])
        if kw.get("latency_ci95_ms") is not None:
            lo, hi = kw["latency_ci95_ms"]
            kw["latency_ci95_ms"] = (float(lo), float(hi))
        return cls(**kw)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialize to a JSON string (non-finite floats are rejected, not written as NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> CostReport:
        """Rebuild a report from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ display
    def to_table(self, *, top_modules: int = 10) -> str:
        """Render a human-readable two-column table (what ``effobj profile`` prints).

        Args:
            top_modules: How many of the heaviest direct children of the model to list.
        """
        rows: list[tuple[str, str]] = [
            ("model", self.model_name),
            ("inputs", ", ".join(f"{tuple(s)} {d}" for s, d in zip(self.input_shapes, self.input_dtypes, strict=True))),
            ("FLOPs (2 per FMA)", f"{_si(self.flops)}  ({self.flops:,})"),
            ("MACs", f"{_si(self.macs)}  ({self.macs:,})"),
            ("unsupported ops", ", ".join(self.unsupported_ops) or "none"),
            *[(f"  in {module}", ", ".join(f"{op} x{n}" for op, n in ops.items()))
              for module, ops in self.unsupported_by_module.items()],
            *([("FLOPs vary", f"{self.flops_range[0]:,} to {self.flops_range[1]:,} in two "
                "passes: control flow depends on the input or on chance")]
              if self.flops_range is not None else []),
            ("counted on", self.count_device),
            ("n_params", f"{self.n_params:,}  (trainable {self.trainable_params:,})"),
            ("model size", f"{_bytes(self.model_bytes)}  "
             + ", ".join(f"{k}: {_bytes(v)}" for k, v in sorted(self.model_bytes_by_dtype.items()))),
            ("peak activations", _peak_text(self.peak_activation_bytes, self.runtime)),
            ("runtime", self.runtime + ("" if self.compile_time_s is None
                                        else f"  (setup {self.compile_time_s:.3f} s, not in the latency)")),
        ]
        if self.latency_ms is None:
            rows.append(("latency", "not measured"))
        else:
            spread = "" if self.latency_rel_spread is None else f", ±{100 * self.latency_rel_spread:.2f} % (95 % CI with drift)"
            conv = "converged" if self.latency_converged else "time cap reached before target spread"
            rows += [
                ("latency (median)", f"{self.latency_ms:.3f} ms  "
                 f"(IQR {iqr_text(self.latency_iqr_ms, self.latency_samples)}{spread})"),
                ("latency method", self._method_text()),
                ("latency samples", f"{self.latency_samples} blocks, {self.latency_runs} runs, {conv}"),
            ]
            if self.latency_budget_ms is not None:
                sure = "certain" if self.latency_decision_certain else \
                    "UNCERTAIN: the interval still contains the budget"
                rows.append(("latency budget", f"{self.latency_budget_ms:.3f} ms: "
                             f"{self.latency_decision} ({sure})"))
            rows += [
                ("throughput", f"{self.throughput:,.1f} samples/s at batch {self.batch_size}"),
            ]
        rows.append(("energy", "not reported by this device" if self.energy_j is None
                     else f"{self.energy_j:.4g} J per pass ({self.energy_source})"))
        dev = self.device
        rows += [
            ("device", dev.device + (f" ({dev.gpu_name})" if dev.gpu_name else "")),
            ("cpu", f"{dev.cpu_model}, {dev.cpu_count} logical CPUs, {dev.threads} threads used"),
            ("torch", dev.torch_version),
            ("profile time", f"{self.profile_time_s:.3f} s" + (" (cached)" if self.from_cache else "")),
        ]
        children = sorted(
            ((k, v) for k, v in self.flops_by_module.items() if k.count(".") == 1),
            key=lambda kv: -kv[1],
        )[:top_modules]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        if children and self.flops:
            lines.append("")
            lines.append("FLOPs by top-level module:")
            mw = max(len(k) for k, _ in children)
            lines += [f"  {k.ljust(mw)}  {_si(v):>9}  {100 * v / self.flops:6.2f} %" for k, v in children]
        return "\n".join(lines)

    def _method_text(self) -> str:
        """The table's ``latency method`` row: the method, and for a compensated profile the
        plain median, the reference's speed and, when it gave way to a plain measurement,
        why."""
        method = self.latency_method or "plain"
        now, cal = self.latency_reference_now_ms, self.latency_reference_ms
        if now is None or cal is None:
            return method
        seen = f"reference {now:.4f} ms now, {cal:.4f} ms calibrated: ratio {now / cal:.3g}"
        if not self.latency_reference_disturbed:
            return f"{method}  (raw median {self.latency_raw_ms:.3f} ms; {seen})"
        comp = self.latency_compensated_ms
        return (f"{method} asked, PLAIN USED: the compensated measurement failed the "
                f"reference check ({seen}; compensated median "
                + ("n/a" if comp is None else f"{comp:.3g} ms")
                + f"): beyond {REFERENCE_BOUND:g}x either way the ratio does not correct, so "
                "this is a plain measurement made at once")


@dataclass(frozen=True)
class LatencyScale:
    """A calibration of the reference workload on one kind of device.

    Attributes:
        key: What the scale is valid for (:func:`scale_key`): device, hardware name,
            thread count, torch version.
        reference_ms: Per-pass time of the reference workload on the quiet machine, ms.
        measured_at: When it was measured (ISO 8601, UTC).
        host: The machine it was measured on.

    Example:
        >>> s = LatencyScale("cpu|x|threads=1|torch 2.13.0", 0.25, "2026-12-02T10:00:00+00:00", "h")
        >>> LatencyScale.from_dict(s.to_dict()) == s
        True
    """

    key: str
    reference_ms: float
    measured_at: str
    host: str

    def __post_init__(self) -> None:
        check_str(self.key, "key", "LatencyScale")
        ref = check_real(self.reference_ms, "reference_ms", "LatencyScale", low=0.0, low_open=True)
        object.__setattr__(self, "reference_ms", ref)
        check_str(self.measured_at, "measured_at", "LatencyScale")
        check_str(self.host, "host", "LatencyScale")

    def to_dict(self) -> dict[str, Any]:
        """The scale as a JSON-serializable dict."""
        return {"key": self.key, "reference_ms": self.reference_ms,
                "measured_at": self.measured_at, "host": self.host}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyScale:
        """Rebuild a scale from :meth:`to_dict`'s output."""
        check_instance(d, "d", "LatencyScale.from_dict", dict, "a dict")
        return cls(key=d["key"], reference_ms=d["reference_ms"], measured_at=d["measured_at"],
                   host=d["host"])

    def label(self) -> str:
        """``"0.2500 ms (host, 2026-12-02T10:00)"``: what a report shows."""
        return f"{self.reference_ms:.4f} ms ({self.host}, {self.measured_at[:16]})"


def budget_decision(median: float, interval: tuple[float, float] | None, budget: float
                    ) -> tuple[str, bool]:
    """``(side, certain)`` of a latency against a budget (any one unit): ``"under"`` when
    the median is at or under it, else ``"over"``; certain when the interval leaves the
    budget out (no interval: not certain). The one rule of the profiler's stopping and of
    a search's gate.

    Example:
        >>> budget_decision(2.0, (1.9, 2.1), 3.0), budget_decision(2.0, (1.9, 2.1), 2.05)
        (('under', True), ('under', False))
    """
    side = "under" if median <= budget else "over"
    return side, interval is not None and not interval[0] <= budget <= interval[1]


def iqr_text(iqr_ms: float | None, samples: int | None, *, digits: int = 3, unit: str = " ms") -> str:
    """An inter-quartile range of per-pass times as the tables print it, or ``n/a`` when it
    says nothing: fewer than two timed blocks (one block has no spread; its IQR of 0 would
    read as a machine without noise), or none measured.

    Example:
        >>> iqr_text(0.0126, 10), iqr_text(0.0, 1), iqr_text(0.01, 3, digits=4, unit="")
        ('0.013 ms', 'n/a', '0.0100')
    """
    if iqr_ms is None or not math.isfinite(iqr_ms) or (samples is not None and samples < 2):
        return "n/a"
    return f"{iqr_ms:.{digits}f}{unit}"


def _peak_text(peak: int | None, runtime: str) -> str:
    if peak is not None:
        return _bytes(peak)
    return "not measured" if runtime == "eager" else f"n/a (not reported in the {runtime} runtime)"


def _check_keys(name: str, d: dict[str, Any], cls: type) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise InputError(f"The dict given to {name}.from_dict has unknown keys {unknown}.")
    required = [
        n for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in d]
    if missing:
        raise InputError(f"The dict given to {name}.from_dict lacks the required keys {missing}.")


def _to_lists(x: Any) -> Any:
    if isinstance(x, tuple | list):
        return [_to_lists(v) for v in x]
    return x


def _si(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return f"{n:g}"


def _bytes(n: float) -> str:
    if not math.isfinite(n):
        return str(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


#: how far, either way, a compensated measurement may depart from its calibration before
#: its compensated latency is rejected (:func:`reference_disturbed`)
REFERENCE_BOUND = 3.0


def reference_disturbed(ratio: float | None, correction: float | None,
                        bound: float = REFERENCE_BOUND) -> bool:
    r"""Whether a compensated measurement rests on a disturbed reference.

    With the reference's median per-pass time :math:`r` during the measurement, its
    calibrated time :math:`t_{ref}`, the plain median :math:`\tilde c` of the candidate's
    blocks and the compensated median :math:`\hat t = \operatorname{median}_i(q_i)\,t_{ref}`,

    .. math::

        \rho = r / t_{ref}, \qquad \kappa = \tilde c / \hat t,

    the measurement is disturbed when :math:`\max(\rho, 1/\rho) > b` or
    :math:`\max(\kappa, 1/\kappa) > b` (:math:`b` = ``bound``, 3), or when either is
    missing, not finite or not positive. :math:`\rho` is how much slower (> 1) or faster
    (< 1) the reference ran than calibrated; :math:`\kappa` is the same slowdown as the
    candidate's blocks saw it, the correction the compensation applied. Both are near 1
    on a quiet machine, and equal when the candidate and the reference slow alike, which
    is what compensation assumes. Far from 1 that assumption fails: the reference stalls
    where the candidate does not (intra-op threads waiting at a barrier for a core
    another process holds: 108 ms against 0.30 ms calibrated beside a 0.023 ms MLP), or
    the calibration itself was taken on a loaded machine. Bounding :math:`\kappa`
    guarantees what a user checks: a compensated latency that passes is within
    ``bound`` x of the plain median measured with it.

    Example:
        >>> reference_disturbed(1.2, 0.9), reference_disturbed(360.0, 300.0)
        (False, True)
        >>> reference_disturbed(1.1, 1 / 3.5), reference_disturbed(None, 1.0)
        (True, True)
    """
    for x in (ratio, correction):
        if x is None or not math.isfinite(x) or x <= 0.0 or max(x, 1.0 / x) > bound:
            return True
    return False
