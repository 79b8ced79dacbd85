"""The purchase process in closed form: one place for the probabilities the simulator draws from.

A live user's sessions on a day are Poisson(``sessions``); a session lands in category c with
probability taste[c], carts there with probability ``cart[:, c]`` (one cart at most) and the cart
becomes a purchase with probability ``buy``. Hence, exactly,
``P(cart that day) = 1 - exp(-sessions * sum_c taste_c cart_c)`` and
``P(purchase that day) = 1 - exp(-sessions * sum_c taste_c cart_c * buy)``.
Engagement is built the same way: a session in category c likes (favourites, shares) one of its
viewed items with probability ``engage[kind][:, c]``, so ``P(like that day)`` has the same form.
The sampler draws from these same arrays, so the truth tables are the real probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .config import Behaviour
from .population import Population

COUPON_REFERENCE_DISCOUNT = 0.15   # coupon_response: the logit lift (cart and buy) of a 15 % coupon


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class DayIntensity:
    users: np.ndarray       # user indices (live today)
    sessions: np.ndarray    # expected sessions
    cart: np.ndarray        # (users, categories): P(cart | session in that category)
    buy: np.ndarray         # P(purchase | cart)
    taste: np.ndarray       # (users, categories)
    price_slope: np.ndarray  # (users, categories): d cart logit / d log category price index (<= 0)
    engage: dict[str, np.ndarray]  # kind -> (users, categories): P(the session does it once | category)

    @property
    def cart_rate(self) -> np.ndarray:
        """Expected carts per session."""
        return (self.taste * self.cart).sum(axis=1)

    @property
    def purchase_rate(self) -> np.ndarray:
        """Expected purchases per day (the Poisson mean)."""
        return self.sessions * self.cart_rate * self.buy

    @property
    def _category_weights(self) -> np.ndarray:
        """(users, categories): each user's expected purchases in each category that day."""
        return self.sessions[:, None] * self.taste * self.cart * self.buy[:, None]

    @property
    def category_purchases(self) -> np.ndarray:
        """Expected purchases per category that day, over every user (each purchase is one unit)."""
        return self._category_weights.sum(axis=0)

    @property
    def category_elasticity(self) -> np.ndarray:
        """Per category, d log(expected purchases) / d log(price index) that day: the short-run
        response to every price of the category moving alike (views and choices within the
        category keep their shares; only P(cart) moves, by price_slope * (1 - cart))."""
        weights = self._category_weights
        response = (weights * self.price_slope * (1 - self.cart)).sum(axis=0)
        return response / np.maximum(weights.sum(axis=0), 1e-12)

    @property
    def p_cart(self) -> np.ndarray:
        return -np.expm1(-self.sessions * self.cart_rate)

    @property
    def p_purchase(self) -> np.ndarray:
        return -np.expm1(-self.purchase_rate)

    def p_engage(self, kind: str) -> np.ndarray:
        """P(the user does ``kind`` (like, favorite, share) at least once that day)."""
        return -np.expm1(-self.sessions * (self.taste * self.engage[kind]).sum(axis=1))


def day_intensity(
    population: Population,
    catalog: Catalog,
    behaviour: Behaviour,
    users: np.ndarray,
    day: int,
    category_index: np.ndarray,
    push_lift: np.ndarray,
    coupon_discount: np.ndarray,
) -> DayIntensity:
    """Intensities for ``users`` on ``day``; campaign arrays are per user in ``users``."""
    p, b = population, behaviour
    tenure = np.maximum(0, day - p.signup_day[users])
    sessions = (
        p.activity[users]
        * b.weekly[day % 7]
        * np.exp(-p.fade[users] * tenure)
        * np.exp(push_lift)
    )
    coupon_lift = p.coupon_response[users] * coupon_discount / COUPON_REFERENCE_DISCOUNT
    price_term = p.price_sensitivity[users, None] * (catalog.elasticity * np.log(category_index))[None, :]
    log_affinity = np.log(np.maximum(p.relative_taste[users], 1e-6))
    cart_logit = (
        b.cart_intercept
        + b.cart_affinity * log_affinity
        - price_term
        + coupon_lift[:, None]
    )
    buy = sigmoid(b.purchase_intercept + p.buy_affinity[users] + coupon_lift)
    return DayIntensity(users=users, sessions=sessions, cart=sigmoid(cart_logit), buy=buy,
                        taste=p.taste[users],
                        price_slope=-p.price_sensitivity[users, None] * catalog.elasticity[None, :],
                        engage={kind: sigmoid(intercept + b.engagement_affinity * log_affinity)
                                for kind, intercept in b.engagement_intercepts.items()})


def window_probability(daily_rates: list[np.ndarray], p_churn: np.ndarray) -> np.ndarray:
    """P(at least one event (a purchase, a like) over consecutive days) given each day's Poisson
    mean, with a constant daily churn probability after which the user does nothing more."""
    no_purchase, alive = np.zeros_like(p_churn), np.ones_like(p_churn)
    for rate in daily_rates:
        quiet_today = alive * np.exp(-rate)
        no_purchase += quiet_today * p_churn
        alive = quiet_today * (1 - p_churn)
    return 1.0 - (no_purchase + alive)
