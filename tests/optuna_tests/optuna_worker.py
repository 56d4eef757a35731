"""A worker process sharing one study (run by the multi-process tests).

    python optuna_worker.py STORAGE STUDY_NAME N_TRIALS [--die | --die-in-build]
        [--sleep S] [--grace S] [--barrier DIR K] [--max-trainings K] [--repeats]
        [--no-skip-hopeless] [--hang-in-training]

Runs the "size" problem with :func:`effobj.optuna.optimize` until the study holds
N_TRIALS finished trials, then prints the numbers of the trials this process ran and the
summary optimize returned as JSON. ``--die`` kills the process (``os._exit``, like
``kill -9``) in the middle of its first training, leaving that trial RUNNING with a stale
heartbeat; ``--die-in-build`` does so while building its first candidate, its parameters drawn
(every trial builds one: the first trial dies whatever the sampler draws). ``--grace S`` is the
storage's grace period (default 2 s; heartbeat every second). ``--barrier DIR K`` waits,
once set up, until K workers are ready (a file each in DIR), so that a slow start under
load does not leave one worker with nothing to do. ``--max-trainings K`` is optimize's
training budget; ``--repeats`` trains every trial (no repeats of a trained candidate) and
``--no-skip-hopeless`` trains hopeless candidates too (more trainings to race for).
``--hang-in-training`` prints ``{"training": N}`` in its first training and sleeps there
(for the test to send a real SIGINT or SIGTERM, which become a KeyboardInterrupt); an
interrupted worker prints ``{"interrupted": ...}`` and exits 130.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import optuna  # noqa: E402
from optuna_toys import size_perf, size_spec  # noqa: E402

from effobj.optuna import (  # noqa: E402
    EfficiencyObjective,
    create_study,
    optimize,
    resolve_storage,
)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str]) -> int:
    storage_url, study_name, n_trials = argv[0], argv[1], int(argv[2])
    die = "--die" in argv
    die_in_build = "--die-in-build" in argv
    grace = int(argv[argv.index("--grace") + 1]) if "--grace" in argv else 2
    sleep = float(argv[argv.index("--sleep") + 1]) if "--sleep" in argv else 0.05
    max_trainings = (int(argv[argv.index("--max-trainings") + 1])
                     if "--max-trainings" in argv else None)
    hang = "--hang-in-training" in argv
    hung: list[int] = []
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ran: list[int] = []

    def build(trial: optuna.trial.Trial) -> int:
        trial.set_user_attr("worker_pid", os.getpid())
        size = trial.suggest_int("size", 1, 9)
        if die_in_build:
            print(json.dumps({"dying_in": trial.number}), flush=True)
            # die after the trial's heartbeat thread has beaten once (every second), as a
            # worker killed mid-trial would: under load the thread may not have run yet
            time.sleep(1.5)
            os._exit(17)
        return size

    def evaluate(size: int, trial: optuna.trial.Trial) -> float:
        if die:
            print(json.dumps({"dying_in": trial.number}), flush=True)
            os._exit(17)
        if hang and not hung:
            hung.append(trial.number)
            print(json.dumps({"training": trial.number}), flush=True)
            time.sleep(120)  # the test's signal lands here
        time.sleep(sleep)
        return size_perf(size)

    storage = resolve_storage(storage_url, heartbeat_interval=1, grace_period=grace)
    study = create_study(size_spec(cost_max=7.0), storage=storage, study_name=study_name,
                         sampler="random", seed=os.getpid() % 1000)
    obj = EfficiencyObjective(size_spec(cost_max=7.0), build, evaluate,
                              measure=lambda size: {"size": float(size)},
                              incumbent_refresh_s=0.0,  # read other workers' results
                              repeats="--repeats" in argv,
                              skip_hopeless="--no-skip-hopeless" not in argv)
    if "--barrier" in argv:
        folder = argv[argv.index("--barrier") + 1]
        k = int(argv[argv.index("--barrier") + 2])
        open(os.path.join(folder, f"ready-{os.getpid()}"), "w").close()
        deadline = time.monotonic() + 120
        while len(os.listdir(folder)) < k and time.monotonic() < deadline:
            time.sleep(0.05)
    # SIGTERM as effobj's command line handles it: a KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = optimize(study, obj, n_trials, max_trainings=max_trainings,
                           callbacks=[lambda s, t: ran.append(t.number)])
    except KeyboardInterrupt as exc:
        print(json.dumps({"interrupted": list(exc.args), "ran": ran}), flush=True)
        return 130
    print(json.dumps({"ran": ran, "summary": summary.to_dict()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
