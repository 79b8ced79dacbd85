"""Coupon uplift: for a user at a coupon campaign's send, how much a coupon raises the chance of a
purchase while it is valid (7 days). The campaigns hand coupons to a random half of their targets
(``promotions.coupon``), so the held-out half is the counterfactual; the truth is each send's true
uplift (``truth.promotions``). The learners are ``training.uplift``'s, the task and its what-if
``training.campaigns``'; served as ``POST /coupon_plan``."""

from __future__ import annotations

from ..campaign_endpoint import plan_endpoint
from ..campaigns import CampaignUpliftTask, Sends

SENDS = Sends(table="promotions", id_column="promotion_id", treatment="coupon", outcome="purchased", window_days=7,
              truth="truth.promotions", send="coupon")


class CouponUpliftTask(CampaignUpliftTask):
    name = "coupon_uplift"
    question = "Who buys because of a coupon, and not anyway?"
    sends = SENDS
    endpoint = plan_endpoint("/coupon_plan", name, SENDS)
