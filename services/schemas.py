"""Every request and response body of shopml's HTTP endpoints, with the limits they enforce.

Requests are strict: unknown fields, wrong types (``"7"`` for an id), ids outside the signed
64-bit range the stores key on, empty or oversized lists, ``k`` out of range and over-long
queries are refused with a 400 that names the field. Responses
say when a fallback answered instead of the model: an unknown user gets the population prior
(the share of positives in the model's latest labelled weeks) with ``known_user: false``; an ad
the ctr model has never seen gets its overall click rate with ``known_ad: false``; an unknown item
gets the most-bought items with ``fallback: "popular items"``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shopml.search import MAX_QUERY_CHARS

MAX_USERS = 1000          # user ids per /propensity or /churn request
MAX_ADS = 200             # candidate ads per /ctr request
MAX_K = 100               # results per /similar_items or /search request
MAX_POSITION = 50         # ad slot positions 1..MAX_POSITION

# an entity id: the feature store and the models key on signed 64-bit integers
Id = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
UserIds = Annotated[list[Id], Field(min_length=1, max_length=MAX_USERS)]
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)]
K = Annotated[int, Field(ge=1, le=MAX_K)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UsersRequest(Request):
    user_ids: UserIds


class ChurnRequest(UsersRequest):
    explain: bool = True                 # false: probabilities only, without the (costly) reasons


class CtrRequest(Request):
    user_id: Id
    ad_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ADS)]
    position: Annotated[int, Field(ge=1, le=MAX_POSITION)] = 1
    hour_of_day: Annotated[int, Field(ge=0, le=23)] | None = None      # default: the hour now, in UTC


class SimilarItemsRequest(Request):
    item_id: Id
    k: K = 10
    blend_co_occurrence: bool = True     # blend in items seen in the same sessions


class SearchRequest(Request):
    query: Query
    k: K = 10
    user_id: Id | None = None            # accepted for logging; ranking is not personalised yet


class PropensityScore(BaseModel):
    user_id: int
    purchase: float                      # P(purchase within the model's horizon)
    cart: float                          # P(add to cart within the horizon)
    known_user: bool                     # false: the population prior answered


class PropensityResponse(BaseModel):
    model: str
    horizon_days: int
    scores: list[PropensityScore]


class Reason(BaseModel):
    reason: str
    share: float                         # share of the positive push towards churn


class ChurnScore(BaseModel):
    user_id: int
    probability: float                   # P(no event at all within the horizon)
    top_reason: str | None               # None for an unknown user, or when reasons were not asked for
    reasons: list[Reason]                # largest share first, zero shares left out
    known_user: bool


class ChurnResponse(BaseModel):
    model: str
    horizon_days: int
    scores: list[ChurnScore]


class AdScore(BaseModel):
    ad_id: int
    probability: float                   # P(click) in this slot
    known_ad: bool                       # false: the overall click rate answered


class CtrResponse(BaseModel):
    model: str
    user_id: int
    known_user: bool                     # false: scored on the ad's features alone
    position: int
    hour_of_day: int
    ads: list[AdScore]                   # best first


class ItemResult(BaseModel):
    item_id: int
    title: str | None
    score: float


class SimilarItemsResponse(BaseModel):
    item_id: int
    known_item: bool
    fallback: str | None                 # "popular items" when the item is unknown
    items: list[ItemResult]


class SearchResponse(BaseModel):
    query: str
    personalised: bool
    items: list[ItemResult]              # best first; score = the reranker's score
