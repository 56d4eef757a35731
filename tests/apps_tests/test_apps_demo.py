"""The demo's pieces (effobj.apps): its space, spec, leaderboard, and the shipped paper tables."""

from __future__ import annotations

import optuna

from effobj.apps import DEMO_SPEC, demo_space, demo_spec, leaderboard, paper_tables
from effobj.optuna import EfficiencyObjective


def _toy_spec() -> object:
    """The demo's spec with a budget of 1.5 M MACs (reference 2 M): the toy's scale."""
    from effobj.spec import EfficiencySpec

    return EfficiencySpec(**(DEMO_SPEC | {"cost_ref": 2.0e6, "cost_max": 1.5e6}))


def _toy_study() -> optuna.Study:
    """A real effobj study whose 'training' is a formula: MACs known before, accuracy after."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = _toy_spec()

    def build(trial: optuna.trial.Trial) -> int:
        return trial.suggest_int("k", 1, 12)

    def measure(k: int) -> dict[str, float]:
        return {"macs": 2.0e5 * k, "n_params": 1000.0 * k, "latency_ms": 0.5 * k}

    def evaluate(k: int, trial: optuna.trial.Trial) -> float:
        return 0.85 + 0.012 * k  # bigger: more accurate; k < 5 misses the 0.9 floor

    obj = EfficiencyObjective(spec, build, evaluate, measure=measure)
    study = obj.create_study(storage=":memory:", study_name="toy")
    for k in (6, 3, 7, 12, 5, 4, 9, 10):  # 9, 10, 12 over budget (1.5 M MACs)
        study.enqueue_trial({"k": k})
    study.optimize(obj, n_trials=8)
    return study


def test_leaderboard_columns_order_and_reasons() -> None:
    study = _toy_study()
    rows = leaderboard(study, _toy_spec(), top=10)
    assert list(rows[0]) == ["rank", "trial", "E_beta", "accuracy", "latency_ms", "MACs",
                             "n_params", "trained", "why"]
    by_k = {study.trials[r["trial"]].params["k"]: r for r in rows}
    # the cheapest candidate above the accuracy floor wins
    assert by_k[5]["rank"] == 1 and by_k[5]["trained"] == "yes" and by_k[5]["why"] == ""
    ranked = [r for r in rows if r["rank"] != "-"]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert [r["E_beta"] for r in ranked] == sorted((r["E_beta"] for r in ranked), reverse=True)
    # below the floor: trained, not ranked, the gate named
    assert by_k[3]["rank"] == "-" and by_k[3]["why"] == "fails a gate: perf_min"
    # over budget: never trained, the budget named with the numbers
    for k in (9, 10, 12):
        assert by_k[k]["trained"] == "no" and by_k[k]["accuracy"] == "-"
        assert by_k[k]["why"].startswith("over budget: macs")
    # with k=6 the incumbent (E 0.558), k=7 cannot win even at 100 % accuracy (bound 0.46)
    assert by_k[7]["trained"] == "no" and by_k[7]["why"].startswith("hopeless: bound 0.4615")
    assert by_k[6]["MACs"] == 1_200_000 and by_k[6]["n_params"] == 6000


def test_demo_space_keeps_the_architecture_and_narrows_the_recipe() -> None:
    import effobj.spaces

    full = effobj.spaces.get("mobilenet")
    space = demo_space()
    assert [p.key for p in space.params] == [p.key for p in full.params] or sorted(
        p.key for p in space.params) == sorted(p.key for p in full.params)
    arch = {p.key: p for p in full.params if p.key not in
            {"lr", "weight_decay", "batch_size", "epochs", "optimizer"}}
    for p in space.params:
        if p.key in arch:
            assert p == arch[p.key]
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    config = space.suggest(trial)
    space.validate(config)
    full.validate(config)  # every demo config is a config of the real space
    assert 3 <= config["epochs"] <= 5 and config["optimizer"] in ("adam", "adamw")
    assert demo_spec().costs[0].name == DEMO_SPEC["cost_name"] == "macs"


def test_demo_checks_every_printed_value():
    results = paper_tables()
    assert [len(r[1]) for r in results] == [11, 4]
    assert all(not bad for _, _, bad, _ in results)
    assert [n for *_, n in results] == [33, 16]
