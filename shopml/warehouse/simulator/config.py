"""The simulated shop's knobs: its size (``SimulationConfig``) and its behaviour (``Behaviour``).

Sizes are what a user chooses on the command line; the behavioural coefficients are the
generative story's constants, kept together so the story can be read (and tuned) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

SECONDS_PER_DAY = 86_400
MICROS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class Behaviour:
    """Coefficients of the generative story (see ``simulator/__init__.py`` for the story)."""

    # sessions: a user's daily session count is Poisson(activity * weekly[dow] * fade * campaigns)
    activity_median: float = 0.25          # sessions per day of the median user
    activity_sigma: float = 0.85           # log-normal spread of activity across users
    weekly: tuple[float, ...] = (0.92, 0.9, 0.94, 0.98, 1.04, 1.17, 1.05)  # Monday first
    fade_share: float = 0.35               # share of users whose activity decays with tenure
    fade_rate: float = 0.012               # per-day decay rate of a fading user
    taste_concentration: float = 0.35      # Dirichlet concentration: lower = more focused taste
    # funnel: views -> (one) cart per session -> purchase
    browse_views_mean: float = 2.0         # extra views per session, Poisson
    cart_intercept: float = -1.8           # logit of carting in a session at average affinity
    cart_affinity: float = 0.55            # weight of log(relative taste) for the session category
    purchase_intercept: float = 0.6        # logit of buying what was carted
    buy_affinity_sigma: float = 0.6        # user-level spread of purchase logit
    # price: demand falls with the category price index, scaled by user sensitivity
    price_sensitivity_sigma: float = 0.5   # log-normal spread of user price sensitivity
    elasticity_range: tuple[float, float] = (0.6, 3.0)
    # satisfaction = item quality + noise; below the threshold a purchase is a bad experience
    satisfaction_noise: float = 0.8
    bad_experience_threshold: float = -1.0
    review_rate: float = 0.25              # P(review) after a purchase
    review_rate_bad: float = 0.5           # P(review) after a bad experience
    review_delay_min_days: float = 0.5     # a review comes this long after its purchase
    review_delay_mean_days: float = 4.0    # ... plus an exponential delay with this mean
    # engagement: a session likes (favourites, shares) at most one viewed item, with the logit
    # intercept + engagement_affinity * log(relative taste) for its category; the item is the
    # viewed one with the best engagement_quality * quality + Gumbel noise
    like_intercept: float = -1.8
    favorite_intercept: float = -2.5
    share_intercept: float = -3.9
    engagement_affinity: float = 0.6
    engagement_quality: float = 0.8

    # search
    search_rate: float = 0.35              # P(a session starts with a search)
    results_per_search: int = 10
    found_rate: float = 0.72               # P(the engine shows the intended item)
    search_exploration: float = 0.05       # share of searches answered by a random sample of the subcategory
    search_attraction: tuple[float, ...] = (0.03, 0.12, 0.3, 0.7)   # P(click | examined, grade)
    # category pages (simulator.pages): logged beside the session's path, they move no purchase
    page_rate: float = 0.15                # P(a session opens its category's page)
    page_size: int = 20                    # items in a row on a page
    page_exploration: float = 0.05         # share of pages showing a random sample of the category
    # recommendation carousels (simulator.carousels): logged beside the session's path like pages
    carousel_rate: float = 0.25            # P(a session opens on the home page's carousel)
    carousel_size: int = 10                # items in a carousel
    carousel_exploration: float = 0.05     # share of carousels showing a random sample of the catalogue
    # ads
    ads_per_session: float = 0.9           # Poisson mean of ad slots per session
    ad_positions: int = 4
    ad_intercept: float = -2.4
    ad_affinity: float = 0.8
    ad_position_decay: float = 0.45        # logit drop per position below the top
    ad_evening_boost: float = 0.35         # logit boost for sessions between 18:00 and 23:00
    ad_holdout_rate: float = 0.1
    ad_targeted_share: float = 0.5        # slots filled from the page's category; the rest from every ad
    ad_conversion_boost: float = 2.5       # utility bonus of a clicked ad's item when carting
    # churn: daily hazard = natural + bad experiences + price rises + failed searches + push fatigue
    natural_hazard_median: float = 0.001
    bad_experience_hazard: float = 0.018   # per unit of the decayed count of bad experiences
    price_rise_hazard: float = 0.04        # per unit of taste-weighted log price rise over 28 days
    failed_search_hazard: float = 0.0025   # per unit of the decayed count of failed searches
    push_fatigue_hazard: float = 0.004     # per unit of the decayed count of unwanted pushes
    memory_half_life_days: float = 21.0    # half-life of the decayed counts above
    price_rise_lookback_days: int = 28
    # prices
    price_change_rate: float = 0.02        # P(an item's price moves on a day)
    category_rise_rate: float = 1 / 45     # P(a category gets a supplier price rise on a day)
    promo_start_rate: float = 0.012        # P(an item starts a promotion on a day)
    # campaigns
    push_every_days: int = 7
    push_reach: float = 0.4                # share of signed-up users a push campaign targets
    push_window_days: int = 2
    promotion_every_days: int = 14
    promotion_reach: float = 0.3
    coupon_valid_days: int = 7
    coupon_discounts: tuple[float, ...] = (0.1, 0.15, 0.2)
    treatment_share: float = 0.5           # randomised share treated (push) or couponed
    coupon_busy_slope: float = 1.2         # coupon response lost per unit of log activity over the median
    push_busy_slope: float = 0.6           # push effect lost per unit of log activity over the median
    # what a push campaign says changes whom it moves (``campaigns.campaign_effect``): per campaign of
    # vocabulary.PUSH_CAMPAIGNS, its effect's lean on how busy the user is (log activity), on their log
    # price sensitivity and on whether they are fading away, each against the population's mean
    push_campaign_leans: tuple[tuple[float, float, float], ...] = (
        (0.3, -0.3, -0.2),      # new_arrivals: busy shoppers who do not hunt for prices
        (-0.1, 0.5, 0.0),       # weekend_deals: bargain hunters
        (0.15, 0.0, 0.0),       # back_in_stock: the busy, a little
        (-0.35, 0.0, 0.6),      # we_miss_you: the fading; busy users find it a nuisance
    )
    # defects: a bad batch lowers an item's quality from a day in the run's second half onwards
    defect_share: float = 0.04             # share of the items on sale when the run starts, drawn by appeal
    defect_quality_drop: float = 1.5

    @property
    def engagement_intercepts(self) -> dict[str, float]:
        return {"like": self.like_intercept, "favorite": self.favorite_intercept, "share": self.share_intercept}


@dataclass(frozen=True)
class Writing:
    """How shoppers and sellers write: the text of reviews and titles. Its random numbers come
    from their own stream (``world.text_rng``), so changing how text is written never moves a
    purchase. Aspect tuples follow ``vocabulary.ASPECTS`` (quality, size, delivery, price, service)."""

    aspects_per_review: tuple[float, ...] = (0.35, 0.4, 0.25)          # P(1, 2, 3 aspects)
    aspect_weights: tuple[float, ...] = (0.35, 0.2, 0.15, 0.15, 0.15)   # how often each is mentioned
    # an aspect's score = loading * the buyer's satisfaction + bias + noise * N(0, 1)
    aspect_loading: tuple[float, ...] = (1.0, 0.4, 0.2, 0.6, 0.3)
    aspect_bias: tuple[float, ...] = (0.0, 0.2, 0.4, 0.0, 0.2)
    aspect_noise: tuple[float, ...] = (0.5, 0.9, 1.0, 0.8, 1.0)
    neutral_band: float = 0.35             # |score| below it: a neutral sentence
    opening_rate: float = 0.5              # P(an overall opening from the star rating)
    sarcasm_rate: float = 0.06             # P(a 1-2 star review opens with sarcastic praise)
    typo_rate: float = 0.15                # P(a review has two letters swapped)
    title_without_noun: float = 0.12       # P(a title leaves out the product noun)
    title_synonym: float = 0.2             # P(a title uses another word for it)


@dataclass(frozen=True)
class SimulationConfig:
    users: int = 20_000                    # customers, including those who sign up during the run
    # simulated days: 30 days of history, then a 30-day churn label's train, validation and test
    # cut-offs with a label window between each split, fit in 180 (training.labels)
    days: int = 180
    seed: int = 7                          # same seed, same tables
    start: date = date(2026, 1, 5)         # the first simulated day (a Monday), 00:00 UTC
    items: int | None = None               # catalogue size; default scales with users
    ads: int | None = None                 # ad creatives; default scales with items
    behaviour: Behaviour = field(default_factory=Behaviour)
    writing: Writing = field(default_factory=Writing)

    def __post_init__(self) -> None:
        if self.users < 10:
            raise ValueError(f"users must be at least 10, got {self.users}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.items is not None and self.items < 200:
            raise ValueError(f"items must be at least 200, got {self.items}")

    @property
    def n_items(self) -> int:
        return self.items if self.items is not None else int(min(50_000, max(600, self.users // 5)))

    @property
    def n_ads(self) -> int:
        return self.ads if self.ads is not None else int(min(5_000, max(40, self.n_items // 10)))

    @property
    def start_seconds(self) -> int:
        return int(self.start_time.timestamp())

    @property
    def start_time(self) -> datetime:
        """00:00 UTC of the first simulated day."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=timezone.utc)
