"""The catalogue of bad inputs to the ``effobj`` command line (issue 13): one entry per
case, over every subcommand, each asserting the exit code (2 a usage error, 1 a failure
at run time), the option or parameter the message names, and that no traceback is
printed. Entries run in-process (``effobj.cli.main``) on tiny files; none trains.

Beside the list: hostile text in every field of a study (HTML in the report, terminal
escapes in ``best``), masked passwords, the shell-quoted re-rank hint, and read-only
commands that leave storages as they found them.
"""

from __future__ import annotations

import html
import json
import os
import shlex
from pathlib import Path

import optuna
import pytest

from effobj.cli import main
from effobj.spec import EfficiencySpec

#: text that would be live HTML, a shell command or a terminal escape if printed raw
HOSTILE = "<img src=x onerror=alert(1)>'\";rm -rf ~;\x1b]0;pwned\x07\x1b[2J"
PG = "postgresql+psycopg2://user:Hunter2pw@127.0.0.1:1/db"


def _effobj_study(url: str, name: str, *, cost: str = "lat", spec: object = "default",
                  perf: object = None, hostile: bool = False) -> None:
    """A study as effobj records it, written directly (no training): 3 trained trials."""
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    if spec == "default":
        spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_max=8.0, cost_name=cost).to_dict()
    if spec is not None:
        study.set_user_attr("effobj_spec", spec)
    choice = HOSTILE if hostile else "relu"
    dist = {"act": optuna.distributions.CategoricalDistribution([choice, "tanh"])}
    for i, (p, c) in enumerate([(0.9, 5.0), (0.8, 2.0), (0.95, 9.0)]):
        attrs = {"perf": p if perf is None else perf, cost: c, "status": "trained",
                 "trained": True, "e_beta": 0.5}
        if hostile:
            attrs["note" + HOSTILE] = HOSTILE
            attrs["skip_reason"] = HOSTILE
        study.add_trial(optuna.trial.create_trial(
            params={"act": choice if i == 0 else "tanh"}, distributions=dist, value=0.5,
            user_attrs=attrs))


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every file the entries use, made once."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("bad_cli")
    (root / "good.csv").write_text("name,perf,cost\na,0.5,2\nb,0.6,3\n")
    (root / "huge.csv").write_text("name,perf,cost\n" + "x" * (2 << 20) + ",0.5,2\n")
    (root / "neg.csv").write_text("name,perf,cost\na,0.5,2\nb,0.6,-3\n")
    (root / "negperf.csv").write_text("name,perf,cost\na,-0.5,2\n")
    (root / "nan.csv").write_text("name,perf,cost\na,nan,2\n")
    (root / "text.csv").write_text("name,perf,cost\na,high,2\n")
    (root / "nocol.csv").write_text("name,perf\na,0.5\n")
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("name,perf,cost\n")
    (root / "short.csv").write_text("name,perf,cost\na,0.5\n")
    (root / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    (root / "model.py").write_text(
        "import torch\n"
        "def build():\n    return torch.nn.Linear(3, 2)\n"
        "def bye():\n    raise SystemExit(0)\n"
        "def boom():\n    raise RuntimeError('no')\n"
    )
    (root / "exits.py").write_text("import sys\nsys.exit(0)\n")
    (root / "good.token").write_text("a-token-of-thirty-two-characters-x\n")
    (root / "good.token").chmod(0o600)
    (root / "empty.db").write_bytes(b"")
    (root / "noise.db").write_bytes(os.urandom(6000))
    (root / "adir.html").mkdir()
    _effobj_study(f"sqlite:///{root / 'study.db'}", "s")
    _effobj_study(f"sqlite:///{root / 'study.db'}", "nospec", spec=None)
    _effobj_study(f"sqlite:///{root / 'study.db'}", "badperf", perf="high")
    _effobj_study(f"sqlite:///{root / 'study.db'}", "badspec", spec={"perf_ref": 1, "costs": "lat"})
    _effobj_study(f"sqlite:///{root / 'study.db'}", "badspec2", spec=[1, 2, 3])
    (root / "truncated.db").write_bytes((root / "study.db").read_bytes()[:3000])
    _plain_study(f"sqlite:///{root / 'study.db'}", "plain")
    (root / "p_cost_plane.png").mkdir()  # the report p.html cannot write this PNG
    return root


def _plain_study(url: str, name: str) -> None:
    """A study Optuna wrote without effobj: two objective values, no metric names, its own
    user attribute ``acc``."""
    study = optuna.create_study(study_name=name, storage=url, directions=["maximize", "minimize"])
    for i in range(3):
        study.add_trial(optuna.trial.create_trial(values=[0.5 + i / 10, 3.0 + i],
                                                  user_attrs={"acc": 0.5 + i / 10}))


S = "{d}/study.db"
SCORE = ["--perf-ref", "1", "--cost-ref", "4"]
SEARCH = ["search", "--space", "nas-bench-graph:cora", "--trials", "1", "--perf-ref", "1",
          "--cost-ref", "0.02", "--cost", "latency", "--no-progress"]
BEST = ["best", "--storage", f"sqlite:///{S}"]
REPORT = ["report", "--storage", f"sqlite:///{S}"]
DEMO = ["demo", "--no-progress", "--storage", "sqlite:///{d}/demo.db", "--report", "{d}/demo.html"]

# (id, argv ({d}: the fixture folder), exit code, text the error message must contain)
CASES = [
    # ---------------------------------------------------------------- score (item 8, 11)
    ("score-no-file", ["score", "{d}/none.csv", *SCORE], 2, "no such file"),
    ("score-huge-cell", ["score", "{d}/huge.csv", *SCORE], 2, "line 2"),
    ("score-negative-cost", ["score", "{d}/neg.csv", *SCORE], 2, "line 3, column 'cost'"),
    ("score-negative-perf", ["score", "{d}/negperf.csv", *SCORE], 2, "line 2, column 'perf'"),
    ("score-nan", ["score", "{d}/nan.csv", *SCORE], 2, "column 'perf'"),
    ("score-text", ["score", "{d}/text.csv", *SCORE], 2, "column 'perf'"),
    ("score-no-column", ["score", "{d}/nocol.csv", *SCORE], 2, "['cost']"),
    ("score-empty", ["score", "{d}/empty.csv", *SCORE], 2, "empty"),
    ("score-header-only", ["score", "{d}/header.csv", *SCORE], 2, "no model rows"),
    ("score-short-row", ["score", "{d}/short.csv", *SCORE], 2, "line 2"),
    ("score-binary", ["score", "{d}/binary.csv", *SCORE], 2, "UTF-8"),
    ("score-same-columns", ["score", "{d}/good.csv", *SCORE, "--perf-col", "perf", "--cost-col",
                            "perf"], 2, "'--cost-col'"),
    ("score-name-is-perf", ["score", "{d}/good.csv", *SCORE, "--name-col", "perf"], 2, "'--name-col'"),
    ("score-perf-ref", ["score", "{d}/good.csv", "--perf-ref", "-1", "--cost-ref", "4"], 2, "'--perf-ref' option of effobj score"),
    ("score-cost-ref-inf", ["score", "{d}/good.csv", "--perf-ref", "1", "--cost-ref", "inf"], 2, "'ref'"),
    ("score-beta2-zero", ["score", "{d}/good.csv", *SCORE, "--beta2", "0"], 2, "'--beta2' option of effobj score"),
    ("score-beta2-nan", ["score", "{d}/good.csv", *SCORE, "--beta2", "nan"], 2, "'--beta2' option of effobj score"),
    ("score-cost-max", ["score", "{d}/good.csv", *SCORE, "--cost-max", "5"], 2, "'max'"),
    ("score-perf-min", ["score", "{d}/good.csv", *SCORE, "--perf-min", "2"], 2, "'--perf-min' option of effobj score"),
    ("score-format", ["score", "{d}/good.csv", *SCORE, "--format", "xml"], 2, "--format"),
    ("score-perf-ref-text", ["score", "{d}/good.csv", "--perf-ref", "a", "--cost-ref", "4"], 2, "--perf-ref"),
    # ---------------------------------------------------------------- profile (items 10, 11, 16)
    ("profile-threads-huge", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--threads",
                              "1000000"], 2, "'--threads' option of effobj profile"),
    ("profile-threads-zero", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--threads",
                              "0"], 2, "'--threads' option of effobj profile"),
    ("profile-shape-huge", ["profile", "{d}/model.py:build", "--input-shape", "100000,100000,100000"],
     2, "'--input-shape'"),
    ("profile-shape-zero", ["profile", "{d}/model.py:build", "--input-shape", "0,3"], 2, "'--input-shape'"),
    ("profile-no-file", ["profile", "{d}/none.py:build", "--input-shape", "1,3"], 2, "does not exist"),
    ("profile-no-callable", ["profile", "{d}/model.py:nope", "--input-shape", "1,3"], 2, "'nope'"),
    ("profile-no-factory", ["profile", "{d}/model.py", "--input-shape", "1,3"], 2, "FILE.py:factory"),
    ("profile-sys-exit-file", ["profile", "{d}/exits.py:build", "--input-shape", "1,3"], 2, "SystemExit"),
    ("profile-factory-exits", ["profile", "{d}/model.py:bye", "--input-shape", "1,3"], 2, "SystemExit"),
    ("profile-factory-raises", ["profile", "{d}/model.py:boom", "--input-shape", "1,3"], 2, "RuntimeError"),
    ("profile-device", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--device", "tpu:9"],
     2, "'--device' option of effobj profile"),
    ("profile-max-time", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--max-time", "0"],
     2, "'max_time_s'"),
    ("profile-spread", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--target-spread", "2"],
     2, "'target_rel_spread'"),
    ("profile-wrong-shape", ["profile", "{d}/model.py:build", "--input-shape", "1,5", "--no-latency"],
     1, "Profiling"),
    ("profile-dtype", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--input-dtype", "int3"],
     2, "--input-dtype"),
    # ---------------------------------------------------------------- search (items 2, 7, 11, 12, 14)
    ("search-trials", [*SEARCH[:4], "-1", *SEARCH[5:]], 2, "'--trials' option of effobj search must be an int in the range [0, inf). Got -1"),
    ("search-max-trainings", [*SEARCH, "--max-trainings", "0"], 2,
     "'--max-trainings' option of effobj search must be an int in the range [1, inf) or None. Got 0"),
    ("search-reinforce-max-trainings", [*SEARCH, "--method", "reinforce", "--max-trainings", "2",
                                       "--storage", "sqlite:///{d}/rl.db"], 2,
     "'--max-trainings' option of effobj search must be given with --method optuna only"),
    ("search-seed", [*SEARCH, "--seed", "-1"], 2, "'--seed' option of effobj search must be an int in the range [0, inf). Got -1"),
    ("search-latency-time", [*SEARCH, "--latency-time", "-1"], 2,
     "'--latency-time' option of effobj search must be a float in the range [0, inf). Got -1.0"),
    ("search-space", ["search", "--space", "nosuch", *SEARCH[3:]], 2, "nosuch"),
    # issue 22 items 2 and 4: thread counts, failures in a row, no internal function names
    ("search-max-failures", [*SEARCH, "--max-failures", "0"], 2,
     "'--max-failures' option of effobj search must be an int in the range [1, inf). Got 0"),
    ("search-tabular-threads", [*SEARCH, "--threads", "2"], 2,
     "The '--threads' option of effobj search must be left out for a tabular space"),
    ("search-threads", ["search", "--space", "mlp", *SEARCH[3:], "--threads", "0"], 2,
     "'--threads' option of effobj search must be an int in the range [1, "),
    ("search-storage-empty", [*SEARCH, "--storage", ""], 2,
     "The '--storage' option of effobj search must not be empty. Got ''"),
    ("best-storage-journal", [*BEST[:2], "journal:", "--study-name", "s"], 2,
     "The '--storage' option of effobj best must name a file after 'journal:'"),
    ("space-range-threads", ["space-range", "--space", "mlp", "--threads", "0"], 2,
     "'--threads' option of effobj space-range must be an int in the range [1, "),
    ("latency-threads", ["latency-table", "--out", "{d}/t.json", "--threads", "0"], 2,
     "'--threads' option of effobj latency-table must be an int in the range [1, "),
    ("demo-threads", [*DEMO, "--threads", "0"], 2,
     "'--threads' option of effobj demo must be an int in the range [1, "),
    # issue 24 item 5: a tabular space's latency comes from its table, not a timing option
    *[(f"search-tabular-{opt[2:]}", [*SEARCH, opt, value], 2,
       f"The '{opt}' option of effobj search must be left out for a tabular space: it says how "
       f"a model space's candidates are timed. Got {shown} with 'nas-bench-graph:cora' instead.")
      for opt, value, shown in (("--runtime", "compile", "'compile'"),
                                ("--latency-time", "5", "5.0"),
                                ("--latency-method", "plain", "'plain'"))],
    ("search-cost-rtl", [*SEARCH[:-2], "lat\u202eency", "--no-progress"], 2,
     "The 'name' parameter of CostIndicator must hold no control or format characters"),
    ("search-beta2", [*SEARCH, "--beta2", "-1"], 2, "'--beta2' option of effobj search"),
    ("search-cost-perf", [*SEARCH[:-2], "perf", "--no-progress"], 2, "'name'"),
    ("search-cost-e_beta", [*SEARCH[:-2], "e_beta", "--no-progress"], 2, "'name'"),
    ("search-cost-status", [*SEARCH[:-2], "status", "--no-progress"], 2, "'name'"),
    ("search-cost-max", [*SEARCH, "--cost-max", "1"], 2,
     "'--cost-ref' option of effobj search must be at least --cost-max (1)"),
    ("search-sampler", [*SEARCH, "--sampler", "grid"], 2, "--sampler"),
    ("search-storage-folder", [*SEARCH, "--storage", "sqlite:////no/such/folder/x.db"], 2, "folder"),
    ("search-storage-not-url", [*SEARCH, "--storage", "effobj.sqlite"], 2, "'--storage' option of effobj search"),
    ("search-storage-dialect", [*SEARCH, "--storage", "nosuchdb://u:Hunter2pw@h/x"], 1, "u:***@h"),
    ("search-storage-unreachable", [*SEARCH, "--storage", PG], 1, "user:***@127.0.0.1"),
    ("search-storage-noise", [*SEARCH, "--storage", "sqlite:///{d}/noise.db"], 1, "noise.db"),
    ("search-journal-folder", [*SEARCH, "--storage", "journal:/no/such/folder/x.log"], 2, "folder"),
    # ---------------------------------------------------------------- best (items 11, 13, 16)
    ("best-no-file", ["best", "--storage", "sqlite:///{d}/none.db", "--study-name", "s"], 2, "does not exist"),
    ("best-empty-db", ["best", "--storage", "sqlite:///{d}/empty.db", "--study-name", "s"], 2, "no Optuna"),
    ("best-noise-db", ["best", "--storage", "sqlite:///{d}/noise.db", "--study-name", "s"], 1, "cannot be read"),
    ("best-truncated-db", ["best", "--storage", "sqlite:///{d}/truncated.db", "--study-name", "s"], 1,
     "truncated.db"),
    ("best-no-journal", ["best", "--storage", "journal:{d}/none.log", "--study-name", "s"], 2, "does not exist"),
    ("best-no-study", [*BEST, "--study-name", "nope"], 2, "'nope'"),
    ("best-top", [*BEST, "--study-name", "s", "--top", "-1"], 2, "'--top' option of effobj best must be an int in the range [0, inf). Got -1"),
    ("best-no-spec", [*BEST, "--study-name", "nospec"], 2, "--perf-ref"),
    ("best-no-spec-cost-perf", [*BEST, "--study-name", "nospec", "--perf-ref", "1", "--cost-ref", "10",
                                "--cost", "perf"], 2, "'name'"),
    ("best-bad-perf-attr", [*BEST, "--study-name", "badperf"], 2, "'perf'"),
    ("best-plain-optuna-study", [*BEST, "--study-name", "plain", "--perf-ref", "1", "--cost-ref",
                                 "10", "--cost", "latency"], 2,
     "The study 'plain' records no 'perf' and no 'latency' in its 3 finished trial(s), so nothing "
     "can be ranked. effobj reads each value from a user attribute of that name, or else from the "
     "objective value that study.metric_names names so (this study's metric_names: None; its "
     "trials have 2 objective value(s) and the user attributes ['acc']). Name them, e.g. "
     "study.set_metric_names(['perf', 'latency'])"),
    ("best-plain-optuna-study-cost", [*BEST, "--study-name", "plain", "--perf-ref", "1",
                                      "--cost-ref", "10", "--cost", "acc"], 2,
     "The study 'plain' records no 'perf' in its 3"),
    ("best-bad-spec", [*BEST, "--study-name", "badspec"], 2, "'costs'"),
    ("best-bad-spec-list", [*BEST, "--study-name", "badspec2"], 2, "'d'"),
    ("best-beta2", [*BEST, "--study-name", "s", "--beta2", "0"], 2, "'--beta2' option of effobj best"),
    ("best-cost-max", [*BEST, "--study-name", "s", "--cost-max", "11"], 2, "'max'"),
    ("best-perf-min", [*BEST, "--study-name", "s", "--perf-min", "-1"], 2, "'--perf-min' option of effobj best"),
    ("best-cost-rename-perf", [*BEST, "--study-name", "s", "--cost", "perf", "--cost-ref", "3"], 2,
     "'name'"),
    ("best-cost-rename-no-ref", [*BEST, "--study-name", "s", "--cost", "macs"], 2, "'--cost-ref'"),
    ("best-unreachable", ["best", "--storage", PG, "--study-name", "s"], 1, "user:***@127.0.0.1"),
    ("best-dialect", ["best", "--storage", "nosuchdb://x", "--study-name", "s"], 1, "nosuchdb"),
    ("best-not-url", ["best", "--storage", "effobj.sqlite", "--study-name", "s"], 2, "'--storage' option of effobj best"),
    ("best-format", [*BEST, "--study-name", "s", "--format", "yaml"], 2, "--format"),
    ("best-no-study-name", ["best"], 2, "--study-name"),
    # ---------------------------------------------------------------- report (items 1, 11)
    ("report-out-txt", [*REPORT, "--study-name", "s", "--out", "{d}/r.txt"], 2, "'--out'"),
    ("report-out-folder", [*REPORT, "--study-name", "s", "--out", "{d}/adir.html"], 2, "'--out'"),
    ("report-out-unwritable", [*REPORT, "--study-name", "s", "--out", "/dev/null/r.html"], 2, "'--out'"),
    ("report-no-file", ["report", "--storage", "sqlite:///{d}/none.db", "--study-name", "s",
                        "--out", "{d}/r.html"], 2, "does not exist"),
    ("report-empty-db", ["report", "--storage", "sqlite:///{d}/empty.db", "--study-name", "s",
                         "--out", "{d}/r.html"], 2, "no Optuna"),
    ("report-noise-db", ["report", "--storage", "sqlite:///{d}/noise.db", "--study-name", "s",
                         "--out", "{d}/r.html"], 1, "cannot be read"),
    ("report-no-study", [*REPORT, "--study-name", "nope", "--out", "{d}/r.html"], 2, "'nope'"),
    ("report-bad-spec", [*REPORT, "--study-name", "badspec", "--out", "{d}/r.html"], 2, "'costs'"),
    ("report-bad-perf-attr", [*REPORT, "--study-name", "badperf", "--out", "{d}/r.html"], 2, "'perf'"),
    ("report-no-spec", [*REPORT, "--study-name", "nospec", "--out", "{d}/r.html"], 2, "--perf-ref"),
    ("report-png-unwritable", [*REPORT, "--study-name", "s", "--out", "{d}/p.html",
                               "--no-interactive"], 2,
     "The report's figure file '{d}/p_cost_plane.png' cannot be written: Is a directory. The page "
     "'{d}/p.html' was written"),
    ("report-beta2", [*REPORT, "--study-name", "s", "--beta2", "-2", "--out", "{d}/r.html"], 2, "'--beta2' option of effobj report"),
    ("report-unreachable", ["report", "--storage", PG, "--study-name", "s", "--out", "{d}/r.html"], 1,
     "user:***@127.0.0.1"),
    # ---------------------------------------------------------------- repair-journal (issue 24)
    ("repair-journal-no-file", ["repair-journal", "{d}/none.log"], 2, "does not exist"),
    ("repair-journal-not-journal", ["repair-journal", "{d}/model.py"], 2,
     "holds no Optuna journal record"),
    # ---------------------------------------------------------------- latency-table (items 11, 12)
    ("latency-out-txt", ["latency-table", "--space", "supernet", "--out", "{d}/t.txt"], 2, "'--out'"),
    ("latency-out-folder", ["latency-table", "--space", "supernet", "--out", "/no/such/folder/t.json"], 2,
     "'--out'"),
    ("latency-space", ["latency-table", "--space", "nosuch", "--out", "{d}/t.json"], 2, "nosuch"),
    ("latency-check", ["latency-table", "--out", "{d}/t.json", "--check", "-1"], 2, "'--check'"),
    # ---------------------------------------------------------------- profile-server, --profiler
    ("server-no-token-file", ["profile-server", "--token-file", "{d}/none.token"], 2,
     "'--token-file'"),
    ("server-port", ["profile-server", "--token-file", "{d}/model.py", "--port", "70000"], 2,
     "'--port'"),
    ("search-profiler-no-token", [*SEARCH, "--profiler", "http://127.0.0.1:9"], 2,
     "'--profiler-token-file'"),
    # issue 22 item 5: an unreachable profiler is refused after about a second, not 60
    ("search-profiler-unreachable", ["search", "--space", "mlp", *SEARCH[3:], "--profiler",
                                     "http://127.0.0.1:9", "--profiler-token-file",
                                     "{d}/good.token"], 1, "could not be reached for 1 s"),
    ("profile-profiler-url", ["profile", "{d}/model.py:build", "--input-shape", "1,3", "--profiler",
                              "127.0.0.1:9", "--profiler-token-file", "{d}/model.py"], 2,
     "'--profiler'"),
    # ---------------------------------------------------------------- space-range (issue 14)
    ("space-range-space", ["space-range", "--space", "nosuch"], 2,
     "The '--space' option of effobj space-range must be a registered name"),
    ("space-range-samples", ["space-range", "--space", "mlp", "--samples", "0"], 2, "'--samples'"),
    ("space-range-quantile", ["space-range", "--space", "mlp", "--budget-quantile", "0"], 2,
     "'--budget-quantile' option of effobj space-range must be a float in the range (0, 1]"),
    ("space-range-tabular-dataset", ["space-range", "--space", "nas-bench-graph:cora", "--dataset",
                                     "wine"], 2, "'--dataset' option of effobj space-range must be omitted"),
    ("space-range-dataset", ["space-range", "--space", "mlp", "--dataset", "mnist"], 2, "'mnist'"),
    ("space-range-device", ["space-range", "--space", "mlp", "--device", "tpu:9"], 2, "tpu:9"),
    # ---------------------------------------------------------------- demo (items 12)
    ("demo-report-txt", ["demo", "--report", "{d}/x.txt", "--storage", "sqlite:///{d}/demo.db"], 2,
     "'--report'"),
    ("demo-report-unwritable", ["demo", "--report", "/dev/null/x.html", "--storage",
                                "sqlite:///{d}/demo.db"], 2, "'--report'"),
    ("demo-storage-folder", ["demo", "--report", "{d}/x.html", "--storage",
                             "sqlite:////no/such/folder/x.db"], 2, "folder"),
    ("demo-trials", [*DEMO, "--trials", "0"], 2, "'--trials' option of effobj demo must be an int in the range [1, inf). Got 0"),
    ("demo-minutes", [*DEMO, "--minutes", "0"], 2, "'--minutes' option of effobj demo must be a float in the range (0, inf). Got 0.0"),
    ("demo-top", [*DEMO, "--top", "0"], 2, "'--top' option of effobj demo must be an int in the range [1, inf). Got 0"),
    ("demo-max-trainings", [*DEMO, "--max-trainings", "0"], 2,
     "'--max-trainings' option of effobj demo must be an int in the range [1, inf) or None. Got 0"),
    # ---------------------------------------------------------------- the command itself
    ("no-command", [], 2, "COMMAND"),
    ("unknown-command", ["train"], 2, "invalid choice"),
]


