r"""An Optuna sampler that knows each candidate's cost before it trains it.

In an effobj trial the costs are measured before training and :math:`E_\beta` is a
known function of :math:`(A, C)`: the only unknown is the performance. So
:class:`EfficiencySampler` models the performance alone and prices every candidate by
what it can add:

1. **Model.** A Gaussian process over the space's parameters (categorical, int and
   float; :mod:`effobj.optuna._surrogate`) fitted to the performance of every trained
   trial (repeats of a trained candidate included; a training stopped early enters at
   the final performance its learning curve predicted, ``stop_prediction``). Trials running in other workers
   enter with the model's own prediction (the "kriging believer"), which removes their
   neighbourhood's uncertainty, and their candidates are never proposed again.
2. **Candidates.** Random points of the space plus every one-parameter change of the
   best trained candidates; never one whose identity was trained, is running, or was
   found over budget or hopeless, or failed.
3. **Costs, looked up lazily.** A candidate's exact costs come from ``costs(params)``
   (the objective's cached profiler, or a table); until then a Bayesian linear model of
   the log cost, fitted to the costs looked up so far, gives an optimistic cost (two
   predictive standard deviations below its mean). Candidates are scored by the logarithm
   of the expected improvement of :math:`E_\beta` over the incumbent,
   :math:`\mathrm{EI} = \mathbb E[\max(E_\beta(A, C) - E^*, 0)]`, finite wherever an
   improvement is possible (a closed form where the quadrature underflows, so candidates
   far from the incumbent are still ranked; :math:`-\infty` only over a budget or
   hopeless); the unknown-cost
   candidate with the highest optimistic score is looked up, and again, until the best
   candidate of exactly known cost beats every optimistic score, or the look-up budget
   of the proposal is spent. A look-up costs ``lookup_price`` of a training (measured:
   profiling time over training time, or given); a proposal spends at most
   ``lookup_share`` of one training on look-ups, counted and in wall time (the median
   training's ``lookup_share`` seconds; before any training, the count budget at the
   median look-up's time), so look-ups slower than their measured price (a compile, a
   loaded machine) stop sooner.
4. **Start-up.** The first ``n_startup_trials`` trainings are random candidates whose
   cost is within budget and whose bound :math:`E_\beta(A{=}1, C)` can still beat the
   incumbent (the hopeless rule), those of known cost first; when none is found within
   the look-up budget (most of the space over budget or hopeless), the model proposes
   as soon as two candidates are trained. The first model-based proposal also looks up
   the costs of ``n_initial_lookups`` random candidates for the cost model. Candidates
   whose costs were looked up earlier, by any worker, join every pool.

Each proposal draws its random numbers from ``(seed, trial number)``: a sequential study
is reproducible, and workers or resumed sessions, which get other trial numbers, never
replay one another. Every distinct candidate whose costs were looked up is registered
in the study (``study.user_attrs["cost_lookups"]`` counts them; see
:mod:`effobj.optuna._costs`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from effobj._validation import check_callable, check_int, check_real
from effobj.errors import InputError
from effobj.optuna import _compat
from effobj.optuna._calibration import measuring_for
from effobj.optuna._costs import CostRegistry, params_identity
from effobj.optuna._surrogate import (
    Encoder,
    GaussianProcess,
    LinearCostModel,
    log_expected_improvement,
)
from effobj.record import Status, TrialRecord, incumbent
from effobj.spec import check_spec

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["EfficiencySampler"]

_log = logging.getLogger("effobj.optuna")

#: statuses whose candidates are never proposed again (their outcome is known; a failed
#: one would fail again)
_SETTLED = (Status.TRAINED, Status.REPEAT, Status.OVER_BUDGET, Status.HOPELESS, Status.PRUNED,
            Status.FAILED)
_OPTIMISM_SD = 2.0
#: performances below this quantile of the trained ones are raised to it before the
#: model is fitted (``None``: not at all); see :meth:`EfficiencySampler._fit_targets`
_FLOOR_QUANTILE: float | None = 0.25


class CostSource(Protocol):
    """What :meth:`EfficiencySampler.for_objective` takes from an objective (e.g. an
    :class:`~effobj.optuna.EfficiencyObjective`): the spec, the costs and the identity
    of the candidate that parameters describe, and optionally the price of a look-up."""

    spec: EfficiencySpec

    def costs_of(self, params: Mapping[str, Any]) -> dict[str, float]: ...

    def identity_of(self, params: Mapping[str, Any]) -> str: ...


class EfficiencySampler(BaseSampler):
    r"""Propose the candidate with the highest expected improvement of :math:`E_\beta`.

    Args:
        spec: the :class:`~effobj.EfficiencySpec` the study optimizes.
        costs: ``costs(params) -> {indicator: value}``: the spec's cost indicators of the
            candidate that Optuna parameters ``params`` describe, e.g.
            :meth:`EfficiencyObjective.costs_of` (use :meth:`for_objective`). ``None``:
            the sampler learns costs only from finished trials.
        identity: ``identity(params) -> str``; candidates with one identity are one
            training (default: the parameters as canonical JSON).
        seed: seed of the proposals (with the trial number).
        n_startup_trials: trainings proposed at random (within budget, not hopeless)
            before the model is used.
        n_candidates: random candidates scored per proposal (plus the neighbours of the
            best trained candidates).
        n_initial_lookups: random candidates whose costs are looked up once, at the
            first model-based proposal, to start the cost model.
        lookup_price: the price of one cost look-up in trainings, or ``"auto"``: the
            median look-up time over the median training time of the study (0.01 until
            both are known).
        lookup_share: the most a proposal spends on look-ups, in trainings (with the
            price 0.01 and the share 0.1: 10 look-ups).
        max_lookups_per_trial: a cap on the look-ups of one proposal whatever the price.

    Raises:
        InputError: a bad argument, named.

    Example:
        >>> import optuna
        >>> from effobj import EfficiencySpec
        >>> from effobj.optuna import EfficiencyObjective, EfficiencySampler, create_study
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> spec = EfficiencySpec(beta2=2.0, perf_ref=1.0, cost_ref=10.0, cost_max=6.0,
        ...                       cost_name="size")
        >>> objective = EfficiencyObjective(
        ...     spec,
        ...     build=lambda trial: trial.suggest_int("size", 1, 9),
        ...     evaluate=lambda size, trial: 1 - abs(size - 3) / 10,
        ...     measure=lambda size: {"size": float(size)},
        ... )
        >>> sampler = EfficiencySampler.for_objective(objective, seed=0)
        >>> study = create_study(spec, storage=":memory:", sampler=sampler)
        >>> study.optimize(objective, n_trials=12)
        >>> study.best_trial.params      # E_beta 0.875; size 2 scores 0.864
        {'size': 3}
    """

    def __init__(
        self,
        spec: EfficiencySpec,
        *,
        costs: Callable[[dict[str, Any]], Mapping[str, float]] | None = None,
        identity: Callable[[dict[str, Any]], Any] | None = None,
        seed: int | None = None,
        n_startup_trials: int = 5,
        n_candidates: int = 1000,
        n_initial_lookups: int = 20,
        lookup_price: float | str = "auto",
        lookup_share: float = 0.1,
        max_lookups_per_trial: int = 256,
    ) -> None:
        name = "EfficiencySampler"
        spec = check_spec(spec, "spec", name)
        costs = check_callable(costs, "costs", name, allow_none=True)
        identity = check_callable(identity, "identity", name, allow_none=True)
        seed = check_int(seed, "seed", name, low=0, allow_none=True)
        n_startup_trials, n_candidates, n_initial_lookups, max_lookups_per_trial = (
            check_int(value, pname, name, low=low)
            for pname, value, low in (
                ("n_startup_trials", n_startup_trials, 1),
                ("n_candidates", n_candidates, 1),
                ("n_initial_lookups", n_initial_lookups, 0),
                ("max_lookups_per_trial", max_lookups_per_trial, 1),
            )
        )
        if lookup_price != "auto":
            lookup_price = check_real(lookup_price, "lookup_price", name, low=0.0)
        lookup_share = check_real(lookup_share, "lookup_share", name, low=0.0, low_open=True)
        self.spec = spec
        self.costs = costs
        self.identity = identity
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.n_initial_lookups = n_initial_lookups
        self.lookup_price = lookup_price
        self.lookup_share = lookup_share
        self.max_lookups_per_trial = max_lookups_per_trial
        self._cost_names = tuple(spec.cost_names)
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        self._perf_models: dict[tuple[int, tuple[str, ...]], GaussianProcess] = {}
        self._initial_done: set[int] = set()
        self._lookup_times: list[float] = []
        # the proposal under way: seconds its look-ups took, and their budget (_wall_budget_s)
        self._proposal_lookup_s, self._proposal_wall_s = 0.0, math.inf
        #: look-ups this sampler made, in order (identity, params): for benchmarks
        self.lookup_log: list[str] = []

    @classmethod
    def for_objective(cls, objective: CostSource, **kwargs: Any) -> EfficiencySampler:
        """A sampler measuring costs through ``objective`` (its cache and identities)."""
        kwargs.setdefault("costs", objective.costs_of)
        kwargs.setdefault("identity", objective.identity_of)
        price = getattr(objective, "lookup_price", None)
        if price is not None:
            kwargs.setdefault("lookup_price", price)
        return cls(objective.spec, **kwargs)

    # ------------------------------------------------------------------ Optuna's API
    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if len(study.directions) > 1:  # BaseSampler's (private) check, in its words
            raise ValueError(
                "If the study is being used for multi-objective optimization, "
                f"{self.__class__.__name__} cannot be used."
            )
        space = self._search_space.calculate(study)
        if not space:
            # nothing finished yet, e.g. only failures: the parameters of the latest trial
            # that has some, so that failed candidates are not drawn again at random
            for t in reversed(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))):
                if t.distributions:
                    return dict(t.distributions)
        return space

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        rng_seed = self._trial_seed(trial.number, 1)
        return RandomSampler(seed=rng_seed).sample_independent(
            study, trial, param_name, param_distribution
        )

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        with measuring_for(study):  # look-ups measure on the study's latency scale
            return self._sample_relative(study, trial, search_space)

    def _sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        rng = np.random.default_rng(self._trial_seed(trial.number, 0))
        state = _StudyState.read(study, self, search_space)
        registry = CostRegistry.of(study)
        registry.refresh()
        pool = self._pool(search_space, state, registry, rng)
        if not pool:
            return {}
        budget = self._lookup_budget(state.median_train_s)
        # the same budget in wall time: look-ups slower than their measured price (a
        # compile, a loaded machine) stop sooner, whatever their count
        self._proposal_lookup_s, self._proposal_wall_s = 0.0, self._wall_budget_s(
            state.median_train_s, budget)
        params = None
        if state.n_trained < self.n_startup_trials:
            params, fallback = self._startup(pool, state, registry, budget, rng)
            if params is None and len(state.trained_perf) < 2:
                params = fallback  # too little to model yet: the least bad known one
        if params is None:  # the model, also when random start-up candidates run dry
            params = self._propose(study, pool, state, registry, budget, rng)
        registry.flush_count()
        _log.debug("trial %d proposed in %.3f s", trial.number, time.perf_counter() - t0)
        return params

    def reseed_rng(self) -> None:
        self.seed = int(np.random.default_rng().integers(2**31))

    # ------------------------------------------------------------------ proposals
    def _trial_seed(self, number: int, stream: int) -> Any:
        if self.seed is None:
            return None
        return int(np.random.SeedSequence([self.seed, number, stream]).generate_state(1)[0])

    def _identity(self, params: dict[str, Any]) -> str:
        if self.identity is not None:
            return str(self.identity(params))
        return params_identity(params)

    def _pool(
        self,
        space: Mapping[str, BaseDistribution],
        state: _StudyState,
        registry: CostRegistry,
        rng: np.random.Generator,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Distinct candidates not settled and not running: those whose costs were looked
        up already (free to score exactly), random ones, and the best ones' neighbours."""
        pool: dict[str, dict[str, Any]] = {}
        for ident, entry in registry.entries().items():
            params = entry.get("params")
            if (
                ident not in state.excluded
                and isinstance(params, Mapping)
                and all(n in params for n in space)
                and isinstance(entry.get("costs"), Mapping)
                and all(n in entry["costs"] for n in self._cost_names)
            ):
                try:
                    pool[ident] = {n: params[n] for n in space}
                    for n, dist in space.items():
                        dist.to_internal_repr(params[n])
                except (ValueError, TypeError, KeyError):
                    pool.pop(ident, None)
        draws = [_random_params(space, rng) for _ in range(self.n_candidates)]
        for params in state.best_params(3):
            draws.extend(_neighbours(space, params, rng))
        for params in draws:
            try:
                ident = self._identity(params)
            except (InputError, ValueError, KeyError):
                continue  # a combination the space rejects (e.g. all-skip cells)
            if ident in state.excluded or ident in pool:
                continue
            pool[ident] = params
        return list(pool.items())

    def _lookup_budget(self, t_train: float | None) -> int:
        """Look-ups one proposal may make; ``t_train``: the median training's seconds."""
        price = self._price(t_train)
        if price <= 0.0:
            return self.max_lookups_per_trial
        return max(1, min(self.max_lookups_per_trial, int(self.lookup_share / price)))

    def _wall_budget_s(self, t_train: float | None, budget: int) -> float:
        """Seconds of look-ups one proposal may spend: ``lookup_share`` of the median
        training (``t_train``) once one is known, else ``budget`` look-ups at their median
        measured time (no cap before the first look-up was measured)."""
        if self.lookup_price == "auto" and t_train is not None and t_train > 0.0:
            return self.lookup_share * t_train
        if not self._lookup_times:
            return math.inf
        return budget * float(np.median(self._lookup_times))

    def _out_of_time(self, spent: int, factor: float = 1.0) -> bool:
        """Whether this proposal's look-ups (``spent`` so far; the first is always made)
        used up ``factor`` times its wall-time budget. Only the look-ups' own seconds
        count: the model's fit and the candidate pool are not look-ups (counting them
        starved a fast look-up, a table's, of all but its first)."""
        return spent > 0 and self._proposal_lookup_s > factor * self._proposal_wall_s

    def _price(self, t_train: float | None) -> float:
        """A look-up's price in trainings: the given one, or (``"auto"``) the median
        look-up's seconds over ``t_train``, the median training's."""
        if self.lookup_price != "auto":
            return float(self.lookup_price)
        if t_train is None or not self._lookup_times or t_train <= 0.0:
            return 0.01
        return max(float(np.median(self._lookup_times)) / t_train, 1e-6)

    def _lookup(self, registry: CostRegistry, ident: str, params: dict[str, Any]) -> dict[str, float] | None:
        """The candidate's costs: registered, or looked up now (and registered)."""
        known = registry.costs(ident)
        if known is not None and all(n in known for n in self._cost_names):
            return known
        if self.costs is None:
            return None
        t0 = time.perf_counter()
        try:
            raw = self.costs(dict(params))
        except Exception as exc:  # a candidate that cannot be built or measured
            _log.debug("cost look-up of %s failed: %s", ident, exc)
            registry.add(ident, params, {})
            self._proposal_lookup_s += time.perf_counter() - t0
            return None
        self._lookup_times.append(time.perf_counter() - t0)
        self._proposal_lookup_s += self._lookup_times[-1]
        costs = {n: float(raw[n]) for n in self._cost_names}
        registry.add(ident, params, costs)
        self.lookup_log.append(ident)
        return costs

    def _feasible(self, costs: Mapping[str, float], incumbent: float) -> bool:
        over = self.spec.cost_constraints(costs)
        if any(float(v) > 0.0 for v in over.values()):
            return False
        return float(self.spec.upper_bound(costs)) >= incumbent

    def _startup(
        self,
        pool: list[tuple[str, dict[str, Any]]],
        state: _StudyState,
        registry: CostRegistry,
        budget: int,
        rng: np.random.Generator,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """``(a random candidate within budget and not hopeless, or None; a fallback)``.

        Candidates whose costs are known come first (free); then others are looked up in
        random order, within ``4 x budget`` look-ups. The fallback is the looked-up
        candidate with the highest bound :math:`E_\\beta(A{=}1, C)` (the objective skips it
        without training if it cannot count).
        """
        order = [int(i) for i in rng.permutation(len(pool))]
        order.sort(key=lambda i: pool[i][0] not in registry)  # stable: known costs first
        spent = 0
        best: tuple[float, int] | None = None
        for i in order:
            ident, params = pool[i]
            was_known = ident in registry
            if not was_known and (spent >= max(budget, 1) * 4 or self._out_of_time(spent, 4.0)):
                break  # the space is mostly over budget or hopeless: stop paying
            costs = self._lookup(registry, ident, params)
            spent += 0 if was_known else 1
            if costs is None or self._feasible(costs, state.incumbent):
                return params, params
            over = any(float(v) > 0.0 for v in self.spec.cost_constraints(costs).values())
            bound = -1.0 if over else float(self.spec.upper_bound(costs))
            if best is None or bound > best[0]:
                best = (bound, i)
        return None, pool[best[1] if best is not None else order[0]][1]

    def _propose(
        self,
        study: optuna.Study,
        pool: list[tuple[str, dict[str, Any]]],
        state: _StudyState,
        registry: CostRegistry,
        budget: int,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        encoder = state.encoder
        if _compat.study_id(study) not in self._initial_done:
            self._initial_done.add(_compat.study_id(study))
            for n, i in enumerate(rng.permutation(len(pool))[: self.n_initial_lookups]):
                if self._out_of_time(n):
                    break
                ident, params = pool[int(i)]
                self._lookup(registry, ident, params)
        # the performance model, with running trials at their predicted value
        key = (_compat.study_id(study), tuple(encoder.names))
        model = self._perf_models.get(key)
        if model is None:
            model = self._perf_models[key] = GaussianProcess(encoder.slices)
        x_train = encoder.encode(state.trained_params)
        y_train = self._fit_targets(np.asarray(state.trained_perf, dtype=float))
        x_pool = encoder.encode([p for _, p in pool])
        with _one_blas_thread():  # small systems: threads only contend (cost look-ups run outside)
            model.fit(x_train, y_train)
            if state.pending_params:
                x_pend = encoder.encode(state.pending_params)
                mu_pend, _ = model.predict(x_pend)
                model.fit(np.vstack([x_train, x_pend]), np.concatenate([y_train, mu_pend]),
                          optimize=False)
            mu, sd = model.predict(x_pool)
        # exact costs where registered, optimistic ones elsewhere
        n = len(pool)
        known = np.zeros(n, dtype=bool)
        cost = {name: np.zeros(n) for name in self._cost_names}
        for i, (ident, _) in enumerate(pool):
            c = registry.costs(ident)
            if c is not None and all(k in c for k in self._cost_names):
                known[i] = True
                for name in self._cost_names:
                    cost[name][i] = c[name]
        if not known.all():
            optimistic = self._optimistic_costs(registry, encoder, x_pool[~known])
            if optimistic is None:  # no cost model yet: only costs known exactly count
                for name in self._cost_names:
                    cost[name][~known] = 0.0
            else:
                for name in self._cost_names:
                    cost[name][~known] = optimistic[name]
        inc = state.incumbent
        acq = self._acquisition(mu, sd, cost, inc)
        spent = 0
        while True:
            unknown = np.flatnonzero(~known)
            best_known = float(acq[known].max()) if known.any() else -np.inf
            if unknown.size == 0 or spent >= budget or self._out_of_time(spent):
                break
            j = int(unknown[np.argmax(acq[unknown])])
            if not acq[j] > best_known:
                break
            ident, params = pool[j]
            c = self._lookup(registry, ident, params)
            spent += 1
            known[j] = True
            if c is None:
                acq[j] = -np.inf
                continue
            for name in self._cost_names:
                cost[name][j] = c[name]
            acq[j] = float(self._acquisition(
                mu[j:j + 1], sd[j:j + 1], {k: cost[k][j:j + 1] for k in cost}, inc)[0])
        if known.any() and np.isfinite(acq[known]).any():
            j = int(np.flatnonzero(known)[np.argmax(acq[known])])
            return pool[j][1]
        # no known candidate can improve at all (each one over a budget or hopeless):
        # the most promising upper confidence bound among those whose costs are known
        scores = np.where(known, 0.0, -np.inf)
        perf_hi = np.clip(mu + 2.0 * sd, 0.0, float(self.spec.perf_ref))
        e_hi = np.asarray(self.spec.score(perf_hi, cost), dtype=float)
        scores = scores + e_hi
        if np.isfinite(scores).any():
            return pool[int(np.argmax(scores))][1]
        return pool[int(rng.integers(n))][1]

    @staticmethod
    def _fit_targets(y: np.ndarray) -> np.ndarray:
        r"""The performances the model is fitted to: below the lower quartile raised to it
        (:math:`y_i \leftarrow \max(y_i, q_{0.25}(y))`, from 8 trainings on).

        A candidate far below the incumbent can never be proposed for its own value, so
        how far below it is carries no decision; a few very poor trainings (a diverged
        network) otherwise set the standardization and the length scales, and the model
        is coarse where the decisions are. Ranks above the quartile are untouched."""
        if _FLOOR_QUANTILE is None or len(y) < 8:
            return y
        return np.maximum(y, float(np.quantile(y, _FLOOR_QUANTILE)))

    def _acquisition(
        self, mu: np.ndarray, sd: np.ndarray, cost: Mapping[str, np.ndarray], inc: float
    ) -> np.ndarray:
        r"""The score a candidate is proposed by: :math:`\log \mathrm{EI}` of
        :math:`E_\beta` (:func:`~effobj.optuna._surrogate.log_expected_improvement`);
        :math:`-\infty` where no improvement is possible. Larger is better."""
        return log_expected_improvement(self.spec, mu, sd, cost, inc)

    def _optimistic_costs(
        self, registry: CostRegistry, encoder: Encoder, x: np.ndarray
    ) -> dict[str, np.ndarray] | None:
        """Costs two standard deviations below the cost model's mean (log scale)."""
        entries = [
            e for e in registry.entries().values()
            if all(k in e["costs"] for k in self._cost_names)
            and all(k in e["params"] for k in encoder.names)
        ]
        if len(entries) < 3:
            return None
        try:
            x_c = encoder.encode([e["params"] for e in entries])
        except (ValueError, KeyError):
            return None
        out = {}
        for name in self._cost_names:
            y = np.log(np.maximum([float(e["costs"][name]) for e in entries], 1e-300))
            m, s = LinearCostModel().fit(x_c, y).predict(x)
            out[name] = np.exp(m - _OPTIMISM_SD * s)
        return out


class _StudyState:
    """What the trials of a study say, read once per proposal."""

    def __init__(self) -> None:
        self.trained_params: list[dict[str, Any]] = []
        self.trained_perf: list[float] = []
        self.trained_e: list[float] = []
        self.pending_params: list[dict[str, Any]] = []
        self.excluded: set[str] = set()
        self.incumbent = 0.0
        self.n_trained = 0
        #: seconds of each completed training (what a look-up's price is measured against)
        self.train_times: list[float] = []
        self.encoder: Encoder

    @property
    def median_train_s(self) -> float | None:
        """The median completed training's seconds (``None`` before the first)."""
        return float(np.median(self.train_times)) if self.train_times else None

    @classmethod
    def read(
        cls, study: optuna.Study, sampler: EfficiencySampler, space: Mapping[str, BaseDistribution]
    ) -> _StudyState:
        st = cls()
        st.encoder = Encoder(space)
        trials = study.get_trials(deepcopy=False)
        # a finished trial's record does not change: parsed once per sampler (at 1,000
        # trials parsing them all again took a third of a proposal)
        cache: dict[tuple[Any, ...], TrialRecord] = sampler.__dict__.setdefault("_records", {})
        for t in trials:
            key = (study.study_name, t.number, t.datetime_start)
            rec = cache.get(key) if t.state.is_finished() else None
            if rec is None:
                rec = TrialRecord.from_user_attrs(t.user_attrs, ())
                if t.state.is_finished():
                    cache[key] = rec
            if (t.state == TrialState.COMPLETE and rec.status == Status.TRAINED
                    and rec.train_time_s is not None):
                st.train_times.append(float(rec.train_time_s))
            if not all(n in t.params for n in space):
                continue
            ident = rec.identity
            if ident is None:
                try:
                    ident = sampler._identity(dict(t.params))
                except (InputError, ValueError, KeyError):
                    continue
            if t.state in (TrialState.RUNNING, TrialState.WAITING):
                st.excluded.add(str(ident))
                if t.state == TrialState.RUNNING:
                    st.pending_params.append(dict(t.params))
                continue
            status = rec.status
            if status in _SETTLED:
                st.excluded.add(str(ident))
            perf = rec.perf
            if status in (Status.TRAINED, Status.REPEAT) and perf is not None \
                    and math.isfinite(perf):
                st.trained_params.append(dict(t.params))
                st.trained_perf.append(perf)
                st.trained_e.append(0.0 if rec.e_beta is None else rec.e_beta)
                if status == Status.TRAINED:
                    st.n_trained += 1
            elif status == Status.PRUNED and rec.trained is True:
                # a training stopped early is evidence, not a blank: the model sees it at
                # the final performance its curve predicted (below its target), or at
                # the last performance it reached when no prediction was recorded
                guess = rec.stop_prediction if rec.stop_prediction is not None else perf
                if guess is not None and math.isfinite(guess):
                    st.trained_params.append(dict(t.params))
                    st.trained_perf.append(float(guess))
                    st.trained_e.append(0.0)
                    st.n_trained += 1
        best = incumbent(t for t in trials if all(n in t.params for n in space))
        if best is not None:
            st.incumbent = best.e_beta
        return st

    def best_params(self, k: int) -> list[dict[str, Any]]:
        order = np.argsort(self.trained_e)[::-1][:k]
        return [self.trained_params[int(i)] for i in order if self.trained_e[int(i)] > 0.0]


def _one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread (``threadpoolctl``, installed with
    scikit-learn), or a no-op context without it.

    The model's matrices are at most a few thousand rows: on a loaded machine a second
    BLAS thread made a Gaussian-process fit ~20x slower, never faster (measured on a
    shared 2-core machine at load 8: 200 points 5.5 s against 0.24 s on one thread)."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - scikit-learn brings it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _random_params(space: Mapping[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, dist in space.items():
        out[name] = _random_value(dist, rng)
    return out


def _random_value(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            v = math.exp(rng.uniform(math.log(dist.low), math.log(dist.high + 1)))
            v = min(int(v), dist.high)
        else:
            steps = (dist.high - dist.low) // dist.step
            v = dist.low + dist.step * _uniform_index(steps + 1, rng)
        return int(v)
    if isinstance(dist, FloatDistribution):
        if dist.log:
            return float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
        if dist.step is not None:
            steps = int(round((dist.high - dist.low) / dist.step))
            return float(dist.low + dist.step * int(rng.integers(steps + 1)))
        return float(rng.uniform(dist.low, dist.high))
    raise InputError(f"EfficiencySampler cannot sample the distribution {dist!r}.")


def _uniform_index(n: int, rng: np.random.Generator) -> int:
    """A uniform integer in ``[0, n)`` for any ``n`` Optuna accepts: numpy's generator stops
    at int64, an ``IntDistribution(-2**62, 2**62)`` has more values (128 random bits,
    reduced modulo ``n``: a bias below ``n / 2**128``)."""
    if n <= 2**62:
        return int(rng.integers(n))
    return int.from_bytes(rng.bytes(16), "little") % n


def _nearby_value(dist: Any, value: Any, rng: np.random.Generator) -> Any:
    """A numeric value moved by a tenth of its range (log range where log), on its grid.

    ``dist`` is an ``IntDistribution`` or a ``FloatDistribution``.
    """
    from optuna.distributions import FloatDistribution, IntDistribution

    log = bool(getattr(dist, "log", False))
    lo, hi, v = float(dist.low), float(dist.high), float(value)
    if log:
        lo, hi, v = math.log(lo), math.log(hi), math.log(v)
    v = float(np.clip(v + rng.normal(0.0, 0.1) * (hi - lo), lo, hi))
    if log:
        v = math.exp(v)
    v = float(np.clip(v, dist.low, dist.high))
    if isinstance(dist, IntDistribution):
        step = dist.step if not dist.log else 1
        return int(min(dist.high, dist.low + step * round((v - dist.low) / step)))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        return float(min(dist.high, dist.low + dist.step * round((v - dist.low) / dist.step)))
    return v


def _neighbours(
    space: Mapping[str, BaseDistribution], params: Mapping[str, Any], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Every other choice of each categorical parameter; two nearby values of a numeric one."""
    out = []
    for name, dist in space.items():
        if name not in params:
            continue
        values = (
            [c for c in dist.choices if c != params[name]]
            if isinstance(dist, CategoricalDistribution)
            else [_nearby_value(dist, params[name], rng) for _ in range(2)]
        )
        for v in values:
            p = dict(params)
            p[name] = v
            out.append(p)
    return out
