"""Feedback analysis, the parts that do not depend on how a model was chosen: reviews cut into
sentences, topics from their embeddings with keywords per topic (c-TF-IDF), each topic named
by the nearest aspect, and alerts for items whose negative share rose against their own past.

- **Sentences**: a review's text cut after '.', '!' or '?'.
- **Topics**: k-means on the sentences' unit vectors; keywords by class-based TF-IDF
  (BERTopic's c-TF-IDF: a term's frequency in the topic times log(1 + average words per topic /
  the term's frequency over all topics)), from scikit-learn's counts.
- **Aspect of a topic**: the aspect whose description is nearest the topic's centroid (cosine),
  so that any shop's topics land in the same named columns (``ASPECTS``).
- **Alerts**: per item, reviews in the last ``window_days`` against all before; a one-sided
  Fisher exact test that the recent negative share is higher, with the Benjamini-Hochberg
  procedure over the items tested (false discovery rate ``alert_fdr``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from feature_repo.definitions import names

# the named aspects a topic can take (the columns of the item_review_sentiment view), with the
# text their name is encoded from
ASPECTS = dict(zip(names.REVIEW_ASPECTS, (
    "product quality: well made, sturdy, broke, stopped working",
    "size and fit: too small, too big, fits perfectly, dimensions",
    "delivery and shipping: arrived late, fast delivery, parcel damaged",
    "price and value for money: overpriced, a bargain, worth it",
    "customer service and returns: seller, support, refund",
    "overall opinion: love it, terrible, happy with it, disappointed")))
SENTENCE_PATTERN = r"[^.!?]+[.!?]*"
KEYWORDS = 6


def review_sentences(reviews: pl.DataFrame) -> pl.DataFrame:
    """One row per sentence: review_id, item_id, ts, position (1 = first), sentence."""
    return (reviews.select("review_id", "item_id", "ts", pl.col("text").str.extract_all(SENTENCE_PATTERN).alias("sentence"))
            .explode("sentence")
            .with_columns(pl.col("sentence").str.strip_chars())
            .filter(pl.col("sentence").str.len_chars() > 1)
            .with_columns(pl.int_range(1, pl.len() + 1).over("review_id").alias("position")))


def class_tfidf_keywords(texts: list[str], topics: np.ndarray, n_topics: int, top: int = KEYWORDS) -> list[list[str]]:
    """The ``top`` words of each topic by class-based TF-IDF."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectoriser = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z'-]{2,}\b")
    counts = vectoriser.fit_transform(texts)
    per_topic = np.vstack([np.asarray(counts[topics == t].sum(axis=0)).ravel() for t in range(n_topics)]).astype(float)
    frequency = per_topic / np.clip(per_topic.sum(axis=1, keepdims=True), 1, None)
    idf = np.log(1 + per_topic.sum(axis=1).mean() / np.clip(per_topic.sum(axis=0), 1, None))
    words = vectoriser.get_feature_names_out()
    return [[str(words[i]) for i in np.argsort(-(frequency[t] * idf))[:top] if per_topic[t, i] > 0]
            for t in range(n_topics)]


@dataclass
class Topics:
    centroids: np.ndarray       # (k, dimension), unit length
    keywords: list[list[str]]
    aspect: list[str]           # the named aspect of each topic

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors @ self.centroids.T).argmax(axis=1)


def fit_topics(train_vectors: np.ndarray, valid_vectors: np.ndarray, train_texts: list[str], k_range: tuple[int, int],
               aspect_vectors: np.ndarray, seed: int = 0) -> tuple[Topics, dict[int, float]]:
    """k-means topics, k chosen by the silhouette of the validation sentences (cosine)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    silhouettes, fits = {}, {}
    for k in range(k_range[0], k_range[1] + 1):
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(train_vectors)
        fits[k] = model
        labels = model.predict(valid_vectors)
        silhouettes[k] = float(silhouette_score(valid_vectors, labels, metric="cosine")) if len(set(labels)) > 1 else -1.0
    best = max(silhouettes, key=silhouettes.get)
    centroids = fits[best].cluster_centers_
    centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    labels = (train_vectors @ centroids.T).argmax(axis=1)
    names = list(ASPECTS)
    return Topics(centroids=centroids.astype(np.float32), keywords=class_tfidf_keywords(train_texts, labels, best),
                  aspect=[names[i] for i in (centroids @ aspect_vectors.T).argmax(axis=1)]), silhouettes


def purity(topics: np.ndarray, labels: np.ndarray) -> float:
    """The share of labelled rows whose label is their topic's most common label."""
    frame = pl.DataFrame({"topic": topics, "label": labels})
    return float(frame.group_by("topic", "label").len().group_by("topic").agg(pl.col("len").max())["len"].sum()
                 / frame.height)


def benjamini_hochberg(p_values: np.ndarray, rate: float) -> np.ndarray:
    """Which of ``p_values`` are discoveries at false discovery rate ``rate``."""
    if len(p_values) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p_values)
    passed = np.flatnonzero(p_values[order] <= rate * np.arange(1, len(p_values) + 1) / len(p_values))
    found = np.zeros(len(p_values), dtype=bool)
    if len(passed):
        found[order[: passed[-1] + 1]] = True
    return found


def rising_negative_share(reviews: pl.DataFrame, window_start, min_reviews: int, rate: float) -> pl.DataFrame:
    """Per item with at least ``min_reviews`` before and from ``window_start``: the negative
    shares, the one-sided Fisher exact p-value that the recent one is higher, and ``alert``
    (Benjamini-Hochberg at ``rate``). ``reviews`` has item_id, ts and a boolean ``negative``."""
    from scipy.stats import fisher_exact

    counts = (reviews.group_by("item_id").agg(
        (pl.col("ts") < window_start).sum().alias("past"), (pl.col("negative") & (pl.col("ts") < window_start)).sum().alias("past_negative"),
        (pl.col("ts") >= window_start).sum().alias("recent"), (pl.col("negative") & (pl.col("ts") >= window_start)).sum().alias("recent_negative"))
        .filter((pl.col("past") >= min_reviews) & (pl.col("recent") >= min_reviews)).sort("item_id"))
    p = np.array([fisher_exact([[rn, r - rn], [pn, n - pn]], alternative="greater").pvalue
                  for rn, r, pn, n in counts.select("recent_negative", "recent", "past_negative", "past").iter_rows()])
    return counts.with_columns(
        (pl.col("past_negative") / pl.col("past")).alias("past_negative_share"),
        (pl.col("recent_negative") / pl.col("recent")).alias("recent_negative_share"),
        pl.Series("p_value", p, dtype=pl.Float64), pl.Series("alert", benjamini_hochberg(p, rate), dtype=pl.Boolean))
