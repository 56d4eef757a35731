r"""How well a summed per-operator table predicts measured end-to-end latency.

For each architecture :math:`a` of a sample, the table's prediction
:math:`\widehat{\mathrm{LAT}}(a)` is compared with the latency of the whole network,
built by the space and profiled end to end on the same device:

.. math::

    e(a) = \frac{\widehat{\mathrm{LAT}}(a) - \mathrm{LAT}(a)}{\mathrm{LAT}(a)}

The check reports the mean and maximum :math:`|e|`, the mean signed :math:`e` (a sum of
separately timed operations usually *overestimates*: each carries its own call
overhead and cold caches), and Spearman's rank correlation, which is what a search
needs most: that the table orders architectures as the device does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from effobj._validation import check_int
from effobj.cost_models._table import LatencyTable, check_space, table_options
from effobj.profiler import ProfileOptions

__all__ = ["TableCheck", "check_table"]


@dataclass(frozen=True)
class TableCheck:
    """Outcome of :func:`check_table`.

    Attributes:
        configs: the architectures checked.
        predicted_ms, measured_ms: per architecture.
        rel_errors: :math:`e(a)` per architecture.
        mean_abs_rel_error, max_abs_rel_error, mean_rel_error: summaries of :math:`e`.
        spearman: rank correlation of predicted and measured latency (``nan`` for < 3).
        scale: the median of measured / predicted, a one-number calibration: a budget
            :math:`T` on measured latency is :math:`T / \text{scale}` in table units.
    """

    configs: list[dict[str, Any]]
    predicted_ms: list[float]
    measured_ms: list[float]
    rel_errors: list[float]
    mean_abs_rel_error: float
    max_abs_rel_error: float
    mean_rel_error: float
    spearman: float
    scale: float

    def to_text(self) -> str:
        """A short human-readable summary."""
        return (
            f"{len(self.configs)} architectures: mean |error| {100 * self.mean_abs_rel_error:.1f} %, "
            f"max |error| {100 * self.max_abs_rel_error:.1f} %, mean signed error "
            f"{100 * self.mean_rel_error:+.1f} %, Spearman {self.spearman:.3f}, "
            f"measured/predicted {self.scale:.3f}"
        )


def check_table(
    table: LatencyTable,
    space: Any,
    *,
    configs: Sequence[Mapping[str, Any]] | None = None,
    n: int = 8,
    seed: int = 0,
    data: Any = None,
    options: ProfileOptions | None = None,
    **overrides: Any,
) -> TableCheck:
    """Compare the table's summed prediction with end-to-end measurements.

    Args:
        table: the table to check.
        space: the space object it was built for (``effobj.spaces.get(name)`` resolves a name).
        configs: architectures to check; default ``n`` random ones of the space
            (uniform over each layer's candidates).
        n, seed: size and seed of the random sample.
        data: the dataset (input shape); default the space's own.
        options: how the end-to-end runs are profiled
            (:class:`~effobj.profiler.ProfileOptions`; use the table's device and threads);
            default :data:`~effobj.cost_models.TABLE_PROFILE`.
        **overrides: fields of :class:`~effobj.profiler.ProfileOptions` applied over
            ``options`` (``device=``, ``threads=``, ``target_rel_spread=``, ``max_time_s=``...).

    Returns:
        The :class:`TableCheck`.

    Raises:
        MissingTableEntryError: a config uses an operation the table lacks.
    """
    from scipy.stats import spearmanr

    from effobj.profiler import profile_model

    opts = table_options(options, overrides, "check_table")
    check_space(space, "check_table")
    n = check_int(n, "n", "check_table", low=1)
    seed = check_int(seed, "seed", "check_table", low=0)
    if configs is None:
        rng = np.random.default_rng(seed)
        base = space.default_config()
        configs = []
        for _ in range(n):
            c = dict(base)
            for layer, ops in enumerate(table.candidate_ops, start=1):
                c[f"op_{layer}"] = ops[int(rng.integers(len(ops)))]
            configs.append(c)
    pred, meas, used = [], [], []
    for config in configs:
        p = table.predict(config)
        model = space.build(config, data).eval()
        x = space.example_input(config, data, batch_size=table.batch_size)
        measured = profile_model(model, x, opts).latency_ms
        assert measured is not None  # table_options requires latency
        pred.append(float(p))
        meas.append(float(measured))
        used.append(dict(config))
    pa, ma = np.asarray(pred), np.asarray(meas)
    err = (pa - ma) / ma
    rho = float(spearmanr(pa, ma).statistic) if len(pa) >= 3 else float("nan")
    return TableCheck(
        configs=used, predicted_ms=pred, measured_ms=meas, rel_errors=err.tolist(),
        mean_abs_rel_error=float(np.abs(err).mean()), max_abs_rel_error=float(np.abs(err).max()),
        mean_rel_error=float(err.mean()), spearman=rho, scale=float(np.median(ma / pa)),
    )
