"""Every model space builds, runs and profiles 30 sampled configs; training is deterministic."""

from __future__ import annotations

import math

import optuna
import pytest
import torch

import effobj.spaces
from effobj.errors import InputError
from effobj.spaces.data import Dataset, load_dataset

MODEL_SPACES = ("mlp", "mobilenet", "transformer", "supernet")


def sampled_configs(space, n: int = 30, seed: int = 0) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.suggest(study.ask()) for _ in range(n)]


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def tiny_digits(digits: Dataset) -> Dataset:
    """200 training images: enough for a 1-2 epoch determinism check in well under a second."""
    return Dataset.from_tensors(
        digits.x_train[:200], digits.y_train[:200], digits.x_val[:100], digits.y_val[:100],
        digits.x_test[:100], digits.y_test[:100], name="tiny_digits", num_classes=10,
    )


@pytest.mark.parametrize("name", MODEL_SPACES)
def test_thirty_sampled_configs_build_and_run(name: str) -> None:
    space = effobj.spaces.get(name)
    assert space.kind == "model"
    configs = sampled_configs(space)
    assert len({space.describe(c) for c in configs}) > 20  # the sampler explores
    info = effobj.spaces.data.DATASETS[space.default_dataset]
    for config in configs:
        space.validate(config)
        model = space.build(config)
        (x,) = space.example_input(config, batch_size=3)
        assert tuple(x.shape) == (3, *info.input_shape)
        model.eval()
        with torch.no_grad():
            out = model(x)
        assert out.shape == (3, info.num_classes)
        assert torch.isfinite(out).all()
        assert model.input_shape == info.input_shape


@pytest.mark.parametrize("name", MODEL_SPACES)
def test_param_counts_agree_with_the_profiler(name: str) -> None:
    from effobj import profiler  # a missing profiler must fail this test, not skip it
    space = effobj.spaces.get(name)
    for config in sampled_configs(space, n=4, seed=1):
        model = space.build(config)
        report = profiler.profile_model(
            model, space.example_input(config), latency=False, cache=False
        )
        assert int(report.params) == numel(model)


def test_build_is_seeded_and_leaves_global_rng_alone() -> None:
    space = effobj.spaces.get("transformer")
    config = space.default_config()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = space.build(config, seed=7)
    after = torch.rand(1)
    b = space.build(config, seed=7)
    c = space.build(config, seed=8)
    assert torch.equal(before, after)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_mobilenet_resolution_and_width_change_the_model() -> None:
    space = effobj.spaces.get("mobilenet")
    base = space.default_config()
    small = space.build({**base, "width_mult": 0.5})
    large = space.build({**base, "width_mult": 1.0})
    assert numel(small) < numel(large)
    native = space.build({**base, "resolution": 8})
    upsampled = space.build({**base, "resolution": 16})
    assert numel(native) == numel(upsampled)  # resolution costs compute, not weights
    assert not any(type(m).__name__ == "Resize" for m in native.modules())
    assert any(type(m).__name__ == "Resize" for m in upsampled.modules())


def test_transformer_runs_on_flat_features() -> None:
    space = effobj.spaces.get("transformer")
    wine = load_dataset("wine")
    config = {**space.default_config(), "patch": 4}  # 13 features -> 4 tokens (padded)
    model = space.build(config, wine)
    assert model.tokens.num_tokens == 4
    assert model(wine.x_val).shape == (len(wine.y_val), 3)


@pytest.mark.parametrize("name", ["mobilenet", "transformer"])
def test_training_is_deterministic_under_a_seed(name: str, tiny_digits: Dataset) -> None:
    space = effobj.spaces.get(name)
    config = {**space.default_config(), "epochs": 2, "batch_size": 64}
    if name == "mobilenet":
        config.update(resolution=8, width_mult=0.5, depth_1=1, depth_2=1, depth_3=1)
    runs = [space.train(space.build(config, tiny_digits), config, tiny_digits, seed=3) for _ in range(2)]
    assert runs[0].perf == runs[1].perf
    assert runs[0].history == runs[1].history
    assert runs[0].train_flops == runs[1].train_flops > 0
    assert 0.0 <= runs[0].perf <= 1.0 and 0.0 <= runs[0].test_perf <= 1.0
    assert runs[0].epochs_run == 2 and len(runs[0].history) == 2
    assert runs[0].train_time_s > 0
    assert not runs[0].diverged


def test_mlp_learns_and_counts_training_flops_exactly() -> None:
    """Linear layers only: a step of batch B costs 2B(2*30w + 3*2w) FLOPs (fwd, grad_w, grad_x)."""
    space = effobj.spaces.get("mlp")
    data = load_dataset("breast_cancer")
    w = 32
    config = {
        **space.default_config(),
        "depth": 1, "width_1": w, "norm": "none", "dropout": 0.0,
        "batch_size": 64, "epochs": 5, "optimizer": "adam", "lr": 1e-2,
    }
    result = space.train(space.build(config, data), config, data, seed=0)
    n = len(data.y_train)
    per_epoch = sum(2 * min(64, n - s) * (2 * 30 * w + 3 * 2 * w) for s in range(0, n, 64))
    assert result.train_flops == 5 * per_epoch
    assert result.perf > 0.9  # breast cancer is easy; a linear-ish model gets > 90 %
    assert math.isclose(result.perf, result.history[-1])


