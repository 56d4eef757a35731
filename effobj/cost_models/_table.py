r"""Per-operator latency tables (FBNet, ProxylessNAS, Once-for-All), built on your own device.

Each candidate operation of each searchable layer of a supernet is profiled alone, on
an input of the shape it sees inside the network, with :func:`effobj.profiler.profile_model`
(``torch.utils.benchmark`` timing, adaptive until the median is precise enough). The
table keeps, for every entry, the median and its measured spread (inter-quartile
range, distribution-free 95 % interval of the median, number of timed blocks), so a
search can be made robust to noisy entries (:func:`~effobj.cost_models.expected_latency`
with ``statistic="ci_high"`` uses each entry's pessimistic end). An architecture's
latency is predicted as

.. math::

    \widehat{\mathrm{LAT}}(a) = \mathrm{LAT}_{\text{stem}} + \mathrm{LAT}_{\text{head}}
        + \sum_{l} \mathrm{LAT}_{l, a_l},

and :func:`~effobj.cost_models.check_table` measures how far that sum is from the
end-to-end latency of real architectures.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from effobj._validation import check_choice, check_int, refusal
from effobj.errors import FileFormatError, InputError, InputTypeError
from effobj.profiler import ProfileOptions

__all__ = [
    "FIXED_KEYS",
    "LatencyEntry",
    "LatencyTable",
    "MissingTableEntryError",
    "TABLE_PROFILE",
    "build_latency_table",
    "entry_key",
]

#: the fixed (not searched) parts of a supernet, profiled as entries of their own
FIXED_KEYS: tuple[str, ...] = ("stem", "head")
#: how a table's entries (and :func:`~effobj.cost_models.check_table`'s end-to-end runs) are
#: profiled by default: latency only (no memory), never from the cache, to 5 % in 0.5 s
TABLE_PROFILE = ProfileOptions(memory=False, cache=False, target_rel_spread=0.05, max_time_s=0.5)
_FORMAT = "effobj-latency-table/1"
_STATISTICS = ("median", "ci_high", "ci_low")


class MissingTableEntryError(InputError, KeyError):
    """A latency table has no entry for an operation a model or config uses."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def entry_key(layer: int, op: str) -> str:
    """The table key of candidate ``op`` of searchable layer ``layer`` (1-based), e.g. ``"3:mb5_e3"``."""
    return f"{int(layer)}:{op}"


@dataclass(frozen=True)
class LatencyEntry:
    """One measured operation: milliseconds per forward pass at the table's batch size.

    Attributes:
        median_ms: median over timed blocks.
        iqr_ms: inter-quartile range of the per-pass times (the machine's noise).
        ci95_ms: 95 % interval of the median widened by drift during the measurement (its
            precision, as the profiler reports it), or ``None`` (< 6 blocks).
        samples: timed blocks.
        converged: the median reached the requested precision before the time cap.
        input_shape: the input the operation was timed on.
    """

    median_ms: float
    iqr_ms: float
    ci95_ms: tuple[float, float] | None
    samples: int
    converged: bool
    input_shape: tuple[int, ...]

    def value(self, statistic: str = "median") -> float:
        """``"median"``, or the interval's ``"ci_high"`` / ``"ci_low"`` end (median if none)."""
        if statistic == "median" or self.ci95_ms is None:
            return self.median_ms
        return self.ci95_ms[1] if statistic == "ci_high" else self.ci95_ms[0]

    @property
    def rel_spread(self) -> float:
        """Half-width of the 95 % interval over the median (``nan`` without an interval)."""
        if self.ci95_ms is None or self.median_ms <= 0:
            return math.nan
        return (self.ci95_ms[1] - self.ci95_ms[0]) / (2 * self.median_ms)


