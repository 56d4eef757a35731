"""Declarative parameters of a search space and the config logic they share.

A space lists its parameters once (:class:`Categorical`, :class:`Int`, :class:`Float`);
:class:`ParamSpace` derives from that list everything that does not depend on the
model: sampling with Optuna's own distributions (so every sampler works), validation
with messages that name the key, the rule and the value, and the flat categorical
encoding used by RL controllers (continuous parameters are discretized on a fixed grid).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from effobj._validation import check_instance, check_int, interval, refusal, same_value
from effobj.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "Param",
    "ParamSpace",
    "training_params",
]


@dataclass(frozen=True)
class Categorical:
    """A parameter taking one of a fixed tuple of values (``trial.suggest_categorical``)."""

    key: str
    choices: tuple[Any, ...]

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Sample the value from ``trial``."""
        return trial.suggest_categorical(self.key, list(self.choices))

    def rule(self) -> str:
        """The rule, as the error message words it (after "must")."""
        return f"be one of {list(self.choices)}"

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is one of the choices."""
        return any(same_value(value, c) for c in self.choices)

    def grid(self) -> list[Any]:
        """The choices, in order."""
        return list(self.choices)

    def index(self, value: Any) -> int:
        """Index of ``value`` among the choices."""
        return next(i for i, c in enumerate(self.choices) if same_value(value, c))


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` on a ``step`` lattice (``trial.suggest_int``)."""

    key: str
    low: int
    high: int
    step: int = 1

    def suggest(self, trial: optuna.trial.BaseTrial) -> int:
        """Sample the value from ``trial``."""
        return int(trial.suggest_int(self.key, self.low, self.high, step=self.step))

    def rule(self) -> str:
        """The rule, as the error message words it (after "must")."""
        lattice = "" if self.step == 1 else f" on a step of {self.step} from {self.low}"
        return f"be an int in the range {interval(self.low, self.high, False, False)}{lattice}"

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is an int of the range and lattice."""
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, bool)
            and self.low <= int(value) <= self.high
            and (int(value) - self.low) % self.step == 0
        )

    def grid(self) -> list[int]:
        """Every value of the range."""
        return list(range(self.low, self.high + 1, self.step))

    def index(self, value: Any) -> int:
        """Index of ``value`` in :meth:`grid`."""
        return (int(value) - self.low) // self.step


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]`` (``trial.suggest_float``), discretized on ``points`` for RL.

    ``points`` must lie in ``[low, high]`` and be increasing; :meth:`index` maps a value to
    the nearest point (in log space when ``log`` is true). Optional: without them the RL
    controller discretizes on its own, :data:`DEFAULT_FLOAT_POINTS` points evenly spaced
    from ``low`` to ``high`` (geometrically when ``log`` is true). Optuna's samplers never
    use them.

    Example:
        >>> [round(p, 6) for p in Float("lr", 1e-4, 1e-2, log=True).grid()]
        [0.0001, 0.000316, 0.001, 0.003162, 0.01]
    """

    key: str
    low: float
    high: float
    points: tuple[float, ...] = ()
    log: bool = False

    def __post_init__(self) -> None:
        if not self.points and self._range_ok():
            object.__setattr__(self, "points", _even_points(self.low, self.high, self.log))
        if not self.points or any(not self.low <= p <= self.high for p in self.points):
            raise InputError(
                f"The 'points' of the float parameter {self.key!r} must lie in the range "
                f"[{self.low:g}, {self.high:g}]. Got {list(self.points)} instead."
            )

    def _range_ok(self) -> bool:
        lo, hi = self.low, self.high
        return (all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                    for v in (lo, hi)) and lo <= hi and (not self.log or lo > 0))

    def suggest(self, trial: optuna.trial.BaseTrial) -> float:
        """Sample the value from ``trial``."""
        return float(trial.suggest_float(self.key, self.low, self.high, log=self.log))

    def rule(self) -> str:
        """The rule, as the error message words it (after "must")."""
        return f"be a float in the range {interval(self.low, self.high, False, False)}"

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is a finite real of the range."""
        return (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= float(value) <= self.high
        )

    def grid(self) -> list[float]:
        """The discretization points."""
        return list(self.points)

    def index(self, value: Any) -> int:
        """Index of the point nearest to ``value``."""
        f = math.log if self.log else float
        v = f(max(float(value), 1e-300)) if self.log else float(value)
        return min(range(len(self.points)), key=lambda i: abs(f(self.points[i]) - v))


Param = Categorical | Int | Float

#: how many points a :class:`Float` without ``points`` is discretized on for RL
DEFAULT_FLOAT_POINTS = 5


def _even_points(low: float, high: float, log: bool) -> tuple[float, ...]:
    """``DEFAULT_FLOAT_POINTS`` points from ``low`` to ``high`` (geometric when ``log``);
    one point when they are equal."""
    if low == high:
        return (float(low),)
    n = DEFAULT_FLOAT_POINTS
    if log:
        a, b = math.log(low), math.log(high)
        pts = [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
    else:
        pts = [low + (high - low) * i / (n - 1) for i in range(n)]
    pts[0], pts[-1] = float(low), float(high)  # exactly the ends, whatever the rounding
    # increasing, each once: a range narrower than the floats between its ends has fewer
    out = [pts[0]]
    for p in pts[1:-1]:
        if out[-1] < p < pts[-1]:
            out.append(p)
    if pts[-1] > out[-1]:
        out.append(pts[-1])
    return tuple(out)


def training_params(
    *,
    epochs: tuple[int, int],
    batch_sizes: Sequence[int] = (32, 64, 128),
    optimizers: Sequence[str] = ("adam", "adamw", "sgd"),
) -> tuple[Param, ...]:
    """The training hyper-parameters every model space searches jointly with the architecture.

    Args:
        epochs: ``(low, high)`` of the number of epochs.
        batch_sizes: the batch sizes to choose from.
        optimizers: names among ``"adam"``, ``"adamw"`` and ``"sgd"`` (momentum 0.9, Nesterov).

    Returns:
        ``lr`` (log-uniform in [1e-4, 0.1]), ``weight_decay`` (log-uniform in [1e-6, 1e-2]),
        ``batch_size``, ``epochs`` and ``optimizer``.
    """
    return (
        Float("lr", 1e-4, 1e-1, (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), log=True),
        Float("weight_decay", 1e-6, 1e-2, (1e-6, 1e-5, 1e-4, 1e-3, 1e-2), log=True),
        Categorical("batch_size", tuple(batch_sizes)),
        Int("epochs", epochs[0], epochs[1]),
        Categorical("optimizer", tuple(optimizers)),
    )


def config_identity(config: Mapping[str, Any]) -> str:
    """A config as canonical JSON (keys sorted, numpy scalars as Python numbers)."""
    import json

    def plain(v: Any) -> Any:
        return v.item() if hasattr(v, "item") else v

    return json.dumps({str(k): plain(v) for k, v in config.items()}, sort_keys=True,
                      default=str)


class ParamSpace:
    """Config logic shared by spaces defined by a list of parameters.

    Subclasses set :attr:`name` and :attr:`params` and may override
    :meth:`_check_combination` for rules across keys (e.g. heads dividing width).
    """

    name: str = "space"
    params: tuple[Param, ...] = ()
    #: the key of the parameter that is the *fidelity* (e.g. ``"epochs"``): a search does
    #: not choose it but trains every candidate to its maximum, and early stopping
    #: (:class:`effobj.optuna.EfficiencyPruner`) decides how far each training really goes;
    #: ``None``: every parameter is searched
    fidelity: str | None = None

    # -- sampling -------------------------------------------------------------------
    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample a config with ``trial.suggest_*`` (one call per parameter, fixed space).

        Every parameter is sampled on every trial, also those a smaller architecture
        ignores (e.g. ``width_4`` of a 2-layer MLP), so the space is the same for every
        trial and every Optuna sampler (grid, CMA-ES, NSGA-II, TPE) can handle it. The
        :attr:`fidelity` parameter, if any, is not sampled: it is its maximum.
        """
        return {p.key: p.grid()[-1] if p.key == self.fidelity else p.suggest(trial)
                for p in self.params}

    def default_config(self) -> dict[str, Any]:
        """A mid-range config of the space (the middle point of every parameter's grid)."""
        config = {p.key: p.grid()[(len(p.grid()) - 1) // 2] for p in self.params}
        return config

    # -- validation -----------------------------------------------------------------
    def validate(self, config: Mapping[str, Any]) -> None:
        """Check ``config`` against the space, before anything is built or trained.

        Raises:
            TypeError: ``config`` is not a mapping.
            InputError: a key is missing or unknown, a value is outside its parameter's
                range or choices, or values are incompatible with each other.
        """
        where = f"the {self.name!r} search space"
        check_instance(config, "config", where, Mapping, "a mapping of parameter names to values")
        keys = [p.key for p in self.params]
        missing = [k for k in keys if k not in config]
        if missing:
            raise InputError(
                f"The 'config' parameter of the {self.name!r} search space must have every "
                f"key of the space {keys}. Missing {missing}."
            )
        unknown = [k for k in config if k not in keys]
        if unknown:
            raise InputError(
                f"The 'config' parameter of the {self.name!r} search space must only have "
                f"keys of the space {keys}. Got unknown keys {unknown}."
            )
        for p in self.params:
            if not p.ok(config[p.key]):
                raise refusal(p.key, where, p.rule(), repr(config[p.key]))
        self._check_combination(config)

    def _check_combination(self, config: Mapping[str, Any]) -> None:
        """Rules across keys; the default has none."""

    # -- identity -------------------------------------------------------------------
    def identity(self, config: Mapping[str, Any]) -> str:
        """The candidate's identity: two configs with one identity are one training run.

        Here the validated config itself, as canonical JSON (keys sorted); a search never
        trains one identity twice unless asked for repeats. Spaces where several configs
        are one model (e.g. NAS-Bench-Graph's isomorphic cells) override it.

        Example:
            >>> import effobj.spaces
            >>> space = effobj.spaces.get("mlp")
            >>> space.identity(space.default_config()) == space.identity(
            ...     dict(reversed(list(space.default_config().items()))))
            True
        """
        self.validate(config)
        return config_identity(config)

    # -- RL encoding ----------------------------------------------------------------
    def encoding(self) -> list[tuple[str, list[Any]]]:
        """``(key, choices)`` for every parameter; floats are discretized on their grid."""
        return [(p.key, p.grid()) for p in self.params]

    def encode(self, config: Mapping[str, Any]) -> list[int]:
        """Indices of the config's values in :meth:`encoding` (floats: nearest grid point)."""
        self.validate(config)
        return [p.index(config[p.key]) for p in self.params]

    def decode(self, indices: Sequence[int]) -> dict[str, Any]:
        """The config at ``indices`` of :meth:`encoding`; the result is validated."""
        if len(indices) != len(self.params):
            raise refusal("indices", f"the {self.name!r} search space",
                          f"have one index per parameter ({len(self.params)})", str(len(indices)))
        config: dict[str, Any] = {}
        for p, i in zip(self.params, indices, strict=True):
            grid = p.grid()
            where = f"the {self.name!r} search space (the index of {p.key!r})"
            config[p.key] = grid[check_int(i, "indices", where, low=0, high=len(grid) - 1)]
        self.validate(config)
        return config
