"""``nas-bench-graph:DATASET``: the tabular GNN benchmark of the PyPI package nas-bench-graph.

NAS-Bench-Graph (Qin et al., NeurIPS 2022) trained every architecture of a GNN
macro space on nine node-classification datasets and ships, per dataset, a table of
validation and test accuracy, latency and parameter count. An architecture is a DAG of
four nodes: node ``i`` (``i = 0..3``) applies operation ``op_i`` to its input
``link_i``, where 0 is the graph's input features and ``j > 0`` the output of node
``j - 1`` (so ``link_0 = 0`` always, and ``link_i <= i``). Its 4 x 24 choices give
26,206 distinct architectures (2,021 on ``proteins``, whose table has only five
operations) once isomorphic ones are merged; the all-``skip`` architecture is not in
the benchmark and is rejected.

Configs map to table rows through the package's own canonical hashing,
``Arch(link, ops).valid_hash()`` (``link = [0, link_1, link_2, link_3]``). On
``proteins`` the configs choose among the package's five ``gnn_list_proteins``
operations, but the table is keyed by the default nine-operation hash, which is what
``valid_hash()`` computes, so the same call maps both.

"Training" is a table look-up: ``perf`` is the benchmark's ``valid_perf`` and
``test_perf`` its ``perf`` (test accuracy). Cost indicators: ``latency`` in seconds per
inference of the whole graph as the benchmark measured it, and ``params`` as a count
(the table's ``para`` is in millions). Tables are read once per dataset and kept as
numpy arrays, so :meth:`NasBenchGraphSpace.exhaustive_optimum` scores all 26,206
architectures in one vectorized call (a scalar fallback calls the score function per
row), which makes exact regret available to every benchmark.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from effobj._validation import check_choice, check_real, refusal
from effobj.errors import InputError
from effobj.spaces._params import Categorical, ParamSpace

__all__ = ["DATASETS", "NasBenchGraphSpace", "Table"]

#: the nine datasets of the benchmark
DATASETS: tuple[str, ...] = (
    "cora",
    "citeseer",
    "pubmed",
    "cs",
    "physics",
    "photo",
    "computers",
    "arxiv",
    "proteins",
)

#: cost indicator -> unit
COST_UNITS: dict[str, str] = {"latency": "s", "params": "count"}


@dataclass(frozen=True)
class Table:
    """One dataset's benchmark as aligned numpy arrays (row ``i`` is ``keys[i]``)."""

    keys: np.ndarray  # int64 canonical hashes, sorted
    perf: np.ndarray  # valid_perf
    test_perf: np.ndarray  # perf (test accuracy)
    latency: np.ndarray  # seconds
    params: np.ndarray  # parameter count
    row: dict[int, int]  # hash -> row


@functools.lru_cache(maxsize=len(DATASETS))
def _table(dataset: str) -> Table:
    from nas_bench_graph import light_read

    bench = light_read(dataset)
    keys = np.array(sorted(int(k) for k in bench), dtype=np.int64)
    recs = [bench[int(k)] for k in keys]

    def column(name: str, scale: float = 1.0) -> np.ndarray:
        arr = np.array([float(r[name]) * scale for r in recs], dtype=np.float64)
        arr.setflags(write=False)
        return arr

    keys.setflags(write=False)
    return Table(
        keys=keys,
        perf=column("valid_perf"),
        test_perf=column("perf"),
        latency=column("latency"),
        params=np.round(column("para", 1e6)),
        row={int(k): i for i, k in enumerate(keys)},
    )


