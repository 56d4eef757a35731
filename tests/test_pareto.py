"""Tests of the Pareto tools in effobj.pareto, against an O(n^2) brute-force reference."""

from __future__ import annotations

import doctest
import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import effobj.pareto as pareto
from effobj.errors import InputError
from effobj.pareto import non_dominated_sort, pareto_front, stochastic_pareto

# --------------------------------------------------------------------------- reference


def brute_dominates(y: np.ndarray) -> np.ndarray:
    """``D[i, j]``: maximized row i dominates row j, straight from the definition (O(n^2 d))."""
    ge = (y[:, None, :] >= y[None, :, :]).all(axis=-1)
    gt = (y[:, None, :] > y[None, :, :]).any(axis=-1)
    return ge & gt


def to_max(x: np.ndarray, senses: list[str] | None) -> np.ndarray:
    if senses is None:
        return x
    return x * np.array([1.0 if s == "max" else -1.0 for s in senses])


def brute_front(x: np.ndarray, senses: list[str] | None = None) -> np.ndarray:
    return ~brute_dominates(to_max(x, senses)).any(axis=0)


def brute_ranks(x: np.ndarray, senses: list[str] | None = None) -> np.ndarray:
    """Peel fronts with the brute-force front."""
    dom = brute_dominates(to_max(x, senses))
    rank = np.full(len(x), -1)
    left = np.ones(len(x), dtype=bool)
    k = 0
    while left.any():
        first = left & ~(dom & left[:, None]).any(axis=0)
        rank[first] = k
        left &= ~first
        k += 1
    return rank


# --------------------------------------------------------------------------- strategies

# few distinct values make ties and duplicates common; floats test general position
_values = st.one_of(
    st.integers(0, 4).map(float),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)


@st.composite
def point_sets(draw, max_n: int = 30, min_d: int = 1, max_d: int = 4):
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(0, max_n))
    small = draw(st.booleans())
    elements = st.integers(0, 3).map(float) if small else _values
    x = draw(hnp.arrays(np.float64, (n, d), elements=elements))
    senses = draw(st.none() | st.lists(st.sampled_from(["max", "min"]), min_size=d, max_size=d))
    return x, senses


# --------------------------------------------------------------------------- pareto_front


@given(point_sets())
def test_front_matches_brute_force(case):
    x, senses = case
    np.testing.assert_array_equal(pareto_front(x, senses=senses), brute_front(x, senses))


@given(point_sets())
def test_front_properties(case):
    x, senses = case
    mask = pareto_front(x, senses=senses)
    dom = brute_dominates(to_max(x, senses))
    assert mask.dtype == np.bool_ and mask.shape == (len(x),)
    if len(x):
        assert mask.any()  # a finite non-empty set has a non-dominated point
    # every dominated point has a dominator on the front
    for j in np.flatnonzero(~mask):
        assert (dom[:, j] & mask).any()
    # no front point dominates another
    assert not dom[np.ix_(mask, mask)].any()


@given(point_sets(), st.randoms(use_true_random=False))
def test_front_invariant_under_row_permutation(case, rnd):
    x, senses = case
    perm = np.array(rnd.sample(range(len(x)), len(x)), dtype=np.int64)
    np.testing.assert_array_equal(
        pareto_front(x[perm], senses=senses), pareto_front(x, senses=senses)[perm]
    )


@given(point_sets(min_d=2, max_d=2, max_n=60))
def test_two_dim_sort_and_block_elimination_agree(case):
    x, _ = case
    if len(x):
        np.testing.assert_array_equal(pareto._front_2d(x), brute_front(x))
        np.testing.assert_array_equal(pareto._front_nd(x), brute_front(x))


