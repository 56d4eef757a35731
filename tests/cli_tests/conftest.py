"""Fixtures of the command-line tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from user_space import write_user_space


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with the user's space file and a module it imports; the loader's additions
    to ``sys.path`` and ``sys.modules`` are undone after the test."""
    folder = write_user_space(tmp_path / "tmp")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("_effobj_user_") or name.startswith("my_"):
            del sys.modules[name]
