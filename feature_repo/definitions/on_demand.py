"""Request-time features for ad scoring, computed in Python mode from the slot's position, the
hour of the request and the ad's smoothed click-through rate."""

from typing import Any

from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64

from . import names
from .sources import ad_request
from .views import ad_stats


@on_demand_feature_view(
    sources=[ad_stats, ad_request],
    schema=[Field(name=f, dtype=Float64) for f in names.REQUEST_FEATURES],
    mode="python",
)
def request_context(inputs: dict[str, Any]) -> dict[str, Any]:
    # Feast runs this function from its source, away from this module: constants live inside.
    position_decay = 0.64            # examination prior per position below the top
    evening_hours = range(18, 24)
    positions, hours = inputs["ad_position"], inputs["hour_of_day"]
    prior = [position_decay ** (max(int(p), 1) - 1) for p in positions]
    ctr = [c if c is not None else float("nan") for c in inputs["smoothed_ctr_30d"]]
    return {
        "position_prior": prior,
        "is_evening": [float(int(h) in evening_hours) for h in hours],
        "ctr_position_adjusted": [c * p for c, p in zip(ctr, prior)],
    }
