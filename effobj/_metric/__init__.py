r"""The metric core behind the public faces (:mod:`effobj.metric`, :mod:`effobj.spec`,
:mod:`effobj.nn`). Private; its modules depend one way, each only on those before it:

1. :mod:`~effobj._metric.kernels`: the arithmetic of :math:`E_\beta`, its derivatives and
   the surrogate :math:`S_\tau`, written once for numpy and torch, and the one builder of
   gate margins.
2. :mod:`~effobj._metric.stream`: the same arithmetic on large numpy arrays, in
   cache-sized blocks split over the cores (bit-identical values).
3. :mod:`~effobj._metric.fused`: the torch fused paths: the stream wrapped in an autograd
   Function with its closed-form gradient, and the ``torch.compile`` graph.
4. :mod:`~effobj._metric.dispatch`: parameters, input preparation and the one dispatcher
   that picks a path; every face calls it.

numpy is the only import at module level: torch is imported inside the calls that
received a tensor, so the metric layer stays free of torch and optuna.
"""
