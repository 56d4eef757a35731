"""Issue 21, item 1: effobj uses Optuna's public API only, but in ``effobj/optuna/_compat.py``.

Every ``.py`` file of the package (``effobj/``, the spaces in ``search_spaces/``) and of
``examples/`` and ``benchmarks/`` is read, and none but ``_compat.py`` may touch a
private Optuna name:

- import a module of Optuna whose path has a part starting with ``_``
  (``optuna.storages._rdb``), or a name starting with ``_`` from one of Optuna's modules;
- reach a ``_`` name through a name bound to Optuna (``optuna.storages._CachedStorage``,
  ``HeartbeatThread._record_heartbeat``);
- read or write an attribute of another object (not ``self``/``cls``) whose name is a
  private attribute or method of some class of Optuna (``study._storage``,
  ``trial._trial_id``, ``rdb._set_trial_attr_without_commit``), also through
  ``getattr``/``hasattr``/``setattr``/``delattr`` with the name as a string;
- in a subclass of an Optuna class, use or override a private name of that class
  (``self._raise_error_if_multi_objective``);
- define a method named like a private method of ``Study``, ``Trial``, ``FrozenTrial`` or
  a storage (what a stand-in for one of them overrides: ``_get_trials``);
- name a private module of Optuna in a string (a logger name, ``importlib``).

Optuna's private names are read from the installed Optuna's source, so the check
follows the version under test. The compat functions themselves are tested below
against real in-memory and SQLite studies.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
import textwrap
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from effobj.optuna import _compat

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = [ROOT / "effobj", ROOT / "search_spaces", ROOT / "examples", ROOT / "benchmarks"]
#: the one file allowed to touch Optuna's private names
COMPAT = ROOT / "effobj" / "optuna" / "_compat.py"
OPTUNA_DIR = Path(optuna.__file__).resolve().parent

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ------------------------------------------------------------------ Optuna's private names
def _class_private_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(private methods, private attributes) defined by the classes in ``tree``."""
    methods: set[str] = set()
    attrs: set[str] = set()
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for node in ast.walk(cls):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(node.name):
                methods.add(node.name)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                  and _private(node.attr)):
                attrs.add(node.attr)
        for stmt in cls.body:
            targets = (stmt.targets if isinstance(stmt, ast.Assign)
                       else [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
            attrs.update(t.id for t in targets if isinstance(t, ast.Name) and _private(t.id))
    return methods, attrs


@cache
def optuna_member_names() -> frozenset[str]:
    """Every private method and attribute name of every class in Optuna's source."""
    names: set[str] = set()
    for path in OPTUNA_DIR.rglob("*.py"):
        methods, attrs = _class_private_names(ast.parse(path.read_text(), str(path)))
        names |= methods | attrs
    return frozenset(names)


@cache
def class_private_names(cls: type) -> frozenset[str]:
    """The private names of an Optuna class: of its classes from Optuna (its MRO), the
    private members (``dir``) and the private attributes their code assigns."""
    names = {n for n in dir(cls) if _private(n)}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("optuna"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        methods, attrs = _class_private_names(ast.parse(source))
        names |= methods | attrs
    return frozenset(names)


@cache
def stand_in_names() -> frozenset[str]:
    """Private methods of the Optuna classes a duck-typed stand-in replaces."""
    names: set[str] = set()
    for cls in (optuna.Study, optuna.trial.Trial, optuna.trial.FrozenTrial,
                optuna.storages.BaseStorage, optuna.storages.RDBStorage,
                optuna.storages.InMemoryStorage, optuna.storages.JournalStorage):
        names |= {n for n in dir(cls) if _private(n) and callable(getattr(cls, n, None))}
    return frozenset(names)


_PRIVATE_MODULE_TEXT = re.compile(r"\boptuna(?:\.[A-Za-z_]\w*)*\.(_[A-Za-z]\w*)")


def _resolve(dotted: str) -> Any:
    """The Optuna object ``optuna.a.B`` names, or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


# ------------------------------------------------------------------------------ the check
class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.bound: dict[str, str] = {}  # local name -> the Optuna module or object it binds
        self.classes: list[frozenset[str] | None] = []  # Optuna base's private names
        self.docstrings: set[int] = set()

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    # names bound to Optuna
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "optuna" or alias.name.startswith("optuna."):
                if any(_private(p) for p in alias.name.split(".")):
                    self.flag(node, f"imports the private module {alias.name}")
                if alias.asname:
                    self.bound[alias.asname] = alias.name
                else:
                    self.bound[alias.name.split(".")[0]] = "optuna"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not (module == "optuna" or module.startswith("optuna.")):
            return
        if any(_private(p) for p in module.split(".")):
            self.flag(node, f"imports from the private module {module}")
        for alias in node.names:
            if _private(alias.name):
                self.flag(node, f"imports the private name {alias.name} from {module}")
            self.bound[alias.asname or alias.name] = f"{module}.{alias.name}"

    def _dotted(self, node: ast.AST) -> str | None:
        """``a.b.c`` as the Optuna path it names (``a`` bound to Optuna), or None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.bound:
            return None
        return ".".join([self.bound[node.id], *reversed(parts)])

    def visit_Module(self, node: ast.Module) -> None:
        self._note_docstring(node)
        self.generic_visit(node)

    def _note_docstring(self, node: ast.AST) -> None:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            self.docstrings.add(id(body[0].value))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._note_docstring(node)
        names: set[str] = set()
        for base in node.bases:
            dotted = self._dotted(base)
            target = _resolve(dotted) if dotted else None
            if isinstance(target, type):
                names |= class_private_names(target)
        self.classes.append(frozenset(names) if names else None)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if names and stmt.name in names:
                    self.flag(stmt, f"overrides the private {stmt.name} of an Optuna class")
                elif stmt.name in stand_in_names():
                    self.flag(stmt, f"defines {stmt.name}, a private method of Optuna's "
                                    "studies, trials or storages")
        self.generic_visit(node)
        self.classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._note_docstring(node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _private(node.attr):
            dotted = self._dotted(node)
            base = node.value
            own = isinstance(base, ast.Name) and base.id in ("self", "cls")
            if dotted is not None:
                self.flag(node, f"uses the private {dotted}")
            elif own:
                optuna_base = self.classes[-1] if self.classes else None
                if optuna_base is not None and node.attr in optuna_base:
                    self.flag(node, f"uses {node.attr}, private to its Optuna base class")
            elif node.attr in optuna_member_names():
                self.flag(node, f"uses .{node.attr}, a private name of Optuna's classes")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (isinstance(func, ast.Name) and func.id in ("getattr", "hasattr", "setattr", "delattr")
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and node.args[1].value in optuna_member_names()):
            self.flag(node, f"{func.id}(..., {node.args[1].value!r}), a private name of Optuna's")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.docstrings:
            m = _PRIVATE_MODULE_TEXT.search(node.value)
            if m is not None:
                self.flag(node, f"names the private {m.group(0)} in a string")


def private_optuna_uses(source: str, filename: str = "<string>") -> list[str]:
    """Each use of a private Optuna name in ``source``: ``"line N: what"``."""
    finder = _Finder()
    finder.visit(ast.parse(source, filename))
    return [f"line {line}: {what}" for line, what in sorted(set(finder.found))]


def _scanned_files() -> list[Path]:
    files: dict[Path, Path] = {}
    for folder in FOLDERS:
        for path in sorted(folder.rglob("*.py")):
            if "spaces" in path.relative_to(folder).parts[:1] and folder.name == "effobj":
                continue  # effobj/spaces links to search_spaces/, read there
            files.setdefault(path.resolve(), path)
    return sorted(files.values())


def test_the_scan_reads_the_package():
    files = {p.relative_to(ROOT).as_posix() for p in _scanned_files()}
    assert "effobj/optuna/_objective.py" in files and "effobj/cli/_safe.py" in files
    assert "effobj/rerank/_rdb_table.py" in files
    assert any(f.startswith("search_spaces/") for f in files)
    assert len(files) > 100


def test_no_private_optuna_name_outside_compat():
    found = []
    for path in _scanned_files():
        if path.resolve() == COMPAT.resolve():
            continue
        for use in private_optuna_uses(path.read_text(), str(path)):
            found.append(f"{path.relative_to(ROOT).as_posix()} {use}")
    assert found == [], (
        "private Optuna names outside effobj/optuna/_compat.py (use a public Optuna API, "
        "or add a documented function to _compat.py):\n" + "\n".join(found)
    )


def test_compat_is_where_the_private_names_are():
    # the check sees them where they are allowed: it is not blind
    uses = private_optuna_uses(COMPAT.read_text(), str(COMPAT))
    joined = "\n".join(uses)
    for name in ("_storage", "_study_id", "_trial_id", "_stop_flag", "_get_trials",
                 "_cached_frozen_trial", "_CachedStorage", "_backend", "_rdb",
                 "_set_trial_attr_without_commit", "_heartbeat", "_record_heartbeat",
                 "optuna.study._optimize"):
        assert name in joined, name


# each of these re-adds one private use the package had: the check must see it
REINTRODUCED = {
    "study id": "def f(study):\n    return study._study_id\n",
    "storage": "def f(study):\n    return study._storage.get_all_trials(0)\n",
    "trial id": "def f(trial):\n    return trial._trial_id\n",
    "stop flag": "def f(study):\n    study._stop_flag = False\n",
    "cache backend": "def f(s):\n    return getattr(s, '_backend', s)\n",
    "hasattr": "def f(t):\n    return hasattr(t, '_cached_frozen_trial')\n",
    "rdb models": "from optuna.storages._rdb import models\n",
    "private function": "from optuna.storages._rdb.storage import _create_scoped_session\n",
    "private name": "from optuna.storages import _CachedStorage\n",
    "module attribute": "import optuna\nx = optuna.storages._CachedStorage\n",
    "aliased module": "import optuna.storages as st\nx = st._heartbeat.BaseHeartbeat\n",
    "class attribute": ("from optuna.storages import RDBStorage\n"
                        "x = RDBStorage._set_trial_attr_without_commit\n"),
    "lazy import": "def f():\n    import optuna.storages._heartbeat\n",
    "logger name": "import logging\nlog = logging.getLogger('optuna.study._optimize')\n",
    "stand-in": "class V:\n    def _get_trials(self, deepcopy=True):\n        return []\n",
    "inherited": ("from optuna.samplers import BaseSampler\n"
                  "class S(BaseSampler):\n"
                  "    def f(self, study):\n"
                  "        self._raise_error_if_multi_objective(study)\n"),
    "overridden": ("import optuna\n"
                   "class S(optuna.samplers.RandomSampler):\n"
                   "    def _raise_error_if_multi_objective(self, study):\n        pass\n"),
    "stale ids": "def f(storage):\n    return storage._get_stale_trial_ids(1)\n",
}


@pytest.mark.parametrize("name", sorted(REINTRODUCED))
def test_the_check_sees_a_reintroduced_private_use(name):
    assert private_optuna_uses(REINTRODUCED[name]) != [], name


CLEAN = {
    "own attributes": ("class C:\n    def __init__(self, s):\n        self._storage = s\n"
                       "    def f(self):\n        return self._storage\n"),
    "public calls": ("import optuna\n"
                     "def f(study):\n"
                     "    return study.get_trials(deepcopy=False), optuna.storages.RDBStorage\n"),
    "own modules": "from effobj.optuna._storage import rdb_backend\n",
    "docstring": 'def f():\n    """Optuna\'s optuna.storages._rdb tables."""\n',
    "own subclass names": ("from optuna.samplers import BaseSampler\n"
                           "class S(BaseSampler):\n"
                           "    def __init__(self):\n        self._perf = {}\n"
                           "    def _propose(self):\n        return self._perf\n"),
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_the_check_passes_public_code(name):
    assert private_optuna_uses(CLEAN[name]) == [], name


# ------------------------------------------------------------------------ compat functions
@pytest.fixture(params=["memory", "sqlite"])
def study(request, tmp_path):
    if request.param == "memory":
        storage: Any = optuna.storages.InMemoryStorage()
    else:
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'compat.db'}")
    s = optuna.create_study(storage=storage, study_name="compat", direction="maximize")
    s.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    return s


def test_storage_and_ids(study):
    storage = _compat.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    sid = _compat.study_id(study)
    assert storage.get_study_id_from_name(study.study_name) == sid  # the public lookup
    again = optuna.load_study(study_name="compat", storage=storage)
    assert _compat.study_key(again) == _compat.study_key(study) == (id(storage), sid)
    for t in study.trials:
        tid = _compat.trial_id(t)
        assert storage.get_trial_id_from_study_id_trial_number(sid, t.number) == tid
        assert storage.get_trial(tid).number == t.number


def test_study_system_attrs(study):
    _compat.set_study_system_attr(study, "effobj_test", {"a": 1})
    assert _compat.study_system_attrs(study)["effobj_test"] == {"a": 1}
    again = optuna.load_study(study_name="compat", storage=_compat.storage_of(study))
    assert _compat.study_system_attrs(again)["effobj_test"] == {"a": 1}
    assert "effobj_test" not in study.user_attrs


def test_running_trial_helpers(study):
    trial = study.ask()
    assert _compat.trial_id(trial) == _compat.trial_id(study.trials[-1])
    _compat.set_trial_system_attr(trial, "effobj_mark", 7)
    assert study.trials[-1].system_attrs["effobj_mark"] == 7
    cached = _compat.cached_frozen_trial(trial)
    assert isinstance(cached, optuna.trial.FrozenTrial) and cached.number == trial.number
    assert _compat.cached_frozen_trial(optuna.trial.FixedTrial({"x": 0.5})) is None
    study.tell(trial, 0.5)


def test_study_trials_and_the_view(study):
    public = study.get_trials(deepcopy=False)
    for use_cache in (False, True):
        read = _compat.study_trials(study, deepcopy=False, use_cache=use_cache)
        assert [t.number for t in read] == [t.number for t in public]
    done = _compat.study_trials(study, states=(TrialState.COMPLETE,))
    assert len(done) == 3

    calls = []

    class OnlyFirst(_compat.TrialsView):
        def read_trials(self, deepcopy, states, use_cache):
            calls.append(use_cache)
            return super().read_trials(deepcopy, states, use_cache)[:1]

    view: Any = OnlyFirst(study)
    assert view.wrapped is study and view.study_name == "compat"  # the study's own
    assert len(view.trials) == len(view.get_trials()) == 1
    assert len(view._get_trials(deepcopy=False, states=None, use_cache=True)) == 1
    # what Optuna's samplers read goes through the view
    space = optuna.search_space.IntersectionSearchSpace().calculate(view)
    assert set(space) == {"x"}
    calls.clear()
    trial = study.ask()
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=0)
    x = sampler.sample_independent(view, study.trials[-1], "x", space["x"])
    assert 0.0 <= x <= 1.0 and calls  # TPE read the trials through the view
    study.tell(trial, 0.0)


def test_stop_requested(study):
    def stops(trial):
        trial.study.stop()
        return 0.0

    study.optimize(stops, n_trials=1)
    assert _compat.stop_requested(study)
    study.optimize(lambda t: 0.0, n_trials=1)  # Optuna clears it as optimize starts
    assert not _compat.stop_requested(study)


def test_optimize_logger_gets_optunas_trial_lines(study):
    seen: list[logging.LogRecord] = []

    class Keep(logging.Filter):
        def filter(self, record):
            seen.append(record)
            return False

    keep = Keep()
    logger = _compat.optimize_logger()
    assert logger.name == _compat.OPTIMIZE_LOGGER
    optuna.logging.set_verbosity(optuna.logging.INFO)
    logger.addFilter(keep)
    try:
        study.optimize(lambda t: float("nan"), n_trials=1)
    finally:
        logger.removeFilter(keep)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
    assert any(r.getMessage().startswith("Trial 3 failed with value nan") for r in seen)


def test_rdb_helpers(tmp_path):
    url = f"sqlite:///{tmp_path / 'rdb.db'}"
    study = optuna.create_study(storage=url, study_name="rdb")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    storage = _compat.storage_of(study)
    rdb = _compat.unwrap_cache(storage)
    assert isinstance(rdb, optuna.storages.RDBStorage) and rdb is not storage
    memory = optuna.storages.InMemoryStorage()
    assert _compat.unwrap_cache(memory) is memory

    models = _compat.rdb_models()
    with _compat.scoped_session(rdb) as session:
        n = (session.query(models.TrialModel)
             .filter(models.TrialModel.study_id == _compat.study_id(study)).count())
    assert n == 2
    trial = study.ask()
    with _compat.scoped_session(rdb, True) as session:
        _compat.set_trial_attr_without_commit(rdb, session, models.TrialUserAttributeModel,
                                              _compat.trial_id(trial), "k", [1, 2])
    assert optuna.load_study(study_name="rdb", storage=url).trials[-1].user_attrs == {"k": [1, 2]}
    study.tell(trial, 0.0)
    with pytest.raises(RuntimeError), _compat.scoped_session(rdb) as session:  # finished
        _compat.set_trial_attr_without_commit(rdb, session, models.TrialUserAttributeModel,
                                              _compat.trial_id(trial), "k", 3)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_heartbeat_helpers(tmp_path):
    url = f"sqlite:///{tmp_path / 'beat.db'}"
    assert not _compat.heartbeat_enabled(optuna.storages.InMemoryStorage())
    assert not _compat.heartbeat_enabled(optuna.storages.RDBStorage(url))
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage, study_name="beat")
    assert _compat.heartbeat_enabled(_compat.storage_of(study))
    alive, stale = study.ask(), study.ask()
    storage.record_heartbeat(_compat.trial_id(stale))
    time.sleep(2.2)  # older than the grace period (SQLite's clock has whole seconds)
    storage.record_heartbeat(_compat.trial_id(alive))
    ids = _compat.stale_trial_ids(_compat.storage_of(study), _compat.study_id(study))
    assert ids == [_compat.trial_id(stale)]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_stop_heartbeat_thread(tmp_path):
    from optuna.storages._heartbeat import get_heartbeat_thread  # the thread Optuna starts

    url = f"sqlite:///{tmp_path / 'thread.db'}"
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=60)
    study = optuna.create_study(storage=storage, study_name="t")
    ours, other = study.ask(), study.ask()
    ev = threading.Event()
    bystander = threading.Thread(target=ev.wait, args=(30,), daemon=True)
    bystander.start()
    beats = [get_heartbeat_thread(_compat.trial_id(t), storage) for t in (ours, other)]
    for b in beats:
        b.start()
    try:
        _compat.stop_heartbeat_thread(_compat.trial_id(ours))
        _compat.stop_heartbeat_thread(-1)  # no such trial: nothing happens
        deadline = time.monotonic() + 10

        def running(tid: int) -> bool:
            return any(
                tuple(getattr(th, "_args", ()))[:1] == (tid,) and th.is_alive()
                for th in threading.enumerate()
            )

        while running(_compat.trial_id(ours)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(_compat.trial_id(ours))
        assert running(_compat.trial_id(other)) and bystander.is_alive()
    finally:
        ev.set()
        for b in beats:
            b.join()
