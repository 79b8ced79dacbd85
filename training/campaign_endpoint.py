"""The plan endpoints of the campaign tasks (``POST /coupon_plan``, ``POST /push_plan``): given
candidate users (their ids, or a segment of the ``segments`` model) and a budget (a number of
sends; for coupons also the most the plan may expect to spend on discounts), who gets the send,
with each user's predicted uplift in purchases and in spend, and the plan's expected incremental
purchases and spend (and a coupon plan's cost; a push plan's harm, the users it is expected to
drive away, which ``max_harm`` caps).

The plan is ``training.campaign_plan.plan``: the budget's highest predicted uplifts above 0, none
of them predicted to be put off (pushes). Where a send comes in several campaigns (pushes), each
user's is the one of those offered (``campaigns``, default all the model knows) with the highest
predicted uplift among those not predicted to put the user off (``CampaignModel.choose``). A cap
on the harm or on the cost makes the plan the greedy knapsack's (``plan``): the most purchases per
unit of harm (or cost) first. Users the online store does not know are not planned, and each says
why it was or was not chosen.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from feature_repo.definitions import names
from shopml.model_store import BoostedModel
from shopml.serving import (MAX_USERS, UNKNOWN_USER, Endpoint, NotReady, OnlineReader, Request, SavedModel, UserIds,
                            known_users, must_not_repeat)

from .campaign_plan import plan
from .campaigns import BUYER_SPEND, BUYERS, CampaignModel, Sends
from .segment_members import segment_members

IN_PLAN, OVER_BUDGET, NO_GAIN, PUT_OFF, UNKNOWN = ("in the plan", "over the budget", "no expected gain",
                                                  "put off by the send", "unknown user")
ORDER_VALUE = f"{names.USER_MONETARY}__avg_order_value_90d"


class CampaignPlanRequest(Request):
    user_ids: UserIds | None = None                                          # the candidates, or:
    segment: Annotated[int, Field(ge=0)] | None = None                       # the users of this segment
    budget: Annotated[int, Field(ge=0, le=MAX_USERS)] | None = None          # sends at most; none: every gain

    _distinct = field_validator("user_ids")(must_not_repeat)

    @model_validator(mode="after")
    def _one_kind_of_candidates(self):
        if (self.user_ids is None) == (self.segment is None):
            raise ValueError("give the candidates as user_ids or as a segment, one of the two")
        return self


class PushPlanRequest(CampaignPlanRequest):
    campaigns: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
                         Field(min_length=1, max_length=100)] | None = None   # offered; none: every one the model knows

    max_harm: Annotated[float, Field(ge=0)] | None = None     # users expected to be driven away at most

    _distinct_campaigns = field_validator("campaigns")(must_not_repeat)


class CouponPlanRequest(CampaignPlanRequest):
    max_cost: Annotated[float, Field(ge=0)] | None = None     # expected discounts at most; none: no limit
    discount: Annotated[float, Field(gt=0, lt=1)] = 0.15      # the coupon's, off the first purchase


class PlannedUser(BaseModel):
    user_id: int
    known_user: bool
    send: bool
    why: str                            # in the plan, over the budget, no expected gain, put off, unknown user
    uplift: float | None                # predicted gain in P(a purchase in the window) from the send
    spend_uplift: float | None          # predicted change in spend in the window (paid, net of discounts)
    purchase_without: float | None      # P(a purchase in the window) without it
    put_off: bool | None                # predicted to visit less after the send (sends that can put off)
    harm: float | None                  # pushes: the added chance the user is silent all through the days after
    campaign: str | None                # pushes: the campaign chosen for the user
    expected_cost: float | None         # coupons: the discount expected to be redeemed


class CampaignPlanResponse(BaseModel):
    model: str
    send: str                           # coupon or push
    segment: int | None                 # the segment planned (its users in the segments model's newest snapshot)
    campaigns: list[str] | None         # pushes: the campaigns offered
    window_days: float                  # the window the uplift is a purchase within
    budget: int | None
    sends: int
    expected_incremental_purchases: float
    expected_incremental_spend: float | None
    expected_cost: float | None         # coupons: the plan's expected discounts
    put_off_spared: int                 # users with an expected gain left out as put off
    expected_users_lost: float | None   # pushes: the plan's summed harm
    users: list[PlannedUser]


class CampaignPlanAnswers:
    def __init__(self, saved: SavedModel, online: OnlineReader, sends: Sends, segments: SavedModel | None = None):
        boosted = BoostedModel.load(saved)
        self.tag, self.online, self.sends = saved.tag, online, sends
        self.members = None
        self.why_no_members = "plans for a segment need the segments model: run `shopml train segments`"
        if segments is not None:
            try:
                self.members = segment_members(segments)
            except NotReady as error:               # plans of listed users still answer
                self.why_no_members = str(error)
        self.model = CampaignModel.from_boosters(boosted.boosters, boosted.layout)
        self.order_value = None                     # a coupon plan's fallback order value (pushes cost nothing)
        if sends.send == "coupon":
            if BUYER_SPEND not in saved.metadata["metrics"]:
                raise NotReady(f"{saved.tag} was trained before plans were costed: run "
                               f"`shopml train {saved.tag.split(':')[0]}`")
            self.order_value = float(saved.metadata["metrics"][BUYER_SPEND][BUYERS]["mean_spend"])

    def costs(self, request, features: dict[str, list], without: np.ndarray, uplift: np.ndarray) -> np.ndarray | None:
        """Coupons: per user, the discount expected to be redeemed, P(a purchase with the coupon)
        times the discount times the user's order value (of the last 90 days; where there is
        none, the mean spend of a buyer in the window on the test sends)."""
        if not isinstance(request, CouponPlanRequest):
            return None
        value = np.array([v if v is not None else np.nan for v in features[ORDER_VALUE]], dtype=float)
        value = np.where(np.isnan(value), self.order_value, value)
        return np.clip(without + uplift, 0, 1) * request.discount * value

    def limit(self, request, cost: np.ndarray | None, harm: np.ndarray) -> tuple[np.ndarray | None, float | None]:
        """What the plan's knapsack weighs and its most: a coupon plan's expected cost, a push plan's
        harm (a send expected to keep users weighs nothing)."""
        max_harm = getattr(request, "max_harm", None)
        if max_harm is None:
            return cost, getattr(request, "max_cost", None)
        if self.model.losses is None:
            from bentoml.exceptions import InvalidArgument       # imported once the model store is chosen

            raise InvalidArgument(f"max_harm: {self.tag} has no harm model (its data was too short, or it was "
                                  f"trained before harm was modelled: run `shopml train {self.tag.split(':')[0]}`)")
        return np.clip(harm, 0, None), max_harm

    def candidates(self, request: CampaignPlanRequest) -> list[int]:
        if request.segment is None:
            return request.user_ids
        from bentoml.exceptions import InvalidArgument, ServiceUnavailable   # imported once the model store is chosen

        if self.members is None:
            raise ServiceUnavailable(self.why_no_members)
        if request.segment not in self.members:
            raise InvalidArgument(f"segment: {request.segment} is not a segment of the segments model "
                                  f"(its segments: {sorted(self.members)})")
        return self.members[request.segment].tolist()

    def offered(self, request: CampaignPlanRequest) -> tuple[str, ...]:
        """The campaigns to choose among: the request's, each one the model knows (else a 400)."""
        wanted = getattr(request, "campaigns", None)
        if wanted is None:
            return self.model.campaigns
        unknown = [c for c in wanted if c not in self.model.campaigns]
        if unknown:
            from bentoml.exceptions import InvalidArgument       # imported once the model store is chosen

            raise InvalidArgument(f"campaigns: {unknown} are not campaigns of {self.tag} "
                                  f"(its campaigns: {list(self.model.campaigns)})")
        return tuple(wanted)

    def answer(self, request: CampaignPlanRequest) -> CampaignPlanResponse:
        user_ids, offered = self.candidates(request), self.offered(request)
        features = self.online.read(names.CHURN_V1, {names.USER_ID: user_ids})
        known = known_users(features)
        x = self.model.inputs(features)                          # once, for every model of the campaign
        choice = self.model.choose(x, offered)
        uplift, without, spend = choice.uplift, self.model.purchase(x), choice.spend_uplift
        put_off = choice.put_off & known
        budget = len(user_ids) if request.budget is None else request.budget
        chosen = np.zeros(len(known), dtype=bool)
        cost = self.costs(request, features, without, uplift)
        chosen[plan(np.where(known, uplift, -np.inf), budget, put_off, *self.limit(request, cost, choice.harm))] = True
        harm = choice.harm if self.sends.can_put_off else None
        users = []
        for i, user in enumerate(user_ids):
            if not known[i]:
                users.append(PlannedUser(user_id=user, known_user=False, send=False, why=UNKNOWN, uplift=None,
                                         spend_uplift=None, purchase_without=None, put_off=None, harm=None,
                                         campaign=None, expected_cost=None))
                continue
            why = IN_PLAN if chosen[i] else PUT_OFF if put_off[i] else NO_GAIN if uplift[i] <= 0 else OVER_BUDGET
            users.append(PlannedUser(user_id=user, known_user=True, send=bool(chosen[i]), why=why,
                                     uplift=round(float(uplift[i]), 5), spend_uplift=_rounded(spend[i], 4),
                                     purchase_without=round(float(without[i]), 5),
                                     put_off=bool(put_off[i]) if self.sends.can_put_off else None,
                                     harm=None if harm is None else _rounded(harm[i], 5),
                                     campaign=offered[choice.campaign[i]] if offered else None,
                                     expected_cost=None if cost is None else round(float(cost[i]), 4)))
        return CampaignPlanResponse(
            model=self.tag, send=self.sends.send, segment=request.segment, campaigns=list(offered) or None,
            window_days=self.sends.window_days, budget=request.budget,
            sends=int(chosen.sum()), expected_incremental_purchases=round(float(uplift[chosen].sum()), 4),
            expected_incremental_spend=_rounded(spend[chosen].sum(), 2),
            expected_cost=None if cost is None else round(float(cost[chosen].sum()), 2),
            put_off_spared=int((put_off & (uplift > 0)).sum()),
            expected_users_lost=None if harm is None else _rounded(harm[chosen].sum(), 4), users=users)


def _rounded(value, digits: int) -> float | None:
    return None if np.isnan(value) else round(float(value), digits)


def plan_endpoint(path: str, task: str, sends: Sends) -> Endpoint:
    request = CampaignPlanRequest
    if sends.send == "coupon":
        request = CouponPlanRequest
    elif sends.campaign_column:
        request = PushPlanRequest
    return Endpoint(
        path=path, request=request, response=CampaignPlanResponse, models=(task,), optional_models=("segments",),
        start=lambda models, online: CampaignPlanAnswers(models[task], online, sends, models.get("segments")),
        example=lambda shop: {"user_ids": [shop.active_user, UNKNOWN_USER], "budget": 1},
        doc=f"Who among the users (or a segment's) gets a {sends.send} within the budget, and the expected "
            "incremental purchases.")
