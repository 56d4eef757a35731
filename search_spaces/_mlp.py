"""``mlp``: a multi-layer perceptron for tabular data (and flattened images).

Searched: ``depth`` (1-4 hidden layers), ``width_1`` .. ``width_4`` (layer ``i`` uses
``width_i``; widths of layers beyond ``depth`` are sampled but unused), ``activation``,
``dropout`` after each hidden layer, ``norm`` (none, batch or layer normalization
before the activation), plus the training hyper-parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from effobj.spaces._model_space import ModelSpace
from effobj.spaces._params import Categorical, Float, Int, training_params
from effobj.spaces.data import DatasetInfo

__all__ = ["MLPSpace"]

MAX_DEPTH = 4
WIDTHS = (16, 32, 64, 128, 256)
ACTIVATIONS = ("relu", "gelu", "silu", "tanh")


def activation(name: str) -> nn.Module:
    """The activation module of ``name``."""
    return {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


class MLPSpace(ModelSpace):
    """Depth, widths, activation, dropout and normalization of an MLP, with its training."""

    name = "mlp"
    #: epochs are the fidelity: every candidate trains to the maximum unless stopped early
    fidelity = "epochs"
    default_dataset = "breast_cancer"
    layouts = ("flat", "image")
    params = (
        Int("depth", 1, MAX_DEPTH),
        *(Categorical(f"width_{i}", WIDTHS) for i in range(1, MAX_DEPTH + 1)),
        Categorical("activation", ACTIVATIONS),
        Float("dropout", 0.0, 0.5, (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)),
        Categorical("norm", ("none", "batch", "layer")),
        *training_params(epochs=(5, 40), batch_sizes=(16, 32, 64, 128)),
    )

    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``mlp 30-64-32-2 relu, layer norm, dropout 0.1 | adam lr 1e-3 ...``."""
        widths = [config[f"width_{i}"] for i in range(1, config["depth"] + 1)]
        return (
            f"mlp hidden {widths} {config['activation']}, norm {config['norm']}, "
            f"dropout {config['dropout']:.2f} | {config['optimizer']} lr {config['lr']:.2g} "
            f"wd {config['weight_decay']:.2g} bs {config['batch_size']} x{config['epochs']} epochs"
        )

    def _build(self, config: Mapping[str, Any], info: DatasetInfo) -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(info.input_shape)
        for i in range(1, config["depth"] + 1):
            width = config[f"width_{i}"]
            layers.append(nn.Linear(fan_in, width))
            if config["norm"] == "batch":
                layers.append(nn.BatchNorm1d(width))
            elif config["norm"] == "layer":
                layers.append(nn.LayerNorm(width))
            layers.append(activation(config["activation"]))
            if config["dropout"] > 0:
                layers.append(nn.Dropout(config["dropout"]))
            fan_in = width
        layers.append(nn.Linear(fan_in, info.num_classes))
        return nn.Sequential(*layers)
