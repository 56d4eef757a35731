"""Your own model in an effobj search: a small CNN on scikit-learn's digits, a latency budget.

Run it from the repository root (about a minute)::

    .venv/bin/python examples/own_model.py
    .venv/bin/python examples/own_model.py --trials 3 --steps 20   # a quick look

effobj needs two functions from you:

- ``build(trial) -> model``: suggest the hyper-parameters with ``trial.suggest_*`` and
  return the *untrained* model. effobj profiles it (latency, MACs, memory) before any
  training, so a model over the budget is never trained.
- ``evaluate(model, trial) -> perf``: train it and return its performance (higher is
  better, in the unit of ``perf_ref``). Only candidates that fit the budget and can still
  beat the best so far get here.

The study is stored in ``own_model.db``: run the same command again and it resumes (up
to ``--trials`` finished trials, the study's size).
"""

from __future__ import annotations

import argparse

import optuna
import torch
from sklearn.datasets import load_digits
from torch import nn

from effobj import EfficiencySpec
from effobj.optuna import EfficiencyObjective, optimize
from effobj.profiler import LocalProfiler
from effobj.rerank import best_trials

# the data: 1797 digits as 1x8x8 images, a fixed train/validation split
X, y = load_digits(return_X_y=True)
images = torch.tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
labels = torch.tensor(y)
x_train, y_train, x_val, y_val = images[:1400], labels[:1400], images[1400:], labels[1400:]
STEPS = 200  # training steps per candidate (--steps)


def build(trial: optuna.trial.Trial) -> nn.Module:
    """The candidate: a CNN of 1-3 conv layers, its width, and (used in evaluate) its lr."""
    width = trial.suggest_categorical("width", [8, 16, 32, 64])
    depth = trial.suggest_int("depth", 1, 3)
    trial.suggest_float("lr", 3e-3, 3e-2, log=True)
    layers: list[nn.Module] = []
    channels = 1
    for _ in range(depth):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 8 * 8, 10))


def evaluate(model: nn.Module, trial: optuna.trial.Trial) -> float:
    """Train the candidate for STEPS mini-batches; its validation accuracy."""
    torch.manual_seed(trial.number)
    opt = torch.optim.Adam(model.parameters(), lr=trial.params["lr"])
    model.train()
    for _ in range(STEPS):
        i = torch.randint(0, len(x_train), (32,))
        loss = nn.functional.cross_entropy(model(x_train[i]), y_train[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(x_val).argmax(1) == y_val).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    global STEPS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30, help="the study's size (default 30)")
    p.add_argument("--steps", type=int, default=STEPS, help="training steps per candidate")
    p.add_argument("--budget-ms", type=float, default=0.1,
                   help="latency budget in ms at batch 1, one thread (default 0.1)")
    p.add_argument("--storage", default="sqlite:///own_model.db")
    args = p.parse_args(argv)
    STEPS = args.steps

    # one budget: cost_max = budget, cost_ref = 2 x budget (a model at the budget scores > 0)
    spec = EfficiencySpec.for_budget(args.budget_ms, beta2=1.0, perf_ref=1.0, perf_min=0.8,
                                     cost_name="latency_ms")
    objective = EfficiencyObjective(
        spec,
        build=build,
        evaluate=evaluate,
        example_inputs=torch.randn(1, 1, 8, 8),  # what forward() takes, for the profiler
        profiler=LocalProfiler(threads=1, max_time_s=0.2),  # measure as you deploy
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = objective.create_study(storage=args.storage, study_name="own-cnn")
    print(optimize(study, objective, args.trials))
    for t in best_trials(study, spec, top=3):
        print(f"#{t.rank}: trial {t.number}  E_beta {t.e_beta:.3f}  accuracy {t.perf:.3f}  "
              f"latency {t.costs['latency_ms']:.3f} ms  {t.params}")


if __name__ == "__main__":
    main()
