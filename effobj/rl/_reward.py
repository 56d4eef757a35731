r"""Rewards for RL architecture search, and the baseline that turns them into advantages.

A reward function takes a candidate's raw performance (``None`` when it was not trained,
e.g. over budget) and its raw costs by indicator name, and returns a number; it also
works on numpy arrays of candidates (a tabular benchmark scored in one call).

REINFORCE (Williams 1992) climbs :math:`\nabla J = \mathbb{E}[(R - b)\nabla \log \pi(a)]`;
the baseline :math:`b` does not bias the gradient and reduces its variance.
:class:`MovingAverageBaseline` keeps :math:`b` as an exponential moving average of past
rewards (Zoph & Le 2017) and divides the advantage by a moving estimate of the rewards'
standard deviation, so the step size does not depend on the reward's scale (E_beta in
[0, 1], MnasNet's reward, a soft E_beta slightly below 0 are all treated alike).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from effobj._validation import check_choice, check_real, refusal
from effobj.errors import InputError
from effobj.spec import check_spec

__all__ = ["EBetaReward", "MnasNetReward", "MovingAverageBaseline", "RewardFn"]


class RewardFn(Protocol):
    """``reward(perf, costs) -> float`` (or an array for array inputs); higher is better."""

    def __call__(self, perf: Any, costs: Mapping[str, Any]) -> Any: ...


class EBetaReward:
    r"""The :math:`E_\beta` of a spec as a reward: hard (:meth:`EfficiencySpec.score`) or smooth.

    The smooth reward is :meth:`EfficiencySpec.soft_score`: equal to :math:`E_\beta` at least
    ``temperature`` inside every budget, and :math:`-\lambda \cdot \text{violation}` over a
    budget, so that over-budget candidates are ordered by how far over they are instead
    of all scoring 0 (the hard gate gives the policy no direction there).

    A candidate that was not trained (``perf is None``) must be over a budget: its hard
    reward is 0, its smooth reward the leak term (which does not depend on the
    performance once a budget is violated).

    Args:
        spec: the :class:`~effobj.EfficiencySpec`.
        smooth: use the smooth surrogate.
        temperature, leak: of the surrogate (see :func:`effobj.soft_e_beta`).

    Example:
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_max=5.0, cost_name="ms")
        >>> EBetaReward(spec)(0.9, {"ms": 8.0})                       # over budget
        0.0
        >>> round(EBetaReward(spec, smooth=True)(None, {"ms": 8.0}), 6)  # -tau * (0.8 - 0.5)
        -0.006
    """

    def __init__(
        self, spec: Any, *, smooth: bool = False, temperature: float = 0.02, leak: float | None = None
    ) -> None:
        self.spec = check_spec(spec, "spec", "EBetaReward")
        self.smooth = bool(smooth)
        self.temperature = check_real(temperature, "temperature", "EBetaReward", low=0.0, high=1.0,
                                      low_open=True)
        self.leak = check_real(leak, "leak", "EBetaReward", low=0.0, allow_none=True)

    def __call__(self, perf: Any, costs: Mapping[str, Any]) -> Any:
        spec = self.spec
        if perf is None:
            over = any(np.any(v > 0) for v in spec.cost_constraints(costs).values())
            if not over:
                raise InputError(
                    "The 'perf' parameter of EBetaReward may be None only for a candidate over "
                    f"a budget (not trained). Got None with costs {dict(costs)} inside every budget."
                )
            if not self.smooth:
                return 0.0
            perf = spec.perf_min if spec.perf_min is not None else 0.0
        if self.smooth:
            return spec.soft_score(perf, costs, temperature=self.temperature, leak=self.leak)
        return spec.score(perf, costs)

    def __repr__(self) -> str:
        return f"EBetaReward(smooth={self.smooth}, temperature={self.temperature}, leak={self.leak})"


class MnasNetReward:
    r"""MnasNet's reward :math:`\mathrm{ACC} \cdot (\mathrm{LAT}/T)^w` (see :func:`effobj.mnasnet_reward`).

    Args:
        cost_name: the cost indicator playing LAT.
        target: the target :math:`T`, same unit.
        perf_ref: performance is divided by it (ACC in [0, 1]).
        mode, w, alpha, beta: as :func:`effobj.mnasnet_reward` (``"soft"``: the paper's
            :math:`w = -0.07`; ``"hard"``: :math:`\alpha = 0, \beta = -1`).

    A candidate that was not trained (``perf is None``) earns 0.

    Example:
        >>> round(MnasNetReward("ms", 5.0)(0.9, {"ms": 10.0}), 4)   # 0.9 * 2 ** -0.07
        0.8574
    """

    def __init__(
        self, cost_name: str, target: float, *, perf_ref: float = 1.0, mode: str = "soft",
        w: float | None = None, alpha: float | None = None, beta: float | None = None,
    ) -> None:
        func = "MnasNetReward"
        self.cost_name = str(cost_name)
        self.target = check_real(target, "target", func, low=0.0, low_open=True)
        self.perf_ref = check_real(perf_ref, "perf_ref", func, low=0.0, low_open=True)
        self.mode = check_choice(mode, "mode", func, ("soft", "hard"))
        self.w, self.alpha, self.beta = w, alpha, beta

    def __call__(self, perf: Any, costs: Mapping[str, Any]) -> Any:
        from effobj.ratios import mnasnet_reward

        if perf is None:
            return 0.0
        if self.cost_name not in costs:
            raise InputError(
                f"The 'costs' given to MnasNetReward must include {self.cost_name!r}. "
                f"Got keys {sorted(costs)} instead."
            )
        acc = np.minimum(np.asarray(perf, dtype=np.float64) / self.perf_ref, 1.0)
        out = mnasnet_reward(acc, costs[self.cost_name], self.target, w=self.w, alpha=self.alpha,
                             beta=self.beta, mode=self.mode)
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        return f"MnasNetReward({self.cost_name!r}, target={self.target}, mode={self.mode!r})"


class MovingAverageBaseline:
    r"""Advantages :math:`(R - b)/s` from an exponential moving average baseline.

    .. math::

        A_i = \mathrm{clip}\Big(\frac{R_i - b_{t}}{\max(s_t, \epsilon)}, -k, k\Big), \quad
        b_{t+1} = \gamma b_t + (1-\gamma)\,\overline{R}, \quad
        s_{t+1}^2 = \gamma s_t^2 + (1-\gamma)\,\overline{(R - b_t)^2}

    The baseline used for a batch is the one from *before* the batch, so it does not
    depend on the batch's own actions (no bias). The first batch initializes
    :math:`b` and :math:`s` with its own mean and spread. Without ``normalize`` the
    advantage is :math:`R - b` (Zoph & Le's form).

    Args:
        decay: :math:`\gamma \in [0, 1)`.
        normalize: divide by the running standard deviation :math:`s`.
        clip: :math:`k > 0`, bound of the normalized advantage (a reward far from the
            recent ones, after a long run of equal rewards, cannot make one huge step).
        eps: :math:`\epsilon > 0`, floor of :math:`s`.

    Example:
        >>> bl = MovingAverageBaseline(decay=0.5)
        >>> bl([0.0, 1.0]).tolist()
        [-1.0, 1.0]
        >>> bl([1.0, 1.0]).tolist(), bl.mean
        ([1.0, 1.0], 0.75)
    """

    def __init__(
        self, *, decay: float = 0.9, normalize: bool = True, clip: float = 5.0, eps: float = 1e-6
    ) -> None:
        func = "MovingAverageBaseline"
        self.decay = check_real(decay, "decay", func, low=0.0, high=1.0, high_open=True)
        self.clip = check_real(clip, "clip", func, low=0.0, low_open=True)
        self.eps = check_real(eps, "eps", func, low=0.0, low_open=True)
        self.normalize = bool(normalize)
        self.mean: float | None = None
        self.var = 0.0

    def __call__(self, rewards: Any) -> np.ndarray:
        r = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if r.size == 0 or not np.all(np.isfinite(r)):
            raise refusal("rewards", "MovingAverageBaseline",
                          "be a non-empty sequence of finite numbers", repr(r.tolist()))
        if self.mean is None:
            self.mean = float(r.mean())
            self.var = float(r.var())
        adv = r - self.mean
        d = float(self.decay)
        var_new = float(np.mean(adv**2))
        self.mean = d * self.mean + (1 - d) * float(r.mean())
        if self.normalize:
            adv = np.clip(adv / max(math.sqrt(self.var), float(self.eps)), -self.clip, self.clip)
        self.var = d * self.var + (1 - d) * var_new
        return adv
