"""The wire format between :class:`~effobj.remote.RemoteProfiler` and ``effobj profile-server``.

Endpoints (every one needs ``Authorization: Bearer <token>``; the token is compared in
constant time, a missing or wrong one gets 401):

``GET /status``
    JSON: the server's device, whether its measuring worker is ready, ``queue_length``
    (requests waiting for the device), ``measuring`` (0 or 1), counters, and the last
    measurements' start/end times (the log that shows they never overlap).
``POST /lookup``
    JSON body ``{"signature": HEX64, "options": {...}}``: 200 with the cached result
    (same body as ``/profile``), or 404. Lets a worker skip exporting a candidate that
    another worker already had measured.
``POST /profile``
    Body: one *model archive* (below), ``Content-Type: application/x-effobj-model``.
    200: ``{"report": CostReport.to_dict(), "server": {...}}`` where ``server`` holds the
    server's address and host name, ``measurement_id``, ``queue_wait_s``,
    ``queue_ahead`` (requests ahead of it when it arrived), ``measure_s`` (the worker's
    time, ``decode_s`` of it rebuilding the model from the archive) and
    ``from_server_cache``. Errors: 400 a malformed or non-model upload (the reason in
    ``{"error": ...}``), 401, 413 an upload over the server's limit, 422 the model failed
    on the device (the profiler's reason), 504 the measurement ran past the server's time
    limit (the worker was replaced), 500 the worker died (ditto), 503 the server is
    shutting down.

The model archive (format 1), no pickle anywhere::

    b"EFFOBJM1" | header length (8 bytes, little-endian) | header (UTF-8 JSON) | tensor bytes

The header holds ``model_name``, ``signature`` (the architecture signature computed on the
search side), ``options`` (:data:`OPTION_RULES`), ``program`` (the JSON form of a
``torch.export`` program, as ``torch._export.serde`` writes it) and ``tensors``: for each
parameter, buffer, constant and example input its role, name, dtype, shape, offset and
byte count in the raw data that follows (the header is padded with spaces so that data
starts at a multiple of :data:`ALIGN` bytes). Tensors are rebuilt with ``torch.frombuffer``;
the program is checked by :func:`check_program` before torch reads it.

This module imports neither torch nor starlette.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from effobj.profiler._options import LATENCY_METHODS, RUNTIMES

__all__ = [
    "ALIGN",
    "CONTENT_TYPE",
    "MAGIC",
    "OPTIONAL_OPTIONS",
    "OPTION_RULES",
    "Archive",
    "ProtocolError",
    "archive_parts",
    "check_options",
    "check_program",
    "header_size",
    "loads_bounded",
    "parse_archive",
    "write_archive",
]

MAGIC = b"EFFOBJM1"
CONTENT_TYPE = "application/x-effobj-model"
_LEN = struct.Struct("<Q")
#: the tensor data of an archive starts at a multiple of this many bytes (header padding)
ALIGN = 64

#: the deepest nesting of arrays and objects accepted in a JSON body or archive header (a
#: real program's header nests 11 deep); deeper JSON is refused before it is parsed, so
#: neither the parser nor a walk over the result can exhaust Python's recursion limit
MAX_JSON_DEPTH = 64

#: the dtypes a tensor may travel as (name -> bytes per element)
DTYPES: dict[str, int] = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
    "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}
#: roles of the tensors of an archive
ROLES = ("parameter", "buffer", "constant", "input")
#: the measurement options a request may set: name -> (type, low, high); high None: open
OPTION_RULES: dict[str, tuple[type, float, float | None]] = {
    "latency": (bool, 0, 1),
    "memory": (bool, 0, 1),
    "target_rel_spread": (float, 0.0, 1.0),
    "max_time_s": (float, 0.0, None),
}
#: options a request may leave out: name -> (allowed values, or None for a budget in ms
#: (a number > 0 or null), and the value when left out). Added after the first release of
#: the protocol, so older clients keep working.
OPTIONAL_OPTIONS: dict[str, tuple[tuple[str, ...] | None, Any]] = {
    "runtime": (RUNTIMES, "eager"),
    "latency_method": (LATENCY_METHODS, "compensated"),
    "latency_budget_ms": (None, None),
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_PATH = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")  # a module path: 'layer1.0.conv1'
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ATEN = re.compile(r"torch\.ops\.aten\.[a-z0-9_]+\.[A-Za-z0-9_]+")
_GETITEM = "_operator.getitem"
#: keys whose value is free text torch parses as data (JSON, a literal), never as code
_FREE_TEXT = frozenset({"in_spec", "out_spec", "as_string", "as_strings", "torch_version"})
#: argument kinds that carry code or symbols: symbolic shapes (parsed by sympy),
#: subgraphs, custom objects and operators as values
_FORBIDDEN = frozenset({
    "as_expr", "expr_str", "as_sym_int", "as_sym_ints", "as_sym_bool", "as_sym_bools",
    "as_sym_float", "as_sym_floats", "as_graph", "as_custom_obj", "as_operator",
    "as_complex",
})
_TOP_KEYS = frozenset({"graph_module", "opset_version", "range_constraints", "schema_version",
                       "verifiers", "torch_version", "guards_code"})
_EMPTY_KEYS = ("sym_int_values", "sym_bool_values", "sym_float_values", "custom_obj_values")


class ProtocolError(ValueError):
    """A request that does not follow the protocol; the message is the 400's reason."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor of an archive lies in its data."""

    role: str
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    requires_grad: bool = False