def _argv(argv: list[str], d: Path) -> list[str]:
    return [a.replace("{d}", str(d)) for a in argv]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv,code,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_with_a_message(d: Path, capsys, argv, code, text) -> None:
    rc, out, err = _run(_argv(argv, d), capsys)
    assert rc == code, err
    assert "Traceback" not in err and "Traceback" not in out
    assert text.replace("{d}", str(d)) in err, err
    assert "Hunter2pw" not in err + out


def test_catalogue_covers_every_subcommand() -> None:
    from effobj.cli import COMMANDS

    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    used = {c[1][0] for c in CASES if c[1]}
    assert {name.replace("_", "-") for name in COMMANDS} <= used


# ----------------------------------------------------------------- no work, no side effects
def test_refusals_leave_no_storage_behind(d: Path, capsys) -> None:
    """Items 13, 14: read-only commands create or change nothing; refused searches create
    no study."""
    empty = d / "empty.db"
    for argv in (["best", "--storage", f"sqlite:///{empty}", "--study-name", "s"],
                 ["report", "--storage", f"sqlite:///{empty}", "--study-name", "s",
                  "--out", str(d / "r.html")]):
        _run(argv, capsys)
        assert empty.read_bytes() == b""
    _run(["best", "--storage", f"journal:{d}/none.log", "--study-name", "s"], capsys)
    assert not (d / "none.log").exists()
    _run(["best", "--storage", f"sqlite:///{d}/none.db", "--study-name", "s"], capsys)
    assert not (d / "none.db").exists()
    _run(_argv([*SEARCH, "--method", "reinforce", "--max-trainings", "2", "--storage",
                f"sqlite:///{d}/rl2.db"], d), capsys)
    assert not (d / "rl2.db").exists()
    _run(["demo", "--report", str(d / "x.txt"), "--storage", f"sqlite:///{d}/demo2.db"], capsys)
    assert not (d / "demo2.db").exists()
    _run(["latency-table", "--space", "supernet", "--out", str(d / "t.txt")], capsys)
    assert not (d / "t.txt").exists()


