"""Optuna Journal files that are damaged: found before a write, repaired on request.

A Journal storage is an append-only file of JSON records, one a line. Two kinds of
damage happen to it:

- a **torn tail**: the last line is cut short (no line end), as left by a writer killed
  in the middle of a write or a full disk. Optuna's reader ignores it, but the next
  record appended goes onto the same line, and from then on the file cannot be read
  at all;
- a **bad line**: a complete line that is no Optuna record (a stray edit, a merge of two
  files). Optuna's reader stops with a ``JSONDecodeError`` at the first one that has
  records after it.

effobj therefore never writes to a damaged journal (:func:`open_journal` checks the file
when it is opened for writing, and every append checks, under the journal's lock, that
the file ends with a line end), and :func:`repair_journal` (``effobj repair-journal
FILE``) repairs one: it keeps a copy ``FILE.bak-<time>``, cuts a torn tail (or, when the
tail is a whole record short of its line end only, completes it) and drops the bad lines.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from effobj.errors import InputError, StorageError

__all__ = ["JournalRepair", "JournalScan", "open_journal", "repair_journal", "scan_journal"]

_SHOWN = 5  # bad lines named in a message


@dataclass(frozen=True)
class JournalScan:
    """What :func:`scan_journal` found in a journal file.

    Attributes:
        path: the file.
        n_lines: its lines, a torn tail included.
        n_records: the complete lines that are Optuna records.
        bad_lines: ``(line number, what is wrong)`` of each complete line that is no
            Optuna record (line numbers from 1).
        torn_line: the number of a last line without line end, or ``None``.
        torn_bytes: the size of that line in bytes (0 when none).
        torn_is_record: the torn line is a whole record, only its line end is missing.
    """

    path: str
    n_lines: int = 0
    n_records: int = 0
    bad_lines: tuple[tuple[int, str], ...] = ()
    torn_line: int | None = None
    torn_bytes: int = 0
    torn_is_record: bool = False

    @property
    def damaged(self) -> bool:
        """The file has a torn tail or a bad line."""
        return bool(self.bad_lines) or self.torn_line is not None

    @property
    def readable(self) -> bool:
        """Optuna can read it as it is: no bad line but, maybe, the last one."""
        return not self.bad_lines or (
            self.torn_line is None and [n for n, _ in self.bad_lines] == [self.n_lines]
        )

    def describe(self) -> str:
        """What is wrong, in words, naming the lines (the first few bad ones)."""
        parts = []
        if self.bad_lines:
            shown = "; ".join(f"line {n}: {what}" for n, what in self.bad_lines[:_SHOWN])
            more = len(self.bad_lines) - _SHOWN
            count = f"{len(self.bad_lines)} line{'s' if len(self.bad_lines) > 1 else ''}"
            parts.append(f"{count} of {self.n_lines} {'are' if len(self.bad_lines) > 1 else 'is'}"
                         f" no Optuna record ({shown}"
                         + (f"; and {more} more)" if more > 0 else ")"))
        if self.torn_line is not None:
            parts.append(
                f"its last line {self.torn_line} is cut short ({self.torn_bytes} bytes without "
                "a line end, as a writer stopped in the middle of a write leaves it)"
            )
        return " and ".join(parts)


def _check_line(line: bytes) -> str | None:
    """What is wrong with a line of a journal (``None``: an Optuna record)."""
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except ValueError as exc:
        err = exc
        snippet = line[:40].decode("utf-8", "replace").rstrip("\r\n")
        where = f" at column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        msg = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        return f"not JSON ({msg}{where}: {snippet!r}{'...' if len(line) > 41 else ''})"
    if not isinstance(record, dict) or "op_code" not in record:
        return "JSON but not an Optuna record (no 'op_code')"
    return None


def scan_journal(path: str) -> JournalScan:
    """Read a journal file through and say what is damaged in it (nothing is changed).

    Raises:
        InputError: the file does not exist.
        StorageError: the file cannot be read.
    """
    n = records = 0
    bad: list[tuple[int, str]] = []
    torn: int | None = None
    torn_bytes = 0
    torn_is_record = False
    try:
        with open(path, "rb") as f:
            for n, line in enumerate(f, start=1):  # noqa: B007  (n: the count after the loop)
                if not line.endswith(b"\n"):  # only the last line can lack its line end
                    torn, torn_bytes = n, len(line)
                    torn_is_record = _check_line(line) is None
                    break
                what = _check_line(line)
                if what is None:
                    records += 1
                else:
                    bad.append((n, what))
    except FileNotFoundError:
        raise InputError(f"The journal file {path!r} does not exist.") from None
    except OSError as exc:
        raise StorageError(f"The journal file {path!r} cannot be read: {exc}") from None
    return JournalScan(path, n, records, tuple(bad), torn, torn_bytes, torn_is_record)


def _repair_hint(path: str) -> str:
    return (
        f"Repair it with `effobj repair-journal {shlex.quote(path)}` (stop the workers first; "
        "it keeps a copy FILE.bak-<time>, cuts a torn last line and drops the lines that are "
        "no record)."
    )


def damaged_error(url: str, scan: JournalScan, *, writing: bool) -> StorageError:
    """The error for a damaged journal: the file, the lines, what is wrong, the repair."""
    if writing:
        why = ("effobj does not write to it: a record appended now would make the whole file "
               "unreadable. Reading it (effobj best, effobj report) still works"
               if scan.readable else "effobj does not write to it, and Optuna cannot read it")
    else:
        why = "Optuna cannot read it"
    return StorageError(
        f"The journal storage {url!r} is damaged: {scan.describe()}; {why}. "
        + _repair_hint(scan.path)
    )


class _Lock:
    """Optuna's default lock of a journal file (a symbolic link ``FILE.lock``), held in a
    ``with`` block."""

    def __init__(self, path: str) -> None:
        self.lock = JournalFileSymlinkLock(path)

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _ends_with_line_end(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class _CheckedJournalFileBackend(JournalFileBackend):
    """Optuna's ``JournalFileBackend`` whose every append first checks, under the lock,
    that the file ends with a line end (another worker killed in the middle of a write
    leaves it torn), and refuses to write otherwise. ``url`` names it in messages."""

    def __init__(self, path: str, url: str) -> None:
        self._effobj_lock = JournalFileSymlinkLock(path)
        self._effobj_url = url
        self._effobj_path = path  # the file Optuna's backend appends to (its own name is private)
        super().__init__(path, lock_obj=self._effobj_lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        path = self._effobj_path
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        self._effobj_lock.acquire()
        try:
            if not _ends_with_line_end(path):
                raise damaged_error(self._effobj_url, scan_journal(path), writing=True)
            with open(path, "ab") as f:  # as Optuna's own append
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        finally:
            self._effobj_lock.release()


def open_journal(url: str, path: str, *, must_exist: bool) -> Any:
    """A ``JournalStorage`` on ``path``; ``url`` names it in messages.

    Opened for writing (``must_exist=False``), the file is checked first and every append
    checks its end. Opened for reading, it is read as Optuna reads it (a torn or bad last
    line is ignored).

    Raises:
        StorageError: written: the file is damaged; read: it is damaged so that Optuna
            cannot read it. The message names the lines and the repair.
    """
    if must_exist:
        try:
            return JournalStorage(JournalFileBackend(path))
        except (ValueError, KeyError, TypeError):  # a record Optuna cannot decode or replay
            scan = scan_journal(path)
            if scan.damaged:
                raise damaged_error(url, scan, writing=False) from None
            raise
    if os.path.exists(path):
        scan = scan_journal(path)
        if scan.bad_lines:
            raise damaged_error(url, scan, writing=True)
        if scan.torn_line is not None:
            with _Lock(path):  # a torn end may be a write in progress: look again, alone
                scan = scan_journal(path)
            if scan.damaged:
                raise damaged_error(url, scan, writing=True)
    return JournalStorage(_CheckedJournalFileBackend(path, url))


@dataclass(frozen=True)
class JournalRepair:
    """What :func:`repair_journal` found and did.

    Attributes:
        scan: the file as it was found.
        backup: the copy of the file as found (``None``: nothing changed).
        dropped: the numbers of the lines dropped (bad lines, a torn tail).
        completed_tail: a torn last line that was a whole record got its line end.
        n_studies, n_trials: what the repaired file holds when replayed.
        replay_error: why the repaired file cannot be replayed (``None``: it can).
        dry_run: nothing was written.
    """

    scan: JournalScan
    backup: str | None = None
    dropped: tuple[int, ...] = ()
    completed_tail: bool = False
    n_studies: int | None = None
    n_trials: int | None = None
    replay_error: str | None = None
    dry_run: bool = False

    def describe(self) -> str:
        """A few lines for the terminal."""
        s = self.scan
        if not s.damaged:
            return f"{s.path}: no damage found ({s.n_records} records); nothing changed."
        would = self.dry_run
        lines = [f"{s.path}: {s.describe()}."]
        if self.completed_tail:
            lines.append(f"The torn last line {s.torn_line} is a whole record short of its "
                         f"line end only: {'it would get' if would else 'it got'} its line end.")
        elif s.torn_line is not None:
            lines.append(f"{'Would cut' if would else 'Cut'} the torn last line {s.torn_line} "
                         f"({s.torn_bytes} bytes).")
        if s.bad_lines:
            nums = [n for n, _ in s.bad_lines]
            plural = len(nums) > 1
            lines.append(f"{'Would drop' if would else 'Dropped'} {len(nums)} line"
                         f"{'s' if plural else ''} that {'are' if plural else 'is'} no record: "
                         f"{', '.join(map(str, nums))}.")
        if would:
            lines.append("Nothing was changed (--dry-run).")
        if self.backup is not None:
            lines.append(f"The file as found is kept in {self.backup}.")
        if self.n_studies is not None:
            lines.append(f"The repaired journal holds {s.n_records + self.completed_tail} "
                         f"records: {self.n_studies} stud{'y' if self.n_studies == 1 else 'ies'}"
                         f", {self.n_trials} trials.")
        if self.replay_error is not None:
            lines.append(f"Optuna cannot replay the repaired records ({self.replay_error}): a "
                         "dropped line held a record that later ones need; the copy keeps the "
                         "file as found.")
        return "\n".join(lines)


def _replay(path: str) -> tuple[int | None, int | None, str | None]:
    """Studies and trials in a journal file, or why Optuna cannot replay it."""
    try:
        storage = JournalStorage(JournalFileBackend(path))
        studies = storage.get_all_studies()
        ids = [storage.get_study_id_from_name(s.study_name) for s in studies]
        trials = sum(len(storage.get_all_trials(i, deepcopy=False)) for i in ids)
    except Exception as exc:  # noqa: BLE001  (any replay failure is reported, not raised)
        return None, None, f"{type(exc).__name__}: {exc}"
    return len(studies), trials, None


def _backup_name(path: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, k = f"{path}.bak-{stamp}", 1
    while os.path.exists(name):
        k += 1
        name = f"{path}.bak-{stamp}-{k}"
    return name


def repair_journal(path: str, *, dry_run: bool = False) -> JournalRepair:
    """Repair a damaged journal file: keep a copy ``FILE.bak-<time>``, then cut a torn
    last line (complete it when it is a whole record short of its line end only) and drop
    the lines that are no Optuna record. Stop the workers first.

    The file is rewritten under the journal's lock and replaced in one step
    (``os.replace``); the repaired file is then replayed to count its studies and trials.

    Args:
        path: the journal file (``journal:PATH`` is accepted too).
        dry_run: say what would be done, change nothing.

    Returns:
        What was found and done (:meth:`JournalRepair.describe`).

    Raises:
        InputError: the file does not exist, or holds no Optuna record at all (not a
            journal: it is left alone).
        StorageError: the file cannot be read or written.
    """
    if path.startswith("journal:"):
        path = path[len("journal:"):]
    if not os.path.isfile(path):
        raise InputError(f"The journal file {path!r} does not exist.")
    scan = scan_journal(path)
    if not scan.damaged:
        return JournalRepair(scan, dry_run=dry_run)
    if scan.n_records == 0 and not scan.torn_is_record:
        raise InputError(
            f"The file {path!r} holds no Optuna journal record ({scan.describe()}); is it a "
            "journal? It is left as it is."
        )
    completed = scan.torn_line is not None and scan.torn_is_record
    dropped = tuple(n for n, _ in scan.bad_lines) + (
        (scan.torn_line,) if scan.torn_line is not None and not completed else ())
    if dry_run:
        return JournalRepair(scan, dropped=dropped, completed_tail=completed, dry_run=True)
    tmp = f"{path}.repair-{os.getpid()}"
    try:
        with _Lock(path):
            scan = scan_journal(path)  # as it is now, under the lock
            completed = scan.torn_line is not None and scan.torn_is_record
            bad = {n for n, _ in scan.bad_lines}
            if scan.torn_line is not None and not completed:
                bad.add(scan.torn_line)
            dropped = tuple(sorted(bad))
            backup = _backup_name(path)
            shutil.copy2(path, backup)
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                for n, line in enumerate(src, start=1):
                    if n in bad:
                        continue
                    dst.write(line if line.endswith(b"\n") else line + b"\n")
                dst.flush()
                os.fsync(dst.fileno())
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"The journal file {path!r} cannot be repaired: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    n_studies, n_trials, error = _replay(path)
    return JournalRepair(scan, backup=backup, dropped=dropped, completed_tail=completed,
                         n_studies=n_studies, n_trials=n_trials, replay_error=error)
