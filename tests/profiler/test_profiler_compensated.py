"""Drift-compensated latency, its calibration, and latency decisions against a budget.

The drift tests use workloads that busy-wait a set time, scaled by a "machine speed" that
the test changes half-way through a measurement: the plain median moves with it, the
compensated one (candidate over the reference timed around it) does not.
"""

from __future__ import annotations

import time

import pytest
import torch

from effobj.errors import InputError, InputTypeError
from effobj.profiler import (
    LATENCY_METHODS,
    CostReport,
    LatencyScale,
    ProfileCache,
    ProfileOptions,
    calibrate,
    profile_model,
)
from effobj.profiler._latency import measure_latency
from effobj.profiler._scale import process_scale, scale_key


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _Machine:
    """A machine whose speed drops by ``factor`` after ``switch_after`` calls of the
    candidate: every workload takes ``factor`` times longer from then on."""

    def __init__(self, factor: float, switch_after: int) -> None:
        self.factor, self.switch_after, self.calls = factor, switch_after, 0

    def slow(self) -> float:
        return self.factor if self.calls >= self.switch_after else 1.0

    def candidate(self) -> None:
        self.calls += 1
        _busy(200e-6 * self.slow())

    def reference(self) -> None:
        _busy(100e-6 * self.slow())


def test_compensated_latency_does_not_move_with_the_machine_speed():
    """The machine slows 3x after the warm-up and a few blocks: the plain median reads
    the slow phase; the compensated one stays at 2 x the reference's calibrated time."""
    plain_machine = _Machine(3.0, switch_after=40)
    # a target it cannot reach: it measures for the whole 0.4 s (a robust median)
    plain = measure_latency(plain_machine.candidate, threads=1, target_rel_spread=1e-4,
                            max_time_s=0.4)
    # the compensated measurement first times up to 10 plain probe blocks of 5 passes
    # (effobj.profiler._latency): the same few blocks after those
    comp_machine = _Machine(3.0, switch_after=90)
    scale_s = 100e-6  # the reference calibrated on the quiet machine
    comp = measure_latency(comp_machine.candidate, threads=1, target_rel_spread=1e-4,
                           max_time_s=0.4, reference=comp_machine.reference, scale_s=scale_s)
    assert plain.median_s > 2.0 * 200e-6  # most blocks ran on the slow machine
    # (a loaded test machine preempts blocks of both workloads: bounds with room for it)
    comp_error, plain_error = abs(comp.median_s / 200e-6 - 1), abs(plain.median_s / 200e-6 - 1)
    assert comp_error < 0.5 and comp_error < plain_error / 3
    assert comp.raw_median_s is not None and comp.raw_median_s > 2.0 * 200e-6  # kept, raw
    assert comp.reference_now_s is not None and comp.reference_now_s > 2.0 * 100e-6
    assert plain.raw_median_s == pytest.approx(plain.median_s)
    assert plain.reference_now_s is None
    assert len(comp.block_s) == comp.samples  # per-block compensated estimates


def test_reference_and_scale_go_together():
    with pytest.raises(ValueError, match="both 'reference' and 'scale_s'"):
        measure_latency(lambda: None, threads=1, target_rel_spread=0.1, max_time_s=0.1,
                        scale_s=1e-4)


def test_a_budget_far_from_the_latency_is_decided_with_certainty():
    fn = lambda: _busy(200e-6)  # noqa: E731
    over = measure_latency(fn, threads=1, target_rel_spread=0.05, max_time_s=0.2,
                           budget_s=50e-6)
    under = measure_latency(fn, threads=1, target_rel_spread=0.05, max_time_s=0.2,
                            budget_s=2e-3)
    assert (over.decision, over.decision_certain) == ("over", True)
    assert (under.decision, under.decision_certain) == ("under", True)
    free = measure_latency(fn, threads=1, target_rel_spread=0.05, max_time_s=0.2)
    assert free.decision is None and free.decision_certain is None


