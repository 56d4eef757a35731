"""Issue 22, item 3: a hopeless candidate is recorded PRUNED without a value (nothing was
measured), samplers made by effobj still read it at its bound, the readers count it as
before, a study written before (COMPLETE at the bound) reads the same, and a search
whose candidates are all hopeless stops and says so."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState
from optuna_toys import Counter, size_objective, size_spec

from effobj import record as K
from effobj.optuna import make_sampler, optimize, training_summary
from effobj.optuna._hopeless import HopelessAware, _View, as_sampler_sees
from effobj.record import Status, TrialRecord
from effobj.rerank import rerank

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(form: str, sizes, tmp_path, name="s"):
    obj = size_objective(size_spec(), Counter(), hopeless=form)
    study = obj.create_study(storage=f"sqlite:///{tmp_path / (form + '.db')}", study_name=name,
                             sampler="random", seed=0)
    for s in sizes:
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=len(sizes))
    return study


SIZES = [3, 8, 9, 2, 7, 1]  # 8, 9, 7: hopeless once 3 is trained


def test_old_and_new_forms_read_the_same(tmp_path):
    """A study written before the change (COMPLETE at the bound) and one written now
    (PRUNED, no value): the same summary counts, the same ranking, the same contenders."""
    old = _study("complete", SIZES, tmp_path)
    new = _study("prune", SIZES, tmp_path)
    hopeless = [t for t in new.trials if t.user_attrs[K.STATUS] == Status.HOPELESS]
    assert len(hopeless) == 3
    assert all(t.state == TrialState.PRUNED and t.values is None for t in hopeless)
    assert all(t.state == TrialState.COMPLETE for t in old.trials
               if t.user_attrs[K.STATUS] == Status.HOPELESS)
    a, b = training_summary(old), training_summary(new)
    for field in ("n_trained", "n_hopeless", "n_over_budget", "trainings_avoided",
                  "n_pruned_training", "best_e_beta", "best_number", "n_failed"):
        assert getattr(a, field) == getattr(b, field), field
    assert (a.n_complete, a.n_pruned) == (6, 0) and (b.n_complete, b.n_pruned) == (3, 3)
    spec = size_spec(beta2=4.0)  # re-ranked for another beta2: the same winner and rows
    ra, rb = rerank(old, spec), rerank(new, spec)
    assert ra.n_ranked == rb.n_ranked == 3
    assert [t.number for t in ra.top(5)] == [t.number for t in rb.top(5)]
    assert [c.number for c in ra.contenders()] == [c.number for c in rb.contenders()]
    # never a stopped training: no stop evidence, not trained
    for t in hopeless:
        rec = TrialRecord.from_trial(t)
        assert rec.trained is False and rec.stop_prediction is None and rec.stop_rung is None


def test_hopeless_is_not_taken_for_a_stopped_training_by_the_sampler_state(tmp_path):
    from effobj.optuna._sampler import _StudyState

    new = _study("prune", SIZES, tmp_path)
    obj = size_objective(size_spec())
    sampler = make_sampler("effobj", seed=0, objective=obj)
    state = _StudyState.read(new, sampler, new.trials[0].distributions)
    # trained: 3, 2, 1; the hopeless ones are settled (not proposed again), not evidence
    assert sorted(state.trained_perf) == sorted(
        t.user_attrs[K.PERF] for t in new.trials if t.user_attrs[K.TRAINED])
    assert {t.user_attrs[K.IDENTITY] for t in new.trials} <= state.excluded


def test_the_view_shows_samplers_hopeless_trials_at_their_bound(tmp_path):
    new = _study("prune", SIZES, tmp_path)
    view = _View(new)
    complete = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in complete] == list(range(6))
    for t in complete:
        if t.user_attrs[K.STATUS] == Status.HOPELESS:
            assert t.value == pytest.approx(t.user_attrs[K.UPPER_BOUND])
    assert view.get_trials(states=(TrialState.PRUNED,)) == []
    assert len(view.trials) == 6
    # the storage keeps the honest record
    assert sum(t.state == TrialState.PRUNED for t in new.trials) == 3
    assert all(t.value is None for t in new.trials if t.state == TrialState.PRUNED)


@settings(max_examples=30, deadline=None)
@given(bound=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(), st.text(max_size=3)),
       status=st.sampled_from(["hopeless", "pruned", "trained", None]),
       state=st.sampled_from([TrialState.PRUNED, TrialState.COMPLETE]))
def test_only_a_hopeless_pruned_trial_with_a_finite_bound_is_shown_complete(bound, status, state):
    ua = {} if status is None else {K.STATUS: status}
    if bound is not None:
        ua[K.UPPER_BOUND] = bound
    t = optuna.trial.create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                  user_attrs=ua)
    seen = as_sampler_sees(t)
    finite = isinstance(bound, float) and abs(bound) != float("inf") and bound == bound
    if state == TrialState.PRUNED and status == "hopeless" and finite:
        assert seen is not t and seen.state == TrialState.COMPLETE and seen.value == bound
        assert t.state == TrialState.PRUNED and t.value is None  # the original untouched
    else:
        assert seen is t


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_make_sampler_learns_as_before(name, tmp_path):
    """The wrapped sampler proposes exactly what the plain one proposed when hopeless trials
    were COMPLETE at their bound (the same seed, the same trials)."""
    def run(form: str, sampler) -> list[int]:
        obj = size_objective(size_spec(), Counter(), hopeless=form)
        study = obj.create_study(storage=":memory:", sampler=sampler)
        study.optimize(obj, n_trials=25)
        return [t.params["size"] for t in study.trials]

    plain = optuna.samplers.TPESampler(seed=3, multivariate=True) if name == "tpe" \
        else optuna.samplers.NSGAIISampler(seed=3)
    before = run("complete", plain)
    wrapped = make_sampler(name, seed=3)
    assert isinstance(wrapped, HopelessAware)
    assert run("prune", wrapped) == before


def test_make_sampler_wraps_the_optuna_samplers_in_both_modes():
    assert type(make_sampler("nsga2", seed=0, mode="multi").sampler).__name__ == "NSGAIISampler"
    assert type(make_sampler("tpe", seed=0).sampler).__name__ == "TPESampler"
    assert type(make_sampler("random", seed=0)).__name__ == "RandomSampler"


# ------------------------------------------------------------------ over budget
OVER = [3, 8, 2, 9, 5, 7, 1]  # 8, 9, 7 over the budget of 6.5


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_an_over_budget_candidate_is_pruned_without_a_value(mode, tmp_path):
    """Issue 22, item 3: an over-budget candidate has no measured performance; by default
    it ends PRUNED without values (in the multi mode it was COMPLETE at perf 0, never
    measured), its record and its violated constraint kept, never trained."""
    ev = Counter()
    obj = size_objective(size_spec(cost_max=6.5), ev, mode=mode, skip_hopeless=False)
    assert obj.over_budget == "prune"
    study = obj.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", sampler="random", seed=0)
    for s in OVER:
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=len(OVER))
    assert sorted(ev.calls) == [1, 2, 3, 5]
    for t in study.trials:
        rec = TrialRecord.from_trial(t)
        if t.params["size"] > 6.5:
            assert t.state == TrialState.PRUNED and t.values is None
            assert rec.status == Status.OVER_BUDGET and rec.perf is None and rec.e_beta == 0.0
            assert rec.trained is False and t.user_attrs["size"] == float(t.params["size"])
            assert max(t.constraints.values()) > 0  # infeasible
        else:
            assert t.state == TrialState.COMPLETE and rec.status == Status.TRAINED
    summary = training_summary(study)
    assert (summary.n_over_budget, summary.n_trained, summary.trainings_avoided) == (3, 4, 3)


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_the_view_shows_samplers_an_over_budget_trial_as_stored_before(mode, tmp_path):
    def run(form: str) -> optuna.Study:
        obj = size_objective(size_spec(cost_max=6.5), Counter(), mode=mode,
                             over_budget=form, skip_hopeless=False)
        study = obj.create_study(storage=":memory:", sampler="random", seed=0)
        for s in OVER:
            study.enqueue_trial({"size": s})
        study.optimize(obj, n_trials=len(OVER))
        return study

    old, new = run("complete"), run("prune")
    seen = _View(new)._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    stored = old.get_trials(states=(TrialState.COMPLETE,))
    assert [t.number for t in seen] == [t.number for t in stored] == list(range(len(OVER)))
    for a, b in zip(seen, stored, strict=True):
        assert a.values == pytest.approx(b.values) and a.constraints == pytest.approx(b.constraints)
    assert sum(t.state == TrialState.PRUNED for t in new.trials) == 3  # the storage: honest


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(("name", "mode"), [("tpe", "multi"), ("nsga2", "multi"), ("tpe", "single"),
                                            ("gp", "single")])
def test_make_sampler_learns_from_over_budget_trials_as_before(name, mode):
    """The wrapped sampler proposes exactly what the plain one proposed when over-budget
    trials were COMPLETE (E_beta 0; perf 0 and costs), the same seed, the same trials: it
    learns the boundary as well as before. A plain GP sampler on the PRUNED form proposes
    otherwise (it ignores PRUNED trials), which the last assertion checks, so the test
    fails if the view stopped showing them. (Plain TPE ranks a PRUNED trial with the
    infeasible ones, and NSGA-II never picks an infeasible parent: here both propose the
    same either way.)"""
    def run(form: str, sampler) -> list[int]:
        obj = size_objective(size_spec(cost_max=4.5), Counter(), mode=mode, over_budget=form,
                             skip_hopeless=False)
        study = obj.create_study(storage=":memory:", sampler=sampler)
        study.optimize(obj, n_trials=20)
        return [t.params["size"] for t in study.trials]

    def plain():
        return {"tpe": lambda: optuna.samplers.TPESampler(seed=5, multivariate=True),
                "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=5, population_size=4),
                "gp": lambda: optuna.samplers.GPSampler(seed=5)}[name]()

    before = run("complete", plain())
    wrapped = make_sampler(name, seed=5, mode=mode)
    wrapped.sampler = plain()  # the same sampler settings, wrapped
    assert run("prune", wrapped) == before
    if name == "gp":
        assert run("prune", plain()) != before


def test_a_search_whose_candidates_are_all_hopeless_stops_and_says_so(tmp_path):
    ev = Counter()
    obj = size_objective(size_spec(), ev)
    study = obj.create_study(storage=f"sqlite:///{tmp_path / 'h.db'}", sampler="random", seed=0)
    study.enqueue_trial({"size": 2})
    for s in [9, 8, 7, 6, 5, 9, 8, 7]:
        study.enqueue_trial({"size": s})
    summary = optimize(study, obj, 30, max_hopeless=4)
    assert ev.calls == [2]
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 5  # 2 trained, then 4 hopeless: stopped, 4 left waiting
    assert summary.stopped_after_hopeless == 4
    assert "4 candidates since the last training were hopeless" in str(summary)
    assert summary.to_dict()["stopped_after_hopeless"] == 4


def test_the_view_leaves_an_over_budget_trial_of_unnamed_objectives_as_it_is():
    """A multi-objective study whose values have no names (not made by effobj): nothing
    says which value is the performance, so an over-budget trial stays PRUNED in the view
    (it was once shown COMPLETE with one value, E_beta's, in a two-objective study)."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.PRUNED, user_attrs={K.STATUS: Status.OVER_BUDGET, K.E_BETA: 0.0,
                                             "size": 8.0}))
    view = _View(study)
    assert view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) == []
    assert [t.state for t in view.trials] == [TrialState.PRUNED]
    study.set_metric_names(["perf", "size"])  # named: shown as effobj stored it before
    (seen,) = _View(study)._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert seen.values == [0.0, 8.0]
