"""What the command line loads from the user's code: ``FILE.py:NAME`` and ``module:NAME``.

:func:`load_object` is the one loader of ``effobj profile FILE.py:factory`` and of
``--space``; :func:`load_space` resolves every command's ``--space`` option. A file is
run as a module of its own (its folder is searched for its own imports, after the
installed packages); a module is imported as installed, from ``PYTHONPATH``, or from
the working folder (also searched last, so that no file there shadows a package).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from effobj._validation import refusal, subject
from effobj.errors import InputError

__all__ = ["SPACE_FORMS", "load_object", "load_space"]

#: the forms ``--space`` accepts, as its help and its errors say them
SPACE_FORMS = (
    "a registered name, FILE.py:NAME or module:NAME (NAME a search space, its class or a "
    "zero-argument function returning one), or the name of a space an installed package "
    "provides through the entry-point group 'effobj.spaces'"
)


def load_object(
    target: str, name: str, func: str, forms: str, example: str, *, callable_only: bool = True
) -> Any:
    """The object that ``target`` (``FILE.py:NAME`` or ``module:NAME``) names.

    Args:
        target: the text given on the command line.
        name, func: the option (or argument) and the command, for the messages.
        forms: what the option accepts, for the message refusing another form.
        example: an example of the form, for the same message.
        callable_only: refuse an object that is not callable (a factory is asked for).

    Raises:
        InputError: the form is wrong, the file or module cannot be found or imported
            (its error is quoted), or it has no (callable) object of that name.
    """
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr or not (_is_file(where) or _is_module(where)):
        raise refusal(name, func, f"be {forms}, such as {example}", repr(target))
    if _is_file(where):
        module = _run_file(Path(where), name, func)
        label = f"the file {where!r}"
    else:
        module = _import_module(where, name, func)
        label = f"the module {where!r}"
    value = getattr(module, attr, None)
    if value is None or (callable_only and not callable(value)):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise InputError(f"{subject(name, func)} names {label}, which has no callable named "
                         f"{attr!r}. Callables found: {', '.join(found) or 'none'}.")
    return value


def load_space(text: str, func: str, name: str = "--space") -> Any:
    """The search space that a command's ``--space`` option names.

    In this order: a name of :func:`effobj.spaces.names` (registered, or provided by an
    installed package's entry point), then ``FILE.py:NAME`` or ``module:NAME`` where
    ``NAME`` is a space, its class or a zero-argument function returning one.

    Raises:
        InputError: none of these forms (the message lists them and the registered
            names), or the space cannot be loaded or created (the cause quoted).
        TypeError: what ``NAME`` gives is not a search space.
    """
    from effobj import spaces

    known = spaces.names()
    if text in known:
        return spaces.get(text)
    where, sep, attr = text.rpartition(":")
    if not (sep and where and attr and (_is_file(where) or _is_module(where))):
        raise refusal(name, func, f"be {SPACE_FORMS}", repr(text),
                      hint=f"Registered names: {', '.join(known)}.")
    obj = load_object(text, name, func, SPACE_FORMS, "my_space.py:MySpace", callable_only=False)
    what = f"{subject(name, func)} names {text!r}, which"
    try:
        return spaces.as_space(obj, what)
    except InputError:
        raise
    except (Exception, SystemExit) as exc:  # the user's constructor: quote it, no traceback
        raise InputError(f"{what} raised {type(exc).__name__} when called: {exc}") from exc


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _is_module(where: str) -> bool:
    return all(part.isidentifier() for part in where.split("."))


def _search_last(folder: str) -> None:
    """Let imports find modules in ``folder`` after everything else on ``sys.path``."""
    if folder not in sys.path:
        sys.path.append(folder)


def _run_file(path: Path, name: str, func: str) -> Any:
    if not path.is_file():
        raise InputError(f"{subject(name, func)} names the file {str(path)!r}, which does not exist.")
    module_name = f"_effobj_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{subject(name, func)} names the file {str(path)!r}, which cannot be "
                         "imported as a python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    _search_last(str(path.resolve().parent))  # the file's own imports of its neighbours
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a file that calls sys.exit() is not a model file
        sys.modules.pop(module_name, None)
        raise InputError(f"Importing {str(path)!r} ({name} of {func}) raised "
                         f"{type(exc).__name__}: {exc}") from exc
    return module


def _import_module(where: str, name: str, func: str) -> Any:
    _search_last(os.getcwd())  # `module:NAME` from the working folder, as `python -m` would
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (where == exc.name or where.startswith(exc.name + ".")):
            raise InputError(
                f"{subject(name, func)} names the module {where!r}, which cannot be found: "
                "it is not installed, in the working folder or on PYTHONPATH."
            ) from exc
        raise InputError(f"Importing the module {where!r} ({name} of {func}) raised "
                         f"ModuleNotFoundError: {exc}") from exc
    except (Exception, SystemExit) as exc:
        raise InputError(f"Importing the module {where!r} ({name} of {func}) raised "
                         f"{type(exc).__name__}: {exc}") from exc
