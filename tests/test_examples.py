"""examples/: each runs as a user would run it (fast settings), and the README's excerpts
of it are its own lines, so neither can rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna

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
