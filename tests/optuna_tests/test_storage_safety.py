"""Nothing a user stored is made unreadable: damaged Journal files, Optuna schemas of
another version, databases of another application (issue 24, item 2). Real files,
real SQLite; PostgreSQL with EFFOBJ_PG_URL."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna_toys import SizeTableSpace, size_spec

import effobj.spaces
from effobj.cli import main
from effobj.errors import InputError, StorageError
from effobj.optuna import create_study, resolve_storage
from effobj.optuna._journal import repair_journal, scan_journal

optuna.logging.set_verbosity(optuna.logging.ERROR)

PG_URL = os.environ.get("EFFOBJ_PG_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="EFFOBJ_PG_URL is not set: start a server with `eval \"$(.ci/postgres.sh)\"`",
)

SEARCH = ["search", "--space", "size-table", "--beta2", "1", "--perf-ref", "1.0",
          "--cost-ref", "10", "--cost", "size", "--cost-max", "6", "--sampler", "random",
          "--study-name", "t", "--no-progress"]


@pytest.fixture(autouse=True)
def size_table_space():
    effobj.spaces.register("size-table", SizeTableSpace, replace=True)
    yield
    effobj.spaces.unregister("size-table")


def _cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _n_trials(storage: str) -> int:
    store = resolve_storage(storage, heartbeat_interval=None, must_exist=True)
    return len(optuna.load_study(study_name="t", storage=store).trials)


def _journal(tmp_path: Path, capsys, trials: int = 3) -> Path:
    path = tmp_path / "study.log"
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", str(trials), "--storage", f"journal:{path}"])
    assert rc == 0, err
    return path


# ----------------------------------------------------------------------- damaged journals


def test_search_refuses_a_journal_with_a_torn_last_line_and_repair_mends_it(tmp_path, capsys):
    path = _journal(tmp_path, capsys)
    whole = path.read_bytes()
    n_lines = whole.count(b"\n")
    torn = whole[:-40]  # a writer killed in the middle of its last record
    path.write_bytes(torn)
    url = f"journal:{path}"
    # reading works as before (Optuna ignores a torn last line; best exits 1 only when the
    # torn record was the completion of the one feasible trial)
    rc, out, err = _cli(capsys, ["best", "--storage", url, "--study-name", "t"])
    assert rc in (0, 1) and "error" not in err and "Traceback" not in err, err
    assert _n_trials(url) == 3
    # writing is refused, with the file, the line, what is wrong and the repair
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "5", "--storage", url])
    assert rc == 1
    assert str(path) in err and f"last line {n_lines} is cut short" in err
    assert "effobj repair-journal" in err and "Traceback" not in err
    assert path.read_bytes() == torn  # nothing appended onto the broken line
    assert _n_trials(url) == 3  # still readable
    # the repair: a copy of the file as found, the torn line cut
    rc, out, _ = _cli(capsys, ["repair-journal", str(path)])
    assert rc == 0 and f"Cut the torn last line {n_lines}" in out
    (backup,) = tmp_path.glob("study.log.bak-*")
    assert backup.read_bytes() == torn and str(backup) in out
    assert path.read_bytes() == whole[: whole.rindex(b"\n", 0, len(torn)) + 1]
    assert "1 study, 3 trials" in out
    # the search resumes on the repaired file, and best reads it
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "5", "--storage", url])
    assert rc == 0, err
    assert _n_trials(url) == 5
    assert not scan_journal(str(path)).damaged


def test_a_bad_line_in_the_middle_is_named_and_dropped(tmp_path, capsys):
    path = _journal(tmp_path, capsys)
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:9], b"garbage{{\n", *lines[9:]])
    path.write_bytes(damaged)
    url = f"journal:{path}"
    # Optuna cannot read it: a clear error instead of a JSONDecodeError traceback
    rc, _, err = _cli(capsys, ["best", "--storage", url, "--study-name", "t"])
    assert rc == 1 and "line 10: not JSON" in err and "repair-journal" in err
    with pytest.raises(StorageError, match="line 10"):
        resolve_storage(url, must_exist=True)
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "5", "--storage", url])
    assert rc == 1 and "line 10" in err and str(path) in err
    assert path.read_bytes() == damaged
    # a dry run changes nothing
    rc, out, _ = _cli(capsys, ["repair-journal", f"journal:{path}", "--dry-run"])
    assert rc == 0 and "Would drop 1 line that is no record: 10." in out
    assert path.read_bytes() == damaged and not list(tmp_path.glob("*.bak-*"))
    rc, out, _ = _cli(capsys, ["repair-journal", str(path)])
    assert rc == 0 and "Dropped 1 line that is no record: 10." in out
    assert path.read_bytes() == b"".join(lines)
    assert _n_trials(url) == 3
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "4", "--storage", url])
    assert rc == 0, err


def test_a_torn_line_that_is_a_whole_record_is_completed_not_cut(tmp_path, capsys):
    path = _journal(tmp_path, capsys)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # only the line end is missing
    with pytest.raises(StorageError, match="cut short"):
        resolve_storage(f"journal:{path}")
    result = repair_journal(str(path))
    assert result.completed_tail and result.dropped == ()
    assert path.read_bytes() == whole


def test_a_journal_torn_while_a_worker_runs_is_not_written_to(tmp_path, capsys):
    path = _journal(tmp_path, capsys)
    store = resolve_storage(f"journal:{path}")
    study = optuna.load_study(study_name="t", storage=store)
    with path.open("ab") as f:  # another worker killed in the middle of a write
        f.write(b'{"op_code":5,"worker')
    torn = path.read_bytes()
    with pytest.raises(StorageError, match="cut short.*repair-journal"):
        study.set_user_attr("x", 1)
    assert path.read_bytes() == torn


def test_a_write_in_progress_is_not_taken_for_a_torn_tail(tmp_path, capsys):
    """A torn end seen while another worker holds the journal's lock is looked at again
    under the lock: the writer finishes its line, and the journal opens."""
    from optuna.storages.journal import JournalFileSymlinkLock

    path = _journal(tmp_path, capsys)
    whole = path.read_bytes()
    last = whole[whole.rindex(b"\n", 0, len(whole) - 1) + 1:]
    lock = JournalFileSymlinkLock(str(path))
    assert lock.acquire()
    path.write_bytes(whole[:-len(last)] + last[:10])  # the writer's first bytes

    def finish() -> None:
        time.sleep(0.3)
        with path.open("ab") as f:
            f.write(last[10:])
        lock.release()

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        store = resolve_storage(f"journal:{path}")
    finally:
        writer.join()
    assert isinstance(store, optuna.storages.JournalStorage)
    assert path.read_bytes() == whole


def test_repair_journal_leaves_whole_files_and_other_files_alone(tmp_path, capsys):
    path = _journal(tmp_path, capsys)
    whole = path.read_bytes()
    rc, out, _ = _cli(capsys, ["repair-journal", str(path)])
    assert rc == 0 and "no damage found" in out
    assert path.read_bytes() == whole and not list(tmp_path.glob("*.bak-*"))
    other = tmp_path / "notes.log"
    other.write_bytes(b"\x1b]0;title\x07 not a journal\n")
    rc, _, err = _cli(capsys, ["repair-journal", str(other)])
    assert rc == 2 and "holds no Optuna journal record" in err and "\x1b" not in err
    assert other.read_bytes() == b"\x1b]0;title\x07 not a journal\n"
    rc, _, err = _cli(capsys, ["repair-journal", str(tmp_path / "none.log")])
    assert rc == 2 and "does not exist" in err
    with pytest.raises(InputError, match="does not exist"):
        repair_journal(str(tmp_path / "none.log"))


# ----------------------------------------------------------- an Optuna schema of another version


def _set_schema_version(url: str, version: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{version}'")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_pg])])
def rdb_url(request, tmp_path):
    """An empty RDB storage of its own: an SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
        return
    import sqlalchemy

    schema = f"effobj_test_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.mark.parametrize(
    ("version", "found", "fix"),
    [("v3.0.0.c", "older", "optuna storage upgrade --storage"),
     ("v99.0.0.a", "newer Optuna wrote it", "pip install -U optuna")],
)
def test_a_schema_of_another_optuna_version_is_a_clear_storage_error(rdb_url, capsys, version,
                                                                     found, fix):
    from effobj.optuna._storage import masked_url

    create_study(size_spec(), storage=rdb_url, study_name="t", sampler="random")
    head = resolve_storage(rdb_url).get_head_version()
    _set_schema_version(rdb_url, version)
    for call in (lambda: create_study(size_spec(), storage=rdb_url, study_name="t"),
                 lambda: resolve_storage(rdb_url, must_exist=rdb_url.startswith("sqlite"))):
        with pytest.raises(StorageError) as info:
            call()
        text = str(info.value)
        assert repr(masked_url(rdb_url)) in text and repr(version) in text and repr(head) in text
        assert found in text and fix in text
        if PG_URL and rdb_url.startswith(PG_URL):
            assert ":***@" in text and PG_URL not in text  # the password masked
    for argv in (["best", "--storage", rdb_url, "--study-name", "t"],
                 [*SEARCH, "--trials", "2", "--storage", rdb_url]):
        rc, _, err = _cli(capsys, argv)
        assert rc == 1 and fix in err and repr(version) in err and "Traceback" not in err


