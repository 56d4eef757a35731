"""A real ``effobj profile-server`` process on a free loopback port, for the remote tests."""

from __future__ import annotations

import pytest

from effobj.remote._launch import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server shared by the tests that do not stop it (uploads up to 16 MiB, 15 s limit)."""
    s = ServerProcess(tmp_path_factory.mktemp("server"), "--max-upload-mb", "16",
                      "--time-limit-s", "15").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def short_limit_server(tmp_path_factory):
    """A server with a 3 s time limit, for the models that hang (the shared one allows 15 s
    so that real models under load never hit it)."""
    s = ServerProcess(tmp_path_factory.mktemp("short"), "--time-limit-s", "3").start()
    yield s
    s.stop()
