"""The user's own space file of the ``--space`` and ``space-range`` tests, written where a
test needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the user's own space, as the README shows it: a small network on their data
MY_SPACE = '''
import torch
from effobj.spaces import Int, ModelSpace, training_params

from my_layers import hidden_block  # a neighbour of this file


class MySpace(ModelSpace):
    name = "my-space"
    default_dataset = "wine"
    layouts = ("flat",)
    params = (Int("hidden", 2, 16), *training_params(epochs=(1, 2)))

    def _build(self, config, info):
        return torch.nn.Sequential(
            hidden_block(info.input_shape[0], config["hidden"]),
            torch.nn.Linear(config["hidden"], info.num_classes),
        )


def make_space():
    return MySpace()


SPACE = MySpace()
NOT_A_SPACE = 3


def make_int():
    return 3


def boom():
    raise RuntimeError("no GPU here")
'''
MY_LAYERS = '''
import torch


def hidden_block(n_in, n_out):
    return torch.nn.Sequential(torch.nn.Linear(n_in, n_out), torch.nn.ReLU())
'''



def write_user_space(folder: Path) -> Path:
    """Write ``my_space.py`` and the ``my_layers.py`` it imports into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_space.py").write_text(MY_SPACE)
    (folder / "my_layers.py").write_text(MY_LAYERS)
    return folder


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``effobj ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    from effobj.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