@dataclass
class LatencyTable:
    """Latency of every candidate operation of a space, on one device.

    Attributes:
        space: the space's name (e.g. ``"supernet"``).
        device: where it was measured (``DeviceInfo.to_dict()`` of the profiler).
        batch_size: batch size of the timed inputs.
        candidate_ops: the candidates of each searchable layer (layer 1 first).
        entries: ``entry_key(layer, op)`` or a :data:`FIXED_KEYS` name -> :class:`LatencyEntry`.
        meta: free-form extras (torch version, settings).

    Example:
        >>> e = LatencyEntry(0.1, 0.01, (0.09, 0.11), 10, True, (1, 16, 8, 8))
        >>> t = LatencyTable("toy", {}, 1, [["a", "b"]],
        ...                  {"stem": e, "head": e, "1:a": e, "1:b": LatencyEntry(0.3, 0.02, None, 4, False, (1,))})
        >>> round(t.predict(["b"]), 3)                    # stem + head + 1:b
        0.5
        >>> t.lookup(1, "c")
        Traceback (most recent call last):
        ...
        effobj.cost_models._table.MissingTableEntryError: The latency table of 'toy' has no entry for operation 'c' of layer 1 (key '1:c'); its layer 1 has ['a', 'b']. Rebuild the table for this space (effobj latency-table).
    """

    space: str
    device: dict[str, Any]
    batch_size: int
    candidate_ops: list[list[str]]
    entries: dict[str, LatencyEntry]
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ look-ups
    def lookup(self, layer: int, op: str) -> LatencyEntry:
        """The entry of ``op`` in searchable layer ``layer`` (1-based).

        Raises:
            MissingTableEntryError: no such entry (the message names layer, op and key).
        """
        key = entry_key(layer, op)
        hit = self.entries.get(key)
        if hit is None:
            have = [k.split(":", 1)[1] for k in self.entries if k.startswith(f"{int(layer)}:")]
            raise MissingTableEntryError(
                f"The latency table of {self.space!r} has no entry for operation {op!r} of layer "
                f"{layer} (key {key!r}); its layer {layer} has {have}. Rebuild the table for this "
                "space (effobj latency-table)."
            )
        return hit

    def fixed(self, statistic: str = "median") -> float:
        """Milliseconds of the fixed parts (stem and head)."""
        total = 0.0
        for key in FIXED_KEYS:
            e = self.entries.get(key)
            if e is None:
                raise MissingTableEntryError(
                    f"The latency table of {self.space!r} has no entry {key!r} (the fixed part "
                    "of the network). Rebuild the table (effobj latency-table)."
                )
            total += e.value(statistic)
        return total

    def predict(self, ops: Sequence[str] | Mapping[str, Any], statistic: str = "median") -> float:
        """Predicted end-to-end milliseconds of one architecture: fixed parts plus its ops.

        Args:
            ops: the op of each searchable layer, or a config with keys ``op_1`` ...
            statistic: ``"median"``, ``"ci_high"`` or ``"ci_low"`` of each entry.
        """
        check_choice(statistic, "statistic", "LatencyTable.predict", _STATISTICS)
        names = _ops_of(ops, len(self.candidate_ops))
        return self.fixed(statistic) + sum(
            self.lookup(layer, op).value(statistic) for layer, op in enumerate(names, start=1)
        )

    def vectors(
        self, candidate_ops: Sequence[Sequence[str]] | None = None, statistic: str = "median"
    ) -> list[list[float]]:
        """Per layer, the latency of each candidate, in the order of ``candidate_ops``."""
        check_choice(statistic, "statistic", "LatencyTable.vectors", _STATISTICS)
        cands = self.candidate_ops if candidate_ops is None else candidate_ops
        return [[self.lookup(layer, op).value(statistic) for op in ops]
                for layer, ops in enumerate(cands, start=1)]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        return {
            "format": _FORMAT,
            "space": self.space,
            "device": self.device,
            "batch_size": self.batch_size,
            "candidate_ops": self.candidate_ops,
            "entries": {k: asdict(v) for k, v in self.entries.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LatencyTable:
        """Inverse of :meth:`to_dict`.

        Raises:
            FileFormatError: not a latency table of this format, or a malformed entry.
        """
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT:
            got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise FileFormatError(
                f"A latency table must be a JSON object with \"format\": {_FORMAT!r}. Got {got!r}."
            )
        try:
            entries = {
                str(k): LatencyEntry(
                    median_ms=float(v["median_ms"]), iqr_ms=float(v["iqr_ms"]),
                    ci95_ms=None if v["ci95_ms"] is None else (float(v["ci95_ms"][0]), float(v["ci95_ms"][1])),
                    samples=int(v["samples"]), converged=bool(v["converged"]),
                    input_shape=tuple(int(s) for s in v["input_shape"]),
                )
                for k, v in d["entries"].items()
            }
            return cls(space=str(d["space"]), device=dict(d["device"]), batch_size=int(d["batch_size"]),
                       candidate_ops=[list(map(str, ops)) for ops in d["candidate_ops"]],
                       entries=entries, meta=dict(d.get("meta", {})))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise FileFormatError(f"Malformed latency table: {type(exc).__name__}: {exc}.") from None

    def save(self, path: str | Path) -> None:
        """Write the table as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table written by :meth:`save`.

        Raises:
            FileFormatError: the file is not JSON or not a latency table.
        """
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{path}: not JSON ({exc}).") from None
        return cls.from_dict(d)


def _ops_of(ops: Sequence[str] | Mapping[str, Any], n_layers: int) -> list[str]:
    if isinstance(ops, Mapping):
        missing = [f"op_{i}" for i in range(1, n_layers + 1) if f"op_{i}" not in ops]
        if missing:
            raise InputError(f"The config given to the latency table lacks {missing}.")
        return [str(ops[f"op_{i}"]) for i in range(1, n_layers + 1)]
    names = [str(o) for o in ops]
    if len(names) != n_layers:
        raise InputError(
            f"The 'ops' given to the latency table must name one op per searchable layer "
            f"({n_layers}). Got {len(names)}: {names}."
        )
    return names


def table_options(options: ProfileOptions | None, overrides: dict[str, Any],
                  where: str) -> ProfileOptions:
    """The options of a function that times a table: ``options`` (default
    :data:`TABLE_PROFILE`) with ``overrides``, latency required."""
    opts = ProfileOptions.resolve(TABLE_PROFILE if options is None else options, overrides, where)
    if not opts.latency:
        raise refusal("latency", where, "be True: a latency table times what it profiles", "False")
    return opts


def check_space(space: Any, where: str) -> None:
    """Refuse a space name: library functions take the space object, only the CLI resolves names."""
    if isinstance(space, str):
        raise refusal("space", where, f"be a search space object, not a name (effobj.spaces.get({space!r}) "
                      "resolves it)", repr(space), error=InputTypeError)


def _entry(report: Any, shape: tuple[int, ...]) -> LatencyEntry:
    ci = report.latency_ci95_ms
    return LatencyEntry(
        median_ms=float(report.latency_ms), iqr_ms=float(report.latency_iqr_ms or 0.0),
        ci95_ms=None if ci is None else (float(ci[0]), float(ci[1])),
        samples=int(report.latency_samples or 0), converged=bool(report.latency_converged),
        input_shape=tuple(int(s) for s in shape),
    )


def build_latency_table(
    space: Any,
    *,
    data: Any = None,
    batch_size: int = 1,
    supernet: Any = None,
    options: ProfileOptions | None = None,
    **overrides: Any,
) -> LatencyTable:
    """Profile every candidate operation of a supernet space on ``device``.

    The space must offer ``build_supernet(data)`` returning a network with ``stem``,
    ``layers`` (each with ``ops``, in the order of ``candidate_ops``) and ``head``, as
    ``effobj.spaces.get("supernet")`` does. Each operation is timed on the input it
    gets inside the network (the output of the layer before; every candidate of a layer
    produces the same shape).

    Args:
        space: the space object (``effobj.spaces.get(name)`` resolves a name).
        data: the dataset (fixes input shape and classes); default the space's own.
        batch_size: batch size of the timed inputs (deployment batch).
        supernet: an already built supernet (skips ``build_supernet``).
        options: how each entry is profiled (:class:`~effobj.profiler.ProfileOptions`);
            default :data:`TABLE_PROFILE` (latency only, uncached, 5 % in 0.5 s).
        **overrides: fields of :class:`~effobj.profiler.ProfileOptions` applied over
            ``options`` (``device=``, ``threads=``, ``target_rel_spread=``, ``max_time_s=``...).

    Returns:
        The :class:`LatencyTable`.

    Raises:
        InputError: the space has no supernet, or a bad option.
        ProfilingError: an operation failed to run.
    """
    import torch

    from effobj.profiler import profile_model

    opts = table_options(options, overrides, "build_latency_table")
    check_space(space, "build_latency_table")
    func = "build_latency_table"
    batch_size = check_int(batch_size, "batch_size", func, low=1)
    net = supernet
    if net is None:
        if not callable(getattr(space, "build_supernet", None)):
            raise refusal("space", func, "offer build_supernet() (a supernet of candidate operations)",
                          repr(getattr(space, "name", space)))
        net = space.build_supernet(data)
    net = net.eval()
    if getattr(net, "input_shape", None) is None:
        raise refusal("space" if supernet is None else "supernet", func,
                      "give a supernet that carries its 'input_shape' (C, H, W), as "
                      "SupernetSpace.build_supernet sets it", f"{type(net).__name__} without one")
    shape = tuple(int(s) for s in net.input_shape)
    entries: dict[str, LatencyEntry] = {}
    info: dict[str, Any] = {}

    def timed(module: Any, x: torch.Tensor, key: str) -> torch.Tensor:
        report = profile_model(module, x, opts)
        entries[key] = _entry(report, tuple(x.shape))
        info.update(report.device.to_dict())
        with torch.no_grad():
            return module(x)

    x = torch.zeros(batch_size, *shape)
    x = timed(net.stem, x, "stem")
    for layer_no, layer in enumerate(net.layers, start=1):
        outs = [timed(op, x, entry_key(layer_no, name)) for name, op in zip(layer.names, layer.ops, strict=True)]
        x = outs[0]
    timed(net.head, x, "head")
    return LatencyTable(
        space=str(getattr(space, "name", "supernet")), device=info, batch_size=batch_size,
        candidate_ops=[list(ops) for ops in net.candidate_ops], entries=entries,
        meta={"torch": torch.__version__, "python": platform.python_version(),
              "target_rel_spread": opts.target_rel_spread, "max_time_s": opts.max_time_s,
              "threads": opts.threads, "runtime": opts.runtime,
              "latency_method": opts.latency_method,
              "input_shape": list(shape)},
    )
