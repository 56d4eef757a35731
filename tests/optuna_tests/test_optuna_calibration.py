"""The study's latency scale and the latency gate's decisions (effobj.optuna._calibration)."""

from __future__ import annotations

import dataclasses
import json

import optuna
import pytest
import torch

from effobj import EfficiencySpec
from effobj import record as K
from effobj.optuna import EfficiencyObjective, create_study, training_summary
from effobj.optuna import _calibration as cal
from effobj.profiler import LatencyScale, LocalProfiler
from effobj.profiler._scale import scale_key
from effobj.record import Status, TrialRecord

optuna.logging.set_verbosity(optuna.logging.ERROR)

#: a small model and a short measurement: the tests are about the bookkeeping (one
#: thread: at two, a loaded 2-core machine makes the timings swing far more)
_FAST = dict(threads=1, max_time_s=0.1, memory=False)


def _build(trial: optuna.trial.Trial) -> torch.nn.Module:
    width = trial.suggest_int("width", 2, 8)
    return torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))


def _spec(latency_max: float | None = None, ref: float = 1000.0) -> EfficiencySpec:
    return EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=ref, cost_max=latency_max,
                          cost_name="latency_ms")


def _objective(spec: EfficiencySpec, profiler=None) -> EfficiencyObjective:
    return EfficiencyObjective(spec, build=_build, evaluate=lambda model, trial: 0.5,
                               example_inputs=torch.ones(1, 4),
                               profiler=LocalProfiler(**_FAST) if profiler is None else profiler)


def _run(objective: EfficiencyObjective, study: optuna.Study, widths: list[int]) -> None:
    for w in widths:
        study.enqueue_trial({"width": w})
    study.optimize(objective, n_trials=len(widths))


def _scale_attrs(study: optuna.Study) -> dict[str, dict]:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {k: v for k, v in attrs.items() if k.startswith(cal.SCALE_PREFIX)}


def _label(scale: LatencyScale) -> dict:
    """How a cost report names the scale it used."""
    return scale.to_dict()


def _key() -> str:
    return scale_key("cpu", 1)