def test_duplicates_are_all_kept():
    x = [[1.0, 1.0], [1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [2.0, 0.0]]
    assert pareto_front(x).tolist() == [True, True, False, False, True]
    y = np.array([[1, 2, 3], [1, 2, 3], [0, 2, 3], [3, 0, 0]], dtype=float)
    assert pareto_front(y).tolist() == [True, True, False, True]


def test_senses_min_is_negation_and_string_shorthand():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=(200, 3)).astype(float)
    flipped = x * np.array([1, -1, -1])
    np.testing.assert_array_equal(
        pareto_front(x, senses=["max", "min", "min"]), pareto_front(flipped)
    )
    np.testing.assert_array_equal(pareto_front(x, senses="min"), pareto_front(-x))
    np.testing.assert_array_equal(pareto_front(x, senses=("max",) * 3), pareto_front(x))


def test_one_column_and_empty_inputs():
    assert pareto_front([[1.0], [3.0], [3.0], [2.0]]).tolist() == [False, True, True, False]
    assert pareto_front([[1.0], [3.0]], senses=["min"]).tolist() == [True, False]
    assert pareto_front(np.zeros((0, 3))).shape == (0,)
    assert non_dominated_sort(np.zeros((0, 2))).shape == (0,)
    assert non_dominated_sort([[1.0], [3.0], [3.0], [2.0]]).tolist() == [2, 0, 0, 1]


def test_torch_and_integer_points_accepted():
    x = torch.tensor([[1, 2], [2, 1], [0, 0]])
    assert pareto_front(x).tolist() == [True, True, False]
    assert non_dominated_sort(x.double().requires_grad_()).tolist() == [0, 0, 1]


@pytest.mark.parametrize("d", [2, 4])
def test_front_of_ten_thousand_points_is_fast_and_correct(d):
    rng = np.random.default_rng(d)
    x = rng.random((10_000, d))
    t0 = time.perf_counter()
    mask = pareto_front(x)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0  # ~3 ms (d=2) and ~10 ms (d=4) unloaded; generous for shared CI
    # the front against the whole set, by blocks (exact, O(n * |front|))
    front = x[mask]
    dominated = np.zeros(len(x), dtype=bool)
    for p in front:
        dominated |= np.all(p >= x, axis=1) & np.any(p > x, axis=1)
    np.testing.assert_array_equal(mask, ~dominated)


def test_front_when_every_point_is_on_it():
    # anti-correlated points: the worst case of the elimination, all n on the front
    rng = np.random.default_rng(0)
    a = rng.random(3000)
    assert pareto_front(np.c_[a, 1 - a]).all()
    y = rng.random((3000, 3))
    y /= y.sum(axis=1, keepdims=True)  # points on a simplex: none dominates another
    assert pareto_front(y).all()


# --------------------------------------------------------------------------- ranks


@given(point_sets())
def test_ranks_match_brute_force_peeling(case):
    x, senses = case
    rank = non_dominated_sort(x, senses=senses)
    assert rank.dtype == np.int64
    np.testing.assert_array_equal(rank, brute_ranks(x, senses))
    np.testing.assert_array_equal(rank == 0, pareto_front(x, senses=senses))


@given(point_sets(min_d=2, max_d=2, max_n=60))
def test_two_dim_ranks_and_deb_agree(case):
    x, _ = case
    if len(x):
        np.testing.assert_array_equal(pareto._ranks_2d(x), pareto._ranks_deb(x))


@given(point_sets())
def test_rank_structure(case):
    """Rank k > 0 has a dominator of rank k-1; nothing of rank >= k dominates rank k."""
    x, senses = case
    rank = non_dominated_sort(x, senses=senses)
    dom = brute_dominates(to_max(x, senses))
    for j in range(len(x)):
        dominators = rank[dom[:, j]]
        assert (dominators < rank[j]).all()
        if rank[j] > 0:
            assert (dominators == rank[j] - 1).any()
    if len(x):
        assert set(rank.tolist()) == set(range(rank.max() + 1))  # no empty front


