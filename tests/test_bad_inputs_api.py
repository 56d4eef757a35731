"""The catalogue of bad inputs to effobj's API (issue 13): one entry per case found by
trying to break effobj, each asserting the exact kind of error and what its message
names. The metric layer's parameter checks are in ``tests/test_bad_parameters.py``; the
command line's cases in ``tests/test_bad_inputs_cli.py``.

Every entry is cheap (tiny inputs, no training): the whole list runs in seconds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import effobj
import effobj.optuna
from effobj import CostIndicator, EfficiencySpec
from effobj.errors import (
    EffobjError,
    FileFormatError,
    InputError,
    InputTypeError,
    ProfilingError,
    StorageError,
)

nan = float("nan")
SPEC = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="lat")
F16 = np.array([0.5], dtype=np.float16)
F32 = np.array([0.5], dtype=np.float32)
BF16 = torch.tensor([0.5], dtype=torch.bfloat16)


def _trial(number: int, **user_attrs):
    return optuna.trial.create_trial(value=0.5, user_attrs=user_attrs)


def _failing_trial():
    """An objective with on_error="raise" whose evaluate raises: TrialFailed."""
    from effobj.optuna import EfficiencyObjective

    obj = EfficiencyObjective(SPEC, lambda t: t.suggest_int("n", 1, 3), lambda c, t: 1 / 0,
                              measure=lambda c: {"lat": 1.0}, on_error="raise")
    study = obj.create_study(storage=":memory:", sampler="random")
    study.optimize(obj, n_trials=1)


def _rerank(perf, cost):
    from effobj.rerank import rerank

    trials = [_trial(0, perf=perf, lat=cost, status="trained", trained=True)]
    return rerank(trials, SPEC)


def _storage(url, **kw):
    from effobj.optuna import resolve_storage

    return resolve_storage(url, heartbeat_interval=None, **kw)


def _files(tmp: Path) -> dict[str, str]:
    """Files some entries open: an empty, a corrupt and a truncated SQLite file."""
    (tmp / "empty.db").write_bytes(b"")
    (tmp / "corrupt.db").write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    (tmp / "noise.db").write_bytes(os.urandom(5000))
    good = tmp / "good.db"
    optuna.create_study(study_name="s", storage=f"sqlite:///{good}")
    (tmp / "truncated.db").write_bytes(good.read_bytes()[:1500])
    return {k: str(tmp / f"{k}.db") for k in ("empty", "corrupt", "noise", "truncated")}


# (id, callable(files) -> None, error type, text the message must contain)
CASES = [
    # -- item 4: NaN from valid inputs -> refused by name (beta2 too large for the dtype)
    ("e_beta-f16-beta2", lambda f: effobj.e_beta(F16, F16, beta2=1e5), InputError, "'beta2'"),
    ("e_beta-f16-beta2-text", lambda f: effobj.e_beta(F16, F16, beta2=1e5), InputError,
     "The 'beta2' parameter of e_beta must be below 1.64e+04 for float16 inputs: (1 + beta2) would "
     "overflow that precision. Got 100000.0 instead. Pass float64 inputs for a larger beta2."),
    ("soft-f16-beta2", lambda f: effobj.soft_e_beta(F16, F16, beta2=1e5), InputError, "'beta2'"),
    ("e_beta-f32-beta2", lambda f: effobj.e_beta(F32, F32, beta2=1e39), InputError, "'beta2'"),
    ("soft-f32-beta2", lambda f: effobj.soft_e_beta(F32, F32, beta2=1e39), InputError, "'beta2'"),
    ("e_beta-bf16-beta2", lambda f: effobj.e_beta(BF16, BF16, beta2=1e39), InputError, "'beta2'"),
    ("soft-bf16-beta2", lambda f: effobj.soft_e_beta(BF16, BF16, beta2=1e39), InputError, "'beta2'"),
    ("grad-f16-beta2", lambda f: effobj.e_beta_grad(F16, F16, beta2=1e5), InputError, "'beta2'"),
    ("e_beta-torch-f16-beta2", lambda f: effobj.e_beta(torch.tensor([0.5], dtype=torch.float16), 0.5,
                                                       beta2=1e5), InputError, "'beta2'"),
    # -- item 16: torch complex and bool tensors refused like numpy's
    ("e_beta-torch-bool", lambda f: effobj.e_beta(torch.tensor([True]), 0.5), TypeError, "'a'"),
    ("e_beta-torch-complex", lambda f: effobj.e_beta(0.5, torch.tensor([0.5j])), TypeError, "'c'"),
    ("soft-torch-bool", lambda f: effobj.soft_e_beta(0.5, torch.tensor([False])), TypeError, "'c'"),
    ("spec-torch-complex", lambda f: SPEC.score(torch.tensor([0.5 + 0j]), 1.0), TypeError, "'perf'"),
    # -- item 7: cost names that collide with effobj's record keys
    *[
        (f"cost-name-{name}", (lambda n: lambda f: CostIndicator(n, ref=1.0))(name), InputError, "'name'")
        for name in ("perf", "e_beta", "A", "C", "trained", "status", "identity", "repeat_of",
                     "e_beta_upper_bound", "cost_report")
    ],
    ("spec-cost_name-perf", lambda f: EfficiencySpec(cost_ref=1.0, cost_name="perf"), InputError, "'name'"),
    ("spec-costs-status", lambda f: EfficiencySpec(costs=[{"name": "status", "ref": 1.0}]),
     InputError, "'name'"),
    # -- item 16: from_dict errors are InputErrors (a malformed stored spec)
    ("from_dict-not-mapping", lambda f: EfficiencySpec.from_dict([1, 2]), InputError, "'d'"),
    ("from_dict-no-costs", lambda f: EfficiencySpec.from_dict({"perf_ref": 1.0}), InputError, "'costs'"),
    ("from_dict-no-perf_ref", lambda f: EfficiencySpec.from_dict({"costs": []}), InputError, "'perf_ref'"),
    ("from_dict-costs-str", lambda f: EfficiencySpec.from_dict({"perf_ref": 1, "costs": "lat"}),
     InputError, "'costs'"),
    ("from_dict-cost-no-ref", lambda f: EfficiencySpec.from_dict(
        {"perf_ref": 1, "costs": [{"name": "lat"}]}), InputError, "'costs'"),
    ("from_dict-unknown-field", lambda f: EfficiencySpec.from_dict(
        {"perf_ref": 1, "costs": [{"name": "lat", "ref": 1}], "evil": 1}), InputError, "'d'"),
    ("from_dict-perf_ref-str", lambda f: EfficiencySpec.from_dict(
        {"perf_ref": "x", "costs": [{"name": "lat", "ref": 1}]}), InputError, "'perf_ref'"),
    ("from_dict-beta2-negative", lambda f: EfficiencySpec.from_dict(
        {"beta2": -1, "perf_ref": 1, "costs": [{"name": "lat", "ref": 1}]}), InputError, "'beta2'"),
    ("spec-replace-str", lambda f: SPEC.replace(beta2="x"), InputError, "'beta2'"),
    # -- item 11: values written by other code into a study
    ("rerank-perf-str", lambda f: _rerank("high", 1.0), InputError, "'perf'"),
    ("rerank-cost-str", lambda f: _rerank(0.5, "fast"), InputError, "'lat'"),
    ("rerank-cost-list", lambda f: _rerank(0.5, [1.0]), InputError, "'lat'"),
    ("rerank-perf-bool", lambda f: _rerank(True, 1.0), InputError, "'perf'"),
    # -- items 11, 13, 16: storages
    ("storage-not-url", lambda f: _storage("effobj.sqlite"), InputError, "'storage'"),
    ("storage-empty", lambda f: _storage(""), InputError, "'storage'"),
    ("storage-heartbeat", lambda f: effobj.optuna.resolve_storage(":memory:", heartbeat_interval=0),
     InputError, "'heartbeat_interval'"),
    ("storage-max_retry", lambda f: effobj.optuna.resolve_storage(":memory:", max_retry=-1),
     InputError, "'max_retry'"),
    ("storage-type", lambda f: effobj.optuna.resolve_storage(3), TypeError, "'storage'"),
    ("storage-unknown-dialect", lambda f: _storage("nosuchdb://u:pw@h/x"), StorageError, "nosuchdb://u:***@h/x"),
    ("storage-mysql-driver", lambda f: _storage("mysql://u:pw@localhost/x"), StorageError, "PyMySQL"),
    ("storage-sqlite-missing-folder", lambda f: _storage("sqlite:////no/such/folder/x.db"),
     InputError, "folder"),
    ("storage-journal-missing-folder", lambda f: _storage("journal:/no/such/folder/x.log"),
     InputError, "folder"),
    ("storage-read-missing-file", lambda f: _storage("sqlite:///" + f["empty"] + "-gone", must_exist=True),
     InputError, "does not exist"),
    ("storage-read-missing-journal", lambda f: _storage("journal:" + f["empty"] + ".log", must_exist=True),
     InputError, "does not exist"),
    ("storage-read-empty-db", lambda f: _storage("sqlite:///" + f["empty"], must_exist=True),
     InputError, "holds no Optuna studies"),
    ("storage-read-noise-db", lambda f: _storage("sqlite:///" + f["noise"], must_exist=True),
     StorageError, "cannot be read"),
    ("storage-open-noise-db", lambda f: _storage("sqlite:///" + f["noise"]), StorageError, "cannot be opened"),
    # -- item 10: thread counts that crash torch
    ("profile-threads-huge", lambda f: effobj.profiler.profile_model(
        torch.nn.Linear(2, 2), torch.zeros(1, 2), threads=1_000_000), InputError, "'threads'"),
    ("profiler-threads-zero", lambda f: effobj.profiler.LocalProfiler(threads=0), InputError, "'threads'"),
    ("profiler-threads-huge", lambda f: effobj.profiler.LocalProfiler(threads=10**9), InputError, "'threads'"),
    # -- item 16: nn proxies and losses
    ("tcp-target-range", lambda f: effobj.nn.true_class_probability(torch.zeros(2, 3), torch.tensor([0, 3])),
     InputError, "'target'"),
    ("tcp-target-negative", lambda f: effobj.nn.true_class_probability(torch.zeros(2, 3), torch.tensor([-1, 0])),
     InputError, "'target'"),
    ("tcp-logits-nan", lambda f: effobj.nn.true_class_probability(torch.tensor([[nan, 0.0]]), torch.tensor([0])),
     InputError, "'logits'"),
    ("tcp-empty-batch", lambda f: effobj.nn.true_class_probability(torch.zeros(0, 3),
                                                                   torch.zeros(0, dtype=torch.long)),
     InputError, "'logits'"),
    ("loss-empty-batch", lambda f: effobj.EBetaLoss()(torch.zeros(0), torch.zeros(0)), InputError, "'perf'"),
    # -- the search: objective, sampler, study helpers (every refusal an EffobjError)
    ("objective-spec-dict", lambda f: effobj.optuna.EfficiencyObjective(
        {"beta2": 1}, lambda t: 1, lambda c, t: 0.5, measure=lambda c: {}), InputTypeError, "'spec'"),
    ("objective-build-not-callable", lambda f: effobj.optuna.EfficiencyObjective(
        SPEC, 3, lambda c, t: 0.5, measure=lambda c: {}), InputTypeError, "'build'"),
    ("objective-identity-not-callable", lambda f: effobj.optuna.EfficiencyObjective(
        SPEC, lambda t: 1, lambda c, t: 0.5, measure=lambda c: {}, identity="x"),
     InputTypeError, "'identity'"),
    ("objective-repeats-not-bool", lambda f: effobj.optuna.EfficiencyObjective(
        SPEC, lambda t: 1, lambda c, t: 0.5, measure=lambda c: {}, repeats="no"),
     InputTypeError, "'repeats'"),
    ("sampler-spec-dict", lambda f: effobj.optuna.EfficiencySampler({"beta2": 1}),
     InputTypeError, "'spec'"),
    ("sampler-costs-not-callable", lambda f: effobj.optuna.EfficiencySampler(SPEC, costs=1),
     InputTypeError, "'costs'"),
    ("sampler-price-negative", lambda f: effobj.optuna.EfficiencySampler(SPEC, lookup_price=-1),
     InputError, "'lookup_price'"),
    ("sampler-price-text", lambda f: effobj.optuna.EfficiencySampler(SPEC, lookup_price="low"),
     InputTypeError, "'lookup_price'"),
    ("sampler-share-zero", lambda f: effobj.optuna.EfficiencySampler(SPEC, lookup_share=0),
     InputError, "'lookup_share'"),
    ("sampler-startup-zero", lambda f: effobj.optuna.EfficiencySampler(SPEC, n_startup_trials=0),
     InputError, "'n_startup_trials'"),
    ("make_sampler-effobj-no-objective", lambda f: effobj.optuna.make_sampler("effobj"),
     InputError, "'objective'"),
    ("make_sampler-effobj-multi", lambda f: effobj.optuna.make_sampler("effobj", mode="multi"),
     InputError, "'name'"),
    ("make_sampler-bad-mode", lambda f: effobj.optuna.make_sampler("tpe", mode="both"),
     InputError, "'mode'"),
    ("create_study-spec-dict", lambda f: effobj.optuna.create_study({"beta2": 1}),
     InputTypeError, "'spec'"),
    ("worker_seed-negative", lambda f: effobj.optuna.worker_seed(-1, "s", 0), InputError, "'seed'"),
    ("worker_seed-float-count", lambda f: effobj.optuna.worker_seed(0, "s", 1.5), InputError,
     "'n_finished'"),
    ("worker_seed-name-int", lambda f: effobj.optuna.worker_seed(0, 7, 0), InputTypeError,
     "'study_name'"),
    ("cost_registry-not-a-study", lambda f: effobj.optuna.CostRegistry("db"), InputTypeError,
     "'study'"),
    ("objective-raise-is-trialfailed", lambda f: _failing_trial(), effobj.optuna.TrialFailed,
     "evaluate failed"),
    # -- issue 24 item 5: numbers beyond a float, names that print as something else
    ("for_budget-overflows-ref", lambda f: EfficiencySpec.for_budget(1e308), InputError,
     "The 'budget' parameter of EfficiencySpec.for_budget must be at most 8.98847e+307 with "
     "c_at_budget 0.5: its reference cost_ref = budget / c_at_budget must be finite. Got 1e+308"),
    ("from_dict-ref-10**400", lambda f: EfficiencySpec.from_dict(
        {"perf_ref": 1, "costs": [{"name": "lat", "ref": 10**400}]}), InputError,
     "The 'ref' parameter of CostIndicator must be a float in the range (0, inf). Got an int of "
     "about 401 digits, beyond the largest float instead."),
    ("from_dict-perf_ref-10**5000", lambda f: EfficiencySpec.from_dict(
        {"perf_ref": 10**5000, "costs": [{"name": "lat", "ref": 1}]}), InputError, "'perf_ref'"),
    *[
        (f"cost-name-{label}", (lambda n: lambda f: CostIndicator(n, ref=1.0))(name), InputError,
         f"The 'name' parameter of CostIndicator must hold no control or format characters "
         f"(escapes, bidi overrides such as U+202E, zero-width or line separators): they change "
         f"how the name reads where printed. Got {name!r} ({code}")
        for label, name, code in (("rtl-override", "lat\u202eency", "U+202E at index 3"),
                                  ("bidi-isolate", "\u2066lat", "U+2066 at index 0"),
                                  ("zero-width", "lat\u200bency", "U+200B at index 3"),
                                  ("escape", "lat\x1b[31m", "U+001B at index 3"),
                                  ("line-separator", "lat\u2028", "U+2028 at index 3"))
    ],
    ("spec-cost_name-rtl", lambda f: EfficiencySpec(cost_ref=1.0, cost_name="x\u202e"), InputError,
     "U+202E"),
    ("profile-model-partly-on-meta", lambda f: effobj.profiler.profile_model(
        torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2, device="meta")),
        torch.zeros(1, 2), latency=False), ProfilingError,
     "some of its weights are on the meta device (no data: 1.weight, 1.bias) and others on cpu"),
    # -- the report's output
    ("write_report-out-txt", lambda f: __import__("effobj.report", fromlist=["x"]).write_report(
        None, "x.txt"), InputError, "The 'out' parameter of write_report must end in .html or .htm. Got 'x.txt'"),
    # -- issue 22: failures in a row, a missing extra, a Float's range without points
    ("optimize-max-failures", lambda f: effobj.optuna.optimize(
        optuna.create_study(), lambda t: 0.0, 1, max_failures=0), InputError,
     "The 'max_failures' parameter of optimize must be an int in the range [1, inf) or None. Got 0"),
    ("require-extra", lambda f: __import__("effobj.errors", fromlist=["x"]).require_extra(
        "remote", ("no_such_module_of_effobj",), "effobj profile-server"), ImportError,
     "effobj profile-server needs effobj's 'remote' extra, which is not installed (no module "
     "['no_such_module_of_effobj']): pip install 'effobj[remote]'"),
    ("float-points-outside", lambda f: __import__("effobj.spaces", fromlist=["x"]).Float(
        "lr", 0.1, 1.0, (0.01,)), InputError, "The 'points' of the float parameter 'lr' must lie"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import effobj.nn  # noqa: F401
    import effobj.optuna  # noqa: F401  (the entries use effobj.optuna.*)
    import effobj.profiler  # noqa: F401

    return _files(tmp_path_factory.mktemp("bad_api"))


@pytest.mark.parametrize("func,error,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_by_name(files, func, error, text) -> None:
    with pytest.raises(error) as info:
        func(files)
    assert text in str(info.value), str(info.value)
    assert isinstance(info.value, EffobjError)  # every refusal is one of effobj's errors


def test_catalogue_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# ----------------------------------------------------------------- valid inputs, right numbers
def test_metric_stays_finite_for_valid_extremes() -> None:
    """Item 4: the values the issue found NaN for are finite (or refused above)."""
    assert effobj.e_beta_grad(1e-300, 1.0) == (0.0, -2.0)
    da, dc = effobj.e_beta_grad(0.5, 0.5, beta2=1e200)
    assert math.isfinite(da) and math.isfinite(dc) and da == pytest.approx(1.0)
    small = np.array([1e-4], dtype=np.float16)
    for c in (1.0, 0.999):
        assert np.isfinite(effobj.e_beta(small, small * 0 + c)).all()
        assert np.isfinite(effobj.soft_e_beta(small, small * 0 + c)).all()
        t = torch.tensor([1e-4], dtype=torch.float16)
        assert torch.isfinite(effobj.soft_e_beta(t, t * 0 + c)).all()
    assert effobj.e_beta(F16, F16, beta2=1e4)[0] == pytest.approx(0.5, rel=1e-2)


def test_huge_weights_do_not_overflow_the_weight_sum() -> None:
    """Item 5: two weights of 1e308 are one half each."""
    spec = EfficiencySpec(costs=[CostIndicator("x", ref=1.0, weight=1e308),
                                 CostIndicator("y", ref=1.0, weight=1e308)])
    assert spec.score(0.5, {"x": 0.5, "y": 0.5}) == pytest.approx(0.5)
    assert spec.score(0.5, {"x": 0.2, "y": 0.8}) == pytest.approx(0.5)


def test_float16_tensor_mixed_with_float64_keeps_a_valid_value() -> None:
    """Item 6: a float64 array beside a float16 tensor is not squeezed into float16."""
    h = torch.tensor([0.5], dtype=torch.float16)
    assert float(effobj.e_beta(h, np.array([70000.0]))) == 0.0  # C > 1: infeasible, not 'inf'
    assert float(effobj.e_beta(h, 70000.0)) == 0.0
    assert math.isfinite(float(effobj.soft_e_beta(h, np.array([0.5]))))


def test_reserved_names_are_the_trial_records_keys() -> None:
    """Item 7: the metric layer's plain tuple equals the record's keys (effobj.record)."""
    from effobj import record as K
    from effobj.spec import RESERVED_NAMES

    keys = {getattr(K, n) for n in K.__all__ if isinstance(getattr(K, n), str)}
    assert keys == set(K.RESERVED_KEYS)
    assert set(RESERVED_NAMES) == keys
    assert len(RESERVED_NAMES) == len(set(RESERVED_NAMES))


def test_masked_url_hides_every_password() -> None:
    """Item 2: one helper masks a URL's password wherever effobj prints or writes it."""
    from effobj.optuna._storage import masked_url

    assert masked_url("postgresql+psycopg2://me:s3cret@db/x") == "postgresql+psycopg2://me:***@db/x"
    assert masked_url("postgresql://me:p@ss@db:5432/x?sslmode=require") == (
        "postgresql://me:***@db:5432/x?sslmode=require")
    assert masked_url("mysql://me@db/x") == "mysql://me@db/x"
    assert masked_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    assert masked_url("journal:x.log") == "journal:x.log"
    assert masked_url(None) == "sqlite:///effobj.db"


