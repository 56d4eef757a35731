"""The runtime the timed passes run in: eager PyTorch, ``torch.compile`` or ONNX Runtime.

:func:`prepare_runtime` turns the placed model and its inputs into one callable that runs
one forward pass in the chosen runtime (:attr:`ProfileOptions.runtime
<effobj.profiler.ProfileOptions.runtime>`), after the runtime's one-time work, which is
timed apart from the latency:

* ``"eager"``: the model as written; nothing to prepare.
* ``"compile"``: ``torch.compile(model)`` (default mode and backend, graph breaks allowed,
  as a deployment that calls it gets); the first call compiles, and it and one more call
  are the warm-up. Dynamo's caches are reset first: one process profiles many models whose
  ``forward`` is the same code, and past the recompile limit dynamo would silently run
  them in eager.
* ``"onnxruntime"``: ``torch.onnx.export(model, inputs, dynamo=True)`` (the
  ``torch.export``-based exporter; it needs ``onnxscript``) into memory, then an
  ``onnxruntime.InferenceSession`` with the ``CPUExecutionProvider`` and
  ``intra_op_num_threads`` = the profile's threads. The exporter traces one graph: a model
  whose control flow depends on its input values (``if x.sum() > 0``) is refused, as are
  operators without an ONNX translation, and a model over 2 GB (it is serialized in
  memory).

A model the runtime cannot take raises :class:`~effobj.errors.ProfilingError` naming the
runtime and its reason, so a search records that trial as failed and goes on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from effobj.errors import InputError, ProfilingError

if TYPE_CHECKING:
    import torch

__all__ = ["Prepared", "check_runtime_available", "prepare_runtime"]


@dataclass(frozen=True)
class Prepared:
    """A model ready to be timed in its runtime.

    Attributes:
        fn: Runs one forward pass on the example inputs.
        setup_s: Seconds of the runtime's one-time work (compilation; export and session
            creation), ``None`` in eager.
        warm_s: Seconds of the passes already run in the runtime (they count as warm-up).
    """

    fn: Callable[[], object]
    setup_s: float | None
    warm_s: tuple[float, ...]


def check_runtime_available(runtime: str, where: str) -> None:
    """Refuse ``runtime="onnxruntime"`` where its packages are not installed.

    Raises:
        InputError: ``onnxruntime``, ``onnx`` or ``onnxscript`` cannot be imported.
    """
    if runtime != "onnxruntime":
        return
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"The 'runtime' parameter of {where} is 'onnxruntime', but {missing} "
                         "cannot be imported: install effobj's onnx extra "
                         "(pip install 'effobj[onnx]').")


def prepare_runtime(runtime: str, model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], *,
                    threads: int, name: str, spin: bool = True) -> Prepared:
    """``model`` (in eval mode, on its device) made ready to time in ``runtime``.

    Raises:
        ProfilingError: the runtime refused the model (the message names the runtime, the
            step and the runtime's reason).
    """
    if runtime == "compile":
        return _compiled(model, inputs, name)
    if runtime == "onnxruntime":
        return _onnxruntime(model, inputs, threads, name, spin)

    def eager() -> object:
        return model(*inputs)

    return Prepared(eager, None, ())


def _compiled(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], name: str) -> Prepared:
    import torch

    t0 = time.perf_counter()
    try:
        torch._dynamo.reset()
        compiled = torch.compile(model)
        with torch.inference_mode():
            compiled(*inputs)  # compiles
            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            compiled(*inputs)
            warm = time.perf_counter() - t1
    except Exception as exc:
        raise _refused(name, "compile", "compiling with torch.compile", exc) from exc

    def run() -> object:
        return compiled(*inputs)

    return Prepared(run, setup, (warm,))


def _onnxruntime(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], threads: int,
                 name: str, spin: bool = True) -> Prepared:
    import onnxruntime as ort
    import torch

    t0 = time.perf_counter()
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(model, inputs, dynamo=True, verbose=False)
        if program is None:  # only a file-writing export returns None
            raise RuntimeError("torch.onnx.export returned no program")
        proto = program.model_proto.SerializeToString()
    except Exception as exc:
        raise _refused(name, "onnxruntime", "exporting to ONNX with torch.onnx.export", exc) from exc
    try:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        if not spin:  # idle threads sleep instead of spinning (a reference beside a candidate)
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(proto, so, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        feeds = {n: x.detach().cpu().contiguous().numpy()
                 for n, x in zip(names, inputs, strict=False)}
        setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = session.run(None, feeds)
        warm = time.perf_counter() - t1
    except Exception as exc:
        raise _refused(name, "onnxruntime", "running the exported model in an InferenceSession",
                       exc) from exc
    if not out:
        raise ProfilingError(f"Profiling {name} failed at step 'running the exported model' "
                             "(runtime 'onnxruntime'): the session returned no output.")

    def run() -> object:
        return session.run(None, feeds)

    return Prepared(run, setup, (warm,))


def _refused(name: str, runtime: str, step: str, exc: BaseException) -> ProfilingError:
    return ProfilingError(f"Profiling {name} failed at step '{step}' (runtime {runtime!r}): "
                          f"the runtime cannot take this model: {_reason(exc)}")


#: an ANSI escape sequence (CSI colours ``\x1b[1;31m``, OSC titles, two-character escapes)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _plain_text(exc: BaseException) -> str:
    """The exception's message without ANSI escapes: the exporter and onnxruntime colour
    theirs, and a message re-raised (and printed without its ESC) would show ``[1m`` residue."""
    return _ANSI.sub("", str(exc))


def _reason(exc: BaseException) -> str:
    """The exception's first line, and for torch.onnx's errors the summary of the cause."""
    lines = [ln.strip() for ln in _plain_text(exc).splitlines() if ln.strip()]
    first = lines[0] if lines else "(no message)"
    text = f"{type(exc).__name__}: {first}"
    if "## Exception summary" in lines:  # torch.onnx's report: the underlying error follows
        after = lines[lines.index("## Exception summary") + 1:]
        cause = " ".join(after[:2])
        if cause:
            text += f" ({cause})"
    elif exc.__cause__ is not None:
        text += f" (caused by {type(exc.__cause__).__name__}: {_first(exc.__cause__)})"
    return text


def _first(exc: BaseException) -> str:
    text = _plain_text(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress logs and warnings (its errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export",
                                              "torch.fx.experimental.symbolic_shapes",
                                              "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)

