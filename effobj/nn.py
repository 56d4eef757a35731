r"""torch faces of the metric: thin ``nn.Module`` wrappers over the one dispatcher.

``EBetaScore``, ``SoftEBetaScore`` and :func:`e_beta_loss` go through the same dispatcher
and kernels as :func:`effobj.e_beta` and :func:`effobj.soft_e_beta`
(``effobj._metric.dispatch``; torchmetrics' pattern: the math once, a function face and a
module face), so they check and fail alike. ``SoftEBetaScore(compile=True)`` runs the surrogate
through ``torch.compile`` with :math:`\beta^2`, the budgets and the temperature passed as
0-d tensors, so one compiled graph serves every setting: on 10^7 pairs it fuses the ~25
elementwise steps of forward and backward into one loop each (measured in
``benchmarks/results/metric.md``: about 4x an add's forward+backward, against about 40x
eager). Compiling costs tens of seconds once per process and shape family.

``EBetaLoss`` / :func:`e_beta_loss` turn the metric into a loss to minimize for gradient
training under a cost budget: by default :math:`1 - E_\beta` up to a margin inside the
budget and an exact penalty beyond it (no weight to tune; ``over_budget="gate"`` is the
surrogate's :math:`1 - S_\tau(A, C)`); the performance
proxies :func:`true_class_probability`, :func:`exp_neg_cross_entropy` and
:func:`normalized_cross_entropy` give a differentiable :math:`A \in [0, 1]`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from effobj._metric.dispatch import Params, evaluate, hard_params, soft_params
from effobj._validation import check_broadcast, check_choice, check_real, check_values, refusal
from effobj.errors import InputError, InputTypeError

__all__ = [
    "EBetaLoss",
    "EBetaScore",
    "SoftEBetaScore",
    "e_beta_loss",
    "exp_neg_cross_entropy",
    "normalized_cross_entropy",
    "penalty_slope",
    "penalty_target",
    "true_class_probability",
]


class _MetricModule(nn.Module):
    """Base of the module faces: the checked parameters kept as plain attributes
    (``beta2``, ``a_min``, ``c_max``, and the surrogate's ``temperature`` and ``leak``),
    read back into the dispatcher's :class:`~effobj._metric.dispatch.Params` per call."""

    def _keep(self, p: Params) -> None:
        self.beta2, self.a_min, self.c_max = p.beta2, p.a_min, p.c_max
        if p.tau is not None:
            self.temperature, self.leak = p.tau, p.leak

    def _params(self) -> Params:
        return Params(self.beta2, self.a_min, self.c_max, getattr(self, "temperature", None),
                      getattr(self, "leak", 0.0))

    def extra_repr(self) -> str:
        p = self._params()
        soft = "" if p.tau is None else f", temperature={p.tau}, leak={p.leak}"
        return f"beta2={p.beta2}, a_min={p.a_min}, c_max={p.c_max}{soft}"


class EBetaScore(_MetricModule):
    r"""Hard :math:`E_\beta` as a module: ``forward(a, c) -> E`` (higher is better).

    Args: as :func:`effobj.e_beta`.

    Example:
        >>> m = EBetaScore(beta2=0.5)
        >>> round(float(m(torch.tensor(1.0), torch.tensor(0.9))), 3)
        0.143
    """

    def __init__(
        self, *, beta2: float = 1.0, a_min: float = 0.0, c_max: float = 1.0, validate_args: bool = True
    ) -> None:
        super().__init__()
        self._keep(hard_params("EBetaScore", beta2, a_min, c_max))
        self.validate_args = validate_args

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return evaluate(a, c, self._params(), "EBetaScore", validate=self.validate_args)


class SoftEBetaScore(_MetricModule):
    r"""The smooth surrogate :math:`S_\tau` as a module (see :func:`effobj.soft_e_beta`).

    Args:
        beta2, a_min, c_max, temperature, leak, validate_args: as :func:`effobj.soft_e_beta`.
        compile: run through ``torch.compile`` (one fused loop for forward and one for
            backward; pays off from about 10^5 elements). Kept as the attribute
            ``compiled``: ``compile()`` stays ``nn.Module.compile``, which compiles the
            whole module's forward.

    Example:
        >>> m = SoftEBetaScore(c_max=0.5, temperature=0.05)
        >>> c = torch.tensor([0.7], requires_grad=True)
        >>> m(torch.tensor([0.9]), c).backward()
        >>> float(c.grad)                       # over budget: pushed back with slope -tau
        -0.05000000074505806
    """

    def __init__(
        self,
        *,
        beta2: float = 1.0,
        a_min: float = 0.0,
        c_max: float = 1.0,
        temperature: float = 0.02,
        leak: float | None = None,
        validate_args: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self._keep(soft_params("SoftEBetaScore", beta2, a_min, c_max, temperature, leak))
        self.validate_args = validate_args
        self.compiled = compile

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return evaluate(a, c, self._params(), "SoftEBetaScore", validate=self.validate_args,
                        compiled=self.compiled)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, compile={self.compiled}"


# --------------------------------------------------------------------------- the loss
_PERF_HINT = (
    "The performance proxy is a normalized performance in [0, 1], e.g. "
    "true_class_probability(logits, target) or exp_neg_cross_entropy(logits, target)."
)
_COST_HINT = "A cost is a non-negative finite number (a latency, FLOPs, an expected cost)."
_REDUCTIONS = ("mean", "sum", "none")


_FORMS = ("penalty", "gate")


def _check_loss_params(
    func: str, beta2: Any, a_min: Any, c_max: Any, temperature: Any, leak: Any, cost_ref: Any,
    reduction: Any, over_budget: Any = "penalty",
) -> tuple[Params, float | None]:
    check_choice(over_budget, "over_budget", func, _FORMS)
    p = soft_params(func, beta2, a_min, c_max, temperature, leak)
    if over_budget == "penalty" and leak is None and p.tau is not None:
        p = dataclasses.replace(p, leak=penalty_slope(p.beta2, p.c_max, p.tau))
    ref = check_real(cost_ref, "cost_ref", func, low=0.0, low_open=True, allow_none=True)
    check_choice(reduction, "reduction", func, _REDUCTIONS)
    return p, ref


def penalty_target(c_max: float, temperature: float) -> float:
    r"""Where the penalty form of the loss starts: :math:`t = \max(C_{\max} - \tau, C_{\max}/2)`.

    A margin of :math:`\tau` inside the budget (half the budget if :math:`\tau \ge C_{\max}/2`),
    so that the noise of the last steps does not carry the hard model over the budget."""
    return max(c_max - temperature, 0.5 * c_max)


def penalty_slope(beta2: float, c_max: float, temperature: float) -> float:
    r"""The default over-budget slope :math:`\lambda` of the penalty form: twice the steepest
    slope of :math:`E_\beta` in :math:`C` at the target :math:`t` (:func:`penalty_target`).

    .. math::

        \lambda = 2 \max_{A \in [0, 1]} \Big|\frac{\partial H(A, 1 - C)}{\partial C}\Big|_{C=t}
                = \frac{2 (1 + \beta^2)}{(\beta^2 (1 - t) + 1)^2},
        \qquad H(A, C') = \frac{(1 + \beta^2) A C'}{\beta^2 C' + A}

    (:math:`\partial H/\partial C' = (1 + \beta^2) A^2 / (\beta^2 C' + A)^2` grows with
    :math:`A`). Because the slope exceeds what the metric can pay for any cost at the target,
    moving an over-budget cost back to the target always lowers the loss whatever the
    accuracy (an exact penalty): the budget is a constraint, not a trade-off, and no
    weight needs tuning."""
    t = penalty_target(c_max, temperature)
    return 2.0 * (1.0 + beta2) / (beta2 * (1.0 - t) + 1.0) ** 2


def _as_tensor(x: Any, name: str, func: str, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.dtype.is_floating_point else x.double()
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise refusal(name, func, "be a torch tensor or a real number", type(x).__name__, error=InputTypeError)
    if like is not None:
        return torch.tensor(float(x), dtype=like.dtype, device=like.device)
    return torch.tensor(float(x))


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        if x.numel() == 0:
            raise InputError(
                "The 'perf' and 'cost' parameters of e_beta_loss are empty: a mean over no "
                "element is NaN. Pass a non-empty batch or reduction='sum'."
            )
        return x.mean()
    if reduction == "sum":
        return x.sum()
    return x


def e_beta_loss(
    perf: torch.Tensor | float,
    cost: torch.Tensor | float,
    *,
    beta2: float = 1.0,
    a_min: float = 0.0,
    c_max: float = 1.0,
    temperature: float = 0.02,
    leak: float | None = None,
    cost_ref: float | None = None,
    reduction: str = "mean",
    validate_args: bool = True,
    over_budget: str = "penalty",
) -> torch.Tensor:
    r"""The :math:`E_\beta` of a budget as a loss to minimize, for training under that budget.

    .. math::

        \mathcal{L}(A, C) = 1 - S_\tau\big(A, \min(C, t)\big) + \lambda \max(0, C - t),
        \qquad t = \max(C_{\max} - \tau, C_{\max}/2)

    (``over_budget="penalty"``, the default), or the plain surrogate
    :math:`\mathcal{L} = 1 - S_\tau(A, C)` (``over_budget="gate"``), with :math:`S_\tau`
    the surrogate of :func:`effobj.soft_e_beta` and
    :math:`C = \text{cost}` (already normalized, ``cost_ref=None``) or
    :math:`\text{cost}/\text{cost\_ref}`.

    **The default form (penalty).** Up to the target :math:`t`, a margin :math:`\tau`
    inside the budget, it is exactly :math:`1 - E_\beta(A, C)`. Beyond it the accuracy
    term is held at the target's cost, so its gradient in :math:`A` never vanishes (the
    gated surrogate sets it to 0 over budget: the network unlearns while the cost comes
    back), and the cost pays a linear penalty of slope :math:`\lambda`. ``leak=None``
    takes :math:`\lambda` = :func:`penalty_slope`, twice the steepest slope of
    :math:`E_\beta` at the target: any cost beyond :math:`t` loses more than any accuracy
    can win there, so the loss lands within the budget at every :math:`\beta^2` and
    budget without a weight to tune, and its gradient over budget is the constant
    :math:`\lambda` (an O(1) force, not a leak that an optimizer's moments from a
    warm-up swamp). Guarantees: :math:`\mathcal{L} \ge 0`; non-increasing in :math:`A`;
    non-decreasing in :math:`C`; continuous; finite gradients everywhere; at a fixed
    :math:`A`, :math:`\mathcal{L}(A, C) > \mathcal{L}(A, t)` for every :math:`C > t`.

    **The knobs and when to touch them.** ``temperature`` :math:`\tau` is the margin
    (normalized cost, default 0.02; with :meth:`EfficiencySpec.for_budget
    <effobj.EfficiencySpec.for_budget>` the budget is 0.5, so 4 % of the budget): raise it
    if the final hard model lands just over the budget because its cost is noisy (latency).
    ``leak`` overrides :math:`\lambda`; leave it. ``over_budget="gate"`` restores the
    surrogate (:math:`\mathcal{L} \ge 1 - E_\beta`, exact :math:`\tau` inside the budget,
    over-budget gradient in :math:`C` the leak, default :math:`\tau`) for ranking or
    reproducing earlier results.

    **Cost: raw or normalized.** By default ``cost`` is the normalized :math:`C` (cost over
    the largest acceptable cost, as everywhere in effobj) and ``c_max`` the normalized
    budget; give ``cost_ref`` to pass raw costs (milliseconds, FLOPs) instead, divided
    here. ``c_max`` stays normalized either way. :meth:`EBetaLoss.from_spec` sets both
    from an :class:`~effobj.EfficiencySpec`.

    Args:
        perf: differentiable performance proxy :math:`A \in [0, 1]` (a tensor or number),
            e.g. :func:`true_class_probability`.
        cost: differentiable cost :math:`\ge 0` (normalized, or raw with ``cost_ref``),
            e.g. :func:`effobj.cost_models.expected_latency`. May exceed the budget and 1.
        beta2, a_min, c_max: as in :func:`effobj.e_beta`.
        temperature, leak: as in :func:`effobj.soft_e_beta`.
        cost_ref: the cost normalizer for raw costs, > 0; ``None`` if ``cost`` is normalized.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the broadcast shape.
        validate_args: check ``perf`` in [0, 1] and ``cost`` finite and >= 0 (two
            reductions each); the checks are what keeps a NaN out of the loss.
        over_budget: ``"penalty"`` (default) or ``"gate"`` (see above).

    Returns:
        The loss tensor (0-d unless ``reduction="none"``).

    Raises:
        InputError: a proxy outside [0, 1], a negative, NaN or infinite cost, or a bad
            parameter; the message names it and the value.
        TypeError: an input is neither a tensor nor a number.

    Example:
        >>> a = torch.tensor(0.9, requires_grad=True)
        >>> c = torch.tensor(0.3, requires_grad=True)
        >>> loss = e_beta_loss(a, c, c_max=0.5)
        >>> round(loss.item(), 4)                       # 1 - E(0.9, 0.3) = 1 - 1.26/1.6
        0.2125
        >>> loss.backward(); bool(a.grad < 0), bool(c.grad > 0)
        (True, True)
    """
    func = "e_beta_loss"
    p, ref = _check_loss_params(func, beta2, a_min, c_max, temperature, leak, cost_ref, reduction,
                                over_budget)
    return _loss(perf, cost, p, ref, reduction, validate_args, func, over_budget)


def _loss(
    perf: Any, cost: Any, p: Params, ref: float | None, reduction: str, validate: bool, func: str,
    over_budget: str = "penalty",
) -> torch.Tensor:
    like = perf if isinstance(perf, torch.Tensor) else cost if isinstance(cost, torch.Tensor) else None
    a = _as_tensor(perf, "perf", func, like)
    c = _as_tensor(cost, "cost", func, a)
    if validate:
        check_values(a, "perf", func, low=0.0, high=1.0, hint=_PERF_HINT)
        check_values(c, "cost", func, low=0.0, hint=_COST_HINT)
    if ref is not None:
        c = c / ref
    check_broadcast(a, c, ("perf", "cost"), func)
    if over_budget == "gate":
        return _reduce(1.0 - evaluate(a, c, p, func, validate=False), reduction)
    assert p.tau is not None
    t = penalty_target(p.c_max, p.tau)
    over = c > t  # one-sided at t: the metric's own gradient there, the slope beyond
    s = evaluate(a, torch.where(over, t, c), p, func, validate=False)
    return _reduce(1.0 - s + p.leak * torch.where(over, c - t, 0.0), reduction)


class EBetaLoss(_MetricModule):
    r"""Module face of :func:`e_beta_loss`: ``forward(perf, cost) -> loss`` (penalty form by default).

    Args: as :func:`e_beta_loss`. ``EBetaLoss.from_spec(spec)`` with nothing else set is
    the intended use: the budget, :math:`\beta^2` and the cost's unit come from the spec,
    the margin and the over-budget slope from the defaults (see :func:`e_beta_loss`).

    Example:
        >>> loss_fn = EBetaLoss(c_max=0.5)                # penalty form, margin 0.02
        >>> c = torch.tensor(0.7, requires_grad=True)     # over budget
        >>> loss_fn(torch.tensor(0.9), c).backward()
        >>> round(float(c.grad), 4), round(penalty_slope(1.0, 0.5, 0.02), 4)
        (1.7313, 1.7313)
    """

    def __init__(
        self,
        *,
        beta2: float = 1.0,
        a_min: float = 0.0,
        c_max: float = 1.0,
        temperature: float = 0.02,
        leak: float | None = None,
        cost_ref: float | None = None,
        reduction: str = "mean",
        validate_args: bool = True,
        over_budget: str = "penalty",
    ) -> None:
        super().__init__()
        p, self.cost_ref = _check_loss_params(
            "EBetaLoss", beta2, a_min, c_max, temperature, leak, cost_ref, reduction, over_budget
        )
        self._keep(p)
        self.reduction = reduction
        self.validate_args = validate_args
        self.over_budget = over_budget

    @classmethod
    def from_spec(
        cls, spec: Any, *, temperature: float = 0.02, leak: float | None = None,
        reduction: str = "mean", validate_args: bool = True, over_budget: str = "penalty",
    ) -> EBetaLoss:
        """The loss of a single-indicator :class:`~effobj.EfficiencySpec`, taking raw costs.

        :math:`\\beta^2`, :math:`A_{\\min}` and the budget come from the spec and
        ``cost_ref`` is the indicator's ``ref``, so ``forward(perf, cost)`` takes the cost
        in the spec's unit. ``perf`` is used as :math:`A` directly: a proxy is already
        normalized (divide it by ``spec.perf_ref`` yourself if it is not).

        Raises:
            InputError: the spec has several cost indicators.
        """
        from effobj.spec import check_spec

        func = "EBetaLoss.from_spec"
        spec = check_spec(spec, "spec", func)
        if len(spec.costs) != 1:
            raise refusal("spec", func, "have exactly one cost indicator", repr(list(spec.cost_names)))
        ind = spec.costs[0]
        return cls(beta2=spec.beta2, a_min=spec.a_min, c_max=ind.c_max, temperature=temperature,
                   leak=leak, cost_ref=ind.ref, reduction=reduction, validate_args=validate_args,
                   over_budget=over_budget)

    def forward(self, perf: torch.Tensor | float, cost: torch.Tensor | float) -> torch.Tensor:
        return _loss(perf, cost, self._params(), self.cost_ref, self.reduction, self.validate_args,
                     "EBetaLoss", self.over_budget)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, cost_ref={self.cost_ref}, reduction={self.reduction!r}, "
                f"over_budget={self.over_budget!r}")


# --------------------------------------------------------------------------- proxies
_LOGITS_RULE = "be a 2-d tensor (batch, classes)"


def _check_logits(logits: Any, target: Any, func: str) -> None:
    if not isinstance(logits, torch.Tensor):
        raise refusal("logits", func, _LOGITS_RULE, type(logits).__name__, error=InputTypeError)
    if logits.ndim != 2:
        raise refusal("logits", func, _LOGITS_RULE, f"shape {tuple(logits.shape)}")
    batch, classes = logits.shape
    rule = f"be an integer tensor of shape ({batch},)"
    if not isinstance(target, torch.Tensor):
        raise refusal("target", func, rule, type(target).__name__, error=InputTypeError)
    if target.shape != (batch,) or target.dtype.is_floating_point:
        raise refusal("target", func, rule, f"{str(target.dtype).replace('torch.', '')} of shape {tuple(target.shape)}")
    if classes < 2:
        raise refusal("logits", func, "have at least 2 classes (columns)", f"{classes}")
    if batch == 0:
        raise refusal("logits", func, "hold at least one example", "a batch of 0")
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= classes:
        raise refusal("target", func, f"hold class indices in [0, {classes - 1}]", repr(low if low < 0 else high))
    if logits.dtype.is_floating_point:
        check_values(logits, "logits", func)


def true_class_probability(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean softmax probability of the true class: a proxy of accuracy in [0, 1].

    .. math::

        \hat A = \frac{1}{N} \sum_n p_{n, y_n}, \qquad p_n = \mathrm{softmax}(z_n)

    It is the accuracy of the *stochastic* classifier that draws its answer from
    :math:`p_n`, so it moves with accuracy example by example: raising
    :math:`p_{n,y_n}` (the other classes shrinking in proportion) can turn example
    :math:`n` from wrong to right and never the reverse, and it converges to the accuracy
    as the softmax sharpens. A guarantee: an example with :math:`p_{n,y_n} > 1/2` is
    classified correctly, so :math:`\mathrm{accuracy} \ge 2 \hat A - 1`. Its gradient is
    bounded (:math:`|\partial \hat A/\partial z| \le 1/(4N)`), unlike cross-entropy's.

    Example:
        >>> z = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> round(float(true_class_probability(z, torch.tensor([0, 0]))), 4)
        0.5
    """
    _check_logits(logits, target, "true_class_probability")
    return torch.softmax(logits, dim=1).gather(1, target[:, None]).mean()


def exp_neg_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r""":math:`\exp(-\mathrm{CE})`: the geometric mean of the true-class probabilities.

    .. math::

        \hat A = \exp\Big(-\frac{1}{N}\sum_n -\log p_{n,y_n}\Big)
               = \Big(\prod_n p_{n,y_n}\Big)^{1/N} \in (0, 1]

    A strictly decreasing function of the cross-entropy, so minimizing CE maximizes it;
    by the AM-GM inequality it is at most :func:`true_class_probability`, hence again
    :math:`\mathrm{accuracy} \ge 2 \hat A - 1`. It punishes a confidently wrong example
    more than the arithmetic mean does (one :math:`p \to 0` drives it to 0).

    Example:
        >>> z = torch.zeros(3, 4)                          # uniform guess over 4 classes
        >>> round(float(exp_neg_cross_entropy(z, torch.tensor([0, 1, 2]))), 4)
        0.25
    """
    _check_logits(logits, target, "exp_neg_cross_entropy")
    return torch.exp(-torch.nn.functional.cross_entropy(logits, target))


def normalized_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r""":math:`1 - \mathrm{CE}/\log K`, clipped at 0: 0 at uniform guessing, 1 when perfect.

    .. math::

        \hat A = \max\Big(0,\ 1 - \frac{\mathrm{CE}}{\log K}\Big)

    Decreasing in the cross-entropy, hence as monotone in accuracy as CE itself (CE is the
    log of the inverse geometric mean of the true-class probabilities, see
    :func:`exp_neg_cross_entropy`). Caveat: a model no better than uniform guessing (CE >=
    log K, e.g. at initialization) sits at the clip and gets **no gradient** from this
    proxy; prefer :func:`true_class_probability` or :func:`exp_neg_cross_entropy` to start
    from scratch, or warm up with cross-entropy first.

    Example:
        >>> z = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
        >>> round(float(normalized_cross_entropy(z, torch.tensor([0, 1]))), 4)
        0.9738
    """
    _check_logits(logits, target, "normalized_cross_entropy")
    k = logits.shape[1]
    ce = torch.nn.functional.cross_entropy(logits, target)
    return torch.clamp(1.0 - ce / math.log(k), min=0.0)