def test_best_reads_a_query_string_sqlite_url(d: Path, capsys) -> None:
    """Item 16: ``sqlite:///x.db?mode=ro`` is the file x.db, not a missing file."""
    rc, out, err = _run(["best", "--storage", f"sqlite:///{d}/study.db?mode=ro", "--study-name", "s"],
                        capsys)
    assert "does not exist" not in err and "Traceback" not in err, err
    assert rc == 0, err


# ----------------------------------------------------------------- hostile text (items 1-3)
@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A study whose name, cost name, params, attributes and spec are hostile text (the
    cost name without its control characters: a CostIndicator refuses those)."""
    root = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{root / 'h.db'}"
    _effobj_study(url, HOSTILE, cost=HOSTILE.split("\x1b")[0], hostile=True)
    return url, str(root)


def test_a_stored_spec_whose_cost_name_has_control_characters_is_refused(tmp_path: Path,
                                                                        capsys) -> None:
    """Item 4: a spec written by other code with an escape or bidi override in a cost name
    is refused by name (exit 2), its text shown inert."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    spec = EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_name="lat").to_dict()
    spec["costs"][0]["name"] = "lat\u202e" + HOSTILE
    _effobj_study(url, "s", spec=spec)
    rc, out, err = _run(["best", "--storage", url, "--study-name", "s"], capsys)
    assert rc == 2 and "Traceback" not in err
    assert "The 'name' parameter of CostIndicator must hold no control or format characters" in err
    assert "\x1b" not in err and "\u202e" not in err


