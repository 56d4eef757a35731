"""Moving a model to the profiling server without pickle: ``torch.export`` and raw tensors.

:func:`pack_model` (search side) exports the model with ``torch.export.export`` and writes
the program's JSON form and every tensor's raw bytes into a model archive
(:mod:`effobj.remote._protocol`). :func:`unpack_model` (server side, in its worker
process) checks the archive (:func:`~effobj.remote._protocol.parse_archive`), rebuilds the
tensors with ``torch.frombuffer`` and the program with ``torch._export.serde``'s
deserializer, which then reads only JSON and the tensors it is handed.

Why not ``torch.export.save``/``load``: in torch 2.13 ``torch.export.load`` reads weights
with ``torch.load(..., weights_only=False)`` and constants with ``pickle.loads``, and its
deserializer falls back to a full unpickle when the safe one fails: loading an archive
can run the sender's code. Neither the client nor the server here calls ``torch.load``
or ``pickle`` on anything that travels.

Limits: what ``torch.export`` cannot capture (data-dependent control flow on tensor
values, non-tensor outputs, custom objects) fails that trial on the search side with the
exporter's reason; shapes are static (the example inputs' shapes); only aten operators
travel (no custom operators); the report's ``flops_by_module`` has the operators' FLOPs
under the one exported module, the per-submodule split is the local profiler's only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from effobj.remote._protocol import DTYPES, ProtocolError, archive_parts, parse_archive

if TYPE_CHECKING:
    import torch

__all__ = ["export_model", "pack_model", "unpack_model"]

#: torch.export keeps global state while it traces: one export at a time per process
_EXPORT_LOCK = threading.Lock()


def pack_model(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], *, model_name: str,
               signature: str, options: dict[str, Any]) -> bytes:
    """:func:`export_model`'s archive joined into one ``bytes``."""
    return b"".join(export_model(model, inputs, model_name=model_name, signature=signature,
                                 options=options))


def export_model(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], *, model_name: str,
                 signature: str, options: dict[str, Any]) -> list[Any]:
    """Export ``model`` (in eval mode, its flags restored) and pack it with ``inputs``.

    Returns the archive as buffers to send in order (:func:`archive_parts`): the header,
    then each tensor's bytes as a view of the tensor's own memory, not copied (keep the
    model unchanged until they are sent). torch's serializer writes only the program's
    JSON here; it is not asked to ``torch.save`` the weights (which nothing would read).

    Raises:
        ProfilingError: ``torch.export`` cannot capture the model (the exporter's reason),
            or it holds something other than tensors of the accepted dtypes.
    """
    import json

    import torch
    from torch._export.serde.serialize import serialize

    from effobj.errors import ProfilingError

    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with _EXPORT_LOCK, torch.no_grad():
            ep = torch.export.export(model, tuple(inputs), strict=False)
    except Exception as exc:
        raise ProfilingError(
            f"Profiling {model_name} failed at step 'export for the profiling server': "
            f"torch.export cannot capture it ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    finally:
        for m, was_training in flags:
            m.training = was_training
    program = json.loads(serialize(ep, serialize_state_dict=False, serialize_constants=False,
                                   serialize_example_inputs=False).exported_program)
    params = {spec.target for spec in ep.graph_signature.input_specs
              if spec.kind.name == "PARAMETER" and spec.target is not None}
    tensors: list[tuple[str, str, str, tuple[int, ...], Any, bool]] = []

    def add(role: str, name: str, t: Any) -> None:
        if not isinstance(t, torch.Tensor):
            raise ProfilingError(f"Profiling {model_name} failed at step 'export for the "
                                 f"profiling server': {name} is a {type(t).__name__}, not a "
                                 "tensor; only tensors travel to the server")
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES or t.is_quantized or t.is_sparse:
            raise ProfilingError(f"Profiling {model_name} failed at step 'export for the "
                                 f"profiling server': tensor {name} is {t.dtype}; accepted: "
                                 f"{sorted(DTYPES)}")
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        raw = memoryview(cast(Any, flat.view(torch.uint8).numpy())) if flat.numel() else b""
        tensors.append((role, name, dtype, tuple(t.shape), raw, bool(t.requires_grad)))

    for name, t in ep.state_dict.items():
        add("parameter" if name in params else "buffer", name, t)
    for name, t in ep.constants.items():
        add("constant", name, t)
    for i, x in enumerate(inputs):
        add("input", f"input_{i}", x)
    return archive_parts(model_name, signature, options, program, tensors)


def unpack_model(body: bytes | bytearray | memoryview
                 ) -> tuple[Any, torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The checked archive, the module to profile and its example inputs.

    The tensors share ``body``'s memory when it is writable (a bytearray, a private
    ``mmap`` of the spooled upload): the server's worker decodes without copying weights.

    Raises:
        ProtocolError: the archive breaks the protocol, or torch refuses the program.
    """
    import torch
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    view = memoryview(body)
    if view.readonly:  # bytes: one writable copy, the tensors then view it
        view = memoryview(bytearray(view))
    archive = parse_archive(view)
    state: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    inputs: list[torch.Tensor] = []
    for e in archive.tensors:
        dtype = getattr(torch, e.dtype)
        t = _tensor(archive.data, e.offset, e.nbytes, dtype).reshape(e.shape)
        if e.role == "parameter":
            state[e.name] = torch.nn.Parameter(t, requires_grad=e.requires_grad and
                                               t.is_floating_point())
        elif e.role == "buffer":
            state[e.name] = t
        elif e.role == "constant":
            constants[e.name] = t
        else:
            inputs.append(t)
    import json

    # the deserializer takes already-built tensors where its own files hold torch.save bytes
    artifact = SerializedArtifact(json.dumps(archive.program).encode(), cast(Any, state),
                                  cast(Any, constants), cast(Any, (tuple(inputs), {})))
    from effobj.remote._ops import check_graph

    try:
        ep = deserialize(artifact)
    except Exception as exc:
        raise ProtocolError(f"torch cannot rebuild the exported program: {type(exc).__name__}: "
                            f"{_first_line(exc)}") from None
    # the operator policy, before anything runs: parameters, buffers, constants and inputs
    # are still the graph's placeholders here, so a write to any of them is seen
    check_graph(ep.graph)
    try:
        module = ep.module()
    except Exception as exc:
        raise ProtocolError(f"torch cannot rebuild the exported program: {type(exc).__name__}: "
                            f"{_first_line(exc)}") from None
    # the program was exported in eval mode; the exported module refuses train()/eval()
    module.train = _same_module(module)  # type: ignore[method-assign]
    module.eval = _same_module(module)  # type: ignore[method-assign]
    return archive, module, tuple(inputs)


def _tensor(data: memoryview, offset: int, nbytes: int, dtype: Any) -> torch.Tensor:
    """The tensor at ``data[offset:offset + nbytes]``: in place when the buffer is writable
    and the bytes lie at a multiple of the element size (the archive's data is padded to
    start aligned, so most do), a copy otherwise."""
    import torch

    if not nbytes:
        return torch.zeros(0, dtype=dtype)
    raw = data[offset:offset + nbytes]  # a view, not a copy
    size = torch.empty(0, dtype=dtype).element_size()
    t = torch.frombuffer(raw, dtype=dtype)
    return t if t.data_ptr() % size == 0 else t.clone()


def _same_module(module: Any) -> Any:
    def keep(*_: Any) -> Any:
        return module

    return keep


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else "(no message)"
