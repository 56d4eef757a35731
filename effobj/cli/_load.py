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

__all__ = ["SPACE_FORMS", "TRAINING_KEYS", "check_model_space", "load_object", "load_space"]

#: the config keys :meth:`effobj.spaces.ModelSpace.train` reads from every config
#: (:func:`effobj.spaces.training_params` adds them to a space's parameters)
TRAINING_KEYS: tuple[str, ...] = ("epochs", "batch_size", "optimizer", "lr", "weight_decay")

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


def check_model_space(space: Any, text: str, func: str, *, dataset: str | None = None) -> None:
    """Refuse a model space that would fail every trial, before the search starts: a
    :class:`~effobj.spaces.ModelSpace` training with the base ``train`` must have the
    parameters it reads (:data:`TRAINING_KEYS`), and one sampled config must build and
    run a forward pass on an example input. Takes about a second; other kinds pass.

    Raises:
        InputError: a training parameter is missing (named), or the sampled candidate
            cannot be built or run (its error quoted).
    """
    if getattr(space, "kind", None) != "model":
        return
    import optuna

    from effobj.spaces import ModelSpace

    label = f"{subject('--space', func)} names {text!r}"
    if isinstance(space, ModelSpace) and type(space).train is ModelSpace.train:
        keys = {p.key for p in getattr(space, "params", ())}
        missing = [k for k in TRAINING_KEYS if k not in keys]
        if missing:
            raise InputError(
                f"{label}, a ModelSpace without the training parameter"
                f"{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}: "
                "ModelSpace.train reads them from every config, so every trial would fail. "
                "Add them to its params (e.g. *effobj.spaces.training_params(epochs=(3, 5))) "
                "or override train.")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    finally:
        optuna.logging.set_verbosity(verbosity)
    stage = "sampling"
    try:
        import torch

        from effobj.spaces.data import DATASETS

        config = space.suggest(trial)
        info = DATASETS.get(dataset) if dataset is not None else None
        stage = "building"
        model = space.build(config, info) if info is not None else space.build(config)
        stage = "running"
        inputs = (space.example_input(config, info) if info is not None
                  else space.example_input(config))
        with torch.no_grad():
            model.eval()(*inputs)
    except (Exception, SystemExit) as exc:  # the user's code: quote it, no traceback
        raise InputError(f"{label}, whose first sampled candidate failed while {stage} "
                         f"({trial.params}): {type(exc).__name__}: {exc}. Every trial would "
                         "fail alike; fix the space first.") from exc


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
