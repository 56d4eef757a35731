"""EBetaLoss and the performance proxies: the surrogate as a loss, never NaN, clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from effobj import EfficiencySpec, e_beta, soft_e_beta
from effobj.errors import InputError, InputTypeError
from effobj.nn import (
    EBetaLoss,
    e_beta_loss,
    exp_neg_cross_entropy,
    normalized_cross_entropy,
    penalty_slope,
    penalty_target,
    true_class_probability,
)

unit = st.floats(0.0, 1.0)
cost = st.floats(0.0, 5.0)


@given(a=unit, c=cost, beta2=st.floats(0.05, 20.0), c_max=st.floats(0.05, 1.0))
@settings(max_examples=80, deadline=None)
def test_loss_is_one_minus_surrogate_with_finite_gradients(a, c, beta2, c_max):
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    loss = e_beta_loss(at, ct, beta2=beta2, c_max=c_max, temperature=0.05, over_budget="gate")
    assert math.isclose(loss.item(), 1.0 - soft_e_beta(a, c, beta2=beta2, c_max=c_max, temperature=0.05),
                        abs_tol=1e-12)
    assert loss.item() >= 0.0
    loss.backward()
    assert math.isfinite(at.grad.item()) and math.isfinite(ct.grad.item())
    assert at.grad.item() <= 1e-12 and ct.grad.item() >= -1e-12  # better A, lower C: lower loss
    if c > c_max:  # over budget: pushed back by the leak, however far
        assert ct.grad.item() == pytest.approx(0.05)


@given(a=st.floats(0.05, 1.0), c=cost, beta2=st.floats(0.05, 20.0), c_max=st.floats(0.05, 1.0))
@settings(max_examples=80, deadline=None)
def test_penalty_form_exact_inside_and_an_exact_penalty_outside(a, c, beta2, c_max):
    """Default form: 1 - E_beta up to the target t; beyond it the accuracy gradient stays and
    the cost gradient is the slope, larger than what any accuracy can win at t."""
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    loss = e_beta_loss(at, ct, beta2=beta2, c_max=c_max)
    loss.backward()
    t = penalty_target(c_max, 0.02)
    lam = penalty_slope(beta2, c_max, 0.02)
    assert math.isfinite(at.grad.item()) and math.isfinite(ct.grad.item())
    assert at.grad.item() <= 1e-12 and ct.grad.item() >= -1e-12
    if c <= t - 0.02:  # inside the margin: the metric itself
        assert loss.item() == pytest.approx(1.0 - e_beta(a, c, beta2=beta2, c_max=c_max), abs=1e-9)
    if c > t:
        assert ct.grad.item() == pytest.approx(lam)  # constant, however far over
        assert at.grad.item() < 0.0                  # the accuracy term still teaches
        at_t = e_beta_loss(torch.tensor(a, dtype=torch.float64), t, beta2=beta2, c_max=c_max).item()
        assert loss.item() - at_t == pytest.approx(lam * (c - t), rel=1e-6, abs=1e-9)
    # exact penalty: the slope is at least twice the metric's steepest slope at t (A = 1)
    a1 = torch.tensor(1.0, dtype=torch.float64)
    c1 = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    e_beta_loss(a1, c1, beta2=beta2, c_max=c_max).backward()
    assert lam >= 2.0 * float(c1.grad) - 1e-9


def _after_warm_adam(over_budget: str) -> tuple[float, float]:
    """(cost, perf) after 300 steps of the loss from a warm-up that drove both up with Adam."""
    w = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    opt = torch.optim.Adam([w], lr=0.01)
    for _ in range(100):  # warm-up: moments built in the other direction (cost up)
        opt.zero_grad()
        (-w.sum()).backward()
        opt.step()
    loss_fn = EBetaLoss(c_max=0.5, over_budget=over_budget)
    for _ in range(300):
        opt.zero_grad()
        loss_fn(torch.sigmoid(w[1]), torch.sigmoid(w[0])).backward()
        opt.step()
    return float(torch.sigmoid(w[0]).detach()), float(torch.sigmoid(w[1]).detach())


def test_penalty_form_brings_the_cost_back_from_a_warm_optimizer_and_keeps_learning():
    """The issue's failure: over budget after a warm-up, Adam's moments swamp a leak of tau and
    the gated accuracy term teaches nothing. The penalty form comes back and keeps learning."""
    cost0 = perf0 = float(torch.sigmoid(torch.tensor(1.0)))  # where the warm-up leaves both
    cost, perf = _after_warm_adam("penalty")
    assert cost <= 0.5 and perf > perf0
    cost_g, perf_g = _after_warm_adam("gate")
    assert cost_g > 0.5 and perf_g < perf0 + 0.05 and cost_g > cost0 - 0.05
    assert "over_budget='gate'" in repr(EBetaLoss(c_max=0.5, over_budget="gate"))


def test_gradcheck_in_the_interior():
    a = torch.tensor([0.3, 0.7, 0.95], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.1, 0.45, 0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, c: e_beta_loss(a, c, beta2=2.0, c_max=0.6, temperature=0.1, reduction="none",
                                 over_budget="gate"), (a, c)
    )


def test_module_function_and_reductions_agree():
    a, c = torch.rand(8, dtype=torch.float64), torch.rand(8, dtype=torch.float64) * 2
    m = EBetaLoss(c_max=0.6, reduction="none")
    none = m(a, c)
    assert none.shape == (8,)
    assert torch.allclose(EBetaLoss(c_max=0.6)(a, c), none.mean())
    assert torch.allclose(EBetaLoss(c_max=0.6, reduction="sum")(a, c), none.sum())
    assert torch.equal(e_beta_loss(a, c, c_max=0.6, reduction="none"), none)


def test_raw_cost_with_cost_ref_and_from_spec():
    spec = EfficiencySpec(beta2=0.5, perf_ref=1.0, cost_ref=20.0, cost_max=10.0, cost_name="latency_ms")
    loss = EBetaLoss.from_spec(spec, temperature=0.05, over_budget="gate")
    assert loss.cost_ref == 20.0 and loss.c_max == 0.5 and loss.beta2 == 0.5
    raw = loss(torch.tensor(0.8), torch.tensor(6.0))
    assert raw.item() == pytest.approx(1.0 - spec.soft_score(0.8, 6.0, temperature=0.05))
    assert raw.item() == pytest.approx(e_beta_loss(0.8, 0.3, beta2=0.5, c_max=0.5, temperature=0.05,
                                                   over_budget="gate").item())
    two = EfficiencySpec(perf_ref=1.0, costs=[{"name": "a", "ref": 1.0}, {"name": "b", "ref": 1.0}])
    with pytest.raises(
        InputError, match=r"'spec' parameter of EBetaLoss.from_spec must have exactly one cost indicator\. Got \['a', 'b'\]"
    ):
        EBetaLoss.from_spec(two)
    with pytest.raises(InputTypeError, match=r"'spec' parameter of EBetaLoss.from_spec must be an effobj.EfficiencySpec\. Got dict"):
        EBetaLoss.from_spec(spec.to_dict())


@pytest.mark.parametrize(
    ("perf", "cost", "match"),
    [
        (1.2, 0.5, r"'perf' parameter of e_beta_loss must be finite and in \[0, 1\]. Got 1.2"),
        (-0.1, 0.5, r"'perf' parameter .* Got -0.1"),
        (float("nan"), 0.5, r"'perf' parameter .* Got nan"),
        (0.5, -1.0, r"'cost' parameter of e_beta_loss must be finite and in \[0, inf\)\. Got -1.0"),
        (0.5, float("nan"), r"'cost' parameter .* Got nan"),
        (0.5, float("inf"), r"'cost' parameter .* Got inf"),
    ],
)
def test_bad_values_are_named_never_nan(perf, cost, match):
    with pytest.raises(InputError, match=match):
        e_beta_loss(torch.tensor(perf), torch.tensor(cost))
    with pytest.raises(InputError, match=match.replace("e_beta_loss", "EBetaLoss")):
        EBetaLoss()(torch.tensor([0.5, perf]), torch.tensor([0.1, cost]))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(beta2=0.0), "'beta2'"),
        (dict(c_max=1.5), "'c_max'"),
        (dict(temperature=0.0), "'temperature'"),
        (dict(leak=-1.0), "'leak'"),
        (dict(cost_ref=0.0), "'cost_ref'"),
        (dict(reduction="avg"), "'reduction'"),
        (dict(over_budget="clip"), "'over_budget'"),
    ],
)
def test_bad_parameters(kw, match):
    with pytest.raises(InputError, match=match):
        EBetaLoss(**kw)
    with pytest.raises(InputError, match=match):
        e_beta_loss(0.5, 0.5, **kw)


def test_edge_points_are_finite():
    a = torch.tensor([0.0, 0.0, 1.0, 0.5], requires_grad=True)
    c = torch.tensor([1.0, 0.0, 3.0, 1.0], requires_grad=True)
    loss = e_beta_loss(a, c, reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(c.grad).all()
    with pytest.raises(InputError, match="broadcast"):
        e_beta_loss(torch.rand(3), torch.rand(2))
    with pytest.raises(TypeError, match="'cost'"):
        e_beta_loss(0.5, "0.5")


@given(
    logits=st.lists(st.lists(st.floats(-5, 5), min_size=3, max_size=3), min_size=1, max_size=6),
    bump=st.floats(0.01, 3.0),
    seed=st.integers(0, 10),
)
@settings(max_examples=60, deadline=None)
def test_proxies_in_unit_interval_and_monotone_in_true_logit(logits, bump, seed):
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.randint(0, 3, (z.shape[0],), generator=torch.Generator().manual_seed(seed))
    z2 = z.clone()
    z2[torch.arange(len(y)), y] += bump  # the true class becomes more likely
    acc = (z.argmax(1) == y).double().mean().item()
    for proxy in (true_class_probability, exp_neg_cross_entropy, normalized_cross_entropy):
        p, p2 = proxy(z, y).item(), proxy(z2, y).item()
        assert 0.0 <= p <= 1.0
        assert p2 >= p - 1e-12
    # the guarantee: accuracy >= 2 * proxy - 1, and exp(-CE) <= mean true-class probability
    assert acc >= 2 * true_class_probability(z, y).item() - 1 - 1e-12
    assert exp_neg_cross_entropy(z, y).item() <= true_class_probability(z, y).item() + 1e-12


def test_proxy_shape_errors():
    with pytest.raises(InputError, match="'logits' parameter of true_class_probability"):
        true_class_probability(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(InputError, match="'target' parameter of exp_neg_cross_entropy"):
        exp_neg_cross_entropy(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))


_LONG = torch.long
_NAN_LOGITS = torch.zeros(3, 2).index_put_((torch.tensor([1]), torch.tensor([0])), torch.tensor(float("nan")))


@pytest.mark.parametrize(
    "logits,target,error,match",
    [
        ([[0.0, 1.0]], torch.zeros(1, dtype=_LONG), InputTypeError,
         r"'logits' parameter of true_class_probability must be a 2-d tensor \(batch, classes\)\. Got list instead"),
        (torch.zeros(3), torch.zeros(3, dtype=_LONG), InputError,
         r"'logits' parameter of true_class_probability must be a 2-d tensor \(batch, classes\)\. Got shape \(3,\) instead"),
        (torch.zeros(3, 2), [0, 1, 1], InputTypeError,
         r"'target' parameter of true_class_probability must be an integer tensor of shape \(3,\)\. Got list instead"),
        (torch.zeros(3, 2), torch.zeros(3), InputError,
         r"'target' parameter of true_class_probability must be an integer tensor of shape \(3,\)\. Got float32 of shape \(3,\)"),
        (torch.zeros(3, 1), torch.zeros(3, dtype=_LONG), InputError,
         r"'logits' parameter of true_class_probability must have at least 2 classes \(columns\)\. Got 1 instead"),
        (torch.zeros(0, 2), torch.zeros(0, dtype=_LONG), InputError,
         r"'logits' parameter of true_class_probability must hold at least one example\. Got a batch of 0"),
        (torch.zeros(3, 2), torch.tensor([0, 2, 1]), InputError,
         r"'target' parameter of true_class_probability must hold class indices in \[0, 1\]\. Got 2 instead"),
        (torch.zeros(3, 2), torch.tensor([0, -1, 1]), InputError,
         r"'target' parameter of true_class_probability must hold class indices in \[0, 1\]\. Got -1 instead"),
        (_NAN_LOGITS, torch.tensor([0, 1, 1]), InputError,
         r"'logits' parameter of true_class_probability must be finite\. Got nan at index \(1, 0\) instead"),
    ],
)
def test_proxy_refusals_name_parameter_rule_and_value(logits, target, error, match):
    with pytest.raises(error, match=match):
        true_class_probability(logits, target)
