"""``supernet``: a DARTS / FBNet-style chain of mixed operations over digits.

The network is a 3x3 stem (16 channels), five searchable layers and a 1x1 head (64
channels) before global pooling and a linear classifier. Layer ``l`` has a fixed output
width and stride (:data:`LAYERS`) and chooses one operation among its
:data:`candidate ops <CANDIDATE_OPS>`: MBConv blocks ``mb{k}_e{e}`` (kernel ``k``,
expansion ``e``, as in the ``mobilenet`` space) and ``skip`` (identity; offered only
where input and output shapes agree).

Two faces of the same space:

* **Discrete** (Optuna, RL): the config holds ``op_1`` .. ``op_5``; :meth:`SupernetSpace.build`
  builds that single path as a plain network.
* **Continuous** (gradient NAS): :meth:`SupernetSpace.build_supernet` builds a
  :class:`SuperNet` whose layer ``l`` outputs the mixture

  .. math::

      x_{l+1} = \\sum_{i} \\mathrm{softmax}(\\alpha_l / \\tau)_i \\; o_{l,i}(x_l)

  with architecture weights :math:`\\alpha_l` (``arch_parameters()``), trainable by
  gradient next to the operations' weights (``weight_parameters()``). With
  ``gumbel=True`` the training forward uses Gumbel-softmax samples instead (FBNet).
  Its cost is differentiable too: each candidate's forward FLOPs and parameters are
  measured once at construction (``FlopCounterMode``, batch 1), and

  .. math::

      \\mathbb{E}[\\text{cost}] = c_{\\text{fixed}} + \\sum_l
          \\mathrm{softmax}(\\alpha_l / \\tau)^\\top c_l

  is :meth:`SuperNet.expected_cost`. :meth:`SupernetSpace.derive` turns the trained
  :math:`\\alpha` into the argmax config, which :meth:`SupernetSpace.build` builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from effobj._validation import check_choice, check_instance, check_real, refusal
from effobj.errors import InputTypeError
from effobj.profiler import flop_counter_mode
from effobj.spaces._mobilenet import MBConv, conv_bn
from effobj.spaces._model_space import ModelSpace
from effobj.spaces._params import Categorical, training_params
from effobj.spaces.data import Dataset, DatasetInfo

__all__ = ["CANDIDATE_OPS", "LAYERS", "MixedOp", "SuperNet", "SupernetSpace", "make_op"]

#: (output channels, stride) of the searchable layers
LAYERS: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (24, 1), (32, 2), (32, 1))
STEM, HEAD = 16, 64
_MB_OPS = ("mb3_e1", "mb3_e3", "mb5_e3", "mb3_e6", "mb5_e6")


def _candidates() -> tuple[tuple[str, ...], ...]:
    ops, c_in = [], STEM
    for c_out, stride in LAYERS:
        ops.append(_MB_OPS + (("skip",) if stride == 1 and c_in == c_out else ()))
        c_in = c_out
    return tuple(ops)


#: the candidate operations of each searchable layer
CANDIDATE_OPS: tuple[tuple[str, ...], ...] = _candidates()


def make_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The module of candidate ``name`` (``"skip"`` or ``"mb{k}_e{e}"``)."""
    if name == "skip":
        return nn.Identity()
    mb, e = name.split("_")
    kernel, expand = int(mb[2:]), int(e[1:])
    return MBConv(c_in, c_out, kernel, stride, expand, se=False)


def _stem(c_in: int) -> nn.Module:
    return conv_bn(c_in, STEM, 3)


