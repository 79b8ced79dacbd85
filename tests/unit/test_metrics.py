"""Metrics: exact values on hand-made cases, and agreement with scikit-learn on random ones."""

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from training.metrics import (average_precision, binary_report, expected_calibration_error, log_loss,
                              ndcg_at_k, recall_at_k, reliability_table, roc_auc, threshold_curves,
                              top_decile_lift)
from training.metrics.ranking import ranked_frame_quality


def test_perfect_ranking_scores_one_and_reversed_scores_zero():
    y = [0, 0, 1, 1]
    assert roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert average_precision(y, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_ties_count_one_half():
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.9]) == 0.875     # 3.5 of 4 pairs


def test_average_precision_by_hand():
    # ranked: 1 (P=1/1), 0, 1 (P=2/3) -> (1 + 2/3) / 2
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2, abs=1e-15)


def test_undefined_cases_are_nan():
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(average_precision([0, 0], [0.2, 0.3]))


def test_log_loss_by_hand_and_clipped():
    assert log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2), abs=1e-15)
    assert log_loss([1], [1.0]) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(log_loss([1], [0.0]))


def test_calibration_of_a_perfectly_calibrated_model_is_zero():
    y = [0, 1, 0, 0, 1, 1, 1, 0]
    p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p) == 0.0
    table = reliability_table(y, p)
    assert [b.count for b in table] == [0, 0, 4, 0, 0, 0, 0, 4, 0, 0]
    assert table[2].observed_rate == 0.25 and table[7].mean_predicted == 0.75


def test_calibration_error_by_hand_and_the_top_bin_is_closed():
    assert expected_calibration_error([1, 1], [1.0, 0.9]) == pytest.approx(0.05, abs=1e-15)
    assert reliability_table([1], [1.0])[-1].count == 1


def test_top_decile_lift_by_hand():
    y = [1] + [0] * 9 + [1] * 0 + [0] * 10          # 1 positive in 20, ranked first
    scores = np.linspace(1, 0, 20)
    assert top_decile_lift(y, scores) == pytest.approx(0.5 / 0.05)     # top 2 rows: rate 1/2


