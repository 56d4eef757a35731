"""Name -> search space: the registry ``effobj search --space NAME`` reads.

A name is one registered in this process (:func:`register`; the built-in spaces are) or
one that an installed package provides through the entry-point group ``effobj.spaces``
(:data:`ENTRY_POINT_GROUP`), e.g. in the package's ``pyproject.toml``::

    [project.entry-points."effobj.spaces"]
    my-cnn = "my_package.spaces:MyCNNSpace"

The entry point is a space, its class or a zero-argument factory, loaded when the name
is first asked for. A registered name takes precedence over an entry point's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from effobj._validation import check_choice, check_str, refusal
from effobj.errors import InputError, InputTypeError
from effobj.spaces._protocol import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUP", "as_space", "get", "names", "register", "unregister"]

#: the entry-point group through which installed packages provide spaces by name
ENTRY_POINT_GROUP = "effobj.spaces"

_FACTORIES: dict[str, Callable[[], Any]] = {}
_PROTOCOL = "name, kind, default_dataset, suggest, validate, describe, encoding, encode, decode"


def _lazy(module: str, cls: str, *args: Any) -> Callable[[], Any]:
    """A factory importing ``module`` only when called (model spaces import torch)."""

    def factory() -> Any:
        return getattr(importlib.import_module(module), cls)(*args)

    factory.__qualname__ = f"{cls}({', '.join(map(repr, args))})"
    return factory


def register(name: str, factory: Callable[[], Any] | SearchSpace, *, replace: bool = False) -> None:
    """Register a search space under ``name``.

    Args:
        name: the name ``effobj.spaces.get`` and ``effobj search --space`` take.
        factory: a zero-argument callable returning the space, or a space object itself
            (anything following :class:`~effobj.spaces.SearchSpace`).
        replace: allow replacing a space already registered under ``name``.

    Raises:
        InputError: ``name`` is empty or taken (and ``replace`` is false).
        TypeError: ``factory`` is neither callable nor a space.
    """
    func = "effobj.spaces.register"
    check_str(name, "name", func, nonempty=True)
    if name in _FACTORIES and not replace:
        raise refusal("name", func, "not be registered already (pass replace=True to replace it)",
                      repr(name))
    if not isinstance(factory, type) and isinstance(factory, SearchSpace):
        space = factory  # an instance (a class also "has" the protocol's attributes)
        _FACTORIES[name] = lambda: space
    elif callable(factory):
        _FACTORIES[name] = factory
    else:
        raise refusal("factory", func,
                      "be a zero-argument callable returning a search space, or a search space",
                      type(factory).__name__, error=InputTypeError)


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (a no-op if absent)."""
    _FACTORIES.pop(name, None)


def names() -> list[str]:
    """The registered names, in registration order, then those that installed packages
    provide through the entry-point group ``effobj.spaces`` (sorted)."""
    return list(_FACTORIES) + sorted(n for n in _entry_points() if n not in _FACTORIES)


def get(name: str) -> Any:
    """A new instance of the space registered under ``name`` (or provided by an installed
    package's entry point of that name).

    Raises:
        InputError: no space has this name, or its entry point cannot be loaded.
        TypeError: the factory returned something that is not a search space.
    """
    factory: Any = _FACTORIES.get(name) if isinstance(name, str) else None
    if factory is None:
        entry = _entry_points().get(name) if isinstance(name, str) else None
        if entry is None:
            check_choice(name, "name", "effobj.spaces.get", names())
        assert entry is not None  # check_choice raised otherwise
        factory = _load(entry)
    return as_space(factory, f"The search space {name!r}")


def as_space(obj: Any, what: str = "The object") -> Any:
    """A search space from ``obj``: a space itself, its class, or a zero-argument factory
    returning one (what :func:`register` takes, and what ``--space FILE.py:NAME`` names).

    Args:
        obj: the space, class or factory.
        what: how an error names ``obj`` (e.g. ``"The search space 'my-cnn'"``).

    Raises:
        TypeError: ``obj`` is none of these, or its factory returned something else.
    """
    if not isinstance(obj, type) and isinstance(obj, SearchSpace):
        return obj  # an instance (a class also "has" the protocol's attributes)
    if not callable(obj):
        raise InputTypeError(
            f"{what} must be a search space (the SearchSpace protocol: {_PROTOCOL}), its "
            f"class or a zero-argument factory returning one. Got an object of type "
            f"{type(obj).__name__}."
        )
    space = obj()
    if isinstance(space, type) or not isinstance(space, SearchSpace):
        raise InputTypeError(
            f"{what} must follow the SearchSpace protocol ({_PROTOCOL}). Its factory "
            f"returned an object of type {type(space).__name__}."
        )
    return space


def _entry_points() -> dict[str, EntryPoint]:
    """Name -> entry point of the group ``effobj.spaces`` (the first of a name wins, as on
    ``sys.path``)."""
    from importlib.metadata import entry_points

    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def _load(entry: EntryPoint) -> Any:
    try:
        return entry.load()
    except Exception as exc:  # the package's own code: say which one failed
        dist = getattr(entry, "dist", None)
        where = f" of the package {dist.name} {dist.version}" if dist is not None else ""
        raise InputError(
            f"The search space {entry.name!r} (entry point {entry.value!r}{where}, group "
            f"{ENTRY_POINT_GROUP!r}) cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc


def _register_builtins() -> None:
    from effobj.spaces._nas_bench_graph import DATASETS

    register("mlp", _lazy("effobj.spaces._mlp", "MLPSpace"))
    register("mobilenet", _lazy("effobj.spaces._mobilenet", "MobileNetSpace"))
    register("transformer", _lazy("effobj.spaces._transformer", "TransformerSpace"))
    register("supernet", _lazy("effobj.spaces._supernet", "SupernetSpace"))
    for dataset in DATASETS:
        register(
            f"nas-bench-graph:{dataset}",
            _lazy("effobj.spaces._nas_bench_graph", "NasBenchGraphSpace", dataset),
        )


_register_builtins()
