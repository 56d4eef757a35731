"""Small, deterministic problems for the Optuna integration tests (importable by workers).

The "size" problem: a candidate is an integer ``size`` in [1, 9]; its cost is ``size``
(normalized by 10) and its performance peaks at ``size == 3``. Every value is known in
closed form, so the tests can check each recorded number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from effobj import EfficiencySpec
from effobj.optuna import EfficiencyObjective


def size_perf(size: int) -> float:
    return 1.0 - abs(size - 3) / 10.0


def size_spec(**changes) -> EfficiencySpec:
    kw = dict(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_name="size")
    kw.update(changes)
    return EfficiencySpec(**kw)


class Counter:
    """evaluate() that counts its calls (which candidates were trained)."""

    def __init__(self, perf=size_perf, epochs: int = 0) -> None:
        self.calls: list[int] = []
        self.perf = perf
        self.epochs = epochs

    def __call__(self, size: int, trial: optuna.trial.Trial, report=None) -> float:
        self.calls.append(size)
        p = self.perf(size)
        for e in range(self.epochs):
            report(e, p * (e + 1) / self.epochs)
        return p


def size_objective(spec: EfficiencySpec | None = None, evaluate=None, **kw) -> EfficiencyObjective:
    return EfficiencyObjective(
        spec or size_spec(),
        build=lambda t: t.suggest_int("size", 1, 9),
        evaluate=evaluate or Counter(),
        measure=lambda size: {"size": float(size), "other": 2.0 * size},
        **kw,
    )


class SizeTableSpace:
    """The "size" problem as a tabular search space (``effobj.spaces`` protocol).

    ``lookup`` sleeps ``delay`` seconds, standing in for a training, so that a test can
    interrupt a search in the middle of one.
    """

    name = "size-table"
    kind = "tabular"
    default_dataset = "size"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def suggest(self, trial):
        return {"size": trial.suggest_int("size", 1, 9)}

    def validate(self, config):
        from effobj import InputError

        if config.get("size") not in range(1, 10):
            raise InputError(f"size must be an int in [1, 9]. Got {config.get('size')!r}.")

    def describe(self, config):
        return f"size {config['size']}"

    def encoding(self):
        return [("size", list(range(1, 10)))]

    def encode(self, config):
        return [config["size"] - 1]

    def decode(self, indices):
        return {"size": indices[0] + 1}

    def lookup(self, config):
        import time

        if self.delay:
            time.sleep(self.delay)
        s = config["size"]
        return {"perf": size_perf(s), "test_perf": size_perf(s) - 0.01, "size": float(s),
                "latency": 0.5 * s}

    def table(self):
        return [(self.decode([i]), self.lookup(self.decode([i]))) for i in range(9)]

    def exhaustive_optimum(self, score_fn):
        rows = [(c, r, score_fn(r["perf"], r)) for c, r in self.table()]
        return max(rows, key=lambda x: x[2])


#: the worker script the multi-process tests start (optuna_worker.py beside this file)
WORKER = Path(__file__).with_name("optuna_worker.py")


def spawn_worker(storage: str, name: str, n: int, *extra: str) -> Any:
    """Start ``optuna_worker.py STORAGE NAME N EXTRA...`` as a real process (pipes open)."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, str(WORKER), storage, name, str(n), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_worker(proc: Any, timeout: float = 180) -> dict[str, Any]:
    """A worker's exit code and the JSON lines it printed, merged (its stderr on failure)."""
    import json

    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert lines, f"worker printed nothing (rc {proc.returncode}); stderr:\n{err[-2000:]}"
    return {"rc": proc.returncode, **{k: v for d in lines for k, v in d.items()}}
