"""An :class:`EfficiencyObjective` for a search space of the ``effobj.spaces`` package.

A *model* space suggests a config, builds a torch model, is profiled on this machine and
trained on its dataset (``space.train`` reports each epoch's validation accuracy). A
*tabular* space (e.g. ``nas-bench-graph:cora``) looks the config up in its benchmark
table: the table's measured costs stand for profiling, the table's validation accuracy
for training (each look-up of the accuracy counts as one training).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from effobj import record as K
from effobj._validation import refusal
from effobj.errors import InputError
from effobj.optuna._calibration import current_study, latency_budget_ms, study_profiler
from effobj.optuna._objective import EfficiencyObjective
from effobj.profiler._report import COUNTED_INDICATORS, TIMED_INDICATORS

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from effobj.spec import EfficiencySpec

__all__ = ["SpaceCandidate", "load_space_data", "objective_from_space"]

#: keys of a tabular record that are not cost indicators
_NOT_COSTS = frozenset({K.PERF, K.TEST_PERF})
#: the price of a tabular space's cost look-up, in trainings (see objective_from_space)
TABULAR_LOOKUP_PRICE = 0.01
#: indicators that need the model run (timed), not only counted on the meta device
_TIMED = frozenset(TIMED_INDICATORS)


@dataclass
class SpaceCandidate:
    """One trial's config and, for model spaces, its built model."""

    config: dict[str, Any]
    model: Any = None


def load_space_data(space: Any, dataset: str | None = None, *, seed: int = 0) -> Any:
    """Load ``dataset`` (default: the space's own) in a layout the space accepts."""
    from effobj.spaces.data import load_dataset

    name = dataset or space.default_dataset
    data = load_dataset(name, seed=seed)
    layouts = tuple(getattr(space, "layouts", ()) or ())
    if layouts and data.info.layout not in layouts:
        data = load_dataset(name, seed=seed, layout=layouts[0])
    return data


def objective_from_space(
    spec: EfficiencySpec,
    space: Any,
    *,
    data: Any = None,
    dataset: str | None = None,
    seed: int = 0,
    profiler: Any = None,
    **kwargs: Any,
) -> EfficiencyObjective:
    """Wrap a search space into an :class:`EfficiencyObjective`.

    Args:
        spec: what to optimize; its cost indicators must be ones the space provides
            (a model space: the profiler's ``CostReport.indicators()``, e.g.
            ``"latency_ms"``, ``"macs"``, ``"n_params"``; a tabular space: its table's, e.g.
            ``"latency"``, ``"n_params"``).
        space: an object following ``effobj.spaces``' protocol (a name is resolved by the
            caller, e.g. ``effobj.spaces.get(name)``).
        data: the dataset of a model space (a ``effobj.spaces.data.Dataset``); default
            ``dataset`` loaded with :func:`load_space_data`.
        dataset: a dataset name for ``effobj.spaces.data.load_dataset``.
        seed: seed of the training runs and of the data split.
        profiler: the profiler of a model space (default
            :func:`effobj.profiler.profile_model`).
        **kwargs: passed to :class:`EfficiencyObjective` (``mode``, ``over_budget``,
            ``skip_hopeless``, ...).

    Returns:
        The objective; ``objective.space`` and ``objective.data`` hold what it uses.

    Raises:
        InputError: the space is not a search space, or the spec names a cost indicator
            the space never provides (checked here, before any trial: otherwise every
            trial would fail the same way).
    """
    kind = getattr(space, "kind", None)
    if kind not in ("model", "tabular"):
        raise refusal("space", "objective_from_space",
                      "follow the effobj.spaces protocol with kind 'model' or 'tabular'",
                      f"kind {kind!r} ({type(space).__name__})")

    space_identity: Callable[[Any], Any] | None = getattr(space, "identity", None)
    if not callable(space_identity):
        from effobj.spaces import config_identity

        space_identity = config_identity

    kwargs.setdefault("identity", lambda cand: space_identity(cand.config))

    def params_identity(params: Mapping[str, Any]) -> str:
        import optuna

        return str(space_identity(space.suggest(optuna.trial.FixedTrial(dict(params)))))

    def build(trial: optuna.trial.Trial) -> SpaceCandidate:
        config = dict(space.suggest(trial))
        space.validate(config)
        if kind == "tabular":
            return SpaceCandidate(config)
        return SpaceCandidate(config, space.build(config, data))

    if kind == "tabular":
        for pname, value in (("data", data), ("dataset", dataset)):
            if value is not None:
                raise refusal(pname, "objective_from_space",
                              f"be None for the tabular space {getattr(space, 'name', space)!r} "
                              "(it has its own table)", type(value).__name__)

        def lookup_costs(cand: SpaceCandidate) -> dict[str, float]:
            record = space.lookup(cand.config)
            return {k: v for k, v in record.items() if k not in _NOT_COSTS}

        def lookup_perf(cand: SpaceCandidate, trial: optuna.trial.Trial) -> Mapping[str, Any]:
            record = space.lookup(cand.config)
            return {K.PERF: record[K.PERF], K.TEST_PERF: record.get(K.TEST_PERF)}

        obj = EfficiencyObjective(spec, build, lookup_perf, measure=lookup_costs, **kwargs)
    else:
        if data is None:
            data = load_space_data(space, dataset, seed=seed)
        budget_ms = latency_budget_ms(spec)

        def measure(cand: SpaceCandidate) -> Any:
            inputs = space.example_input(cand.config, data, batch_size=1)
            # the study's latency scale and the spec's latency budget (_calibration)
            prof = study_profiler(profiler, current_study(), budget_ms)
            if prof is not None:
                return prof.profile(cand.model, inputs)
            from effobj.profiler import profile_model

            return profile_model(cand.model, inputs)

        def evaluate(cand: SpaceCandidate, trial: optuna.trial.Trial, report: Any) -> Any:
            epochs = cand.config.get("epochs")
            if isinstance(epochs, int) and hasattr(report, "max_epochs"):
                report.max_epochs = epochs  # the pruner's rungs and final epoch
            return space.train(cand.model, cand.config, data, seed=seed, on_epoch=report)

        obj = EfficiencyObjective(spec, build, evaluate, measure=measure, **kwargs)
    _check_indicators(spec, space, kind, profiler, seed)
    obj.params_identity = params_identity
    if kind == "tabular":
        # the table's accuracy stands for a training, its costs for a profile of about a
        # second: a look-up is priced at 1/100 of a training, not at its own (equal) time
        obj.lookup_price = TABULAR_LOOKUP_PRICE
    else:
        _counts_only_costs(obj, spec, space, data, profiler)
    obj.space = space  # type: ignore[attr-defined]
    obj.data = data  # type: ignore[attr-defined]
    return obj