def test_storage_errors_never_show_the_password() -> None:
    with pytest.raises(StorageError) as info:
        _storage("mysql://me:TopSecret1@localhost/x")
    assert "TopSecret1" not in str(info.value) and "me:***@" in str(info.value)
    with pytest.raises(StorageError) as info:
        _storage("nosuchdb://me:TopSecret1@localhost/x")
    assert "TopSecret1" not in str(info.value)


def test_read_only_open_creates_and_changes_nothing(tmp_path: Path) -> None:
    """Item 13: best/report open storages with must_exist: no schema, no journal file."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        _storage(f"sqlite:///{empty}", must_exist=True)
    assert empty.read_bytes() == b""
    with pytest.raises(InputError):
        _storage(f"journal:{tmp_path / 'j.log'}", must_exist=True)
    assert not (tmp_path / "j.log").exists()
    with pytest.raises(InputError):
        _storage(f"sqlite:///{tmp_path / 'none.db'}", must_exist=True)
    assert not (tmp_path / "none.db").exists()


def test_sqlite_query_string_is_not_read_as_part_of_the_file(tmp_path: Path) -> None:
    """Item 16: ``sqlite:///x.db?mode=ro`` names x.db."""
    from effobj.optuna._storage import sqlite_path

    assert sqlite_path(f"sqlite:///{tmp_path}/x.db?mode=ro") == f"{tmp_path}/x.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path(f"sqlite:///file:{tmp_path}/x.db?mode=ro&uri=true") == f"{tmp_path}/x.db"


