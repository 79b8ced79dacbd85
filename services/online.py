"""The Feast online-feature client every service shares: the latest features of a batch of
entities, through a feature service, with columns named ``<view>__<feature>`` exactly as the
training sets name them, so a model's saved feature layout applies unchanged.

Feast does not enforce feature-view TTLs on online reads (PITFALLS); the models were trained on
the same latest snapshots the online store holds, so none is enforced here either.

Feast 0.67 silently drops a python-mode on-demand view's features from online reads with
``full_feature_names=True`` (it looks for prefixed names in the UDF's output, which returns plain
ones). Those features are computed here by the registered view's own transformation, from the
same inputs, so the definition stays the one in ``feature_repo``.
"""

from __future__ import annotations

import warnings

import polars as pl

from feature_repo.definitions import names
from feature_repo.store import open_store
from shopml.settings import Settings


class OnlineStoreError(RuntimeError):
    """The online store cannot be read (not applied, not materialised, unreachable)."""


class OnlineFeatures:
    def __init__(self, settings: Settings):
        try:
            self.store = open_store(settings)
            self._services = {name: self.store.get_feature_service(name)
                              for name in (names.PROPENSITY_V1, names.CHURN_V1, names.CTR_V1, names.SEARCH_V1)}
            on_demand = {view.name: view for view in self.store.list_on_demand_feature_views()}
            self._on_demand = {name: [(on_demand[p.name], [f.name for f in p.features])
                                      for p in service.feature_view_projections if p.name in on_demand]
                               for name, service in self._services.items()}
        except Exception as error:          # Feast raises many types; all mean "cannot serve"
            raise OnlineStoreError(f"cannot open the feature store: {error}") from error

    def read(self, feature_service: str, entity_rows: dict[str, list]) -> pl.DataFrame:
        """One row per entity row, in order: the entity keys and request inputs as given, then
        every feature of ``feature_service`` (null where the store has no value)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            response = self.store.get_online_features(features=self._services[feature_service],
                                                      entity_rows=entity_rows, full_feature_names=True).to_dict()
        for view, features in self._on_demand[feature_service]:
            computed = view.transform_dict({**response, **entity_rows})
            response.update({f"{view.name}__{f}": computed[f] for f in features if f"{view.name}__{f}" not in response})
        return pl.DataFrame(response, strict=False, infer_schema_length=None)

    def check(self) -> None:
        """Raise OnlineStoreError unless the online store answers and holds materialised users."""
        try:
            self.read(names.CHURN_V1, {names.USER_ID: [0]})
        except Exception as error:
            raise OnlineStoreError(f"the online store does not answer: {error}") from error
