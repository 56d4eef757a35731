"""Issue 22, items 5 and 6: one default sampler, the look-up budget in wall time, `effobj
best` saying why it shows fewer rows, the demo's binding budget and its winners at two
beta^2, and an install without setuptools' warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import torch
from user_space import run_cli

from effobj.optuna import EfficiencySampler, create_study
from effobj.spec import EfficiencySpec

sys.path.insert(0, str(Path(__file__).parent.parent / "optuna_tests"))
from optuna_toys import size_objective, size_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


_run = run_cli


# ---------------------------------------------------------------- one default sampler
def _sampler(study: optuna.Study) -> optuna.samplers.BaseSampler:
    """The study's sampler, unwrapped from effobj's wrapper of hopeless trials if any."""
    return getattr(study.sampler, "sampler", study.sampler)


def test_create_study_defaults_to_the_effobj_sampler_as_the_command_line_does() -> None:
    obj = size_objective()
    assert isinstance(_sampler(obj.create_study(storage=":memory:")), EfficiencySampler)
    # without an objective to look costs up through, or in the multi mode: TPE, as search
    assert isinstance(_sampler(create_study(size_spec(), storage=":memory:")),
                      optuna.samplers.TPESampler)
    assert isinstance(_sampler(size_objective(mode="multi").create_study(storage=":memory:")),
                      optuna.samplers.TPESampler)


# ---------------------------------------------------------------- look-ups in wall time
def test_slow_lookups_are_cut_by_the_proposals_wall_time_budget() -> None:
    """Look-ups priced at 10 ms each, then measured at 100 ms: the proposal's wall-time
    budget (its count budget at the median price) stops them long before the count."""
    spec = size_spec(cost_max=9.0)
    delay = {"s": 0.01}
    made: list[int] = []

    def costs(params: dict) -> dict:
        time.sleep(delay["s"])
        made.append(params["size"])
        return {"size": float(params["size"])}

    sampler = EfficiencySampler(spec, costs=costs, seed=0, n_startup_trials=1,
                                n_initial_lookups=50, max_lookups_per_trial=64)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dist = {"size": optuna.distributions.IntDistribution(1, 200)}
    study.add_trial(optuna.trial.create_trial(params={"size": 3}, distributions=dist, value=0.1))
    sampler._lookup_times = [0.01] * 5  # measured earlier: 10 ms a look-up
    delay["s"] = 0.1  # now ten times slower (a loaded machine)
    t0 = time.perf_counter()
    trial = study.ask(dist)
    elapsed = time.perf_counter() - t0
    budget = sampler._lookup_budget(None)
    assert trial.params["size"] >= 1
    # the count alone would allow n_initial_lookups (50) + budget look-ups at 0.1 s
    assert len(made) <= budget * 0.01 / 0.1 * 2 + 2
    assert elapsed < 50 * 0.1 / 2


class _SlowModel(EfficiencySampler):
    """A sampler whose model takes 50 ms a proposal, as on a study of 1,000 trials."""

    def _acquisition(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super()._acquisition(*args, **kwargs)


def test_fast_lookups_are_not_cut_by_the_time_the_model_takes() -> None:
    """Only the look-ups' own seconds count against their wall-time budget: a table's
    look-up (microseconds) beside a slow model fit still gets its whole count budget."""
    made: list[int] = []

    def costs(params: dict) -> dict:
        made.append(params["size"])
        return {"size": float(params["size"])}

    sampler = _SlowModel(size_spec(cost_max=9.0), costs=costs, seed=0, n_startup_trials=1,
                         n_initial_lookups=0, lookup_price=0.01, lookup_share=0.1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dist = {"size": optuna.distributions.IntDistribution(1, 400)}
    for s, v in ((3, 0.1), (5, 0.3), (8, 0.2)):
        study.add_trial(optuna.trial.create_trial(params={"size": s}, distributions=dist,
                                                  value=v, user_attrs={"perf": v, "size": float(s),
                                                                       "status": "trained"}))
    sampler._lookup_times = [1e-5] * 5  # a table's look-up
    study.ask(dist)
    budget = sampler._lookup_budget(None)
    assert budget == 10
    # the unknown candidates look cheap until looked up (no cost model yet), so the
    # proposal spends its budget; counting the model's 50 ms stopped it after one
    assert len(made) == budget


# ---------------------------------------------------------------- effobj best's rows
def test_best_says_why_it_shows_fewer_rows_than_it_ranked(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.set_user_attr("effobj_spec", EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_max=8.0,
                                                      cost_name="lat").to_dict())
    dist = {"i": optuna.distributions.IntDistribution(0, 10)}
    for i, (p, c) in enumerate([(0.9, 5.0), (0.8, 2.0), (0.95, 9.0), (0.7, 9.5), (0.85, 3.0)]):
        study.add_trial(optuna.trial.create_trial(
            params={"i": i}, distributions=dist, value=0.5,
            user_attrs={"perf": p, "lat": c, "status": "trained", "trained": True}))
    rc, out, err = _run(["best", "--storage", url, "--study-name", "s", "--top", "1"], capsys)
    assert rc == 0, err
    assert "5 trained trials ranked" in out
    assert "showing 2 of the 5 ranked: 1 more feasible past --top 1" in out
    assert "2 infeasible under this spec" in out


# ---------------------------------------------------------------- the demo
def test_the_demo_budget_binds_within_its_space() -> None:
    """The demo's MACs budget lets a minority of its space's candidates through (it binds)
    and leaves C far from 0 for those that fit (cost trades against accuracy)."""
    from effobj.apps import DEMO_SPEC, demo_space
    from effobj.profiler import count_flops

    space = demo_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    macs = []
    for _ in range(6):
        config = space.suggest(study.ask())
        net, x = space.build(config).eval(), space.example_input(config)
        with torch.no_grad(), count_flops() as c:
            net(*x)
        macs.append(c.flops / 2)
    fit = [m for m in macs if m <= DEMO_SPEC["cost_max"]]
    assert len(fit) < len(macs) / 2  # most random candidates are over budget
    assert DEMO_SPEC["cost_max"] / DEMO_SPEC["cost_ref"] == 0.5  # --budget's rule


def test_winners_at_two_beta2_come_from_one_study() -> None:
    from effobj.apps import demo_spec, winners_at

    spec = demo_spec(1.0)
    study = optuna.create_study(direction="maximize")
    dist = {"i": optuna.distributions.IntDistribution(0, 10)}
    # a cheap, less accurate CNN and an accurate one near the budget
    for i, (acc, macs) in enumerate([(0.93, 35_000.0), (0.985, 120_000.0)]):
        study.add_trial(optuna.trial.create_trial(
            params={"i": i}, distributions=dist, value=0.5,
            user_attrs={"perf": acc, "macs": macs, "status": "trained", "trained": True}))
    low, high = winners_at(study, spec, (1.0, 16.0))
    assert (low["trial"], high["trial"]) == (0, 1)  # the budget trades against accuracy
    assert low["MACs"] == 35_000 and high["accuracy"] == 0.985


# ---------------------------------------------------------------- packaging
def test_the_install_prints_no_setuptools_warning_about_the_data_folder(tmp_path: Path) -> None:
    """`make` installs effobj editable: setuptools warned that effobj/apps/data is not
    in `packages`; the package data is listed, so nothing is guessed and nothing warns."""
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name if src.exists() else (src.mkdir() or src / name))
    for folder in ("effobj", "search_spaces"):
        shutil.copytree(ROOT / folder, src / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import setuptools.build_meta as b, sys; "
            "print(b.build_wheel(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-W", "always", "-c", code, str(tmp_path / "w")],
                          cwd=src, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "absent from the `packages`" not in done.stdout + done.stderr
    import zipfile

    wheel = next((tmp_path / "w").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "effobj/apps/data/paper_table1_kinetics400.csv" in names
    assert "effobj/py.typed" in names
