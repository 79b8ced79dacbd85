"""Price elasticity: how much a category's demand moves, in the short run, when its prices move.

Per category, from ``forecast_v1``'s ``item_demand`` rows (each item's units and list price of
every day): a daily price index, the mean of list price over base price of the items on sale,
weighed by the units each item sold over the whole panel (a fixed basket, as a Laspeyres index;
promotions included, since that is the price customers see), and the category's units.

The estimate is a difference in differences: one regression of each category's change in log
units from the same weekday a week before (``lag_days``) on a dummy per day and a slope per
category on its change in the log price index. The category's own level, the weekday and every
shock the whole shop shares that day (a season, a holiday, customers leaving) drop out; the
change in the share of items on promotion is a control. Newey-West standard errors within each
category's days, since consecutive weekly differences share days. The reference is what a first regression gives: log units on the log
index, with a weekday and a trend, in levels. Double machine learning on the levels (DoubleML's
partially linear model, LightGBM nuisances, blocked time folds) was tried first and did worse:
the level of demand after a price rise also carries the customers the rise drives away over the
weeks after, which no control of the day separates from the price.

On the simulated shop the truth is ``truth.category_days.price_elasticity`` (the exact
derivative of a day's expected units by the category's price index), averaged over the days
estimated on. A shop whose items have no categories (UCI Online Retail) has nothing to compare
a category with on the same day, and is refused. There is no train and test split: the
estimate is a causal effect, judged against the truth, not a forecast; nothing is chosen.
Not served yet: the price advice that will use it is the next step of the demand family.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.settings import Settings
from shopml.warehouse.database import connect

from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..metrics.ranking import spearman_rows
from ..report import forest_chart
from ..sales import load_sales_panel
from ..sales_model import origin_rows
from ..task import task_labels

log = logging.getLogger(__name__)

DIFFERENCES, LEVELS = "differences", "levels"
CATEGORIES, AGAINST_TRUTH = "per category", "against the truth"
UNITS, PRICE, PROMO = (f"{names.ITEM_DEMAND}__{f}" for f in ("units_1d", "price_vs_base", "on_promo"))
CATEGORY = f"{names.ITEM_CONTENT}__{names.CATEGORY}"
DAY = "day"


@dataclass(frozen=True)
class PriceElasticityConfig:
    lag_days: int = 7                 # the differences' lag: a week, so weekdays cancel
    control_promotions: bool = True   # the change in the share of items on promotion as a control
    confidence: float = 0.95          # of the intervals

    def __post_init__(self):
        if self.lag_days < 1:
            raise ValueError(f"lag_days must be at least 1, got {self.lag_days}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence}")


@dataclass
class CategoryDays:
    """Per category and day: log units, log price index and the share on promotion."""
    frame: pl.DataFrame               # category, day, units, log_units, log_index, promo
    truth: dict[str, float] | None    # the mean true elasticity per category over the same days


def category_days(rows: pl.DataFrame) -> pl.DataFrame:
    """The daily category panel from item rows (units, price over base, promotion flag of day - 1);
    refused unless there are two categories to compare."""
    rows = rows.filter(pl.col(CATEGORY).is_not_null())
    if rows[CATEGORY].n_unique() < 2:
        raise ValueError("price_elasticity compares each category with the others on the same day: the shop's "
                         "items need a category, and at least two categories")
    weights = rows.group_by(names.ITEM_ID).agg((pl.col(UNITS).sum() + 1).alias("weight"))
    priced = rows.join(weights, on=names.ITEM_ID).filter(pl.col(PRICE).is_not_null())
    return (priced.group_by(CATEGORY, DAY)
            .agg(pl.col(UNITS).sum().alias("units"),
                 ((pl.col("weight") * pl.col(PRICE)).sum() / pl.col("weight").sum()).log().alias("log_index"),
                 ((pl.col("weight") * pl.col(PROMO)).sum() / pl.col("weight").sum()).alias("promo"))
            .with_columns(pl.col("units").log1p().alias("log_units"))
            .rename({CATEGORY: names.CATEGORY}).sort(names.CATEGORY, DAY))


def differenced(frame: pl.DataFrame, lag: int) -> pl.DataFrame:
    """Each category's change over ``lag`` days (rows with a day ``lag`` days before)."""
    columns = ("log_units", "log_index", "promo")
    return (frame.sort(names.CATEGORY, DAY)
            .with_columns([(pl.col(c) - pl.col(c).shift(lag).over(names.CATEGORY)).alias(f"d_{c}") for c in columns])
            .drop_nulls([f"d_{c}" for c in columns]))


def estimate(frame: pl.DataFrame, config: PriceElasticityConfig) -> dict[str, dict[str, float]]:
    """Per category: the difference-in-differences estimate and its standard error (one pooled
    regression of the changes on a dummy per day and a price slope per category, Newey-West
    within each category's days), and the levels regression's."""
    import statsmodels.api as sm

    changes = differenced(frame, config.lag_days)
    categories = sorted(changes[names.CATEGORY].unique().to_list())
    category = changes[names.CATEGORY].to_numpy()
    slopes = np.column_stack([np.where(category == c, changes["d_log_index"].to_numpy(), 0.0) for c in categories])
    days = changes[DAY].to_physical().to_numpy()
    day_dummies = (days[:, None] == np.unique(days)[None, :]).astype(float)
    promo = changes["d_promo"].to_numpy()[:, None]
    design = np.column_stack([slopes, day_dummies, *([promo] if config.control_promotions and promo.std() > 0 else [])])
    fit = sm.OLS(changes["d_log_units"].to_numpy(), design).fit(
        cov_type="hac-panel", cov_kwds={"groups": np.searchsorted(categories, category), "maxlags": config.lag_days})
    out = {}
    for j, c in enumerate(categories):
        naive, naive_se = _levels(frame.filter(pl.col(names.CATEGORY) == c), config.lag_days)
        out[c] = {"estimate": float(fit.params[j]), "se": float(fit.bse[j]), LEVELS: naive, "levels_se": naive_se,
                  "days": int((category == c).sum())}
    return out


