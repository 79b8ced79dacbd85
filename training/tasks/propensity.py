"""Purchase propensity: among users active in the last 30 days, who buys in the next 7 days;
a second head predicts an add-to-cart over the same horizon."""

from __future__ import annotations

from dataclasses import dataclass

from feature_repo.definitions import names

from ..bg_nbd import EXPECTED_PURCHASES
from ..user_outcomes import Head, UserOutcomeConfig, UserOutcomeTask


@dataclass(frozen=True)
class PropensityConfig(UserOutcomeConfig):
    horizon_days: int = 7             # a purchase (or cart) within this many days of the cut-off


class PropensityTask(UserOutcomeTask):
    name = "propensity"
    feature_service = names.PROPENSITY_V1
    config_type = PropensityConfig
    heads = {"purchase": Head(label="will_purchase", oracle="purchase", bg_nbd=(EXPECTED_PURCHASES,)),
             "cart": Head(label="will_cart", oracle="cart")}
