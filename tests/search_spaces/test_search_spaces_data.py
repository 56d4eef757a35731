"""Bundled datasets: fixed stratified splits, train-only standardization; user data checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import effobj.spaces
from effobj.errors import InputError
from effobj.spaces.data import DATASETS, Dataset, load_dataset


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_splits_are_fixed_disjoint_stratified_and_standardized_on_train(name: str) -> None:
    from sklearn import datasets

    raw = getattr(datasets, f"load_{name}")()
    a, b = load_dataset(name), load_dataset(name)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    n = len(raw.target)
    sizes = [len(a.y_train), len(a.y_val), len(a.y_test)]
    assert sum(sizes) == n and abs(sizes[0] - 0.6 * n) <= 1 and abs(sizes[1] - sizes[2]) <= 1
    assert a.input_shape == DATASETS[name].input_shape and a.num_classes == DATASETS[name].num_classes
    # every split holds every class (stratified)
    for y in (a.y_train, a.y_val, a.y_test):
        assert set(y.tolist()) == set(range(a.num_classes))
    x = a.x_train.reshape(len(a.y_train), -1).double()
    if a.layout == "flat":
        assert torch.allclose(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-5)
        assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1], dtype=torch.float64), atol=1e-4)
    else:
        assert abs(float(x.mean())) < 1e-5 and abs(float(x.std(unbiased=False)) - 1) < 1e-4
    # the validation split is NOT standardized by its own statistics
    assert float(a.x_val.reshape(len(a.y_val), -1).mean()) != pytest.approx(0.0, abs=1e-6)
    # samples are the raw rows, transformed: the rows of all splits are the whole dataset
    all_x = torch.cat([a.x_train, a.x_val, a.x_test]).reshape(n, -1).double().numpy()
    assert np.linalg.matrix_rank(np.c_[all_x, np.ones(n)]) == np.linalg.matrix_rank(np.c_[raw.data, np.ones(n)])


def test_other_seed_gives_another_split_and_layouts() -> None:
    assert not torch.equal(load_dataset("wine", seed=1).x_train, load_dataset("wine").x_train)
    assert load_dataset("digits", layout="flat").input_shape == (64,)
    with pytest.raises(InputError, match="'layout' parameter of load_dataset for 'wine' must be one of \\['flat'\\]. Got 'image'"):
        load_dataset("wine", layout="image")
    with pytest.raises(InputError, match="'name' parameter of load_dataset must be one of"):
        load_dataset("mnist")
    with pytest.raises(InputError, match="'seed'"):
        load_dataset("wine", seed=-1)


def test_from_tensors_checks_shapes_and_labels() -> None:
    x, y = torch.randn(20, 5), torch.randint(0, 3, (20,))
    d = Dataset.from_tensors(x, y, x[:5], y[:5])
    assert d.input_shape == (5,) and d.layout == "flat" and d.test is None
    with pytest.raises(InputError, match="'x_val' parameter of Dataset.from_tensors must have samples of the training shape \\(5,\\). Got \\(4,\\)"):
        Dataset.from_tensors(x, y, x[:5, :4], y[:5])
    with pytest.raises(InputError, match="shapes \\(N, ...\\) and \\(N,\\)"):
        Dataset.from_tensors(x, y[:10], x, y)
    with pytest.raises(InputError, match="integer class labels"):
        Dataset.from_tensors(x, y.float(), x, y)
    with pytest.raises(InputError, match="labels .* must be ints in the range \\[0, 1\\]"):
        Dataset.from_tensors(x, y, x, y, num_classes=2)
    with pytest.raises(InputError, match="\\(C, H, W\\)"):
        Dataset.from_tensors(torch.randn(4, 2, 2), y[:4], torch.randn(4, 2, 2), y[:4])


def test_a_users_dataloaders_train_a_model() -> None:
    wine = load_dataset("wine")
    g = torch.Generator().manual_seed(0)
    train = DataLoader(TensorDataset(wine.x_train, wine.y_train), batch_size=16, shuffle=True, generator=g)
    val = DataLoader(TensorDataset(wine.x_val, wine.y_val), batch_size=64)
    data = Dataset.from_loaders(train, val, num_classes=3, name="my-wine")
    assert data.input_shape == (13,) and data.steps_per_epoch(999) == len(train)
    space = effobj.spaces.get("mlp")
    config = {**space.default_config(), "epochs": 5}
    result = space.train(space.build(config, data), config, data)
    assert result.epochs_run == 5 and result.perf > 0.8
    assert np.isnan(result.test_perf)  # no test split given
    with pytest.raises(InputError, match="'num_classes' parameter of Dataset.from_loaders"):
        Dataset.from_loaders(train, val, num_classes=1)
    with pytest.raises(InputError, match="non-empty iterable"):
        Dataset.from_loaders([], val, num_classes=3)
