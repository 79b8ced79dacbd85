"""The customers: observable profile (country, device, age band) and hidden traits.

Hidden traits are what the models must learn to see through behaviour: taste over categories,
activity level and its fading, price sensitivity, how strongly a coupon moves them, whether a push
helps or puts them off, and a natural tendency to leave. Profiles tilt the traits a little, so
profile features carry real (but weak) signal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from . import vocabulary as vocab
from .config import SimulationConfig

SIGNED_UP_DURING_RUN = 0.25
DEVICE_ACTIVITY = np.array([1.15, 0.9, 0.8])          # mobile, desktop, tablet
AGE_PRICE_SENSITIVITY = np.array([1.35, 1.15, 1.0, 0.9, 0.85, 0.8])
AGE_PUSH_EFFECT = np.array([0.1, 0.1, 0.0, -0.05, -0.15, -0.25])
# category taste tilts by age band (young: electronics, fashion; parents: toys; older: garden, books)
AGE_TASTE_TILT = np.array([
    # elec fash home beau spor toys book groc pets gard
    [1.6, 1.6, 0.6, 1.3, 1.2, 0.5, 0.8, 0.9, 0.8, 0.3],
    [1.3, 1.3, 1.0, 1.1, 1.2, 1.2, 0.8, 1.0, 1.0, 0.6],
    [1.0, 1.0, 1.2, 1.0, 1.0, 1.7, 0.9, 1.1, 1.1, 0.9],
    [0.9, 0.9, 1.3, 1.0, 0.9, 1.0, 1.1, 1.1, 1.1, 1.3],
    [0.7, 0.8, 1.3, 0.9, 0.7, 0.7, 1.4, 1.1, 1.1, 1.6],
    [0.5, 0.6, 1.2, 0.8, 0.5, 0.8, 1.7, 1.2, 1.2, 1.8],
])


@dataclass
class Population:
    signup_day: np.ndarray
    signup_second: np.ndarray   # seconds into the signup day
    country: np.ndarray
    device: np.ndarray
    age_band: np.ndarray
    taste: np.ndarray           # (users, categories), rows sum to 1
    activity: np.ndarray
    fade: np.ndarray
    natural_hazard: np.ndarray
    price_sensitivity: np.ndarray
    buy_affinity: np.ndarray
    coupon_response: np.ndarray
    push_effect: np.ndarray
    open_rate: np.ndarray
    push_traits: np.ndarray     # (users, 3): busy (log activity), log price sensitivity, fading; centred on the
    #                             population's means: what push campaigns lean on (campaigns.campaign_effect)

    @property
    def n_users(self) -> int:
        return len(self.signup_day)

    def take(self, users: np.ndarray) -> Population:
        """These users (repeats allowed) as a population of their own."""
        return Population(**{f.name: getattr(self, f.name)[users] for f in fields(self)})

    @cached_property
    def relative_taste(self) -> np.ndarray:
        """Taste relative to an indifferent user (1 = average interest in a category)."""
        return self.taste * self.taste.shape[1]


def build_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
    n, b = config.users, config.behaviour
    during = rng.random(n) < SIGNED_UP_DURING_RUN
    signup_day = np.where(during, rng.integers(0, config.days, n), rng.integers(-540, 0, n))
    country = rng.choice(len(vocab.COUNTRIES), size=n, p=vocab.COUNTRY_WEIGHTS)
    device = rng.choice(len(vocab.DEVICES), size=n, p=vocab.DEVICE_WEIGHTS)
    age_band = rng.choice(len(vocab.AGE_BANDS), size=n, p=vocab.AGE_WEIGHTS)

    gamma = rng.gamma(b.taste_concentration * AGE_TASTE_TILT[age_band])
    taste = gamma / gamma.sum(axis=1, keepdims=True)

    fading = rng.random(n) < b.fade_share
    fade = np.where(fading, b.fade_rate * rng.lognormal(0.0, 0.5, n), 0.0)
    price_sensitivity = rng.lognormal(0.0, b.price_sensitivity_sigma, n) * AGE_PRICE_SENSITIVITY[age_band]
    push_effect = rng.normal(0.25, 0.45, n) + AGE_PUSH_EFFECT[age_band] + 0.15 * (device == 0)
    signup_second = rng.integers(0, 22 * 3600, n)      # sessions may follow the same day
    activity = b.activity_median * rng.lognormal(0.0, b.activity_sigma, n) * DEVICE_ACTIVITY[device]
    natural_hazard = b.natural_hazard_median * rng.lognormal(0.0, 0.6, n) * (1 + 3 * fading)
    buy_affinity = rng.normal(0.0, b.buy_affinity_sigma, n)
    # the frequent customers buy at full price anyway and visit without reminders: coupons and
    # pushes move the occasional ones most, so who buys is not who buys *because of* a send
    busy = np.log(activity / b.activity_median)
    coupon_response = np.maximum(0.0, 0.6 + 0.8 * np.log(price_sensitivity) - b.coupon_busy_slope * busy
                                 + rng.normal(0, 0.35, n))
    push_effect = push_effect - b.push_busy_slope * busy
    push_traits = np.column_stack([busy, np.log(price_sensitivity), (fade > 0).astype(float)])
    return Population(
        signup_day=signup_day, signup_second=signup_second, country=country, device=device, age_band=age_band,
        taste=taste, activity=activity, fade=fade, natural_hazard=natural_hazard, price_sensitivity=price_sensitivity,
        buy_affinity=buy_affinity, coupon_response=coupon_response, push_effect=push_effect,
        push_traits=push_traits - push_traits.mean(axis=0),
        open_rate=1 / (1 + np.exp(-(-1.0 + 0.9 * push_effect + rng.normal(0.0, 0.5, n)))),
    )
