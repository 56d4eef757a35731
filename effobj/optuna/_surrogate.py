r"""The models :class:`~effobj.optuna.EfficiencySampler` searches with.

- :class:`Encoder`: an Optuna search space as points of :math:`[0, 1]^d`: a float or int
  parameter is one coordinate (log-scaled where the distribution is), a categorical one
  is one-hot scaled by :math:`1/\sqrt 2`, so that two different choices are at distance
  1, as the two ends of a numeric range are.
- :class:`GaussianProcess`: Gaussian-process regression of the performance (Matern 5/2,
  one length scale per parameter, a noise term), fitted by maximum marginal likelihood.
- :class:`LinearCostModel`: Bayesian linear regression of a log cost, for optimistic
  costs of candidates not looked up yet.
- :func:`expected_improvement`: the expected improvement of :math:`E_\beta` over the
  incumbent when the performance is normal and the costs are known,

  .. math::

      \mathrm{EI}(x) = \mathbb{E}_{p \sim \mathcal N(\mu(x), \sigma(x)^2)}
      \big[\max(E_\beta(\mathrm{clip}(p, 0, p_{\mathrm{ref}}), C(x)) - E^*, 0)\big],

  by Gauss-Hermite quadrature. :math:`E_\beta` is non-decreasing in the performance and
  gated by :math:`A \ge A_{\min}` and the budgets, so the gates enter exactly; the
  hopeless rule (skip when :math:`E_\beta(A{=}1, C) < E^*`) is the special case
  :math:`\mathrm{EI} = 0` of a model that knows nothing but :math:`A \le 1`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Encoder", "GaussianProcess", "LinearCostModel", "expected_improvement"]

_HERMITE_NODES = 24


class Encoder:
    """Encode parameter dicts of an Optuna search space as rows of a float matrix."""

    def __init__(self, search_space: Mapping[str, Any]) -> None:
        from optuna.distributions import CategoricalDistribution

        self.names = sorted(search_space)
        self.dists = [search_space[n] for n in self.names]
        self.slices: list[tuple[int, int]] = []
        d = 0
        for dist in self.dists:
            width = len(dist.choices) if isinstance(dist, CategoricalDistribution) else 1
            self.slices.append((d, d + width))
            d += width
        self.dim = d

    def encode(self, params_list: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One row per parameter dict (every name of the space must be present)."""
        from optuna.distributions import CategoricalDistribution

        x = np.zeros((len(params_list), self.dim))
        for name, dist, (lo, _hi) in zip(self.names, self.dists, self.slices, strict=True):
            for i, params in enumerate(params_list):
                internal = dist.to_internal_repr(params[name])
                if isinstance(dist, CategoricalDistribution):
                    x[i, lo + int(internal)] = 1.0 / math.sqrt(2.0)
                else:
                    a, b = float(dist.low), float(dist.high)
                    v = float(internal)
                    if getattr(dist, "log", False):
                        a, b, v = math.log(a), math.log(b), math.log(v)
                    x[i, lo] = 0.5 if b <= a else (v - a) / (b - a)
        return x


