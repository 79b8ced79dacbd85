"""Exact values of the metrics of every evaluation kind beyond binary: perfect, worst and a
hand-computed case each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics.clustering import adjusted_rand, normalized_mutual_info, probe_r2, silhouette
from training.metrics.multiclass import accuracy, macro_f1, multiclass_log_loss
from training.metrics.ranking import dcg_at_k, hit_rate_at_k, ndcg_rows, reciprocal_rank, spearman_rows
from training.metrics.regression import interval_coverage, mae, mase, mean_mase, mean_rmsse, rmse, seasonal_scales, wape
from training.metrics.uplift import auuc, qini_coefficient, qini_curve, uplift_at_share

OUTCOME, TREATED = [1, 0, 0, 1], [1, 0, 1, 0]


def test_multiclass_metrics():
    assert accuracy([0, 1, 2], [0, 1, 2]) == 1.0 and accuracy([0, 1], [1, 0]) == 0.0
    assert macro_f1([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx((2 / 3 + 0.8) / 2)
    assert macro_f1([0, 1], [1, 0]) == 0.0
    assert multiclass_log_loss([0, 1], [[0.5, 0.5], [0.25, 0.75]]) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)
    assert multiclass_log_loss([0], [[1.0, 0.0]]) == pytest.approx(0.0)


def test_regression_and_forecast_metrics():
    assert mae([0, 0], [3, 4]) == 3.5 and rmse([0, 0], [3, 4]) == pytest.approx(math.sqrt(12.5))
    assert mae([1, 2], [1, 2]) == rmse([1, 2], [1, 2]) == wape([1, 2], [1, 2]) == 0.0
    assert wape([1, 3], [2, 1]) == 0.75 and math.isnan(wape([0, 0], [1, 1]))
    assert mase([5, 5], [4, 7], history=[1, 2, 4]) == 1.0           # MAE 1.5 over naive MAE 1.5
    assert mase([5, 5], [5, 5], history=[1, 2, 4]) == 0.0
    assert mase([1, 1], [2, 2], history=[3, 1, 3, 1], season=2) != mase([1, 1], [2, 2], history=[3, 1, 3, 1])
    assert math.isnan(mase([1], [2], history=[3, 3]))                # a flat history gives no scale
    assert interval_coverage([1, 2, 3, 4], [0, 2, 4, 0], [1, 3, 5, 3]) == 0.5


def test_many_series_mase_agrees_with_one_series_mase():
    history = np.array([[1, 2, 4, 0, 3], [0, 0, 5, 1, 2], [7, 7, 7, 7, 7]], dtype=float)
    starts = np.array([0, 2, 0])            # the second series starts at its third day
    scales = seasonal_scales(history, starts, season=1)
    assert scales[0] == pytest.approx(np.mean([1, 2, 4, 3])) and scales[1] == pytest.approx(np.mean([4, 1]))
    assert scales[2] == 0.0                 # flat: no scale, left out of the mean
    actual, predicted = np.array([[2, 2], [1, 3], [7, 7]]), np.array([[3, 2], [1, 1], [6, 6]])
    assert mean_mase(actual, predicted, scales) == pytest.approx(np.mean([
        mase(actual[0], predicted[0], history[0]), mase(actual[1], predicted[1], history[1, 2:])]))
    assert math.isnan(seasonal_scales(np.ones((1, 3)), [2], season=1)[0])     # one day: no difference
    squared = seasonal_scales(history, starts, season=1, power=2)
    assert squared[1] == pytest.approx(np.mean([16, 1]))
    assert mean_rmsse(actual, predicted, squared) == pytest.approx(np.mean([
        math.sqrt(0.5 / np.mean([1, 4, 16, 9])), math.sqrt(2 / 8.5)]))
    weighted = mean_rmsse(actual, predicted, squared, weights=[3, 1, 100])     # the flat series' weight drops
    assert weighted == pytest.approx(0.75 * math.sqrt(0.5 / 7.5) + 0.25 * math.sqrt(2 / 8.5))


def test_ranking_hit_rate_and_reciprocal_rank():
    assert hit_rate_at_k([0, 0, 1], 2) == 0.0 and hit_rate_at_k([0, 0, 1], 3) == 1.0
    assert reciprocal_rank([0, 0, 1]) == pytest.approx(1 / 3) and reciprocal_rank([1, 1]) == 1.0
    assert reciprocal_rank([0, 0]) == 0.0


def test_per_user_rank_correlation_and_ndcg():
    taste = [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]
    assert spearman_rows(taste, taste) == pytest.approx(1.0) and ndcg_rows(taste, taste, 2) == pytest.approx(1.0)
    reversed_ = [[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]]
    assert spearman_rows(taste, reversed_) == pytest.approx(-1.0)
    assert spearman_rows(taste, [[1, 1, 1], [0, 1, 2]]) == pytest.approx(0.5)      # a flat row orders nothing: 0
    # first row ranked (2, 0, 1) by the scores: gains 0.2 then 0.5 at k=2, over the ideal 0.5 then 0.3
    by_hand = dcg_at_k([0.2, 0.5], 2) / dcg_at_k([0.5, 0.3], 2)
    assert ndcg_rows([[0.5, 0.3, 0.2]], [[0.2, 0.1, 0.9]], 2) == pytest.approx(by_hand)


def test_qini_by_hand():
    share, increment = qini_curve(OUTCOME, TREATED, [4, 3, 2, 1])
    assert share.tolist() == [0, 0.25, 0.5, 0.75, 1] and increment.tolist() == [0, 1, 1, 1, 0]
    assert qini_coefficient(OUTCOME, TREATED, [4, 3, 2, 1]) == pytest.approx(0.75)
    assert qini_coefficient(OUTCOME, TREATED, [1, 2, 3, 4]) == pytest.approx(-0.375)   # the wrong users first
    assert qini_coefficient(OUTCOME, TREATED, [1, 1, 1, 1]) == 0.0                    # no order: random


def test_qini_does_not_depend_on_row_order_within_ties():
    scores = [2, 2, 1, 1]
    y, t = np.array(OUTCOME), np.array(TREATED)
    swapped = [1, 0, 3, 2]                                     # rows swapped inside each tie group
    assert qini_coefficient(y, t, scores) == qini_coefficient(y[swapped], t[swapped], scores)


def test_auuc_and_uplift_at_share_by_hand():
    assert auuc(OUTCOME, TREATED, [4, 3, 2, 1]) == pytest.approx(0.28125)
    assert uplift_at_share(OUTCOME, TREATED, [4, 3, 2, 1], 0.5) == 1.0        # treated bought, control did not
    assert uplift_at_share(OUTCOME, TREATED, [4, 3, 2, 1], 1.0) == 0.0        # 1/2 - 1/2
    assert math.isnan(uplift_at_share(OUTCOME, TREATED, [4, 3, 2, 1], 0.25))  # no control user in the top


def test_clustering_metrics():
    vectors, labels = [[0.0], [0.0], [10.0], [10.0]], [0, 0, 1, 1]
    assert silhouette(vectors, labels) == 1.0
    assert adjusted_rand([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0 and normalized_mutual_info([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    assert adjusted_rand([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    x = np.arange(40, dtype=float).reshape(-1, 1)
    assert probe_r2(x[::2], 2 * x[::2, 0], x[1::2], 2 * x[1::2, 0]) == pytest.approx(1.0, abs=1e-4)
    # several columns: the mean of the probes fitted one by one
    x = np.column_stack([x[:, 0], np.cos(x[:, 0])])
    y = np.column_stack([2 * x[:, 0], x[:, 1] + np.sin(7 * x[:, 0])])
    one_by_one = np.mean([probe_r2(x[::2], y[::2, j], x[1::2], y[1::2, j]) for j in range(2)])
    assert probe_r2(x[::2], y[::2], x[1::2], y[1::2]) == pytest.approx(one_by_one, abs=1e-9)
