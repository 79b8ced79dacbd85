"""The fine-tune's batches: every row once per epoch, batches of similar length, random order."""

import numpy as np

from training.finetune import similar_length_batches


def test_every_row_once_in_batches_of_similar_length_in_random_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 64, 1000)
    batches = similar_length_batches(lengths, 32, np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows) == list(range(1000))
    assert max(len(b) for b in batches) == 32
    padded = sum(lengths[b].max() * len(b) for b in batches)
    plain = sum(lengths[b].max() * len(b) for b in np.array_split(rng.permutation(1000), 1000 // 32))
    assert padded < 0.75 * plain
    again = similar_length_batches(lengths, 32, np.random.default_rng(2))
    assert [list(b) for b in again] != [list(b) for b in batches]
