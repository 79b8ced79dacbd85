"""Evaluation metrics, one module per evaluation kind, each metric a pure function of arrays with
exact-value tests (tests/unit/test_metrics*.py)."""

from .binary import (auc_difference_se, auc_skill, average_precision, binary_report, expected_calibration_error,
                     log_loss, reliability_table, roc_auc, threshold_curves, top_decile_lift)
from .ranking import dcg_at_k, hit_rate_at_k, ndcg_at_k, ndcg_rows, recall_at_k, reciprocal_rank, spearman_rows

__all__ = ["auc_difference_se", "auc_skill", "average_precision", "binary_report", "dcg_at_k",
           "expected_calibration_error", "hit_rate_at_k", "log_loss", "ndcg_at_k", "ndcg_rows", "recall_at_k", "reciprocal_rank",
           "reliability_table", "roc_auc", "spearman_rows", "threshold_curves", "top_decile_lift"]
