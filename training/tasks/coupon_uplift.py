"""Coupon uplift: for a user at a coupon campaign's send, how much a coupon raises the chance of a
purchase while it is valid (7 days). The campaigns hand coupons to a random half of their targets
(``promotions.coupon``), so the held-out half is the counterfactual; the truth is each send's true
uplift (``truth.promotions``). The learners, splits and figures are ``training.uplift``'s. Not
served yet: the coupon plan that targets by it is the next step of the marketing family."""

from __future__ import annotations

from ..campaigns import CampaignUpliftTask, Sends


class CouponUpliftTask(CampaignUpliftTask):
    name = "coupon_uplift"
    question = "Who buys because of a coupon, and not anyway?"
    sends = Sends(table="promotions", id_column="promotion_id", treatment="coupon", outcome="purchased",
                  window_days=7, truth="truth.promotions", send="coupon")
