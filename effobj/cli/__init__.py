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
    "space_range",
    "search",
    "best",
    "report",
    "repair_journal",
    "latency_table",
    "profile_server",
    "demo",
)


#: the optional extra (pyproject.toml) that installs each module a command may need
_EXTRAS = {
    "starlette": "remote", "uvicorn": "remote", "httptools": "remote", "httpx": "remote",
    "matplotlib": "report", "plotly": "report",
    "onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx",
    "psycopg2": "postgres",
}


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


def _as_options(text: str, parser: argparse.ArgumentParser, command: str) -> str:
    """A library function's refusal in the command's words: "The 'storage' parameter of
    resolve_storage" becomes "The '--storage' option of effobj search" where the command
    has that option, so that no internal function name reaches the user."""
    import re

    sub = next((a.choices[command] for a in parser._actions
                if isinstance(a, argparse._SubParsersAction) and command in a.choices), None)
    options = set(sub._option_string_actions) if sub is not None else set()

    def replace(m: re.Match[str]) -> str:
        option = "--" + m.group(1).replace("_", "-")
        if option not in options:
            return m.group(0)
        return f"The '{option}' option of effobj {command}"

    return re.sub(r"The '([A-Za-z_][A-Za-z0-9_]*)' parameter of [A-Za-z_][A-Za-z0-9_.]*", replace,
                  text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``effobj`` script; returns the process exit code.

    Ctrl-C and SIGTERM (batch schedulers, ``timeout``, ``docker stop``) stop a command
    the same way: a ``KeyboardInterrupt`` that a search records (the study stays
    consistent and resumable). Exit codes: 0 success, 2 a usage error (argparse's own,
    or an :class:`~effobj.errors.InputError`/``FileFormatError``), 1 a failure at run
    time (any other :class:`~effobj.errors.EffobjError`), 130 after Ctrl-C, 143 after
    SIGTERM.
    """
    from effobj.cli._signals import terminate_as_interrupt

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "cost", None) == "params":  # the parameter count's name before 0.2
        print("effobj: '--cost params' is now '--cost n_params'", file=sys.stderr)
        args.cost = "n_params"
    with terminate_as_interrupt() as received:
        try:
            code = int(args._run(args) or 0)
        except EffobjError as exc:
            from effobj.cli._safe import printable

            # the message may quote text from a file or a storage: no terminal escapes
            text = _as_options(str(exc), parser, args.command)
            print(printable(f"effobj {args.command}: error: {text}"), file=sys.stderr)
            code = exc.exit_code  # 2 a usage error, 1 a failure at run time
        except ModuleNotFoundError as exc:
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            # an optional extra not installed: name it, no traceback
            print(f"effobj {args.command}: error: it needs effobj's {extra!r} extra, which is "
                  f"not installed (no module {exc.name!r}): pip install 'effobj[{extra}]'",
                  file=sys.stderr)
            code = 1
        except BrokenPipeError:  # output piped into head & co.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 0
        except KeyboardInterrupt:
            what = f"terminated by {received.name}" if received.name else "interrupted"
            print(f"effobj {args.command}: {what}", file=sys.stderr)
            code = 130
    if code == 130 and received.exit_code is not None:
        # the command caught the interrupt itself (search returns 130): say it was SIGTERM
        code = received.exit_code
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
