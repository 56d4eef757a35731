r"""The profiling server's operator policy: which aten operators a model may call.

A model that travels to ``effobj profile-server`` is a ``torch.export`` program: a graph
of ``torch.ops.aten`` calls. ``torch.ops.aten`` is not only arithmetic. It holds
``from_file`` (maps a file, shared: writes reach the disk), ``_print`` (writes the
server's log), ``set_`` (points a tensor at another storage), random draws, CUDA plan
caches, autograd's ``_backward``, and in-place operators that write whatever tensor they
are given. The server runs a program only if every call in it computes on tensors with no
effect outside its outputs.

The policy is derived from each operator's schema and tags, not from a list of names, so
an operator added to a later torch is judged by the same rules. An operator is refused if

1. an argument or result is a ``Storage``, ``Stream``, or custom class (``__torch__...``)
   object: it reaches memory or device state outside tensors;
2. it takes a ``Generator`` or is tagged ``nondeterministic_seeded`` (it draws from the
   random state) -- unless the call binds its ``train``/``training`` argument to ``False``
   (dropout, ``rrelu``, recurrent layers in inference) or its dropout probability
   (``dropout_p``) to 0 (``scaled_dot_product_attention`` in inference);
3. it takes text (``str``) and no tensor: a file name (``from_file``) or a message to
   print (``_print``), not a mode of a tensor computation (``gelu``'s ``approximate``,
   ``div``'s ``rounding_mode``);
4. it returns nothing and writes nothing, and is not a *check* of single tensors and
   plain values (``_assert_tensor_metadata``, ``_assert_async``): such an operator can
   act only outside the program (``_backward`` fills ``.grad``, ``_cufft_set_plan_cache_max_size``);
5. it binds a ``train``/``training`` argument to anything but ``False`` (batch norm in
   training mode updates the running statistics it was given).

and a graph is refused if an operator that writes an argument (schema alias ``(a!)``:
``fill_``, ``copy_``, ``relu_``, ``set_``, ``resize_``, ...) writes a tensor the program did
not create: a parameter, buffer, constant or input, or a view of one (views are followed
through the schemas' alias annotations, ``getitem`` and the ``maybe_aliasing_or_mutating``
tag). In-place operators on tensors the program computed (``ReLU(inplace=True)`` after a
convolution) are allowed: they are how models save memory.

:func:`operator_refusal` judges one operator, :func:`check_graph` a whole FX graph before
it runs. This module imports torch only inside its functions.
"""

from __future__ import annotations

import functools
import operator as _operator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["check_graph", "operator_refusal", "call_refusal"]

#: argument names whose ``True`` makes an operator draw randomness or update statistics
_TRAIN_FLAGS = ("train", "training")
#: names of dropout probabilities: bound to 0, a seeded operator draws nothing
_DROPOUT_NAMES = ("dropout_p", "dropout")
#: type names (as the schema prints them) of objects that are not tensors or plain values
_OUTSIDE_TYPES = ("Storage", "Stream", "__torch__", "Capsule", "AnyClassType")


def _type_names(schema: Any) -> list[str]:
    return [str(a.type) for a in schema.arguments] + [str(r.type) for r in schema.returns]


def _is_tensor_type(t: str) -> bool:
    return t.removeprefix("Optional[").removesuffix("]") == "Tensor"


def _has_train_flag(schema: Any) -> bool:
    return any(a.name in _TRAIN_FLAGS for a in schema.arguments)


def _inference_switches(schema: Any) -> bool:
    """Whether a call can switch the operator's randomness off (rule 2's exception)."""
    return _has_train_flag(schema) or any(a.name in _DROPOUT_NAMES for a in schema.arguments)


@functools.cache
def operator_refusal(op: Any) -> str | None:
    """Why ``op`` (a ``torch._ops.OpOverload``) may never run on the server, or ``None``.

    Rules 1-4 of the module's docstring, from the schema and tags alone (rule 2's and
    rule 5's exception depends on the call: see :func:`call_refusal`).

    >>> import torch
    >>> operator_refusal(torch.ops.aten.conv2d.default) is None
    True
    >>> print(operator_refusal(torch.ops.aten.from_file.default))
    aten.from_file.default takes text and no tensor (a file name or a message, not a tensor computation)
    """
    import torch

    if not isinstance(op, torch._ops.OpOverload) or op.namespace != "aten":
        return f"{op!r} is not a torch.ops.aten operator"
    schema = op._schema
    name = f"aten.{op.__name__}"
    types = _type_names(schema)
    for t in types:
        if any(bad in t for bad in _OUTSIDE_TYPES):
            return (f"{name} takes or returns a {t} object, which reaches memory or device "
                    "state outside tensors")
    seeded = torch.Tag.nondeterministic_seeded in op.tags or any("Generator" in t for t in types)
    if seeded and not _inference_switches(schema):
        return f"{name} draws from the random state"
    arg_types = [str(a.type) for a in schema.arguments]
    takes_tensor = any("Tensor" in t for t in arg_types)
    if any(t.removeprefix("Optional[").removesuffix("]") == "str" for t in arg_types) \
            and not takes_tensor:
        return (f"{name} takes text and no tensor (a file name or a message, not a tensor "
                "computation)")
    if not schema.returns and not schema.is_mutable:
        is_check = takes_tensor and all(
            _is_tensor_type(t) or "Tensor" not in t for t in arg_types)
        if not is_check:
            return (f"{name} returns nothing and writes no tensor: it can act only outside "
                    "the program")
    return None


