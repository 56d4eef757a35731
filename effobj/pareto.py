r"""Pareto tools: the non-dominated front, non-dominated sorting, and the stochastic front.

Points are the rows of an ``(n, d)`` array, one column per objective; ``senses`` says
per column whether larger (``"max"``, the default) or smaller (``"min"``) is better.
Internally every column is turned into a maximized one (``"min"`` columns are negated,
which is exact), and point :math:`p` *dominates* point :math:`q` when

.. math::

    p \succ q \iff \forall k:\ p_k \ge q_k \ \text{ and } \ \exists k:\ p_k > q_k .

Equal points do not dominate each other, so duplicates of a front point are all on the
front. Values must be finite (NaN has no order, and an infinity makes sums undefined).

This module imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from effobj._validation import (
    check_choice,
    check_instance,
    check_int,
    check_values,
    is_torch,
    refusal,
    to_numeric,
)
from effobj.errors import InputTypeError

__all__ = ["bootstrap_medians", "pareto_front", "non_dominated_sort", "stochastic_pareto"]

_SENSES = ("max", "min")
_DISTRIBUTIONS = ("normal", "uniform")
# element budget of one (k, m, d) comparison block: bounds the temporary memory at ~8 MB
_BLOCK_ELEMENTS = 1 << 23
# the block-elimination front compares this many leading candidates at a time
_FRONT_BLOCK = 64
# stochastic_pareto compares all pairs inside a sample when n * n * d stays below this;
# above it, one sort-based front per sample is cheaper
_PAIRWISE_LIMIT = 1 << 17


# --------------------------------------------------------------------------- checks


def _as_matrix(value: Any, name: str, func: str) -> np.ndarray:
    """A finite float64 ``(n, d)`` array with d >= 1, or an InputError/TypeError."""
    arr, _ = to_numeric(value, name, func)
    if is_torch(arr):
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise refusal(
            name, func, "be a 2-D array of shape (n_points, n_objectives) with at least one column",
            f"shape {arr.shape}",
        )
    check_values(arr, name, func)
    return arr


def _signs(senses: Any, d: int, func: str) -> np.ndarray:
    """+1 for each "max" column and -1 for each "min" column."""
    if senses is None:
        return np.ones(d)
    if isinstance(senses, str):
        check_choice(senses, "senses", func, _SENSES)
        return np.full(d, 1.0 if senses == "max" else -1.0)
    if not isinstance(senses, Sequence) and not isinstance(senses, np.ndarray):
        raise refusal(
            "senses", func, "be None, 'max', 'min' or a sequence of 'max'/'min', one per column",
            f"{senses!r} of type {type(senses).__name__}", error=InputTypeError,
        )
    if len(senses) != d:
        raise refusal("senses", func, f"have one entry per column of the points ({d})",
                      f"{len(senses)} entries")
    out = np.empty(d)
    for i, s in enumerate(senses):
        if not isinstance(s, str) or s not in _SENSES:
            raise refusal("senses", func, "hold only 'max' or 'min'", f"{s!r} at index {i}")
        out[i] = 1.0 if s == "max" else -1.0
    return out


def _rng(seed: Any, func: str) -> np.random.Generator:
    if seed is None or isinstance(seed, np.random.Generator | np.random.SeedSequence):
        return np.random.default_rng(seed)
    return np.random.default_rng(check_int(seed, "seed", func, low=0))


# --------------------------------------------------------------------------- kernels


def _dominance_order(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order in which a dominator always comes first, and duplicate-group ids.

    Rows are sorted by decreasing sum, ties broken lexicographically (decreasing). If
    ``p`` dominates ``q`` then ``sum(p) >= sum(q)`` also after rounding (a rounded sum is
    monotone in each term) and ``p`` is lexicographically larger, so ``p`` comes first.
    Equal rows are adjacent; ``group[i]`` numbers the runs of equal rows in that order.
    Hence, for sorted rows ``i`` and ``j``: ``i`` dominates ``j`` iff ``row_i >= row_j``
    in every column and ``group[i] < group[j]`` (a row that is >= another and not equal
    to it dominates it, so it must come first).

    Returns:
        ``(order, group)`` with ``group`` aligned with the sorted rows ``x[order]``.
    """
    d = x.shape[1]
    keys = tuple(-x[:, j] for j in range(d - 1, -1, -1)) + (-x.sum(axis=1),)
    order = np.lexsort(keys)
    xs = x[order]
    new = np.empty(len(x), dtype=bool)
    new[:1] = True
    np.any(xs[1:] != xs[:-1], axis=1, out=new[1:])
    return order, np.cumsum(new) - 1