def test_the_scale_is_stored_once_per_key_and_reused_by_another_session(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = _spec()
    study = create_study(spec, storage=url, study_name="cal")
    _run(_objective(spec), study, [3, 4])
    stored = _scale_attrs(study)
    assert len(stored) == 1
    scale = LatencyScale.from_dict(next(iter(stored.values())))
    assert scale.key == _key()
    # a second session: a new objective on the study loaded again from its storage
    again = optuna.load_study(study_name="cal", storage=url)
    _run(_objective(spec), again, [5])
    assert len(_scale_attrs(again)) == 1  # found, not calibrated again
    for t in again.trials:
        report = TrialRecord.from_trial(t).cost_report
        assert report["latency_method"] == "compensated"
        assert report["latency_scale"] == _label(scale)
        assert report["latency_reference_ms"] == scale.reference_ms


def test_a_scale_stored_by_another_worker_is_used_not_this_processs():
    """Another worker's calibration (a scale this process never measured) is the one the
    profile uses; this process stores none of its own."""
    spec = _spec()
    study = create_study(spec, storage=":memory:")
    theirs = LatencyScale(_key(), 0.123, "2026-01-01T00:00:00+00:00", "elsewhere")
    study._storage.set_study_system_attr(study._study_id, cal.SCALE_PREFIX + "theirs",
                                         theirs.to_dict())
    _run(_objective(spec), study, [3])
    report = TrialRecord.from_trial(study.trials[0]).cost_report
    assert report["latency_reference_ms"] == 0.123
    assert report["latency_scale"] == _label(theirs)
    assert list(_scale_attrs(study)) == [cal.SCALE_PREFIX + "theirs"]


def test_two_objectives_on_one_study_use_one_scale():
    spec = _spec()
    study = create_study(spec, storage=":memory:")
    first, second = _objective(spec), _objective(spec, LocalProfiler(**_FAST))
    _run(first, study, [3])
    _run(second, study, [6])
    labels = {json.dumps(TrialRecord.from_trial(t).cost_report["latency_scale"], sort_keys=True)
              for t in study.trials}
    assert len(labels) == 1 and len(_scale_attrs(study)) == 1


def test_concurrent_writers_converge_on_the_earliest_scale():
    """Each writer stores its own; every reader takes the earliest (ties: host, name),
    whatever the order they were written in; scales of another key are passed over."""
    study = optuna.create_study()
    put = study._storage.set_study_system_attr
    late = LatencyScale("k", 0.2, "2026-01-01T00:00:05+00:00", "a")
    early_b = LatencyScale("k", 0.3, "2026-01-01T00:00:01+00:00", "b")
    early_a = LatencyScale("k", 0.4, "2026-01-01T00:00:01+00:00", "a")
    other = LatencyScale("other", 0.1, "2025-01-01T00:00:00+00:00", "a")
    assert cal.stored_scale(study, "k") is None
    put(study._study_id, cal.SCALE_PREFIX + "1", late.to_dict())
    assert cal.stored_scale(study, "k") == late
    put(study._study_id, cal.SCALE_PREFIX + "2", early_b.to_dict())
    put(study._study_id, cal.SCALE_PREFIX + "3", other.to_dict())
    put(study._study_id, cal.SCALE_PREFIX + "4", {"not": "a scale"})
    assert cal.stored_scale(study, "k") == early_b
    put(study._study_id, cal.SCALE_PREFIX + "5", early_a.to_dict())
    assert cal.stored_scale(study, "k") == early_a  # same time: host "a" before "b"


def test_profilers_without_with_options_are_left_alone():
    class Elsewhere:  # a remote or user-written profiler
        def profile(self, model, example_inputs):
            return LocalProfiler(latency=False).profile(model, example_inputs)

    study = optuna.create_study()
    mine = Elsewhere()
    assert cal.study_profiler(mine, study, 1.0) is mine
    plain = LocalProfiler(latency_method="plain", **_FAST)
    assert cal.study_profiler(plain, study, None) is plain  # nothing to apply
    timed = cal.study_profiler(plain, study, 2.0)
    assert timed.options.latency_budget_ms == 2.0 and timed.options.latency_scale is None
    assert not _scale_attrs(study)  # the plain method needs no scale
    counts = LocalProfiler(latency=False)
    assert cal.study_profiler(counts, study, 2.0) is counts


def test_latency_budget_is_the_latency_indicators_max():
    assert cal.latency_budget_ms(_spec(5.0)) == 5.0
    assert cal.latency_budget_ms(_spec()) is None  # gates at ref, where E_beta is 0 anyway
    assert cal.latency_budget_ms(EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0,
                                                cost_max=5.0, cost_name="macs")) is None


@pytest.mark.parametrize(("budget", "side", "status"), [
    (1e4, "under", Status.TRAINED),      # far above any latency of the model
    (1e-6, "over", Status.OVER_BUDGET),  # far below
])
def test_a_budget_far_from_the_latency_is_a_certain_decision(budget, side, status):
    spec = _spec(budget, ref=2e4)
    study = create_study(spec, storage=":memory:")
    _run(_objective(spec), study, [3])
    t = study.trials[0]
    assert t.user_attrs[K.STATUS] == status
    assert t.user_attrs[K.LATENCY_DECISION] == side
    assert t.user_attrs[K.LATENCY_DECISION_CERTAIN] is True
    report = TrialRecord.from_trial(t).cost_report
    assert report["latency_budget_ms"] == budget  # the profiler was asked to decide
    assert report["latency_decision"] == side
    assert training_summary(study).n_uncertain_decisions == 0


class FixedLatency:
    """A user-written profiler: a real profile with the latency set to 2 ms, interval
    (1.9, 2.1) ms, not converged; it makes no decision of its own."""

    def profile(self, model, example_inputs):
        report = LocalProfiler(latency=False).profile(model, example_inputs)
        return dataclasses.replace(report, latency_ms=2.0, latency_ci95_ms=(1.9, 2.1),
                                   latency_converged=False, throughput=500.0)


