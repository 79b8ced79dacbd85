"""The next-item model, its full-ranking metrics and the public sequence files, on small cases
whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.public_sequences import leave_one_out, load
from training.sequence_model import (Histories, SelfAttentiveRecommender, SequenceModelConfig, popularity,
                                     ranking_metrics, target_ranks)


def scores_of(matrix):
    return lambda inputs: matrix[:len(inputs)]


def test_ranks_count_the_items_scored_at_least_as_high_and_mask_what_was_read():
    # items 1..4; user 0 read item 3 (scored highest) and wants item 2; user 1 wants item 4
    scores = np.array([[-np.inf, 1.0, 2.0, 5.0, 0.5],
                       [-np.inf, 3.0, 3.0, 1.0, 3.0]])
    histories = Histories([np.array([3]), np.array([1])], np.array([2, 4]))
    assert target_ranks(scores, histories).tolist() == [0, 1]            # 3 masked; a tie counts against
    assert target_ranks(scores, histories, mask_seen=False).tolist() == [1, 2]
    metrics = ranking_metrics(scores, histories, k=1)
    assert metrics["hr_at_1"] == 0.5
    assert metrics["ndcg_at_1"] == pytest.approx(0.5)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    assert ranking_metrics(scores_of(scores), histories) == ranking_metrics(scores, histories)


def test_a_read_target_is_never_masked():
    scores = np.array([[-np.inf, 1.0, 2.0]])
    histories = Histories([np.array([1, 2])], np.array([2]))
    assert target_ranks(scores, histories).tolist() == [0]


def test_ndcg_discounts_by_log_rank():
    scores = np.array([[-np.inf, 3.0, 2.0, 1.0]])
    metrics = ranking_metrics(scores, Histories([np.array([], dtype=int)], np.array([3])), mask_seen=False)
    assert metrics["ndcg_at_10"] == pytest.approx(1 / math.log2(4))


def test_popularity_ranks_by_training_counts():
    score = popularity([np.array([1, 2, 2]), np.array([2, 3])], items=3)
    assert score([np.array([1])])[0].tolist() == [-np.inf, 1.0, 3.0, 1.0]


def test_the_model_learns_a_sequence_rule():
    """Each next item is the current one plus one (cyclic over 30 items): after training, the rule's
    item is first for nearly every user."""
    rng = np.random.default_rng(0)
    items = 30
    sequences = [1 + (start + np.arange(length)) % items
                 for start, length in zip(rng.integers(0, items, 300), rng.integers(4, 12, 300))]
    split = leave_one_out(sequences)
    config = SequenceModelConfig(dimension=16, layers=1, heads=1, max_length=10, dropout=0.0, learning_rate=1e-2,
                                 batch_size=64, max_epochs=20, patience=20, seed=0)
    model = SelfAttentiveRecommender(items, config).fit(split.train, split.validation, mask_seen=False)
    assert ranking_metrics(model.scores, split.test, mask_seen=False, k=1)["hr_at_1"] > 0.9
    assert model.best_epoch >= 1 and len(model.history) == model.epochs_run


def test_side_information_shapes_the_item_vectors():
    side = np.eye(5, dtype=np.float32)
    model = SelfAttentiveRecommender(5, SequenceModelConfig(dimension=8, layers=1, heads=1, max_length=4), side)
    assert model.item_vectors().shape == (6, 8)
    restored = SelfAttentiveRecommender.restore(5, model.config, model.state(), side)
    np.testing.assert_allclose(restored.item_vectors(), model.item_vectors())


def test_leave_one_out_keeps_the_last_two_items_out_of_training():
    split = leave_one_out([np.array([1, 2, 3, 4]), np.array([5, 6])])
    assert [s.tolist() for s in split.train] == [[1, 2]]                 # a 2-item user has no training item
    assert split.validation.targets.tolist() == [3] and split.test.targets.tolist() == [4]
    assert split.test.inputs[0].tolist() == [1, 2, 3]


def test_load_reads_sequences_and_attributes(tmp_path):
    (tmp_path / "Shop.txt").write_text("1 1 2 3\n2 3 2\n")
    (tmp_path / "Shop_item2attributes.json").write_text('{"1": [0, 2], "3": [1]}')
    data = load(tmp_path, "Shop")
    assert data.items == 3 and [s.tolist() for s in data.sequences] == [[1, 2, 3], [3, 2]]
    np.testing.assert_allclose(data.attributes, [[0.5, 0, 0.5], [0, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("text, message", [("1\n", "at least one item"), ("1 0 2\n", "start at 1"),
                                           ("1 a\n", "Shop.txt:1: invalid literal")])
def test_load_names_the_bad_line(tmp_path, text, message):
    (tmp_path / "Shop.txt").write_text(text)
    with pytest.raises(ValueError, match=message):
        load(tmp_path, "Shop")


def test_load_says_which_datasets_it_knows(tmp_path):
    with pytest.raises(FileNotFoundError, match="Beauty, Sports, Toys"):
        load(tmp_path, "Beauty")
