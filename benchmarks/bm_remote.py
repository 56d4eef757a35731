"""Remote profiling over loopback beside local profiling, and three search workers sharing a server.

Run: ``.venv/bin/python benchmarks/bm_remote.py`` (writes ``benchmarks/results/remote.md``).
``--quick`` profiles only ResNet-18 and MobileNetV2 and runs a shorter search.

Part 1: for the reference models (tests/profiler/reference_models.py, batch 1), an
``effobj profile-server`` process (``--threads 1 --no-cache``) on this machine and a
local ``profile_model`` at one thread, alternated (local, remote, local, remote...), each
the default ``max_time_s=1``. Per model: the wall time of a local profile and of a remote
one split into export (``torch.export`` and the program's JSON on the search side),
transfer (everything else on the search side outside the server's queue and measurement:
the signature, ``/lookup``, streaming the tensors, the server receiving and spooling the
upload, the answer) and the server's measurement (its worker mapping and decoding the
archive, then ``profile_model``); whether the counts are identical; whether each remote
median latency lies inside the 95 % interval of a local profile.

Part 2: three ``effobj search`` processes on one study (a journal file) and one server,
mlp space on wine with ``--cost latency_ms`` and a budget no candidate meets (every trial
is profiled, none trained: the server is the only shared work); the server's log shows
whether two measurements ever overlapped, and the trial records the queue waits.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "profiler"), str(ROOT / "benchmarks")]

import torch  # noqa: E402
from _machine import write  # noqa: E402
from bm_profiler import MODELS  # noqa: E402  (the reference models and their inputs)

from effobj.profiler import CostReport, profile_model  # noqa: E402
from effobj.remote import RemoteCostReport, RemoteProfiler  # noqa: E402
from effobj.remote._launch import ServerProcess, overlapping_measurements  # noqa: E402

warnings.filterwarnings("ignore")

COUNTS = ("flops", "macs", "params", "trainable_params", "model_bytes", "unsupported_ops")


def part1(names: list[str], repeats: int, folder: Path) -> tuple[list[str], dict]:
    srv = ServerProcess(folder / "p1", "--no-cache", "--max-upload-mb", "2048").start()
    prof = RemoteProfiler(srv.url, token_file=srv.token_file, cache=False)
    torch.set_num_threads(1)
    rows = []
    totals: dict[str, list[float]] = {"local": [], "remote": [], "remote_minus_transfer": [],
                                      "server_profile": [], "pair_rel": []}
    try:
        # one-time imports (torch._dynamo, torch.export) on both sides, not timed
        profile_model(torch.nn.Linear(2, 2), torch.ones(1, 2), cache=False)
        prof.profile(torch.nn.Linear(2, 2), torch.ones(1, 2))
        for name in names:
            build, make_input = MODELS[name]
            model, x = build().eval(), make_input()
            local: list[CostReport] = []
            remote: list[RemoteCostReport] = []
            for _ in range(repeats):
                local.append(profile_model(model, x, threads=1, cache=False))
                remote.append(prof.profile(model, x))
            same = all(getattr(r, k) == getattr(local[0], k) for r in remote for k in COUNTS)
            lt = statistics.median(r.profile_time_s for r in local)
            rt = statistics.median(r.profile_time_s for r in remote)
            ex = statistics.median(r.remote["export_s"] for r in remote)
            tr = statistics.median(r.remote["transfer_s"] for r in remote)
            ms = statistics.median(r.remote["measure_s"] for r in remote)
            dc = statistics.median(r.remote["decode_s"] for r in remote)
            rc = statistics.median(r.remote.get("receive_s") or 0.0 for r in remote)
            sp = statistics.median(r.remote["server_profile_time_s"] for r in remote)
            inside = sum(1 for r in remote for loc in local
                         if r.latency_ms is not None and loc.latency_ci95_ms is not None
                         and loc.latency_ci95_ms[0] <= r.latency_ms <= loc.latency_ci95_ms[1])
            lat_l = statistics.median(r.latency_ms or 0.0 for r in local)
            lat_r = statistics.median(r.latency_ms or 0.0 for r in remote)
            ci = local[0].latency_ci95_ms
            ci_text = "n/a: too few blocks in 1 s" if ci is None else f"{ci[0]:.2f}, {ci[1]:.2f}"
            mb = remote[0].model_bytes / 2**20
            # paired per repeat (local k and remote k ran back to back): the remote time
            # beyond export, transfer and decode, over the local time, minus 1
            pair = [(r.profile_time_s - r.remote["export_s"] - r.remote["transfer_s"]
                     - r.remote["decode_s"]) / loc.profile_time_s - 1.0
                    for loc, r in zip(local, remote, strict=True)]
            totals["pair_rel"] += pair
            o_mean, o_lo, o_hi = _mean_ci(pair)
            totals["local"].append(lt)
            totals["remote"].append(rt)
            totals["remote_minus_transfer"].append(rt - ex - tr - dc)
            totals["server_profile"].append(sp)
            rows.append(
                f"| {name} | {mb:.1f} | {lt:.2f} | {rt:.2f} | {ex:.2f} | {tr:.2f} | {rc:.2f} | "
                f"{dc:.2f} | "
                f"{ms:.2f} | {sp:.2f} | "
                f"{100 * o_mean:+.1f} % [{100 * o_lo:+.1f}, {100 * o_hi:+.1f}] | "
                f"{'yes' if same else 'NO'} | {lat_l:.2f} "
                f"[{ci_text}] | {lat_r:.2f} | {inside}/{repeats * repeats} | "
                f"{local[0].peak_activation_bytes / 2**20:.2f} / "
                f"{remote[0].peak_activation_bytes / 2**20:.2f} |")
            print(rows[-1], flush=True)
    finally:
        srv.stop()
    return rows, totals


def _mean_ci(xs: list[float], n_boot: int = 10_000) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap 95 % interval of the mean (seeded)."""
    import numpy as np

    x = np.asarray(xs, dtype=float)
    if len(x) < 2:
        return float(x.mean()), math.nan, math.nan
    boots = x[np.random.default_rng(0).integers(len(x), size=(n_boot, len(x)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(x.mean()), float(lo), float(hi)


def part2(folder: Path, trials: int) -> list[str]:
    srv = ServerProcess(folder / "p2").start()
    journal = folder / "study.journal"
    base = [sys.executable, "-m", "effobj.cli", "search", "--space", "mlp", "--dataset",
            "wine", "--trials", str(trials), "--beta2", "1", "--perf-ref", "1", "--cost-ref",
            "1", "--cost", "latency_ms", "--cost-max", "1e-6", "--latency-time", "0.3",
            "--storage", f"journal:{journal}", "--study-name", "shared", "--sampler", "random",
            "--no-progress", "--format", "json", "--profiler", srv.url,
            "--profiler-token-file", str(srv.token_file)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        procs = [subprocess.Popen([*base, "--seed", str(i)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for i in range(3)]
        outs = [p.communicate() for p in procs]
        wall = time.perf_counter() - t0
        codes = [p.returncode for p in procs]
        status = srv.status()
    finally:
        srv.stop()
    log = srv.log.read_text()
    overlaps = overlapping_measurements(log)
    starts = log.count("measure start")
    import optuna

    from effobj.optuna._storage import resolve_storage
    from effobj.record import TrialRecord

    study = optuna.load_study(study_name="shared", storage=resolve_storage(f"journal:{journal}"))
    reps = [TrialRecord.from_trial(t).cost_report or {} for t in study.trials]
    remote = [r.get("remote", {}) for r in reps]
    waits = [float(r.get("queue_wait_s") or 0.0) for r in remote]
    hosts = {r.get("device", {}).get("hostname") for r in reps}
    servers = {r.get("server") for r in remote}
    lines = [
        f"- 3 worker processes, exit codes {codes}, {wall:.1f} s wall; {len(study.trials)} "
        f"trials in the study, {sum(1 for r in remote if r)} of them with a remote cost "
        f"report (servers {sorted(s for s in servers if s)}, hosts "
        f"{sorted(h for h in hosts if h)})",
        f"- server: {starts} measurements started, {status['measured']} measured, "
        f"{status['cache_hits']} answered from its cache, {status['failed']} failed; "
        f"**overlapping measurements in its log: {len(overlaps)}** {overlaps or ''}",
        f"- queue wait recorded in the trials: median {statistics.median(waits):.3f} s, max "
        f"{max(waits):.3f} s; {sum(1 for w in waits if w > 0.01)} of {len(waits)} trials "
        "waited behind another worker's measurement",
    ]
    for i, (_out, err) in enumerate(outs):
        if codes[i] != 0:
            lines.append(f"- worker {i} failed: {err.decode()[-500:]}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=5, help="local/remote pairs per model")
    args = p.parse_args()
    names = [n for n in MODELS if not args.quick or n in ("ResNet-18", "MobileNetV2")]
    repeats = 2 if args.quick else args.repeats
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rows, totals = part1(names, repeats, Path(tmp))
        search = part2(Path(tmp), 6 if args.quick else 15)
    load1 = os.getloadavg()
    lt, rt, sp = sum(totals["local"]), sum(totals["remote"]), sum(totals["server_profile"])
    rm = sum(totals["remote_minus_transfer"])
    pm, plo, phi = _mean_ci(totals["pair_rel"])
    body = "\n".join([
        f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load0)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load1)}. Server and client share this machine's cores; "
        "every ratio below comes from this one run.",
        "- server: `effobj profile-server --threads 1 --no-cache` on 127.0.0.1; local: "
        "`profile_model(threads=1)`; both `max_time_s=1`, alternated, "
        f"{repeats} of each per model (medians shown; the overhead column is the mean over "
        "the repeats of the paired difference, local k and remote k run back to back, with "
        "a bootstrap 95 % interval).",
        "",
        "## 1. Remote profile over loopback vs local profile",
        "",
        "| model | weights MiB | local s | remote s | export s | transfer s | of it: server "
        "receiving the upload s | decode s | "
        "server measure s | server profile_model s | overhead beyond export+transfer+decode | "
        "counts identical | local latency ms [95 % CI] | remote latency ms | remote medians "
        "inside a local CI | peak activations MiB local / remote |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"All models: local {lt:.1f} s, remote {rt:.1f} s ({rt / lt:.2f}x); remote without "
        f"export, transfer and decode {rm:.1f} s (sum of medians). **Overhead of the remote "
        f"path beyond export, transfer and decode, from the {len(totals['pair_rel'])} paired "
        f"repeats (each remote profile over the local one run just before it, minus 1): mean "
        f"{100 * pm:+.1f} %, bootstrap 95 % interval [{100 * plo:+.1f} %, {100 * phi:+.1f} %]** "
        "(an interval that holds 0 means no overhead is resolved at this noise; a negative "
        "mean is noise, not a remote path faster than local: the server runs the same "
        f"profile_model). The server's own profile_model {sp:.1f} s (sum of medians). "
        "Export is torch.export and the program's JSON on the search side (the tensors are "
        "not copied there: they are copied once, in 4 MiB pieces, while they are sent). "
        "Transfer is the rest of the search side's wall time outside the server's queue and "
        "measurement: the architecture signature, the `/lookup` round trip, streaming the "
        "archive over loopback, the server receiving it into a file of its upload folder "
        "(the column after it) and reading its header, and the answer. Decode is the "
        "server's worker mapping that file and rebuilding the program and its tensors "
        "(in place) from it; it is part of the server's measure time. The overhead column "
        "is (remote - export - transfer - decode) / local - 1: what is left is the "
        "server's queue (none here), its worker's profile_model and the worker round trip.",
        "",
        "Counts compared: " + ", ".join(COUNTS) + ". Peak activation memory is measured on "
        "the exported graph on the server, which frees each intermediate after its last use "
        "(eager Python keeps a module's locals until it returns): it can read lower than a "
        "local profile.",
        "",
        "## 2. Three search workers sharing one server",
        "",
        *search,
    ])
    print(write("remote", "Remote profiling: profile-server over loopback", body))


if __name__ == "__main__":
    main()