def test_on_epoch_can_stop_training(tiny_digits: Dataset) -> None:
    space = effobj.spaces.get("transformer")
    config = {**space.default_config(), "epochs": 5, "width": 16, "depth": 1}
    seen: list[tuple[int, float]] = []
    threads = torch.get_num_threads()

    def on_epoch(epoch: int, perf: float) -> None:
        seen.append((epoch, perf))
        if epoch == 1:
            raise optuna.TrialPruned("stop")

    with pytest.raises(optuna.TrialPruned):
        space.train(space.build(config, tiny_digits), config, tiny_digits, on_epoch=on_epoch)
    assert [e for e, _ in seen] == [0, 1]
    assert all(0.0 <= p <= 1.0 for _, p in seen)
    assert torch.get_num_threads() == threads  # restored after the exception


def test_divergence_is_reported_not_nan() -> None:
    space = effobj.spaces.get("mlp")
    data = load_dataset("wine")
    config = {**space.default_config(), "optimizer": "sgd", "lr": 0.1, "norm": "none", "epochs": 5}
    model = space.build(config, data)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e30)  # logits overflow: the loss is inf from the first step
    result = space.train(model, config, data)
    assert result.diverged and result.perf == 0.0 and result.test_perf == 0.0
    assert result.epochs_run == 1


# -- bad input, rejected before any training -------------------------------------------
BAD = [
    ("mlp", {"depth": 0}, "'depth' parameter of the 'mlp' search space must be an int in the range [1, 4]"),
    ("mlp", {"depth": True}, "'depth'"),
    ("mlp", {"activation": "swish"}, "must be one of ['relu', 'gelu', 'silu', 'tanh']"),
    ("mlp", {"dropout": 0.9}, "'dropout' parameter of the 'mlp' search space must be a float in the range [0, 0.5]"),
    ("mlp", {"dropout": float("nan")}, "'dropout'"),
    ("mobilenet", {"kernel_2": 4}, "'kernel_2' parameter of the 'mobilenet' search space must be one of [3, 5, 7]. Got 4"),
    ("mobilenet", {"se_1": 1}, "'se_1'"),
    ("transformer", {"heads": 3}, "'heads'"),
    ("supernet", {"op_2": "skip"}, "'op_2'"),  # layer 2 changes shape: no skip there
    ("supernet", {"lr": 1.0}, "'lr' parameter of the 'supernet' search space must be a float in the range [0.0001, 0.1]"),
    ("supernet", {"optimizer": "lbfgs"}, "'optimizer'"),
]


@pytest.mark.parametrize(("name", "change", "message"), BAD)
def test_bad_configs_are_rejected_with_key_rule_and_value(name: str, change: dict, message: str) -> None:
    space = effobj.spaces.get(name)
    config = {**space.default_config(), **change}
    with pytest.raises(InputError) as info:
        space.validate(config)
    assert message in str(info.value)
    assert "Got" in str(info.value)
    with pytest.raises(InputError):
        space.build(config)


@pytest.mark.parametrize("name", MODEL_SPACES)
def test_missing_and_unknown_keys_are_rejected(name: str) -> None:
    space = effobj.spaces.get(name)
    config = space.default_config()
    key = next(iter(config))
    with pytest.raises(InputError, match=f"Missing \\['{key}'\\]"):
        space.validate({k: v for k, v in config.items() if k != key})
    with pytest.raises(InputError, match="unknown keys \\['bogus'\\]"):
        space.validate({**config, "bogus": 1})
    with pytest.raises(TypeError, match="mapping"):
        space.validate([1, 2])


def test_impossible_combinations_are_rejected() -> None:
    space = effobj.spaces.TransformerSpace(widths=(30, 32), heads=(1, 4), patches=(2, 3))
    config = {**space.default_config(), "width": 30, "heads": 4, "patch": 2}
    with pytest.raises(InputError, match="'heads' parameter .* must divide 'width' \\(30\\). Got 4"):
        space.validate(config)
    space.validate({**config, "width": 32})
    with pytest.raises(InputError, match="'patch' .* must divide the image height and width \\(8, 8\\). Got 3"):
        space.build({**config, "width": 32, "patch": 3})


def test_data_of_the_wrong_shape_is_rejected_before_training(digits: Dataset) -> None:
    mobilenet = effobj.spaces.get("mobilenet")
    config = mobilenet.default_config()
    with pytest.raises(InputError, match="layouts \\['image'\\].*Got layout 'flat' with samples of shape \\(13,\\)"):
        mobilenet.build(config, load_dataset("wine"))
    mlp = effobj.spaces.get("mlp")
    mconfig = mlp.default_config()
    model = mlp.build(mconfig, load_dataset("wine"))
    with pytest.raises(InputError, match="must match the model's input_shape \\(13,\\)"):
        mlp.train(model, mconfig, load_dataset("breast_cancer"))
    two_class = Dataset.from_tensors(torch.randn(8, 13), torch.arange(8) % 2, torch.randn(4, 13), torch.arange(4) % 2)
    with pytest.raises(InputError, match="must match the model's num_classes 3. Got dataset 'user' with num_classes 2"):
        mlp.train(model, mconfig, two_class)
    with pytest.raises(TypeError, match="Dataset"):
        mlp.train(model, mconfig, (digits.x_train, digits.y_train))
