"""The review-ranked search policy's pleased share: shrunk toward the shop's by a few reviews."""

import numpy as np
import pytest

from training.search_policy import pleased_share


def test_an_item_with_few_reviews_is_shrunk_toward_the_shop_and_one_without_gets_it():
    negative = np.array([1.0, 0.5, np.nan, 0.0])
    reviews = np.array([1, 40, np.nan, 59])              # the shop: 21 negative of 100
    pleased = pleased_share(negative, reviews, prior_reviews=5)
    assert pleased[2] == pytest.approx(0.79)
    assert pleased[0] == pytest.approx(1 - (1 + 5 * 0.21) / 6)     # one bad review: not buried
    assert pleased[1] == pytest.approx(1 - (20 + 5 * 0.21) / 45)
    assert pleased[3] > pleased[2] > pleased[0] > pleased[1]     # one bad review of one: above half of 40