def test_ranks_on_many_points_peel_like_the_front():
    rng = np.random.default_rng(7)
    for d in (2, 3):
        x = rng.integers(0, 30, size=(2000, d)).astype(float)
        rank = non_dominated_sort(x)
        left = np.ones(len(x), dtype=bool)
        for k in range(rank.max() + 1):
            idx = np.flatnonzero(left)
            first = idx[pareto_front(x[idx])]
            np.testing.assert_array_equal(np.flatnonzero(rank == k), first)
            left[first] = False
        assert not left.any()


# --------------------------------------------------------------------------- stochastic


@settings(max_examples=40)
@given(point_sets(max_n=20), st.integers(1, 5), st.sampled_from(["normal", "uniform"]))
def test_zero_spread_reduces_to_the_deterministic_front(case, n_samples, distribution):
    x, senses = case
    p = stochastic_pareto(
        x, 0.0, senses=senses, n_samples=n_samples, seed=0, distribution=distribution
    )
    np.testing.assert_array_equal(p, pareto_front(x, senses=senses).astype(float))


def test_deterministic_under_a_seed():
    rng = np.random.default_rng(3)
    means, stds = rng.random((12, 3)), 0.1 * rng.random((12, 3))
    a = stochastic_pareto(means, stds, seed=42, n_samples=500)
    b = stochastic_pareto(means, stds, seed=42, n_samples=500)
    c = stochastic_pareto(means, stds, seed=np.random.default_rng(42), n_samples=500)
    d = stochastic_pareto(means, stds, seed=43, n_samples=500)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)
    assert a.dtype == np.float64 and ((a >= 0) & (a <= 1)).all()
    assert ((a * 500) == np.round(a * 500)).all()  # counts over 500 draws


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_two_models_one_objective_analytic_probability(distribution):
    # 1 objective, X1 ~ mu1 + s Z1, X2 ~ mu2 + s Z2: model 1 is non-dominated iff X1 >= X2
    s, delta, n = 1.0, 0.5, 20_000
    p = stochastic_pareto([[0.0], [delta]], s, n_samples=n, seed=1, distribution=distribution)
    if distribution == "normal":
        expected = 0.5 * math.erfc(delta / (s * math.sqrt(2)) / math.sqrt(2))  # Phi(-d/(s√2))
    else:  # difference of two U(-√3, √3): triangular on [-2√3, 2√3]
        h = 2 * math.sqrt(3)
        expected = (h - delta) ** 2 / (2 * h * h)
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(p[0] - expected) < 5 * se
    assert abs(p[1] - (1 - expected)) < 5 * se
    assert p.sum() == pytest.approx(1.0)  # ties have probability zero


def test_uniform_noise_has_bounded_support():
    # means 10 std apart: uniform noise (half-width √3 std) can never swap them
    means = [[0.0, 0.0], [10.0, 10.0]]
    assert stochastic_pareto(means, 1.0, distribution="uniform", seed=0).tolist() == [0.0, 1.0]
    assert stochastic_pareto(means, 1.0, distribution="normal", seed=0)[1] == 1.0


def test_noise_helps_a_close_runner_up_not_a_distant_one():
    means = [[0.90, 10.0], [0.89, 10.5], [0.50, 50.0]]
    p = stochastic_pareto(means, [0.01, 1.0], senses=["max", "min"], seed=0, n_samples=4000)
    assert p[0] > 0.8 and 0.2 < p[1] < 0.8 and p[2] == 0.0


@settings(max_examples=30)
@given(point_sets(max_n=12, min_d=1, max_d=3), st.integers(0, 2**31))
def test_pairwise_and_per_sample_paths_agree(case, seed):
    x, _ = case
    if not len(x):
        return
    rng = np.random.default_rng(seed)
    samples = x + rng.normal(size=(25, *x.shape)) * rng.integers(0, 2, size=x.shape)
    np.testing.assert_array_equal(
        pareto._nondominated_hits_pairwise(samples), pareto._nondominated_hits_loop(samples)
    )


