"""Name -> search space: the registry ``effobj search --space NAME`` reads."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from effobj._validation import check_choice, check_str, refusal
from effobj.errors import InputTypeError
from effobj.spaces._protocol import SearchSpace

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
    """The registered names, in registration order."""
    return list(_FACTORIES)


def get(name: str) -> Any:
    """A new instance of the space registered under ``name``.

    Raises:
        InputError: no space is registered under ``name``.
        TypeError: the factory returned something that is not a search space.
    """
    factory = _FACTORIES.get(check_choice(name, "name", "effobj.spaces.get", names()))
    assert factory is not None  # a registered name
    space = factory()
    if not isinstance(space, SearchSpace):
        raise InputTypeError(
            f"The search space registered as {name!r} must follow the SearchSpace protocol "
            f"(name, kind, default_dataset, suggest, validate, describe, encoding, encode, "
            f"decode). Its factory returned a {type(space).__name__}."
        )
    return space


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
