"""The demo's pieces: its spec, its space, its leaderboard, and the paper's tables.

``effobj demo`` (:mod:`effobj.cli.demo`) searches the ``mobilenet`` space on digits under
:data:`DEMO_SPEC` with these; ``effobj demo --paper-tables`` scores the paper's Tables 1
and 2 (shipped with the package, in ``effobj/apps/data/``) and checks every printed value.
"""

from __future__ import annotations

import csv
import io
import math
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

__all__ = [
    "DEMO_BETA2_ACCURACY",
    "DEMO_SPEC",
    "PAPER_TABLES",
    "demo_space",
    "demo_spec",
    "leaderboard",
    "paper_table_file",
    "paper_table_records",
    "paper_tables",
]

#: the demo's spec, as EfficiencySpec keyword arguments. The budget binds: 150k MACs
#: (``--budget`` style, the reference twice it) lets through about one random candidate in
#: twenty of the space (its MACs range over 0.1-5 M, median 0.7 M), and within it the
#: cost of a 70k-MACs CNN (C ~ 0.25) weighs as much as a few points of accuracy. Whether
#: the winner changes between beta^2 = 1 and 16 depends on what the run trained: in two
#: runs on a loaded machine the cheapest trained CNN (30k MACs) was also the most
#: accurate, and won at both.
DEMO_SPEC: dict[str, Any] = {
    "beta2": 1.0,
    "perf_ref": 1.0,
    "perf_min": 0.9,
    "cost_ref": 3.0e5,
    "cost_max": 1.5e5,
    "cost_name": "macs",
}
#: the second beta^2 the demo re-ranks its study for (accuracy first)
DEMO_BETA2_ACCURACY = 16.0

#: (file, perf_ref, cost_ref, beta2 values, caption)
PAPER_TABLES = (
    ("paper_table1_kinetics400.csv", 83.1, 4218.0, (1.0,),
     "Table 1: Kinetics-400, normalized by 83.1 % top-1 and 4218 GFLOPs"),
    ("paper_table2_glue.csv", 78.3, 25.0, (0.5, 1.0, 100.0),
     "Table 2: GLUE, normalized by 78.3 % and 25 GFLOPs (the caption's '25 TFLOPs' is a typo)"),
)


def demo_spec(beta2: float = 1.0) -> Any:
    """The demo's :class:`~effobj.EfficiencySpec` (MACs budget, accuracy floor)."""
    from effobj.spec import EfficiencySpec

    return EfficiencySpec(**(DEMO_SPEC | {"beta2": beta2}))


def demo_space() -> Any:
    """The ``mobilenet`` space with a training recipe that trains a digits CNN in seconds.

    The architecture parameters are those of ``effobj.spaces.get("mobilenet")``; the
    training hyper-parameters are narrowed to what converges in 3-5 epochs on digits
    (Adam/AdamW, learning rate 2e-3..2e-2, batch 32 or 64), so that a demo on a 2-core
    machine spends its minutes comparing architectures, not diverging runs.
    """
    from effobj.spaces import Categorical, Float, Int, MobileNetSpace

    train_keys = {"lr", "weight_decay", "batch_size", "epochs", "optimizer"}

    class DemoMobileNetSpace(MobileNetSpace):
        params = (
            *(p for p in MobileNetSpace.params if p.key not in train_keys),
            Float("lr", 2e-3, 2e-2, (2e-3, 5e-3, 1e-2, 2e-2), log=True),
            Float("weight_decay", 1e-6, 1e-3, (1e-6, 1e-5, 1e-4, 1e-3), log=True),
            Categorical("batch_size", (32, 64)),
            Int("epochs", 3, 5),
            Categorical("optimizer", ("adam", "adamw")),
        )

    return DemoMobileNetSpace()


def leaderboard(study: Any, spec: Any, *, top: int = 10) -> list[dict[str, Any]]:
    """The demo's leaderboard rows: rank, E_beta, accuracy, latency, MACs, n_params, trained, why.

    Trained trials come first, by E_beta under ``spec`` (feasible ones ranked), then
    the best-bounded untrained ones with the reason they were skipped.
    """
    from effobj.report import collect, leaderboard_rows

    data = collect(study, spec)
    out = []
    for r in leaderboard_rows(data, top=top):
        lat = r.get("latency_ms")
        out.append({
            "rank": "-" if r["rank"] is None else r["rank"],
            "trial": r["trial"],
            "E_beta": "-" if r["e_beta"] is None else round(float(r["e_beta"]), 4),
            "accuracy": "-" if r["perf"] is None or not math.isfinite(r["perf"])
            else round(float(r["perf"]), 4),
            "latency_ms": "-" if lat is None else round(float(lat), 3),
            "MACs": int(r["macs"]) if r.get("macs") is not None else "-",
            "n_params": int(r["n_params"]) if r.get("n_params") is not None else "-",
            "trained": "yes" if r["trained"] else "no",
            "why": r["why"] or "",
        })
    return out


def winners_at(study: Any, spec: Any, beta2s: tuple[float, ...]) -> list[dict[str, Any]]:
    """The winner of ``study`` re-ranked under ``spec`` at each ``beta2`` (no new trial):
    ``{"beta2", "trial", "E_beta", "accuracy", "MACs"}``, or ``trial`` None when no
    trained trial is feasible."""
    from effobj.rerank import rerank, trial_table

    table = trial_table(study, spec.cost_names)
    out = []
    for b2 in beta2s:
        best = rerank(table, spec.replace(beta2=b2)).best
        out.append({"beta2": b2, "trial": None if best is None else best.number,
                    "E_beta": None if best is None else round(best.e_beta, 4),
                    "accuracy": None if best is None else round(best.perf, 4),
                    "MACs": None if best is None else int(best.costs[spec.cost_names[0]])})
    return out


def paper_table_file(name: str) -> Traversable:
    """A data file shipped with effobj (``effobj/apps/data/NAME``), e.g. a paper table.

    Read through :mod:`importlib.resources`, so it is found in a source checkout and in
    an installed wheel alike; in a checkout or an unpacked install it is a
    :class:`~pathlib.Path`.
    """
    return files("effobj.apps") / "data" / name


def paper_table_records(name: str, data_dir: Path | Traversable | None = None) -> list[dict[str, str]]:
    """The rows of a paper table (``name``, e.g. ``"paper_table2_glue.csv"``) as strings.

    Args:
        name: the CSV file's name.
        data_dir: read it from this folder instead of the shipped data.
    """
    source = paper_table_file(name) if data_dir is None else data_dir / name
    return list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"))))


def paper_tables(
    data_dir: Path | Traversable | None = None,
) -> list[tuple[str, list[dict[str, Any]], list[tuple[str, str, str, str]], int]]:
    """Score both tables; returns ``(caption, rows, mismatches, values checked)`` per table.

    A mismatch is ``(model, column, printed, computed-at-printed-precision)``. The tables
    are the shipped ones unless ``data_dir`` names another folder.
    """
    from effobj.score_table import score_rows

    out = []
    for fname, pref, cref, betas, caption in PAPER_TABLES:
        records = paper_table_records(fname, data_dir)
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
