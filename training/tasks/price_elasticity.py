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
a category with on the same day, and is refused. The estimate itself has no train and test
split: it is a causal effect, judged against the truth, not a forecast.

The advice (``training.price_advice``) moves a category's prices to the edge of a band where
the estimate is sure which side of -1 it lies; whether it may raise prices is chosen in the
what-if shop over the data's last weeks (validation), and the advice is judged in the what-if
shop over the four weeks after the data (test), against the same rule on the true elasticities.
Served as ``POST /price_advice``: per item its current price (``item_stats`` online), the
recommended price, the elasticity used and the expected change in units and revenue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from feature_repo.definitions import names
from shopml.model_store import save_artifact
from shopml.serving import Endpoint, Id, OnlineReader, Request, SavedModel
from shopml.settings import Settings

from ..datasets import point_in_time_dataset
from ..evaluation import Evaluation
from ..kinds import Tabled
from ..metrics.ranking import spearman_rows
from ..oracle import category_elasticities
from ..price_advice import ADVICE, ADVICE_CUTS, advise, expected_change, price_whatif
from ..report import forest_chart
from ..sales import load_sales_panel
from ..sales_model import origin_rows
from ..task import task_labels

log = logging.getLogger(__name__)

DIFFERENCES, LEVELS = "differences", "levels"
CATEGORIES, AGAINST_TRUTH = "per category", "against the truth"
VALIDATION_WHATIF = "what-if shop, the data's last weeks (validation: may the advice raise prices?)"
TEST_WHATIF = "what-if shop, the weeks after the data (test)"
UNITS, PRICE, PROMO = (f"{names.ITEM_DEMAND}__{f}" for f in ("units_1d", "price_vs_base", "on_promo"))
CATEGORY = f"{names.ITEM_CONTENT}__{names.CATEGORY}"
DAY = "day"
CURRENT_PRICE = f"{names.ITEM_STATS}__current_price"
MAX_ITEMS = 1000


@dataclass(frozen=True)
class PriceElasticityConfig:
    lag_days: int = 7                 # the differences' lag: a week, so weekdays cancel
    control_promotions: bool = True   # the change in the share of items on promotion as a control
    confidence: float = 0.95          # of the intervals
    band: float = 0.1                 # the advice moves a category's prices by at most this share
    allow_rises: bool | None = None   # the advice may raise prices; None: chosen in a validation what-if
    whatif_days: int = 28             # each what-if's horizon; the validation one ends where the data ends
    whatif_seeds: int = 10            # paired futures per what-if (0: no what-if, and no rises); 20 doubles its minute

    def __post_init__(self):
        if self.lag_days < 1:
            raise ValueError(f"lag_days must be at least 1, got {self.lag_days}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence}")
        if not 0 < self.band < 1:
            raise ValueError(f"band must lie in (0, 1), got {self.band}")


@dataclass
class Elasticities:
    per_category: dict[str, dict[str, float]]    # estimate, se, low, high, levels, levels_se, days
    validation_whatif: dict | None = None        # the what-if that chose whether the advice may raise prices


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


class PriceAdviceRequest(Request):
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ITEMS)]


class Elasticity(BaseModel):
    estimate: float
    low: float                        # the interval the advice trusts (the model's confidence)
    high: float


class ItemPriceAdvice(BaseModel):
    item_id: int
    known_item: bool                  # false: the online store knows no such item, nothing is advised
    category: str | None
    current_price: float | None       # yesterday's list price
    recommended_price: float | None
    change: str | None                # cut, raise or keep
    why: str | None                   # elastic, inelastic, uncertain, rises not allowed, no estimate
    elasticity: Elasticity | None     # the category's, which the expectation uses
    expected_units_change: float | None     # relative, short-run
    expected_revenue_change: float | None   # relative, short-run


class PriceAdviceResponse(BaseModel):
    model: str
    band: float                       # the largest move advised, as a share of the current price
    allow_rises: bool
    items: list[ItemPriceAdvice]


class PriceAdviceAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models["price_elasticity"]
        self.tag, self.online = saved.tag, online
        config = saved.metadata["config"]
        self.band, self.allow_rises = float(config["band"]), bool(config["allow_rises"])
        self.elasticities = saved.metadata["elasticities"]
        self.advice = {category: advise(found, self.band, self.allow_rises)
                       for category, found in self.elasticities.items()}

    def answer(self, request: PriceAdviceRequest) -> PriceAdviceResponse:
        read = self.online.read(names.SEARCH_V1, {names.ITEM_ID: request.item_ids})
        items = []
        for item, category, price in zip(request.item_ids, read[CATEGORY], read[CURRENT_PRICE]):
            if category is None or price is None:
                items.append(ItemPriceAdvice(item_id=item, known_item=category is not None, category=category,
                                             current_price=price, recommended_price=None, change=None,
                                             why=None if category is None else "no current price", elasticity=None,
                                             expected_units_change=None, expected_revenue_change=None))
                continue
            if category not in self.elasticities:
                items.append(ItemPriceAdvice(item_id=item, known_item=True, category=category, current_price=price,
                                             recommended_price=price, change="keep", why="no estimate", elasticity=None,
                                             expected_units_change=0.0, expected_revenue_change=0.0))
                continue
            found, (factor, why) = self.elasticities[category], self.advice[category]
            units, revenue = expected_change(factor, found["estimate"])
            items.append(ItemPriceAdvice(
                item_id=item, known_item=True, category=category, current_price=price,
                recommended_price=round(price * factor, 2),
                change="cut" if factor < 1 else "raise" if factor > 1 else "keep", why=why,
                elasticity=Elasticity(**{k: round(found[k], 4) for k in ("estimate", "low", "high")}),
                expected_units_change=round(units, 4), expected_revenue_change=round(revenue, 4)))
        return PriceAdviceResponse(model=self.tag, band=self.band, allow_rises=self.allow_rises, items=items)


