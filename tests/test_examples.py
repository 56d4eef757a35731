"""examples/: each runs as a user would run it (fast settings), and the README's excerpts
of it are its own lines, so neither can rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_model.py"


def test_own_model_example_runs_a_resumable_search(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'own.db'}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, str(EXAMPLE), "--trials", "3", "--steps", "3", "--storage", url]
    for _ in range(2):  # the same command again: the study has its size, nothing is added
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("3 trials: "), done.stdout
    assert len(optuna.load_study(study_name="own-cnn", storage=url).trials) == 3
    for line in done.stdout.splitlines()[1:]:  # the feasible trials ranked (if any)
        assert re.match(r"#\d: trial \d+  E_beta 0\.\d{3}  accuracy [01]\.\d{3}  latency ",
                        line), line


def test_the_readme_shows_the_examples_own_lines() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "[examples/own_model.py](examples/own_model.py)" in readme
    start = readme.index("[examples/own_model.py](examples/own_model.py)")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    source = {line.strip() for line in EXAMPLE.read_text().splitlines()}
    shown = [line.strip() for line in block.splitlines() if line.strip() not in ("", "...")]
    assert len(shown) > 10
    assert [line for line in shown if line not in source] == []


def _run_example(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_width_search_example_lands_a_hard_model_within_the_budget(tmp_path: Path) -> None:
    """The issue-23 user case (0.3 x FLOPs, warm-up, loss defaults), shortened search."""
    out = _run_example("width_search.py", "--steps", "50", cwd=tmp_path)
    m = re.search(r"derived: (\d+) FLOPs \(([\d.]+) x budget, within budget, (\d+) channels projected\)", out)
    assert m, out
    assert 0.0 < float(m.group(2)) <= 1.0
    acc = re.search(r"accuracy: validation ([\d.]+), test ([\d.]+)", out)
    assert acc and float(acc.group(2)) > 0.5, out  # far above the 0.1 of guessing digits


def test_operator_search_example_measures_its_final_model(tmp_path: Path) -> None:
    out = _run_example("operator_search.py", "--epochs", "1", "--steps", "2", "--retrain", "1",
                       "--measure-s", "0.02", cwd=tmp_path)
    assert re.search(r"^final \[.*\]: [\d.]+ ms measured \([\d.]+ x budget, (within|OVER) budget, "
                     r"\d+ repairs\)$", out, re.M), out
    assert re.search(r"accuracy: validation [01]\.\d{3}, test [01]\.\d{3}", out), out


def test_rl_reward_example_reports_each_reward(tmp_path: Path) -> None:
    out = _run_example("rl_reward.py", "--samples", "48", cwd=tmp_path)
    for name in ("E_beta (default)", "MnasNet soft", "TuNAS absolute"):
        assert re.search(rf"^{re.escape(name)}: final [\d.]+ ms \((within|OVER) budget", out, re.M), out


@pytest.mark.parametrize("name", ["width_search.py", "operator_search.py", "rl_reward.py"])
def test_readme_excerpts_of_the_learning_examples_are_their_lines(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    link = f"[examples/{name}](examples/{name})"
    assert link in readme
    block = readme[readme.index(link):].split("```python\n", 1)[1].split("```", 1)[0]
    source = {line.strip() for line in (ROOT / "examples" / name).read_text().splitlines()}
    shown = [line.strip() for line in block.splitlines() if line.strip() not in ("", "...")]
    assert len(shown) > 5
    assert [line for line in shown if line not in source] == []