def test_report_escapes_everything_from_the_storage(hostile, capsys) -> None:
    url, root = hostile
    out = f"{root}/r.html"
    rc, _, err = _run(["report", "--storage", url, "--study-name", HOSTILE, "--out", out,
                       "--no-png"], capsys)
    assert rc == 0, err
    page = Path(out).read_text()
    assert "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "\x1b" not in page or html.escape(HOSTILE) in page
    assert html.escape(HOSTILE.split("'")[0]) in page  # shown, escaped
    assert page.count("<img ") == page.count("src='data:image/png;base64,")


def test_report_page_masks_the_storage_password(hostile) -> None:
    from effobj.report import write_report

    url, root = hostile
    study = optuna.load_study(study_name=HOSTILE, storage=url)
    out = Path(root) / "m.html"
    write_report(study, out, storage="postgresql://me:Hunter2pw@db/x", png=False)
    page = out.read_text()
    assert "Hunter2pw" not in page and "me:***@db/x" in page


def test_best_prints_no_control_characters(hostile, capsys) -> None:
    url, _ = hostile
    rc, out, err = _run(["best", "--storage", url, "--study-name", HOSTILE], capsys)
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "onerror" in out  # the text itself is shown, only made inert
    rc, out, err = _run(["best", "--storage", url, "--study-name", HOSTILE, "--format", "json"], capsys)
    assert rc == 0 and "\x1b" not in out
    assert json.loads(out)["study_name"] == HOSTILE


