"""Search spaces that turn an Optuna trial into a trainable model (or a benchmark row).

Registered spaces (``search_spaces.names()``):

* ``mlp``: depth, widths, activation, dropout, normalization (tabular data);
* ``mobilenet``: MobileNetV2/MnasNet-style CNN (per-stage depth, kernel, expansion,
  squeeze-excitation; width multiplier; input resolution);
* ``transformer``: small encoder over image patches or feature groups;
* ``supernet``: DARTS/FBNet-style mixed operations with gradient-trainable
  architecture weights, whose argmax is a config of the same space;
* ``nas-bench-graph:DATASET``: the NAS-Bench-Graph table of one of its nine datasets
  (look-up instead of training, exact optimum for any score).

Every model space searches the architecture jointly with the training
hyper-parameters ``lr``, ``weight_decay``, ``batch_size``, ``epochs`` and ``optimizer``.

Example:
    >>> import optuna, search_spaces
    >>> space = search_spaces.get("nas-bench-graph:cora")
    >>> trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    >>> config = space.suggest(trial)
    >>> sorted(space.lookup(config))
    ['latency', 'n_params', 'perf', 'test_perf']

**Your own data.** Wrap tensors or DataLoaders in a :class:`search_spaces.data.Dataset`
and pass it as ``data`` to ``build``, ``example_input`` and ``train``::

    from search_spaces.data import Dataset
    data = Dataset.from_tensors(x_train, y_train, x_val, y_val, x_test, y_test)
    data = Dataset.from_loaders(train_loader, val_loader, num_classes=10)

**Your own space.** Any object with the attributes and methods of
:class:`SearchSpace` (and of :class:`ModelSearchSpace` or :class:`TabularSearchSpace`)
can be registered and then searched like the built-in ones::

    search_spaces.register("my-cnn", MyCNNSpace)      # a zero-argument factory
    search_spaces.register("my-cnn", MyCNNSpace(), replace=True)   # or an instance
    space = search_spaces.get("my-cnn")

The easiest way to write one is to subclass :class:`ModelSpace`, list its parameters
(:class:`Categorical`, :class:`Int`, :class:`Float`, :func:`training_params`) and write
``_build(config, info) -> nn.Module``: sampling, validation, the RL encoding, the
training loop and FLOP counting come with it. See ``search_spaces/README.md``.

Importing this package does not import torch; the model spaces import it when
first requested.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from search_spaces._params import (
    Categorical,
    Float,
    Int,
    ParamSpace,
    config_identity,
    training_params,
)
from search_spaces._protocol import (
    ModelSearchSpace,
    SearchSpace,
    SpaceFactory,
    TabularSearchSpace,
    TrainResult,
)
from search_spaces._registry import get, names, register, unregister

_LAZY: dict[str, str] = {
    "ModelSpace": "search_spaces._model_space",
    "MLPSpace": "search_spaces._mlp",
    "MobileNetSpace": "search_spaces._mobilenet",
    "TransformerSpace": "search_spaces._transformer",
    "SupernetSpace": "search_spaces._supernet",
    "SuperNet": "search_spaces._supernet",
    "NasBenchGraphSpace": "search_spaces._nas_bench_graph",
    "Dataset": "search_spaces.data",
    "load_dataset": "search_spaces.data",
    "train_classifier": "search_spaces._training",
    "flop_counter_mode": "effobj.profiler",  # effobj's one FLOP registry
}

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "ModelSearchSpace",
    "ParamSpace",
    "SearchSpace",
    "SpaceFactory",
    "TabularSearchSpace",
    "TrainResult",
    "config_identity",
    "get",
    "names",
    "register",
    "training_params",
    "unregister",
    # imported on first access
    "ModelSpace",
    "MLPSpace",
    "MobileNetSpace",
    "TransformerSpace",
    "SupernetSpace",
    "SuperNet",
    "NasBenchGraphSpace",
    "Dataset",
    "load_dataset",
    "train_classifier",
    "flop_counter_mode",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'search_spaces' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from effobj.profiler import flop_counter_mode
    from search_spaces._mlp import MLPSpace
    from search_spaces._mobilenet import MobileNetSpace
    from search_spaces._model_space import ModelSpace
    from search_spaces._nas_bench_graph import NasBenchGraphSpace
    from search_spaces._supernet import SuperNet, SupernetSpace
    from search_spaces._training import train_classifier
    from search_spaces._transformer import TransformerSpace
    from search_spaces.data import Dataset, load_dataset