def _bound(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's value of each schema argument (defaults where left out)."""
    out: dict[str, Any] = {}
    for i, a in enumerate(op._schema.arguments):
        if a.kwarg_only or i >= len(args):
            if a.name in kwargs:
                out[a.name] = kwargs[a.name]
            elif a.has_default_value():
                out[a.name] = a.default_value
            else:
                out[a.name] = None
        else:
            out[a.name] = args[i]
    return out


def call_refusal(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """:func:`operator_refusal` plus the rules that depend on the call's arguments (2, 5)."""
    why = operator_refusal(op)
    if why is not None:
        return why
    schema = op._schema
    if not _inference_switches(schema):
        return None
    import torch

    bound = _bound(op, args, kwargs)
    for flag in _TRAIN_FLAGS:
        if flag in bound and bound[flag] is not False:
            return (f"aten.{op.__name__} is called with {flag}={bound[flag]!r}; the server "
                    "profiles inference (export the model in eval mode)")
    seeded = torch.Tag.nondeterministic_seeded in op.tags or any(
        "Generator" in t for t in _type_names(schema))
    if seeded and not _has_train_flag(schema):
        for name in _DROPOUT_NAMES:
            if name in bound and bound[name] not in (0, 0.0):
                return (f"aten.{op.__name__} is called with {name}={bound[name]!r}: it draws "
                        "from the random state; the server profiles inference (export the "
                        "model in eval mode)")
    return None


def _alias_sources(op: Any) -> list[str]:
    """The arguments whose memory the operator's result may share: those whose schema alias
    set is a result's (``Tensor(a) self -> Tensor(a)``), or, for an operator tagged
    ``maybe_aliasing_or_mutating`` without annotations (``dropout`` in inference returns
    its input), the first argument."""
    import torch

    schema = op._schema
    sets: set[str] = set()
    unknown = False  # a list result (``Tensor(a)[]``, unbind/split) shows no alias set
    for r in schema.returns:
        if r.alias_info is not None:
            sets.update(r.alias_info.before_set)
            unknown = unknown or not r.alias_info.before_set
    names = [a.name for a in schema.arguments if a.alias_info is not None
             and (unknown or sets & set(a.alias_info.before_set))]
    if not names and torch.Tag.maybe_aliasing_or_mutating in op.tags and schema.arguments:
        names = [schema.arguments[0].name]
    return names


def check_graph(graph: torch.fx.Graph) -> None:
    """Refuse ``graph`` unless every call passes :func:`call_refusal` and no call writes a
    tensor the program did not create (the module's docstring). Nothing is run.

    Raises:
        ProtocolError: the first call refused, with the rule it breaks.
    """
    import torch

    from effobj.remote._protocol import ProtocolError

    #: nodes whose value is (or may share memory with) a tensor from outside the program
    outside: set[Any] = set()
    for node in graph.nodes:
        if node.op in ("placeholder", "get_attr"):
            outside.add(node)
            continue
        if node.op == "output":
            continue
        if node.op != "call_function":
            raise ProtocolError(f"the program has a {node.op!r} node; only calls of aten "
                                "operators are accepted")
        target = node.target
        if target is _operator.getitem:
            if node.args and node.args[0] in outside:
                outside.add(node)
            continue
        why = call_refusal(target, tuple(node.args), dict(node.kwargs))
        if why is not None:
            raise ProtocolError(f"the program calls {why}")
        schema = target._schema
        bound = _bound(target, tuple(node.args), dict(node.kwargs))
        for a in schema.arguments:
            if a.alias_info is None or not a.alias_info.is_write:
                continue
            written = [n for n in _nodes_in(bound.get(a.name), torch.fx.Node) if n in outside]
            if written:
                where = ", ".join(sorted(n.name for n in written))
                raise ProtocolError(
                    f"the program calls aten.{target.__name__}, which writes its argument "
                    f"{a.name!r} ({where}): a parameter, buffer, constant or input of the "
                    "program, or a view of one; only tensors the program computed may be "
                    "written in place (use the out-of-place operator, or clone first)")
        if torch.Tag.inplace_view in target.tags and any(
                n in outside for a in schema.arguments
                for n in _nodes_in(bound.get(a.name), torch.fx.Node)):
            # set_(self, source): the written tensor, and what it returns, now alias source
            outside.add(node)
            for a in schema.arguments:
                if a.alias_info is not None and a.alias_info.is_write:
                    outside.update(_nodes_in(bound.get(a.name), torch.fx.Node))
        elif any(n in outside for name in _alias_sources(target)
                 for n in _nodes_in(bound.get(name), torch.fx.Node)):
            outside.add(node)


def _nodes_in(value: Any, node_type: type) -> list[Any]:
    if isinstance(value, node_type):
        return [value]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _nodes_in(v, node_type)]
    return []
