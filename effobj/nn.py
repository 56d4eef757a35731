r"""torch faces of the metric: thin ``nn.Module`` wrappers over the one kernel.

``EBetaScore`` and ``SoftEBetaScore`` call the same private kernels as
:func:`effobj.e_beta` and :func:`effobj.soft_e_beta` (torchmetrics' pattern: the math once,
a function face and a module face). ``SoftEBetaScore(compile=True)`` runs the surrogate
through ``torch.compile`` with :math:`\beta^2`, the budgets and the temperature passed as
0-d tensors, so one compiled graph serves every setting: on 10^7 pairs it fuses the ~25
elementwise steps of forward and backward into one loop each (measured in
``benchmarks/results/metric.md``: about 4x an add's forward+backward, against about 40x
eager). Compiling costs tens of seconds once per process and shape family.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from effobj._validation import check_real
from effobj.metric import _check_ac, _check_params, _e_beta_kernel, _soft_kernel, _soft_margins

__all__ = ["EBetaScore", "SoftEBetaScore"]


class EBetaScore(nn.Module):
    r"""Hard :math:`E_\beta` as a module: ``forward(a, c) -> E`` (higher is better).

    Args: as :func:`effobj.e_beta`.

    Example:
        >>> m = EBetaScore(beta2=0.5)
        >>> round(float(m(torch.tensor(1.0), torch.tensor(0.9))), 3)
        0.143
    """

    def __init__(
        self, *, beta2: float = 1.0, a_min: float = 0.0, c_max: float = 1.0, validate_args: bool = True
    ) -> None:
        super().__init__()
        self.beta2, self.a_min, self.c_max = _check_params("EBetaScore", beta2, a_min, c_max)
        self.validate_args = validate_args

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.validate_args:
            _check_ac(a, c, "EBetaScore")
        return _e_beta_kernel(a, c, self.beta2, self.a_min, self.c_max, torch.where)

    def extra_repr(self) -> str:
        return f"beta2={self.beta2}, a_min={self.a_min}, c_max={self.c_max}"


def _soft_tensor_params(
    a: torch.Tensor, c: torch.Tensor, beta2: torch.Tensor, a_min: torch.Tensor, c_max: torch.Tensor,
    tau: torch.Tensor, leak: torch.Tensor,
) -> torch.Tensor:
    # the A gate is always present here (a_min = 0 makes it a no-op on valid A >= tau; the
    # compiled graph must not branch on a tensor's value)
    return _soft_kernel(a, c, beta2, [c_max - c, a - a_min + (a_min <= 0) * 1.0], tau, leak, torch)


_compiled: Any = None


def _compiled_soft() -> Any:
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(_soft_tensor_params, dynamic=None)
    return _compiled


class SoftEBetaScore(nn.Module):
    r"""The smooth surrogate :math:`S_\tau` as a module (see :func:`effobj.soft_e_beta`).

    Args:
        beta2, a_min, c_max, temperature, leak, validate_args: as :func:`effobj.soft_e_beta`.
        compile: run through ``torch.compile`` (one fused loop for forward and one for
            backward; pays off from about 10^5 elements).

    Example:
        >>> m = SoftEBetaScore(c_max=0.5, temperature=0.05)
        >>> c = torch.tensor([0.7], requires_grad=True)
        >>> m(torch.tensor([0.9]), c).backward()
        >>> float(c.grad)                       # over budget: pushed back with slope -tau
        -0.05000000074505806
    """

    def __init__(
        self,
        *,
        beta2: float = 1.0,
        a_min: float = 0.0,
        c_max: float = 1.0,
        temperature: float = 0.02,
        leak: float | None = None,
        validate_args: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__()
        name = "SoftEBetaScore"
        self.beta2, self.a_min, self.c_max = _check_params(name, beta2, a_min, c_max)
        tau = check_real(temperature, "temperature", name, low=0.0, high=1.0, low_open=True)
        lam = check_real(leak, "leak", name, low=0.0, allow_none=True)
        assert tau is not None
        self.temperature = tau
        self.leak = tau if lam is None else lam
        self.validate_args = validate_args
        self.compile = compile

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.validate_args:
            _check_ac(a, c, "SoftEBetaScore")
        if self.compile:
            p = [
                torch.tensor(v, dtype=a.dtype, device=a.device)
                for v in (self.beta2, self.a_min, self.c_max, self.temperature, self.leak)
            ]
            return _compiled_soft()(a, c, *p)
        margins = _soft_margins(a, c, self.a_min, self.c_max)
        return _soft_kernel(a, c, self.beta2, margins, self.temperature, self.leak, torch)

    def extra_repr(self) -> str:
        return (
            f"beta2={self.beta2}, a_min={self.a_min}, c_max={self.c_max}, "
            f"temperature={self.temperature}, leak={self.leak}, compile={self.compile}"
        )
