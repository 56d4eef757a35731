"""Operator search on the supernet under a measured latency budget, with the E_beta loss.

Run it from the repository root (a few minutes on 2 CPU cores)::

    .venv/bin/python examples/operator_search.py                  # budget at 0.5 of the range
    .venv/bin/python examples/operator_search.py --budget 0.3 --beta2 4

What happens:

1. a latency table: every candidate operation of every layer of the ``supernet`` space
   is timed on this machine (batch 1, one thread), and the table's sums are calibrated
   against end-to-end measurements of a few whole networks;
2. the budget: a fraction of the range between the fastest and the slowest architecture
   the calibrated table predicts, in milliseconds;
3. the search: ``gradient_search`` trains the supernet's weights and its architecture
   weights, the latter with ``EBetaLoss`` at its defaults on (accuracy proxy, expected
   latency from the table);
4. the hard model: the argmax operation of each layer, built as a plain network and
   measured end to end; if it is over the budget, operations are switched to cheaper
   ones until the measurement meets it (the repair, counted). It is then retrained.

No knob of the loss is set: the budget is the only input.
"""

from __future__ import annotations

import argparse

import torch

import effobj.spaces
from effobj.apps import gradient_search
from effobj.cost_models import TABLE_PROFILE, build_latency_table, check_table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=0.5,
                   help="latency budget as a fraction of the fastest-to-slowest range")
    p.add_argument("--beta2", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=2, help="search epochs after one warm-up epoch")
    p.add_argument("--steps", type=int, default=8, help="batches per search epoch")
    p.add_argument("--retrain", type=int, default=5, help="epochs retraining the final network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--measure-s", type=float, default=0.5,
                   help="seconds per latency measurement (table entries and whole networks)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    measure = TABLE_PROFILE.replace(threads=1, max_time_s=args.measure_s)

    space = effobj.spaces.get("supernet")
    data = effobj.spaces.load_dataset("digits", layout="image")
    table = build_latency_table(space, data=data, options=measure)    # 1. measured table
    scale = check_table(table, space, n=4, seed=args.seed, data=data, options=measure).scale
    fastest = scale * (table.fixed() + sum(min(v) for v in table.vectors()))
    slowest = scale * (table.fixed() + sum(max(v) for v in table.vectors()))
    budget_ms = fastest + args.budget * (slowest - fastest)          # 2. the budget

    r = gradient_search(budget_ms=budget_ms, beta2=args.beta2,       # 3. search, 4. derive
                        table=table, space=space, data=data, scale=scale,
                        epochs=args.epochs, max_steps_per_epoch=args.steps,
                        retrain_epochs=args.retrain, seed=args.seed,
                        profile_max_time_s=args.measure_s)
    print(f"budget {budget_ms:.3f} ms (fastest {fastest:.3f}, slowest {slowest:.3f} ms)")
    ops = [r.config[f"op_{i}"] for i in range(1, 6)]
    print(f"derived {r.derived_ops}: {r.derived_measured_ms:.3f} ms measured")
    print(f"final {ops}: {r.measured_ms:.3f} ms measured ({r.measured_ms / budget_ms:.2f} x budget, "
          f"{'within' if r.meets_budget else 'OVER'} budget, {len(r.repairs)} repairs)")
    print(f"accuracy: validation {r.val_accuracy:.3f}, test {r.test_accuracy:.3f}")


if __name__ == "__main__":
    main()
