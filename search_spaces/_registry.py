"""Name -> search space: the registry ``effobj search --space NAME`` reads."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from effobj.errors import InputError
from search_spaces._protocol import SearchSpace

__all__ = ["get", "names", "register", "unregister"]

_FACTORIES: dict[str, Callable[[], Any]] = {}


def _lazy(module: str, cls: str, *args: Any) -> Callable[[], Any]:
    """A factory importing ``module`` only when called (model spaces import torch)."""

    def factory() -> Any:
        return getattr(importlib.import_module(module), cls)(*args)

    factory.__qualname__ = f"{cls}({', '.join(map(repr, args))})"
    return factory


def register(name: str, factory: Callable[[], Any] | SearchSpace, *, replace: bool = False) -> None:
    """Register a search space under ``name``.

    Args:
        name: the name ``search_spaces.get`` and ``effobj search --space`` take.
        factory: a zero-argument callable returning the space, or a space object itself
            (anything following :class:`~search_spaces.SearchSpace`).
        replace: allow replacing a space already registered under ``name``.

    Raises:
        InputError: ``name`` is empty or taken (and ``replace`` is false).
        TypeError: ``factory`` is neither callable nor a space.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            f"The 'name' parameter of search_spaces.register must be a non-empty str. "
            f"Got {name!r} instead."
        )
    if name in _FACTORIES and not replace:
        raise InputError(
            f"The 'name' parameter of search_spaces.register must not be registered already "
            f"(pass replace=True to replace it). Got {name!r} instead."
        )
    if not isinstance(factory, type) and isinstance(factory, SearchSpace):
        space = factory  # an instance (a class also "has" the protocol's attributes)
        _FACTORIES[name] = lambda: space
    elif callable(factory):
        _FACTORIES[name] = factory
    else:
        raise TypeError(
            f"The 'factory' parameter of search_spaces.register must be a zero-argument "
            f"callable returning a search space, or a search space. Got "
            f"{type(factory).__name__} instead."
        )


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (a no-op if absent)."""
    _FACTORIES.pop(name, None)


def names() -> list[str]:
    """The registered names, in registration order."""
    return list(_FACTORIES)


def get(name: str) -> Any:
    """A new instance of the space registered under ``name``.

    Raises:
        InputError: no space is registered under ``name``.
        TypeError: the factory returned something that is not a search space.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InputError(
            f"The 'name' parameter of search_spaces.get must be one of {names()}. "
            f"Got {name!r} instead."
        )
    space = factory()
    if not isinstance(space, SearchSpace):
        raise TypeError(
            f"The search space registered as {name!r} must follow the SearchSpace protocol "
            f"(name, kind, default_dataset, suggest, validate, describe, encoding, encode, "
            f"decode). Its factory returned a {type(space).__name__}."
        )
    return space


def _register_builtins() -> None:
    from search_spaces._nas_bench_graph import DATASETS

    register("mlp", _lazy("search_spaces._mlp", "MLPSpace"))
    register("mobilenet", _lazy("search_spaces._mobilenet", "MobileNetSpace"))
    register("transformer", _lazy("search_spaces._transformer", "TransformerSpace"))
    register("supernet", _lazy("search_spaces._supernet", "SupernetSpace"))
    for dataset in DATASETS:
        register(
            f"nas-bench-graph:{dataset}",
            _lazy("search_spaces._nas_bench_graph", "NasBenchGraphSpace", dataset),
        )


_register_builtins()
