"""The trial record (effobj.record): one typed record, its storage form, and the incumbent."""

from __future__ import annotations

import doctest
import json
import math
from types import SimpleNamespace

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import effobj
from effobj import record as K
from effobj.errors import InputError
from effobj.record import Incumbent, Status, TrialRecord, incumbent, rank_values

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_docstring_examples():
    result = doctest.testmod(K, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_public_from_effobj():
    assert effobj.TrialRecord is TrialRecord


def test_keys_are_the_single_list():
    assert K.RESERVED_KEYS == K.TRIAL_KEYS + K.STUDY_KEYS
    assert len(set(K.RESERVED_KEYS)) == len(K.RESERVED_KEYS) == 35
    assert [s.value for s in Status] == [
        "training", "trained", "over_budget", "hopeless", "pruned", "failed", "interrupted",
        "repeat",
    ]


def test_a_trained_record_in_storage_form():
    rec = TrialRecord(costs={"size": 3.0}, C=0.3, upper_bound=0.8, profile_time_s=0.1)
    attrs = rec.scored(0.9, 0.9, 0.75, train_time_s=2.0).to_user_attrs()
    assert attrs == {
        "size": 3.0, "perf": 0.9, "A": 0.9, "C": 0.3, "e_beta": 0.75,
        "e_beta_upper_bound": 0.8, "trained": True, "status": "trained",
        "profile_time_s": 0.1, "train_time_s": 2.0,
    }
    assert type(attrs["status"]) is str  # a plain string in the storage, not the enum
    json.dumps(attrs)


def test_an_outcome_states_unknown_scores_as_none_other_records_omit_them():
    over = TrialRecord(C=1.2).skipped(Status.OVER_BUDGET, "over budget", e_beta=0.0)
    assert over.to_user_attrs() == {
        "perf": None, "A": None, "C": 1.2, "e_beta": 0.0, "trained": False,
        "status": "over_budget", "skip_reason": "over budget",
    }
    hopeless = TrialRecord().skipped(Status.HOPELESS, "hopeless").to_user_attrs()
    assert hopeless["e_beta"] is None and hopeless["perf"] is None and hopeless["A"] is None
    failed = TrialRecord(status=Status.FAILED, trained=False, fail_reason="boom")
    assert failed.to_user_attrs() == {"trained": False, "status": "failed", "fail_reason": "boom"}
    assert TrialRecord(identity="x").to_user_attrs() == {"identity": "x"}


def test_reading_is_tolerant_of_missing_and_foreign_values():
    empty = TrialRecord.from_user_attrs({})
    assert empty == TrialRecord() and empty.to_user_attrs() == {}
    foreign = {"perf": "high", "status": "queued", "trained": 1, "note": "hi", "size": 4,
               "effobj_rl_sample": 3, "latency_ms": True}
    rec = TrialRecord.from_user_attrs(foreign)
    assert rec.perf is None and rec.trained is None
    assert rec.status == "queued" and not isinstance(rec.status, Status)
    assert rec.costs == {"size": 4.0}  # numbers outside effobj's namespace; bool is not one
    assert rec.extras == {"perf": "high", "trained": 1, "note": "hi", "effobj_rl_sample": 3,
                          "latency_ms": True}
    assert rec.to_user_attrs() == foreign  # read and written back: unchanged
    only = TrialRecord.from_user_attrs(foreign, ["latency_ms", "other"])
    assert only.costs == {} and only.extras["size"] == 4


def test_known_status_strings_become_the_enum():
    rec = TrialRecord.from_user_attrs({"status": "repeat", "repeat_of": 3, "epochs_run": 2})
    assert rec.status is Status.REPEAT and rec.repeat_of == 3 and rec.epochs_run == 2


_value = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
    st.text(max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([*K.TRIAL_KEYS, "size", "note", "effobj_x"]), _value))
def test_any_user_attrs_survive_a_round_trip(attrs):
    """What is read is written back; an outcome also states its unknown scores."""
    stated = {}
    if attrs.get("status") in ("trained", "over_budget", "hopeless", "pruned", "repeat"):
        stated = {"perf": None, "A": None, "e_beta": None}
    assert TrialRecord.from_user_attrs(attrs).to_user_attrs() == stated | attrs


def _t(number, state="COMPLETE", **ua):
    return SimpleNamespace(number=number, state=state, user_attrs=ua)


