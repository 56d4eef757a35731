"""Re-ranking finished studies for any beta2 / budget, and the beta2 sensitivity table."""

from __future__ import annotations

import doctest
import time

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import FloatDistribution
from optuna_toys import Counter, size_objective, size_perf, size_spec

import effobj.rerank
from effobj import InputError, crossover_beta2
from effobj import record as K
from effobj.optuna import load_spec
from effobj.rerank import (
    _ranking,
    _sensitivity,
    best_trials,
    rerank,
    sensitivity,
    trial_table,
)

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(points, *, status=True):
    """An in-memory study whose trials recorded (perf, size) as effobj does."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (p, s) in enumerate(points):
        ua = {"perf": p, "size": s}
        if status:
            ua.update({K.STATUS: "trained", K.TRAINED: True})
        study.add_trial(
            optuna.trial.create_trial(
                values=[p, s],
                params={"x": float(i)},
                distributions={"x": FloatDistribution(0, 1e6)},
                user_attrs=ua,
            )
        )
    return study


points_st = st.lists(
    st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 12.0)), min_size=1, max_size=30
)


@given(points_st, st.floats(0.01, 100.0), st.one_of(st.none(), st.floats(0.5, 10.0)))
def test_ranking_matches_a_brute_force_scan(points, beta2, cost_max):
    spec = size_spec(beta2=beta2, cost_max=cost_max)
    ranked = best_trials(_study(points), spec, feasible_only=False)
    assert sorted(t.number for t in ranked) == list(range(len(points)))
    brute = []
    for i, (p, s) in enumerate(points):
        e = spec.score(p, {"size": s})
        feas = spec.is_feasible(p, {"size": s})
        a, _ = spec.normalize(p, {"size": s})
        brute.append((not feas, -e, -a, i))
    assert [t.number for t in ranked] == [b[3] for b in sorted(brute)]
    for t in ranked:
        p, s = points[t.number]
        assert t.e_beta == pytest.approx(spec.score(p, {"size": s}), abs=1e-12)
        assert t.rank == ranked.index(t) + 1


def test_rerank_effobj_study_for_another_beta2_and_budget():
    ev = Counter()
    obj = size_objective(size_spec(beta2=1.0), ev, skip_hopeless=False)
    study = obj.create_study(storage=":memory:")
    for s in range(1, 10):
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=9)
    spec = load_spec(study)
    assert spec == size_spec(beta2=1.0)
    for beta2 in (0.05, 1.0, 20.0):
        new = spec.replace(beta2=beta2)
        best = best_trials(study, new, top=1)[0]
        # ties (sizes 1 and 2 at beta2 = 1) go to the higher performance
        expected = max(
            range(1, 10), key=lambda s: (round(new.score(size_perf(s), {"size": s}), 12), size_perf(s))
        )
        assert best.params == {"size": expected}
        assert best.e_beta == pytest.approx(new.score(size_perf(expected), {"size": expected}))
    # a budget that excludes the winner
    tight = spec.replace(cost_max=2.0)
    assert [t.params["size"] for t in best_trials(study, tight)] == [2, 1]


def test_untrained_trials_are_not_ranked_but_listed_as_contenders():
    obj = size_objective(size_spec(cost_max=3.0), skip_hopeless=False)
    study = obj.create_study(storage=":memory:")
    for s in (2, 6):
        study.enqueue_trial({"size": s})
    study.optimize(obj, n_trials=2)
    # under the search's budget size 6 was not trained; it is never ranked
    spec = load_spec(study).replace(cost_max=8.0, beta2=100.0)
    ranking = rerank(study, spec)
    assert [t.params["size"] for t in ranking.top()] == [2]
    # ...but a larger budget makes it a candidate worth training
    (c,) = ranking.contenders()
    assert c.params == {"size": 6}
    assert c.upper_bound == pytest.approx(spec.upper_bound({"size": 6.0}))
    assert c.upper_bound > ranking.best.e_beta


def test_foreign_multi_objective_study_via_metric_names():
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["perf", "size"])
    for p, s in [(0.9, 8.0), (0.8, 2.0)]:
        study.add_trial(optuna.trial.create_trial(values=[p, s]))
    ranked = best_trials(study, size_spec(beta2=1.0))
    assert [t.number for t in ranked] == [1, 0]
    table = trial_table(study, ["size"])
    assert table.perf.tolist() == [0.9, 0.8] and table.costs["size"].tolist() == [8.0, 2.0]


def test_missing_cost_is_an_error_naming_the_trial():
    study = _study([(0.5, 1.0)])
    study.add_trial(optuna.trial.create_trial(values=[0.7, 1.0], user_attrs={"perf": 0.7}))
    with pytest.raises(InputError, match="Trial 1 has a performance but lacks"):
        rerank(study, size_spec())


def test_bad_arguments():
    with pytest.raises(TypeError, match="'spec' parameter of rerank"):
        rerank(_study([(0.5, 1.0)]), {"beta2": 1.0})
    with pytest.raises(TypeError, match="'study' parameter of best_trials must be an optuna.Study or an iterable"):
        best_trials(42, size_spec())
    with pytest.raises(TypeError, match="'spec' parameter of sensitivity must be an effobj.EfficiencySpec"):
        sensitivity(_study([(0.5, 1.0)]), {"beta2": 1.0})
    with pytest.raises(InputError, match="'top' parameter"):
        best_trials(_study([(0.5, 1.0)]), size_spec(), top=0)
    with pytest.raises(InputError, match="beta2_grid"):
        sensitivity(_study([(0.5, 1.0)]), size_spec(), beta2_grid=[1.0, 0.5])
    with pytest.raises(InputError, match="beta2_grid"):
        sensitivity(_study([(0.5, 1.0)]), size_spec(), beta2_grid=[0.0, 1.0])


@settings(max_examples=30)
@given(st.lists(st.tuples(st.floats(0.05, 1.0), st.floats(0.0, 9.5)), min_size=1, max_size=15))
def test_sensitivity_change_points_are_exact(points):
    spec = size_spec()
    grid = np.logspace(-2, 2, 9)
    s = sensitivity(_study(points), spec, beta2_grid=grid)
    # the grid rows are the winners a brute-force scan finds
    for row in s.rows:
        ranked = best_trials(_study(points), spec.replace(beta2=row.beta2), top=1)
        assert row.number == ranked[0].number
        assert row.e_beta == pytest.approx(ranked[0].e_beta)
    # each change point is the closed-form crossover of the two trials, and the
    # winner is constant between consecutive change points
    bounds = [grid[0]] + [c.beta2 for c in s.changes] + [grid[-1]]
    for c in s.changes:
        (pa, sa), (pb, sb) = points[c.before], points[c.after]
        b = crossover_beta2(pa, sa / 10, pb, sb / 10)
        assert b == pytest.approx(c.beta2, rel=1e-9)
    winners = [s.rows[0].number] + [c.after for c in s.changes]
    for lo, hi, w in zip(bounds[:-1], bounds[1:], winners, strict=True):
        for b in np.geomspace(lo, hi, 5)[1:-1]:
            top = best_trials(_study(points), spec.replace(beta2=float(b)), top=1)[0]
            pw, sw = points[w]
            assert top.e_beta == pytest.approx(spec.replace(beta2=float(b)).score(pw, sw))


def test_sensitivity_markdown_and_empty_study():
    s = sensitivity(_study([(0.5, 2.0), (0.9, 6.0)]), size_spec(), beta2_grid=[0.1, 10.0])
    md = s.to_markdown()
    assert "| 0.1 | 0 |" in md and "trial 0 -> trial 1" in md
    empty = sensitivity(_study([(0.5, 20.0)]), size_spec(cost_max=5.0), beta2_grid=[1.0])
    assert empty.rows[0].number is None and empty.changes == []


def test_rerank_10k_trials_is_fast():
    """The benchmark measures it precisely; this is a loose guard (shared, loaded CI)."""
    rng = np.random.default_rng(0)
    perf = rng.uniform(0.5, 1.0, 10_000)
    size = rng.uniform(0.0, 10.0, 10_000)
    trials = [
        optuna.trial.create_trial(value=0.0, user_attrs={"perf": p, "size": s, K.TRAINED: True,
                                                         K.STATUS: "trained"})
        for p, s in zip(perf.tolist(), size.tolist(), strict=True)
    ]
    t0 = time.perf_counter()
    top = best_trials(trials, size_spec(beta2=2.0), top=5)
    elapsed = time.perf_counter() - t0
    assert len(top) == 5 and top[0].e_beta >= top[1].e_beta
    assert elapsed < 3.0


def test_rdb_fast_path_reads_what_the_trials_say(tmp_path):
    """On SQLite, the one-query table equals the table built from the frozen trials."""
    from optuna_toys import size_objective

    from effobj.optuna import optimize

    ev = Counter(epochs=2)
    # repeats on: several trainings of one size, so the tables have many rows
    obj = size_objective(size_spec(cost_max=6.0), ev, repeats=True)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    study = obj.create_study(storage=url, study_name="f", sampler="random", seed=0,
                             pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    optimize(study, obj, 25)
    study.enqueue_trial({"size": 3})  # and a failed trial
    failing = size_objective(size_spec(cost_max=6.0), lambda s, t: float("nan"),
                             skip_hopeless=False)
    study.optimize(failing, n_trials=1)
    statuses = {t.user_attrs.get(K.STATUS) for t in study.trials}
    assert {"trained", "over_budget", "hopeless", "pruned", "failed"} <= statuses
    fast = trial_table(study, ["size"])
    slow = trial_table(study.get_trials(), ["size"])
    assert type(fast.trials).__name__ == "LazyTrials"
    np.testing.assert_array_equal(fast.numbers, slow.numbers)
    np.testing.assert_array_equal(fast.perf, slow.perf)
    np.testing.assert_array_equal(fast.costs["size"], slow.costs["size"])
    spec = load_spec(study).replace(beta2=3.0, cost_max=8.0)
    a = [t.to_dict() for t in best_trials(study, spec)]
    b = [t.to_dict() for t in best_trials(study.get_trials(), spec)]
    assert a == b and len(a) > 3
    assert rerank(study, spec).contenders() == rerank(study.get_trials(), spec).contenders()


def test_repeats_are_neither_ranked_twice_nor_contenders(tmp_path):
    """A repeat of a trained candidate is its source's row only, on both read paths."""
    from optuna_toys import size_objective

    from effobj.optuna import optimize

    obj = size_objective(size_spec(cost_max=6.0), skip_hopeless=False)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = obj.create_study(storage=url, study_name="r", sampler="random", seed=0)
    optimize(study, obj, 30)
    repeats = [t for t in study.trials if t.user_attrs.get(K.STATUS) == "repeat"]
    assert repeats  # 30 draws of 9 sizes
    spec = load_spec(study).replace(beta2=3.0)
    for source in (study, study.get_trials()):
        ranking = rerank(source, spec)
        ranked = [r.number for r in best_trials(source, spec)]
        assert not {t.number for t in repeats} & set(ranked)
        assert not {t.number for t in repeats} & {c.number for c in ranking.contenders()}
        sizes = [study.trials[n].params["size"] for n in ranked]
        assert len(sizes) == len(set(sizes))


@pytest.mark.parametrize("module", [effobj.rerank, _ranking, _sensitivity])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_effobj_optuna_names_what_moved_here():
    import effobj.optuna

    assert "best_trials" not in effobj.optuna.__all__ and "rerank" not in effobj.optuna.__all__
    with pytest.raises(AttributeError, match=r"effobj.optuna.best_trials moved to effobj.rerank"):
        effobj.optuna.best_trials  # noqa: B018
    with pytest.raises(AttributeError, match=r"moved to effobj.record"):
        effobj.optuna.Status  # noqa: B018
    with pytest.raises(AttributeError, match=r"has no attribute 'nothing'"):
        effobj.optuna.nothing  # noqa: B018