def _levels(days: pl.DataFrame, lags: int) -> tuple[float, float]:
    """The first regression one would run: log units on the log index, a weekday and a trend."""
    import statsmodels.api as sm

    weekday = np.eye(7)[[d.weekday() for d in days[DAY].to_list()]][:, 1:]
    x = np.column_stack([days["log_index"].to_numpy(), np.arange(days.height, dtype=float), weekday,
                         np.ones(days.height)])
    fit = sm.OLS(days["log_units"].to_numpy(), x).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return float(fit.params[0]), float(fit.bse[0])


def true_elasticities(settings: Settings, frame: pl.DataFrame) -> dict[str, float] | None:
    """The simulator's short-run elasticity per category, averaged over the panel's days (None
    without that truth)."""
    with connect(settings.warehouse_path) as con:
        found = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'truth' "
                            "AND table_name = 'category_days' AND column_name = 'price_elasticity'").fetchall()[0][0]
        if not found:
            return None
        first, last = frame[DAY].min(), frame[DAY].max()
        rows = con.execute("""SELECT category, avg(price_elasticity) FROM truth.category_days
                              WHERE day BETWEEN ? AND ? GROUP BY 1""", [first, last]).fetchall()
    return {category: float(value) for category, value in rows}


class PriceElasticityTask:
    name = "price_elasticity"
    question = "How much does each category's demand move when its prices move?"
    family = "demand"
    entity = "item"
    feature_service = names.FORECAST_V1            # item_demand's units and prices, item_content's category
    config_type = PriceElasticityConfig
    evaluation = Tabled("elasticity", AGAINST_TRUTH, model=DIFFERENCES, reference=LEVELS, metric="mae",
                        label="elasticity error vs truth (MAE)")

    def build_dataset(self, config: PriceElasticityConfig, settings: Settings) -> CategoryDays:
        panel = load_sales_panel(settings.warehouse_path)
        rows = point_in_time_dataset(origin_rows(panel, list(range(1, panel.days + 1))), self.feature_service,
                                     settings)
        frame = category_days(rows.select(names.ITEM_ID, UNITS, PRICE, PROMO, CATEGORY, (
            pl.col(names.EVENT_TIMESTAMP).dt.date() - pl.duration(days=1)).alias(DAY)))
        return CategoryDays(frame=frame, truth=true_elasticities(settings, frame))

    def train(self, config: PriceElasticityConfig, data: CategoryDays) -> dict[str, dict[str, float]]:
        return estimate(data.frame, config)

    def evaluate(self, config: PriceElasticityConfig, model: dict[str, dict[str, float]], data: CategoryDays,
                 settings: Settings) -> Evaluation:
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + config.confidence / 2))
        truth = data.truth or {}
        per_category = {category: {**found, "low": found["estimate"] - z * found["se"],
                                   "high": found["estimate"] + z * found["se"],
                                   "truth": truth.get(category, float("nan"))}
                        for category, found in model.items()}
        tables = {CATEGORIES: per_category, AGAINST_TRUTH: against_truth(per_category, z)}
        chart = forest_chart(f"elasticity per category: estimate with its {config.confidence:.0%} interval, truth as a ring",
                             {c: (r["estimate"], r["low"], r["high"], r["truth"] if data.truth else None)
                              for c, r in per_category.items()}, "d log units / d log price")
        return Evaluation(heads={}, tables=tables, figures=[chart])

    def save(self, config: PriceElasticityConfig, model: dict[str, dict[str, float]], data: CategoryDays,
             metrics: dict, settings: Settings) -> str:
        metadata = {"config": config.__dict__, "metrics": metrics, "elasticities": model,
                    "days": [str(data.frame[DAY].min()), str(data.frame[DAY].max())]}
        return save_artifact(self.name, task_labels(self), metadata, settings, lambda folder: None)


def against_truth(per_category: dict[str, dict[str, float]], z: float) -> dict[str, dict[str, float]]:
    """Per method: the mean absolute error against the truth, the rank correlation with it, the
    share of intervals that cover it, and the mean standard error (nan without truth)."""
    truth = np.array([r["truth"] for r in per_category.values()])
    out = {}
    for method, se_key in ((DIFFERENCES, "se"), (LEVELS, "levels_se")):
        value = np.array([r["estimate" if method == DIFFERENCES else LEVELS] for r in per_category.values()])
        se = np.array([r[se_key] for r in per_category.values()])
        known = np.isfinite(truth)
        out[method] = {
            "mae": float(np.mean(np.abs(value - truth)[known])) if known.any() else float("nan"),
            "rank_correlation": spearman_rows([truth[known]], [value[known]]) if known.sum() > 1 else float("nan"),
            "coverage": float(np.mean(np.abs(value - truth)[known] <= z * se[known])) if known.any() else float("nan"),
            "mean_se": float(se.mean())}
    return out
