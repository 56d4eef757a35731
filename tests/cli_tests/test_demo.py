"""effobj demo: the command (paper tables, options, and (slow) a real short run).

The demo's space, spec, leaderboard and tables are tested in tests/apps_tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from effobj.cli import main


def test_paper_tables_flag_checks_every_printed_value(capsys) -> None:
    assert main(["demo", "--paper-tables"]) == 0
    out = capsys.readouterr().out
    assert out.count("every printed value reproduced") == 2


def test_bad_options_are_rejected(capsys) -> None:
    assert main(["demo", "--trials", "0"]) == 2
    assert "'--trials' option of effobj demo must be an int in the range [1, inf). Got 0 instead." in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_and_continues_the_same_study(tmp_path: Path, capsys) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        args = ["demo", "--trials", "2", "--minutes", "0.2", "--no-progress"]
        assert main(args) == 0
        assert (tmp_path / "effobj-demo.db").exists()
        assert (tmp_path / "effobj-demo-report.html").exists()
        first = capsys.readouterr().out
        assert "rank" in first and "report: effobj-demo-report.html" in first
        assert main(args) == 0
        second = capsys.readouterr().out
        assert "0 finished trials" not in second  # it continued the stored study
    finally:
        os.chdir(cwd)
    study = optuna.load_study(study_name="demo-mobilenet-digits-b1",
                              storage=f"sqlite:///{tmp_path}/effobj-demo.db")
    assert len(study.trials) >= 2
