"""The simulated shop: a generative story of customers, catalogue, campaigns and churn, written
into the warehouse together with the hidden truth behind every random outcome.

The story, in short. Customers have a hidden taste over ten categories, an activity level (some
fade with tenure), a price sensitivity, a response to coupons and to pushes (some are put off,
and each push campaign moves its own kind of customer: ``campaigns``), and a natural tendency to
leave. Each day they start Poisson-many sessions (more at weekends);
a session lands in a category by taste, may begin with a search for an intended item, browses
items by appeal and price, may show ads, may open its category's page (logged beside the path,
from its own random stream: ``pages``), and carts then buys at most one item with probabilities
given in closed form (``intensity``). Prices move daily: item moves, category-wide supplier
rises and promotions; demand follows each category's elasticity. Bought items satisfy by their
hidden quality; bad experiences, failed searches, unwanted pushes and price rises in favourite
categories raise a churn hazard, and a churned customer goes silent for good. Campaigns are
randomised, so their uplift is measurable; ``truth`` records it per row.
"""

from .config import Behaviour, SimulationConfig
from .run import simulate

__all__ = ["Behaviour", "SimulationConfig", "simulate"]
