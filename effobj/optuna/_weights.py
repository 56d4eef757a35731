r"""The trained weights of the candidates that can still win, kept as Optuna artifacts.

Issue 22, item 1 (first part): a search should end with the winner's weights, not only its
parameters. :class:`WeightsKeeper` saves a trained candidate's ``state_dict`` as an
Optuna artifact (``optuna.artifacts.upload_artifact``: a file-system store by default,
any artifact store through the API) and records its id in the trial's user attribute
``effobj_weights``. So that disk use stays bounded, it keeps only the weights that can
still matter: for each :math:`\beta^2` of a grid around the spec's (``beta2_factors``),
the ``top_k`` trained trials by :math:`E_\beta` under the spec's budget; the artifacts of
every other trial are removed from the store. A trial out of every top k never comes
back into one (trials are only added), so removing is safe with several workers. The
winner for a :math:`\beta^2` outside the grid, or under a tighter budget, may be one
whose weights were removed: the reader says so (:func:`weights_of`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna

from effobj._validation import check_int, check_real
from effobj.record import Status, TrialRecord

if TYPE_CHECKING:  # pragma: no cover
    from effobj.spec import EfficiencySpec

__all__ = ["WEIGHTS_ATTR", "WeightsKeeper", "default_artifact_store", "keeper_for", "weights_of"]

_log = logging.getLogger("effobj.optuna")

#: user attribute: the artifact id of the trial's trained weights (a ``state_dict``)
WEIGHTS_ATTR = "effobj_weights"


def default_artifact_store(storage_url: str, *, create: bool = True
                           ) -> optuna.artifacts.FileSystemArtifactStore:
    """The file-system store next to an SQLite study: ``sqlite:///path/x.db`` ->
    ``path/x.db.artifacts/`` (created unless ``create`` is False).

    Raises:
        InputError: the storage is not an SQLite file (give an artifact store), or the
            folder does not exist and ``create`` is False.
    """
    from effobj._validation import refusal

    prefix = "sqlite:///"
    if not isinstance(storage_url, str) or not storage_url.startswith(prefix) \
            or storage_url == prefix + ":memory:":
        raise refusal("storage_url", "default_artifact_store",
                      "be an SQLite file URL (sqlite:///PATH); for another storage give an "
                      "optuna.artifacts store", repr(storage_url))
    path = storage_url[len(prefix):] + ".artifacts"
    if create:
        os.makedirs(path, exist_ok=True)
    elif not os.path.isdir(path):
        from effobj.errors import InputError

        raise InputError(f"No weights were kept for the study in {storage_url}: the artifact "
                         f"folder {path!r} does not exist (searches keep the weights of model "
                         "spaces since effobj 0.3; run the search again to keep them).")
    return optuna.artifacts.FileSystemArtifactStore(path)


class WeightsKeeper:
    r"""Save trained weights as artifacts and keep only those that can still win.

    Args:
        store: an Optuna artifact store (``optuna.artifacts.FileSystemArtifactStore``,
            ``Boto3ArtifactStore``, ...).
        top_k: weights kept per :math:`\beta^2` of the grid.
        beta2_factors: the grid, as factors of the spec's :math:`\beta^2`.

    Example:
        >>> import optuna, tempfile
        >>> keeper = WeightsKeeper(optuna.artifacts.FileSystemArtifactStore(tempfile.mkdtemp()))
        >>> keeper.top_k
        3
    """

    def __init__(self, store: Any, *, top_k: int = 3,
                 beta2_factors: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> None:
        from effobj._validation import refusal
        from effobj.errors import InputTypeError

        for method in ("write", "open_reader", "remove"):
            if not callable(getattr(store, method, None)):
                raise refusal("store", "WeightsKeeper", "be an Optuna artifact store (write, "
                              "open_reader, remove)", type(store).__name__, error=InputTypeError)
        self.store = store
        self.top_k = check_int(top_k, "top_k", "WeightsKeeper", low=1)
        factors = tuple(check_real(f, "beta2_factors", "WeightsKeeper", low=0.0, low_open=True)
                        for f in beta2_factors)
        if not factors:
            raise refusal("beta2_factors", "WeightsKeeper", "hold at least one factor", "()")
        self.beta2_factors = factors
        self._removed: set[str] = set()

    def save(self, trial: optuna.trial.Trial, model: Any) -> str:
        """Upload ``model.state_dict()`` as an artifact of ``trial``; its id is recorded in
        ``user_attrs["effobj_weights"]`` and returned."""
        import torch

        fd, path = tempfile.mkstemp(suffix=".pt", prefix=f"trial{trial.number}-")
        os.close(fd)
        try:
            torch.save(model.state_dict(), path)
            artifact_id = optuna.artifacts.upload_artifact(
                artifact_store=self.store, file_path=path, study_or_trial=trial,
                mimetype="application/octet-stream")
        finally:
            os.unlink(path)
        trial.set_user_attr(WEIGHTS_ATTR, artifact_id)
        return str(artifact_id)

    def keep(self, spec: EfficiencySpec, trials: Sequence[Any],
             extra: Mapping[int, tuple[float, Mapping[str, float]]] | None = None) -> set[int]:
        r"""The numbers of the trials whose weights can still matter: the ``top_k`` by
        :math:`E_\beta` under each :math:`\beta^2` of the grid (only :math:`E_\beta > 0`).

        Args:
            spec: the study's spec.
            trials: finished trials; the trained COMPLETE ones with weights are ranked.
            extra: ``number -> (perf, costs)`` of trials not finished yet (the one saving).
        """
        rows: dict[int, tuple[float, dict[str, float]]] = {}
        for t in trials:
            if getattr(t.state, "name", t.state) != "COMPLETE" or WEIGHTS_ATTR not in t.user_attrs:
                continue
            rec = TrialRecord.from_user_attrs(t.user_attrs, spec.cost_names)
            if rec.status != Status.TRAINED or rec.perf is None:
                continue
            if all(n in rec.costs for n in spec.cost_names):
                rows[int(t.number)] = (rec.perf, dict(rec.costs))
        for number, (perf, costs) in dict(extra or {}).items():
            rows[int(number)] = (float(perf), dict(costs))
        kept: set[int] = set()
        for factor in self.beta2_factors:
            s = spec.replace(beta2=spec.beta2 * factor)
            scored = sorted(((float(s.score(p, c)), -n, n) for n, (p, c) in rows.items()),
                            reverse=True)
            kept.update(n for e, _, n in scored[: self.top_k] if e > 0.0)
        return kept

    def offer(self, study: optuna.Study, spec: EfficiencySpec, trial: optuna.trial.Trial,
              model: Any, perf: float, costs: Mapping[str, float]) -> bool:
        """Save the weights of ``trial`` (trained to ``perf`` at ``costs``) if they are
        among those that can still matter, then remove the ones that no longer are;
        whether they were saved."""
        extra = {trial.number: (float(perf), dict(costs))}
        trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        saved = trial.number in self.keep(spec, trials, extra)
        if saved:
            self.save(trial, model)
        self.prune(study, spec, extra)
        return saved

    def prune(self, study: optuna.Study, spec: EfficiencySpec,
              extra: Mapping[int, tuple[float, Mapping[str, float]]] | None = None) -> list[int]:
        """Remove the artifacts of the trials :meth:`keep` leaves out; their numbers."""
        trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        kept = self.keep(spec, trials, extra)
        removed = []
        for t in trials:
            artifact_id = t.user_attrs.get(WEIGHTS_ATTR)
            if not isinstance(artifact_id, str) or t.number in kept or artifact_id in self._removed:
                continue
            try:
                self.store.remove(artifact_id)
            except Exception:  # already removed (another worker): nothing to do
                _log.debug("artifact %s of trial %d already gone", artifact_id, t.number)
            self._removed.add(artifact_id)
            removed.append(int(t.number))
        return removed


def weights_of(trial: Any, store: Any) -> bytes:
    """The saved ``state_dict`` file of a trial, as bytes.

    Raises:
        InputError: the trial saved no weights, or they were removed (not among the top k
            kept for any beta^2 of the grid).
    """
    from effobj.errors import InputError

    artifact_id = trial.user_attrs.get(WEIGHTS_ATTR)
    if not isinstance(artifact_id, str):
        raise InputError(f"Trial {trial.number} has no saved weights (user attribute "
                         f"{WEIGHTS_ATTR!r}): it was not trained, it was not among the top "
                         "k per beta^2 when it was, or the search kept no weights "
                         "(EfficiencyObjective(weights=WeightsKeeper(...))).")
    try:
        with store.open_reader(artifact_id) as f:
            return bytes(f.read())
    except Exception as exc:
        raise InputError(
            f"The weights of trial {trial.number} (artifact {artifact_id}) are no longer in "
            "the artifact store: only the top k trials per beta^2 of the keeper's grid are "
            f"kept ({type(exc).__name__}). Re-train it from its params."
        ) from None


def keeper_for(storage_url: str, top_k: int = 3) -> WeightsKeeper | None:
    """The keeper ``effobj search`` and ``effobj demo`` use: a :class:`WeightsKeeper` on the
    file-system store next to an SQLite study; ``None`` for another storage (or
    ``top_k`` 0), where the API takes any Optuna artifact store."""
    top_k = check_int(top_k, "--keep-weights", "effobj search", low=0)
    if top_k == 0 or not storage_url.startswith("sqlite:///") or storage_url.endswith(":memory:"):
        return None
    return WeightsKeeper(default_artifact_store(storage_url), top_k=top_k)
