"""``effobj latency-table`` end to end: a table file that loads, and user errors exit 2."""

from __future__ import annotations

import json

import pytest

from effobj.cli import main
from effobj.cost_models import LatencyTable


def test_latency_table_command_writes_a_loadable_table(tmp_path, capsys):
    out = tmp_path / "table.json"
    rc = main(["latency-table", "--space", "supernet", "--device", "cpu", "--out", str(out),
               "--max-time", "0.02", "--target-spread", "0.2", "--threads", "1", "--format", "json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    table = LatencyTable.load(out)
    assert printed["entries"] == len(table.entries) == 2 + sum(len(o) for o in table.candidate_ops)
    assert table.space == "supernet" and table.batch_size == 1
    assert (table.meta["runtime"], table.meta["latency_method"]) == ("eager", "compensated")


def _table(tmp_path, capsys, *options: str) -> LatencyTable:
    """A quick supernet table built by the command with ``options``; the command succeeds."""
    out = tmp_path / "table.json"
    rc = main(["latency-table", "--space", "supernet", "--device", "cpu", "--out", str(out),
               "--max-time", "0.02", "--target-spread", "0.2", "--threads", "1",
               "--format", "json", *options])
    assert rc == 0, capsys.readouterr().err
    table = LatencyTable.load(out)
    assert all(e.median_ms > 0 for e in table.entries.values())
    return table


def test_latency_table_takes_the_latency_method(tmp_path, capsys):
    table = _table(tmp_path, capsys, "--latency-method", "plain")
    assert (table.meta["runtime"], table.meta["latency_method"]) == ("eager", "plain")


@pytest.mark.slow  # torch.compile of every operator: about 17 s
def test_latency_table_times_in_the_runtime_asked_for(tmp_path, capsys):
    assert _table(tmp_path, capsys, "--runtime", "compile").meta["runtime"] == "compile"


def test_latency_table_user_errors(tmp_path, capsys):
    try:
        rc = main(["latency-table", "--out", str(tmp_path / "t.json"), "--check", "-1"])
    except SystemExit as exc:  # argparse or main's own exit
        rc = exc.code
    assert rc == 2
    assert ("'--check' option of effobj latency-table must be an int in the range [0, inf). "
            "Got -1 instead.") in capsys.readouterr().err
