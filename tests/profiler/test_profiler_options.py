"""ProfileOptions: one owner of the profiler's defaults and rules, shared by every caller."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from effobj.errors import InputError
from effobj.profiler import LocalProfiler, ProfileCache, ProfileOptions, profile_model


def test_defaults_and_frozen() -> None:
    opts = ProfileOptions()
    assert (opts.device, opts.threads, opts.latency, opts.memory) == ("cpu", None, True, True)
    assert (opts.target_rel_spread, opts.max_time_s, opts.cache) == (0.02, 1.0, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.latency = False  # type: ignore[misc]
    assert ProfileOptions(latency=False) == ProfileOptions(latency=False)
    assert hash(ProfileOptions(cache=False)) == hash(ProfileOptions(cache=False))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"threads": 0}, InputError, r"'threads' parameter of ProfileOptions .*Got 0"),
        ({"target_rel_spread": 1.0}, InputError, r"'target_rel_spread' parameter of ProfileOptions"),
        ({"max_time_s": float("nan")}, InputError, r"'max_time_s' parameter of ProfileOptions"),
        ({"max_time_s": "1"}, TypeError, r"'max_time_s' parameter of ProfileOptions"),
        ({"latency": 1}, TypeError, r"'latency' parameter of ProfileOptions must be a bool"),
        ({"device": None}, TypeError, r"'device' parameter of ProfileOptions must be a str"),
        ({"cache": {}}, TypeError, r"'cache' parameter of ProfileOptions"),
    ],
)
def test_options_refuse_bad_values_when_built(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        ProfileOptions(**kwargs)
    with pytest.raises(exc, match=match.replace("ProfileOptions", "ProfileOptions.replace")):
        ProfileOptions().replace(**kwargs)


def test_numbers_are_stored_as_floats() -> None:
    opts = ProfileOptions(target_rel_spread=torch.tensor(0.1), max_time_s=2)
    assert opts.target_rel_spread == pytest.approx(0.1) and isinstance(opts.target_rel_spread, float)
    assert opts.max_time_s == 2.0 and isinstance(opts.max_time_s, float)


def test_unknown_option_and_wrong_options_type_are_named() -> None:
    with pytest.raises(TypeError, match=r"profile_model got unknown option\(s\) \['latencey'\]"):
        profile_model(nn.Linear(2, 2), torch.ones(1, 2), latencey=False)
    with pytest.raises(TypeError, match="'options' parameter of LocalProfiler must be a ProfileOptions"):
        LocalProfiler("cpu")  # type: ignore[arg-type]  # the old positional device
    with pytest.raises(TypeError, match="'options' parameter of profile_model"):
        profile_model(nn.Linear(2, 2), torch.ones(1, 2), {"latency": False})  # type: ignore[arg-type]


def test_keywords_override_an_options_object() -> None:
    base = ProfileOptions(latency=False, memory=False, cache=False)
    assert ProfileOptions.resolve(base, {}, "f") is base  # nothing to apply: the same object
    r = profile_model(nn.Linear(4, 2), torch.ones(1, 4), base, memory=True)
    assert r.latency_ms is None and r.peak_activation_bytes is not None
    same = profile_model(nn.Linear(4, 2), torch.ones(1, 4), latency=False, memory=True, cache=False)
    assert (r.flops, r.peak_activation_bytes) == (same.flops, same.peak_activation_bytes)


def test_local_profiler_holds_one_options_object() -> None:
    cache = ProfileCache()
    opts = ProfileOptions(latency=False, cache=cache)
    prof = LocalProfiler(opts)
    assert prof.options is opts
    assert (prof.device, prof.latency, prof.memory, prof.cache) == ("cpu", False, True, cache)
    assert LocalProfiler(opts, memory=False).options == dataclasses.replace(opts, memory=False)
    prof.profile(nn.Linear(3, 3), torch.ones(1, 3))
    assert len(cache) == 1
    with pytest.raises(AttributeError):
        _ = prof.nothing
    import pickle

    assert LocalProfiler(options=opts).options is opts
    assert pickle.loads(pickle.dumps(LocalProfiler(opts.replace(cache=False)))).options == opts.replace(cache=False)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (ProfileOptions(latency=False, memory=False), ()),
        (ProfileOptions(latency=False), ("peak_activation_bytes",)),
        (ProfileOptions(memory=False), ("latency_ms", "throughput")),
    ],
)
def test_indicators_are_what_a_profile_reports(opts, expected) -> None:
    counted = ("flops", "macs", "n_params", "trainable_params", "model_bytes")
    names = opts.indicators()
    assert names[: len(counted)] == counted
    assert tuple(n for n in names[len(counted):] if n != "energy_j") == expected
    report = profile_model(nn.Linear(4, 2), torch.ones(1, 4), opts.replace(cache=False, max_time_s=0.05))
    assert set(report.indicators()) == set(names)


def test_threads_above_the_cores_warn_at_the_callers_line() -> None:
    import os

    too_many = (os.cpu_count() or 1) + 1
    with pytest.warns(UserWarning, match=f"LocalProfiler: threads={too_many}") as seen:
        LocalProfiler(threads=too_many)
    assert seen[0].filename == __file__
