"""``effobj repair-journal``: repair a damaged Optuna Journal file.

Example::

    effobj repair-journal study.log            # or journal:study.log
    effobj repair-journal study.log --dry-run  # say what would be done

A journal whose last line was cut short (a worker killed in the middle of a write, a
full disk) or that holds lines that are no Optuna record is refused by ``effobj search``
(appending to it would make the whole file unreadable). This command keeps a copy
``FILE.bak-<time>``, cuts the torn last line (or gives it its line end when it is a whole
record) and drops the lines that are no record, naming them. Stop the workers first.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``effobj repair-journal``."""
    p = subparsers.add_parser(
        "repair-journal",
        help="repair a damaged Optuna Journal file (a torn last line, lines that are no record)",
        description=(
            "Repair a Journal storage file that effobj search refuses to write: keep a copy "
            "FILE.bak-<time>, cut a torn last line and drop the lines that are no Optuna "
            "record, naming them. Stop the workers that use the file first."
        ),
    )
    p.add_argument("file", metavar="FILE", help="the journal file (PATH or journal:PATH)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what is damaged and what would be done; change nothing")
    return p


def run(args: argparse.Namespace) -> int:
    """Repair the file; exit 0 (repaired, or nothing to repair), 1 when the repaired
    records cannot be replayed (the copy keeps the file as found)."""
    from effobj.cli._safe import printable
    from effobj.optuna._journal import repair_journal

    done = repair_journal(args.file, dry_run=args.dry_run)
    print(printable(done.describe()))
    return 1 if done.replay_error is not None else 0
