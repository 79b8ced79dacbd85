"""The embedding's next-views target on a shop without categories (an imported order history):
no columns, and no query."""

import polars as pl

from shopml.settings import Settings
from training.tasks.user_embedding import next_view_shares


def test_a_shop_without_categories_has_no_next_view_columns(tmp_path):
    rows = pl.DataFrame({"row": [0, 1], "user_id": [1, 2]})
    shares = next_view_shares(rows, [], 30, Settings.resolve(tmp_path))      # no warehouse there: never read
    assert shares.shape == (2, 0)