@pytest.mark.parametrize(("budget", "side", "status", "mark"), [
    (2.0, "under", Status.TRAINED, "under?"),        # the budget at the median
    (1.95, "over", Status.OVER_BUDGET, "over?"),     # inside the interval, under the median
])
def test_a_budget_inside_the_interval_is_an_uncertain_decision_with_its_side(
        budget, side, status, mark):
    spec = _spec(budget, ref=10.0)
    study = create_study(spec, storage=":memory:")
    _run(_objective(spec, FixedLatency()), study, [3, 4])
    for t in study.trials:
        rec = TrialRecord.from_trial(t)
        assert rec.status == status
        assert (rec.latency_decision, rec.latency_decision_certain) == (side, False)
        assert K.decision_mark(t.user_attrs) == mark
        assert "latency_decision" not in rec.cost_report or rec.cost_report["latency_decision"] is None
    summary = training_summary(study)
    assert summary.n_uncertain_decisions == 2 and summary.n_latency_unconverged == 2
    text = str(summary)
    assert "2 uncertain latency gate decisions" in text
    assert "2 latency profiles did not converge" in text
    assert summary.to_dict()["n_uncertain_decisions"] == 2


def test_without_a_latency_budget_no_decision_is_recorded():
    spec = _spec()
    study = create_study(spec, storage=":memory:")
    _run(_objective(spec, FixedLatency()), study, [3])
    ua = study.trials[0].user_attrs
    assert K.LATENCY_DECISION not in ua and K.LATENCY_DECISION_CERTAIN not in ua
    summary = training_summary(study)
    assert summary.n_uncertain_decisions == 0 and summary.n_latency_unconverged == 1
    assert "uncertain" not in str(summary)


def test_the_samplers_cost_look_ups_measure_on_the_studys_scale():
    """The effobj sampler measures candidates before their trials (kept by identity, so
    the trial does not measure again): those measurements use the study's scale too."""
    from effobj.optuna import EfficiencySampler

    spec = _spec()
    study = create_study(spec, storage=":memory:")
    theirs = LatencyScale(_key(), 0.123, "2026-01-01T00:00:00+00:00", "elsewhere")
    study._storage.set_study_system_attr(study._study_id, cal.SCALE_PREFIX + "theirs",
                                         theirs.to_dict())
    objective = _objective(spec)
    study.sampler = EfficiencySampler.for_objective(objective, seed=0, n_startup_trials=1,
                                                    n_initial_lookups=3)
    study.optimize(objective, n_trials=3)
    assert study.user_attrs.get("cost_lookups", 0) >= 3
    for t in study.trials:
        assert TrialRecord.from_trial(t).cost_report["latency_reference_ms"] == 0.123
    assert len(_scale_attrs(study)) == 1


def test_threads_none_means_torchs_thread_count_now():
    study = optuna.create_study()
    scale = cal.study_scale(study, "cpu", None)
    assert scale.key == scale_key("cpu", torch.get_num_threads())
    assert cal.study_scale(study, "cpu", None) == scale  # stored, found again
    assert len(_scale_attrs(study)) == 1


def test_a_settled_scale_is_kept_without_reading_the_storage_again(monkeypatch):
    """Before SETTLE_S a concurrent writer's earlier scale replaces the one found; after
    it, the one found is kept (the read returns every study system attribute)."""
    study = optuna.create_study()
    mine = cal.study_scale(study, "cpu", 1)
    earlier = LatencyScale(mine.key, 0.5, "2000-01-01T00:00:00+00:00", "z")
    study._storage.set_study_system_attr(study._study_id, cal.SCALE_PREFIX + "late-writer",
                                         earlier.to_dict())
    assert cal.study_scale(study, "cpu", 1) == earlier  # within the window: read again
    later = LatencyScale(mine.key, 0.7, "1999-01-01T00:00:00+00:00", "z")
    study._storage.set_study_system_attr(study._study_id, cal.SCALE_PREFIX + "later-writer",
                                         later.to_dict())
    monkeypatch.setattr(cal, "SETTLE_S", 0.0)
    assert cal.study_scale(study, "cpu", 1) == earlier  # settled: not read again
    other = optuna.create_study()  # another storage: its own scales
    assert cal.study_scale(other, "cpu", 1) == mine
