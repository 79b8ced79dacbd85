"""Item endpoints: similar items from the FAISS item index (optionally blended with items seen in
the same sessions), and product search: the query is encoded by the shipped text model, FAISS
retrieves the ranker's candidates, and the LightGBM lambdarank model reorders them on the same
query-item features it was trained on (``shopml.search``) over the items' online Feast features.

An unknown item id gets the most-bought items of the last 30 days (``item_stats`` online),
flagged ``fallback: "popular items"``. ``k`` larger than the catalogue returns the catalogue.
"""

from __future__ import annotations

import bentoml
import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.matrix import FeatureLayout
from shopml.model_store import boosters_in
from shopml.retrieval import ItemIndex
from shopml.search import query_item_features, ranking
from shopml.text_model import ENCODER, TextEncoder

from .online import OnlineFeatures
from .runtime import NotReady, SavedModel, ServiceParts, health_app
from .schemas import ItemResult, SearchRequest, SearchResponse, SimilarItemsRequest, SimilarItemsResponse

POPULAR = "popular items"
POPULARITY = f"{names.ITEM_STATS}__purchases_30d"
CATEGORY = f"{names.ITEM_CONTENT}__category"         # every materialised item has one
READ_BATCH = 2000           # items per online read when ranking the whole catalogue by popularity


class ItemFinder:
    def __init__(self, online: OnlineFeatures, index: SavedModel, ranker: SavedModel):
        self.online = online
        self.index_model, self.ranker_model = index, ranker
        self.index = ItemIndex.load(index.folder)
        self.co_weight = float(index.metadata["config"]["co_weight"])
        self.ranker = boosters_in(ranker.folder, ranker.metadata)[ranker.metadata["primary_head"]]
        self.layout = FeatureLayout.from_metadata(ranker.metadata)
        self.candidates = int(ranker.metadata["config"]["candidates"])
        self.tie_break = ranker.metadata["config"].get("tie_break") or None    # chosen on validation searches
        built_by = index.metadata.get("text_encoder")
        if built_by != ENCODER:
            raise NotReady(f"the item index was encoded by {built_by or 'an unrecorded text encoder'}, queries "
                           f"are encoded by {ENCODER}: run `shopml index build`")
        self.text_encoder = TextEncoder.load(threads=1)
        self.text_encoder.encode_one("warm up")           # the first call pays for lazy initialisation
        self.popular = self._most_bought()

    def models(self) -> dict[str, str]:
        return {"item_index": self.index_model.tag, "search_ranker": self.ranker_model.tag}

    def _most_bought(self) -> np.ndarray:
        """The catalogue, most bought in the last 30 days first; reading it also warms the
        catalogue cache and proves the online store holds the items."""
        ids = self.index.item_ids.tolist()
        columns = (names.ITEM_ID, POPULARITY, CATEGORY)
        bought = pl.concat([pl.DataFrame({column: read[column] for column in columns}, strict=False)
                            for read in (self.online.read(names.SEARCH_V1, {names.ITEM_ID: ids[i:i + READ_BATCH]})
                                         for i in range(0, len(ids), READ_BATCH))])
        if bought[CATEGORY].null_count() == bought.height:
            raise NotReady("the online store holds none of the index's items: run `shopml features materialize`")
        return bought.sort([POPULARITY, names.ITEM_ID], descending=[True, False], nulls_last=True)[names.ITEM_ID].to_numpy()

    def _result(self, item_id: int, score: float) -> ItemResult:
        return ItemResult(item_id=int(item_id), title=self.index.title(item_id), score=round(float(score), 6))

    def similar(self, item_id: int, k: int, blend: bool) -> SimilarItemsResponse:
        if item_id not in self.index:
            return SimilarItemsResponse(item_id=item_id, known_item=False, fallback=POPULAR,
                                        items=[self._result(i, 0.0) for i in self.popular[:k]])
        found = self.index.similar(item_id, k, co_weight=self.co_weight if blend else 0.0)
        return SimilarItemsResponse(item_id=item_id, known_item=True, fallback=None,
                                    items=[self._result(i, score) for i, score in found])

    def search(self, query: str, k: int) -> SearchResponse:
        vector = self.text_encoder.encode_one(query)
        ids, cosines = self.index.search(vector, max(k, self.candidates))
        keep = ids[0] >= 0
        ids, cosines = ids[0][keep], cosines[0][keep]
        features = pl.DataFrame(self.online.read(names.SEARCH_V1, {names.ITEM_ID: ids.tolist()}), strict=False,
                                infer_schema_length=None).with_columns(
            pl.lit(query).alias("query"), pl.Series("cosine", cosines, dtype=pl.Float64),
            pl.Series("title", [self.index.title(i) for i in ids], dtype=pl.String))
        scores = self.ranker.predict(self.layout.array(query_item_features(features)), num_threads=1)
        best = ranking(scores, None if self.tie_break is None else features[self.tie_break].to_numpy())[:k]
        return SearchResponse(query=query, personalised=False, items=[self._result(ids[i], scores[i]) for i in best])


class ItemEndpoints:
    """The item endpoints, mixed into the items service and the entry service."""

    item_index = bentoml.models.BentoModel("item_index:latest")
    search_ranker = bentoml.models.BentoModel("search_ranker:latest")

    def start_items(self, online: OnlineFeatures) -> None:
        self.items = ItemFinder(online, self.saved_model("item_index", "shopml index build"),
                                self.saved_model("search_ranker", "shopml train search_ranker"))

    @bentoml.api(route="/similar_items", input_spec=SimilarItemsRequest)
    def similar_items(self, item_id: int, k: int = 10, blend_co_occurrence: bool = True) -> SimilarItemsResponse:
        """The k items most like ``item_id``, itself excluded, most similar first."""
        return self.part("items").similar(item_id, k, blend_co_occurrence)

    @bentoml.api(route="/search", input_spec=SearchRequest)
    def search(self, query: str, k: int = 10, user_id: int | None = None) -> SearchResponse:
        """The k items that best answer ``query``, best first (``user_id`` is not used for ranking yet)."""
        return self.part("items").search(query, k)


@bentoml.asgi_app(health_app, path="/health")
@bentoml.service(name="shopml-items", traffic={"timeout": 30})
class Items(ItemEndpoints, ServiceParts):
    parts = ("items",)
