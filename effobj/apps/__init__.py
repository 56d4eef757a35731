"""Applications built on the library: the supernet's gradient search and the demo's pieces.

The library (the metric, the profiler, the Optuna and RL integrations, the cost models)
takes objects; these applications choose them: a space, a data set, a spec, a budget.

- :func:`gradient_search` (with :class:`GradientSearchConfig`): trains the ``supernet``
  space on digits under a latency budget with :math:`E_\\beta` (or FBNet's or a linear
  penalty) as the loss, derives, profiles for real, repairs and retrains.
- The demo (``effobj demo``): its spec (:func:`demo_spec`), its space
  (:func:`demo_space`), its :func:`leaderboard`, its winners at two beta^2
  (:func:`winners_at`), and the paper's Tables 1 and 2, shipped
  as package data (:func:`paper_table_file`) and checked by :func:`paper_tables`.
- :func:`export_trial` (``effobj best --export``): a trained trial's kept weights
  exported (state dict, ``torch.export``, TorchScript, ONNX), checked, re-profiled, with
  a model card.

Importing this package imports neither torch nor optuna; each function imports what it
needs.
"""

from __future__ import annotations

from effobj.apps._demo import (
    DEMO_BETA2_ACCURACY,
    DEMO_SPEC,
    PAPER_TABLES,
    demo_space,
    demo_spec,
    leaderboard,
    paper_table_file,
    paper_table_records,
    paper_tables,
    winners_at,
)
from effobj.apps._export import EXPORT_FORMATS, ExportResult, export_trial
from effobj.apps._gradient_search import (
    DEFAULT_PROFILE,
    LOSSES,
    GradientSearchConfig,
    GradientSearchResult,
    LossParams,
    TrainingParams,
    gradient_search,
)

__all__ = [
    "DEFAULT_PROFILE",
    "DEMO_BETA2_ACCURACY",
    "DEMO_SPEC",
    "EXPORT_FORMATS",
    "ExportResult",
    "LOSSES",
    "PAPER_TABLES",
    "GradientSearchConfig",
    "GradientSearchResult",
    "LossParams",
    "TrainingParams",
    "demo_space",
    "demo_spec",
    "export_trial",
    "gradient_search",
    "leaderboard",
    "paper_table_file",
    "paper_table_records",
    "paper_tables",
    "winners_at",
]