# --------------------------------------------------------------- another application's database


def test_search_refuses_a_database_with_foreign_tables(tmp_path, capsys):
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    for name in ("users", "orders", "invoices", "items", "payments", "sessions", "tags"):
        con.execute(f"CREATE TABLE {name} (id INTEGER)")
    con.commit()
    con.close()
    url = f"sqlite:///{path}"
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "2", "--storage", url])
    assert rc == 2 and "7 tables that are not Optuna's" in err and "and 2 more" in err
    assert "'invoices'" in err and "--allow-foreign-tables" in err
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "studies" not in tables  # nothing was added to the other application's file
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "2", "--storage", url,
                               "--allow-foreign-tables"])
    assert rc == 0, err
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "3", "--storage", url])
    assert rc == 2 and "'invoices'" in err  # still refused without the option


def test_an_empty_file_and_an_optuna_database_are_fine(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "2", "--storage", f"sqlite:///{empty}"])
    assert rc == 0, err
    rc, _, err = _cli(capsys, [*SEARCH, "--trials", "3", "--storage", f"sqlite:///{empty}"])
    assert rc == 0, err  # an Optuna database: resumed
    assert _n_trials(f"sqlite:///{empty}") == 3


@pytest.mark.postgres
@needs_pg
def test_search_refuses_a_postgres_schema_with_foreign_tables(capsys):
    import sqlalchemy

    schema = f"effobj_test_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"CREATE TABLE {schema}.customers (id integer)")
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        rc, _, err = _cli(capsys, [*SEARCH, "--trials", "2", "--storage", url])
        assert rc == 2 and "'customers'" in err and ":***@" in err
        rc, _, err = _cli(capsys, [*SEARCH, "--trials", "2", "--storage", url,
                                   "--allow-foreign-tables"])
        assert rc == 0, err
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


def test_json_of_a_repaired_journal_is_what_optuna_wrote(tmp_path, capsys):
    """Repair keeps every record byte for byte (only damaged lines go)."""
    path = _journal(tmp_path, capsys)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:5], b"[1, 2]\n", *lines[5:], b"{\"op_co"]))
    result = repair_journal(str(path))
    assert result.dropped == (6, len(lines) + 2)
    assert path.read_bytes() == b"".join(lines)
    assert all("op_code" in json.loads(x) for x in lines)
