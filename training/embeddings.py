"""Item embeddings: title + description through the shipped text model (``shopml.text_model``),
L2-normalised so inner product is cosine similarity.

Encoded vectors are cached by the text's hash under ``<home>/embeddings/``, so a rebuild after
new items arrive (or texts change) encodes only what it has not seen. The result is written as
the ``item_embedding`` feature table (one row per item, stamped at its launch), registered in
Feast like every other item feature.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.text_model import ENCODER, TextEncoder
from shopml.warehouse.database import connect

log = logging.getLogger(__name__)

CACHE_FILE = "cache.parquet"


def text_hash(text: str) -> str:
    return hashlib.sha1(f"{ENCODER}\n{text}".encode()).hexdigest()


def item_text(title: str | None, description: str | None) -> str | None:
    """The text an item is embedded from: its title, then its description (none without a
    title). The item index, the categoriser and its endpoint all encode this, so their vectors
    share the cache."""
    return None if title is None else f"{title}. {description or ''}"


def item_texts(settings: Settings) -> pl.DataFrame:
    """item_id, launch time and the text that is embedded (``item_text``)."""
    with connect(settings.warehouse_path) as con:
        items = con.sql("SELECT item_id, launch_ts, title, coalesce(description, '') AS description "
                        "FROM items ORDER BY item_id").pl()
    if items.is_empty():
        raise ValueError("the warehouse has no items to embed")
    return items.select(names.ITEM_ID, pl.col("launch_ts").alias(names.EVENT_TIMESTAMP)).with_columns(
        pl.Series("text", [item_text(t, d) for t, d in zip(items["title"], items["description"])], dtype=pl.String))


@dataclass
class EmbeddingBuild:
    items: int
    encoded: int            # texts not in the cache, encoded now
    seconds: float
    path: Path


def write_atomically(frame: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.writing")
    frame.write_parquet(staging)
    staging.replace(target)


def cached_vectors(settings: Settings, texts: list[str], encoder: TextEncoder | None = None,
                   on_batch: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    """(unit vectors of ``texts``, one row each, and how many texts were encoded now): texts seen
    before come from the home's cache (``<home>/embeddings/``, keyed by the encoder and the text),
    the others are encoded once and added to it. Items, reviews, review sentences and search queries
    share it."""
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_columns(
        pl.col("text").map_elements(text_hash, return_dtype=pl.String).alias("hash"))
    cache_path = settings.home / "embeddings" / CACHE_FILE
    cache = pl.read_parquet(cache_path) if cache_path.is_file() else pl.DataFrame(
        schema={"hash": pl.String, "vector": pl.Array(pl.Float32, 384)})
    missing = frame.filter(~pl.col("hash").is_in(cache["hash"].implode())).unique("hash", maintain_order=True)
    if missing.height:
        encoder = encoder or TextEncoder.load()
        vectors = encoder.encode(missing["text"].to_list(), on_batch)
        fresh = pl.DataFrame({"hash": missing["hash"],
                              "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))})
        cache = pl.concat([cache.cast(fresh.schema), fresh]) if cache.height else fresh
        write_atomically(cache, cache_path)
    found = frame.join(cache, on="hash", how="left", maintain_order="left")["vector"]
    return found.to_numpy().astype(np.float32).reshape(len(texts), -1), missing.height


def build_item_embeddings(settings: Settings, encoder: TextEncoder | None = None,
                          on_batch: Callable[[int, int], None] | None = None) -> EmbeddingBuild:
    """Embed every item (only texts not seen before are encoded) and write the feature table."""
    import time

    started = time.perf_counter()
    items = item_texts(settings)
    vectors, encoded = cached_vectors(settings, items["text"].to_list(), encoder, on_batch)
    log.info("embeddings: %d items, %d encoded, %d from the cache", items.height, encoded, items.height - encoded)
    table = items.select(names.ITEM_ID, names.EVENT_TIMESTAMP).with_columns(
        pl.Series(names.EMBEDDING, vectors, dtype=pl.Array(pl.Float32, vectors.shape[1])).arr.to_list())
    target = settings.features_dir / f"{names.ITEM_EMBEDDING}.parquet"
    write_atomically(table, target)
    return EmbeddingBuild(items=items.height, encoded=encoded, seconds=time.perf_counter() - started,
                          path=target)


def vector_matrix(column: pl.Series) -> np.ndarray:
    """(rows, dimension) a column of equal-length vectors (a List or Array of floats), without a
    Python list per row."""
    if column.is_empty():
        return np.zeros((0, 0), dtype=np.float32)
    if column.dtype == pl.List:
        column = column.list.to_array(len(column[0]))
    return column.to_numpy()


def read_item_embeddings(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, their unit vectors as a float32 matrix) from the feature table."""
    path = settings.features_dir / f"{names.ITEM_EMBEDDING}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"no item embeddings at {path}: run `shopml index build` first")
    table = pl.read_parquet(path).sort(names.ITEM_ID)
    if table.is_empty():
        raise ValueError(f"{path} holds no embeddings: run `shopml index build` first")
    return table[names.ITEM_ID].to_numpy(), vector_matrix(table[names.EMBEDDING]).astype(np.float32)
