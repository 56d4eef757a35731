"""``effobj demo``: the README's main job.

Scores the paper's Tables 1 and 2 from ``benchmarks/data/`` and checks every printed
value (the architecture-search demo replaces this once the search is in place).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run", "paper_tables"]

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"

#: (file, perf_ref, cost_ref, beta2 values, caption)
PAPER_TABLES = (
    ("paper_table1_kinetics400.csv", 83.1, 4218.0, (1.0,),
     "Table 1: Kinetics-400, normalized by 83.1 % top-1 and 4218 GFLOPs"),
    ("paper_table2_glue.csv", 78.3, 25.0, (0.5, 1.0, 100.0),
     "Table 2: GLUE, normalized by 78.3 % and 25 GFLOPs (the caption's '25 TFLOPs' is a typo)"),
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    return sub.add_parser("demo", help="the main job: score the paper's tables", description=__doc__)


def paper_tables(
    data_dir: Path = DATA,
) -> list[tuple[str, list[dict[str, Any]], list[tuple[str, str, str, str]], int]]:
    """Score both tables; returns ``(caption, rows, mismatches, values checked)`` per table.

    A mismatch is ``(model, column, printed, computed-at-printed-precision)``.
    """
    import csv

    from effobj.cli.score import score_rows

    out = []
    for fname, pref, cref, betas, caption in PAPER_TABLES:
        with open(data_dir / fname, newline="") as fh:
            records = list(csv.DictReader(fh))
        rows = score_rows(
            [r["name"] for r in records], [float(r["perf"]) for r in records],
            [float(r["cost"]) for r in records], perf_ref=pref, cost_ref=cref, beta2s=list(betas),
        )
        bad = []
        checked = 0
        for rec, row in zip(records, rows, strict=True):
            for key, printed in rec.items():
                if not key.startswith("printed_"):
                    continue
                col = {"printed_perf_per_cost": "perf/cost", "printed_a_per_c": "A/C"}.get(
                    key, key.removeprefix("printed_")
                )
                checked += 1
                decimals = len(printed.split(".")[1]) if "." in printed else 0
                got = f"{row[col]:.{decimals}f}"
                if got != printed:
                    bad.append((rec["name"], col, printed, got))
        out.append((caption, rows, bad, checked))
    return out


def run(args: argparse.Namespace) -> int:
    from effobj.cli._table import render

    status = 0
    for caption, rows, bad, n in paper_tables():
        print(f"\n{caption}\n")
        digits = {"perf": 1, "cost": 1, "perf/cost": 2, "A/C": 2}
        digits |= {k: 3 for k in rows[0] if k.startswith("e_beta@")}
        print(render(rows, "table", digits))
        if bad:
            status = 1
            for name, col, printed, got in bad:
                print(f"  MISMATCH {name} {col}: paper {printed}, effobj {got}")
        else:
            print(f"\n  every printed value reproduced ({n} values checked at the printed precision)")
    return status
