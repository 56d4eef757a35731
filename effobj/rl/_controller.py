r"""A REINFORCE controller over a search space's flat categorical encoding.

As in Zoph & Le (2017) and MnasNet (Tan et al. 2019), an autoregressive LSTM emits one
decision at a time: at step :math:`d` it reads the embedding of decision :math:`d-1`,
and a per-decision linear head gives the logits of decision :math:`d`. The policy
:math:`\pi_\theta(a) = \prod_d \pi_\theta(a_d \mid a_{<d})` is trained by

.. math::

    \theta \leftarrow \theta + \eta \Big(\frac{1}{B}\sum_{i=1}^{B}
        A_i \nabla_\theta \log \pi_\theta(a^{(i)})
        + \lambda_H \nabla_\theta H(\pi_\theta)\Big)

with advantages :math:`A_i` from :class:`~effobj.rl.MovingAverageBaseline` and an
entropy bonus :math:`\lambda_H` against early collapse (Adam as the optimizer).
``policy="factorized"`` uses one independent logit vector per decision instead (no
LSTM): cheaper, and enough when decisions barely interact.

:class:`Reinforce` has an ask/tell interface, so any evaluation loop (a table look-up,
an Optuna trial, a training run) can drive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from effobj._validation import check_choice, check_int, check_real, refusal
from effobj.errors import InputError
from effobj.rl._reward import MovingAverageBaseline

__all__ = ["Controller", "Reinforce"]


class Controller(nn.Module):
    """The policy: a distribution over index vectors, one index per decision.

    Args:
        choices: the number of choices of each decision (each >= 1).
        policy: ``"lstm"`` (autoregressive) or ``"factorized"`` (independent).
        hidden_size: LSTM width and embedding size.
        temperature: logits are divided by it (> 0).
        tanh_constant: if set, logits are ``c * tanh(logits / c)`` (Zoph & Le's 2.5),
            bounding how deterministic the policy can become.
    """

    def __init__(
        self,
        choices: Sequence[int],
        *,
        policy: str = "lstm",
        hidden_size: int = 64,
        temperature: float = 1.0,
        tanh_constant: float | None = 2.5,
    ) -> None:
        super().__init__()
        func = "Controller"
        sizes = [int(c) for c in choices]
        if not sizes or any(c < 1 for c in sizes):
            raise refusal("choices", func, "be a non-empty list of counts >= 1", repr(list(choices)))
        self.choices = sizes
        self.policy = check_choice(policy, "policy", func, ("lstm", "factorized"))
        self.temperature = check_real(temperature, "temperature", func, low=0.0, low_open=True)
        self.tanh_constant = check_real(tanh_constant, "tanh_constant", func, low=0.0, low_open=True,
                                        allow_none=True)
        if self.policy == "lstm":
            self.start = nn.Parameter(torch.zeros(1, hidden_size))
            self.cell = nn.LSTMCell(hidden_size, hidden_size)
            heads = [nn.Linear(hidden_size, c) for c in sizes]
            self.heads = nn.ModuleList(heads)
            self.embeds = nn.ModuleList(nn.Embedding(c, hidden_size) for c in sizes)
            for head in heads:  # start near uniform
                nn.init.zeros_(head.bias)
                nn.init.uniform_(head.weight, -0.01, 0.01)
        else:
            self.logits = nn.ParameterList(nn.Parameter(torch.zeros(c)) for c in sizes)

    def _shape(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits / self.tanh_constant)
        return logits

    def forward(
        self, n: int, actions: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample ``n`` index vectors, or score the given ``actions`` (shape ``(n, D)``).

        Returns:
            ``(actions, log_prob, entropy)`` of shapes ``(n, D)``, ``(n,)``, ``(n,)``.
        """
        out, logp, ent = [], torch.zeros(n), torch.zeros(n)
        if self.policy == "lstm":
            x = self.start.expand(n, -1)
            h = c = torch.zeros_like(x)
        for d, _size in enumerate(self.choices):
            if self.policy == "lstm":
                h, c = self.cell(x, (h, c))
                logits = self._shape(self.heads[d](h))
            else:
                logits = self._shape(self.logits[d]).expand(n, -1)
            log_p = torch.log_softmax(logits, dim=-1)
            if actions is None:
                a = torch.multinomial(log_p.detach().exp(), 1, generator=generator).squeeze(1)
            else:
                a = actions[:, d]
            out.append(a)
            logp = logp + log_p.gather(1, a[:, None]).squeeze(1)
            ent = ent - (log_p.exp() * log_p).sum(-1)
            if self.policy == "lstm":
                x = self.embeds[d](a)
        return torch.stack(out, dim=1), logp, ent

    @torch.no_grad()
    def greedy(self) -> list[int]:
        """The most likely decision at each step (given the previous greedy ones)."""
        acts: list[int] = []
        if self.policy == "factorized":
            return [int(lg.argmax()) for lg in self.logits]
        x = self.start
        h = c = torch.zeros_like(x)
        for d in range(len(self.choices)):
            h, c = self.cell(x, (h, c))
            a = int(self.heads[d](h).argmax())
            acts.append(a)
            x = self.embeds[d](torch.tensor([a]))
        return acts


class Reinforce:
    """REINFORCE with a moving-average baseline, in ask/tell form.

    Args:
        choices: the number of choices of each decision, e.g.
            ``[len(c) for _, c in space.encoding()]``.
        batch_size: architectures per policy update (>= 1).
        lr: Adam learning rate.
        entropy_weight: :math:`\\lambda_H \\ge 0`.
        baseline: the advantage estimator (default :class:`MovingAverageBaseline`).
        seed: seeds the policy's initialization and sampling.
        policy, hidden_size, temperature, tanh_constant: of the :class:`Controller`.

    Example:
        >>> agent = Reinforce([3, 2], batch_size=4, seed=0)
        >>> batch = agent.ask()
        >>> len(batch), all(0 <= a < 3 and 0 <= b < 2 for a, b in batch)
        (4, True)
        >>> stats = agent.tell([float(a == 2) for a, _ in batch])
        >>> sorted(stats)
        ['entropy', 'loss', 'mean_reward']
    """

    def __init__(
        self,
        choices: Sequence[int],
        *,
        batch_size: int = 8,
        lr: float = 0.01,
        entropy_weight: float = 1e-3,
        baseline: MovingAverageBaseline | None = None,
        seed: int = 0,
        policy: str = "lstm",
        hidden_size: int = 64,
        temperature: float = 1.0,
        tanh_constant: float | None = 2.5,
    ) -> None:
        func = "Reinforce"
        self.batch_size = check_int(batch_size, "batch_size", func, low=1)
        lr_ = check_real(lr, "lr", func, low=0.0, low_open=True)
        self.entropy_weight = check_real(entropy_weight, "entropy_weight", func, low=0.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.controller = Controller(choices, policy=policy, hidden_size=hidden_size,
                                         temperature=temperature, tanh_constant=tanh_constant)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr_)
        self.baseline = baseline if baseline is not None else MovingAverageBaseline()
        self._pending: torch.Tensor | None = None
        self.updates = 0

    def ask(self, n: int | None = None) -> list[list[int]]:
        """Sample ``n`` (default ``batch_size``) index vectors to evaluate next."""
        n = self.batch_size if n is None else int(n)
        with torch.no_grad():
            acts, _, _ = self.controller(n, generator=self.generator)
        self._pending = acts if self._pending is None else torch.cat([self._pending, acts])
        return acts.tolist()

    def tell(self, rewards: Sequence[float] | Any) -> dict[str, float]:
        """Update the policy with the rewards of every architecture asked since the last tell.

        Raises:
            InputError: nothing was asked, or not one reward per asked architecture.
        """
        if self._pending is None:
            raise InputError("Reinforce.tell was called before ask(): there is nothing to reward.")
        r = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if r.size != self._pending.shape[0]:
            raise refusal("rewards", "Reinforce.tell",
                          f"hold one reward per asked architecture ({self._pending.shape[0]})",
                          str(r.size))
        adv = torch.as_tensor(self.baseline(r), dtype=torch.float32)
        acts, self._pending = self._pending, None
        _, logp, ent = self.controller(acts.shape[0], actions=acts)
        loss = -(adv * logp).mean() - self.entropy_weight * ent.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        return {"loss": loss.item(), "mean_reward": float(r.mean()), "entropy": ent.mean().item()}