def test_agreement_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.2
    p = np.clip(np.round(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.2, 5000), 2), 0.01, 0.99)   # with ties
    assert roc_auc(y, p) == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(sk.average_precision_score(y, p), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(sk.log_loss(y, p), abs=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="one length"):
        log_loss([0, 1], [0.1])
    assert set(binary_report([0, 1], [0.2, 0.7])) >= {"auc", "pr_auc", "log_loss", "ece", "top_decile_lift"}


def test_threshold_curves_by_hand_and_against_scikit_learn():
    curves = threshold_curves([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.1])      # 0.8 is one threshold
    np.testing.assert_array_equal(curves.true_positive_rate, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(curves.false_positive_rate, [0, 0, 0.5, 1])
    np.testing.assert_array_equal(curves.selected_share, [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(curves.precision[1:], [1, 2 / 3, 0.5])
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 2, 500), np.round(rng.random(500), 2)
    fpr, tpr, _ = sk.roc_curve(y, p, drop_intermediate=False)
    curves = threshold_curves(y, p)
    np.testing.assert_allclose(curves.false_positive_rate, fpr)
    np.testing.assert_allclose(curves.true_positive_rate, tpr)
    assert np.trapezoid(curves.true_positive_rate, curves.false_positive_rate) == pytest.approx(roc_auc(y, p))


def test_ndcg_and_recall_by_hand():
    assert ndcg_at_k([3, 2, 0], [3, 2], k=10) == 1.0                       # the ideal order
    assert ndcg_at_k([0, 0, 0], [3], k=10) == 0.0
    swapped = (3 / 1 + 7 / np.log2(3)) / (7 / 1 + 3 / np.log2(3))          # grades 2 then 3
    assert ndcg_at_k([2, 3], [3, 2], k=10) == pytest.approx(swapped, abs=1e-15)
    assert ndcg_at_k([0, 3], [3], k=1) == 0.0                              # beyond k does not count
    assert math.isnan(ndcg_at_k([0, 0], [], k=10))
    assert recall_at_k([1, 0, 1, 0], total_relevant=4, k=3) == 0.5
    # with 0/1 grades the exponential gain is the linear one scikit-learn uses
    assert ndcg_at_k([1, 0, 1], [1, 1], k=3) == pytest.approx(sk.ndcg_score([[1, 0, 1, 0]], [[4, 3, 2, 1]], k=3))


def test_frame_quality_is_the_mean_of_the_per_query_figures():
    import polars as pl

    rng = np.random.default_rng(5)
    ranked = pl.DataFrame({"q": np.repeat(np.arange(30), 20), "item": rng.integers(0, 40, 600),
                           "order": np.tile(np.arange(20), 30)}).unique(["q", "item"], keep="first", maintain_order=True)
    ranked = ranked.with_columns((pl.col("order").rank("ordinal").over("q")).alias("rank"))     # 1, 2, ... per query
    grades = pl.DataFrame({"q": np.repeat(np.arange(35), 6), "item": rng.integers(0, 40, 210),
                           "grade": rng.integers(1, 4, 210)}).unique(["q", "item"])
    quality = ranked_frame_quality(ranked, grades, "q", "item", k=10, depth=15, relevant=2)
    ndcg, recall = [], []
    for q in range(30):
        grade_of = dict(grades.filter(pl.col("q") == q).select("item", "grade").iter_rows())
        ranked_grades = [grade_of.get(i, 0) for i in ranked.filter(pl.col("q") == q).sort("rank")["item"]]
        ndcg.append(ndcg_at_k(ranked_grades, list(grade_of.values()), 10))
        total = sum(g >= 2 for g in grade_of.values())
        recall.append(recall_at_k([g >= 2 for g in ranked_grades], total, 15))
    assert quality["queries"] == 30
    assert quality["ndcg"] == pytest.approx(np.nanmean(ndcg), abs=1e-12)
    assert quality["recall"] == pytest.approx(np.nanmean(recall), abs=1e-12)


def test_oracle_lead_against_scikit_learn():
    from training.oracle import oracle_lead

    rng = np.random.default_rng(3)
    departed = rng.random(400) < 0.3
    labels = np.where(departed, 1, rng.random(400) < 0.2).astype(int)       # churn: the departed are all positives
    model, oracle = rng.random(400) + 0.3 * labels, np.where(departed, 1.0, rng.random(400) + labels)
    lead = oracle_lead(labels, model, oracle, departed, if_departed=1.0)
    assert lead["departed_share"] == departed.mean()
    assert lead["departed_share_of_positives"] == departed.sum() / labels.sum()
    stayed = ~departed
    assert lead["stayed_model_over_oracle_auc"] == pytest.approx(
        sk.roc_auc_score(labels[stayed], model[stayed]) / sk.roc_auc_score(labels[stayed], oracle[stayed]))
    assert lead["told_model_over_oracle_auc"] == pytest.approx(
        sk.roc_auc_score(labels, np.where(departed, 1.0, model)) / sk.roc_auc_score(labels, oracle))


def test_auc_skill_is_zero_for_a_coin_and_one_for_the_oracle():
    from training.metrics import auc_skill

    assert auc_skill(0.5, 0.8) == 0.0 and auc_skill(0.8, 0.8) == 1.0
    assert auc_skill(0.65, 0.8) == pytest.approx(0.5) and auc_skill(0.4, 0.9) == pytest.approx(-0.25)
    assert math.isnan(auc_skill(0.7, 0.5))


def test_auc_difference_se_is_zero_for_one_scorer_and_shrinks_with_rows():
    from training.metrics import auc_difference_se

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 4000)
    a, b = y + rng.normal(0, 1, 4000), y + rng.normal(0, 1.5, 4000)
    assert auc_difference_se(y, a, a) == 0.0
    small, large = auc_difference_se(y[:400], a[:400], b[:400]), auc_difference_se(y, a, b)
    assert 0 < large < small
