"""Registry, protocol, RL encoding, FLOP counting corrections and the supernet."""

from __future__ import annotations

import math
import subprocess
import sys

import optuna
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import effobj.spaces
from effobj.errors import InputError
from effobj.spaces import SearchSpace

ALL = ("mlp", "mobilenet", "transformer", "supernet", "nas-bench-graph:cora", "nas-bench-graph:proteins")


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, effobj.spaces; s = effobj.spaces.get('nas-bench-graph:cora'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_lists_gets_and_rejects() -> None:
    assert effobj.spaces.names()[:4] == ["mlp", "mobilenet", "transformer", "supernet"]
    for name in effobj.spaces.names():
        space = effobj.spaces.get(name)
        assert isinstance(space, SearchSpace) and space.name == name
    with pytest.raises(InputError, match="'name' parameter of effobj.spaces.get must be one of .*Got 'resnet'"):
        effobj.spaces.get("resnet")
    with pytest.raises(InputError, match="registered already"):
        effobj.spaces.register("mlp", effobj.spaces.MLPSpace)
    with pytest.raises(TypeError, match="'factory'"):
        effobj.spaces.register("thing", 3)


def test_a_users_own_space_can_be_registered() -> None:
    class Tiny(effobj.spaces.ModelSpace):
        name = "tiny-user"
        default_dataset = "wine"
        layouts = ("flat",)
        params = (effobj.spaces.Int("hidden", 2, 8), *effobj.spaces.training_params(epochs=(1, 2)))

        def _build(self, config, info):
            return torch.nn.Sequential(
                torch.nn.Linear(info.input_shape[0], config["hidden"]),
                torch.nn.ReLU(),
                torch.nn.Linear(config["hidden"], info.num_classes),
            )

    effobj.spaces.register("tiny-user", Tiny)
    try:
        space = effobj.spaces.get("tiny-user")
        config = space.suggest(optuna.create_study().ask())
        data = effobj.spaces.load_dataset("wine")
        result = space.train(space.build(config, data), config, data)
        assert result.epochs_run == config["epochs"] and 0 <= result.perf <= 1
        effobj.spaces.register("tiny-user", Tiny(), replace=True)  # an instance works too
        assert effobj.spaces.get("tiny-user").name == "tiny-user"
    finally:
        effobj.spaces.unregister("tiny-user")
    assert "tiny-user" not in effobj.spaces.names()


@pytest.mark.parametrize("name", ALL)
def test_encode_decode_round_trips(name: str) -> None:
    space = effobj.spaces.get(name)
    enc = space.encoding()
    assert [k for k, _ in enc] == list(space.default_config())
    assert all(len(choices) >= 2 for _, choices in enc)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(20):
        config = space.suggest(study.ask())
        try:
            idx = space.encode(config)
        except InputError:  # all-skip GNN, not in the benchmark
            continue
        decoded = space.decode(idx)
        assert space.encode(decoded) == idx
        for key, choices in enc:
            value = config[key]
            if isinstance(value, float) and not isinstance(choices[0], str):
                # a continuous value goes to its nearest grid point (in log space if log-scaled)
                log = key in ("lr", "weight_decay")
                dist = [abs(math.log(c / value)) if log else abs(c - value) for c in choices]
                assert decoded[key] == choices[dist.index(min(dist))]
            else:
                assert decoded[key] == value


@given(data=st.data())
def test_decode_of_any_index_vector_is_a_valid_config(data: st.DataObject) -> None:
    space = effobj.spaces.get("mobilenet")
    idx = [data.draw(st.integers(0, len(c) - 1)) for _, c in space.encoding()]
    config = space.decode(idx)
    space.validate(config)
    assert space.encode(config) == idx


def test_decode_rejects_bad_indices() -> None:
    space = effobj.spaces.get("mlp")
    n = len(space.encoding())
    with pytest.raises(InputError, match=f"one index per parameter \\({n}\\). Got {n - 1}"):
        space.decode([0] * (n - 1))
    with pytest.raises(InputError, match="'indices' parameter of the 'mlp' search space \\(the index of 'depth'\\) must be an int in the range \\[0, 3\\]. Got 4 instead"):
        space.decode([4] + [0] * (n - 1))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_sampler_can_drive_a_space() -> None:
    space = effobj.spaces.get("supernet")
    for sampler in (
        optuna.samplers.TPESampler(seed=0),
        optuna.samplers.NSGAIISampler(seed=0),
        optuna.samplers.QMCSampler(seed=0, warn_independent_sampling=False),
        optuna.samplers.RandomSampler(seed=0),
    ):
        study = optuna.create_study(sampler=sampler)
        for i in range(3):
            trial = study.ask()
            config = space.suggest(trial)
            space.validate(config)
            study.tell(trial, float(i))


# -- supernet ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet():
    space = effobj.spaces.get("supernet")
    return space, space.build_supernet()


def test_supernet_parameters_split_and_candidates(supernet) -> None:
    space, net = supernet
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert [a.numel() for a in arch] == [len(ops) for ops in space.candidate_ops]
    assert sum(p.numel() for p in arch) + sum(p.numel() for p in weights) == sum(
        p.numel() for p in net.parameters()
    )
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    assert "skip" not in space.candidate_ops[1]  # layer 2 downsamples
    out = net(space.example_input(space.default_config(), batch_size=2)[0])
    assert out.shape == (2, 10)


def test_supernet_expected_cost_is_differentiable_and_exact_at_one_hot(supernet) -> None:
    space, net = supernet
    cost = net.expected_cost("flops")
    cost.backward()
    assert all(a.grad is not None and torch.isfinite(a.grad).all() for a in net.arch_parameters())
    net.zero_grad()
    # with one-hot (very peaked) weights the expected cost is that of the derived plain net
    from effobj.spaces import flop_counter_mode

    with torch.no_grad():
        saved = [a.clone() for a in net.alphas]
        for a in net.alphas:
            a.zero_()
            a[0] = 100.0
    try:
        config = space.derive(net)
        assert all(config[f"op_{i}"] == "mb3_e1" for i in range(1, 6))
        plain = space.build(config).eval()
        with flop_counter_mode() as counter, torch.no_grad():
            plain(space.example_input(config)[0])
        assert net.expected_cost("flops").item() == pytest.approx(counter.get_total_flops(), rel=1e-4)
        assert net.expected_cost("n_params").item() == pytest.approx(
            sum(p.numel() for p in plain.parameters()), rel=1e-4
        )
    finally:
        with torch.no_grad():
            for a, s in zip(net.alphas, saved, strict=True):
                a.copy_(s)


def test_derive_from_alphas_and_bad_alphas() -> None:
    space = effobj.spaces.get("supernet")
    alphas = [[0.0] * len(ops) for ops in space.candidate_ops]
    alphas[2][-1] = 1.0  # skip
    config = space.derive({"alphas": alphas, "lr": 0.01})
    assert config["op_3"] == "skip" and config["op_1"] == "mb3_e1" and config["lr"] == 0.01
    space.build(config)
    with pytest.raises(InputError, match="one weight per candidate"):
        space.derive({"alphas": alphas[:2]})


def test_supernet_trains_arch_and_weights(supernet) -> None:
    space, net = supernet
    data = effobj.spaces.load_dataset("digits")
    tiny = effobj.spaces.Dataset.from_tensors(
        data.x_train[:64], data.y_train[:64], data.x_val[:64], data.y_val[:64], num_classes=10
    )
    before = [a.detach().clone() for a in net.alphas]
    config = {**space.default_config(), "epochs": 2, "batch_size": 64}
    result = space.train(net, config, tiny)
    assert result.epochs_run == 2 and result.train_flops > 0
    assert any(not torch.equal(a, b) for a, b in zip(net.alphas, before, strict=True))
    assert space.validate(space.derive(net)) is None


def test_extract_inherits_the_supernets_weights(supernet) -> None:
    space, net = supernet
    config = space.derive(net)
    plain = space.extract(net).eval()
    net.eval()
    x = space.example_input(config, batch_size=4)[0]
    with torch.no_grad():
        # with the chosen op weighted ~1 everywhere, the supernet computes the plain net
        saved = [a.clone() for a in net.alphas]
        for i, (a, ops) in enumerate(zip(net.alphas, net.candidate_ops, strict=True), start=1):
            a.fill_(-1e4)
            a[ops.index(config[f"op_{i}"])] = 0.0
        try:
            assert torch.allclose(net(x), plain(x), atol=1e-5)
        finally:
            for a, s in zip(net.alphas, saved, strict=True):
                a.copy_(s)
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in net.weight_parameters())
    with torch.no_grad():
        next(plain.parameters()).add_(1.0)  # no shared storage
    assert not torch.equal(next(plain.parameters()), next(net.parameters()))


def test_epochs_are_the_fidelity_of_the_model_spaces_not_a_searched_parameter():
    import optuna

    for name in ("mlp", "mobilenet", "transformer"):
        space = effobj.spaces.get(name)
        assert space.fidelity == "epochs"
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        config = space.suggest(trial)
        top = next(p for p in space.params if p.key == "epochs").grid()[-1]
        assert config["epochs"] == top and "epochs" not in trial.params
        space.validate(config)
    # a space without a fidelity searches every parameter
    class Plain(effobj.spaces.MLPSpace):
        fidelity = None

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    Plain().suggest(trial)
    assert "epochs" in trial.params