class NasBenchGraphSpace(ParamSpace):
    """The NAS-Bench-Graph table of one dataset as a search space.

    Args:
        dataset: one of :data:`DATASETS`.
    """

    kind: Literal["tabular"] = "tabular"
    cost_units: dict[str, str] = COST_UNITS

    def __init__(self, dataset: str = "cora") -> None:
        from nas_bench_graph.architecture import gnn_list, gnn_list_proteins

        check_choice(dataset, "dataset", "the 'nas-bench-graph' search space", DATASETS)
        self.dataset = dataset
        self.name = f"nas-bench-graph:{dataset}"
        self.default_dataset = dataset
        self.operations: tuple[str, ...] = tuple(
            gnn_list_proteins if dataset == "proteins" else gnn_list
        )
        self.params = (
            *(Categorical(f"link_{i}", tuple(range(i + 1))) for i in (1, 2, 3)),
            *(Categorical(f"op_{i}", self.operations) for i in range(4)),
        )

    # -- config <-> table -----------------------------------------------------------
    def _check_combination(self, config: Mapping[str, Any]) -> None:
        if all(config[f"op_{i}"] == "skip" for i in range(4)):
            raise InputError(
                f"The 'op_0' .. 'op_3' parameters of the {self.name!r} search space must not "
                f"all be 'skip' (that architecture has no GNN layer and is not in the "
                f"benchmark). Got ['skip', 'skip', 'skip', 'skip'] instead."
            )

    @staticmethod
    def _arch(config: Mapping[str, Any]) -> tuple[list[int], list[str]]:
        link = [0, *(int(config[f"link_{i}"]) for i in (1, 2, 3))]
        return link, [str(config[f"op_{i}"]) for i in range(4)]

    def arch_hash(self, config: Mapping[str, Any]) -> int:
        """The package's canonical hash ``Arch(link, ops).valid_hash()`` of the config."""
        from nas_bench_graph import Arch

        self.validate(config)
        return int(Arch(*self._arch(config)).valid_hash())

    def identity(self, config: Mapping[str, Any]) -> str:
        """The benchmark's canonical hash as text: isomorphic cells are one architecture."""
        return f"nbg:{self.arch_hash(config)}"

    def _row(self, config: Mapping[str, Any]) -> int:
        h = self.arch_hash(config)
        row = _table(self.dataset).row.get(h)
        if row is None:  # pragma: no cover - every valid config is in the table (tested)
            raise refusal("config", f"the {self.name!r} search space",
                          "be an architecture of the benchmark", f"{dict(config)!r} (hash {h})")
        return row

    def _record(self, row: int) -> dict[str, float]:
        t = _table(self.dataset)
        return {
            "perf": float(t.perf[row]),
            "test_perf": float(t.test_perf[row]),
            "latency": float(t.latency[row]),
            "params": float(t.params[row]),
        }

    def _config_of_key(self, key: int) -> dict[str, Any]:
        from nas_bench_graph.architecture import gnn_list, link_list

        digits = []
        rest = int(key)
        for _ in range(4):
            rest, d = divmod(rest, len(gnn_list) + 1)
            digits.append(gnn_list[d])
        link = link_list[rest]
        config: dict[str, Any] = {f"link_{i}": link[i] for i in (1, 2, 3)}
        config.update({f"op_{i}": op for i, op in enumerate(reversed(digits))})
        return config

    # -- the protocol ---------------------------------------------------------------
    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``nas-bench-graph:cora [gcn<-in, gat<-0, skip<-1, gcn<-2]``."""
        link, ops = self._arch(config)
        nodes = ", ".join(
            f"{op}<-{'in' if src == 0 else src - 1}" for op, src in zip(ops, link, strict=True)
        )
        return f"{self.name} [{nodes}]"

    def lookup(self, config: Mapping[str, Any]) -> dict[str, float]:
        """``{"perf", "test_perf", "latency", "params"}`` of the config's architecture.

        Raises:
            InputError: the config is outside the space (or all ``skip``).
        """
        return self._record(self._row(config))

    def arrays(self) -> dict[str, np.ndarray]:
        """Read-only arrays ``perf``, ``test_perf``, ``latency``, ``params`` aligned with :meth:`table`."""
        t = _table(self.dataset)
        return {"perf": t.perf, "test_perf": t.test_perf, "latency": t.latency, "params": t.params}

    def table(self) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Every architecture as ``(canonical config, record)``, in hash order."""
        t = _table(self.dataset)
        return [(self._config_of_key(int(k)), self._record(i)) for i, k in enumerate(t.keys)]

    def config_at(self, row: int) -> dict[str, Any]:
        """The canonical config of row ``row`` of :meth:`arrays`."""
        return self._config_of_key(int(_table(self.dataset).keys[row]))

    def scores(self, score_fn: Callable[[Any, dict[str, Any]], Any]) -> np.ndarray:
        """``score_fn(perf, {"latency": ..., "params": ...})`` of every row of :meth:`arrays`.

        ``score_fn`` is first called once with whole arrays; if it raises or does not
        return one score per row, it is called row by row with floats instead.

        Raises:
            InputError: a score is NaN.
        """
        a = self.arrays()
        n = len(a["perf"])
        scores: np.ndarray | None = None
        try:
            out = np.asarray(
                score_fn(a["perf"], {"latency": a["latency"], "params": a["params"]}),
                dtype=np.float64,
            )
            if out.shape == (n,):
                scores = out
        except Exception:  # noqa: BLE001 - a scalar-only function; the loop below re-raises real errors
            scores = None
        if scores is None:
            scores = np.fromiter(
                (
                    float(score_fn(float(a["perf"][i]), {"latency": float(a["latency"][i]), "params": float(a["params"][i])}))
                    for i in range(n)
                ),
                dtype=np.float64,
                count=n,
            )
        bad = np.flatnonzero(np.isnan(scores))
        if bad.size:
            raise refusal(
                "score_fn", f"{self.name!r}.exhaustive_optimum",
                "return a number for every architecture",
                f"NaN for {bad.size} of them (e.g. {self.describe(self.config_at(int(bad[0])))})",
            )
        return scores

    def exhaustive_optimum(
        self, score_fn: Callable[[Any, dict[str, Any]], Any]
    ) -> tuple[dict[str, Any], dict[str, float], float]:
        """The architecture maximizing ``score_fn(perf, costs)`` over the whole table.

        Args:
            score_fn: higher is better; called as ``score_fn(perf, {"latency", "params"})``
                with ``perf`` the validation accuracy, e.g.
                ``lambda p, c: spec.score(p, c)`` for an effobj ``EfficiencySpec``.

        Returns:
            ``(config, record, score)``; ties go to the first row in hash order.
        """
        scores = self.scores(score_fn)
        best = int(np.argmax(scores))
        return self.config_at(best), self._record(best), float(scores[best])

    def regret(self, score: float, score_fn: Callable[[Any, dict[str, Any]], Any]) -> float:
        """``optimum - score``: how far a found ``score`` is from the table's best."""
        score = check_real(score, "score", "regret")
        return self.exhaustive_optimum(score_fn)[2] - score
