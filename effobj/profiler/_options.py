"""How a model is profiled: :class:`ProfileOptions`, the one owner of the profiler's settings.

Every function that profiles (:func:`~effobj.profiler.profile_model`,
:class:`~effobj.profiler.LocalProfiler`, :func:`~effobj.cost_models.build_latency_table`,
:func:`~effobj.cost_models.check_table`) takes one :class:`ProfileOptions`, plus, for
convenience, its fields as keyword arguments applied over it. The defaults and the rules
live here only; a bad value is refused when the options are built, in the name of the
function that was called.

This module imports neither torch nor optuna.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from effobj._validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    refusal,
)
from effobj.errors import InputTypeError
from effobj.profiler._cache import ProfileCache
from effobj.profiler._report import (
    COUNTED_INDICATORS,
    MEMORY_INDICATORS,
    TIMED_INDICATORS,
    LatencyScale,
)

__all__ = ["LATENCY_METHODS", "RUNTIMES", "ProfileOptions", "max_threads"]

#: the runtimes a model can be timed in (:attr:`ProfileOptions.runtime`)
RUNTIMES: tuple[str, ...] = ("eager", "compile", "onnxruntime")
#: how latency is estimated (:attr:`ProfileOptions.latency_method`)
LATENCY_METHODS: tuple[str, ...] = ("compensated", "plain")

# the function whose arguments are being validated, named in the error messages
_WHERE: ContextVar[str] = ContextVar("effobj_profile_options_where", default="ProfileOptions")


def max_threads() -> int:
    """The most intra-op threads a profile may ask for: 4x the cores, at least 256."""
    return max(256, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class ProfileOptions:
    """The settings of a profile, validated once when built.

    Attributes:
        device: Target device as torch spells it (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
            ``"mps"``). Its availability is checked where the profile runs, not here, so
            options can be built on a machine without that device.
        threads: Intra-op threads for timing, an int in ``[1, max(256, 4 x cores)]``;
            ``None`` means ``torch.get_num_threads()`` at profiling time (more threads than
            cores warns: the latency would not be what a deployment sees).
        latency: Measure latency (and energy where the device reports it).
        memory: Measure peak activation memory.
        target_rel_spread: Precision the median latency must reach, in (0, 1).
        max_time_s: Time cap of the latency measurement, in seconds, in (0, inf).
        cache: ``True`` uses the process-wide architecture-signature cache, ``False`` none,
            or a :class:`~effobj.profiler.ProfileCache`.
        runtime: What runs the timed passes, i.e. the runtime the model is deployed with:
            ``"eager"`` (PyTorch as written), ``"compile"`` (``torch.compile(model)``,
            compiled and warmed up before timing; the compile time is reported apart, in
            ``compile_time_s``) or ``"onnxruntime"`` (exported with ``torch.onnx.export``,
            run by an ONNX Runtime ``InferenceSession`` on the CPU; needs the ``onnx`` extra
            and ``device="cpu"``). Counts come from the meta pass whatever the runtime; the
            peak activation memory is measured in eager only (``None`` otherwise).
        latency_method: ``"compensated"`` (default): the candidate's timed blocks are
            interleaved with a fixed reference workload, and the latency is the median
            of their ratios times the reference's calibrated time
            (:mod:`effobj.profiler._scale`: what it cancels and what it does not);
            ``"plain"``: the median of the candidate's own blocks. Both are reported
            (``CostReport.latency_raw_ms`` is the plain median).
        latency_scale: The calibration (:class:`~effobj.profiler.LatencyScale`) of the
            compensated latency; ``None``: this process's, measured once per device and
            thread count on first use. A search passes the one stored with its study.
        latency_budget_ms: A latency budget the profile decides against: when the
            latency's interval contains it, the measurement goes on, up to
            ``decision_max_time_s``, until the interval is on one side; the report says
            which side and whether the interval cleared it (``latency_decision``,
            ``latency_decision_certain``). ``None``: no decision.
        decision_max_time_s: Time cap of the measurement while a decision is open
            (``None``: ``3 * max_time_s``); at least ``max_time_s``.

    Example:
        >>> from effobj.profiler import ProfileOptions
        >>> counts = ProfileOptions(latency=False)
        >>> counts.indicators()
        ('flops', 'macs', 'n_params', 'trainable_params', 'model_bytes', 'peak_activation_bytes')
        >>> counts.replace(memory=False).memory
        False
        >>> ProfileOptions(max_time_s=0)
        Traceback (most recent call last):
        ...
        effobj.errors.InputError: The 'max_time_s' parameter of ProfileOptions must be a float in the range (0, inf). Got 0 instead.
    """

    device: str = "cpu"
    threads: int | None = None
    latency: bool = True
    memory: bool = True
    target_rel_spread: float = 0.02
    max_time_s: float = 1.0
    cache: bool | ProfileCache = True
    runtime: str = "eager"
    latency_method: str = "compensated"
    latency_scale: LatencyScale | None = None
    latency_budget_ms: float | None = None
    decision_max_time_s: float | None = None

    def __post_init__(self) -> None:
        where = _WHERE.get()
        check_instance(self.device, "device", where, str, "a str such as 'cpu' or 'cuda:0'")
        # torch.set_num_threads(1000000) crashes the process (SIGSEGV): bound it
        threads = check_int(self.threads, "threads", where, low=1, high=max_threads(), allow_none=True)
        object.__setattr__(self, "threads", threads)
        _warn_threads(threads, where)
        for name in ("latency", "memory"):
            check_bool(getattr(self, name), name, where)
        spread = check_real(self.target_rel_spread, "target_rel_spread", where, low=0.0, high=1.0,
                            low_open=True, high_open=True)
        cap = check_real(self.max_time_s, "max_time_s", where, low=0.0, low_open=True)
        object.__setattr__(self, "target_rel_spread", spread)
        object.__setattr__(self, "max_time_s", cap)
        check_instance(self.cache, "cache", where, (bool, ProfileCache), "a bool or a ProfileCache")
        check_choice(self.runtime, "runtime", where, RUNTIMES)
        check_choice(self.latency_method, "latency_method", where, LATENCY_METHODS)
        check_instance(self.latency_scale, "latency_scale", where, LatencyScale,
                       "a LatencyScale", allow_none=True)
        budget = check_real(self.latency_budget_ms, "latency_budget_ms", where, low=0.0,
                            low_open=True, allow_none=True)
        object.__setattr__(self, "latency_budget_ms", budget)
        decision = check_real(self.decision_max_time_s, "decision_max_time_s", where, low=cap,
                              allow_none=True)
        object.__setattr__(self, "decision_max_time_s", decision)
        if self.runtime == "onnxruntime" and self.device.split(":", 1)[0] != "cpu":
            raise refusal("runtime", where, "be 'eager' or 'compile' off the CPU",
                          f"'onnxruntime' with device={self.device!r}",
                          hint="effobj runs ONNX Runtime with its CPUExecutionProvider only.")

    @classmethod
    def resolve(cls, options: ProfileOptions | None, overrides: Mapping[str, Any],
                where: str) -> ProfileOptions:
        """``options`` (default: :class:`ProfileOptions()`) with ``overrides`` applied.

        What the functions that profile call on their ``options`` and keyword arguments;
        a bad value is reported as a parameter of ``where``.

        Raises:
            InputTypeError: ``options`` is not a :class:`ProfileOptions`, or an override
                is not one of its fields.
            InputError: an override breaks its field's rule.
        """
        check_instance(options, "options", where, ProfileOptions, "a ProfileOptions", allow_none=True)
        unknown = sorted(set(overrides) - set(_FIELDS))
        if unknown:
            raise InputTypeError(f"{where} got unknown option(s) {unknown}: the options are the "
                                 f"fields of ProfileOptions, {list(_FIELDS)}.")
        if options is not None and not overrides:
            return options
        token = _WHERE.set(where)
        try:
            return cls(**overrides) if options is None else dataclasses.replace(options, **overrides)
        finally:
            _WHERE.reset(token)

    @property
    def decision_cap_s(self) -> float:
        """The time cap while a budget decision is open: ``decision_max_time_s`` or
        ``3 * max_time_s``."""
        return 3.0 * self.max_time_s if self.decision_max_time_s is None else self.decision_max_time_s

    def replace(self, **changes: Any) -> ProfileOptions:
        """A copy with ``changes`` (field names) applied and validated."""
        return ProfileOptions.resolve(self, changes, "ProfileOptions.replace")

    def indicators(self) -> tuple[str, ...]:
        """The cost indicators a profile with these options reports, in
        :meth:`CostReport.indicators <effobj.profiler.CostReport.indicators>` order.

        ``energy_j`` is included when latency is measured and ``device`` reports energy
        in this process (checking it imports torch); ``peak_activation_bytes`` when memory
        is measured in the ``"eager"`` runtime (the others do not report it).
        """
        names = list(COUNTED_INDICATORS)
        if self.memory and self.runtime == "eager":
            names += MEMORY_INDICATORS
        if self.latency:
            import torch

            from effobj.profiler._energy import energy_meter

            dev = torch.device(self.device)
            names += [n for n in TIMED_INDICATORS
                      if n != "energy_j" or energy_meter(dev.type, dev.index) is not None]
        return tuple(names)


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ProfileOptions))


def _warn_threads(threads: int | None, where: str) -> None:
    """Warn of more threads than cores (allowed, but not what a deployment measures)."""
    cores = os.cpu_count() or 1
    if threads is not None and threads > cores:
        warnings.warn(f"{where}: threads={threads} is more than the {cores} cores of this "
                      "machine; latency measured so is not what a deployment would see.",
                      stacklevel=_caller_level())


def _caller_level() -> int:
    """``stacklevel`` for a warning raised by this module's caller's caller: the first frame
    outside the profiler and the dataclass machinery, i.e. the code that asked for the options."""
    frame = sys._getframe(1)  # the function that will call warnings.warn: stacklevel 1
    level = 1
    while frame.f_back is not None and (
        frame.f_globals.get("__name__", "").startswith("effobj.profiler")
        or frame.f_code.co_filename in ("<string>", dataclasses.__file__)
    ):
        frame = frame.f_back
        level += 1
    return level