def _head(num_classes: int) -> nn.Module:
    return nn.Sequential(
        conv_bn(LAYERS[-1][0], HEAD, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(HEAD, num_classes),
    )


class MixedOp(nn.Module):
    """The candidates of one layer, mixed by weights that sum to one."""

    def __init__(self, names: tuple[str, ...], c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.names = names
        self.ops = nn.ModuleList(make_op(n, c_in, c_out, stride) for n in names)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


class SuperNet(nn.Module):
    """Stem, :class:`MixedOp` layers with architecture weights ``alphas``, head.

    Args:
        input_shape: ``(C, H, W)`` of the images.
        num_classes: number of classes.
        tau: softmax temperature of the architecture weights.
        gumbel: sample Gumbel-softmax weights in training mode (FBNet) instead of the
            plain softmax (DARTS).

    Attributes:
        candidate_ops: the candidates of each layer.
        op_flops, op_params: per layer, a float tensor of each candidate's forward FLOPs
            (batch 1) and parameter count, measured at construction.
        fixed_flops, fixed_params: the same for stem and head.
        input_shape, num_classes: set by :meth:`SupernetSpace.build_supernet`.
    """

    input_shape: tuple[int, ...]
    num_classes: int

    def __init__(
        self, input_shape: tuple[int, ...], num_classes: int, *, tau: float = 1.0, gumbel: bool = False
    ) -> None:
        super().__init__()
        self.tau = check_real(tau, "tau", "SuperNet", low=0.0, low_open=True)
        self.gumbel = bool(gumbel)
        self.candidate_ops = [list(ops) for ops in CANDIDATE_OPS]
        self.stem = _stem(input_shape[0])
        layers, c_in = [], STEM
        for names, (c_out, stride) in zip(CANDIDATE_OPS, LAYERS, strict=True):
            layers.append(MixedOp(names, c_in, c_out, stride))
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.head = _head(num_classes)
        self.alphas = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(len(names))) for names in CANDIDATE_OPS
        )
        self._measure(input_shape)

    @torch.no_grad()
    def _measure(self, input_shape: tuple[int, ...]) -> None:
        def count(module: nn.Module, x: torch.Tensor) -> tuple[float, torch.Tensor]:
            with flop_counter_mode() as counter:
                y = module(x)
            return float(counter.get_total_flops()), y

        def params(module: nn.Module) -> float:
            return float(sum(p.numel() for p in module.parameters()))

        was = self.training
        self.eval()
        x = torch.zeros(1, *input_shape)
        fixed, x = count(self.stem, x)
        fixed_params = params(self.stem) + params(self.head)
        self.op_flops: list[torch.Tensor] = []
        self.op_params: list[torch.Tensor] = []
        for layer in self.layers:
            flops, outs = [], []
            for op in layer.ops:  # type: ignore[union-attr]
                f, y = count(op, x)
                flops.append(f)
                outs.append(y)
            self.op_flops.append(torch.tensor(flops))
            self.op_params.append(torch.tensor([params(op) for op in layer.ops]))  # type: ignore[union-attr]
            x = outs[0]
        head_flops, _ = count(self.head, x)
        self.fixed_flops = fixed + head_flops
        self.fixed_params = fixed_params
        self.train(was)

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights :math:`\\alpha_l`, one vector per layer."""
        return list(self.alphas)

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter except the architecture weights."""
        arch = {id(p) for p in self.alphas}
        return [p for p in self.parameters() if id(p) not in arch]

    def op_weights(self) -> list[torch.Tensor]:
        """Mixing weights of each layer: softmax of ``alpha / tau`` (Gumbel in training)."""
        if self.gumbel and self.training:
            return [F.gumbel_softmax(a, tau=self.tau) for a in self.alphas]
        return [torch.softmax(a / self.tau, dim=0) for a in self.alphas]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer, w in zip(self.layers, self.op_weights(), strict=True):
            x = layer(x, w)
        return self.head(x)

    def expected_cost(self, indicator: str = "flops") -> torch.Tensor:
        """Differentiable expected ``"flops"`` or ``"params"`` of the sampled network."""
        check_choice(indicator, "indicator", "SuperNet.expected_cost", ("flops", "params"))
        table = self.op_flops if indicator == "flops" else self.op_params
        fixed = self.fixed_flops if indicator == "flops" else self.fixed_params
        total = torch.tensor(fixed, dtype=torch.float32)
        for a, c in zip(self.alphas, table, strict=True):
            total = total + (torch.softmax(a / self.tau, dim=0) * c).sum()
        return total

    def derive(self) -> list[str]:
        """The argmax candidate of each layer."""
        return [ops[int(a.argmax())] for ops, a in zip(self.candidate_ops, self.alphas, strict=True)]


