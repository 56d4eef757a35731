"""``effobj report``: an HTML page (and PNG figures) of a study.

Example::

    effobj report --storage sqlite:///effobj.db --study-name demo --out report.html

Writes ``report.html`` (self-contained: the figures are embedded) and, beside it,
``report_cost_plane.png``, ``report_sensitivity.png``, ``report_progress.png`` and, when
the latencies carry a measured spread, ``report_stochastic_pareto.png``. ``--beta2``,
``--cost-max`` and ``--perf-min`` re-score the study under another spec (no new trials).
The page also holds an interactive cost plane (plotly, its JavaScript inlined so the page
works offline; about 4.8 MB): hover a point for its trial, parameters and costs.
``--no-interactive`` leaves it out.
"""

from __future__ import annotations

import argparse
from typing import Any

from effobj._validation import check_output_path
from effobj.errors import EffobjError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``effobj report``."""
    p = subparsers.add_parser(
        "report",
        help="write an HTML report (and PNG figures) of a study",
        description=(
            "Draw a study: the cost-performance plane with the Pareto front, the feasible "
            "region and iso-E_beta curves; the winner for each beta^2; E_beta over the trials "
            "with trained and skipped candidates; the stochastic Pareto view of noisy "
            "latencies. The page embeds its figures; PNG files are written beside it."
        ),
    )
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL or journal:PATH (default sqlite:///effobj.db)")
    p.add_argument("--study-name", required=True)
    p.add_argument("--out", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--beta2", type=float, default=None,
                   help="beta^2 to score with (default: the study's own)")
    p.add_argument("--cost-max", type=float, default=None, help="cost budget (raw units)")
    p.add_argument("--perf-min", type=float, default=None, help="performance floor (raw)")
    p.add_argument("--perf-ref", type=float, default=None,
                   help="reference performance (needed for a study effobj did not create)")
    p.add_argument("--cost-ref", type=float, default=None, help="cost normalizer (idem)")
    p.add_argument("--cost", default=None, help="cost indicator name (idem)")
    p.add_argument("--no-png", action="store_true", help="write the HTML page only")
    p.add_argument("--no-interactive", action="store_true",
                   help="leave out the interactive (plotly) cost plane, whose inlined "
                   "plotly.js makes the page about 4.8 MB; the static figures stay")
    return p


def run(args: argparse.Namespace) -> int:
    """Write the report; prints the files written."""
    from effobj.cli._study import load_study, spec_for
    from effobj.optuna import load_spec
    from effobj.report import write_report

    check_output_path(args.out, "--out", "effobj report", (".html", ".htm"))
    study, url = load_study(args.storage, args.study_name)
    spec = spec_for(args, load_spec(study))
    try:
        written = write_report(study, args.out, spec=spec, storage=url, png=not args.no_png,
                               interactive=not args.no_interactive)
    except OSError as exc:
        raise EffobjError(
            f"The report {args.out!r} cannot be written: {exc.strerror or exc}."
        ) from None
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0