class GaussianProcess:
    r"""Gaussian-process regression with one length scale per search-space parameter.

    The kernel is Matern 5/2 over the distance

    .. math::

        r(x, x')^2 = \sum_p \lVert x_p - x'_p \rVert^2 / \ell_p^2,

    where :math:`x_p` are the coordinates of parameter :math:`p` (one for a number, the
    one-hot block of a categorical, whose distance is 0 or 1), plus a noise term;
    targets are standardized. The length scales, the signal and the noise variance
    maximize the marginal likelihood (L-BFGS-B on their logarithms, warm-started from
    the previous fit).

    Args:
        groups: the column slices of each parameter (:attr:`Encoder.slices`).
    """

    def __init__(self, groups: Sequence[tuple[int, int]]) -> None:
        self.groups = list(groups)
        p = len(self.groups)
        # log length scales, log signal variance, log noise variance
        self._theta = np.concatenate([np.zeros(p), [0.0], [math.log(1e-2)]])
        self._bounds = [(math.log(0.05), math.log(20.0))] * p + [
            (math.log(0.05), math.log(20.0)),
            (math.log(1e-6), math.log(0.5)),
        ]

    def _sqdist(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-parameter squared distances, shape ``(P, len(a), len(b))``."""
        out = np.empty((len(self.groups), len(a), len(b)))
        for k, (lo, hi) in enumerate(self.groups):
            da = a[:, lo:hi]
            db = b[:, lo:hi]
            out[k] = np.maximum(
                (da**2).sum(1)[:, None] + (db**2).sum(1)[None, :] - 2.0 * da @ db.T, 0.0
            )
        return out

    @staticmethod
    def _matern(r2: np.ndarray) -> np.ndarray:
        r = np.sqrt(5.0 * r2)
        return (1.0 + r + r * r / 3.0) * np.exp(-r)

    def _kernel(self, d: np.ndarray, theta: np.ndarray) -> np.ndarray:
        p = len(self.groups)
        inv = np.exp(-2.0 * theta[:p])
        return math.exp(theta[p]) * self._matern(np.tensordot(inv, d, axes=1))

    def _nll(self, theta: np.ndarray, d: np.ndarray, y: np.ndarray) -> float:
        k = self._kernel(d, theta)
        k[np.diag_indices_from(k)] += math.exp(theta[-1]) + 1e-9
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return 1e25
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
        return float(0.5 * y @ alpha + np.log(np.diag(chol)).sum())

    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool = True) -> GaussianProcess:
        """Fit to ``(x, y)``; ``optimize=False`` keeps the hyper-parameters of the last fit."""
        from scipy.optimize import minimize

        y = np.asarray(y, dtype=float)
        self._mean = float(y.mean())
        self._std = float(y.std()) or 1.0
        yn = (y - self._mean) / self._std
        d = self._sqdist(x, x)
        if optimize and len(y) >= 2:
            res = minimize(self._nll, self._theta, args=(d, yn), method="L-BFGS-B",
                           bounds=self._bounds, options={"maxiter": 60})
            if np.all(np.isfinite(res.x)):
                self._theta = np.asarray(res.x)
        k = self._kernel(d, self._theta)
        k[np.diag_indices_from(k)] += math.exp(self._theta[-1]) + 1e-9
        self._chol = np.linalg.cholesky(k)
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, yn))
        self._x = x
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, standard deviation)`` of the latent function at the rows of ``x``."""
        ks = self._kernel(self._sqdist(x, self._x), self._theta)
        mu = ks @ self._alpha
        v = np.linalg.solve(self._chol, ks.T)
        var = np.maximum(math.exp(self._theta[len(self.groups)]) - (v * v).sum(0), 1e-12)
        return self._mean + self._std * mu, self._std * np.sqrt(var)


class LinearCostModel:
    r"""Bayesian linear regression of a log cost on the encoded parameters.

    Costs of networks are close to additive over their parts (a layer's latency, an
    operation's FLOPs), so the log cost is modelled as linear in the encoding with a
    ridge prior; the predictive standard deviation (noise plus parameter uncertainty)
    makes an optimistic bound :math:`\exp(\mu - k\sigma)` that tightens as look-ups
    accumulate.
    """

    def fit(self, x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> LinearCostModel:
        """Fit ``y ~ [1, x] w``."""
        xa = np.hstack([np.ones((len(x), 1)), x])
        a = xa.T @ xa + ridge * np.eye(xa.shape[1])
        self._ainv = np.linalg.inv(a)
        self._w = self._ainv @ xa.T @ y
        resid = y - xa @ self._w
        dof = max(len(y) - xa.shape[1], 1)
        self._s2 = float(max((resid @ resid) / dof, 1e-6) if len(y) > xa.shape[1] else
                         max(np.var(y), 1e-2))
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, predictive standard deviation)`` of the log cost."""
        xa = np.hstack([np.ones((len(x), 1)), x])
        mu = xa @ self._w
        lev = np.einsum("ij,jk,ik->i", xa, self._ainv, xa)
        return mu, np.sqrt(self._s2 * (1.0 + lev))


def expected_improvement(
    spec: Any,
    mu: np.ndarray,
    sd: np.ndarray,
    costs: Mapping[str, np.ndarray],
    incumbent: float,
) -> np.ndarray:
    r"""The expected improvement of :math:`E_\beta` over ``incumbent``, per candidate.

    Args:
        spec: the :class:`~effobj.EfficiencySpec`.
        mu, sd: mean and standard deviation of each candidate's performance (raw units),
            shape ``(n,)``.
        costs: each cost indicator of the spec, shape ``(n,)`` (raw units).
        incumbent: the best :math:`E_\beta` so far (0 when none).

    Returns:
        Shape ``(n,)``, >= 0.

    Example:
        >>> import numpy as np
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_name="ms")
        >>> ei = expected_improvement(spec, np.array([0.8, 0.8]), np.array([0.05, 0.05]),
        ...                           {"ms": np.array([2.0, 9.0])}, incumbent=0.5)
        >>> bool(ei[0] > ei[1] == 0.0)
        True
    """
    t, w = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
    perf = mu[:, None] + math.sqrt(2.0) * sd[:, None] * t[None, :]
    perf = np.clip(perf, 0.0, float(spec.perf_ref))
    cost = {k: np.asarray(v, dtype=float)[:, None] for k, v in costs.items()}
    e = np.asarray(spec.score(perf, cost), dtype=float)
    gain = np.maximum(e - float(incumbent), 0.0)
    return (gain * (w / math.sqrt(math.pi))[None, :]).sum(axis=1)