def test_large_model_set_uses_per_sample_fronts():
    rng = np.random.default_rng(5)
    means = rng.random((400, 2))  # 400 * 400 * 2 > the pairwise limit
    assert 400 * 400 * 2 > pareto._PAIRWISE_LIMIT
    p = stochastic_pareto(means, 0.0, n_samples=3, seed=0)
    np.testing.assert_array_equal(p, pareto_front(means).astype(float))
    q = stochastic_pareto(means, 0.01, n_samples=200, seed=0)
    assert q[pareto_front(means)].mean() > q[~pareto_front(means)].mean()


def test_stds_broadcast_per_objective_and_per_model():
    means = np.array([[1.0, 1.0], [0.0, 0.0]])
    # only model 1 is noisy, and only in its first objective: it can never dominate model 0
    # in the second objective, so model 0 always stays on the front
    p = stochastic_pareto(means, [[0.0, 0.0], [5.0, 0.0]], seed=0, n_samples=300)
    assert p[0] == 1.0 and 0.0 < p[1] < 1.0
    per_model = stochastic_pareto(means, [[0.0], [5.0]], seed=0, n_samples=300)
    assert per_model[0] < 1.0


# --------------------------------------------------------------------------- bad parameters

NAN = float("nan")
GOOD = [[1.0, 2.0], [2.0, 1.0]]

BAD = [
    (lambda: pareto_front([[1.0, NAN]]), InputError, "'points'"),
    (lambda: pareto_front([[1.0, math.inf]]), InputError, "'points'"),
    (lambda: pareto_front([1.0, 2.0]), InputError, "'points'"),
    (lambda: pareto_front(np.zeros((3, 0))), InputError, "'points'"),
    (lambda: pareto_front([["a", "b"]]), TypeError, "'points'"),
    (lambda: pareto_front(GOOD, senses=["max", "up"]), InputError, "'senses'"),
    (lambda: pareto_front(GOOD, senses=["max"]), InputError, "'senses'"),
    (lambda: pareto_front(GOOD, senses="maximize"), InputError, "'senses'"),
    (lambda: pareto_front(GOOD, senses=1), TypeError, "'senses'"),
    (lambda: non_dominated_sort([[NAN, 1.0]]), InputError, "'points'"),
    (lambda: non_dominated_sort(GOOD, senses=["min", None]), InputError, "'senses'"),
    (lambda: stochastic_pareto([[NAN, 1.0]], 0.1), InputError, "'means'"),
    (lambda: stochastic_pareto(GOOD, -0.1), InputError, "'stds'"),
    (lambda: stochastic_pareto(GOOD, [0.1, NAN]), InputError, "'stds'"),
    (lambda: stochastic_pareto(GOOD, [0.1, 0.1, 0.1]), InputError, "'stds'"),
    (lambda: stochastic_pareto(GOOD, "0.1"), TypeError, "'stds'"),
    (lambda: stochastic_pareto(GOOD, 0.1, n_samples=0), InputError, "'n_samples'"),
    (lambda: stochastic_pareto(GOOD, 0.1, n_samples=-3), InputError, "'n_samples'"),
    (lambda: stochastic_pareto(GOOD, 0.1, n_samples=10.0), TypeError, "'n_samples'"),
    (lambda: stochastic_pareto(GOOD, 0.1, n_samples=True), TypeError, "'n_samples'"),
    (lambda: stochastic_pareto(GOOD, 0.1, seed=-1), InputError, "'seed'"),
    (lambda: stochastic_pareto(GOOD, 0.1, seed="x"), TypeError, "'seed'"),
    (lambda: stochastic_pareto(GOOD, 0.1, distribution="cauchy"), InputError, "'distribution'"),
    (lambda: stochastic_pareto(GOOD, 0.1, senses=["max", "mín"]), InputError, "'senses'"),
]


@pytest.mark.parametrize(("call", "exc", "text"), BAD)
def test_bad_parameters_name_the_parameter(call, exc, text):
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    assert text in msg
    assert "instead" in msg


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run():
    result = doctest.testmod(pareto)
    assert result.attempted >= 4 and result.failed == 0