def test_incumbent_counts_trained_completed_trials_with_a_finite_score():
    trials = [
        _t(0, trained=True, e_beta=0.5),
        _t(1, trained=False, e_beta=0.9, status="hopeless"),  # a bound, not a score
        _t(2, "PRUNED", trained=True, e_beta=0.95),  # stopped during training
        _t(3, "RUNNING", trained=True),
        _t(4, trained=True, e_beta=math.nan),
        _t(5, trained=True, e_beta="0.99"),
        _t(6, trained=True, e_beta=0.7),
        _t(7, trained=False, e_beta=0.7, status="repeat", repeat_of=6),
    ]
    assert incumbent(trials) == Incumbent(0.7, 6)
    assert incumbent(reversed(trials)) == Incumbent(0.7, 6)
    assert incumbent([_t(9, trained=True, e_beta=0.7), *trials]) == Incumbent(0.7, 6)  # ties: lower
    assert incumbent(trials[1:6]) is None and incumbent([]) is None


def test_incumbent_of_optuna_trials():
    trials = [
        optuna.trial.create_trial(value=0.4, user_attrs={"trained": True, "e_beta": 0.4}),
        optuna.trial.create_trial(value=0.8, user_attrs={"trained": False, "e_beta": None}),
        optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED,
                                  user_attrs={"trained": True, "e_beta": 0.9}),
    ]
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    assert incumbent(study.get_trials()) == Incumbent(0.4, 0)


def test_rank_values():
    names = ["size"]
    assert rank_values({"perf": 0.5, "size": 2, "status": "trained"}, 0, True, names) == (
        0.5, [2.0])
    perf, costs = rank_values({"perf": 0.5, "size": 2, "status": "pruned"}, 0, True, names)
    assert math.isnan(perf) and costs == [2.0]  # partial: not ranked, a contender
    perf, costs = rank_values({"perf": 0.5, "size": 2, "status": "repeat"}, 0, True, names)
    assert math.isnan(perf) and math.isnan(costs[0])  # its source is ranked, not it
    perf, _ = rank_values({"perf": 0.5, "size": 2}, 0, False, names)
    assert math.isnan(perf)
    # another tool's study: the objective values by metric name fill what is missing
    assert rank_values({}, 0, True, names, {"perf": 0.7, "size": 3.0}) == (0.7, [3.0])
    assert rank_values({"perf": None}, 0, True, names, {"perf": 0.7})[0] != 0.7
    with pytest.raises(InputError, match=r"Trial 4 records 'size' as 'big'"):
        rank_values({"perf": 0.5, "size": "big"}, 4, True, names)


def test_constraints_and_the_cost_report_in_storage_form():
    """Named constraints in the user_attrs; Optuna's list and the report in system_attrs."""
    rec = TrialRecord(costs={"size": 3.0}, constraints={"perf_min": -0.1, "size_max": 0.2},
                      cost_report={"macs": 3, "flops_by_module": {"M": 6}})
    ua, sa = rec.to_user_attrs(), rec.to_system_attrs()
    assert ua == {"size": 3.0, "constraints": {"perf_min": -0.1, "size_max": 0.2}}
    assert sa == {"constraints": [-0.1, 0.2],
                  "effobj:cost_report": {"macs": 3, "flops_by_module": {"M": 6}}}
    trial = SimpleNamespace(user_attrs=ua, system_attrs=sa)
    assert TrialRecord.from_trial(trial) == rec
    assert TrialRecord.from_user_attrs(ua) == TrialRecord(costs={"size": 3.0},
                                                          constraints=rec.constraints)


def test_an_older_effobjs_trial_is_still_read():
    """Before 0.2: the parameter count as "params", the report in the user_attrs."""
    old = {"perf": 0.9, "status": "trained", "trained": True, "macs": 10.0, "params": 36.0,
           "cost_report": {"macs": 10, "params": 36}}
    rec = TrialRecord.from_trial(SimpleNamespace(user_attrs=old, system_attrs={}))
    assert rec.costs == {"macs": 10.0, "n_params": 36.0}
    assert rec.cost_report == {"macs": 10, "params": 36}
    assert rank_values(old, 0, True, ["n_params", "macs"]) == (0.9, [36.0, 10.0])
    from effobj.profiler import CostReport

    report = CostReport(model_name="M", input_shapes=((1, 4),), input_dtypes=("torch.float32",),
                        batch_size=1, flops=16, macs=8, n_params=20, trainable_params=20,
                        model_bytes=80, device=__import__("effobj.profiler", fromlist=["x"])
                        .DeviceInfo("cpu", "c", 1, 1, "2"))
    d = report.to_dict()
    d["params"] = d.pop("n_params")
    assert CostReport.from_dict(d) == report
    with pytest.warns(DeprecationWarning):
        assert report.params == 20