def _check_indicators(spec: EfficiencySpec, space: Any, kind: str, profiler: Any, seed: int) -> None:
    """Reject, before any trial, a spec whose cost indicators the space will never provide.

    A tabular space's indicators are the cost columns of its table (read from one sampled
    row); a model space's are the profiler's :meth:`CostReport.indicators` under its
    settings (no ``latency_ms`` when latency is off, no ``energy_j`` where the device
    reports no energy). A profiler of unknown kind is not second-guessed.
    """
    names = spec.cost_names
    if kind == "tabular":
        import optuna

        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line
        try:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        finally:
            optuna.logging.set_verbosity(verbosity)
        record = None
        for _ in range(20):  # a sample can fall outside the table (e.g. all skip): draw again
            config = dict(space.suggest(study.ask()))
            try:
                space.validate(config)
                record = space.lookup(config)
                break
            except InputError:
                continue
        if record is None:  # no row found: leave it to the trials, which record the reason
            return
        available = sorted(k for k in record if k not in _NOT_COSTS)
    else:
        from effobj.profiler import LocalProfiler, ProfileOptions

        if profiler is None:
            options = ProfileOptions()
        elif isinstance(profiler, LocalProfiler):
            options = profiler.options
        else:
            return
        available = list(options.indicators())
    missing = [n for n in names if n not in available]
    if missing:
        what = "its table" if kind == "tabular" else "the profiler, as configured,"
        raise InputError(
            f"The spec's cost indicator(s) {missing} are not among those {what} provides "
            f"for the space {getattr(space, 'name', type(space).__name__)!r}: {available}."
            + (" latency_ms needs latency measured (e.g. effobj search --latency-time > 0)."
               if "latency_ms" in missing and kind == "model" else "")
        )


def _counts_only_costs(
    obj: EfficiencyObjective, spec: EfficiencySpec, space: Any, data: Any, profiler: Any
) -> None:
    """Let the sampler's look-ups skip the latency measurement when the spec needs none.

    A spec whose indicators are all counts (MACs, FLOPs, parameters, bytes, memory) is
    known from the profiler's meta pass alone; a look-up by
    :class:`~effobj.optuna.EfficiencySampler` then costs milliseconds, not the timed
    runs. The trial that trains a candidate still profiles it fully. With another
    profiler (e.g. a :class:`~effobj.remote.RemoteProfiler`), the look-up counts here, on
    the CPU, when every indicator is a count (counts do not depend on the device; peak
    memory does, so a spec with it asks that profiler).
    """
    from effobj.profiler import LocalProfiler

    if any(name in _TIMED for name in spec.cost_names):
        return
    if isinstance(profiler, LocalProfiler):
        counting = LocalProfiler(device=profiler.device, threads=profiler.threads,
                                 latency=False, memory=profiler.memory)
    elif profiler is None:
        counting = LocalProfiler(device="cpu", latency=False, memory=True)
    elif all(name in COUNTED_INDICATORS for name in spec.cost_names):
        counting = LocalProfiler(device="cpu", latency=False, memory=False)
    else:
        return

    def measure_counts(cand: SpaceCandidate) -> Any:
        return counting.profile(cand.model, space.example_input(cand.config, data, batch_size=1))

    obj.cost_measure = measure_counts
