"""``--space``: a registered name, the user's own ``FILE.py:Class`` / ``module:Class`` (or a
factory), and spaces an installed package provides through the entry points
``effobj.spaces``; errors name the option, the accepted forms and the registered names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from user_space import write_user_space

from effobj.cli import main


def _search(trials: int) -> list[str]:
    return ["--trials", str(trials), "--perf-ref", "1", "--cost-ref", "1e4", "--cost", "macs",
            "--latency-time", "0", "--sampler", "random", "--no-progress", "--format", "json"]


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _trained(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=url)
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def test_search_runs_the_users_space_file(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{user_dir.parent / 'my.db'}"
    rc = main(["search", "--space", "tmp/my_space.py:MySpace", "--storage", url,
               "--study-name", "mine", *_search(2)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out)["summary"]["n_complete"] == 2
    done = _trained(url, "mine")
    assert len(done) == 2 and all(t.params["hidden"] in range(2, 17) for t in done)
    assert all(t.user_attrs["macs"] > 0 for t in done)


@pytest.mark.parametrize("target", ["tmp/my_space.py:make_space", "tmp/my_space.py:SPACE"])
def test_a_factory_or_an_instance_in_the_file(user_dir: Path, capsys: pytest.CaptureFixture[str],
                                             target: str) -> None:
    url = f"sqlite:///{user_dir.parent / 'my.db'}"
    rc = main(["search", "--space", target, "--storage", url, "--study-name", "f",
               *_search(1)])
    assert rc == 0, capsys.readouterr().err
    assert len(_trained(url, "f")) == 1


def test_module_colon_class_from_pythonpath(tmp_path: Path) -> None:
    folder = write_user_space(tmp_path / "lib")
    url = f"sqlite:///{tmp_path / 'my.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "effobj.cli", "search", "--space", "my_space:MySpace",
         "--storage", url, "--study-name", "mod", *_search(1)],
        cwd=tmp_path, env=_env(folder), capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert len(_trained(url, "mod")) == 1


def _install_dist(site: Path) -> None:
    """A tiny installed distribution: its dist-info declares spaces as entry points."""
    dist = site / "my_spaces-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-spaces\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[effobj.spaces]\n"
        "my-cnn = my_space:MySpace\n"
        "my-broken = my_missing_module:Space\n"
        "[console_scripts]\n"
        "unrelated = my_space:make_space\n"
    )
    write_user_space(site)


def test_an_installed_package_provides_spaces_by_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install_dist(site)
    env = _env(site)
    code = "import effobj.spaces as s; print(s.names()[-2:], s.get('my-cnn').name)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['my-broken', 'my-cnn'] my-space"

    url = f"sqlite:///{tmp_path / 'ep.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "effobj.cli", "search", "--space", "my-cnn", "--storage", url,
         "--study-name", "ep", *_search(1)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert len(_trained(url, "ep")) == 1

    out = subprocess.run(
        [sys.executable, "-m", "effobj.cli", "search", "--space", "my-broken", *_search(1)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 2
    assert ("The search space 'my-broken' (entry point 'my_missing_module:Space' of the package "
            "my-spaces 0.1, group 'effobj.spaces') cannot be loaded: ModuleNotFoundError") in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("nosuch", "The '--space' option of effobj search must be a registered name, FILE.py:NAME "
                   "or module:NAME"),
        ("nas-bench-graph:nope", "Registered names: mlp, mobilenet, transformer, supernet, "
                                 "nas-bench-graph:cora"),
        ("tmp/none.py:MySpace", "The '--space' option of effobj search names the file "
                                "'tmp/none.py', which does not exist."),
        ("tmp/my_space.py:Nope", "names the file 'tmp/my_space.py', which has no callable named "
                                 "'Nope'. Callables found: Int, ModelSpace, MySpace, boom"),
        ("tmp/my_space.py:NOT_A_SPACE", "names 'tmp/my_space.py:NOT_A_SPACE', which must be a "
                                        "search space (the SearchSpace protocol"),
        ("tmp/my_space.py:make_int", "which must follow the SearchSpace protocol (name, kind, "
                                     "default_dataset, suggest, validate, describe, encoding, "
                                     "encode, decode). Its factory returned an object of type int."),
        ("tmp/my_space.py:boom", "which raised RuntimeError when called: no GPU here"),
        ("tmp/my_space.py", "FILE.py:NAME"),
        ("no_such_module:Space", "names the module 'no_such_module', which cannot be found"),
        ("tmp/bad.py:X", "Importing 'tmp/bad.py' (--space of effobj search) raised "
                         "ZeroDivisionError: division by zero"),
    ],
)
def test_errors_name_the_option(user_dir: Path, capsys: pytest.CaptureFixture[str], space: str,
                                message: str) -> None:
    (user_dir / "bad.py").write_text("1 / 0\n")
    assert main(["search", "--space", space, "--storage", ":memory:", *_search(1)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "effobj.spaces.get" not in err and "Traceback" not in err


def test_every_command_with_space_resolves_it_alike(user_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["latency-table", "--space", "nosuch", "--out", "t.json"]) == 2
    err = capsys.readouterr().err
    assert "The '--space' option of effobj latency-table must be a registered name" in err
    assert main(["space-range", "--space", "tmp/my_space.py:Nope"]) == 2
    assert "'--space' option of effobj space-range names the file" in capsys.readouterr().err
    assert main(["space-range", "--space", "tmp/my_space.py:MySpace", "--samples", "1",
                 "--latency-time", "0"]) == 0
    assert capsys.readouterr().out.startswith("my-space (model, dataset wine): 1 random candidates")
