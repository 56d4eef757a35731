r"""A ``FlopCounterMode`` that counts attention on CPU and grouped-conv backward right.

Two gaps of torch 2.13's ``torch.utils.flop_counter`` matter for these spaces:

1. **Grouped convolution backward is over-counted.** ``conv_backward_flop`` counts the
   weight gradient as a dense convolution whatever ``groups`` is, so a depthwise
   convolution's backward comes out ``groups`` times too large (a 48-channel 5x5
   depthwise conv on 12x12: 16.9 MFLOPs instead of 0.69). The replacement below is
   torch's own formula with the weight-gradient term divided by ``groups``:

   .. math::

       F_{\nabla w} = \frac{2\, N\, H_{out} W_{out}\, C_{in}\, C_{out}\, \prod k}{g}

2. **Attention on CPU is not counted.**
``F.scaled_dot_product_attention`` on CPU without dropout runs
``aten._scaled_dot_product_flash_attention_for_cpu`` (and its ``_backward``), which
torch 2.13's ``FlopCounterMode`` has no formula for: it counts them as 0 FLOPs. This
module maps both to torch's own attention formulas (``sdpa_flop_count`` and
``sdpa_backward_flop_count``: the two batched matrix products of the forward, four of
the backward, 2 FLOPs per multiply-add) through ``FlopCounterMode``'s
``custom_mapping``.

Both go through ``FlopCounterMode(custom_mapping=...)``; torch's global registry is
left untouched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import flop_counter

__all__ = ["CONV_BACKWARD_FORMULA", "CPU_ATTENTION_FORMULAS", "flop_counter_mode"]


def _cpu_sdpa_flop(
    query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return int(flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape))


def _cpu_sdpa_backward_flop(
    grad_out_shape: Any,
    query_shape: Any,
    key_shape: Any,
    value_shape: Any,
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    return int(
        flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)
    )


def _conv_backward_flop(
    grad_out_shape: Any,
    x_shape: Any,
    w_shape: Any,
    _bias: Any,
    _stride: Any,
    _padding: Any,
    _dilation: Any,
    transposed: bool,
    _output_padding: Any,
    groups: int,
    output_mask: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    def t(shape: Any) -> list[int]:
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:  # grad_input: a (transposed) convolution of grad_out with w
        flops += flop_counter.conv_flop_count(
            list(grad_out_shape), list(w_shape), list(out_shape[0]), not transposed
        )
    if output_mask[1]:  # grad_weight: each group convolves only its own channels
        gw = list(out_shape[1])
        if transposed:
            dense = flop_counter.conv_flop_count(t(grad_out_shape), t(x_shape), t(gw), False)
        else:
            dense = flop_counter.conv_flop_count(t(x_shape), t(grad_out_shape), t(gw), False)
        flops += dense // max(int(groups), 1)
    return int(flops)


#: the corrected grouped-convolution backward formula
CONV_BACKWARD_FORMULA: dict[Any, Any] = {
    torch.ops.aten.convolution_backward: _conv_backward_flop,
}

#: formulas for the CPU attention kernels, for ``FlopCounterMode(custom_mapping=...)``
CPU_ATTENTION_FORMULAS: dict[Any, Any] = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flop,
}


def flop_counter_mode() -> flop_counter.FlopCounterMode:
    """``FlopCounterMode(display=False)`` with the two corrections above."""
    mapping = {
        k: v for k, v in CPU_ATTENTION_FORMULAS.items() if k not in flop_counter.flop_registry
    }
    mapping.update(CONV_BACKWARD_FORMULA)
    return flop_counter.FlopCounterMode(display=False, custom_mapping=mapping)