class PriceElasticityTask:
    name = "price_elasticity"
    question = "How much does each category's demand move with its prices, and what should it be priced at?"
    family = "demand"
    entity = "item"
    feature_service = names.FORECAST_V1            # item_demand's units and prices, item_content's category
    config_type = PriceElasticityConfig
    evaluation = Tabled("elasticity", AGAINST_TRUTH, model=DIFFERENCES, reference=LEVELS, metric="mae",
                        label="elasticity error vs truth (MAE)")
    endpoint = Endpoint(
        path="/price_advice", request=PriceAdviceRequest, response=PriceAdviceResponse, models=("price_elasticity",),
        start=PriceAdviceAnswers, example=lambda shop: {"item_ids": [shop.bought_item, 10**12]},
        doc="Per item: the current price, the recommended one, the elasticity used and the expected change.")

    def build_dataset(self, config: PriceElasticityConfig, settings: Settings) -> CategoryDays:
        panel = load_sales_panel(settings.warehouse_path)
        rows = point_in_time_dataset(origin_rows(panel, list(range(1, panel.days + 1))), self.feature_service,
                                     settings)
        frame = category_days(rows.select(names.ITEM_ID, UNITS, PRICE, PROMO, CATEGORY, (
            pl.col(names.EVENT_TIMESTAMP).dt.date() - pl.duration(days=1)).alias(DAY)))
        return CategoryDays(frame=frame, truth=category_elasticities(settings, frame[DAY].min(), frame[DAY].max()))

    def train(self, config: PriceElasticityConfig, data: CategoryDays) -> Elasticities:
        z = _z(config)
        return Elasticities({category: {**found, "low": found["estimate"] - z * found["se"],
                                        "high": found["estimate"] + z * found["se"]}
                             for category, found in estimate(data.frame, config).items()})

    def choose(self, config: PriceElasticityConfig, model: Elasticities, data: CategoryDays,
               settings: Settings) -> PriceElasticityConfig:
        """Whether the advice may raise prices: in the what-if shop over the last ``whatif_days``
        of the data (validation), the advice with rises against the advice without, on value
        (revenue less the lifetime value of the customers lost). Without a simulated shop to ask,
        it may not."""
        if config.allow_rises is not None:
            return config
        if data.truth is None or config.whatif_seeds == 0:
            return replace(config, allow_rises=False)
        model.validation_whatif = price_whatif(settings, model.per_category, config.band, config.whatif_days,
                                               config.whatif_seeds, days_before_end=config.whatif_days)
        rises_pay = model.validation_whatif[ADVICE]["value"] > model.validation_whatif[ADVICE_CUTS]["value"]
        return replace(config, allow_rises=bool(rises_pay))

    def evaluate(self, config: PriceElasticityConfig, model: Elasticities, data: CategoryDays,
                 settings: Settings) -> Evaluation:
        z, truth = _z(config), data.truth or {}
        per_category = {category: {**found, "truth": truth.get(category, float("nan"))}
                        for category, found in model.per_category.items()}
        tables = {CATEGORIES: per_category, AGAINST_TRUTH: against_truth(per_category, z)}
        if model.validation_whatif is not None:
            tables[VALIDATION_WHATIF] = whatif_table(model.validation_whatif)
        if data.truth is not None and config.whatif_seeds:
            tables[TEST_WHATIF] = whatif_table(price_whatif(settings, model.per_category, config.band,
                                                            config.whatif_days, config.whatif_seeds))
        chart = forest_chart(f"elasticity per category: estimate with its {config.confidence:.0%} interval, truth as a ring",
                             {c: (r["estimate"], r["low"], r["high"], r["truth"] if data.truth else None)
                              for c, r in per_category.items()}, "d log units / d log price")
        return Evaluation(heads={}, tables=tables, figures=[chart])

    def save(self, config: PriceElasticityConfig, model: Elasticities, data: CategoryDays,
             metrics: dict, settings: Settings) -> str:
        metadata = {"config": config.__dict__, "metrics": metrics, "elasticities": model.per_category,
                    "days": [str(data.frame[DAY].min()), str(data.frame[DAY].max())]}
        return save_artifact(self.name, task_labels(self), metadata, settings, lambda folder: None)


def _z(config: PriceElasticityConfig) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + config.confidence / 2))


def whatif_table(found: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The what-if arms as the report shows them: revenue, and the changes in revenue, units,
    churned customers and value, with their intervals."""
    columns = ("revenue", "revenue_change", "revenue_change_low", "revenue_change_high", "units_change",
               "churned_change", "churned_change_low", "churned_change_high", "value_change", "value_change_low",
               "value_change_high")
    return {arm: {column: row[column] for column in columns} for arm, row in found.items()}


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