def test_a_budget_inside_the_interval_keeps_measuring_up_to_the_decision_cap():
    """A machine that slows down steadily, the latency growing from 100 us by 2 ms a
    second, and a precision it cannot reach: at max_time_s the median (about 300 us) is
    at the budget, and from then on the interval, widened by the drift, keeps the budget
    inside while the median moves over it; so the measurement runs on to the decision
    cap and ends uncertain, "over"."""
    start = time.perf_counter()

    def fn() -> None:
        _busy(100e-6 + 2e-3 * (time.perf_counter() - start))

    lat = measure_latency(fn, threads=1, target_rel_spread=1e-4, max_time_s=0.2,
                          budget_s=300e-6, decision_cap_s=0.6)
    took = time.perf_counter() - start
    assert (lat.decision, lat.decision_certain) == ("over", False)
    assert took >= 0.55  # measured on to the decision's cap, not stopped at 0.2 s
    assert lat.ci95_s is not None and lat.ci95_s[0] <= 300e-6 <= lat.ci95_s[1]


def test_profile_model_reports_both_methods_and_the_decision():
    model, x = torch.nn.Linear(32, 8), torch.randn(4, 32)
    comp = profile_model(model, x, memory=False, cache=False, max_time_s=0.3,
                         latency_budget_ms=1e3)
    assert comp.latency_method == "compensated"
    assert comp.latency_raw_ms is not None and comp.latency_raw_ms > 0
    assert comp.latency_reference_ms is not None and comp.latency_reference_now_ms is not None
    assert comp.latency_scale is not None and comp.latency_scale["key"].startswith("cpu|")
    assert (comp.latency_budget_ms, comp.latency_decision, comp.latency_decision_certain) == (
        1e3, "under", True)
    assert "latency method     compensated" in comp.to_table()
    assert "latency budget" in comp.to_table()
    plain = profile_model(model, x, memory=False, cache=False, max_time_s=0.3,
                          latency_method="plain")
    assert plain.latency_method == "plain" and plain.latency_raw_ms == plain.latency_ms
    assert plain.latency_reference_ms is None and plain.latency_scale is None
    assert plain.latency_decision is None
    counts = profile_model(model, x, latency=False, cache=False)
    assert counts.latency_method is None and counts.latency_raw_ms is None
    for r in (comp, plain, counts):
        assert CostReport.from_json(r.to_json()) == r


def test_a_report_written_before_latency_methods_loads():
    r = profile_model(torch.nn.Linear(4, 2), torch.ones(1, 4), latency=False, cache=False)
    d = r.to_dict()
    for name in ("latency_method", "latency_raw_ms", "latency_reference_ms",
                 "latency_reference_now_ms", "latency_scale", "latency_budget_ms",
                 "latency_decision", "latency_decision_certain"):
        del d[name]
    assert CostReport.from_dict(d) == r


def test_the_given_scale_is_used_and_must_be_of_this_device():
    model, x = torch.nn.Linear(16, 4), torch.randn(2, 16)
    threads = torch.get_num_threads()
    scale = LatencyScale(scale_key("cpu", threads), 0.5, "2026-01-01T00:00:00+00:00", "h")
    r = profile_model(model, x, memory=False, cache=False, max_time_s=0.2, latency_scale=scale)
    assert r.latency_reference_ms == 0.5 and r.latency_scale == scale.to_dict()
    other = LatencyScale("cpu|another cpu|threads=1|torch 0", 0.5, "2026-01-01T00:00:00+00:00",
                         "h")
    with pytest.raises(InputError, match="'latency_scale' parameter of profile_model.*another cpu"):
        profile_model(model, x, memory=False, cache=False, max_time_s=0.2, latency_scale=other)


def test_the_cache_keeps_the_methods_and_budgets_apart():
    cache = ProfileCache()
    model, x = torch.nn.Linear(16, 4), torch.randn(2, 16)
    first = profile_model(model, x, memory=False, cache=cache, max_time_s=0.2)
    assert profile_model(model, x, memory=False, cache=cache, max_time_s=0.2).from_cache
    for changes in ({"latency_method": "plain"}, {"latency_budget_ms": 5.0}):
        again = profile_model(model, x, memory=False, cache=cache, max_time_s=0.2, **changes)
        assert not again.from_cache, changes
    assert first.latency_method == "compensated"


