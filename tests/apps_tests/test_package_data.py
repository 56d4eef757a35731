"""The paper tables and the search spaces ship in the wheel, and the installed package finds them.

``effobj demo --paper-tables`` once read ``benchmarks/data`` from the source checkout, so
it failed from an installed wheel. The wheel is built from a copy of the sources (pip
would otherwise write ``build/`` into the checkout) and run from the zip file itself,
where :mod:`importlib.resources` reads the tables out of the archive.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from effobj.apps import PAPER_TABLES, paper_table_file

ROOT = Path(__file__).resolve().parents[2]
TABLES = [fname for fname, *_ in PAPER_TABLES]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in ("effobj", "search_spaces"):  # effobj/spaces is a link to search_spaces/
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore, symlinks=True)
    for top in ("pyproject.toml", "README.md", *(p.name for p in ROOT.glob("LICEN[CS]E*"))):
        shutil.copy2(ROOT / top, src / top)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(src)],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    (whl,) = out.glob("effobj-*.whl")
    return whl


def test_the_tables_are_in_the_source_package() -> None:
    for fname in TABLES:
        assert paper_table_file(fname).is_file(), fname


def test_the_wheel_ships_the_tables(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for fname in TABLES:
        assert f"effobj/apps/data/{fname}" in names


def test_the_installed_package_finds_the_tables(wheel: Path, tmp_path: Path) -> None:
    code = (
        "import sys, effobj\n"
        f"assert effobj.__file__.startswith({str(wheel)!r}), effobj.__file__\n"
        "from effobj.apps import paper_tables\n"
        "assert [len(r[1]) for r in paper_tables()] == [11, 4]\n"
        "from effobj.cli import main\n"
        "sys.exit(main(['demo', '--paper-tables']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(wheel)  # the zip archive itself, not the checkout
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("every printed value reproduced") == 2


def test_the_wheel_installs_the_spaces_as_effobj_spaces(wheel: Path) -> None:
    # search_spaces/ is installed as effobj.spaces (pyproject's package-dir): the wheel has
    # no top-level name but effobj's own, which no user folder can shadow
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names} == {"effobj", "effobj-0.1.0.dist-info"}
    spaces = {n.rpartition("/")[2] for n in names if n.startswith("effobj/spaces/")}
    assert spaces == {p.name for p in (ROOT / "search_spaces").glob("*.py")}


def test_the_installed_spaces_are_not_shadowed_by_a_users_folder(wheel: Path, tmp_path: Path) -> None:
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "search_spaces" / "__init__.py").write_text("")
    code = (
        "import os, effobj.spaces, search_spaces\n"
        f"assert effobj.spaces.__file__.startswith({str(wheel)!r}), effobj.spaces.__file__\n"
        "assert search_spaces.__file__ == os.path.abspath('search_spaces/__init__.py')\n"
        "print(sorted(effobj.spaces.get('nas-bench-graph:cora').lookup("
        "effobj.spaces.get('nas-bench-graph:cora').config_at(0))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(wheel)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['latency', 'params', 'perf', 'test_perf']"