@dataclass(frozen=True)
class Archive:
    """A parsed model archive: the header's fields and the raw tensor data."""

    model_name: str
    signature: str
    options: dict[str, Any]
    program: dict[str, Any]
    tensors: tuple[TensorEntry, ...]
    data: memoryview


def write_archive(model_name: str, signature: str, options: dict[str, Any],
                  program: dict[str, Any], tensors: list[tuple[str, str, str, tuple[int, ...],
                                                          Any, bool]]) -> bytes:
    """Pack a model archive; ``tensors`` are ``(role, name, dtype, shape, raw bytes,
    requires_grad)`` (the raw bytes: any buffer of bytes, such as a memoryview)."""
    return b"".join(archive_parts(model_name, signature, options, program, tensors))


def archive_parts(model_name: str, signature: str, options: dict[str, Any],
                  program: dict[str, Any], tensors: list[tuple[str, str, str, tuple[int, ...],
                                                          Any, bool]]) -> list[Any]:
    """The archive as a list of buffers to send one after the other, without joining them:
    the magic, length and header first, then each tensor's raw bytes as given (no copy).

    The header is padded with spaces (still JSON) so that the tensor data starts at a
    multiple of :data:`ALIGN` bytes: the server can then map most tensors in place.
    """
    entries: list[dict[str, Any]] = []
    offset = 0
    raws: list[Any] = []
    for role, name, dtype, shape, raw, grad in tensors:
        nbytes = memoryview(raw).nbytes
        entries.append({"role": role, "name": name, "dtype": dtype, "shape": list(shape),
                        "offset": offset, "nbytes": nbytes, "requires_grad": grad})
        offset += nbytes
        raws.append(raw)
    header = json.dumps({"format": 1, "model_name": model_name, "signature": signature,
                         "options": options, "program": program, "tensors": entries},
                        allow_nan=False).encode()
    header += b" " * (-(len(MAGIC) + _LEN.size + len(header)) % ALIGN)
    return [MAGIC + _LEN.pack(len(header)) + header, *raws]


def header_size(head: bytes | memoryview) -> int:
    """The byte count of magic, length and header, read from an archive's first 16 bytes
    (the server reads that much of a spooled upload to check its header)."""
    view = memoryview(head)
    if len(view) < len(MAGIC) + _LEN.size or bytes(view[:len(MAGIC)]) != MAGIC:
        return len(view)  # parse_header names what is wrong
    return len(MAGIC) + _LEN.size + int(_LEN.unpack_from(view, len(MAGIC))[0])


