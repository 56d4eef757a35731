"""``effobj profile FILE.py:factory``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from effobj.cli import main

MODEL_FILE = '''
import torch
from torch import nn

class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, ids, scale):
        return self.fc(self.emb(ids)) * scale

def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))

def two():
    return TwoInputs()

def not_a_model():
    return 3
'''


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return path


def test_table_output(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["profile", f"{model_file}:build", "--input-shape", "1,3,8,8", "--threads", "1", "--max-time", "0.1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "MACs" in out and "latency (median)" in out and "Sequential" in out
    macs = 4 * 3 * 9 * 36 + 144 * 2
    assert f"({macs:,})" in out


def test_json_output_several_inputs_and_dtypes(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["profile", f"{model_file}:two", "--input-shape", "2,5", "--input-shape", "1",
               "--input-dtype", "int64", "--input-dtype", "float32", "--format", "json", "--no-latency"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input_shapes"] == [[2, 5], [1]]
    assert d["input_dtypes"] == ["torch.int64", "torch.float32"]
    assert d["macs"] == 2 * 5 * 8 * 4
    assert d["latency_ms"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{f}:missing", "--input-shape", "1,3"], "has no callable named 'missing'. Callables found: TwoInputs, build"),
        (["{f}:not_a_model", "--input-shape", "1,3"], "must return a torch.nn.Module. Got int"),
        (["nofile.py:build", "--input-shape", "1,3"], "does not exist"),
        (["{f}", "--input-shape", "1,3"], "FILE.py:factory"),
        (["{f}:build", "--input-shape", "1,a"], "'--input-shape' option of effobj profile must be positive integers"),
        (["{f}:build", "--input-shape", "1,3,8,8", "--input-shape", "1", "--input-dtype", "int64",
          "--input-dtype", "int64", "--input-dtype", "int64"], "once per --input-shape (2). Got 3"),
        (["{f}:build", "--input-shape", "1,5,8,8"], "Profiling Sequential failed at step"),
        (["{f}:build", "--input-shape", "1,3,8,8", "--device", "cuda:7"], "'--device' option"),
    ],
)
def test_errors_exit_2_with_a_message(model_file: Path, capsys: pytest.CaptureFixture[str], argv, message) -> None:
    rc = main(["profile", *[a.replace("{f}", str(model_file)) for a in argv]])
    err = capsys.readouterr().err
    # a model that fails while profiled is a failure at run time (1), the rest usage errors
    assert rc == (1 if message.startswith("Profiling") else 2)
    assert message in err
    assert "Traceback" not in err
