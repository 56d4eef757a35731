"""Where studies live: SQLite by default, any Optuna URL, or a Journal file.

Optuna's storages are effobj's distribution layer. Several worker processes (or machines)
share one study by naming the same storage and study name:

- ``None`` (the default): ``sqlite:///effobj.db``, a file in the working folder; embedded,
  nothing to set up; fine for a few worker processes on one machine.
- any SQLAlchemy URL Optuna accepts, e.g. ``postgresql+psycopg2://user:pw@host/db`` for
  workers on several machines;
- ``journal:PATH`` (or a path ending in ``.log`` / ``.journal``): Optuna's Journal storage
  in an append-only file, for processes sharing a file system;
- ``:memory:``: an in-process study (tests, benchmarks);
- an ``optuna.storages.BaseStorage`` instance, used as is.

**Dead workers.** RDB storages (SQLite, PostgreSQL, MySQL) get a heartbeat: each running
trial's worker writes a heartbeat every ``heartbeat_interval`` seconds; a trial whose
heartbeat is older than ``grace_period`` is failed by the next worker that starts a trial,
and :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` (the Optuna 5 name of
``RetryFailedTrialCallback``) enqueues a copy with the same parameters, so the work of a
killed worker is redone exactly once by a live one. Optuna's Journal storage has no
heartbeat: with it a killed worker's trial stays RUNNING, is never retried, and
:func:`effobj.optuna.optimize` counts it as running (the study ends one trial short per
killed worker). Use an RDB storage (SQLite on one machine, PostgreSQL across machines)
when workers may be killed.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import optuna

from effobj._validation import check_instance, check_int, refusal
from effobj.errors import InputError, StorageError
from effobj.optuna import _compat

__all__ = [
    "DEFAULT_STORAGE", "check_foreign_tables", "foreign_tables", "masked_url", "rdb_backend", "resolve_storage", "sqlite_path", "storage_url",
]

#: the default storage: an SQLite file in the working folder
DEFAULT_STORAGE = "sqlite:///effobj.db"

_JOURNAL_PREFIX = "journal:"
_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


def storage_url(storage: str | None) -> str:
    """The storage URL a ``storage`` argument stands for (``None`` -> the default file)."""
    return DEFAULT_STORAGE if storage is None else storage


def masked_url(url: str | None) -> str:
    """``url`` with the password of its user info replaced by ``***``: the form in which
    effobj prints a storage URL or writes it into a file (``None`` -> the default URL).

    Example:
        >>> masked_url("postgresql+psycopg2://me:s3cret@db.example/optuna")
        'postgresql+psycopg2://me:***@db.example/optuna'
    """
    url = storage_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for stop in "?#":
        k = rest.find(stop)
        if k >= 0:
            end = min(end, k)
    at = rest.rfind("@", 0, end)
    if at < 0:
        return url
    user, colon, _password = rest[:at].partition(":")
    if not colon:
        return url
    return f"{scheme}://{user}:***{rest[at:]}"


def sqlite_path(url: str) -> str | None:
    """The file an ``sqlite:///PATH[?query]`` URL names (``None``: not an SQLite file)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if path.startswith("file:") and "uri=true" in url:  # an SQLite URI names its file after 'file:'
        path = path[len("file:"):]
    if not path or path == ":memory:":
        return None
    return path