def test_every_public_function_documents_its_math():
    for name in pareto.__all__:
        doc = getattr(pareto, name).__doc__
        assert ".. math::" in doc and ">>> " in doc, name


# --------------------------------------------------------------------------- from the samples
_finite = st.floats(0.01, 100.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60)
@given(st.lists(_finite, min_size=1, max_size=40), st.integers(0, 2**31))
def test_bootstrap_medians_never_leave_the_range_of_the_samples(values, seed) -> None:
    draws = pareto.bootstrap_medians(values, 300, np.random.default_rng(seed))
    assert draws.shape == (300,)
    assert draws.min() >= min(values) and draws.max() <= max(values)


@settings(max_examples=40)
@given(st.lists(st.tuples(_finite, _finite), min_size=1, max_size=12), st.integers(1, 8))
def test_zero_spread_samples_give_the_exact_front(points, m) -> None:
    """Every sample of a cell equal: each draw is that value, so P is the 1/0 front mask."""
    means = np.array(points)
    samples = [[[a] * m, [b] * m] for a, b in points]
    p = stochastic_pareto(means, senses=["max", "min"], samples=samples, n_samples=50, seed=1)
    assert p.tolist() == pareto_front(means, senses=["max", "min"]).astype(float).tolist()


def test_samples_draw_from_the_measurements_and_fixed_cells_stay_fixed() -> None:
    # model 0 is faster in the median but its blocks overlap model 1's: both can win
    means = [[0.9, 1.0], [0.9, 1.1], [0.5, 5.0]]
    blocks = [[None, [0.8, 1.0, 1.0, 1.4]], [None, [0.9, 1.1, 1.1, 1.2]], [None, [5.0, 5.1]]]
    p = stochastic_pareto(means, senses=["max", "min"], samples=blocks, n_samples=4000, seed=0)
    assert 0.0 < p[1] < 1.0 and p[0] > p[1] and p[2] == 0.0
    # same seed, same answer; no samples at all is the deterministic front (stds 0)
    again = stochastic_pareto(means, senses=["max", "min"], samples=blocks, n_samples=4000, seed=0)
    assert p.tolist() == again.tolist()
    assert stochastic_pareto(means, senses=["max", "min"], samples=[None, None, None],
                             n_samples=10).tolist() == [1.0, 0.0, 0.0]
    # a sampled cell draws from its samples, not from its stds (5 would draw negative
    # latencies): model 1 (0.2 ms, fixed) is dominated exactly when the bootstrap median
    # of model 0's three blocks is 0.2, i.e. with probability 7/27
    rng = np.random.default_rng(0)
    q = stochastic_pareto([[0.9, 0.3], [0.8, 0.2]], [[0.0, 5.0], [0.0, 0.0]], senses=["max", "min"],
                          samples=[[None, [0.2, 0.3, 0.6]], None], n_samples=20000, seed=rng)
    assert q[0] == 1.0 and abs(q[1] - 20 / 27) < 0.02


@pytest.mark.parametrize("bad, match", [
    ([[None, [1.0]]], "one entry per model"),
    ([[None, [1.0]], [None]], r"one entry per objective \(2\)"),
    ([[None, []], None], r"samples\[0\]\[1\]"),
    ([[None, [1.0, math.nan]], None], r"samples\[0\]\[1\]"),
])
def test_bad_samples_are_refused(bad, match) -> None:
    with pytest.raises(InputError, match=match):
        stochastic_pareto([[1.0, 1.0], [2.0, 2.0]], samples=bad)


def test_bootstrap_medians_refuses_a_rng_that_is_not_a_generator() -> None:
    from effobj.errors import InputTypeError
    from effobj.pareto import bootstrap_medians

    with pytest.raises(InputTypeError, match=r"'rng' parameter of bootstrap_medians must be a numpy random Generator\. Got str"):
        bootstrap_medians([1.0, 2.0], 5, "seed")  # type: ignore[arg-type]
