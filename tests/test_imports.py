"""The metric layer imports neither torch nor optuna; the public API is what __all__ says."""

from __future__ import annotations

import subprocess
import sys

import effobj


def test_metric_layer_is_light():
    code = (
        "import sys, effobj, effobj.metric, effobj.spec, effobj.ratios, effobj.pareto, effobj.cli; "
        "effobj.e_beta(0.5, 0.5); effobj.EfficiencySpec(perf_ref=1, cost_ref=1).score(0.5, 0.5); "
        "effobj.cli.build_parser(); "
        "import effobj.record; effobj.record.TrialRecord.from_user_attrs({'perf': 0.5}); "
        "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    for name in effobj.__all__:
        assert getattr(effobj, name) is not None, name
    assert set(dir(effobj)) == set(effobj.__all__)