def _describe(exc: BaseException, url: str) -> str:
    """A one-line account of a database error, the URL's password masked."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    masked = masked_url(url)
    if masked != url:
        text = text.replace(url, masked)
        password = url.partition("://")[2].rsplit("@", 1)[0].partition(":")[2]
        if password:
            text = text.replace(password, "***")
    return f"{type(orig).__name__}: {text}"


def resolve_storage(
    storage: str | optuna.storages.BaseStorage | None = None,
    *,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = None,
    max_retry: int | None = 3,
    must_exist: bool = False,
) -> optuna.storages.BaseStorage:
    """Turn a storage argument into an Optuna storage with heartbeat and retry.

    Args:
        storage: ``None`` (``sqlite:///effobj.db`` in the working folder), an RDB URL,
            ``journal:PATH`` or a path ending in ``.log``/``.journal``/``.jsonl``,
            ``":memory:"``, or a storage instance (returned unchanged).
        heartbeat_interval: seconds between heartbeats of a running trial (RDB storages);
            ``None`` turns the heartbeat and the retry of dead workers' trials off.
        grace_period: seconds without heartbeat after which a running trial is failed
            and retried; default ``2 * heartbeat_interval``.
        max_retry: how many times a dead worker's trial is re-run (``None``: no limit).
        must_exist: open for reading only (``effobj best``, ``effobj report``): an
            SQLite or Journal file must exist and hold Optuna's tables; nothing is
            created or changed (no schema written into an empty file, no journal file
            created, no switch to write-ahead logging).

    Returns:
        An Optuna storage.

    Raises:
        InputError: a bad argument (the message names it), a missing folder or file.
        StorageError: the database cannot be opened (unreachable server, corrupt file,
            unknown dialect); the message masks the URL's password.

    Example:
        >>> type(resolve_storage(":memory:")).__name__
        'InMemoryStorage'
    """
    func = "resolve_storage"
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    storage = check_instance(storage, "storage", func, str, "a URL string, an Optuna storage or None",
                             allow_none=True)
    heartbeat_interval = check_int(heartbeat_interval, "heartbeat_interval", func, low=1, allow_none=True)
    grace_period = check_int(grace_period, "grace_period", func, low=1, allow_none=True)
    max_retry = check_int(max_retry, "max_retry", func, low=0, allow_none=True)
    url = storage_url(storage)
    if not url:
        raise refusal("storage", func, "not be empty", "''")
    if url == ":memory:":
        return optuna.storages.InMemoryStorage()
    if url.startswith(_JOURNAL_PREFIX) or (
        "://" not in url and url.endswith(_JOURNAL_SUFFIXES)
    ):
        journal = url[len(_JOURNAL_PREFIX) :] if url.startswith(_JOURNAL_PREFIX) else url
        if not journal:
            raise refusal("storage", func, "name a file after 'journal:'", repr(url))
        from effobj.optuna._journal import open_journal

        _require_storage_file(url, journal, must_exist)
        return open_journal(url, journal, must_exist=must_exist)
    if "://" not in url:
        raise refusal(
            "storage", func,
            "be an Optuna storage URL (e.g. 'sqlite:///effobj.db', "
            "'postgresql+psycopg2://user:pw@host/db'), 'journal:PATH' or ':memory:'",
            repr(url),
        )
    path = sqlite_path(url)
    if path is not None:
        _require_storage_file(url, path, must_exist)
        if must_exist:
            _check_sqlite_study_file(url, path)
    read_only_uri = False
    if path is not None and "?" in url:
        from urllib.parse import parse_qsl

        query = dict(parse_qsl(url.split("?", 1)[1]))
        if query.get("mode") == "ro":
            read_only_uri = True
            if "uri" not in query:  # SQLAlchemy ignores 'mode' unless the URL is an SQLite URI
                url = f"sqlite:///file:{path}?{url.split('?', 1)[1]}&uri=true"
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several processes write one file: wait for the lock instead of failing at once
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if heartbeat_interval is not None:
        kwargs["heartbeat_interval"] = heartbeat_interval
        kwargs["grace_period"] = grace_period or 2 * heartbeat_interval
        kwargs["heartbeat_stale_trial_callback"] = _retry_callback(max_retry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            rdb = _rdb_storage(url, kwargs)
        except ImportError as exc:  # a driver that is not installed (e.g. psycopg2)
            dialect = url.split("://", 1)[0].split("+", 1)[0]
            hint = {
                "postgresql": "For PostgreSQL install psycopg2-binary "
                "(pip install 'effobj[postgres]').",
                "mysql": "For MySQL install a driver such as PyMySQL "
                "(pip install pymysql; URL mysql+pymysql://...).",
            }.get(dialect, "Install the driver the URL names.")
            raise StorageError(
                f"The storage {masked_url(url)!r} needs a database driver that is not "
                f"installed: {_describe(exc, url)}. {hint}"
            ) from None
        except Exception as exc:
            import sqlalchemy.exc

            if isinstance(exc, RuntimeError) and "table schema" in str(exc):
                raise _schema_error(url, kwargs) from None
            if not isinstance(exc, sqlalchemy.exc.SQLAlchemyError | ValueError):
                raise
            raise StorageError(
                f"The storage {masked_url(url)!r} cannot be opened: {_describe(exc, url)}"
            ) from None
    if rdb.engine.name == "sqlite" and ":memory:" not in url and not (must_exist or read_only_uri):
        _sqlite_wal(rdb)
    return rdb


def _schema_error(url: str, kwargs: dict[str, Any]) -> StorageError:
    """The error for a database whose Optuna schema is not the one the installed Optuna
    uses: the versions found and expected, and the fix (upgrade the storage, or Optuna)."""
    import shlex

    masked = masked_url(url)
    found = library = head = "?"
    known: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rdb = optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs.get("engine_kwargs"), skip_compatibility_check=True,
                skip_table_creation=True,
            )
        try:
            found, head, known = (rdb.get_current_version(), rdb.get_head_version(),
                                  rdb.get_all_versions())
            models = _compat.rdb_models()
            with rdb.engine.connect() as conn:
                row = conn.execute(
                    models.VersionInfoModel.__table__.select()
                ).first()
            if row is not None:
                library = str(row.library_version)
        finally:
            rdb.engine.dispose()
    except Exception:  # noqa: BLE001,S110  (the versions are for the message only)
        pass
    wrote = "" if library == "?" else f" (set up by Optuna {library})"
    where = (f"The storage {masked!r} holds Optuna's schema version {found!r}{wrote}; the "
             f"installed Optuna {optuna.__version__} expects {head!r}")
    pw = " (put your password back in)" if masked != url else ""
    if found in known:
        return StorageError(
            f"{where}: the schema is older. Upgrade it with `optuna storage upgrade --storage "
            f"{shlex.quote(masked)}`{pw} after a backup of the database, or use the Optuna "
            "version that wrote it."
        )
    return StorageError(
        f"{where}, and does not know {found!r}: a newer Optuna wrote it. Upgrade Optuna "
        "(pip install -U optuna) to the version that wrote it, or use another storage."
    )


def _require_storage_file(url: str, path: str, must_exist: bool) -> None:
    """The file of an SQLite or Journal storage: its folder exists, and the file too when
    the storage is only read."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise refusal("storage", "resolve_storage", "name a file in an existing folder",
                      f"{url!r} (the folder {parent!r} does not exist)")
    if must_exist and not os.path.isfile(path):
        raise refusal("storage", "resolve_storage", "name an existing file when it is only read",
                      f"{url!r} (the file {path!r} does not exist)")


