"""Latency tables, expected supernet cost and gated FLOPs, on the real supernet space."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import effobj.spaces
from effobj.cost_models import (
    GatedLayer,
    LatencyTable,
    MissingTableEntryError,
    architecture_distribution,
    build_latency_table,
    check_table,
    expected_cost,
    expected_latency,
    gated_flops,
    gated_layers,
)
from effobj.errors import FileFormatError, InputError
from effobj.spaces import flop_counter_mode


@pytest.fixture(scope="module")
def space():
    return effobj.spaces.get("supernet")


@pytest.fixture(scope="module")
def net(space):
    return space.build_supernet(tau=1.0)


@pytest.fixture(scope="module")
def table(space, net):
    return build_latency_table(space, supernet=net, max_time_s=0.02, target_rel_spread=0.2, threads=1)


def test_table_has_every_candidate_with_its_spread(table, space):
    assert table.candidate_ops == [list(o) for o in space.candidate_ops]
    n = sum(len(o) for o in table.candidate_ops)
    assert len(table.entries) == n + 2  # plus stem and head
    for key, e in table.entries.items():
        assert e.median_ms > 0 and e.iqr_ms >= 0 and e.samples >= 1, key
        if e.ci95_ms is not None:
            assert e.ci95_ms[0] <= e.median_ms <= e.ci95_ms[1]
            assert e.value("ci_high") >= e.value("median") >= e.value("ci_low")
    # the input each op was timed on is the one it sees in the network
    assert table.entries["1:mb3_e1"].input_shape == (1, 16, 8, 8)
    assert table.entries["3:mb3_e1"].input_shape == (1, 24, 4, 4)
    assert table.device["device"] == "cpu" and table.device["threads"] == 1


def test_json_round_trip_and_bad_files(table, tmp_path):
    path = tmp_path / "t.json"
    table.save(path)
    back = LatencyTable.load(path)
    assert back == table
    path.write_text('{"format": "something else"}')
    with pytest.raises(FileFormatError, match="effobj-latency-table/1"):
        LatencyTable.load(path)
    path.write_text("not json")
    with pytest.raises(FileFormatError, match="not JSON"):
        LatencyTable.load(path)


def test_missing_entry_is_a_clear_error(table, net):
    broken = LatencyTable(table.space, table.device, table.batch_size, table.candidate_ops,
                          {k: v for k, v in table.entries.items() if k != "2:mb5_e6"})
    with pytest.raises(MissingTableEntryError, match=r"operation 'mb5_e6' of layer 2 \(key '2:mb5_e6'\)"):
        broken.predict(["mb3_e1", "mb5_e6", "mb3_e1", "mb3_e1", "mb3_e1"])
    with pytest.raises(MissingTableEntryError, match="'mb5_e6' of layer 2"):
        expected_latency(net, broken)
    with pytest.raises(InputError, match="one op per searchable layer"):
        table.predict(["mb3_e1"])
    assert isinstance(MissingTableEntryError("x"), InputError)


def test_expected_latency_is_exact_at_one_hot_and_differentiable(table, net):
    chosen = [ops[-1] for ops in net.candidate_ops]
    with torch.no_grad():
        for a, ops in zip(net.alphas, net.candidate_ops, strict=True):
            a.zero_()
            a[len(ops) - 1] = 60.0  # softmax is one-hot to float precision
    lat = expected_latency(net, table)
    assert lat.item() == pytest.approx(table.predict(chosen), rel=1e-5)
    assert expected_latency(net, table, statistic="ci_high").item() >= lat.item() - 1e-9
    # uniform distribution: the mean of each layer's entries
    with torch.no_grad():
        for a in net.alphas:
            a.zero_()
    lat = expected_latency(net, table)
    vecs = table.vectors()
    assert lat.item() == pytest.approx(table.fixed() + sum(sum(v) / len(v) for v in vecs), rel=1e-5)
    lat.backward()
    assert all(a.grad is not None and torch.isfinite(a.grad).all() for a in net.alphas)
    # Gumbel supernets: the categorical softmax(alpha), not softmax(alpha / tau)
    net.tau, net.gumbel = 0.5, True
    try:
        with torch.no_grad():
            net.alphas[0][0] = 1.0
        p = architecture_distribution(net)[0]
        assert torch.allclose(p, torch.softmax(net.alphas[0].detach(), 0))
    finally:
        net.tau, net.gumbel = 1.0, False
    with pytest.raises(InputError, match="Layer 1 has 2 architecture weights but 3 cost entries"):
        expected_cost([torch.ones(2)], [[1.0, 2.0, 3.0]])


def test_check_table_reports_errors_against_end_to_end(table, space):
    chk = check_table(table, space, n=3, threads=1, max_time_s=0.05, target_rel_spread=0.2)
    assert len(chk.configs) == 3 and len(chk.measured_ms) == 3
    for p, m, e in zip(chk.predicted_ms, chk.measured_ms, chk.rel_errors, strict=True):
        assert e == pytest.approx((p - m) / m)
    assert chk.max_abs_rel_error >= chk.mean_abs_rel_error >= 0
    assert chk.scale > 0 and "architectures" in chk.to_text()


def _chain() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        nn.Conv2d(8, 12, 1, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5),
    )


def _slim(keep1: int, keep3: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, keep1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(keep1, keep1, 3, padding=1, groups=keep1),
        nn.Conv2d(keep1, keep3, 1, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(keep3, 5),
    )


@pytest.mark.parametrize(("keep1", "keep3"), [(8, 12), (3, 7), (1, 1)])
def test_gated_flops_with_hard_gates_match_flop_counter(keep1, keep3):
    x = torch.randn(2, 3, 8, 8)
    layers = gated_layers(_chain(), x)
    assert [ly.depthwise for ly in layers] == [False, True, False, False]
    g1 = torch.tensor([1.0] * keep1 + [0.0] * (8 - keep1))
    g3 = torch.tensor([1.0] * keep3 + [0.0] * (12 - keep3))
    with flop_counter_mode() as counter:
        _slim(keep1, keep3)(x)
    assert gated_flops(layers, [g1, None, g3, None]).item() == counter.get_total_flops()


def test_gated_flops_gradients_and_errors():
    layers = gated_layers(_chain(), torch.randn(1, 3, 8, 8))
    logits = torch.zeros(8, requires_grad=True)
    f = gated_flops(layers, [torch.sigmoid(logits), None, None, None])
    f.backward()
    assert (logits.grad > 0).all()  # every channel costs FLOPs
    assert math.isfinite(f.item())
    with pytest.raises(InputError, match="one entry per layer \\(4\\)"):
        gated_flops(layers, [None])
    with pytest.raises(InputError, match="depthwise layer '2'"):
        gated_flops(layers, [None, torch.ones(8), None, None])
    with pytest.raises(InputError, match=r"shape \(8,\)"):
        gated_flops(layers, [torch.ones(3), None, None, None])
    with pytest.raises(InputError, match="'gates' parameter of gated_flops must be finite and in \\[0, 1\\]. Got nan"):
        gated_flops(layers, [torch.full((8,), float("nan")), None, None, None])
    assert GatedLayer("x", 1, 1, 1, 1).groups == 1


def test_library_functions_take_space_objects_and_one_options_object(table, space, net):
    from effobj.cost_models import TABLE_PROFILE
    from effobj.profiler import ProfileOptions

    with pytest.raises(TypeError, match=r"'space' parameter of build_latency_table must be a search space object"):
        build_latency_table("supernet", supernet=net)
    with pytest.raises(TypeError, match=r"'space' parameter of check_table .*effobj.spaces.get\('supernet'\)"):
        check_table(table, "supernet")
    with pytest.raises(InputError, match="'latency' parameter of check_table must be True"):
        check_table(table, space, latency=False)
    with pytest.raises(InputError, match=r"'n' parameter of check_table must be an int in the range \[1, inf\). Got 0"):
        check_table(table, space, n=0)
    with pytest.raises(InputError, match=r"'batch_size' parameter of build_latency_table must be an int in the range \[1, inf\). Got 0"):
        build_latency_table(space, supernet=net, batch_size=0)
    with pytest.raises(InputError, match="'max_time_s' parameter of build_latency_table"):
        build_latency_table(space, supernet=net, max_time_s=0)
    assert (TABLE_PROFILE.memory, TABLE_PROFILE.cache, TABLE_PROFILE.max_time_s) == (False, False, 0.5)
    quick = TABLE_PROFILE.replace(threads=1, max_time_s=0.02, target_rel_spread=0.2)
    chk = check_table(table, space, configs=[space.default_config()], options=quick)
    assert len(chk.measured_ms) == 1 and chk.measured_ms[0] > 0
    assert isinstance(quick, ProfileOptions)
