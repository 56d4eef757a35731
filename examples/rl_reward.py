"""E_beta as the reward of RL architecture search: REINFORCE on NAS-Bench-Graph (cora).

Run it from the repository root (well under a minute)::

    .venv/bin/python examples/rl_reward.py
    .venv/bin/python examples/rl_reward.py --budget 0.3 --beta2 4 --samples 500

The table holds 26,206 GNN architectures with their measured latency and their
validation and test accuracy, so each "training" is a look-up. One controller (an LSTM
policy over the space's choices, REINFORCE with a moving-average baseline) is run with
three rewards on the same budget T (a fraction of the latency range):

- ``EBetaReward(spec)``: :math:`E_\\beta` of the spec, 0 over the budget (its default is
  the hard metric). Inside the budget it trades accuracy against latency at the rate
  :math:`\\beta^2` sets, from the cost's own scale (cost_ref = 2 T with ``for_budget``).
- MnasNet's soft reward :math:`\\mathrm{ACC} \\cdot (\\mathrm{LAT}/T)^{-0.07}`: never 0,
  so an over-budget architecture can win when its accuracy is high enough; its exponent
  is the paper's, tuned for ImageNet latencies.
- TuNAS's absolute reward :math:`\\mathrm{ACC} - 0.07\\,|\\mathrm{LAT}/T - 1|`: pulls
  towards T from both sides (a cheaper model is penalized as much as a slower one), so
  it lands near the target without tuning, but not below it by construction.

Each line reports the controller's final (greedy) architecture: measured latency,
within the budget or not, and test accuracy; and the best sampled architecture within
the budget by validation accuracy.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import effobj.spaces
from effobj import EfficiencySpec
from effobj.errors import InputError
from effobj.rl import EBetaReward, MnasNetReward, reinforce_search


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=0.5, help="budget as a fraction of the latency range")
    p.add_argument("--beta2", type=float, default=1.0)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    space = effobj.spaces.get("nas-bench-graph:cora")
    arr = space.arrays()
    lat = arr["latency"]
    budget = float(lat.min() + args.budget * (lat.max() - lat.min()))
    spec = EfficiencySpec.for_budget(budget, beta2=args.beta2, perf_ref=1.0, cost_name="latency")
    choices = [len(c) for _, c in space.encoding()]

    def record(idx: list[int]) -> dict[str, float] | None:
        try:
            return space.lookup(space.decode(idx))
        except InputError:  # an index vector outside the benchmark (all skip)
            return None

    rewards = {
        "E_beta (default)": EBetaReward(spec),
        "MnasNet soft": MnasNetReward("latency", budget),
        "TuNAS absolute": lambda perf, costs: perf - 0.07 * np.abs(costs["latency"] / budget - 1.0),
    }
    print(f"budget {budget * 1e3:.3f} ms ({args.budget} of the range), beta2 = {args.beta2}")
    for name, fn in rewards.items():
        def reward(batch: np.ndarray, fn: Any = fn) -> np.ndarray:
            out = []
            for idx in batch.tolist():
                r = record(idx)
                out.append(0.0 if r is None else float(fn(r["perf"], {"latency": r["latency"]})))
            return np.asarray(out)

        h = reinforce_search(choices, reward, args.samples, seed=args.seed, batch_size=16, lr=0.02)
        final = record(h.greedy)
        seen = [r for r in map(record, h.actions) if r is not None and r["latency"] <= budget]
        best = max(seen, key=lambda r: r["perf"]) if seen else None
        if final is None:
            print(f"{name}: final architecture outside the table")
            continue
        within = "within" if final["latency"] <= budget else "OVER"
        line = (f"{name}: final {final['latency'] * 1e3:.3f} ms ({within} budget, "
                f"{final['latency'] / budget:.2f} x), test accuracy {final['test_perf']:.3f}")
        if best is not None:
            line += f"; best sampled within budget: test accuracy {best['test_perf']:.3f}"
        print(line)


if __name__ == "__main__":
    main()
