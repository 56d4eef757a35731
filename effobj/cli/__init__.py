"""The ``effobj`` command line.

Each subcommand lives in its own module of this package and exposes two functions::

    def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser
    def run(args: argparse.Namespace) -> int

Modules are imported when the parser is built, so they must not import torch or
optuna at module level: they import what they need inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from effobj.errors import EffobjError

#: subcommand modules, in the order ``effobj --help`` lists them
COMMANDS: tuple[str, ...] = (
    "score",
    "profile",
    "search",
    "best",
    "report",
    "latency_table",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand that is installed."""
    from effobj import __version__

    parser = argparse.ArgumentParser(
        prog="effobj",
        description="Accuracy per unit of cost: score, profile and search models with E_beta.",
    )
    parser.add_argument("--version", action="version", version=f"effobj {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"effobj.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not written yet
            if exc.name == f"effobj.cli.{name}":
                continue
            raise
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``effobj`` script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except EffobjError as exc:
        print(f"effobj {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"effobj {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
