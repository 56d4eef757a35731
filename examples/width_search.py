"""Width search under a FLOPs budget with the E_beta loss, on a CNN you own (MorphNet-style).

Run it from the repository root (a minute or two on 2 CPU cores)::

    .venv/bin/python examples/width_search.py                  # 0.3 x the full FLOPs
    .venv/bin/python examples/width_search.py --budget 0.5 --beta2 4

What happens, in four steps:

1. warm up: train your CNN with cross-entropy (100 steps), every channel on;
2. gate it: ``ChannelGates`` puts a 0/1 gate on every output channel (straight-through,
   so the FLOPs the loss sees are the hard network's own);
3. search: ``EBetaLoss.from_spec(spec)`` with its defaults on (accuracy proxy, FLOPs):
   over the budget it pushes the FLOPs back with a fixed force, inside it trades
   accuracy against FLOPs as E_beta does;
4. derive and fine-tune: ``gates.derive(budget)`` returns the slimmed network with its
   FLOPs measured by ``FlopCounterMode``; a short cross-entropy fine-tune follows.

No knob of the loss is set: the budget is the only input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

import torch
from sklearn.datasets import load_digits
from torch import nn

from effobj import EfficiencySpec
from effobj.cost_models import ChannelGates
from effobj.nn import EBetaLoss, true_class_probability

# the data: digits as 1x8x8 images; train / validation / test
X, y = load_digits(return_X_y=True)
images = torch.tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
labels = torch.tensor(y)
perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
images, labels = images[perm], labels[perm]
x_train, y_train = images[:1100], labels[:1100]
x_val, y_val = images[1100:1450], labels[1100:1450]
x_test, y_test = images[1450:], labels[1450:]


def my_cnn() -> nn.Module:
    """Your model: a chain of conv / batch-norm / ReLU layers and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(64, 10),
    )


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(model: nn.Module, steps: int, loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
          params: Iterable[torch.nn.Parameter], seed: int, lr: float = 3e-3) -> None:
    """``steps`` Adam steps of ``loss_of(logits, labels)`` on batches of 64."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    for _ in range(steps):
        i = torch.randint(0, len(x_train), (64,), generator=gen)
        loss = loss_of(model(x_train[i]), y_train[i])
        opt.zero_grad()
        loss.backward()
        opt.step()


def width_search(budget_fraction: float, beta2: float, steps: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = my_cnn()
    ce = nn.functional.cross_entropy
    train(model, 100, ce, model.parameters(), seed)                       # 1. warm-up
    warm_accuracy = accuracy(model, x_val, y_val)

    gates = ChannelGates(model, x_train[:1])                              # 2. gates
    budget = budget_fraction * gates.full_flops
    spec = EfficiencySpec.for_budget(budget, beta2=beta2, cost_name="flops")
    loss_fn = EBetaLoss.from_spec(spec)                                   # 3. the loss
    weights = torch.optim.Adam(model.parameters(), lr=3e-3)
    logits = torch.optim.Adam(gates.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(seed + 1)
    model.train()
    for step in range(steps):
        gates.anneal(step / steps)  # soft gates early, the hard network by the end
        i = torch.randint(0, len(x_train), (64,), generator=gen)
        perf = true_class_probability(model(x_train[i]), y_train[i])
        loss = loss_fn(perf, gates.flops())
        weights.zero_grad()
        logits.zero_grad()
        loss.backward()
        weights.step()
        logits.step()

    hard = gates.derive(budget)                                           # 4. derive
    gates.remove()
    train(hard.model, steps // 2, ce, hard.model.parameters(), seed + 2, lr=1e-3)
    return {"warm_accuracy": warm_accuracy, "budget": budget, "flops": hard.flops, "hard_flops": hard.hard_flops,
            "within_budget": hard.within_budget, "projected": hard.projected,
            "widths": hard.widths, "val_accuracy": accuracy(hard.model, x_val, y_val),
            "test_accuracy": accuracy(hard.model, x_test, y_test)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=0.3, help="FLOPs budget as a fraction of the full model")
    p.add_argument("--beta2", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=300, help="search steps (the fine-tune is half)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    r = width_search(args.budget, args.beta2, args.steps, args.seed)
    print(f"warm-up accuracy {r['warm_accuracy']:.3f}; budget {r['budget']:.0f} FLOPs")
    print(f"derived: {r['flops']:.0f} FLOPs ({r['flops'] / r['budget']:.2f} x budget, "
          f"{'within' if r['within_budget'] else 'OVER'} budget, {r['projected']} channels projected)")
    print(f"widths {r['widths']}")
    print(f"accuracy: validation {r['val_accuracy']:.3f}, test {r['test_accuracy']:.3f}")


if __name__ == "__main__":
    main()
