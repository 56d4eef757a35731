r"""E_beta as the reward of RL architecture search (REINFORCE, as in Zoph & Le and MnasNet).

Import explicitly (``import effobj.rl``): it imports torch.

- :class:`EBetaReward` (hard or smooth :math:`E_\beta` of a spec) and :class:`MnasNetReward`
  (MnasNet's :math:`\mathrm{ACC}\cdot(\mathrm{LAT}/T)^w`, the baseline it is compared with);
- :class:`MovingAverageBaseline`: advantages from a moving-average baseline, normalized;
- :class:`Controller` (an LSTM or factorized policy over a space's categorical encoding) and
  :class:`Reinforce` (ask/tell policy-gradient updates);
- :func:`reinforce_search` (any reward of index vectors, e.g. a benchmark table) and
  :func:`run_reinforce` (every sample recorded as a trial of an Optuna study, with the
  same records as ``effobj search``, so ``effobj best`` works on it).
"""

from __future__ import annotations

from effobj.rl._controller import Controller, Reinforce
from effobj.rl._reward import EBetaReward, MnasNetReward, MovingAverageBaseline, RewardFn
from effobj.rl._search import RLHistory, reinforce_search, run_reinforce

__all__ = [
    "Controller",
    "EBetaReward",
    "MnasNetReward",
    "MovingAverageBaseline",
    "RLHistory",
    "Reinforce",
    "RewardFn",
    "reinforce_search",
    "run_reinforce",
]
