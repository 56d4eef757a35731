"""Search spaces that turn an Optuna trial into a trainable model (or a benchmark row).

Registered spaces (``effobj.spaces.names()``):

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
    >>> import optuna, effobj.spaces
    >>> space = effobj.spaces.get("nas-bench-graph:cora")
    >>> trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    >>> config = space.suggest(trial)
    >>> sorted(space.lookup(config))
    ['latency', 'params', 'perf', 'test_perf']

**Your own data.** Wrap tensors or DataLoaders in a :class:`effobj.spaces.data.Dataset`
and pass it as ``data`` to ``build``, ``example_input`` and ``train``::

    from effobj.spaces.data import Dataset
    data = Dataset.from_tensors(x_train, y_train, x_val, y_val, x_test, y_test)
    data = Dataset.from_loaders(train_loader, val_loader, num_classes=10)

**Your own space.** Any object with the attributes and methods of
:class:`SearchSpace` (and of :class:`ModelSearchSpace` or :class:`TabularSearchSpace`)
can be registered and then searched like the built-in ones::

    effobj.spaces.register("my-cnn", MyCNNSpace)      # a zero-argument factory
    effobj.spaces.register("my-cnn", MyCNNSpace(), replace=True)   # or an instance
    space = effobj.spaces.get("my-cnn")

The command line takes it without registering: ``effobj search --space
my_space.py:MyCNNSpace`` (a file) or ``--space my_package.spaces:MyCNNSpace`` (a module),
the name a class, a space or a zero-argument factory. An installed package provides
spaces by name through the entry-point group ``effobj.spaces``
(:data:`ENTRY_POINT_GROUP`); :func:`names` and :func:`get` include them.

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

from effobj.spaces._params import (
    Categorical,
    Float,
    Int,
    ParamSpace,
    config_identity,
    training_params,
)
from effobj.spaces._protocol import (
    ModelSearchSpace,
    SearchSpace,
    SpaceFactory,
    TabularSearchSpace,
    TrainResult,
)
from effobj.spaces._registry import ENTRY_POINT_GROUP, as_space, get, names, register, unregister

_LAZY: dict[str, str] = {
    "ModelSpace": "effobj.spaces._model_space",
    "MLPSpace": "effobj.spaces._mlp",
    "MobileNetSpace": "effobj.spaces._mobilenet",
    "TransformerSpace": "effobj.spaces._transformer",
    "SupernetSpace": "effobj.spaces._supernet",
    "SuperNet": "effobj.spaces._supernet",
    "NasBenchGraphSpace": "effobj.spaces._nas_bench_graph",
    "Dataset": "effobj.spaces.data",
    "load_dataset": "effobj.spaces.data",
    "train_classifier": "effobj.spaces._training",
    "flop_counter_mode": "effobj.profiler",  # effobj's one FLOP registry
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "Categorical",
    "Float",
    "Int",
    "ModelSearchSpace",
    "ParamSpace",
    "SearchSpace",
    "SpaceFactory",
    "TabularSearchSpace",
    "TrainResult",
    "as_space",
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
        raise AttributeError(f"module 'effobj.spaces' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from effobj.profiler import flop_counter_mode
    from effobj.spaces._mlp import MLPSpace
    from effobj.spaces._mobilenet import MobileNetSpace
    from effobj.spaces._model_space import ModelSpace
    from effobj.spaces._nas_bench_graph import NasBenchGraphSpace
    from effobj.spaces._supernet import SuperNet, SupernetSpace
    from effobj.spaces._training import train_classifier
    from effobj.spaces._transformer import TransformerSpace
    from effobj.spaces.data import Dataset, load_dataset