def test_rerank_hint_is_shell_quoted_and_masked() -> None:
    from effobj.cli.search import rerank_hint

    hint = rerank_hint("postgresql://me:Hunter2pw@db/x", HOSTILE, 4.0)
    assert "Hunter2pw" not in hint
    words = shlex.split(hint)
    assert words[:2] == ["effobj", "best"]
    assert words[words.index("--study-name") + 1] == HOSTILE
    assert words[words.index("--storage") + 1] == "postgresql://me:***@db/x"


def test_search_prints_a_quoted_hint(tmp_path: Path, capsys) -> None:
    """A real (one-trial, table look-up) search: its study line and hint are safe."""
    name = "it's; touch pwned"
    rc, out, err = _run([*SEARCH, "--storage", f"sqlite:///{tmp_path}/s.db", "--study-name", name],
                        capsys)
    assert rc == 0, err
    hint = next(line for line in out.splitlines() if line.startswith("re-rank"))
    words = shlex.split(hint.split(": ", 1)[1])
    assert words[words.index("--study-name") + 1] == name


def test_score_zero_cost_and_strict_json(d: Path, tmp_path: Path, capsys) -> None:
    """Item 8: a cost of 0 scores its row (no finite ratio) and JSON never has Infinity."""
    f = tmp_path / "z.csv"
    f.write_text("name,perf,cost\nfree,0.5,0\nb,0.6,2\n")
    rc, out, err = _run(["score", str(f), *SCORE, "--format", "json"], capsys)
    assert rc == 0, err
    assert "Infinity" not in out and "NaN" not in out
    rows = json.loads(out)
    assert rows[0]["perf/cost"] is None and rows[1]["perf/cost"] == pytest.approx(0.3)
    big = tmp_path / "big.csv"
    big.write_text("name,perf,cost\n" + "n" * 200_000 + ",0.5,2\n")
    rc, out, err = _run(["score", str(big), *SCORE, "--format", "csv"], capsys)
    assert rc == 0, err


