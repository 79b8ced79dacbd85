"""Where a session's next view leads: the category of its next view, as a choice among the shop's
categories (``next_action``'s second head).

Each step whose next action is a view becomes one row per category (the candidate), labelled by
whether the view landed there, with the user's taste for the candidate (``next_category_v1``:
decayed views, carts, purchases and engagements in that category, point-in-time), whether it is
the category of the session's latest view, and the session so far. A LightGBM binary model scores
every candidate and the scores, normalised per step, are the distribution (a conditional choice
model, so a category's features stand beside the others').

The baseline stays: the latest view's category with the training steps' stay rate, the rest by the
categories' shares of next views (those shares alone before the first view). The oracle, on
simulated data, is the simulator's own: as a session opens, its category is still to be drawn from
the user's taste (``truth.sessions.opening_categories``); after that a view is in the session's
category unless it is a clicked ad's (``truth.session_steps.p_next_ad``, spread by
``truth.sessions.ad_categories``)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.warehouse.database import connect, has_truth

from .boosting import BoostingConfig, lgb_params
from .datasets import point_in_time_dataset
from .session_steps import LAST_VIEW_ITEM, NEXT_CATEGORY

CANDIDATE = "candidate__category"                 # the candidate, a categorical feature
SAME = "candidate__is_last_view_category"
CHOSEN = "chosen"
LAST_CATEGORY = "last_view_category"             # on step rows: the category of the session's latest view

ORACLE_SQL = """
SELECT w.row, w.step, s.category AS session_category, t.p_next_ad, s.opening_categories, s.ad_categories
FROM wanted w JOIN truth.session_steps t USING (session_id, step) JOIN truth.sessions s USING (session_id)
ORDER BY w.row
"""


def item_categories(settings) -> dict[int, str]:
    with connect(settings.warehouse_path) as con:
        return dict(con.execute("SELECT item_id, category FROM items WHERE category IS NOT NULL").fetchall())


def with_last_category(steps: pl.DataFrame, categories_of: dict[int, str]) -> pl.DataFrame:
    """The step rows with the category of the session's latest view (null before the first)."""
    item = pl.col(LAST_VIEW_ITEM).cast(pl.Int64, strict=False)
    return steps.with_columns(item.replace_strict(categories_of, default=None, return_dtype=pl.String)
                              .alias(LAST_CATEGORY))


def candidates(steps: pl.DataFrame, categories: list[str], settings, session_features: list[str]) -> pl.DataFrame:
    """Each step times each category, with the user's taste for it as of the step, the stay flag,
    the session features and, where the step has one, the label."""
    rows = (steps.with_row_index("step_row")
            .join(pl.DataFrame({names.CATEGORY: categories}), how="cross")
            .with_columns(pl.col(names.CATEGORY).alias(CANDIDATE),
                          (pl.col(names.CATEGORY) == pl.col(LAST_CATEGORY)).fill_null(False).cast(pl.Float64).alias(SAME)))
    if NEXT_CATEGORY in steps.columns:
        rows = rows.with_columns((pl.col(names.CATEGORY) == pl.col(NEXT_CATEGORY)).alias(CHOSEN))
    keep = ["step_row", names.USER_ID, names.CATEGORY, names.EVENT_TIMESTAMP, CANDIDATE, SAME, *session_features,
            *([CHOSEN] if CHOSEN in rows.columns else [])]
    return point_in_time_dataset(rows.select(keep), names.NEXT_CATEGORY_V1, settings)


def fit(config: BoostingConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame) -> lgb.Booster:
    params = lgb_params(config, objective="binary")
    train_set = lgb.Dataset(layout.matrix(train), train[CHOSEN].cast(pl.Int8).to_numpy())
    valid_set = lgb.Dataset(layout.matrix(valid), valid[CHOSEN].cast(pl.Int8).to_numpy(), reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def per_step(scores: np.ndarray, n_categories: int) -> np.ndarray:
    """(steps, categories): candidate scores (step-major, categories in order) normalised per step."""
    grid = scores.reshape(-1, n_categories)
    return grid / grid.sum(axis=1, keepdims=True)


def stay_rate(train_steps: pl.DataFrame) -> float:
    seen = train_steps.filter(pl.col(LAST_CATEGORY).is_not_null())
    return float((seen[LAST_CATEGORY] == seen[NEXT_CATEGORY]).mean()) if seen.height else 0.0


def next_view_shares(train_steps: pl.DataFrame, categories: list[str]) -> np.ndarray:
    counts = np.array([(train_steps[NEXT_CATEGORY] == c).sum() for c in categories], dtype=float) + 1.0
    return counts / counts.sum()


def stay_baseline(last_categories: list[str | None], categories: list[str], stay: float, shares: np.ndarray) -> np.ndarray:
    """(steps, categories): the latest view's category with ``stay``, the rest by ``shares``."""
    p = np.tile(shares, (len(last_categories), 1))
    codes = (pl.Series(last_categories, dtype=pl.String)
             .replace_strict(categories, list(range(len(categories))), default=-1, return_dtype=pl.Int64).to_numpy())
    known = np.flatnonzero(codes >= 0)
    p[known] *= 1 - stay
    p[known, codes[known]] += stay
    return p


def oracle(settings, steps: pl.DataFrame, categories: list[str]) -> np.ndarray | None:
    """(steps, categories): the simulator's distribution of the next view's category, or None on
    real data. Its per-category lists run in alphabetical order."""
    with connect(settings.warehouse_path) as con:
        if not has_truth(con):
            return None
        con.register("wanted", steps.select("session_id", "step").with_row_index("row").to_arrow())
        found = con.sql(ORACLE_SQL).pl()
    if found.height != steps.height:
        raise ValueError(f"{steps.height - found.height} steps have no recorded truth")
    order = [sorted(categories).index(c) for c in categories]
    opening = np.array(found["opening_categories"].to_list())[:, order]
    ads = np.array(found["ad_categories"].to_list())[:, order]
    own = (found["session_category"].to_numpy()[:, None] == np.array(categories)[None, :]).astype(float)
    p_ad = found["p_next_ad"].to_numpy()[:, None]
    return np.where(found["step"].to_numpy()[:, None] == 0, opening, (1 - p_ad) * own + p_ad * ads)
