"""``effobj score``: formats, columns, and errors that name the line and the column."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from effobj.apps import paper_table_file
from effobj.cli import main

# the paper tables shipped with effobj (a file in a source checkout)
T1 = str(paper_table_file("paper_table1_kinetics400.csv"))
T2 = str(paper_table_file("paper_table2_glue.csv"))


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_output_has_paper_values(capsys):
    code, out, _ = run(capsys, "score", T1, "--perf-ref", "83.1", "--cost-ref", "4218", "--beta2", "1")
    assert code == 0
    assert "e_beta@1" in out.splitlines()[0]
    x3d = next(line for line in out.splitlines() if line.startswith("X3D-XXL"))
    assert x3d.split()[-1] == "0.967" and "28.34" in x3d


def test_json_has_one_key_per_beta2(capsys):
    code, out, _ = run(
        capsys, "score", T2, "--perf-ref", "78.3", "--cost-ref", "25",
        "--beta2", "0.5", "--beta2", "1", "--beta2", "100", "--format", "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["BERT-base", "MobileBERT", "DistilBERT", "TinyBERT"]
    assert {"e_beta@0.5", "e_beta@1", "e_beta@100", "A", "C", "perf/cost", "A/C"} <= set(rows[0])
    assert round(rows[3]["e_beta@0.5"], 3) == 0.956


def test_csv_format_and_budget(capsys):
    code, out, _ = run(
        capsys, "score", T2, "--perf-ref", "78.3", "--cost-ref", "25", "--cost-max", "20", "--format", "csv"
    )
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("name,perf,cost,A,C")
    bert = lines[1].split(",")
    assert bert[0] == "BERT-base" and bert[-2] == "False" and float(bert[-1]) == 0.0


def test_other_column_names(tmp_path, capsys):
    f = tmp_path / "m.csv"
    f.write_text("model,acc,ms\nsmall,0.9,2\nbig,0.95,9\n")
    code, out, _ = run(
        capsys, "score", str(f), "--perf-ref", "1", "--cost-ref", "10",
        "--name-col", "model", "--perf-col", "acc", "--cost-col", "ms", "--format", "json",
    )
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["small", "big"]


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "the file is empty"),
        ("name,perf\nx,1\n", "line 1: missing column(s) ['cost']"),
        ("name,perf,cost\n", "header but no model rows"),
        ("name,perf,cost\nok,0.9,1\nbad,high,2\n", "line 3, column 'perf': 'high' is not a number"),
        ("name,perf,cost\n\nok,0.9,1\nbad,0.9,nan\n", "line 4, column 'cost': 'nan' is not a finite number"),
        ("name,perf,cost\nshort,0.9\n", "line 2: 2 cells for 3 columns"),
    ],
)
def test_file_errors_name_line_and_column(tmp_path, capsys, content, message):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    code, _, err = run(capsys, "score", str(f), "--perf-ref", "1", "--cost-ref", "10")
    assert code == 2
    assert message in err


def test_missing_file_and_bad_values(tmp_path, capsys):
    code, _, err = run(capsys, "score", str(tmp_path / "nope.csv"), "--perf-ref", "1", "--cost-ref", "1")
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "score", T1, "--perf-ref", "83.1", "--cost-ref", "4218", "--beta2", "-1")
    assert code == 2 and "'--beta2' option of effobj score" in err and "Got -1.0" in err
    f = tmp_path / "neg.csv"
    f.write_text("name,perf,cost\nx,0.9,-3\n")
    code, _, err = run(capsys, "score", str(f), "--perf-ref", "1", "--cost-ref", "10")
    assert code == 2 and "line 2, column 'cost'" in err and "'-3'" in err


def test_installed_script_scores_without_importing_torch():
    code = (
        "import sys; from effobj.cli import main; "
        f"rc = main(['score', {T1!r}, '--perf-ref', '83.1', '--cost-ref', '4218']); "
        "print('torch' in sys.modules, 'optuna' in sys.modules, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False 0"


def test_entry_point_runs():
    exe = Path(sys.executable).with_name("effobj")
    out = subprocess.run(
        [str(exe), "score", T2, "--perf-ref", "78.3", "--cost-ref", "25", "--beta2", "0.5"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "TinyBERT" in out.stdout and "0.956" in out.stdout