class SupernetSpace(ModelSpace):
    """One operation per layer among :data:`CANDIDATE_OPS`, plus training hyper-parameters."""

    name = "supernet"
    default_dataset = "digits"
    layouts = ("image",)
    candidate_ops: list[list[str]] = [list(ops) for ops in CANDIDATE_OPS]
    params = (
        *(Categorical(f"op_{i}", ops) for i, ops in enumerate(CANDIDATE_OPS, start=1)),
        *training_params(epochs=(1, 8), batch_sizes=(64, 128, 256)),
    )

    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``supernet [mb3_e3, mb5_e6, skip, mb3_e1, mb3_e3] | adam ...``."""
        ops = ", ".join(config[f"op_{i}"] for i in range(1, len(LAYERS) + 1))
        return (
            f"supernet [{ops}] | {config['optimizer']} lr {config['lr']:.2g} "
            f"wd {config['weight_decay']:.2g} bs {config['batch_size']} x{config['epochs']} epochs"
        )

    def _build(self, config: Mapping[str, Any], info: DatasetInfo) -> nn.Module:
        layers: list[nn.Module] = [_stem(info.input_shape[0])]
        c_in = STEM
        for i, (c_out, stride) in enumerate(LAYERS, start=1):
            layers.append(make_op(config[f"op_{i}"], c_in, c_out, stride))
            c_in = c_out
        layers.append(_head(info.num_classes))
        return nn.Sequential(*layers).to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def build_supernet(
        self,
        data: Dataset | None = None,
        *,
        tau: float = 1.0,
        gumbel: bool = False,
        seed: int = 0,
    ) -> SuperNet:
        """The :class:`SuperNet` of every candidate, for ``data``'s shape (default: digits)."""
        info = self._info(data)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SuperNet(info.input_shape, info.num_classes, tau=tau, gumbel=gumbel)
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # faster depthwise convs on CPU, as in mobilenet
        net.input_shape = tuple(info.input_shape)
        net.num_classes = info.num_classes
        return net

    def extract(self, net: SuperNet, config: Mapping[str, Any] | None = None) -> nn.Module:
        """The plain network of ``config`` (default: ``derive(net)``) with ``net``'s weights.

        Stem, head and each layer's chosen operation are copied from the supernet (one-shot
        weight sharing), so the result can be evaluated or fine-tuned without training
        from scratch. The copy shares no storage with ``net``.
        """
        check_instance(net, "net", f"{self.name!r}.extract", SuperNet)
        config = self.derive(net) if config is None else dict(config)
        info = DatasetInfo(tuple(net.input_shape), int(net.num_classes), "image")
        plain = self.build(config, info)
        chosen = [
            cast(MixedOp, layer).ops[ops.index(config[f"op_{i}"])]
            for i, (layer, ops) in enumerate(zip(net.layers, net.candidate_ops, strict=True), start=1)
        ]
        sources = [net.stem, *chosen, net.head]
        for target, source in zip(cast(nn.Sequential, plain), sources, strict=True):
            target.load_state_dict(source.state_dict())
        return plain

    def derive(self, config_or_model: SuperNet | Mapping[str, Any]) -> dict[str, Any]:
        """The argmax architecture as a config of this space.

        Args:
            config_or_model: a :class:`SuperNet`; or a mapping with ``"alphas"`` (one list
                of architecture weights per layer) and optionally training keys; or a
                config of this space (returned validated).

        Returns:
            A config whose ``op_l`` is the argmax candidate of layer ``l``; training keys
            come from the mapping when it has them, else from :meth:`default_config`.
        """
        config = self.default_config()
        if isinstance(config_or_model, SuperNet):
            ops = config_or_model.derive()
        elif isinstance(config_or_model, Mapping):
            given = dict(config_or_model)
            alphas = given.pop("alphas", None)
            config.update({k: v for k, v in given.items() if k in config})
            if alphas is None:
                self.validate(config)
                return config
            if len(alphas) != len(CANDIDATE_OPS) or any(
                len(a) != len(ops) for a, ops in zip(alphas, CANDIDATE_OPS, strict=True)
            ):
                raise refusal(
                    "config_or_model", f"{self.name!r}.derive",
                    f"have 'alphas' with one weight per candidate of each layer "
                    f"{[len(o) for o in CANDIDATE_OPS]}", f"lengths {[len(a) for a in alphas]}",
                )
            ops = [o[int(torch.as_tensor(a).argmax())] for o, a in zip(CANDIDATE_OPS, alphas, strict=True)]
        else:
            raise refusal("config_or_model", f"{self.name!r}.derive", "be a SuperNet or a mapping",
                          type(config_or_model).__name__, error=InputTypeError)
        config.update({f"op_{i}": op for i, op in enumerate(ops, start=1)})
        self.validate(config)
        return config
