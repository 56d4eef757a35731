"""A reproducible table of real learning curves (a small "LCBench") for early-stopping replays.

Every config of a fixed grid of a model space of :mod:`effobj.spaces` is trained for the
space's maximum number of epochs (the epoch is the *fidelity*, not a searched parameter),
under several seeds, and every epoch's validation accuracy and wall time are written down.
A multi-fidelity search (successive halving, Hyperband, median pruning, ...) can then be
replayed on the table: an Optuna study suggests each grid parameter with
``suggest_categorical(key, grid[key])`` (or ``suggest_int`` for the int parameters, whose
grid values are contiguous), looks the config up, and reads its curve epoch by epoch
instead of training.

A table is named for its space, or ``<space>-<dataset>`` (``mlp-digits``: the mlp grid on
digits, a held-out table); :data:`SPACE_OF` gives its space, :data:`DATASETS` its data set
and :data:`GRIDS` its grid (parameter -> values; every other parameter keeps the space's
``default_config()`` value, ``epochs`` is set to :data:`EPOCHS`). Config ids are
indices into ``itertools.product`` of the grid values in the order written there.

One JSON line per (config, seed) in ``benchmarks/data/lc_<space>.jsonl.gz``::

    {"space", "dataset", "config_id", "config", "grid", "seed", "epochs", "epochs_run",
     "val", "epoch_s", "test", "diverged", "train_flops", "costs"}

``val[e]`` is the validation accuracy after epoch ``e``; ``epoch_s[e]`` the seconds of that
epoch's training and validation pass (the first epoch also pays the one-off FLOP count of
the first training step of each batch size). A run whose training loss became inf/NaN
stops there (``diverged`` true): its last ``val`` is 0.0, ``test`` is 0.0 and ``val`` is
shorter than ``epochs``. ``costs`` (``flops``/``macs`` of one inference of one sample,
``n_params``, ``model_bytes``) are measured once per config with
:func:`effobj.profiler.profile_model` (``latency=False``) and repeated in every seed's record.
Model weights are initialized with the record's seed, and training uses it too.

Commands::

    .venv/bin/python benchmarks/lc_table.py build [--space mlp|mobilenet|all] [--seeds N] [--out DIR]
    .venv/bin/python benchmarks/lc_table.py summary [--space ...] [--out DIR]

``build`` is resumable: records already in the table (same config id and seed, same
config) are skipped, new ones are appended one by one, and the finished table is rewritten
sorted by (config_id, seed) as one gzip member with a zero timestamp. It runs torch on one
thread in one process.

For a replay::

    sys.path.insert(0, "benchmarks"); import lc_table
    grid = lc_table.grid_of("mlp"); rows = lc_table.load_table("mlp")

Importing this module has no side effects (torch and effobj are imported when used).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"

#: the dataset of each table
DATASETS: dict[str, str] = {"mlp": "breast_cancer", "mobilenet": "digits", "mlp-digits": "digits"}

#: the model space of each table (a table is named for its space, or ``<space>-<dataset>``)
SPACE_OF: dict[str, str] = {"mlp": "mlp", "mobilenet": "mobilenet", "mlp-digits": "mlp"}

#: epochs every config trains for (the space's maximum ``epochs``)
EPOCHS: dict[str, int] = {"mlp": 40, "mobilenet": 8, "mlp-digits": 40}

#: seeds of a default build
SEEDS: dict[str, int] = {"mlp": 3, "mobilenet": 2, "mlp-digits": 2}

#: the grid of each space: parameter -> values (the rest at ``default_config()``).
#: Architecture parameters (cost) crossed with training parameters (curve shape): the
#: learning rates run from too low to too high for the optimizer. Int parameters take
#: contiguous values so ``trial.suggest_int`` also lands on the grid.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "mlp": {
        "depth": [1, 2, 3],
        "width_1": [16, 256],
        "norm": ["none", "batch"],
        "batch_size": [32, 128],
        "optimizer": ["adam", "sgd"],
        "lr": [1e-4, 1e-3, 1e-2, 3e-2, 1e-1],
    },
    "mobilenet": {
        "resolution": [8, 12],
        "width_mult": [0.5, 0.75],
        "batch_size": [128, 256],
        "optimizer": ["adam", "sgd"],
        "lr": [1e-4, 1e-3, 3e-3, 1e-2, 1e-1],
    },
}
#: the held-out table: the mlp grid on another data set, built after the early-stopping
#: rule was fixed, so that nothing in the rule was chosen while looking at its curves
GRIDS["mlp-digits"] = GRIDS["mlp"]

SPACES = tuple(GRIDS)


# -- grid and table access (no torch) ------------------------------------------------
def grid_of(space: str) -> dict[str, list[Any]]:
    """The grid of ``space``: parameter -> values, in config-id order (a copy)."""
    if space not in GRIDS:
        raise ValueError(f"The 'space' parameter of grid_of must be one of {list(GRIDS)}. Got {space!r}.")
    return {k: list(v) for k, v in GRIDS[space].items()}


def grid_points(space: str) -> list[dict[str, Any]]:
    """Every grid point of ``space`` (only the grid parameters); index = config id."""
    grid = grid_of(space)
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def table_path(space: str, out: Path | str = DATA) -> Path:
    """``<out>/lc_<space>.jsonl.gz``."""
    return Path(out) / f"lc_{space}.jsonl.gz"


def _read(path: Path) -> list[dict[str, Any]]:
    """Records of a (possibly interrupted: truncated last member) gzip JSON-lines file."""
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        break  # a line cut by an interruption
    except (EOFError, gzip.BadGzipFile, OSError):
        pass  # truncated tail: keep what was complete
    return rows


def load_table(space: str, out: Path | str = DATA) -> list[dict[str, Any]]:
    """Every record of ``space``'s table, sorted by (config_id, seed)."""
    grid_of(space)
    rows = _read(table_path(space, out))
    return sorted(rows, key=lambda r: (r["config_id"], r["seed"]))


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` as one gzip member (timestamp 0), rows sorted by (config_id, seed)."""
    rows = sorted(rows, key=lambda r: (r["config_id"], r["seed"]))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for r in rows:
            gz.write((json.dumps(r, separators=(",", ":")) + "\n").encode())
    tmp.replace(path)


# -- build ---------------------------------------------------------------------------
def configs(space: str) -> list[dict[str, Any]]:
    """The full configs of ``space``'s grid (defaults + grid values + max epochs), validated."""
    import effobj.spaces

    sp = effobj.spaces.get(SPACE_OF[space])
    out = []
    for point in grid_points(space):
        config = sp.default_config()
        config.update(point)
        config["epochs"] = EPOCHS[space]
        sp.validate(config)
        out.append(config)
    return out


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _costs(sp: Any, config: dict[str, Any], data: Any) -> dict[str, Any]:
    from effobj.profiler import profile_model

    model = sp.build(config, data, seed=0)
    rep = profile_model(model, sp.example_input(config, data), latency=False)
    return {"flops": int(rep.flops), "macs": int(rep.macs), "n_params": int(rep.n_params),
            "model_bytes": int(rep.model_bytes)}


def _train(sp: Any, config: dict[str, Any], data: Any, seed: int) -> tuple[Any, list[float]]:
    epoch_s: list[float] = []
    last = [0.0]

    def on_epoch(epoch: int, val: float) -> None:
        now = time.perf_counter()
        epoch_s.append(now - last[0])
        last[0] = now

    model = sp.build(config, data, seed=seed)
    last[0] = time.perf_counter()
    result = sp.train(model, config, data, seed=seed, on_epoch=on_epoch)
    return result, epoch_s


def build(space: str, seeds: int, out: Path | str = DATA, log: Any = print) -> int:
    """Train every (config, seed) of ``space`` missing from its table; returns how many ran.

    Seeds are the outer loop (all configs under seed 0 first), so an interrupted build
    leaves whole seeds behind it.
    """
    import torch

    import effobj.spaces
    from effobj.spaces import load_dataset

    torch.set_num_threads(1)
    sp = effobj.spaces.get(SPACE_OF[space])
    dataset = DATASETS[space]
    data = load_dataset(dataset)
    cfgs = configs(space)
    points = grid_points(space)
    path = table_path(space, out)
    path.parent.mkdir(parents=True, exist_ok=True)

    rows = _read(path)
    done: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        cid = r["config_id"]
        if r["space"] != space or cid >= len(cfgs) or r["config"] != json.loads(json.dumps(cfgs[cid])):
            raise SystemExit(f"{path}: record (config_id={cid}, seed={r['seed']}) does not match the "
                             f"grid of {space!r} in this script; move the file away to rebuild.")
        done[(cid, r["seed"])] = r
    _write(path, list(done.values()))  # drop a truncated tail before appending
    costs = {cid: r["costs"] for (cid, _), r in done.items()}

    todo = [(seed, cid) for seed in range(seeds) for cid in range(len(cfgs)) if (cid, seed) not in done]
    log(f"[{space}] {len(cfgs)} configs x {seeds} seeds on {dataset}, {EPOCHS[space]} epochs: "
        f"{len(done)} records present, {len(todo)} to train")
    t_start = time.perf_counter()
    for i, (seed, cid) in enumerate(todo, 1):
        config = cfgs[cid]
        if cid not in costs:
            costs[cid] = _costs(sp, config, data)
        result, epoch_s = _train(sp, config, data, seed)
        record = {
            "space": space,
            "dataset": dataset,
            "config_id": cid,
            "config": {k: _plain(v) for k, v in config.items()},
            "grid": {k: _plain(v) for k, v in points[cid].items()},
            "seed": seed,
            "epochs": EPOCHS[space],
            "epochs_run": int(result.epochs_run),
            "val": [float(v) for v in result.history],
            "epoch_s": [round(s, 5) for s in epoch_s],
            "test": float(result.test_perf),
            "diverged": bool(result.diverged),
            "train_flops": float(result.train_flops),
            "costs": costs[cid],
        }
        with gzip.open(path, "ab") as f:
            f.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
        if i % 10 == 0 or i == len(todo):
            el = time.perf_counter() - t_start
            log(f"[{space}] {i}/{len(todo)} done, {el:.0f} s, eta {el / i * (len(todo) - i):.0f} s "
                f"(last: id {cid} seed {seed} val {record['val'][-1]:.3f} "
                f"{sum(epoch_s):.2f} s{' DIVERGED' if result.diverged else ''})")
    _write(path, load_table(space, out))
    return len(todo)


# -- summary -------------------------------------------------------------------------
def summary(space: str, out: Path | str = DATA) -> str:
    """Markdown lines of summary statistics of ``space``'s table."""
    rows = load_table(space, out)
    if not rows:
        return f"- `{space}`: no records"
    finals = [r["val"][-1] for r in rows]
    best_last = [max(r["val"]) == r["val"][-1] and not r["diverged"] for r in rows]
    argmax_last = [r["val"].index(max(r["val"])) == len(r["val"]) - 1 for r in rows]
    ep = [s for r in rows for s in r["epoch_s"][1:]]
    total = sum(sum(r["epoch_s"]) for r in rows)
    q = statistics.quantiles(finals, n=4) if len(finals) > 1 else [finals[0]] * 3
    n_cfg = len({r["config_id"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    per_cfg: dict[int, list[float]] = {}
    for r in rows:
        per_cfg.setdefault(r["config_id"], []).append(r["val"][-1])
    seed_sd = statistics.mean(statistics.pstdev(v) for v in per_cfg.values() if len(v) > 1) \
        if any(len(v) > 1 for v in per_cfg.values()) else math.nan
    flops = sorted({r["costs"]["flops"] for r in rows})
    # first epoch (1-based) within 0.01 of the run's best: how early the curve settles
    settle = [next(e for e, v in enumerate(r["val"], 1) if v >= max(r["val"]) - 0.01) for r in rows]
    sq = statistics.quantiles(settle, n=4) if len(settle) > 1 else [settle[0]] * 3
    by_lr: dict[Any, list[float]] = {}
    for r in rows:
        if "lr" in r["grid"] and "optimizer" in r["grid"]:
            by_lr.setdefault((r["grid"]["optimizer"], r["grid"]["lr"]), []).append(r["val"][-1])
    lr_line = ", ".join(f"{o} {lr:g}: {statistics.mean(v):.3f}" for (o, lr), v in sorted(by_lr.items()))
    return "\n".join([
        f"- `{space}` on `{rows[0]['dataset']}`: {len(rows)} records = {n_cfg} configs x seeds {seeds}, "
        f"{rows[0]['epochs']} epochs each",
        f"- final val accuracy: min {min(finals):.3f}, quartiles {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}, "
        f"max {max(finals):.3f}; {sum(f < 0.5 for f in finals)} runs end below 0.5",
        f"- mean over configs of the std of final val accuracy across seeds: {seed_sd:.4f}",
        f"- diverged: {sum(r['diverged'] for r in rows)} of {len(rows)} "
        f"({sum(r['diverged'] for r in rows) / len(rows):.1%})",
        f"- best epoch is the last epoch (first argmax of val): {sum(argmax_last) / len(rows):.1%} "
        f"of runs; last epoch ties the best: {sum(best_last) / len(rows):.1%}",
        f"- epoch seconds (epochs after the first): mean {statistics.mean(ep):.4f}, "
        f"median {statistics.median(ep):.4f}, max {max(ep):.4f}; first epochs mean "
        f"{statistics.mean(r['epoch_s'][0] for r in rows):.4f}",
        f"- training time summed over the table: {total:.0f} s",
        f"- inference FLOPs per sample: {flops[0]:,} .. {flops[-1]:,} ({len(flops)} distinct)",
        f"- first epoch within 0.01 of the run's best val: quartiles {sq[0]:g} / {sq[1]:g} / {sq[2]:g} "
        f"of {rows[0]['epochs']}",
        *([f"- mean final val by optimizer and lr: {lr_line}"] if lr_line else []),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("build", "summary"):
        p = sub.add_parser(name)
        p.add_argument("--space", choices=[*SPACES, "all"], default="all")
        p.add_argument("--out", default=str(DATA))
        if name == "build":
            p.add_argument("--seeds", type=int, default=None,
                           help=f"seeds per config (default {SEEDS})")
    args = parser.parse_args(argv)
    spaces = list(SPACES) if args.space == "all" else [args.space]
    if args.cmd == "build":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import torch
        from _machine import machine

        torch.set_num_threads(1)  # so that machine() reports the thread count the build uses

        print(f"machine: {machine()}", flush=True)
        t0 = time.perf_counter()
        for space in spaces:
            ts = time.perf_counter()
            n = build(space, args.seeds or SEEDS[space], args.out,
                      log=lambda m: print(m, flush=True))
            print(f"[{space}] trained {n} runs in {time.perf_counter() - ts:.0f} s", flush=True)
        print(f"build wall time: {time.perf_counter() - t0:.0f} s", flush=True)
    for space in spaces:
        print(summary(space, args.out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
