"""Workers that open a fresh database at the same instant all get the storage.

Plain ``optuna.storages.RDBStorage`` loses this race (measured: 27 of 45 processes failed
with an IntegrityError on ``alembic_version``); ``resolve_storage`` retries it.
"""

from __future__ import annotations

import multiprocessing as mp


def _open(url: str, barrier) -> None:
    from effobj.optuna._storage import resolve_storage

    barrier.wait()
    resolve_storage(url)


def test_simultaneous_first_opens_of_one_sqlite_file(tmp_path):
    ctx = mp.get_context("fork")
    failed = 0
    for i in range(5):
        url = f"sqlite:///{tmp_path / f'race{i}.db'}"
        barrier = ctx.Barrier(3)
        procs = [ctx.Process(target=_open, args=(url, barrier)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        failed += sum(p.exitcode != 0 for p in procs)
    assert failed == 0
