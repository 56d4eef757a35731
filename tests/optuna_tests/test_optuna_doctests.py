"""The examples in effobj.optuna's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "effobj.optuna",
    "effobj.optuna._objective",
    "effobj.optuna._storage",
    "effobj.optuna._study",
    "effobj.optuna._pruner",
    "effobj.optuna._sampler",
    "effobj.optuna._surrogate",
    "effobj.optuna._costs",
    "effobj.optuna._calibration",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
