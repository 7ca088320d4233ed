"""Evaluation: score interpolation methods on triplet data sets (thesis Table-5.3 conventions).

Entry points: :func:`run_evaluation` (what ``animeinterp evaluate`` runs), the method registry
(:func:`get_method`, :func:`register_method`), :func:`error_map`.
"""
from __future__ import annotations

from .error_map import error_map
from .methods import Method, available_methods, get_flow_estimator, get_method, register_method
from .runner import EvaluationConfig, run_evaluation

__all__ = [
           "EvaluationConfig",
           "Method",
           "available_methods",
           "error_map",
           "get_flow_estimator",
           "get_method",
           "register_method",
           "run_evaluation",
]