def _check_sqlite_study_file(url: str, path: str) -> None:
    """A read-only open: the (existing) SQLite file holds Optuna's tables (checked
    through a read-only connection, so nothing is written into it)."""
    import sqlite3
    from urllib.parse import quote

    try:
        con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"The storage {url!r} cannot be read: {type(exc).__name__}: {exc} "
            "(is it an SQLite database, whole and not truncated?)."
        ) from None
    if "studies" not in tables:
        raise refusal("storage", "resolve_storage", "hold Optuna's tables when it is only read",
                      f"{url!r} (the file {path!r} holds no Optuna studies)")


def rdb_backend(storage: Any) -> optuna.storages.RDBStorage | None:
    """The RDB storage behind ``storage`` (through Optuna's cache layer), or None.

    The one place that knows how Optuna wraps an RDB storage; the writer of a trial's
    record in one transaction and the one-query reader of re-ranking use the tables under it.
    """
    storage = _compat.unwrap_cache(storage)
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


def _rdb_storage(url: str, kwargs: dict[str, Any], attempts: int = 6) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, retried while another process creates the same new schema.

    Two workers opening a fresh database at once both try to create Optuna's tables and
    stamp its schema version; the loser gets an IntegrityError (``alembic_version``) or
    an OperationalError ("table already exists"). A moment later the schema exists and
    opening it succeeds, so such errors are retried with a short back-off.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
            text = str(getattr(exc, "orig", exc)).lower()
            if attempt == attempts - 1 or "connect" in text or "not a database" in text:
                raise  # a server that cannot be reached or a file that is no database: at once
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_wal(rdb: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging for an SQLite file: readers do not block the writer, and a
    commit appends to the log instead of syncing the whole file (``synchronous=NORMAL``:
    a power cut may lose the last commits, never corrupt the database)."""
    import sqlalchemy

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(rdb.engine, "connect", on_connect)
    rdb.engine.dispose()  # connections opened while Optuna set the tables up get it too


def _retry_callback(max_retry: int | None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def check_writable(storage: str | None) -> None:
    """Before a search starts: a storage file (SQLite or Journal) can be written.

    An SQLite file needs its folder writable too (SQLite writes its ``-wal`` and
    ``-journal`` files beside it). Other storages are checked when they are opened.

    Raises:
        InputError: the file's folder does not exist.
        StorageError: the file or its folder is read-only.
    """
    if storage is not None and not isinstance(storage, str):
        return
    url = storage_url(storage)
    path = sqlite_path(url)
    if path is None and (
        url.startswith(_JOURNAL_PREFIX) or ("://" not in url and url.endswith(_JOURNAL_SUFFIXES))
    ):
        path = url[len(_JOURNAL_PREFIX):] if url.startswith(_JOURNAL_PREFIX) else url
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"The folder of the storage file {path!r} does not exist ({folder}).")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise StorageError(f"The storage {masked_url(url)!r} is read-only (file {path!r}).")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(
            f"The storage {masked_url(url)!r} cannot be written: its folder {folder!r} is "
            "read-only."
        )


_SHOWN_TABLES = 5


def _optuna_table(name: str) -> bool:
    """A table that Optuna (its schema, its migrations) or the database itself keeps."""
    models = _compat.rdb_models()
    return (name in models.BaseModel.metadata.tables or name == "alembic_version"
            or name.startswith(("_alembic_tmp_", "sqlite_")))


def foreign_tables(storage: str | None) -> list[str] | None:
    """The tables of an RDB storage that are not Optuna's, sorted (``[]``: none, an empty
    database or an Optuna one); ``None`` where they cannot be listed (not an RDB URL, a
    missing file, a database that cannot be opened: opening it reports that).

    An SQLite file is read through a read-only connection; another database through
    SQLAlchemy's inspector (its default schema).
    """
    url = storage_url(storage)
    if "://" not in url:
        return None
    path = sqlite_path(url)
    names: list[str]
    if path is not None:
        import sqlite3
        from urllib.parse import quote

        if not os.path.isfile(path):
            return None
        try:
            con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
            try:
                names = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")]
            finally:
                con.close()
        except sqlite3.DatabaseError:
            return None
    elif url.startswith("sqlite"):
        return None  # an in-memory database
    else:
        try:
            import sqlalchemy

            engine = sqlalchemy.create_engine(url)
            try:
                names = list(sqlalchemy.inspect(engine).get_table_names())
            finally:
                engine.dispose()
        except Exception:  # noqa: BLE001  (a driver, server or URL problem: reported at open)
            return None
    return sorted(n for n in names if not _optuna_table(n))


def check_foreign_tables(storage: str | None, *, allow: bool = False) -> None:
    """Before a search writes a study: an RDB storage holds no tables but Optuna's.

    A database that already holds other tables is likely another application's file
    (a typo in ``--storage``); Optuna would add its tables to it. An empty file and an
    Optuna database are fine.

    Raises:
        InputError: foreign tables, and ``allow`` is false (``--allow-foreign-tables``):
            a usage error, the option names the wrong file.
    """
    if allow or (storage is not None and not isinstance(storage, str)):
        return
    foreign = foreign_tables(storage)
    if not foreign:
        return
    shown = ", ".join(repr(n) for n in foreign[:_SHOWN_TABLES])
    more = len(foreign) - _SHOWN_TABLES
    raise InputError(
        f"The storage {masked_url(storage_url(storage))!r} already holds {len(foreign)} "
        f"table{'s' if len(foreign) > 1 else ''} that {'are' if len(foreign) > 1 else 'is'} "
        f"not Optuna's ({shown}{f' and {more} more' if more > 0 else ''}): it looks like "
        "another application's database, and a search would add Optuna's tables to it. Name "
        "another storage (a new file), or give --allow-foreign-tables to share this database "
        "on purpose."
    )
