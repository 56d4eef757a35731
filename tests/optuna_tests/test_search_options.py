"""`effobj search` and `effobj demo` options (issue 14, items 4b and 8): --budget, one
meaning of --trials, a changed spec reported as its difference, an all-over-budget study
naming its cheapest cost."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna_toys import SizeTableSpace

import search_spaces
from effobj.cli import main
from effobj.optuna import create_study, load_spec
from effobj.optuna._study import spec_diff
from effobj.spec import EfficiencySpec

optuna.logging.set_verbosity(optuna.logging.ERROR)

BASE = ["search", "--space", "size-table", "--beta2", "1", "--perf-ref", "1.0", "--cost",
        "size", "--sampler", "random", "--study-name", "t", "--no-progress"]


@pytest.fixture(autouse=True)
def size_table_space():
    search_spaces.register("size-table", SizeTableSpace, replace=True)
    yield
    search_spaces.unregister("size-table")


def _search(tmp_path, capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([*BASE, "--storage", f"sqlite:///{tmp_path / 's.db'}", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _study(tmp_path) -> optuna.Study:
    return optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 's.db'}")


# ------------------------------------------------------------------ --budget (item 4b)
def test_budget_sets_the_budget_and_twice_it_as_reference(tmp_path, capsys) -> None:
    rc, out, err = _search(tmp_path, capsys, "--budget", "6", "--trials", "12")
    assert rc == 0, err
    study = _study(tmp_path)
    spec = load_spec(study)
    assert spec == EfficiencySpec.for_budget(6.0, perf_ref=1.0, cost_name="size")
    assert (spec.costs[0].ref, spec.costs[0].max) == (12.0, 6.0)
    # a candidate exactly at the budget is feasible and scores > 0 (trained unless hopeless)
    at = [t for t in study.trials if t.params["size"] == 6 and t.user_attrs.get("trained")]
    assert all(t.value > 0 for t in at)
    assert spec.score(1.0, 6.0) > 0


def test_budget_with_an_explicit_reference(tmp_path, capsys) -> None:
    rc, _, err = _search(tmp_path, capsys, "--budget", "6", "--cost-ref", "20", "--trials", "2")
    assert rc == 0, err
    ind = load_spec(_study(tmp_path)).costs[0]
    assert (ind.ref, ind.max) == (20.0, 6.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "The '--budget' option of effobj search must be given, or --cost-ref (with "
             "--cost-max). Got neither instead. --budget B sets --cost-max B and --cost-ref 2 B."),
        (["--budget", "6", "--cost-max", "5"],
         "The '--cost-max' option of effobj search must equal --budget (6), which sets it. "
         "Got 5 instead. Give one of --budget and --cost-max."),
        (["--budget", "6", "--cost-ref", "4"],
         "The '--cost-ref' option of effobj search must be at least --budget (6): the "
         "reference is the cost that scores 0. Got 4 instead."),
        (["--cost-ref", "4", "--cost-max", "6"],
         "The '--cost-ref' option of effobj search must be at least --cost-max (6)"),
        (["--budget", "0"], "The '--budget' option of effobj search must be a float in the "
                            "range (0, inf). Got 0.0 instead."),
        (["--budget", "nan"], "'--budget' option of effobj search must be a float"),
        (["--cost-ref", "-1"], "'--cost-ref' option of effobj search must be a float in the "
                               "range (0, inf). Got -1.0 instead."),
    ],
)
def test_inconsistent_cost_options_are_refused_by_name(tmp_path, capsys, argv, message) -> None:
    rc, _, err = _search(tmp_path, capsys, "--trials", "2", *argv)
    assert rc == 2 and message in err, err
    assert not (tmp_path / "s.db").exists()  # refused before the study is created


def test_budget_equal_to_cost_max_is_consistent(tmp_path, capsys) -> None:
    rc, _, err = _search(tmp_path, capsys, "--budget", "6", "--cost-max", "6", "--trials", "1")
    assert rc == 0, err


def test_search_help_documents_budget_and_trials(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--budget BUDGET" in text and "--cost-ref to twice it" in text
    assert "the study's target size" in text


# ------------------------------------------------------------------ --trials (item 8)
def test_search_trials_is_the_study_size_so_the_same_command_never_overshoots(
    tmp_path, capsys
) -> None:
    for _ in range(2):
        rc, _, err = _search(tmp_path, capsys, "--budget", "6", "--trials", "4")
        assert rc == 0, err
    assert len(_study(tmp_path).trials) == 4
    assert _search(tmp_path, capsys, "--budget", "6", "--trials", "7")[0] == 0
    assert len(_study(tmp_path).trials) == 7


def test_demo_trials_and_max_trainings_are_the_study_targets(tmp_path, monkeypatch, capsys) -> None:
    """The demo passes --trials and --max-trainings to optimize as the study's targets, not
    "this many more" (its real training runs in the slow test of tests/cli_tests)."""
    import effobj.optuna
    from effobj.apps import demo_spec

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    study = create_study(demo_spec(1.0), storage=url, study_name="demo-mobilenet-digits-b1")
    for _ in range(3):  # a study that already holds 3 finished trials
        study.add_trial(optuna.trial.create_trial(value=0.0))
    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_optimize(study, objective, n_trials, **kw):
        seen.update(n_trials=n_trials, max_trainings=kw.get("max_trainings"))
        raise Stop

    monkeypatch.setattr(effobj.optuna, "optimize", fake_optimize)
    with pytest.raises(Stop):
        main(["demo", "--trials", "5", "--max-trainings", "2", "--storage", url,
              "--report", str(tmp_path / "r.html"), "--no-progress"])
    assert seen == {"n_trials": 5, "max_trainings": 2}
    assert "3 finished trials, topping up to 5" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the study's target size" in text


# ------------------------------------------------------------------ a changed spec (item 8)
def test_resuming_with_another_budget_prints_only_the_difference(tmp_path, capsys) -> None:
    assert _search(tmp_path, capsys, "--cost-ref", "10", "--cost-max", "6", "--trials", "2")[0] == 0
    rc, _, err = _search(tmp_path, capsys, "--cost-ref", "10", "--cost-max", "5", "--trials", "3")
    assert rc == 2
    assert "Changed (stored -> given): costs[size].max: 6.0 -> 5.0." in err
    assert "--study-name NAME" in err  # the flag that starts a new study
    assert "perf_above_ref" not in err and "'ref'" not in err  # no full spec dictionaries
    assert len(err.strip().splitlines()) == 1
    # a new name starts a new study with the new budget
    rc, _, err = _search(tmp_path, capsys, "--cost-ref", "10", "--cost-max", "5", "--trials", "1",
                         "--study-name", "t5")
    assert rc == 0, err


def test_spec_diff_names_each_changed_field() -> None:
    a = EfficiencySpec.for_budget(6.0, cost_name="size").to_dict()
    b = EfficiencySpec.for_budget(5.0, beta2=4.0, cost_name="size").to_dict()
    assert spec_diff({**a, "mode": "single"}, {**b, "mode": "multi"}) == [
        "beta2: 1.0 -> 4.0",
        "costs[size].ref: 12.0 -> 10.0",
        "costs[size].max: 6.0 -> 5.0",
        "mode: 'single' -> 'multi'",
    ]
    c = EfficiencySpec(perf_ref=1.0, cost_ref=3.0, cost_name="macs").to_dict()
    assert spec_diff(a, c) == [
        "costs[size]: {'name': 'size', 'ref': 12.0, 'max': 6.0, 'weight': 1.0} -> (none)",
        "costs[macs]: (none) -> {'name': 'macs', 'ref': 3.0, 'max': None, 'weight': 1.0}",
    ]
    assert spec_diff(a, a) == []


# ------------------------------------------------------------------ all over budget (item 8)
def test_when_every_candidate_is_over_budget_the_cheapest_cost_is_said(tmp_path, capsys) -> None:
    rc, out, err = _search(tmp_path, capsys, "--budget", "0.5", "--trials", "6")
    assert rc == 0, err
    study = _study(tmp_path)
    cheapest = min(t.params["size"] for t in study.trials)
    n = min(t.number for t in study.trials if t.params["size"] == cheapest)
    assert f"every candidate was over budget, the cheapest seen: size {cheapest} (trial {n}, " \
           "budget 0.5)" in out
    assert f"no candidate fits the budget: the cheapest size seen was {cheapest} (trial {n}), " \
           "the budget 0.5; raise --budget" in out
    rc, out, _ = _search(tmp_path, capsys, "--budget", "0.5", "--trials", "6", "--format", "json")
    assert json.loads(out)["summary"]["cheapest_seen"] == [
        {"name": "size", "cost": float(cheapest), "trial": n, "budget": 0.5}
    ]


def test_a_study_with_a_feasible_candidate_says_nothing_of_the_cheapest(tmp_path, capsys) -> None:
    rc, out, _ = _search(tmp_path, capsys, "--budget", "9", "--trials", "4", "--format", "json")
    assert rc == 0 and json.loads(out)["summary"]["cheapest_seen"] == []
