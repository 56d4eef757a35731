"""The protocol every search space follows, and the result of one training run.

A search space turns an Optuna trial into a *config* (a plain ``dict`` of JSON-able
values) and a config into something that can be scored:

* a **model space** (``kind == "model"``) builds a ``torch.nn.Module`` from the config
  and trains it with the config's training hyper-parameters;
* a **tabular space** (``kind == "tabular"``) looks the config up in a benchmark table
  that already holds its measured performance and costs.

Any object with these attributes and methods can be registered with
:func:`effobj.spaces.register` and searched by ``effobj search``; it does not have to
inherit from anything here (``typing.Protocol`` is structural).

Optionally a space defines ``identity(config) -> str``: configs with one identity are
one candidate (one training run), e.g. NAS-Bench-Graph's isomorphic cells. A search
records a repeat from the earlier trial instead of training it again. Without it the
identity is the config itself (:func:`effobj.spaces.config_identity`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import optuna
    import torch

    from effobj.spaces.data import Dataset

__all__ = [
    "ModelSearchSpace",
    "SpaceFactory",
    "SearchSpace",
    "TabularSearchSpace",
    "TrainResult",
]


@dataclass(frozen=True)
class TrainResult:
    """What one training run of a model space returns.

    Attributes:
        perf: validation accuracy after the last epoch run, in ``[0, 1]``; this is the
            number a search optimizes.
        test_perf: accuracy on the held-out test split (``nan`` if the data has none);
            report it, never select on it.
        epochs_run: epochs actually run (fewer than ``config["epochs"]`` when
            ``on_epoch`` stopped training, e.g. an Optuna pruner).
        train_time_s: wall-clock seconds spent in training steps and validation.
        train_flops: floating-point operations of training, counted as the FLOPs of one
            training step (forward + backward, measured by
            ``torch.utils.flop_counter.FlopCounterMode``, one multiply-add = 2 FLOPs)
            times the number of steps run. The optimizer update is not counted.
        history: validation accuracy after each epoch.
        diverged: the training loss became inf or NaN; training stopped there and
            ``perf`` and ``test_perf`` are 0.0.
    """

    perf: float
    test_perf: float
    epochs_run: int
    train_time_s: float
    train_flops: float
    history: list[float] = field(default_factory=list)
    diverged: bool = False


@runtime_checkable
class SearchSpace(Protocol):
    """What every search space provides.

    Attributes:
        name: the name it is registered under, e.g. ``"mobilenet"``.
        kind: ``"model"`` (builds and trains a torch model) or ``"tabular"`` (looks
            results up in a benchmark table).
        default_dataset: the dataset a search uses when the user names none.
    """

    name: str
    kind: Literal["model", "tabular"]
    default_dataset: str

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample a config with ``trial.suggest_int/float/categorical`` only."""
        ...

    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`effobj.errors.InputError` naming the key, rule and value if bad."""
        ...

    def describe(self, config: Mapping[str, Any]) -> str:
        """A one-line human-readable summary of the config."""
        ...

    def encoding(self) -> list[tuple[str, list[Any]]]:
        """The flat categorical encoding for RL controllers: ``(key, choices)`` pairs."""
        ...

    def encode(self, config: Mapping[str, Any]) -> list[int]:
        """Indices of the config's values in :meth:`encoding` (nearest grid point)."""
        ...

    def decode(self, indices: list[int]) -> dict[str, Any]:
        """The config whose values are ``encoding()[i][1][indices[i]]``."""
        ...


@runtime_checkable
class ModelSearchSpace(SearchSpace, Protocol):
    """A search space whose configs are trained torch models (``kind == "model"``)."""

    def build(self, config: Mapping[str, Any], data: Dataset | None = None) -> torch.nn.Module:
        """Build the (untrained) model; ``data`` fixes input shape and class count."""
        ...

    def example_input(
        self, config: Mapping[str, Any], data: Dataset | None = None, batch_size: int = 1
    ) -> tuple[torch.Tensor, ...]:
        """Inputs of the model's ``forward`` for profiling, batch of ``batch_size``."""
        ...

    def train(
        self,
        model: torch.nn.Module,
        config: Mapping[str, Any],
        data: Dataset,
        *,
        seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> TrainResult:
        """Train ``model`` with the config's hyper-parameters; see :class:`TrainResult`."""
        ...


@runtime_checkable
class TabularSearchSpace(SearchSpace, Protocol):
    """A search space whose configs are rows of a benchmark table (``kind == "tabular"``)."""

    def lookup(self, config: Mapping[str, Any]) -> dict[str, float]:
        """``{"perf", "test_perf", <cost indicators>...}`` of the config's architecture."""
        ...

    def table(self) -> list[tuple[dict[str, Any], dict[str, float]]]:
        """Every architecture of the table as ``(config, record)``."""
        ...

    def exhaustive_optimum(
        self, score_fn: Callable[[float, dict[str, float]], float]
    ) -> tuple[dict[str, Any], dict[str, float], float]:
        """The ``(config, record, score)`` maximizing ``score_fn(perf, costs)`` over the table."""
        ...


#: what :func:`effobj.spaces.register` stores: a zero-argument callable returning a space
SpaceFactory = Callable[[], SearchSpace]
