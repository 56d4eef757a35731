"""The NAS-Bench-Graph space returns the package's own numbers and the exact optimum."""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import optuna
import pytest
from nas_bench_graph import Arch, light_read
from nas_bench_graph.architecture import anchors, gnn_list_proteins

import effobj.spaces
from effobj.errors import InputError
from effobj.spaces._nas_bench_graph import DATASETS


def config_of(link: list[int], ops: list[str]) -> dict:
    return {"link_1": link[1], "link_2": link[2], "link_3": link[3], **{f"op_{i}": o for i, o in enumerate(ops)}}


def expected(bench: dict, link: list[int], ops: list[str]) -> dict:
    rec = bench[Arch(link, ops).valid_hash()]
    return {
        "perf": float(rec["valid_perf"]),
        "test_perf": float(rec["perf"]),
        "latency": float(rec["latency"]),
        "params": round(float(rec["para"]) * 1e6),
    }


def test_registered_for_all_nine_datasets() -> None:
    names = effobj.spaces.names()
    for dataset in DATASETS:
        space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
        assert f"nas-bench-graph:{dataset}" in names
        assert space.kind == "tabular" and space.default_dataset == dataset
    assert len(DATASETS) == 9


@pytest.mark.parametrize("dataset", ["cora", "arxiv"])
def test_known_architectures_return_the_packages_values(dataset: str) -> None:
    space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
    bench = light_read(dataset)
    rng = random.Random(0)
    archs = [(a.link, a.ops) for a in anchors]
    for _ in range(50):
        link = [0, rng.randint(0, 1), rng.randint(0, 2), rng.randint(0, 3)]
        ops = [rng.choice(space.operations) for _ in range(4)]
        if set(ops) != {"skip"}:
            archs.append((link, ops))
    for link, ops in archs:
        assert space.lookup(config_of(link, ops)) == expected(bench, link, ops)


def test_proteins_uses_five_ops_and_the_default_nine_op_hash() -> None:
    space = effobj.spaces.get("nas-bench-graph:proteins")
    bench = light_read("proteins")
    assert space.operations == tuple(gnn_list_proteins)
    keys = set()
    for link in itertools.product([0], [0, 1], [0, 1, 2], [0, 1, 2, 3]):
        for ops in itertools.product(gnn_list_proteins, repeat=4):
            if set(ops) == {"skip"}:
                continue
            config = config_of(list(link), list(ops))
            h = space.arch_hash(config)
            assert h in bench
            keys.add(h)
            if len(keys) % 97 == 0:
                assert space.lookup(config) == expected(bench, list(link), list(ops))
    assert keys == set(bench)  # the five-op space covers the whole table
    assert len(keys) == 2021
    assert "gat" not in space.encoding()[3][1]


@pytest.mark.parametrize("dataset", ["cora", "proteins"])
def test_table_rows_are_the_canonical_configs_of_the_table(dataset: str) -> None:
    space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
    bench = light_read(dataset)
    table = space.table()
    arrays = space.arrays()
    assert len(table) == len(bench) == len(arrays["perf"])
    rows = range(len(table)) if dataset == "proteins" else random.Random(1).sample(range(len(table)), 1500)
    for i in rows:
        config, record = table[i]
        h = space.arch_hash(config)
        assert record == space.lookup(config)
        assert record["perf"] == float(bench[h]["valid_perf"]) == arrays["perf"][i]
        assert record["latency"] == arrays["latency"][i]


def _brute_force(dataset: str, score) -> tuple[int, float]:
    best_key, best = None, -np.inf
    for key, rec in light_read(dataset).items():
        s = score(float(rec["valid_perf"]), {"latency": float(rec["latency"]), "params": round(float(rec["para"]) * 1e6)})
        if s > best or (s == best and key < best_key):
            best_key, best = key, s
    return best_key, best


