r"""EfficiencySpec: raw units in, normalized :math:`(A, C)` and :math:`E_\beta` out.

A spec holds what a deployment target asks for: the reference performance, one or more
cost indicators (latency, memory, FLOPs, dollars), each with its normalizer and its
budget, the minimum acceptable performance and :math:`\beta^2`.

.. math::

    A = \min\!\left(\frac{\text{perf}}{\text{perf}_{ref}}, 1\right), \qquad
    C_i = \frac{\text{cost}_i}{\text{ref}_i}, \qquad
    C = \frac{\sum_i w_i C_i}{\sum_i w_i} \;\; (\text{or } \max_{i: w_i > 0} C_i),

    E_\beta = \frac{(1+\beta^2) A (1 - C)}{\beta^2 (1 - C) + A}
              \,[A \ge A_{\min}] \prod_i [C_i \le C_{\max,i}].

Each indicator has its own budget gate; the weights say how much each indicator counts
in the traded-off cost :math:`C` (weight 0: a pure budget, e.g. "peak memory must fit
in 64 MB, but below that I don't care"). A budget cannot exceed its reference (the
paper normalizes by the *largest acceptable* cost), so every feasible :math:`C_i \le 1`
and :math:`E_\beta \in [0, 1]`.

Constraints come in Optuna's form (name -> value, value <= 0 feasible; an
:class:`~effobj.optuna.EfficiencyObjective` records them where Optuna's samplers and
optuna-dashboard read them, see :mod:`effobj.record`), in normalized units: ``perf_min`` is :math:`A_{\min} - A` and ``NAME_max`` is
:math:`C_i - C_{\max,i}`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from effobj._metric.dispatch import evaluate, hard_params, soft_params
from effobj._validation import (
    check_choice,
    check_instance,
    check_real,
    check_str,
    check_values,
    is_torch,
    refusal,
    to_numeric,
)
from effobj.errors import InputError, InputTypeError
from effobj.metric import e_beta_upper_bound
from effobj.record import N_PARAMS, OLD_N_PARAMS, RESERVED_KEYS

__all__ = ["BUDGET_C", "RESERVED_NAMES", "CostIndicator", "EfficiencySpec", "check_spec"]

#: names a cost indicator cannot take: the keys under which effobj records a trial and a
#: study (:data:`effobj.record.RESERVED_KEYS`). A cost is recorded under its own name beside
#: them, so a cost named ``perf`` would overwrite the performance.
RESERVED_NAMES: tuple[str, ...] = RESERVED_KEYS

#: the normalized cost :math:`C` of a model exactly at its budget in
#: :meth:`EfficiencySpec.for_budget`: ``cost_ref = budget / BUDGET_C = 2 * budget``.
BUDGET_C: float = 0.5


def _hidden(ch: str) -> bool:
    """A character that is not shown as itself: a control (Cc), format (Cf: bidi, zero
    width), surrogate, private-use or unassigned one, or a line/paragraph separator."""
    cat = unicodedata.category(ch)
    return cat[0] == "C" or cat in ("Zl", "Zp")


def _ratio(arr: Any, ref: float) -> Any:
    """``arr / ref``, a quotient beyond the dtype's range held at its largest finite value
    (no inf, no numpy RuntimeWarning): a cost of 1e308 over a ref of 1e-3 is still far over
    its budget (it scores 0), a performance that far above ``perf_ref`` is ``A = 1``
    (clipped) or refused by ``perf_above_ref="raise"``."""
    if is_torch(arr):
        import torch

        q = arr / ref
        return q.clamp(max=torch.finfo(q.dtype).max) if q.is_floating_point() else q
    with np.errstate(over="ignore"):
        q = np.asarray(arr / ref)
    return np.minimum(q, np.finfo(q.dtype).max) if q.dtype.kind == "f" else q


def _plain(x: Any) -> Any:
    """numpy scalars and 0-d arrays (from scalar inputs) become Python floats."""
    if isinstance(x, float | int | np.number | np.bool_) or (isinstance(x, np.ndarray) and x.ndim == 0):
        return float(x)
    return x


@dataclasses.dataclass(frozen=True)
class CostIndicator:
    """One cost indicator of a spec: its name, normalizer, budget and weight.

    Attributes:
        name: the indicator's key, as in :meth:`effobj.CostReport.indicators`
            (e.g. ``"latency_ms"``, ``"macs"``, ``"n_params"``, ``"peak_activation_bytes"``).
            The parameter count's old name ``"params"`` (beside Optuna's ``params``, the
            hyper-parameters) is read as ``"n_params"``, with a ``DeprecationWarning``.
        ref: the normalizer, in raw units (> 0): the paper's "largest acceptable cost".
        max: the budget in raw units, ``0 <= max <= ref``; ``None`` means ``ref``.
        weight: the indicator's share in the traded-off cost :math:`C` (>= 0).
    """

    name: str
    ref: float
    max: float | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        func = "CostIndicator"
        check_str(self.name, "name", func, nonempty=True)
        if self.name == OLD_N_PARAMS:  # a spec written before effobj 0.2
            warnings.warn(
                f"The cost indicator {OLD_N_PARAMS!r} is now named {N_PARAMS!r} (a parameter "
                "count, not Optuna's params); the spec uses 'n_params'.",
                DeprecationWarning, stacklevel=4,
            )
            object.__setattr__(self, "name", N_PARAMS)
        hidden = next((i for i, ch in enumerate(self.name) if _hidden(ch)), None)
        if hidden is not None:
            raise refusal(
                "name", func,
                "hold no control or format characters (escapes, bidi overrides such as U+202E, "
                "zero-width or line separators): they change how the name reads where printed",
                f"{self.name!r} (U+{ord(self.name[hidden]):04X} at index {hidden})",
                hint="Name the indicator in plain text.",
            )
        if self.name in RESERVED_NAMES:
            raise refusal(
                "name", func,
                f"not be one of the names effobj records a trial under ({', '.join(RESERVED_NAMES)}): "
                "the cost would overwrite it",
                repr(self.name), hint="Name the indicator after what it measures.",
            )
        ref = check_real(self.ref, "ref", func, low=0.0, low_open=True)
        hi = check_real(self.max, "max", func, low=0.0, allow_none=True)
        w = check_real(self.weight, "weight", func, low=0.0)
        if hi is not None and hi > ref:
            raise refusal(
                "max", f"{func} {self.name!r}",
                f"be at most its 'ref' ({ref:g}): the reference is the largest acceptable cost", f"{hi:g}",
            )
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "max", hi)
        object.__setattr__(self, "weight", w)

    @property
    def c_max(self) -> float:
        """The normalized budget :math:`C_{\\max} = \\text{max} / \\text{ref}` (1 without a budget)."""
        return 1.0 if self.max is None else self.max / self.ref


@dataclasses.dataclass(frozen=True, init=False)
class EfficiencySpec:
    r"""What a deployment target asks for, in raw units; normalizes and scores candidates.

    Args:
        beta2: :math:`\beta^2 \in (0, \infty)`.
        perf_ref: the reference performance (e.g. the best known, 83.1 for 83.1 % top-1), > 0.
        cost_ref: the normalizer of a single cost indicator (> 0); give either this or ``costs``.
        perf_min: the minimum acceptable performance, raw units, ``0 <= perf_min <= perf_ref``.
        cost_max: the single indicator's budget, raw units, ``<= cost_ref``.
        cost_name: the single indicator's name (default ``"cost"``).
        costs: several indicators (:class:`CostIndicator`, or mappings with its fields).
        combine: ``"mean"`` (weighted mean of the normalized costs) or ``"max"``.
        perf_above_ref: what a performance above ``perf_ref`` means: ``"clip"`` (default:
            :math:`A = 1`, the candidate is as good as the reference) or ``"raise"``.

    Example:
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=83.1, cost_ref=4218.0)
        >>> round(spec.score(72.0, 75.0), 2)                  # R(2+1)D in Table 1
        0.92
        >>> spec = EfficiencySpec(perf_ref=0.99, costs=[
        ...     CostIndicator("latency_ms", ref=10.0, max=8.0),
        ...     CostIndicator("peak_activation_bytes", ref=64e6, weight=0.0)])
        >>> spec.constraints(0.95, {"latency_ms": 9.0, "peak_activation_bytes": 1e6})
        {'latency_ms_max': 0.09999999999999998, 'peak_activation_bytes_max': -0.984375}
        >>> spec.score(0.95, {"latency_ms": 9.0, "peak_activation_bytes": 1e6})   # over budget
        0.0
    """

    beta2: float
    perf_ref: float
    costs: tuple[CostIndicator, ...]
    perf_min: float | None
    combine: str
    perf_above_ref: str

    def __init__(
        self,
        beta2: float = 1.0,
        perf_ref: float = 1.0,
        cost_ref: float | None = None,
        *,
        perf_min: float | None = None,
        cost_max: float | None = None,
        cost_name: str = "cost",
        costs: Sequence[CostIndicator | Mapping[str, Any]] | None = None,
        combine: str = "mean",
        perf_above_ref: str = "clip",
    ) -> None:
        func = "EfficiencySpec"
        b = check_real(beta2, "beta2", func, low=0.0, low_open=True)
        ref = check_real(perf_ref, "perf_ref", func, low=0.0, low_open=True)
        pmin = check_real(perf_min, "perf_min", func, low=0.0, allow_none=True)
        if pmin is not None and pmin > ref:
            raise refusal("perf_min", func, f"be at most 'perf_ref' ({ref:g})", f"{pmin:g}")
        if (cost_ref is None) == (costs is None):
            raise InputError(
                f"{func} needs exactly one of 'cost_ref' (a single cost indicator) or 'costs' "
                f"(several). Got cost_ref={cost_ref!r} and costs={costs!r}."
            )
        if costs is None:
            items: tuple[CostIndicator, ...] = (CostIndicator(cost_name, cost_ref, cost_max),)  # type: ignore[arg-type]
        else:
            if cost_max is not None:
                raise refusal(
                    "cost_max", func, "be None with 'costs': it applies to a single indicator",
                    repr(cost_max), hint="Give each CostIndicator its own 'max'.",
                )
            items = tuple(
                c if isinstance(c, CostIndicator) else CostIndicator(**dict(c)) for c in costs
            )
            if not items:
                raise refusal("costs", func, "not be empty", "no indicator")
            names = [c.name for c in items]
            if len(set(names)) != len(names):
                raise refusal("costs", func, "name each indicator once", f"names {names}")
            if max(c.weight for c in items) <= 0.0:
                raise refusal(
                    "costs", func, "have at least one indicator with a positive weight",
                    f"weights {[c.weight for c in items]}",
                )
        check_choice(combine, "combine", func, ("mean", "max"))
        check_choice(perf_above_ref, "perf_above_ref", func, ("clip", "raise"))
        object.__setattr__(self, "beta2", b)
        object.__setattr__(self, "perf_ref", ref)
        object.__setattr__(self, "costs", items)
        object.__setattr__(self, "perf_min", pmin)
        object.__setattr__(self, "combine", combine)
        object.__setattr__(self, "perf_above_ref", perf_above_ref)

    # ------------------------------------------------------------------ properties
    @property
    def cost_names(self) -> tuple[str, ...]:
        """The indicators' names, in order."""
        return tuple(c.name for c in self.costs)

    @property
    def a_min(self) -> float:
        """The normalized performance floor :math:`A_{\\min}`."""
        return 0.0 if self.perf_min is None else self.perf_min / self.perf_ref

    # ------------------------------------------------------------------ normalization
    def normalize_perf(self, perf: Any) -> Any:
        """:math:`A = \\text{perf} / \\text{perf}_{ref}` (clipped to 1 with ``perf_above_ref="clip"``)."""
        arr, scalar = to_numeric(perf, "perf", "EfficiencySpec.normalize")
        check_values(arr, "perf", "EfficiencySpec.normalize", low=0.0,
                     hint="Performance is a non-negative score where higher is better.")
        a = _ratio(arr, self.perf_ref)
        if self.perf_above_ref == "raise":
            check_values(arr, "perf", "EfficiencySpec.normalize", low=0.0, high=self.perf_ref,
                         hint="perf_above_ref='raise' forbids a performance above perf_ref.")
        else:
            a = a.clamp(max=1.0) if is_torch(a) else np.minimum(a, 1.0)
        return float(a) if scalar else a

    def normalize_costs(self, cost: Any) -> dict[str, Any]:
        """Each indicator's :math:`C_i = \\text{cost}_i / \\text{ref}_i`.

        ``cost`` is a number, array or tensor when the spec has one indicator, or a
        mapping from indicator name to value (extra keys are ignored, so a whole
        ``CostReport.indicators()`` can be passed).
        """
        func = "EfficiencySpec.normalize"
        if isinstance(cost, Mapping):
            missing = [n for n in self.cost_names if n not in cost]
            if missing:
                raise refusal(
                    "cost", func, f"give every indicator of the spec {list(self.cost_names)}",
                    f"keys {sorted(cost)}", hint=f"Missing {missing}.",
                )
            raw = {n: cost[n] for n in self.cost_names}
        elif len(self.costs) == 1:
            raw = {self.costs[0].name: cost}
        else:
            raise refusal(
                "cost", func, f"be a mapping of the indicators {list(self.cost_names)} for a spec with several",
                type(cost).__name__, error=InputTypeError,
            )
        out: dict[str, Any] = {}
        for ind in self.costs:
            value = raw[ind.name]
            if value is None:
                raise refusal(ind.name, func, "be a number", "None", hint="Was it measured on this device?")
            arr, scalar = to_numeric(value, ind.name, func)
            check_values(arr, ind.name, func, low=0.0, hint="Costs cannot be negative.")
            c = _ratio(arr, ind.ref)
            out[ind.name] = float(c) if scalar else c
        return out

    def combine_costs(self, c: Mapping[str, Any]) -> Any:
        """The traded-off cost :math:`C` from the normalized indicators."""
        live = [ind for ind in self.costs if ind.weight > 0.0]
        if self.combine == "max" or len(live) == 1:  # one live indicator: C is its C_i
            total = c[live[0].name]
            for ind in live[1:]:
                other = c[ind.name]
                total = total.maximum(other) if is_torch(total) else np.maximum(total, other)
            return total
        # weights scaled by the largest first: their sum cannot overflow (1e308 each)
        top = max(ind.weight for ind in live)
        wsum = sum(ind.weight / top for ind in live)
        total = 0.0
        for ind in live:
            total = total + (ind.weight / top / wsum) * c[ind.name]
        return total

    def normalize(self, perf: Any, cost: Any) -> tuple[Any, Any]:
        """Raw ``(perf, cost)`` to normalized ``(A, C)``; see :meth:`normalize_costs` for ``cost``."""
        return self.normalize_perf(perf), self.combine_costs(self.normalize_costs(cost))

    # ------------------------------------------------------------------ gates
    def _cost_feasible(self, c: Mapping[str, Any]) -> Any:
        ok: Any = True
        for ind in self.costs:
            ok = ok & (c[ind.name] <= ind.c_max)
        return ok

    def cost_constraints(self, cost: Any) -> dict[str, Any]:
        """Each budget as ``{NAME_max: C_i - C_max_i}`` (<= 0 feasible), known before training."""
        c = self.normalize_costs(cost)
        return {f"{ind.name}_max": c[ind.name] - ind.c_max for ind in self.costs}

    def constraints(self, perf: Any, cost: Any) -> dict[str, Any]:
        """Every constraint in Optuna's form (<= 0 feasible), normalized units.

        ``perf_min`` (:math:`A_{\\min} - A`) appears when the spec has a performance floor.
        """
        out: dict[str, Any] = {}
        a = self.normalize_perf(perf)  # checked even without a floor: a NaN is never feasible
        if self.perf_min is not None:
            out["perf_min"] = self.a_min - a
        out.update(self.cost_constraints(cost))
        return out

    def is_feasible(self, perf: Any, cost: Any) -> Any:
        """Whether every gate passes (bool, or a boolean array)."""
        a = self.normalize_perf(perf)
        ok = self._cost_feasible(self.normalize_costs(cost))
        return ok & (a >= self.a_min) if self.perf_min is not None else ok

    # ------------------------------------------------------------------ scores
    def _gates(self, c: Mapping[str, Any]) -> tuple[float, tuple[tuple[Any, float], ...] | None]:
        r"""The cost gates for the dispatcher: ``(c_max, budgets)``.

        One indicator gates the traded-off cost itself, which is its :math:`C_1`
        (:meth:`combine_costs`), so the streamed and fused paths apply; several gate each
        :math:`C_i` (``budgets``).
        """
        if len(self.costs) == 1:
            return self.costs[0].c_max, None
        return 1.0, tuple((c[ind.name], ind.c_max) for ind in self.costs)

    def score(self, perf: Any, cost: Any) -> Any:
        r"""Hard :math:`E_\beta` of raw ``(perf, cost)``, every gate applied."""
        func = "EfficiencySpec.score"
        c = self.normalize_costs(cost)
        a = self.normalize_perf(perf)
        c_max, budgets = self._gates(c)
        p = hard_params(func, self.beta2, self.a_min, c_max)
        return _plain(evaluate(a, self.combine_costs(c), p, func, validate=True, budgets=budgets))

    def upper_bound(self, cost: Any) -> Any:
        r"""The best :math:`E_\beta` reachable at this cost (:math:`A = 1`); 0 if a budget fails."""
        c = self.normalize_costs(cost)
        bound = e_beta_upper_bound(self.combine_costs(c), beta2=self.beta2)
        bound = bound * self._cost_feasible(c)
        return _plain(bound)

    def soft_score(
        self, perf: Any, cost: Any, *, temperature: float = 0.02, leak: float | None = None
    ) -> Any:
        r"""The smooth surrogate of :meth:`score` (see :func:`effobj.soft_e_beta`).

        Every budget and the performance floor get their own smoothstep gate and leak;
        with one cost indicator it is :func:`effobj.soft_e_beta` of the normalized
        ``(A, C)`` (same values, same fast paths).
        """
        func = "EfficiencySpec.soft_score"
        p = soft_params(func, self.beta2, self.a_min, 1.0, temperature, leak)
        c = self.normalize_costs(cost)
        a = self.normalize_perf(perf)
        c_max, budgets = self._gates(c)
        p = dataclasses.replace(p, c_max=c_max)
        return _plain(evaluate(a, self.combine_costs(c), p, func, validate=False, budgets=budgets))

    # ------------------------------------------------------------------ (de)serialization
    def replace(self, **changes: Any) -> EfficiencySpec:
        """A copy with some fields changed: ``beta2``, ``perf_ref``, ``perf_min``, ``combine``,
        ``perf_above_ref``, ``costs``, and for single-indicator specs ``cost_ref``/``cost_max``."""
        fields = self.to_dict()
        if "cost_ref" in changes or "cost_max" in changes:
            if len(self.costs) != 1:
                raise InputError(
                    "EfficiencySpec.replace takes 'cost_ref'/'cost_max' only for a single-indicator "
                    f"spec; this one has {list(self.cost_names)}: pass 'costs' instead."
                )
            one = dict(fields["costs"][0])
            if "cost_ref" in changes:
                one["ref"] = changes.pop("cost_ref")
            if "cost_max" in changes:
                one["max"] = changes.pop("cost_max")
            fields["costs"] = [one]
        unknown = set(changes) - set(fields)
        if unknown:
            raise InputError(
                f"EfficiencySpec.replace got unknown fields {sorted(unknown)}; "
                f"known: {sorted(fields) + ['cost_ref', 'cost_max']}."
            )
        fields.update(changes)
        return EfficiencySpec.from_dict(fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` rebuilds the spec."""
        return {
            "beta2": self.beta2,
            "perf_ref": self.perf_ref,
            "perf_min": self.perf_min,
            "costs": [dataclasses.asdict(c) for c in self.costs],
            "combine": self.combine,
            "perf_above_ref": self.perf_above_ref,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EfficiencySpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            InputError: ``d`` is not a spec's dict (e.g. a malformed spec stored in a
                study by other code); the message names the field.
        """
        func = "EfficiencySpec.from_dict"
        d = dict(check_instance(d, "d", func, Mapping, "a mapping (a spec's to_dict())"))
        for key in ("perf_ref", "costs"):
            if key not in d:
                raise refusal("d", func, f"have a {key!r} field", f"keys {sorted(map(str, d))}")
        costs = d.pop("costs")
        if not isinstance(costs, list | tuple) or not all(
            isinstance(c, Mapping | CostIndicator) for c in costs
        ):
            raise InputError(
                f"The 'costs' field of {func} must be a list of cost indicators' dicts. "
                f"Got {costs!r} instead."
            )
        known = {"name", "ref", "max", "weight"}
        for c in costs:
            if isinstance(c, Mapping) and (set(c) - known or not {"name", "ref"} <= set(c)):
                raise InputError(
                    f"The 'costs' field of {func} must hold dicts with 'name', 'ref' and "
                    f"optionally 'max', 'weight'. Got {dict(c)!r} instead."
                )
        fields = {"beta2", "perf_ref", "perf_min", "combine", "perf_above_ref", "costs"}
        unknown = set(d) - fields
        if unknown:
            raise refusal("d", func, f"have only the fields {sorted(fields)}", f"unknown fields {sorted(map(str, unknown))}")
        try:
            return cls(
                beta2=d.pop("beta2", 1.0),
                perf_ref=d.pop("perf_ref"),
                perf_min=d.pop("perf_min", None),
                costs=costs,
                combine=d.pop("combine", "mean"),
                perf_above_ref=d.pop("perf_above_ref", "clip"),
            )
        except TypeError as exc:  # a field of the wrong type (a string for a number, ...)
            raise InputError(f"{func}: {exc}") from None

    @classmethod
    def for_budget(
        cls,
        budget: float,
        *,
        beta2: float = 1.0,
        perf_ref: float = 1.0,
        perf_min: float | None = None,
        cost_name: str = "cost",
        c_at_budget: float = BUDGET_C,
        perf_above_ref: str = "clip",
    ) -> EfficiencySpec:
        r"""The spec of one cost budget: ``cost_max = budget``, ``cost_ref = budget / c_at_budget``.

        The common case in one argument. A model exactly at the budget is feasible and has
        :math:`C = c_{b}` (``c_at_budget``), so it scores
        :math:`E_\beta = (1+\beta^2) A (1-c_b) / (\beta^2 (1-c_b) + A) > 0`; the gate
        ``cost <= budget``, not the formula, is what excludes a model.

        **The rule,** :math:`c_b = 1/2`, i.e. ``cost_ref = 2 * budget``: with
        :math:`C' = 1 - \text{cost}/\text{cost}_{ref}`, the relative change of the compute
        term per relative change of the cost is

        .. math::

            \frac{d \ln C'}{d \ln \text{cost}} = -\frac{C}{1 - C},

        which is :math:`-1` at the budget exactly when :math:`C = 1/2`: there 1 % more cost
        costs 1 % of :math:`C'` (and less everywhere below the budget). ``cost_ref =
        budget`` (:math:`c_b = 1`) makes it infinite: near the budget :math:`E_\beta
        \approx (1+\beta^2) C'` falls to 0 whatever the performance, so any saving
        outweighs any accuracy and :math:`\beta^2` loses its meaning; :math:`c_b \to 0`
        makes it 0: every feasible model has :math:`C' \approx 1` and the cost no longer
        counts. :math:`1/2` is the neutral point between the two, and puts the budget in
        the middle of the normalized cost scale (feasible models span
        :math:`C' \in [1/2, 1]`). It depends on the metric only, not on any data.

        Args:
            budget: the largest acceptable cost, raw units (> 0); a model above it scores 0.
            beta2, perf_ref, perf_min, cost_name, perf_above_ref: as in :class:`EfficiencySpec`.
            c_at_budget: the normalized cost :math:`C` of a model at the budget, in
                ``(0, 1]`` (default :data:`BUDGET_C` = 1/2); 1 is the paper's literal
                ``cost_ref = budget``, where the model at the budget scores 0.

        Example:
            >>> spec = EfficiencySpec.for_budget(8.0, perf_ref=0.99, cost_name="latency_ms")
            >>> spec.costs[0].ref, spec.costs[0].max
            (16.0, 8.0)
            >>> round(spec.score(0.99, 8.0), 4)       # at the budget: feasible, > 0
            0.6667
            >>> spec.score(0.99, 8.01)                # over it: 0
            0.0
        """
        func = "EfficiencySpec.for_budget"
        b = check_real(budget, "budget", func, low=0.0, low_open=True)
        c = check_real(c_at_budget, "c_at_budget", func, low=0.0, high=1.0, low_open=True)
        if not math.isfinite(b / c):  # cost_ref = budget / c_at_budget must be a float too
            raise refusal(
                "budget", func,
                f"be at most {sys.float_info.max * c:g} with c_at_budget {c:g}: its reference "
                "cost_ref = budget / c_at_budget must be finite", repr(budget),
            )
        return cls(
            beta2=beta2,
            perf_ref=perf_ref,
            cost_ref=b / c,
            perf_min=perf_min,
            cost_max=b,
            cost_name=cost_name,
            perf_above_ref=perf_above_ref,
        )


def check_spec(value: Any, name: str, func: str) -> EfficiencySpec:
    """Check that ``value`` is an :class:`EfficiencySpec` (the one wording of that check).

    Raises:
        InputTypeError: ``... must be an effobj.EfficiencySpec. Got dict instead.``
    """
    return check_instance(value, name, func, EfficiencySpec, "an effobj.EfficiencySpec")
