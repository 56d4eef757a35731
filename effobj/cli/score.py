"""``effobj score``: score a CSV table of models with E_beta and the comparison metrics.

    effobj score models.csv --perf-ref 83.1 --cost-ref 4218 --beta2 1 [--beta2 0.5 ...]
                 [--perf-min X] [--cost-max Y] [--format table|csv|json]

Output columns: name, perf, cost, A, C, ``perf/cost`` (the paper's accuracy-to-compute
ratio), ``A/C`` (normalized performance over normalized cost), ``feasible`` and one
``e_beta@B`` per beta^2 given.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "score",
        help="score a CSV of models (name,perf,cost) with E_beta",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="CSV file with a header line")
    p.add_argument("--perf-ref", type=float, required=True, help="reference performance (A = perf / perf_ref)")
    p.add_argument("--cost-ref", type=float, required=True, help="reference cost: the largest acceptable (C = cost / cost_ref)")
    p.add_argument("--beta2", type=float, action="append", help="beta^2 (repeat for several; default 1)")
    p.add_argument("--perf-min", type=float, default=None, help="minimum acceptable performance, raw units")
    p.add_argument("--cost-max", type=float, default=None, help="cost budget, raw units (<= --cost-ref)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--name-col", default="name")
    p.add_argument("--perf-col", default="perf")
    p.add_argument("--cost-col", default="cost")
    return p


def run(args: argparse.Namespace) -> int:
    from effobj._validation import refusal
    from effobj.cli._table import read_models, render
    from effobj.score_table import score_label, score_rows

    if args.perf_col == args.cost_col:
        raise refusal("--cost-col", "effobj score", "name another column than '--perf-col'",
                      f"{args.cost_col!r} for both")
    if args.name_col in (args.perf_col, args.cost_col):
        raise refusal("--name-col", "effobj score",
                      "name another column than '--perf-col' and '--cost-col'", repr(args.name_col))
    names, cols = read_models(args.file, name_col=args.name_col,
                              numeric_cols=[args.perf_col, args.cost_col], low=0.0)
    beta2s = args.beta2 or [1.0]
    rows = score_rows(
        names, cols[args.perf_col], cols[args.cost_col],
        perf_ref=args.perf_ref, cost_ref=args.cost_ref, beta2s=beta2s,
        perf_min=args.perf_min, cost_max=args.cost_max,
    )
    digits = {"perf": 1, "cost": 1, "perf/cost": 2, "A/C": 2} | {score_label(b): 3 for b in beta2s}
    print(render(rows, args.format, digits))
    return 0