def test_error_hierarchy_and_exit_codes() -> None:
    """One hierarchy: usage errors exit 2, failures at run time 1."""
    assert InputError.exit_code == 2 and FileFormatError.exit_code == 2
    assert ProfilingError.exit_code == 1 and StorageError.exit_code == 1
    assert EffobjError.exit_code == 1
    for cls in (InputError, FileFormatError, ProfilingError, StorageError, InputTypeError):
        assert issubclass(cls, EffobjError)
    assert issubclass(InputTypeError, TypeError) and InputTypeError.exit_code == 2


class _Branchy(torch.nn.Module):
    """Input-dependent control flow: 6144 or 2048 FLOPs by the sign of the input's sum."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(32, 32)
        self.b = torch.nn.Linear(32, 96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(x) if float(x.sum()) > 0 else self.a(x)


def test_input_dependent_flops_are_detected_and_not_cached() -> None:
    """Item 9: two counts that differ are reported (flops_range, a warning, the table) and
    the cache does not pin whichever ran first."""
    from effobj.profiler import ProfileCache, profile_model

    cache = ProfileCache()
    with pytest.warns(UserWarning, match="control flow depends"):
        report = profile_model(_Branchy(), torch.ones(1, 32), latency=False, cache=cache)
    assert report.flops_range == (2048, 6144)
    assert "FLOPs vary" in report.to_table()
    assert type(report).from_dict(report.to_dict()).flops_range == (2048, 6144)
    with pytest.warns(UserWarning):
        again = profile_model(_Branchy(), torch.ones(1, 32), latency=False, cache=cache)
    assert not again.from_cache
    steady = profile_model(torch.nn.Linear(3, 2), torch.ones(1, 3), latency=False, cache=False)
    assert steady.flops_range is None


# ----------------------------------------------------------------- issue 24 item 5
def test_huge_costs_score_0_without_a_runtime_warning() -> None:
    """A cost far over its budget whose normalized value overflows (1e308 / 1e-300), or a
    normalized cost near the largest float, scores 0 (bound 0, infeasible): no
    RuntimeWarning, no refusal of a 'c' the caller never passed."""
    import warnings

    tiny = EfficiencySpec(beta2=4.0, perf_ref=1.0, cost_ref=1e-300)
    plain = EfficiencySpec(beta2=1e300, perf_ref=1.0, cost_ref=1.0)
    two = EfficiencySpec(costs=[CostIndicator("a", ref=1e-300), CostIndicator("b", ref=1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tiny.score(0.5, 1e308) == 0.0 and tiny.upper_bound(1e308) == 0.0
        assert not tiny.is_feasible(0.5, 1e308)
        assert plain.score(0.5, 1.7e308) == 0.0 and plain.upper_bound(1.7e308) == 0.0
        np.testing.assert_array_equal(tiny.score(np.array([0.5, 0.0]), np.array([1e308, 1e308])),
                                      [0.0, 0.0])
        np.testing.assert_array_equal(plain.score(np.full(70_000, 0.5), np.full(70_000, 1.7e308)),
                                      np.zeros(70_000))  # the streamed path
        assert two.score(0.5, {"a": 1e308, "b": 0.5}) == 0.0
        f16 = np.array([60000], dtype=np.float16)
        assert EfficiencySpec(cost_ref=1e-3).score(np.array([0.5], dtype=np.float16), f16)[0] == 0.0
        assert EfficiencySpec(perf_ref=1e-300, cost_ref=1.0).score(1e308, 0.5) == pytest.approx(2 / 3)


def test_onnx_errors_are_re_raised_without_ansi_escapes(monkeypatch) -> None:
    """The exporter and onnxruntime colour their messages; effobj's ProfilingError does not
    carry the escapes (printed without their ESC they showed as '[1;31m' residue)."""
    from effobj.profiler import _runtime

    coloured = RuntimeError("\x1b[1;31mUnsupported\x1b[0m operator \x1b]0;title\x07aten::foo\n"
                            "## Exception summary\n\x1b[33mKeyError: aten::foo\x1b[0m")
    reason = _runtime._reason(coloured)
    assert "\x1b" not in reason and "[0m" not in reason and "[1;31m" not in reason
    assert reason == "RuntimeError: Unsupported operator aten::foo (KeyError: aten::foo)"
    wrapped = ValueError("export failed")
    wrapped.__cause__ = RuntimeError("\x1b[31mboom\x1b[0m")
    assert _runtime._reason(wrapped) == "ValueError: export failed (caused by RuntimeError: boom)"

    import onnxruntime  # noqa: F401  (the onnx extra `make` installs: fail, never skip)

    def export(*args, **kwargs):
        raise coloured

    monkeypatch.setattr(torch.onnx, "export", export)
    with pytest.raises(ProfilingError) as info:
        _runtime.prepare_runtime("onnxruntime", torch.nn.Linear(2, 2), (torch.zeros(1, 2),),
                                 threads=1, name="Linear")
    assert "\x1b" not in str(info.value) and "[0m" not in str(info.value)
    assert "Unsupported operator aten::foo" in str(info.value)


# ----------------------------------------------------------------- issue 24 item 3
def test_a_compensated_latency_off_by_its_reference_is_flagged_and_plain() -> None:
    """The issue's defect, made deterministic: a tiny MLP profiled on a scale whose reference
    time is 360x too short (as when the reference reads 108 ms against 0.30 ms calibrated)
    came out 360x too fast, with no warning but "did not converge". Now the reference
    check fails, the latency is a plain measurement, and the report says so."""
    from effobj.profiler import LatencyScale, profile_model
    from effobj.profiler._scale import process_scale, scale_key

    true_ms = process_scale("cpu", 1).reference_ms
    scale = LatencyScale(scale_key("cpu", 1), true_ms / 360, "2026-01-01T00:00:00+00:00", "h")
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    r = profile_model(mlp, torch.randn(1, 8), memory=False, cache=False, threads=1,
                      max_time_s=0.2, latency_scale=scale)
    assert r.latency_reference_disturbed is True
    assert r.latency_reference_ratio is not None and r.latency_reference_ratio > 3
    assert r.latency_compensated_ms is not None and r.latency_ms > 3 * r.latency_compensated_ms
    assert r.latency_ms == r.latency_raw_ms  # the plain measurement
    assert "PLAIN USED" in r.to_table()