def test_search_on_a_read_only_storage_fails_before_any_work(d: Path, tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    """Item 11: a read-only .db (or folder) is refused at start, exit 1, no traceback.
    (Simulated: tests may run as root, for whom chmod does not make a file read-only.)"""
    import effobj.optuna._storage as storage_mod

    db = tmp_path / "ro.db"
    db.write_bytes((d / "study.db").read_bytes())
    real = os.access
    monkeypatch.setattr(storage_mod.os, "access",
                        lambda p, mode: False if str(p) == str(db) and mode & os.W_OK else real(p, mode))
    rc, out, err = _run([*SEARCH, "--storage", f"sqlite:///{db}"], capsys)
    assert rc == 1 and "read-only" in err and "Traceback" not in err, err
    folder = str(tmp_path)
    monkeypatch.setattr(storage_mod.os, "access",
                        lambda p, mode: False if str(p) == folder and mode & os.W_OK else real(p, mode))
    rc, out, err = _run([*SEARCH, "--storage", f"sqlite:///{tmp_path}/new.db"], capsys)
    assert rc == 1 and "read-only" in err, err
    assert not (tmp_path / "new.db").exists()


# ----------------------------------------------------------------- issue 24 item 5
def test_best_leaves_out_trials_whose_performance_is_nan_inf_or_negative(tmp_path: Path,
                                                                         capsys) -> None:
    """Trained trials that recorded NaN, inf or a negative performance have no score: they
    are not listed as untrained contenders that "could beat the winner" (their bound
    E_beta(A=1, C) is above it), and best says why they are left out."""
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.set_user_attr("effobj_spec", EfficiencySpec(perf_ref=1.0, cost_ref=10.0, cost_max=8.0,
                                                      cost_name="lat").to_dict())
    for perf, lat in [(0.9, 5.0), (float("nan"), 1.0), (float("inf"), 1.0), (-0.5, 1.0),
                      (None, 2.0)]:
        attrs = {"lat": lat, "status": "trained" if perf is not None else "hopeless",
                 "trained": perf is not None}
        if perf is not None:
            attrs["perf"] = perf
        study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs=attrs))
    rc, out, err = _run(["best", "--storage", url, "--study-name", "s"], capsys)
    assert rc == 0, err
    assert "3 trained trial(s) left out, their recorded performance is not a finite number >= 0 " \
           "(NaN, inf or negative)" in out
    assert "trial 1 (perf nan), trial 2 (perf inf), trial 3 (perf -0.5)" in out
    # the one untrained trial (4, bound 0.89 > 0.64) is still a contender, alone
    assert "1 untrained candidate(s) could beat the winner" in out and "e.g. trial 4" in out
    rc, out, err = _run(["best", "--storage", url, "--study-name", "s", "--format", "json"], capsys)
    data = json.loads(out)
    assert [c["number"] for c in data["untrained_contenders"]] == [4]
    assert [(u["number"], u["perf"]) for u in data["unusable_perf"]] == [
        (1, "nan"), (2, "inf"), (3, "-0.5")]