def test_calibration_is_keyed_by_device_and_threads_and_made_once_per_process():
    scale = calibrate("cpu", 1)
    assert scale.key == scale_key("cpu", 1) and "threads=1" in scale.key
    assert 0 < scale.reference_ms < 100
    assert process_scale("cpu", 1) is process_scale("cpu", 1)
    assert LatencyScale.from_dict(scale.to_dict()) == scale
    assert scale.host in scale.label()


@pytest.mark.parametrize(
    ("changes", "match", "error"),
    [
        ({"latency_method": "fast"}, "'latency_method' parameter of ProfileOptions", InputError),
        ({"latency_budget_ms": 0.0}, "'latency_budget_ms' parameter", InputError),
        ({"latency_budget_ms": float("nan")}, "'latency_budget_ms' parameter", InputError),
        ({"max_time_s": 2.0, "decision_max_time_s": 1.0}, "'decision_max_time_s' parameter",
         InputError),
        ({"latency_scale": {"key": "cpu"}}, "'latency_scale' parameter", InputTypeError),
    ],
)
def test_bad_latency_options_are_refused_by_name(changes, match, error):
    with pytest.raises(error, match=match):
        ProfileOptions(**changes)


def test_latency_scale_refuses_bad_fields():
    with pytest.raises(InputError, match="'reference_ms' parameter of LatencyScale"):
        LatencyScale("k", 0.0, "t", "h")
    with pytest.raises(InputTypeError, match="'key' parameter of LatencyScale"):
        LatencyScale(1, 0.1, "t", "h")  # type: ignore[arg-type]


def test_the_decision_cap_defaults_to_three_times_the_latency_cap():
    assert ProfileOptions(max_time_s=0.5).decision_cap_s == 1.5
    assert ProfileOptions(max_time_s=0.5, decision_max_time_s=0.5).decision_cap_s == 0.5
    assert LATENCY_METHODS == ("compensated", "plain")


def test_onnxruntime_profiles_are_compensated_by_a_reference_in_onnxruntime():
    """ONNX Runtime's thread pool spins between runs and stalls torch's threads: its
    reference runs in ONNX Runtime too, on a scale of its own."""
    model, x = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU()), torch.randn(2, 32)
    r = profile_model(model, x, memory=False, cache=False, max_time_s=0.3, threads=1,
                      runtime="onnxruntime")
    assert r.latency_method == "compensated" and r.latency_scale is not None
    assert r.latency_scale["key"] == scale_key("cpu", 1, "onnxruntime")
    assert r.latency_scale["key"].endswith("|onnxruntime")
    eager_scale = calibrate("cpu", 1)
    with pytest.raises(InputError, match="runtime's reference"):
        profile_model(model, x, memory=False, cache=False, max_time_s=0.3, threads=1,
                      runtime="onnxruntime", latency_scale=eager_scale)
    compiled_key = scale_key("cpu", 1, "compile")
    assert compiled_key == eager_scale.key  # compile is compensated by the eager reference


def test_one_budget_rule_for_the_profiler_and_the_gate():
    from effobj.profiler._report import budget_decision

    assert budget_decision(2.0, (1.9, 2.1), 3.0) == ("under", True)
    assert budget_decision(2.0, (1.9, 2.1), 2.1) == ("under", False)  # the bound is inside
    assert budget_decision(2.0, (1.9, 2.1), 2.0) == ("under", False)  # at the median: under
    assert budget_decision(2.0, (1.9, 2.1), 1.5) == ("over", True)
    assert budget_decision(2.0, None, 100.0) == ("under", False)  # no interval: not certain


def test_the_docstring_examples_of_the_report_module_hold():
    """LatencyScale and budget_decision live there, beside CostReport."""
    import doctest

    import effobj.profiler._report as report

    result = doctest.testmod(report)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"threads": 0}, "'threads' parameter of calibrate must be an int", InputError),
        ({"runtime": "tensorrt"}, "'runtime' parameter of calibrate", InputError),
        ({"device": 0}, "'device' parameter of calibrate", InputTypeError),
    ],
)
def test_calibrate_refuses_bad_arguments_by_name(kwargs, match, error):
    with pytest.raises(error, match=match):
        calibrate(**kwargs)
