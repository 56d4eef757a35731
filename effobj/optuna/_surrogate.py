r"""The models :class:`~effobj.optuna.EfficiencySampler` searches with.

- :class:`Encoder`: an Optuna search space as points of :math:`[0, 1]^d`: a float or int
  parameter is one coordinate (log-scaled where the distribution is), a categorical one
  is one-hot scaled by :math:`1/\sqrt 2`, so that two different choices are at distance
  1, as the two ends of a numeric range are.
- :class:`GaussianProcess`: Gaussian-process regression of the performance (Matern 5/2,
  one length scale per parameter, plus a linear term on the encoding, a noise term),
  fitted by maximum marginal likelihood.
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
- :func:`log_expected_improvement`: :math:`\log \mathrm{EI}`, finite wherever the
  improvement is possible at all (as BoTorch's LogEI): where the quadrature underflows
  (every node below the incumbent) it is the log of the closed-form EI of
  :math:`E_\beta` linearized at the performance :math:`A^*` that ties the incumbent, so
  that far-from-incumbent candidates are still ranked by how far they are, instead of
  all tying at 0; :math:`-\infty` exactly where the improvement is impossible (over a
  budget, or the hopeless rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Encoder",
    "GaussianProcess",
    "LinearCostModel",
    "expected_improvement",
    "log_expected_improvement",
]

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
    one-hot block of a categorical, whose distance is 0 or 1), plus a linear term
    :math:`s_{\mathrm{lin}}\, x^\top x'` and a noise term; targets are standardized.
    On one-hot codes the linear term is :math:`s_{\mathrm{lin}}/2` times the number of
    categorical parameters two candidates share, i.e. a Bayesian additive model (one
    effect per choice of each parameter): it carries what was learnt about a choice to
    combinations never trained, where the Matern term alone falls back to the mean
    (``linear=False`` leaves it out). The length scales, the signal and the noise variance
    maximize the marginal likelihood (L-BFGS-B on their logarithms, warm-started from
    the previous fit).

    Args:
        groups: the column slices of each parameter (:attr:`Encoder.slices`).
    """

    #: the most rows the hyper-parameters are fitted on
    max_fit_points = 200

    def __init__(self, groups: Sequence[tuple[int, int]], *, linear: bool = True) -> None:
        self.groups = list(groups)
        self.linear = linear
        p = len(self.groups)
        # log length scales, log signal variance, log variance of the linear term, log noise
        self._theta = np.concatenate([np.zeros(p), [0.0], [math.log(0.1)], [math.log(1e-2)]])
        self._bounds = [(math.log(0.05), math.log(20.0))] * p + [
            (math.log(0.05), math.log(20.0)),
            (math.log(1e-4), math.log(10.0)) if linear else (math.log(1e-12), math.log(1e-12)),
            (math.log(1e-6), math.log(0.5)),
        ]
        if not linear:
            self._theta[p + 1] = math.log(1e-12)

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

    def _r2(self, a: np.ndarray, b: np.ndarray, theta: np.ndarray) -> np.ndarray:
        r"""The scaled squared distance :math:`r^2` in one pass: each column divided by its
        parameter's length scale, then one Gram matrix (what :meth:`_sqdist` summed with
        weights, without one temporary per parameter)."""
        w = np.empty(a.shape[1])
        for k, (lo, hi) in enumerate(self.groups):
            w[lo:hi] = math.exp(-theta[k])
        aw, bw = a * w, b * w
        r2 = (aw * aw).sum(1)[:, None] + (bw * bw).sum(1)[None, :]
        r2 -= 2.0 * (aw @ bw.T)
        return np.maximum(r2, 0.0, out=r2)

    @staticmethod
    def _matern(r2: np.ndarray) -> np.ndarray:
        r = np.sqrt(5.0 * r2)
        return (1.0 + r + r * r / 3.0) * np.exp(-r)

    def _kernel(self, d: np.ndarray, theta: np.ndarray) -> np.ndarray:
        p = len(self.groups)
        inv = np.exp(-2.0 * theta[:p])
        return math.exp(theta[p]) * self._matern(np.tensordot(inv, d, axes=1))

    def _nll(
        self, theta: np.ndarray, d: np.ndarray, gram: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        r"""The negative log marginal likelihood (constant dropped) and its gradient.

        With :math:`K = s\,m(r^2) + \sigma_n^2 I`, :math:`\alpha = K^{-1} y` and
        :math:`W = K^{-1} - \alpha\alpha^\top`, :math:`\partial\,\mathrm{NLL}/\partial\theta
        = \tfrac12 \operatorname{tr}(W\,\partial K/\partial\theta)`, where for the log
        length scale of parameter :math:`p`, :math:`\partial K/\partial \log\ell_p =
        -2\,s\,m'(r^2)\,D_p/\ell_p^2` (:math:`m'(r^2) = -\tfrac56 (1 + \sqrt{5r^2})
        e^{-\sqrt{5r^2}}`, :math:`D_p` the parameter's squared distances), for the log signal
        variance :math:`s\,m(r^2)`, for the log noise variance :math:`\sigma_n^2 I`.
        """
        p = len(self.groups)
        inv = np.exp(-2.0 * theta[:p])
        r2 = np.tensordot(inv, d, axes=1)
        sig = math.exp(theta[p])
        noise = math.exp(theta[-1])
        r = np.sqrt(5.0 * r2)
        e = np.exp(-r)
        k_sig = sig * (1.0 + r + r * r / 3.0) * e
        lin = math.exp(theta[p + 1])
        k = k_sig + lin * gram
        k[np.diag_indices_from(k)] += noise + 1e-9
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        from scipy.linalg import cho_solve

        alpha = cho_solve((chol, True), y)
        nll = float(0.5 * y @ alpha + np.log(np.diag(chol)).sum())
        w = cho_solve((chol, True), np.eye(len(y))) - np.outer(alpha, alpha)
        dm = sig * (-5.0 / 6.0) * (1.0 + r) * e  # s m'(r^2)
        grad = np.empty_like(theta)
        wdm = w * dm
        for q in range(p):
            grad[q] = 0.5 * float(np.sum(wdm * (-2.0 * inv[q] * d[q])))
        grad[p] = 0.5 * float(np.sum(w * k_sig))
        grad[p + 1] = 0.5 * lin * float(np.sum(w * gram)) if self.linear else 0.0
        grad[-1] = 0.5 * noise * float(np.trace(w))
        return nll, grad

    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool = True) -> GaussianProcess:
        """Fit to ``(x, y)``; ``optimize=False`` keeps the hyper-parameters of the last fit.

        The hyper-parameters are fitted on at most :attr:`max_fit_points` rows (the best
        half of them by ``y``, the rest at random with a fixed seed), so that a study of
        thousands of trials still proposes in well under a second; the posterior uses
        every row.
        """
        from scipy.optimize import minimize

        y = np.asarray(y, dtype=float)
        self._mean = float(y.mean())
        self._std = float(y.std()) or 1.0
        yn = (y - self._mean) / self._std
        if optimize and len(y) >= 2:
            sub = np.arange(len(y))
            if len(y) > self.max_fit_points:
                half = self.max_fit_points // 2
                order = np.argsort(-yn, kind="stable")
                rest = np.random.default_rng(len(y)).permutation(order[half:])
                sub = np.concatenate([order[:half], rest[: self.max_fit_points - half]])
            xs = x[sub]
            res = minimize(self._nll, self._theta, args=(self._sqdist(xs, xs), xs @ xs.T, yn[sub]),
                           jac=True, method="L-BFGS-B", bounds=self._bounds,
                           options={"maxiter": 60})
            if np.all(np.isfinite(res.x)):
                self._theta = np.asarray(res.x)
        p = len(self.groups)
        k = math.exp(self._theta[p]) * self._matern(self._r2(x, x, self._theta))
        k += math.exp(self._theta[p + 1]) * (x @ x.T)
        k[np.diag_indices_from(k)] += math.exp(self._theta[-1]) + 1e-9
        from scipy.linalg import cho_solve

        self._chol = np.linalg.cholesky(k)
        self._alpha = cho_solve((self._chol, True), yn)
        self._x = x
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, standard deviation)`` of the latent function at the rows of ``x``."""
        p = len(self.groups)
        lin = math.exp(self._theta[p + 1])
        ks = math.exp(self._theta[p]) * self._matern(self._r2(x, self._x, self._theta))
        ks += lin * (x @ self._x.T)
        mu = ks @ self._alpha
        from scipy.linalg import solve_triangular

        v = solve_triangular(self._chol, ks.T, lower=True, check_finite=False)
        prior = math.exp(self._theta[p]) + lin * (x * x).sum(1)
        var = np.maximum(prior - (v * v).sum(0), 1e-12)
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


#: below this the quadrature's EI is treated as underflowed (its nodes reach a few
#: standard deviations; past them the tail is the closed form's)
_EI_FLOOR = 1e-12


def _log_h(z: np.ndarray) -> np.ndarray:
    r""":math:`\log h(z)`, :math:`h(z) = \varphi(z) + z\,\Phi(z)` (the EI of a unit normal
    over a threshold at :math:`-z`), stable for any :math:`z`.

    For :math:`z > -1`: the direct form. Below: :math:`h(z) = \varphi(z)\,(1 + z\,r(z))`
    with the Mills ratio :math:`r(z) = \Phi(z)/\varphi(z) = \sqrt{\pi/2}\,
    \mathrm{erfcx}(-z/\sqrt 2)`; below :math:`z = -10^3` the asymptote
    :math:`1 + z\,r(z) \approx z^{-2}`.
    """
    from scipy.special import erfcx, ndtr

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    log_phi = -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(np.exp(log_phi[hi]) + zh * ndtr(zh))
    mid = (~hi) & (z > -1e3)
    zm = z[mid]
    out[mid] = log_phi[mid] + np.log1p(zm * math.sqrt(math.pi / 2.0) * erfcx(-zm / math.sqrt(2.0)))
    lo = z <= -1e3
    out[lo] = log_phi[lo] - 2.0 * np.log(-z[lo])
    return out


def log_expected_improvement(
    spec: Any,
    mu: np.ndarray,
    sd: np.ndarray,
    costs: Mapping[str, np.ndarray],
    incumbent: float,
) -> np.ndarray:
    r""":math:`\log \mathrm{EI}` of :math:`E_\beta` over ``incumbent`` (see
    :func:`expected_improvement`), finite wherever an improvement is possible.

    Where the quadrature gives :math:`\mathrm{EI} \ge 10^{-12}` it is its logarithm.
    Elsewhere (the whole normal mass of the performance below the level that ties the
    incumbent) it is the closed form of the linearized problem: with :math:`A^*` the
    normalized performance at which :math:`E_\beta(A^*, C) = E^*`
    (:func:`effobj.targets.perf_to_beat`, at least :math:`A_{\min}`),
    :math:`g = \partial E_\beta/\partial A\,(A^*) = (1+\beta^2)\beta^2 C'^2/(\beta^2 C' + A^*)^2`,
    the jump :math:`J = \max(E_\beta(A^*, C) - E^*, 0)` when the floor :math:`A_{\min}` binds,
    and :math:`z = (\mu_A - A^*)/\sigma_A`,

    .. math::

        \mathrm{EI} \approx J\,\Phi(z) + g\,\sigma_A\,h(z), \qquad h(z) = \varphi(z) + z\Phi(z),

    evaluated in log space (:func:`scipy.special.log_ndtr`, :func:`_log_h`).
    :math:`-\infty` where :math:`A^* > 1` (the hopeless rule) or a budget fails, or the
    performance is certain (``sd`` 0) and below :math:`A^*`.

    Returns:
        Shape ``(n,)``; ``exp`` of it is the EI (up to the linearization in the tail).

    Example:
        >>> import numpy as np
        >>> from effobj import EfficiencySpec
        >>> spec = EfficiencySpec(beta2=1.0, perf_ref=1.0, cost_ref=10.0, cost_name="ms")
        >>> lei = log_expected_improvement(
        ...     spec, np.array([0.8, 0.2, 0.8]), np.array([0.05, 0.05, 0.05]),
        ...     {"ms": np.array([2.0, 2.0, 9.9])}, incumbent=0.5)
        >>> bool(lei[0] > lei[1] > -np.inf == lei[2])
        True
    """
    from scipy.special import log_ndtr

    mu = np.asarray(mu, dtype=float)
    sd = np.asarray(sd, dtype=float)
    ei = expected_improvement(spec, mu, sd, costs, incumbent)
    with np.errstate(divide="ignore"):
        out = np.log(ei)
    tail = ei < _EI_FLOOR
    if not tail.any():
        return out
    b2 = float(spec.beta2)
    a_min = float(spec.a_min) if spec.perf_min is not None else 0.0
    c_all = spec.normalize_costs({k: np.asarray(v, dtype=float) for k, v in costs.items()})
    c = np.asarray(spec.combine_costs(c_all), dtype=float) * np.ones(len(mu))
    ok = np.asarray(spec._cost_feasible(c_all), dtype=bool) * np.ones(len(mu), dtype=bool)
    cp = 1.0 - c
    inc = float(incumbent)
    with np.errstate(divide="ignore", invalid="ignore"):
        if inc <= 0.0:
            a_star = np.where(cp > 0.0, a_min, np.inf)
        else:
            den = (1.0 + b2) * cp - inc
            a_star = np.where((cp > 0.0) & (den > 0.0),
                              np.maximum(a_min, inc * b2 * cp / den), np.inf)
        a_star = np.where(ok, a_star, np.inf)
        possible = tail & (a_star <= 1.0)
        pr = float(spec.perf_ref)
        mu_a, sd_a = mu / pr, sd / pr
        e_star = (1.0 + b2) * a_star * cp / (b2 * cp + a_star)
        jump = np.maximum(e_star - inc, 0.0)
        g = (1.0 + b2) * b2 * cp * cp / (b2 * cp + a_star) ** 2
        idx = np.flatnonzero(possible & (sd_a > 0.0))
        res = np.full(len(mu), -np.inf)
        if idx.size:
            z = (mu_a[idx] - a_star[idx]) / sd_a[idx]
            lin = np.log(g[idx] * sd_a[idx]) + _log_h(z)
            jmp = np.where(jump[idx] > 0.0, np.log(jump[idx]) + log_ndtr(z), -np.inf)
            res[idx] = np.logaddexp(lin, jmp)
    out = np.where(tail, np.minimum(res, math.log(_EI_FLOOR)), out)
    return out