def test_printable_escapes_bidi_and_invisible_characters() -> None:
    """Item 4: a right-to-left override or a zero-width character printed raw reorders or
    hides text: best and every error message show its escape instead."""
    from effobj.cli._safe import printable

    assert printable("cost\u202egnp.exe") == "cost\\u202egnp.exe"
    assert printable("a\u2066b\u2069c\u200bd\u2028e\ufeff") == (
        "a\\u2066b\\u2069c\\u200bd\\u2028e\\ufeff")
    assert printable("tag\U000e0041") == "tag\\U000e0041"
    assert printable("lat\x1b]0;pwned\x07ency") == "lat]0;pwnedency"  # controls: dropped
    assert printable("latência 遅延\tx\n") == "latência 遅延\tx\n"  # text stays text


def test_best_escapes_a_study_name_with_a_bidi_override(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    name = "cora\u202eevil"
    _effobj_study(url, name)
    rc, out, err = _run(["best", "--storage", url, "--study-name", name], capsys)
    assert rc == 0, err
    assert "\u202e" not in out and "cora\\u202eevil" in out


def test_a_missing_extra_is_named_with_its_install_command(d: Path, capsys, monkeypatch) -> None:
    """Issue 22 item 4: `effobj profile-server` without the remote extra says which extra to
    install, with no ModuleNotFoundError traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    rc, _, err = _run(["profile-server", "--token-file", str(d / "model.py")], capsys)
    assert rc == 1 and "Traceback" not in err
    assert "'remote' extra" in err and "pip install 'effobj[remote]'" in err
