r"""Gradient architecture search under a latency budget, with :math:`E_\beta` as the loss.

The ``supernet`` space (``effobj.spaces.get("supernet")``) is trained on digits with two
alternating first-order steps per batch, as in DARTS and FBNet: the operations' weights
:math:`w` on a training batch, the architecture parameters :math:`\alpha` on a
validation batch. Its latency is the expected latency under the architecture
distribution, from a per-operator table measured on this machine
(:func:`effobj.cost_models.expected_latency`), times a calibration factor fitted
against end-to-end measurements (:func:`effobj.cost_models.check_table`):

.. math::

    \mathrm{LAT}(\alpha) = s \cdot \Big(\mathrm{LAT}_{\text{fixed}}
        + \sum_l \mathrm{softmax}(\alpha_l/\tau)^\top \mathrm{LAT}_l\Big)

Three losses are offered on the same supernet and budget :math:`T`:

* ``"e_beta"``: :class:`effobj.nn.EBetaLoss` at its defaults (the penalty form: exactly
  :math:`1 - E_\beta(A, \mathrm{LAT}/\mathrm{LAT}_{ref})` up to a margin :math:`\tau` inside
  the budget, a linear penalty with no weight to tune beyond it) with budget
  :math:`C_{\max} = T/\mathrm{LAT}_{ref}` and :math:`A` a performance proxy
  (:func:`effobj.nn.true_class_probability` by default);
* ``"fbnet"``: FBNet / ProxylessNAS, :math:`\alpha\,\mathrm{CE}\,(\log \mathrm{LAT}/\log T)^{\beta}`
  (:func:`effobj.latency_loss`, latency in microseconds so that both logs are positive);
* ``"linear"``: :math:`\mathrm{CE} + \lambda (\mathrm{LAT} - T)/T`.

The first ``warmup_epochs`` train the weights alone with cross-entropy (FBNet's warm-up),
because an untrained supernet's performance proxy says nothing about the operations.
Then the argmax architecture is derived (``space.derive``), built as a plain network,
profiled end to end with :func:`effobj.profiler.profile_model` (a latency over the
budget is measured a second time and the lower median kept: interference from other
processes only adds time) and, if its measured latency is over the budget, *repaired*: the layer whose cheaper candidate saves the most
predicted latency per unit of lost architecture log-probability is switched, and the
network re-measured, until it meets the budget (``repair=True``). The final network is
retrained from scratch with cross-entropy and scored: validation and test accuracy,
measured latency, and the hard :math:`E_\beta` of the test accuracy.

What to do is one :class:`GradientSearchConfig` (the budget, the loss and its
:class:`LossParams`, the :class:`TrainingParams`, the profiler's options), run in stages:
prepare (table, calibration, reachable budget), search, derive and repair, retrain,
score. :func:`gradient_search` also takes the config's fields as flat keywords.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from effobj._validation import check_choice, check_int, check_real, refusal
from effobj.profiler._options import ProfileOptions

__all__ = [
    "DEFAULT_PROFILE",
    "LOSSES",
    "GradientSearchConfig",
    "GradientSearchResult",
    "LossParams",
    "TrainingParams",
    "gradient_search",
]

#: the losses :func:`gradient_search` offers
LOSSES: tuple[str, ...] = ("e_beta", "fbnet", "linear")
_PROXIES = ("true_class_probability", "exp_neg_cross_entropy", "normalized_cross_entropy")


@dataclass
class GradientSearchResult:
    """What :func:`gradient_search` found and measured.

    Attributes:
        loss: the loss that trained the architecture.
        config: the final architecture as a config of the space (after any repair).
        derived_ops: the argmax operations before repair.
        alphas: the trained architecture parameters, one list per layer.
        budget_ms, cost_ref_ms: :math:`T` and the latency normalizer (measured units).
        scale: calibration factor (measured / table prediction).
        predicted_ms: the calibrated table prediction of the final architecture.
        derived_measured_ms: measured latency of the derived architecture, before repair.
        measured_ms: measured latency of the final architecture (median).
        repairs: ``(layer, from_op, to_op)`` switches made to meet the budget.
        meets_budget: ``measured_ms <= budget_ms``.
        val_accuracy, test_accuracy: of the final architecture, retrained from scratch.
        e_beta: hard :math:`E_\\beta` of ``test_accuracy`` and ``measured_ms``.
        cost_report: the profiler's report of the final architecture (``to_dict()``).
        history: per search epoch: mean loss, expected latency (ms), validation proxy.
        search_s, retrain_s: wall times.
    """

    loss: str
    config: dict[str, Any]
    derived_ops: list[str]
    alphas: list[list[float]]
    budget_ms: float
    cost_ref_ms: float
    scale: float
    predicted_ms: float
    derived_measured_ms: float
    measured_ms: float
    repairs: list[tuple[int, str, str]]
    meets_budget: bool
    val_accuracy: float
    test_accuracy: float
    e_beta: float
    cost_report: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    search_s: float = 0.0
    retrain_s: float = 0.0

    @property
    def derived_meets_budget(self) -> bool:
        """Whether the loss alone (before repair) found an architecture within the budget."""
        return self.derived_measured_ms <= self.budget_ms


#: the profiler options of the end-to-end measurements (CPU, one thread, 0.5 s a
#: measurement; always a new measurement: no memory pass, no cache); the latency table and
#: its calibration take its ``device``, ``threads`` and ``max_time_s`` on top of
#: :data:`effobj.cost_models.TABLE_PROFILE`
DEFAULT_PROFILE = ProfileOptions(threads=1, max_time_s=0.5, memory=False, cache=False)


@dataclass(frozen=True)
class LossParams:
    r"""The knobs of the three losses (see the module's math).

    Attributes:
        temperature: :math:`\tau` of the E_beta loss, its margin inside the budget
            (normalized cost units; see :func:`effobj.nn.e_beta_loss`).
        proxy: the performance proxy of the E_beta loss (a function of :mod:`effobj.nn`).
        fbnet_alpha, fbnet_beta: of the FBNet loss.
        linear_lambda: of the linear penalty.
    """

    temperature: float = 0.02
    proxy: str = "true_class_probability"
    fbnet_alpha: float = 0.2
    fbnet_beta: float = 0.6
    linear_lambda: float = 1.0


@dataclass(frozen=True)
class TrainingParams:
    """How the supernet is searched and the final architecture retrained.

    Attributes:
        epochs: search epochs after the warm-up.
        warmup_epochs: epochs training the weights alone with cross-entropy.
        retrain_epochs: epochs retraining the final architecture from scratch
            (AdamW, lr 3e-3, weight decay 1e-4, ``batch_size``).
        batch_size, lr_weights, lr_arch: of the search (Adam for both).
        max_steps_per_epoch: stop each search epoch after this many training batches
            (``None``: the whole training split); a CPU-time knob, the supernet runs every
            candidate on every batch.
        tau, gumbel: of the supernet (softmax temperature; Gumbel-softmax sampling).
    """

    epochs: int = 4
    warmup_epochs: int = 1
    retrain_epochs: int = 6
    batch_size: int = 64
    max_steps_per_epoch: int | None = None
    lr_weights: float = 3e-3
    lr_arch: float = 3e-2
    tau: float = 1.0
    gumbel: bool = False


@dataclass(frozen=True)
class GradientSearchConfig:
    r"""Everything :func:`gradient_search` is asked to do, except the objects it works on.

    Attributes:
        budget_ms: the latency budget :math:`T` of one inference (batch 1 by default, the
            table's batch size), in measured milliseconds on this machine.
        loss: ``"e_beta"``, ``"fbnet"`` or ``"linear"`` (see the module's math).
        beta2: :math:`\beta^2` of the E_beta loss and of the reported score.
        cost_ref_ms: :math:`\mathrm{LAT}_{ref}`, the latency normalizer of :math:`E_\beta`;
            default the calibrated prediction of the slowest architecture.
        scale: calibration factor (measured / table); ``None`` fits it with
            :func:`~effobj.cost_models.check_table` on 4 random architectures.
        statistic: ``"median"`` or ``"ci_high"`` (pessimistic) table entries.
        repair: switch operations until the measured latency meets the budget.
        max_repairs: at most this many switches.
        seed: seeds the supernet, the batches and the retraining.
        loss_params: the losses' knobs (:class:`LossParams`).
        training: the search and retraining schedule (:class:`TrainingParams`).
        profile: the profiler's options (:class:`~effobj.profiler.ProfileOptions`,
            default :data:`DEFAULT_PROFILE`: CPU, one thread, 0.5 s a measurement). The
            end-to-end measurements use them, always with latency and without memory or
            cache (each measurement must be a new one); the table and its calibration take
            ``device``, ``threads`` and ``max_time_s`` on top of
            :data:`~effobj.cost_models.TABLE_PROFILE`.
    """

    budget_ms: float
    loss: str = "e_beta"
    beta2: float = 1.0
    cost_ref_ms: float | None = None
    scale: float | None = None
    statistic: str = "median"
    repair: bool = True
    max_repairs: int = 10
    seed: int = 0
    loss_params: LossParams = field(default_factory=LossParams)
    training: TrainingParams = field(default_factory=TrainingParams)
    profile: ProfileOptions = DEFAULT_PROFILE

    def with_options(self, **options: Any) -> GradientSearchConfig:
        """A copy with fields replaced by flat keywords (:func:`gradient_search`'s options).

        A keyword names a field of this class, of :class:`LossParams` or of
        :class:`TrainingParams`, or one of the profiler's ``device``, ``threads`` and
        ``profile_max_time_s`` (``profile["max_time_s"]``).

        Raises:
            TypeError: an unknown keyword.
        """
        loss_params = _pop_fields(options, LossParams)
        training = _pop_fields(options, TrainingParams)
        profile = {key: options.pop(kw) for kw, key in _PROFILE_KEYWORDS.items() if kw in options}
        unknown = sorted(set(options) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"gradient_search() got unexpected keyword argument(s) {unknown}")
        new = replace(self, **options)
        return replace(
            new,
            loss_params=replace(new.loss_params, **loss_params),
            training=replace(new.training, **training),
            profile=new.profile.replace(**profile) if profile else new.profile,
        )


#: flat keywords of gradient_search -> keys of the profiler options
_PROFILE_KEYWORDS = {"device": "device", "threads": "threads", "profile_max_time_s": "max_time_s"}


def _pop_fields(options: dict[str, Any], cls: type) -> dict[str, Any]:
    """Take out of ``options`` the keywords that are fields of the dataclass ``cls``."""
    return {f.name: options.pop(f.name) for f in fields(cls) if f.name in options}


@dataclass
class _Problem:
    """The objects a search works on, with the budget and the latency calibration."""

    space: Any
    data: Any
    table: Any
    budget: float
    scale: float
    cost_ref: float

    def expected_latency(self, net: Any, statistic: str) -> Any:
        """The calibrated expected latency of the supernet (a differentiable tensor)."""
        from effobj.cost_models import expected_latency

        return self.scale * expected_latency(net, self.table, statistic=statistic)


def gradient_search(
    config: GradientSearchConfig | None = None,
    *,
    table: Any = None,
    space: Any = None,
    data: Any = None,
    **options: Any,
) -> GradientSearchResult:
    r"""Search the supernet under a latency budget and measure what was found.

    Args:
        config: what to do (:class:`GradientSearchConfig`); ``None`` builds one from
            ``options``, which must then give ``budget_ms``.
        table: a :class:`~effobj.cost_models.LatencyTable` of the space on this device;
            ``None`` builds one (a few seconds).
        space: the supernet space; ``None`` is ``effobj.spaces.get("supernet")`` (a name
            is resolved the same way: this is an application, not a library function).
        data: a ``effobj.spaces.data.Dataset``; default digits as 8x8 images.
        **options: flat keywords that replace fields of ``config``
            (:meth:`GradientSearchConfig.with_options`): ``budget_ms``, ``loss``,
            ``beta2``, ``epochs``, ``max_steps_per_epoch``, ``proxy``, ``threads``,
            ``device``, ``profile_max_time_s``, ...

    Returns:
        The :class:`GradientSearchResult`.

    Raises:
        InputError: a bad argument (named), or a budget below the fastest architecture.
        MissingTableEntryError: the table lacks a candidate of the supernet.
        TypeError: no ``budget_ms``, or an unknown keyword.
    """
    if config is None:
        if "budget_ms" not in options:
            raise TypeError("gradient_search() missing required keyword argument: 'budget_ms'")
        config = GradientSearchConfig(budget_ms=options.pop("budget_ms"))
    cfg = config.with_options(**options)
    budget = _checked_budget(cfg)
    problem = _prepare(cfg, budget, table, space, data)
    crit = _loss_fn(cfg, problem)
    t0 = time.perf_counter()
    net, alphas, history = _search(cfg, problem, crit)
    search_s = time.perf_counter() - t0
    arch = _derive_and_repair(cfg, problem, net, alphas)
    t1 = time.perf_counter()
    val_acc, test_acc = _retrain(cfg, problem, arch.config)
    retrain_s = time.perf_counter() - t1
    return _result(cfg, problem, arch, alphas, history, val_acc, test_acc, search_s, retrain_s)


def _checked_budget(cfg: GradientSearchConfig) -> float:
    """Check the arguments that need no space nor table; return the budget."""
    func = "gradient_search"
    check_choice(cfg.loss, "loss", func, LOSSES)
    check_choice(cfg.loss_params.proxy, "proxy", func, _PROXIES)
    budget = check_real(cfg.budget_ms, "budget_ms", func, low=0.0, low_open=True)
    tr = cfg.training
    for name, v in (("epochs", tr.epochs), ("warmup_epochs", tr.warmup_epochs),
                    ("retrain_epochs", tr.retrain_epochs), ("max_repairs", cfg.max_repairs)):
        check_int(v, name, func, low=0)
    check_int(tr.max_steps_per_epoch, "max_steps_per_epoch", func, low=1, allow_none=True)
    return budget


def _table_profile(profile: ProfileOptions) -> ProfileOptions:
    """The profiler options of the latency table and its calibration."""
    from effobj.cost_models import TABLE_PROFILE

    return TABLE_PROFILE.replace(device=profile.device, threads=profile.threads,
                                 max_time_s=profile.max_time_s)


def _prepare(cfg: GradientSearchConfig, budget: float, table: Any, space: Any, data: Any) -> _Problem:
    """Resolve the space, data and table, calibrate, and check the budget is reachable."""
    import effobj.spaces
    from effobj.cost_models import build_latency_table, check_table

    func = "gradient_search"
    if space is None or isinstance(space, str):
        space = effobj.spaces.get(space or "supernet")
    if data is None:
        data = effobj.spaces.load_dataset("digits", layout="image")
    if table is None:
        table = build_latency_table(space, data=data, options=_table_profile(cfg.profile))
    scale = cfg.scale
    if scale is None:
        scale = check_table(table, space, n=4, seed=cfg.seed, data=data,
                            options=_table_profile(cfg.profile)).scale
    s = check_real(scale, "scale", func, low=0.0, low_open=True)
    vecs = table.vectors(statistic=cfg.statistic)
    fastest = s * (table.fixed(cfg.statistic) + sum(min(v) for v in vecs))
    slowest = s * (table.fixed(cfg.statistic) + sum(max(v) for v in vecs))
    if budget < fastest:
        raise refusal("budget_ms", func, "be at least the fastest architecture of the space on this "
                      f"device ({fastest:.4g} ms predicted)", f"{budget:g}")
    ref = slowest if cfg.cost_ref_ms is None else check_real(cfg.cost_ref_ms, "cost_ref_ms", func,
                                                             low=budget)
    return _Problem(space=space, data=data, table=table, budget=budget, scale=s, cost_ref=ref)


#: a loss of (logits, labels, expected latency in ms)
_Criterion = Callable[[Any, Any, Any], Any]


def _loss_fn(cfg: GradientSearchConfig, problem: _Problem) -> _Criterion:
    """The configured loss of (logits, labels, calibrated expected latency)."""
    import torch.nn.functional as F

    from effobj import nn as enn
    from effobj.ratios import latency_loss

    p = cfg.loss_params
    budget = problem.budget
    proxy = getattr(enn, p.proxy)
    if cfg.loss == "e_beta":
        crit = enn.EBetaLoss(beta2=cfg.beta2, c_max=budget / problem.cost_ref,
                             temperature=p.temperature, cost_ref=problem.cost_ref)
        return lambda logits, y, lat: crit(proxy(logits, y), lat)
    if cfg.loss == "fbnet":
        return lambda logits, y, lat: latency_loss(F.cross_entropy(logits, y), lat * 1000.0,
                                                   budget * 1000.0, alpha=p.fbnet_alpha,
                                                   beta=p.fbnet_beta)
    return lambda logits, y, lat: F.cross_entropy(logits, y) + p.linear_lambda * (lat - budget) / budget


def _search(
    cfg: GradientSearchConfig, problem: _Problem, crit: _Criterion
) -> tuple[Any, list[Any], list[dict[str, float]]]:
    """Train the supernet: warm-up epochs, then alternating weight and architecture steps.

    Returns the supernet, its architecture parameters and the per-epoch history.
    """
    import torch

    tr, data, seed = cfg.training, problem.data, cfg.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = problem.space.build_supernet(data, tau=tr.tau, gumbel=tr.gumbel, seed=seed)
        opt_w = torch.optim.Adam(net.weight_parameters(), lr=tr.lr_weights)
        opt_a = torch.optim.Adam(net.arch_parameters(), lr=tr.lr_arch)
        gen = torch.Generator().manual_seed(seed)
        # a table lacking a candidate fails here, not after the warm-up (it draws no random
        # numbers: the expected latency is a deterministic function of the alphas)
        problem.expected_latency(net, cfg.statistic)
        history: list[dict[str, float]] = []
        for epoch in range(tr.warmup_epochs + tr.epochs):
            if epoch < tr.warmup_epochs:
                _warmup_epoch(cfg, problem, net, opt_w, gen)
                continue
            losses = _search_epoch(cfg, problem, crit, net, (opt_w, opt_a), gen)
            history.append(_epoch_record(cfg, problem, net, epoch, losses))
        alphas = [a.detach().clone() for a in net.arch_parameters()]
    return net, alphas, history


def _train_batches(cfg: GradientSearchConfig, problem: _Problem, gen: Any) -> Iterator[tuple[Any, Any]]:
    """The training batches of one search epoch (at most ``max_steps_per_epoch``)."""
    steps = cfg.training.max_steps_per_epoch
    batches = problem.data.batches("train", cfg.training.batch_size, generator=gen)
    for step, batch in enumerate(batches):
        if steps is not None and step >= steps:
            break
        yield batch


def _warmup_epoch(cfg: GradientSearchConfig, problem: _Problem, net: Any, opt_w: Any, gen: Any) -> None:
    """One epoch training the weights alone with cross-entropy."""
    import torch

    net.train()
    ce = torch.nn.CrossEntropyLoss()
    for x, y in _train_batches(cfg, problem, gen):
        _step(opt_w, ce(net(x), y))


def _search_epoch(
    cfg: GradientSearchConfig, problem: _Problem, crit: _Criterion, net: Any,
    optimizers: tuple[Any, Any], gen: Any,
) -> list[float]:
    """One epoch of first-order alternating steps; returns the architecture losses."""
    opt_w, opt_a = optimizers
    net.train()
    val_iter = _cycle(problem.data, "val", cfg.training.batch_size, gen)
    losses: list[float] = []
    for x, y in _train_batches(cfg, problem, gen):
        lat = problem.expected_latency(net, cfg.statistic)
        _step(opt_w, crit(net(x), y, lat.detach()))
        xv, yv = next(val_iter)
        la = crit(net(xv), yv, problem.expected_latency(net, cfg.statistic))
        _step(opt_a, la)
        losses.append(float(la.detach()))
    return losses


def _step(optimizer: Any, loss: Any) -> None:
    """One optimizer step on ``loss``."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _epoch_record(
    cfg: GradientSearchConfig, problem: _Problem, net: Any, epoch: int, losses: list[float]
) -> dict[str, float]:
    """The history entry of a search epoch: mean loss, expected latency, validation proxy."""
    import torch

    from effobj.nn import true_class_probability

    data = problem.data
    with torch.no_grad():
        net.eval()
        pv = float(true_class_probability(net(data.x_val), data.y_val))
        lat_now = float(problem.expected_latency(net, cfg.statistic))
    return {"epoch": float(epoch), "loss": sum(losses) / max(len(losses), 1),
            "expected_latency_ms": lat_now, "val_true_class_probability": pv}


@dataclass
class _Architecture:
    """The derived architecture after any repair, with its measurements."""

    config: dict[str, Any]
    derived_ops: list[str]
    derived_ms: float
    report: Any
    repairs: list[tuple[int, str, str]]


def _derive_and_repair(
    cfg: GradientSearchConfig, problem: _Problem, net: Any, alphas: list[Any]
) -> _Architecture:
    """Derive the argmax architecture, measure it, and switch operations until it fits."""
    space, table = problem.space, problem.table
    config = space.derive(net)
    derived = [config[f"op_{i}"] for i in range(1, len(table.candidate_ops) + 1)]
    report = _confirmed(cfg, problem, config)
    derived_ms = float(report.latency_ms)
    repairs: list[tuple[int, str, str]] = []
    while cfg.repair and float(report.latency_ms) > problem.budget and len(repairs) < cfg.max_repairs:
        step = _cheapest_switch(config, table, alphas, cfg.statistic)
        if step is None:
            break
        layer, _old, new = step
        config[f"op_{layer}"] = new
        repairs.append(step)
        report = _confirmed(cfg, problem, config)
    return _Architecture(config=config, derived_ops=derived, derived_ms=derived_ms, report=report,
                         repairs=repairs)


def _measure(cfg: GradientSearchConfig, problem: _Problem, arch: Mapping[str, Any]) -> Any:
    """Build ``arch`` as a plain network and profile it end to end (a fresh measurement)."""
    from effobj.profiler import profile_model

    space, data = problem.space, problem.data
    model = space.build(arch, data).eval()
    x = space.example_input(arch, data, batch_size=problem.table.batch_size)
    return profile_model(model, x, cfg.profile.replace(latency=True, memory=False, cache=False))


def _confirmed(cfg: GradientSearchConfig, problem: _Problem, arch: Mapping[str, Any]) -> Any:
    """Measure ``arch``; a violation of the budget must be seen twice."""
    # on a shared machine, interference only adds time, so the lower of two medians is the
    # better estimate of the device's own latency
    first = _measure(cfg, problem, arch)
    if float(first.latency_ms) <= problem.budget:
        return first
    second = _measure(cfg, problem, arch)
    return min(first, second, key=lambda r: float(r.latency_ms))


def _retrain(cfg: GradientSearchConfig, problem: _Problem, arch: Mapping[str, Any]) -> tuple[float, float]:
    """Retrain ``arch`` from scratch with cross-entropy; its validation and test accuracy."""
    import torch

    import effobj.spaces

    tr, seed = cfg.training, cfg.seed
    if tr.retrain_epochs <= 0:
        return math.nan, math.nan
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = problem.space.build(arch, problem.data)
    recipe = dict(arch, epochs=tr.retrain_epochs, batch_size=tr.batch_size, lr=3e-3,
                  optimizer="adamw", weight_decay=1e-4)
    result = effobj.spaces.train_classifier(model, recipe, problem.data, seed=seed,
                                            num_threads=cfg.profile.threads)
    return float(result.perf), float(result.test_perf)


def _result(
    cfg: GradientSearchConfig, problem: _Problem, arch: _Architecture, alphas: list[Any],
    history: list[dict[str, float]], val_acc: float, test_acc: float, search_s: float,
    retrain_s: float,
) -> GradientSearchResult:
    """Score the final architecture and assemble the result."""
    from effobj.spec import EfficiencySpec

    budget, ref, s = problem.budget, problem.cost_ref, problem.scale
    measured = float(arch.report.latency_ms)
    spec = EfficiencySpec(beta2=cfg.beta2, perf_ref=1.0, cost_ref=ref, cost_max=budget,
                          cost_name="latency_ms")
    e = float(spec.score(test_acc, measured)) if math.isfinite(test_acc) else math.nan
    return GradientSearchResult(
        loss=cfg.loss, config=dict(arch.config), derived_ops=arch.derived_ops,
        alphas=[a.tolist() for a in alphas], budget_ms=budget, cost_ref_ms=float(ref), scale=float(s),
        predicted_ms=float(s * problem.table.predict(arch.config, cfg.statistic)),
        derived_measured_ms=arch.derived_ms, measured_ms=measured, repairs=arch.repairs,
        meets_budget=measured <= budget, val_accuracy=val_acc, test_accuracy=test_acc, e_beta=e,
        cost_report=arch.report.to_dict(), history=history, search_s=search_s, retrain_s=retrain_s,
    )


def _cycle(data: Any, split: str, batch_size: int, gen: Any) -> Any:
    while True:
        yield from data.batches(split, batch_size, generator=gen)


def _cheapest_switch(
    config: Mapping[str, Any], table: Any, alphas: list[Any], statistic: str
) -> tuple[int, str, str] | None:
    """The switch saving the most predicted latency per unit of lost log-probability."""
    import torch

    best: tuple[float, int, str, str] | None = None
    for layer, (ops, a) in enumerate(zip(table.candidate_ops, alphas, strict=True), start=1):
        logp = torch.log_softmax(a, dim=0)
        cur = str(config[f"op_{layer}"])
        i_cur = ops.index(cur)
        lat_cur = table.lookup(layer, cur).value(statistic)
        for i, op in enumerate(ops):
            saved = lat_cur - table.lookup(layer, op).value(statistic)
            if saved <= 0:
                continue
            lost = max(float(logp[i_cur] - logp[i]), 0.0) + 1e-6
            score = saved / lost
            if best is None or score > best[0]:
                best = (score, layer, cur, op)
    return None if best is None else (best[1], best[2], best[3])
