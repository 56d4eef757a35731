"""search_spaces/ installs as effobj.spaces: nothing effobj installs can be shadowed.

A user's own ``search_spaces/`` folder (a natural name in NAS work) once shadowed the
installed top-level package of that name, and ``objective_from_space`` failed with an
``AttributeError``. The wheel side (no top-level name but ``effobj``) is tested in
tests/apps_tests/test_package_data.py.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_lists_every_package_and_maps_the_spaces() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"effobj.spaces": "search_spaces"}
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "effobj").rglob("__init__.py")
        if p.parent.relative_to(ROOT).parts[:2] != ("effobj", "spaces")  # the link
    }
    # a package missing from the list would be missing from the wheel
    assert set(config["packages"]) == on_disk | {"effobj.spaces"}
    link = ROOT / "effobj" / "spaces"  # for mypy and PYTHONPATH=checkout runs
    assert link.is_symlink() and link.resolve() == (ROOT / "search_spaces").resolve()


def test_a_script_beside_a_users_search_spaces_folder_works(tmp_path: Path) -> None:
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "__init__.py").write_text("")  # the user's own, empty
    script = tmp_path / "search.py"
    script.write_text(
        "import sys\n"
        "import search_spaces\n"
        "import effobj.spaces\n"
        "from effobj import EfficiencySpec\n"
        "from effobj.optuna import objective_from_space\n"
        "spec = EfficiencySpec(perf_ref=0.99, cost_ref=1e5, cost_name='macs')\n"
        "objective = objective_from_space(spec, effobj.spaces.get('mlp'))\n"
        "assert search_spaces.__file__.startswith(sys.argv[1]), search_spaces.__file__\n"
        "print(type(objective).__name__, objective.space.name)\n"
    )
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["EfficiencyObjective", "mlp"]
