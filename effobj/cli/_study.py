"""Opening a study for reading and the spec to score it under (``effobj best``, ``report``)."""

from __future__ import annotations

import argparse
from typing import Any

from effobj.errors import InputError, StorageError

__all__ = ["load_study", "spec_for"]


def load_study(storage: str | None, study_name: str) -> tuple[Any, str]:
    """Open an existing study for reading; returns ``(study, storage URL, password masked)``.

    Nothing is created or changed: a missing or empty SQLite file, or a missing journal
    file, is an error rather than a new storage.

    Raises:
        InputError: the storage file or the study does not exist.
        StorageError: the storage cannot be opened or read.
    """
    import optuna

    from effobj.optuna._storage import masked_url, resolve_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = masked_url(storage)
    store = resolve_storage(storage, heartbeat_interval=None, must_exist=True)
    try:
        study = optuna.load_study(study_name=study_name, storage=store)
        study.user_attrs  # noqa: B018  (read now: a corrupt file fails here, not later)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise InputError(f"The study {study_name!r} is not in {url}; it holds {names}.") from None
    except Exception as exc:
        import sqlalchemy.exc

        if not isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
            raise
        raise StorageError(
            f"The storage {url!r} cannot be read: {type(exc).__name__}: "
            f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}"
        ) from None
    return study, url


def spec_for(args: argparse.Namespace, stored: Any) -> Any:
    """The spec to score a study under: the stored one with the options' fields replaced,
    or, for a study effobj did not create, one built from ``--perf-ref``, ``--cost-ref``
    and ``--cost``.

    Raises:
        InputError: no stored spec and an option missing, or cost options that do not
            fit the stored spec.
    """
    from effobj.spec import EfficiencySpec

    if stored is None:
        missing = [f"--{n}" for n in ("perf-ref", "cost-ref", "cost")
                   if getattr(args, n.replace("-", "_")) is None]
        if missing:
            raise InputError(
                f"The study {args.study_name!r} has no stored effobj spec; give {missing} "
                "to rank it."
            )
        return EfficiencySpec(
            beta2=1.0 if args.beta2 is None else args.beta2,
            perf_ref=args.perf_ref,
            cost_ref=args.cost_ref,
            perf_min=args.perf_min,
            cost_max=args.cost_max,
            cost_name=args.cost,
        )
    spec = stored
    changes: dict[str, Any] = {}
    if args.perf_ref is not None:
        changes["perf_ref"] = args.perf_ref
    if args.beta2 is not None:
        changes["beta2"] = args.beta2
    if args.perf_min is not None:
        changes["perf_min"] = args.perf_min
    if args.cost_ref is not None or args.cost_max is not None or args.cost is not None:
        if len(spec.costs) != 1:
            raise InputError(
                "--cost, --cost-ref and --cost-max apply to a study with one cost indicator; "
                f"this one has {list(spec.cost_names)}."
            )
        one = spec.costs[0]
        if args.cost is not None and args.cost != one.name and args.cost_ref is None:
            # another indicator: the stored reference (and budget) belong to the old one
            raise InputError(
                f"The '--cost' option names another indicator ({args.cost!r}) than the "
                f"study's ({one.name!r}); give its '--cost-ref' (and '--cost-max') too."
            )
        renamed = args.cost is not None and args.cost != one.name
        spec = EfficiencySpec(
            beta2=spec.beta2,
            perf_ref=spec.perf_ref,
            perf_min=spec.perf_min,
            cost_ref=one.ref if args.cost_ref is None else args.cost_ref,
            cost_max=(None if renamed else one.max) if args.cost_max is None else args.cost_max,
            cost_name=one.name if args.cost is None else args.cost,
            perf_above_ref=spec.perf_above_ref,
        )
    return spec.replace(**changes) if changes else spec
