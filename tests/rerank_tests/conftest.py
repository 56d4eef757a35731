"""The re-ranking tests run studies of the optuna tests' toy objectives
(``tests/optuna_tests/optuna_toys.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "optuna_tests"))
