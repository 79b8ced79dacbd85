"""The user encoder's contrastive pairs: each row's partner is another row of the same user."""

import numpy as np

from training.user_encoder import partners


def test_each_row_is_paired_with_another_row_of_its_user():
    users = np.array([7, 3, 7, 5, 3, 7, 9])
    for seed in range(20):
        partner = partners(users, np.random.default_rng(seed))
        paired = partner >= 0
        assert paired.tolist() == [True, True, True, False, True, True, False]     # 5 and 9 have one row
        assert (users[partner[paired]] == users[paired]).all()
        assert (partner[paired] != np.flatnonzero(paired)).all()


def test_every_other_row_of_a_user_is_drawn():
    users = np.array([1, 1, 1, 1])
    drawn = {int(partners(users, np.random.default_rng(seed))[0]) for seed in range(50)}
    assert drawn == {1, 2, 3}
