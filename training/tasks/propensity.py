"""Purchase propensity: among users active in the last 30 days, who buys in the next 7 days;
a second head predicts an add-to-cart over the same horizon. Served as ``POST /propensity``."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from feature_repo.definitions import names
from shopml.serving import UNKNOWN_USER, Endpoint, UsersRequest

from ..bg_nbd import EXPECTED_PURCHASES
from ..kinds import BINARY
from ..user_outcomes import Head, ServedUserOutcomes, UserOutcomeConfig, UserOutcomeTask


@dataclass(frozen=True)
class PropensityConfig(UserOutcomeConfig):
    horizon_days: int = 7             # a purchase (or cart) within this many days of the cut-off


class PropensityScore(BaseModel):
    user_id: int
    purchase: float                   # P(purchase within the model's horizon)
    cart: float                       # P(add to cart within the horizon)
    known_user: bool                  # false: the population prior answered


class PropensityResponse(BaseModel):
    model: str
    horizon_days: int
    scores: list[PropensityScore]


class PropensityAnswers(ServedUserOutcomes):
    def answer(self, request: UsersRequest) -> PropensityResponse:
        features, known = self.features(request.user_ids)
        purchase, cart = (self.probabilities(head, features, known) for head in ("purchase", "cart"))
        return PropensityResponse(model=self.model.saved.tag, horizon_days=self.horizon_days, scores=[
            PropensityScore(user_id=u, purchase=float(p), cart=float(c), known_user=bool(k))
            for u, p, c, k in zip(request.user_ids, purchase, cart, known)])


class PropensityTask(UserOutcomeTask):
    name = "propensity"
    question = "Who will buy, or add to cart, in the next week?"
    family = "users"
    feature_service = names.PROPENSITY_V1
    config_type = PropensityConfig
    evaluation = BINARY
    heads = {"purchase": Head(label="will_purchase", oracle="purchase", bg_nbd=(EXPECTED_PURCHASES,)),
             "cart": Head(label="will_cart", oracle="cart")}
    endpoint = Endpoint(
        path="/propensity", request=UsersRequest, response=PropensityResponse, models=("propensity",),
        start=lambda models, online: PropensityAnswers(models["propensity"], online, names.PROPENSITY_V1),
        example=lambda shop: {"user_ids": [shop.active_user, UNKNOWN_USER]},
        doc="P(purchase) and P(add to cart) within the horizon, per user.")