@pytest.mark.parametrize("dataset", ["cora", "proteins"])
def test_exhaustive_optimum_matches_a_brute_force_scan(dataset: str) -> None:
    from effobj.spec import EfficiencySpec

    space = effobj.spaces.get(f"nas-bench-graph:{dataset}")
    spec = EfficiencySpec(beta2=0.5, perf_ref=1.0, cost_ref=0.01, cost_max=0.006, cost_name="latency")
    scores = {
        "linear": lambda p, c: p - 20.0 * c["latency"],
        "scalar-only": lambda p, c: float(p) - 1e-7 * float(c["params"]),
    }
    if dataset == "proteins":  # a scalar E_beta per row is slow-ish: the small table only
        scores["e_beta"] = lambda p, c: spec.score(p, c)
    for label, score in scores.items():
        config, record, value = space.exhaustive_optimum(score)
        key, best = _brute_force(dataset, score)
        assert value == pytest.approx(best, rel=1e-12), label
        assert space.arch_hash(config) == key, label
        assert record == space.lookup(config)
        assert space.regret(value, score) == 0.0


def test_full_scan_with_an_efficiency_spec_is_fast_and_exact() -> None:
    from effobj.spec import EfficiencySpec

    space = effobj.spaces.get("nas-bench-graph:cora")
    spec = EfficiencySpec(beta2=2.0, perf_ref=0.9, cost_ref=0.02, cost_max=0.01, cost_name="latency")
    space.arrays()  # table read and cached once
    t0 = time.perf_counter()
    for _ in range(10):
        config, record, value = space.exhaustive_optimum(lambda p, c: spec.score(p, c))
    assert (time.perf_counter() - t0) / 10 < 0.2
    # the vectorized scores are the scalar ones (a sample of rows), and no row beats the optimum
    a = space.arrays()
    vec = space.scores(lambda p, c: spec.score(p, c))
    for i in random.Random(2).sample(range(len(vec)), 300):
        assert vec[i] == spec.score(float(a["perf"][i]), {"latency": float(a["latency"][i])})
    assert value == vec.max() > 0 and record["latency"] <= 0.01
    assert spec.score(record["perf"], record) == value


def test_all_skip_and_bad_configs_are_rejected() -> None:
    space = effobj.spaces.get("nas-bench-graph:cora")
    with pytest.raises(InputError, match="must not all be 'skip'"):
        space.lookup(config_of([0, 0, 0, 0], ["skip"] * 4))
    with pytest.raises(InputError, match="'link_2' parameter of the 'nas-bench-graph:cora' search space must be one of \\[0, 1, 2\\]. Got 3"):
        space.lookup({**config_of([0, 1, 2, 3], ["gcn"] * 4), "link_2": 3})
    with pytest.raises(InputError, match="'op_0'"):
        effobj.spaces.get("nas-bench-graph:proteins").lookup(config_of([0, 1, 2, 3], ["gat"] * 4))
    with pytest.raises(InputError, match="NaN"):
        space.exhaustive_optimum(lambda p, c: p * np.nan)


def test_a_random_search_runs_on_the_table_in_seconds() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = effobj.spaces.get("nas-bench-graph:cora")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial)
        try:
            return space.lookup(config)["perf"]
        except InputError:  # all-skip: 1 in 6,561
            raise optuna.TrialPruned() from None

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=60)
    assert time.perf_counter() - t0 < 30
    best = space.exhaustive_optimum(lambda p, c: p)[2]
    assert 0 <= best - study.best_value < 0.05
    assert space.describe(study.best_params).startswith("nas-bench-graph:cora [")


def test_identity_is_the_canonical_architecture() -> None:
    """Configs the benchmark maps to one architecture are one candidate; others are not."""
    space = effobj.spaces.get("nas-bench-graph:cora")
    by_hash: dict[int, set[str]] = {}
    idents: dict[str, int] = {}
    rng = random.Random(0)
    for _ in range(3000):
        config = {f"link_{i}": rng.randrange(i + 1) for i in (1, 2, 3)}
        config |= {f"op_{i}": rng.choice(space.operations) for i in range(4)}
        if all(config[f"op_{i}"] == "skip" for i in range(4)):
            continue
        h = space.arch_hash(config)
        ident = space.identity(config)
        by_hash.setdefault(h, set()).add(ident)
        idents[ident] = h
    assert all(len(v) == 1 for v in by_hash.values())  # one identity per architecture
    assert len(idents) == len(by_hash)  # and one architecture per identity
    configs_per_arch = 3000 / len(by_hash)
    assert configs_per_arch > 1.0  # the sample did hit isomorphic configs
