"""Similar items: the items most like a given one, from the FAISS item index over the shipped
text model's embeddings of title and description, blended with items seen in the same sessions.
The index is built and judged by ``shopml index build`` (``training.item_index``: precision@10 in
the item's own subcategory and the co-purchase hit rate on held-out weeks, against embeddings
alone).

Served as ``POST /similar_items``. An unknown item gets the most-bought items of the last 30 days
(``item_stats`` online), flagged ``fallback: "popular items"``; ``k`` larger than the catalogue
returns the catalogue.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import BaseModel

from feature_repo.definitions import names
from shopml.retrieval import ItemIndex
from shopml.serving import K, Endpoint, Id, ItemResult, NotReady, OnlineReader, Request, SavedModel

from ..item_index import INDEX_MODEL, SIMILAR_QUALITY
from ..kinds import ranking

POPULAR = "popular items"
POPULARITY = f"{names.ITEM_STATS}__purchases_30d"
CATEGORY = f"{names.ITEM_CONTENT}__category"         # every materialised item has one
READ_BATCH = 2000           # items per online read when ranking the whole catalogue by popularity


class SimilarItemsRequest(Request):
    item_id: Id
    k: K = 10
    blend_co_occurrence: bool = True     # blend in items seen in the same sessions


class SimilarItemsResponse(BaseModel):
    item_id: int
    known_item: bool
    fallback: str | None                 # "popular items" when the item is unknown
    items: list[ItemResult]


class SimilarItemsAnswers:
    def __init__(self, models: dict[str, SavedModel], online: OnlineReader):
        saved = models[INDEX_MODEL]
        self.online, self.index = online, ItemIndex.load(saved.folder)
        self.co_weight = float(saved.metadata["config"]["co_weight"])
        self.popular = self._most_bought()

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

    def answer(self, request: SimilarItemsRequest) -> SimilarItemsResponse:
        item_id, k = request.item_id, request.k
        if item_id not in self.index:
            return SimilarItemsResponse(item_id=item_id, known_item=False, fallback=POPULAR,
                                        items=[self._result(i, 0.0) for i in self.popular[:k]])
        found = self.index.similar(item_id, k, co_weight=self.co_weight if request.blend_co_occurrence else 0.0)
        return SimilarItemsResponse(item_id=item_id, known_item=True, fallback=None,
                                    items=[self._result(i, score) for i, score in found])


class SimilarItemsTask:
    name = "similar_items"
    question = "Which items are alike?"
    family = "ranking"
    entity = "item"
    feature_service = names.SEARCH_V1            # the popular-items fallback reads item_stats through it
    model = INDEX_MODEL
    made_by = "shopml index build"               # not a `shopml train` task: the index is built, not fitted
    evaluation = ranking(SIMILAR_QUALITY, model="blended", reference="embedding",
                         metric="co_purchase_hit_rate_at_10", label="co-purchase HR@10")
    endpoint = Endpoint(
        path="/similar_items", request=SimilarItemsRequest, response=SimilarItemsResponse, models=(INDEX_MODEL,),
        start=SimilarItemsAnswers, example=lambda shop: {"item_id": shop.bought_item, "k": 5},
        doc="The k items most like `item_id`, itself excluded, most similar first.")
