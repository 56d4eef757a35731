"""Searching a space with :class:`~effobj.rl.Reinforce`: a plain loop, and Optuna-recorded runs.

:func:`reinforce_search` drives the controller with any function of index vectors
(fast: a tabular benchmark is scored in one numpy call per batch). :func:`run_reinforce`
evaluates every sample through the same :class:`~effobj.optuna.EfficiencyObjective` as
``effobj search`` and records it as a trial of the given study, so ``effobj best``,
re-ranking and the plots treat RL samples exactly like sampler trials.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from effobj._validation import check_int, refusal
from effobj.errors import InputError, InputTypeError
from effobj.rl._controller import Reinforce
from effobj.rl._reward import EBetaReward

__all__ = ["RLHistory", "reinforce_search", "run_reinforce"]

#: user_attrs set on every trial a controller records
METHOD_ATTR = "effobj_method"
SAMPLE_ATTR = "effobj_rl_sample"


@dataclass
class RLHistory:
    """What a REINFORCE run did, sample by sample.

    Attributes:
        actions: the index vector of each sample, in order.
        rewards: the reward of each sample.
        trial_numbers: the Optuna trial of each sample (:func:`run_reinforce` only).
        greedy: the controller's most likely architecture at the end.
        elapsed_s: wall time of the run.
    """

    actions: list[list[int]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    trial_numbers: list[int] = field(default_factory=list)
    greedy: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0

    def best_so_far(self) -> np.ndarray:
        """Running maximum of the rewards."""
        return np.maximum.accumulate(np.asarray(self.rewards, dtype=np.float64))


def reinforce_search(
    choices: Sequence[int],
    reward: Callable[[np.ndarray], Any],
    n_samples: int,
    *,
    seed: int = 0,
    **kwargs: Any,
) -> RLHistory:
    """Run REINFORCE for ``n_samples`` architectures against ``reward(actions) -> rewards``.

    Args:
        choices: the number of choices of each decision.
        reward: called with an integer array ``(batch, D)`` of index vectors; returns one
            finite reward per row.
        n_samples: architectures to sample in total (the last batch may be cut short).
        seed: seeds the controller.
        **kwargs: passed to :class:`Reinforce` (``batch_size``, ``lr``, ``policy``, ...).

    Returns:
        The :class:`RLHistory`.

    Example:
        >>> h = reinforce_search([4, 4], lambda a: (a == 3).sum(1) / 2.0, 200, seed=0, lr=0.05)
        >>> h.rewards[-8:].count(1.0) >= 4                # learned to pick 3, 3
        True
    """
    n = check_int(n_samples, "n_samples", "reinforce_search", low=1)
    agent = Reinforce(choices, seed=seed, **kwargs)
    hist = RLHistory()
    t0 = time.perf_counter()
    while len(hist.rewards) < n:
        batch = agent.ask(min(agent.batch_size, n - len(hist.rewards)))
        r = np.asarray(reward(np.asarray(batch, dtype=np.int64)), dtype=np.float64).reshape(-1)
        if r.size != len(batch) or not np.all(np.isfinite(r)):
            raise InputError(
                "The 'reward' parameter of reinforce_search must return one finite reward per "
                f"architecture ({len(batch)}). Got {r.tolist()!r} instead."
            )
        agent.tell(r)
        hist.actions.extend(batch)
        hist.rewards.extend(r.tolist())
    hist.greedy = agent.controller.greedy()
    hist.elapsed_s = time.perf_counter() - t0
    return hist


def run_reinforce(
    space: Any,
    spec: Any,
    *,
    study: Any,
    n_samples: int,
    seed: int = 0,
    reward: str | Callable[[Any, Mapping[str, Any]], Any] = "e_beta",
    data: Any = None,
    dataset: str | None = None,
    profiler: Any = None,
    temperature: float = 0.02,
    objective_kwargs: Mapping[str, Any] | None = None,
    show_progress: bool = False,
    **kwargs: Any,
) -> RLHistory:
    """Search ``space`` with REINFORCE, recording every sample as a trial of ``study``.

    Each sampled index vector is decoded (``space.decode``), enqueued in the study with
    its config and evaluated by ``effobj.optuna.objective_from_space(spec, space, ...)``
    through ``study.optimize(..., n_trials=1)``: the trial gets the same params,
    user_attrs (``perf``, ``A``, ``C``, ``e_beta``, ``trained``, each cost indicator...),
    constraints and states as a sampler's trial, plus ``user_attrs["effobj_method"] =
    "reinforce"`` and ``"effobj_rl_sample"`` (its sample number). Its reward is computed
    from the recorded trial. Over-budget candidates are not trained (as in every effobj
    study); hopeless-candidate skipping is off by default, since a skipped candidate has
    no reward (pass ``objective_kwargs={"skip_hopeless": True}`` to turn it on: a
    hopeless trial then earns the reward of its upper bound, which is below the incumbent).
    An index vector that the space rejects (e.g. the all-``skip`` cell of NAS-Bench-Graph)
    earns the lowest reward seen so far and is not recorded. A trial that FAILs earns the
    same. If the study holds older WAITING trials, Optuna runs those first; the reward
    goes to the architecture that was really evaluated.

    Args:
        space: a ``effobj.spaces`` space object with ``encoding()`` and ``decode()`` (a
            name is resolved by the caller, e.g. ``effobj.spaces.get(name)``).
        spec: the :class:`~effobj.EfficiencySpec`.
        study: an Optuna study, e.g. from :func:`effobj.optuna.create_study` (its mode,
            single or multi, is respected).
        n_samples: trials to record.
        seed: seeds the controller and the training runs.
        reward: ``"e_beta"`` (hard), ``"soft_e_beta"`` (smooth, orders over-budget
            candidates by their violation), or ``reward(perf, costs) -> float`` (e.g.
            :class:`~effobj.rl.MnasNetReward`); ``perf`` is ``None`` for an untrained
            over-budget candidate.
        data, dataset, profiler: for a model space, as in ``objective_from_space``.
        temperature: of the ``"soft_e_beta"`` reward.
        objective_kwargs: more arguments of the objective.
        show_progress: print one line per policy update.
        **kwargs: passed to :class:`~effobj.rl.Reinforce` (``batch_size``, ``lr``,
            ``policy``, ``entropy_weight``, ...).

    Returns:
        The :class:`RLHistory` (with the trial number of each sample).

    Raises:
        InputError: a bad argument, or a space without an encoding.
    """
    import optuna

    from effobj.optuna import objective_from_space
    from effobj.record import STUDY_MODE, Status, TrialRecord

    func = "run_reinforce"
    n = check_int(n_samples, "n_samples", func, low=1)
    if not callable(getattr(space, "encoding", None)) or not callable(getattr(space, "decode", None)):
        raise refusal("space", func, "have encoding() and decode() (the effobj.spaces protocol)",
                      type(space).__name__, error=InputTypeError)
    if reward == "e_beta":
        reward_fn: Callable[[Any, Mapping[str, Any]], Any] = EBetaReward(spec)
    elif reward == "soft_e_beta":
        reward_fn = EBetaReward(spec, smooth=True, temperature=temperature)
    elif callable(reward):
        reward_fn = reward
    else:
        raise refusal("reward", func, "be 'e_beta', 'soft_e_beta' or a callable", repr(reward))
    okw = {"skip_hopeless": False, "mode": study.user_attrs.get(STUDY_MODE, "single")}
    okw.update(objective_kwargs or {})
    objective = objective_from_space(spec, space, data=data, dataset=dataset, seed=seed,
                                     profiler=profiler, **okw)
    encoding = space.encoding()
    agent = Reinforce([len(c) for _, c in encoding], seed=seed, **kwargs)
    hist = RLHistory()
    done: list[Any] = []

    def capture(_study: Any, trial: Any) -> None:
        done.append(trial)

    def trial_reward(t: Any) -> float | None:
        if t.state != optuna.trial.TrialState.COMPLETE and t.state != optuna.trial.TrialState.PRUNED:
            return None
        rec = TrialRecord.from_user_attrs(t.user_attrs, spec.cost_names)
        if rec.status == Status.HOPELESS and rec.upper_bound is not None:
            return rec.upper_bound
        if len(rec.costs) != len(spec.cost_names):
            return None
        return float(reward_fn(rec.perf, dict(rec.costs)))

    t0 = time.perf_counter()
    worst = 0.0
    attempts = 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    while len(hist.trial_numbers) < n:
        batch = agent.ask(min(agent.batch_size, n - len(hist.trial_numbers)))
        rewards: list[float | None] = []
        for acts in batch:
            attempts += 1
            if attempts > 20 * n:
                raise InputError(
                    f"{func} drew {attempts} index vectors but the space accepted fewer than "
                    f"{n}; is the space's encoding consistent with decode()?"
                )
            try:
                config = space.decode(acts)
            except InputError:
                rewards.append(None)
                continue
            study.enqueue_trial(dict(config), user_attrs={METHOD_ATTR: "reinforce",
                                                    SAMPLE_ATTR: len(hist.trial_numbers)})
            done.clear()
            study.optimize(objective, n_trials=1, callbacks=[capture])
            t = done[-1]
            r = trial_reward(t)
            if r is not None:
                worst = min(worst, r)
            rewards.append(r)
            hist.trial_numbers.append(t.number)
        filled = [worst if r is None else r for r in rewards]
        agent.tell(filled)
        hist.actions.extend(batch)
        hist.rewards.extend(filled)
        if show_progress:
            print(f"reinforce: {len(hist.trial_numbers)}/{n} trials, batch mean reward "
                  f"{np.mean(filled):.4f}, best {max(hist.rewards):.4f}", flush=True)
    hist.greedy = agent.controller.greedy()
    hist.elapsed_s = time.perf_counter() - t0
    return hist