def _dominates(a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """``out[i, j]``: sorted row ``a[i]`` dominates sorted row ``b[j]``.

    Rows and duplicate-group ids come from :func:`_dominance_order`. One ``(k, m)``
    comparison per column (contiguous, unlike a reduction over a short last axis).
    """
    out = ga[:, None] < gb[None, :]
    tmp = np.empty_like(out)
    for j in range(a.shape[1]):
        np.greater_equal(a[:, j, None], b[None, :, j], out=tmp)
        out &= tmp
    return out


def _dominated_count(a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """For each sorted row of ``b``, how many sorted rows of ``a`` dominate it."""
    out = np.zeros(len(b), dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return out
    step = max(1, _BLOCK_ELEMENTS // len(b))
    for i in range(0, len(a), step):
        out += _dominates(a[i : i + step], ga[i : i + step], b, gb).sum(axis=0)
    return out


def _front_1d(x: np.ndarray) -> np.ndarray:
    return x[:, 0] == x[:, 0].max()


def _front_2d(x: np.ndarray) -> np.ndarray:
    """Sort-based O(n log n) front of maximized 2-D points.

    Sorted by first objective descending (ties: second descending), a point is
    non-dominated iff it has the largest second objective within its group of equal
    first objectives, and a second objective strictly above every point with a
    strictly larger first objective.
    """
    n = len(x)
    order = np.lexsort((-x[:, 1], -x[:, 0]))
    xs, ys = x[order, 0], x[order, 1]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(xs[1:], xs[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    group_max = ys[starts]  # y descending within a group: its first y is its maximum
    before = np.empty_like(group_max)
    before[0] = -np.inf
    np.maximum.accumulate(group_max[:-1], out=before[1:])
    keep = (ys == group_max[group]) & (ys > before[group])
    mask = np.empty(n, dtype=bool)
    mask[order] = keep
    return mask


def _front_nd(x: np.ndarray) -> np.ndarray:
    """Block-elimination front of maximized points in any dimension.

    In the order of :func:`_dominance_order` a dominator always comes first. Take the
    next block of leading candidates: those that no earlier member of the block
    dominates are front points (every earlier front point has already removed what it
    dominates, and a removed point's dominators dominate what it dominates), and they
    remove every remaining candidate they dominate.
    """
    order, group = _dominance_order(x)
    rest, rest_g, rest_idx = x[order], group, order
    front: list[np.ndarray] = []
    while len(rest):
        k = min(_FRONT_BLOCK, len(rest))
        block, block_g = rest[:k], rest_g[:k]
        survivors = ~_dominates(block, block_g, block, block_g).any(axis=0)
        front.append(rest_idx[:k][survivors])
        rest, rest_g, rest_idx = rest[k:], rest_g[k:], rest_idx[k:]
        if len(rest):
            keep = _dominated_count(block[survivors], block_g[survivors], rest, rest_g) == 0
            rest, rest_g, rest_idx = rest[keep], rest_g[keep], rest_idx[keep]
    mask = np.zeros(len(x), dtype=bool)
    mask[np.concatenate(front)] = True
    return mask


def _front(x: np.ndarray) -> np.ndarray:
    """Non-dominated mask of maximized points ``x`` of shape (n, d)."""
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    if x.shape[1] == 1:
        return _front_1d(x)
    if x.shape[1] == 2:
        return _front_2d(x)
    return _front_nd(x)


def _ranks_deb(x: np.ndarray) -> np.ndarray:
    """Deb's fast non-dominated sort of maximized points, any dimension.

    Count each point's dominators (blocked; in the order of :func:`_dominance_order`
    only earlier rows can dominate, so each block of rows is compared with the rows
    from its own start on); the points with count 0 form the first front; removing a
    front subtracts its dominations from the remaining counts (recomputed instead of
    stored, so memory stays O(n)); the points whose count reaches 0 form the next front.
    """
    n = len(x)
    order, group = _dominance_order(x)
    xs = x[order]
    count = np.zeros(n, dtype=np.int64)
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for i in range(0, n, step):
        count[i:] += _dominates(xs[i : i + step], group[i : i + step], xs[i:], group[i:]).sum(
            axis=0
        )
    rank_sorted = np.full(n, -1, dtype=np.int64)
    remaining = np.arange(n)
    k = 0
    while len(remaining):
        done = count[remaining] == 0
        if not done.any():  # impossible: dominance is acyclic, so some count is 0
            raise RuntimeError("non_dominated_sort: no point left without a dominator")
        current, remaining = remaining[done], remaining[~done]
        rank_sorted[current] = k
        count[remaining] -= _dominated_count(
            xs[current], group[current], xs[remaining], group[remaining]
        )
        k += 1
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def _ranks_2d(x: np.ndarray) -> np.ndarray:
    """O(n log n) non-dominated sort of maximized 2-D points.

    Processed by first objective descending (ties: second descending), a point's
    dominators are all processed before it. ``best[k]`` is the largest second objective
    seen in front k; it is non-increasing in k (every point of front k+1 has a
    dominator in front k, processed earlier, with a second objective at least as
    large). So front k holds a dominator of the point iff ``best[k] >= y`` (a point
    processed earlier with equal first objective has a larger y or is a duplicate,
    handled by copying its rank), and the point's rank is the first k with
    ``best[k] < y``, found by bisection.
    """
    import bisect

    n = len(x)
    order = np.lexsort((-x[:, 1], -x[:, 0]))
    xs, ys = x[order, 0].tolist(), x[order, 1].tolist()
    neg_best: list[float] = []  # -best[k], non-decreasing: bisect needs ascending keys
    rank_sorted = [0] * n
    for i in range(n):
        if i and xs[i] == xs[i - 1] and ys[i] == ys[i - 1]:
            rank_sorted[i] = rank_sorted[i - 1]
            continue
        k = bisect.bisect_right(neg_best, -ys[i])
        if k == len(neg_best):
            neg_best.append(-ys[i])
        else:
            neg_best[k] = -ys[i]
        rank_sorted[i] = k
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    return rank


# --------------------------------------------------------------------------- public


def pareto_front(points: Any, *, senses: Sequence[str] | str | None = None) -> np.ndarray:
    r"""Mask of the non-dominated rows of ``points`` (the Pareto front).

    .. math::

        \mathrm{front}(P) = \{\, q \in P : \nexists\, p \in P,\ p \succ q \,\}

    with :math:`\succ` the dominance of the module docstring, after turning ``"min"``
    columns into maximized ones. Duplicates of a front point are all kept.

    Complexity: O(n log n) for d = 2 (one sort and a running maximum); for d >= 3 a
    blocked elimination in decreasing-sum order, O(n * |front| * d) vectorized work
    and O(n d) memory (fast when the front is small, O(n^2 d) when every point is on it).

    Args:
        points: an ``(n, d)`` array-like (numpy, nested lists or a torch tensor), finite.
        senses: ``"max"`` or ``"min"`` per column (a single string applies to all
            columns); default all ``"max"``.

    Returns:
        A boolean numpy array of shape ``(n,)``, True on the front.

    Raises:
        InputError: not 2-D, no column, NaN/inf, a wrong number of ``senses`` or an
            entry other than "max"/"min".
        TypeError: non-numeric points, ``senses`` not a string or sequence.

    Example:
        >>> pts = [[0.90, 10.0], [0.80, 5.0], [0.85, 12.0], [0.90, 10.0]]  # (acc, ms)
        >>> pareto_front(pts, senses=["max", "min"]).tolist()
        [True, True, False, True]
    """
    func = "pareto_front"
    x = _as_matrix(points, "points", func)
    return _front(x * _signs(senses, x.shape[1], func))


def non_dominated_sort(points: Any, *, senses: Sequence[str] | str | None = None) -> np.ndarray:
    r"""Front rank of every row (0 = the Pareto front), by Deb's fast non-dominated sort.

    .. math::

        F_0 = \mathrm{front}(P), \qquad
        F_k = \mathrm{front}\Big(P \setminus \bigcup_{j<k} F_j\Big), \qquad
        \mathrm{rank}(q) = k \iff q \in F_k

    Deb et al. (NSGA-II, 2002): count each point's dominators; the points with count 0
    form the first front; removing a front subtracts, from every remaining point, the
    number of its dominators in that front; the points whose count reaches 0 form the
    next front. Here the counts are computed with blocked numpy comparisons, and the
    dominated sets are recomputed front by front instead of stored: O(n^2 d) time,
    O(n) memory besides blocks of at most ~8 MB.

    Args:
        points: an ``(n, d)`` array-like (numpy, nested lists or a torch tensor), finite.
        senses: ``"max"`` or ``"min"`` per column (a single string applies to all
            columns); default all ``"max"``.

    Returns:
        An int64 numpy array of shape ``(n,)``; equal points get equal ranks.

    Raises:
        InputError: not 2-D, no column, NaN/inf, a wrong number of ``senses`` or an
            entry other than "max"/"min".
        TypeError: non-numeric points, ``senses`` not a string or sequence.

    Example:
        >>> non_dominated_sort([[1, 1], [2, 2], [3, 1], [1, 3], [0, 0]]).tolist()
        [1, 0, 0, 0, 2]
    """
    func = "non_dominated_sort"
    x = _as_matrix(points, "points", func)
    x = x * _signs(senses, x.shape[1], func)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    if x.shape[1] == 1:
        return np.unique(-x[:, 0], return_inverse=True)[1].astype(np.int64)
    if x.shape[1] == 2:
        return _ranks_2d(x)
    return _ranks_deb(x)


def _nondominated_hits_pairwise(samples: np.ndarray) -> np.ndarray:
    """For samples of shape (s, n, d): how many samples leave each model non-dominated.

    Compares all pairs of models inside each sample at once, in chunks of samples.
    """
    s, n, d = samples.shape
    hits = np.zeros(n, dtype=np.int64)
    step = max(1, _BLOCK_ELEMENTS // (n * n * d))
    for i in range(0, s, step):
        x = samples[i : i + step]
        ge = np.ones((len(x), n, n), dtype=bool)
        gt = np.zeros((len(x), n, n), dtype=bool)
        for j in range(d):
            xj = x[:, :, j]
            ge &= xj[:, :, None] >= xj[:, None, :]
            gt |= xj[:, :, None] > xj[:, None, :]
        dominated = (ge & gt).any(axis=1)  # (chunk, n): some model dominates model j
        hits += (~dominated).sum(axis=0)
    return hits


def _nondominated_hits_loop(samples: np.ndarray) -> np.ndarray:
    """Same as :func:`_nondominated_hits_pairwise`, one sort-based front per sample."""
    hits = np.zeros(samples.shape[1], dtype=np.int64)
    for x in samples:
        hits += _front(x)
    return hits


def bootstrap_medians(values: Any, n_samples: int, rng: np.random.Generator,
                      func: str = "bootstrap_medians", name: str = "values") -> np.ndarray:
    r"""``n_samples`` bootstrap draws of the median of ``values``.

    Each draw resamples the :math:`m` values with replacement and takes the median of the
    resample,

    .. math::

        \tilde x^{*} = \mathrm{median}(x_{J_1}, \dots, x_{J_m}),
        \qquad J_r \sim U\{1, \dots, m\} \text{ independently};

    a draw therefore never leaves :math:`[\min x, \max x]`, and equal values give that
    value exactly.

    Args:
        values: 1-D array-like of finite measurements, at least one.
        n_samples: number of draws, >= 1.
        rng: the numpy Generator drawing the resamples.

    Returns:
        A float64 array of shape ``(n_samples,)``.

    Example:
        >>> import numpy as np
        >>> d = bootstrap_medians([1.0, 2.0, 3.0, 10.0], 500, np.random.default_rng(0))
        >>> bool(d.min() >= 1.0 and d.max() <= 10.0), bootstrap_medians([2.5] * 3, 4, np.random.default_rng(0)).tolist()
        (True, [2.5, 2.5, 2.5, 2.5])
    """
    x = _as_sample(values, name, func)
    gen = check_instance(rng, "rng", func, np.random.Generator, "a numpy random Generator")
    return _bootstrap(x, check_int(n_samples, "n_samples", func, low=1), gen)


def _as_sample(values: Any, name: str, func: str) -> np.ndarray:
    """A non-empty, finite, 1-D float64 array, or an InputError/TypeError."""
    arr, _ = to_numeric(values, name, func)
    if is_torch(arr):
        arr = arr.detach().cpu().numpy()
    x = np.asarray(arr, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise refusal(name, func, "be a non-empty 1-D sequence of numbers", f"shape {x.shape}")
    check_values(x, name, func)
    return x


def _bootstrap(x: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    m = x.size
    out = np.empty(n_samples)
    step = max(1, _BLOCK_ELEMENTS // m)  # (chunk, m) index blocks within the memory budget
    for start in range(0, n_samples, step):
        k = min(step, n_samples - start)
        out[start : start + k] = np.median(x[rng.integers(0, m, (k, m))], axis=1)
    return out


def _sample_cells(samples: Any, n: int, d: int, func: str) -> dict[tuple[int, int], np.ndarray]:
    """The ``(model, objective)`` cells of ``samples`` that hold measurements."""
    if not isinstance(samples, Sequence) or isinstance(samples, str) or len(samples) != n:
        raise refusal("samples", func, f"be a sequence with one entry per model ({n})",
                      f"{type(samples).__name__}" + (f" of length {len(samples)}"
                                                     if isinstance(samples, Sequence) else ""))
    cells: dict[tuple[int, int], np.ndarray] = {}
    for i, row in enumerate(samples):
        if row is None:
            continue
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != d:
            raise refusal("samples", func, f"hold, per model, None or one entry per objective ({d})",
                          f"{row!r} at index {i}")
        for k, cell in enumerate(row):
            if cell is not None:
                cells[(i, k)] = _as_sample(cell, f"samples[{i}][{k}]", func)
    return cells


def stochastic_pareto(
    means: Any,
    stds: Any = 0.0,
    *,
    senses: Sequence[str] | str | None = None,
    n_samples: int = 2000,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    distribution: str = "normal",
    samples: Sequence[Sequence[Any] | None] | None = None,
) -> np.ndarray:
    r"""Probability that each model is non-dominated when its measurements are noisy.

    Each model :math:`i` has measured objectives :math:`X_i = \mu_i + \sigma_i \odot Z_i`
    with independent standard noise :math:`Z_i` (per model and per objective). The
    stochastic Pareto frontier gives every model its probability of being on the front,

    .. math::

        \pi_i = \Pr\big(\nexists\, j \ne i:\ X_j \succ X_i\big)
        \approx \hat\pi_i = \frac{1}{S} \sum_{s=1}^{S}
            \mathbf{1}\big[\nexists\, j:\ X_j^{(s)} \succ X_i^{(s)}\big],

    estimated by Monte Carlo over :math:`S` = ``n_samples`` joint draws; the standard
    error is :math:`\sqrt{\pi_i (1 - \pi_i) / S} \le 1 / (2 \sqrt{S})`. With zero
    spread every draw equals the means, so :math:`\hat\pi` is exactly the 1/0 mask of
    :func:`pareto_front`. Draws are vectorized: all model pairs of a chunk of samples
    are compared at once while ``n * n * d`` is small, otherwise one sort-based front is
    computed per sample.

    ``distribution="normal"``: :math:`Z \sim \mathcal N(0, 1)`; ``"uniform"``:
    :math:`Z \sim U(-\sqrt 3, \sqrt 3)`, so ``stds`` is the standard deviation in both
    cases (the uniform one has bounded support :math:`\mu \pm \sqrt 3 \sigma`).

    **From the measurements** (``samples``): where model :math:`i` has the raw
    measurements :math:`x_{ik,1}, \dots, x_{ik,m}` of objective :math:`k` (a latency's
    per-block times) and its value is their median, no distribution is assumed: each draw
    is a bootstrap replicate of that median,

    .. math::

        X_{ik}^{(s)} = \mathrm{median}\big(x_{ik,J_1}, \dots, x_{ik,J_m}\big),
        \qquad J_r \sim U\{1, \dots, m\} \text{ independently}

    (:func:`bootstrap_medians`), independent across models, objectives and draws. A draw
    never leaves :math:`[\min_r x_{ik,r}, \max_r x_{ik,r}]`, so no impossible value (a
    negative latency) is drawn, and a skewed spread stays skewed. Zero spread (all
    :math:`x_{ik,r}` equal) draws that value every time. The cells without samples keep
    the noise of ``stds`` (default 0: their ``means`` value, fixed); for a cell with
    samples, ``means`` is only checked, the draws come from the samples.

    Args:
        means: ``(n, d)`` array-like of mean measurements, finite.
        stds: standard deviations, finite and >= 0, broadcastable to ``means``
            (a scalar, shape ``(d,)`` per objective, ``(n, 1)`` per model, or ``(n, d)``).
        senses: ``"max"`` or ``"min"`` per column (a single string applies to all
            columns); default all ``"max"``.
        n_samples: number of Monte Carlo draws, >= 1.
        seed: None (fresh entropy), an int >= 0, a numpy Generator or SeedSequence; the
            same seed gives the same probabilities.
        distribution: ``"normal"`` or ``"uniform"``.
        samples: ``None``, or one entry per model: ``None`` (no samples), or one entry
            per objective, ``None`` or a non-empty 1-D sequence of finite measurements
            whose median is the value (bootstrap, above).

    Returns:
        A float64 numpy array of shape ``(n,)`` with values in [0, 1].

    Raises:
        InputError: bad shapes, NaN/inf, negative ``stds``, ``n_samples`` < 1, a
            negative seed, a bad ``senses`` entry or ``distribution``, ``samples`` not
            shaped per model and objective, or an empty or non-finite sample.
        TypeError: non-numeric arrays, a non-integer ``n_samples`` or ``seed``.

    Example:
        >>> means = [[0.90, 10.0], [0.89, 10.5], [0.70, 30.0]]  # (accuracy, ms)
        >>> p = stochastic_pareto(means, [0.01, 1.0], senses=["max", "min"], seed=0)
        >>> bool(p[0] > 0.5 and 0.0 < p[1] < 1.0 and p[2] == 0.0)
        True
        >>> stochastic_pareto(means, 0.0, senses=["max", "min"], n_samples=10).tolist()
        [1.0, 0.0, 0.0]
        >>> blocks = [[None, [9.0, 10.0, 14.0]], [None, [10.2, 10.5, 10.9]], None]
        >>> q = stochastic_pareto(means, senses=["max", "min"], samples=blocks, seed=0)
        >>> bool(0.0 < q[1] < 1.0 and q[2] == 0.0)
        True
    """
    func = "stochastic_pareto"
    mu = _as_matrix(means, "means", func)
    n, d = mu.shape
    sd, _ = to_numeric(stds, "stds", func)
    if is_torch(sd):
        sd = sd.detach().cpu().numpy()
    sd = np.asarray(sd, dtype=np.float64)
    try:
        sd = np.broadcast_to(sd, mu.shape)
    except ValueError:
        raise refusal("stds", func, f"broadcast to the shape of 'means' {mu.shape}",
                      f"shape {sd.shape}") from None
    check_values(sd, "stds", func, low=0.0)
    signs = _signs(senses, d, func)
    n_samples = check_int(n_samples, "n_samples", func, low=1)
    check_choice(distribution, "distribution", func, _DISTRIBUTIONS)
    rng = _rng(seed, func)
    cells = {} if samples is None else _sample_cells(samples, n, d, func)
    if n == 0:
        return np.zeros(0)

    pairwise = n * n * d <= _PAIRWISE_LIMIT
    hits = np.zeros(n, dtype=np.int64)
    # draw in chunks so that the (chunk, n, d) samples stay within the block budget
    step = max(1, _BLOCK_ELEMENTS // (n * d))
    for start in range(0, n_samples, step):
        m = min(step, n_samples - start)
        if distribution == "normal":
            z = rng.standard_normal((m, n, d))
        else:
            z = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), (m, n, d))
        draws = mu + sd * z
        for (i, k), values in cells.items():
            draws[:, i, k] = _bootstrap(values, m, rng)
        draws *= signs
        if pairwise:
            hits += _nondominated_hits_pairwise(draws)
        else:
            hits += _nondominated_hits_loop(draws)
    return hits / n_samples