def parse_header(body: bytes | bytearray | memoryview) -> tuple[dict[str, Any], memoryview]:
    """The archive's header as JSON and its raw data; refuses anything else, pickles named."""
    view = memoryview(body)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise ProtocolError(f"the upload is not an effobj model archive: {_what(bytes(view[:8]))} "
                            "(the server never unpickles; send models with RemoteProfiler, "
                            "which exports them with torch.export)")
    if len(view) < len(MAGIC) + _LEN.size:
        raise ProtocolError("the model archive is truncated: no header length")
    (n,) = _LEN.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    if n > len(view) - start:
        raise ProtocolError(f"the model archive is truncated: its header claims {n} bytes, "
                            f"{len(view) - start} follow")
    header = loads_bounded(bytes(view[start:start + n]), "the model archive's header")
    if not isinstance(header, dict):
        raise ProtocolError("the model archive's header must be a JSON object")
    return header, view[start + n:]


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep the arrays and objects of the JSON text ``raw`` nest, counted without
    parsing (brackets inside strings ignored), stopping at ``limit + 1``.

    >>> json_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for b in brackets:
        if b in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def loads_bounded(raw: bytes, what: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(raw)``, refused with a :class:`ProtocolError` naming ``what`` when it
    is not JSON or nests deeper than ``limit`` (checked before parsing)."""
    depth = json_depth(raw, limit)
    if depth > limit:
        raise ProtocolError(f"{what} nests arrays or objects more than {limit} deep; the "
                            f"server accepts at most {limit} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ProtocolError(f"{what} nests too deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"{what} is not JSON: {exc}") from None


def parse_archive(body: bytes | bytearray | memoryview) -> Archive:
    """Parse and check a whole archive (header fields, tensor table, program)."""
    header, data = parse_header(body)
    if header.get("format") != 1:
        raise ProtocolError(f"unknown model archive format {header.get('format')!r} (this "
                            "server reads format 1)")
    name = header.get("model_name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProtocolError(f"'model_name' must be a Python identifier of at most 200 "
                            f"characters; got {_short(name)}")
    signature = check_signature(header.get("signature"))
    options = check_options(header.get("options"))
    program = header.get("program")
    if not isinstance(program, dict):
        raise ProtocolError("'program' must be the JSON object of a torch.export program")
    check_program(program)
    tensors = _check_tensors(header.get("tensors"), len(data))
    return Archive(name, signature, options, program, tensors, data)


def check_signature(sig: Any) -> str:
    if not isinstance(sig, str) or not _HEX64.fullmatch(sig):
        raise ProtocolError(f"'signature' must be 64 lowercase hex digits (a SHA-256); got "
                            f"{_short(sig)}")
    return sig


def check_options(options: Any) -> dict[str, Any]:
    """The measurement options of a request, each checked against :data:`OPTION_RULES`."""
    if not isinstance(options, dict):
        raise ProtocolError("'options' must be a JSON object")
    unknown = sorted(set(options) - set(OPTION_RULES) - set(OPTIONAL_OPTIONS))
    if unknown:
        raise ProtocolError(f"unknown option(s) {unknown}; the options are "
                            f"{[*OPTION_RULES, *OPTIONAL_OPTIONS]}")
    missing = sorted(set(OPTION_RULES) - set(options))
    if missing:
        raise ProtocolError(f"the option(s) {missing} are missing")
    out: dict[str, Any] = {}
    for key, (kind, low, high) in OPTION_RULES.items():
        value = options[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise ProtocolError(f"option {key!r} must be true or false; got {_short(value)}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                    value) or not low < value < (math.inf if high is None else high):
                rng = f"({low:g}, {'inf' if high is None else f'{high:g}'})"
                raise ProtocolError(f"option {key!r} must be a number in {rng}; got {_short(value)}")
            value = float(value)
        out[key] = value
    for key, (allowed, default) in OPTIONAL_OPTIONS.items():
        value = options.get(key, default)
        if allowed is not None and value not in allowed:
            raise ProtocolError(f"option {key!r} must be one of {list(allowed)}; got {_short(value)}")
        if allowed is None and value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                    value) or value <= 0:
                raise ProtocolError(f"option {key!r} must be a number > 0 or null; got "
                                    f"{_short(value)}")
            value = float(value)
        out[key] = value
    return out


def check_program(program: dict[str, Any]) -> None:
    """Refuse a ``torch.export`` program JSON that could make the server run anything but
    aten operators on tensors.

    What ``torch._export.serde`` would otherwise honour, and this refuses: node targets
    outside ``torch.ops.aten`` (the deserializer resolves any ``torch.*`` attribute,
    ``torch.os.system`` included), guard code (Python source), symbolic shapes (parsed by
    ``sympy.sympify``, i.e. ``eval``), subgraphs, custom objects, named tuples, and any
    name that is not a plain identifier path (names become attribute paths in the code
    FX generates). Node metadata (stack traces, source functions) is dropped.
    """
    unknown = sorted(set(program) - _TOP_KEYS)
    if unknown:
        raise ProtocolError(f"the program has unknown keys {unknown}")
    if program.get("guards_code") not in (None, []):
        raise ProtocolError("the program carries guard code; the server runs no code sent to it")
    if program.get("range_constraints") not in (None, {}):
        raise ProtocolError("the program has symbolic shapes (range constraints); export the "
                            "model with static shapes")
    gm = program.get("graph_module")
    if not isinstance(gm, dict) or not isinstance(gm.get("graph"), dict):
        raise ProtocolError("the program has no 'graph_module.graph'")
    if gm.get("treespec_namedtuple_fields") not in (None, {}):
        raise ProtocolError("the program's inputs or outputs use named tuples; return tensors, "
                            "tuples, lists or dicts")
    graph = gm["graph"]
    for key in _EMPTY_KEYS:
        if graph.get(key) not in (None, {}):
            raise ProtocolError(f"the program's graph has {key}: symbolic values and custom "
                                "objects are not accepted")
    nodes = graph.get("nodes")
    if not isinstance(nodes, list):
        raise ProtocolError("the program's graph has no node list")
    for node in nodes:
        if not isinstance(node, dict):
            raise ProtocolError("a node of the program is not a JSON object")
        target = node.get("target")
        if not isinstance(target, str) or not (_ATEN.fullmatch(target) or target == _GETITEM):
            raise ProtocolError(f"the program calls {_short(target)}; only torch.ops.aten "
                                "operators are accepted")
        node["metadata"] = {}  # stack traces, source functions: not needed to run
    _check_strings(program, "program")


def _check_strings(x: Any, where: str) -> None:
    if isinstance(x, dict):
        for key, value in x.items():
            if not isinstance(key, str) or not _PATH.fullmatch(key):
                raise ProtocolError(f"the program has a key {_short(key)} in {where}")
            if key in _FORBIDDEN:
                raise ProtocolError(f"the program uses {key!r} (symbolic shapes, subgraphs, "
                                    "custom objects and operator values are not accepted)")
            if key in _FREE_TEXT:
                if not (isinstance(value, str) or (isinstance(value, list) and all(
                        isinstance(v, str) for v in value))):
                    raise ProtocolError(f"{where}.{key} must be text")
                continue
            _check_strings(value, f"{where}.{key}")
    elif isinstance(x, list):
        for value in x:
            _check_strings(value, where)
    elif isinstance(x, str):
        if x and not (_PATH.fullmatch(x) or _ATEN.fullmatch(x) or x == _GETITEM):
            raise ProtocolError(f"the program holds the name {_short(x)} at {where}; names must "
                                "be identifiers joined by dots")
    elif not (x is None or isinstance(x, bool | int | float)):
        raise ProtocolError(f"the program holds a value of type {type(x).__name__} at {where}")


def _check_tensors(entries: Any, size: int) -> tuple[TensorEntry, ...]:
    if not isinstance(entries, list):
        raise ProtocolError("'tensors' must be a list")
    out = []
    end = 0
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or set(e) != {"role", "name", "dtype", "shape", "offset",
                                                  "nbytes", "requires_grad"}:
            raise ProtocolError(f"tensor {i} must have exactly role, name, dtype, shape, offset, "
                                "nbytes and requires_grad")
        role, name, dtype, shape = e["role"], e["name"], e["dtype"], e["shape"]
        if role not in ROLES:
            raise ProtocolError(f"tensor {i} has role {_short(role)}; the roles are {list(ROLES)}")
        if not isinstance(name, str) or not _PATH.fullmatch(name) or len(name) > 1000:
            raise ProtocolError(f"tensor {i} has the name {_short(name)}; names must be "
                                "identifiers joined by dots")
        if dtype not in DTYPES:
            raise ProtocolError(f"tensor {name!r} has dtype {_short(dtype)}; accepted: "
                                f"{sorted(DTYPES)}")
        if not isinstance(shape, list) or len(shape) > 16 or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in shape):
            raise ProtocolError(f"tensor {name!r} has the shape {_short(shape)}; a shape is a "
                                "list of at most 16 sizes >= 0")
        count = math.prod(shape)
        offset, nbytes = e["offset"], e["nbytes"]
        if nbytes != count * DTYPES[dtype]:
            raise ProtocolError(f"tensor {name!r} of shape {shape} and dtype {dtype} needs "
                                f"{count * DTYPES[dtype]} bytes; the table says {_short(nbytes)}")
        if offset != end or offset + nbytes > size:
            raise ProtocolError(f"tensor {name!r} lies outside the archive's data (offset "
                                f"{_short(offset)}, {nbytes} bytes, {size} bytes of data)")
        if not isinstance(e["requires_grad"], bool):
            raise ProtocolError(f"tensor {name!r}: requires_grad must be true or false")
        end = offset + nbytes
        out.append(TensorEntry(role, name, dtype, tuple(shape), offset, nbytes, e["requires_grad"]))
    if end != size:
        raise ProtocolError(f"the archive has {size - end} bytes of data beyond its tensors")
    if not any(t.role == "input" for t in out):
        raise ProtocolError("the archive has no example input")
    return tuple(out)


def _what(head: bytes) -> str:
    if head[:1] == b"\x80":
        return "it is a Python pickle"
    if head[:2] == b"PK":
        return "it is a zip file (torch.save / torch.export.save archives are zip files " \
               "holding pickles)"
    if not head:
        return "it is empty"
    return f"it starts with {head!r}"


def _short(x: Any, limit: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
