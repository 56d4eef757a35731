"""Issue 22, item 1 (first part): trained weights kept as Optuna artifacts, only those that
can still win (top k per beta^2 of a grid), on a real SQLite study and a real file store."""

from __future__ import annotations

import io
import os

import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna_toys import size_perf, size_spec

from effobj import InputError
from effobj.optuna import EfficiencyObjective
from effobj.optuna._weights import WEIGHTS_ATTR, WeightsKeeper, default_artifact_store, weights_of
from effobj.record import Status

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _build(trial):
    size = trial.suggest_int("size", 1, 9)
    model = torch.nn.Linear(2, 1)
    model.size = size
    return model


def _evaluate(model, trial):
    with torch.no_grad():  # "training": weights that say which candidate they are
        model.weight.fill_(float(model.size))
    return size_perf(model.size)


def _run(tmp_path, sizes, keeper):
    obj = EfficiencyObjective(size_spec(), _build, _evaluate,
                              measure=lambda m: {"size": float(m.size)},
                              skip_hopeless=False, weights=keeper)
    study = obj.create_study(storage=f"sqlite:///{tmp_path / 'w.db'}", study_name="w",
                             sampler="random", seed=0)
    for s in sizes:
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=len(sizes))
    return obj, study


def test_weights_of_the_winners_are_kept_and_the_rest_removed(tmp_path):
    store = default_artifact_store(f"sqlite:///{tmp_path / 'w.db'}")
    keeper = WeightsKeeper(store, top_k=1, beta2_factors=(1.0, 16.0))
    obj, study = _run(tmp_path, [7, 5, 3, 2, 1], keeper)
    trials = {t.params["size"]: t for t in study.trials}
    assert all(t.user_attrs[K_STATUS] == Status.TRAINED for t in study.trials)
    # saved when they could win at that moment (size 7 first: always saved once)
    assert isinstance(trials[7].user_attrs[WEIGHTS_ATTR], str)
    spec = size_spec()
    best1 = max(study.trials, key=lambda t: spec.score(t.user_attrs["perf"], {"size": t.params["size"]}))
    s16 = spec.replace(beta2=16.0)
    best16 = max(study.trials, key=lambda t: s16.score(t.user_attrs["perf"], {"size": t.params["size"]}))
    kept = {best1.number, best16.number}
    assert keeper.keep(spec, study.trials) == kept
    files = os.listdir(tmp_path / "w.db.artifacts")
    assert len(files) == len(kept)  # disk bounded: the rest removed from the store
    for t in study.trials:
        if t.number in kept:
            state = torch.load(io.BytesIO(weights_of(t, store)), weights_only=True)
            assert torch.all(state["weight"] == float(t.params["size"]))
        elif WEIGHTS_ATTR in t.user_attrs:  # saved, then outranked: removed
            with pytest.raises(InputError, match="no longer in the artifact store"):
                weights_of(t, store)
        else:  # never among the top k: never saved
            with pytest.raises(InputError, match="no saved weights"):
                weights_of(t, store)
    assert trials[7].number not in kept


def test_keeper_and_store_refusals(tmp_path):
    with pytest.raises(InputError, match="storage_url"):
        default_artifact_store("sqlite:///:memory:")
    with pytest.raises(InputError, match="'store' parameter of WeightsKeeper"):
        WeightsKeeper(object())
    with pytest.raises(InputError, match="top_k"):
        WeightsKeeper(optuna.artifacts.FileSystemArtifactStore(str(tmp_path)), top_k=0)


def test_a_failing_store_keeps_the_training_and_says_why(tmp_path):
    class Broken(optuna.artifacts.FileSystemArtifactStore):
        def write(self, artifact_id, content_body):
            raise OSError("disk full")

    keeper = WeightsKeeper(Broken(str(tmp_path)))
    _, study = _run(tmp_path, [3], keeper)
    (t,) = study.trials
    assert t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["trained"] is True
    assert "disk full" in t.user_attrs["effobj_weights_error"]
    with pytest.raises(InputError, match="no saved weights"):
        weights_of(t, keeper.store)


K_STATUS = "status"


class _T:
    """A finished trial as keep() reads it."""

    def __init__(self, number, perf, size):
        self.number, self.state = number, "COMPLETE"
        self.user_attrs = {"status": "trained", "perf": perf, "size": size, WEIGHTS_ATTR: "x"}


@settings(max_examples=20, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.5, 9.5)), min_size=1, max_size=12),
       top_k=st.integers(1, 3))
def test_keep_is_bounded_holds_every_winner_and_never_takes_one_back(rows, top_k, tmp_path_factory):
    keeper = WeightsKeeper(optuna.artifacts.FileSystemArtifactStore(
        str(tmp_path_factory.mktemp("a"))), top_k=top_k)
    spec = size_spec(cost_max=8.0)
    trials = [_T(i, p, c) for i, (p, c) in enumerate(rows)]
    dropped: set[int] = set()
    for n in range(1, len(trials) + 1):  # trials arrive one by one
        kept = keeper.keep(spec, trials[:n])
        assert len(kept) <= top_k * len(keeper.beta2_factors)
        assert not (kept & dropped)  # a trial left out never comes back
        dropped |= {t.number for t in trials[:n]} - kept
    for f in keeper.beta2_factors:  # each grid point's winner (E_beta > 0) is kept
        s = spec.replace(beta2=spec.beta2 * f)
        scores = [(s.score(t.user_attrs["perf"], {"size": t.user_attrs["size"]}), -t.number)
                  for t in trials]
        e, neg = max(scores)
        if e > 0:
            assert -neg in kept
