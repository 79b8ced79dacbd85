"""Reviews as shoppers write them. A review mentions one to three aspects (quality, size,
delivery, price, service), each in a sentence of its own polarity: an aspect's score mixes the
buyer's satisfaction with the item and aspect-specific noise, so a review can be mixed ("Fits
perfectly. But it broke within a week."). About half open with an overall phrase from the star
rating; a few unhappy buyers open with sarcastic praise; some have a typo. The truth keeps every
aspect's score and polarity, and whether the review is sarcastic.

Vectorised: one row per (review, aspect) is drawn at once and Polars joins the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import vocabulary as vocab
from .config import Behaviour, Writing
from .text import Lexicon

NEGATIVE, NEUTRAL, POSITIVE = range(3)
SENTENCES = Lexicon([vocab.ASPECT_SENTENCES[a][p] for a in vocab.ASPECTS for p in vocab.POLARITIES])
OPENINGS = Lexicon([vocab.REVIEW_OPENINGS[r] for r in range(1, 6)])
SARCASTIC = np.array(vocab.SARCASTIC_OPENINGS, dtype=object)


def review_delays(behaviour: Behaviour, rng: np.random.Generator, n: int) -> np.ndarray:
    """Days from a purchase to its review, for ``n`` reviews drawn (``review_delay_cdf``)."""
    return behaviour.review_delay_min_days + rng.exponential(behaviour.review_delay_mean_days, n)


def review_delay_cdf(days: np.ndarray, behaviour: Behaviour) -> np.ndarray:
    """P(a review that will be written has come within ``days`` of its purchase)."""
    waited = np.maximum(np.asarray(days, dtype=float) - behaviour.review_delay_min_days, 0.0)
    return -np.expm1(-waited / behaviour.review_delay_mean_days)


def sentiment_of(score: np.ndarray) -> np.ndarray:
    """A satisfaction-like score on [-1, 1], as the truth records it."""
    return np.tanh(np.asarray(score) / 1.5)


@dataclass
class WrittenReviews:
    text: np.ndarray            # one per review
    sarcastic: np.ndarray       # bool, one per review
    review: np.ndarray          # per mentioned aspect: the review's index
    aspect: np.ndarray          # index into vocab.ASPECTS
    polarity: np.ndarray        # NEGATIVE, NEUTRAL, POSITIVE
    sentiment: np.ndarray       # the aspect's score on [-1, 1]


def _aspects(satisfaction: np.ndarray, writing: Writing, rng: np.random.Generator):
    """Which aspects each review mentions (distinct, in the order written) and their scores."""
    n, n_aspects = len(satisfaction), len(vocab.ASPECTS)
    count = rng.choice(len(writing.aspects_per_review), n, p=writing.aspects_per_review) + 1
    keys = np.log(np.asarray(writing.aspect_weights)) + rng.gumbel(size=(n, n_aspects))
    order = np.argsort(-keys, axis=1)                                   # weighted draw without replacement
    mentioned = np.arange(n_aspects) < count[:, None]
    review, aspect = np.broadcast_to(np.arange(n)[:, None], (n, n_aspects))[mentioned], order[mentioned]
    score = (np.asarray(writing.aspect_loading)[aspect] * satisfaction[review] + np.asarray(writing.aspect_bias)[aspect]
             + np.asarray(writing.aspect_noise)[aspect] * rng.standard_normal(len(aspect)))
    polarity = np.where(score < -writing.neutral_band, NEGATIVE, np.where(score > writing.neutral_band, POSITIVE, NEUTRAL))
    return review, aspect, score, polarity


def _swap_letters(texts: pl.Expr, position: pl.Expr) -> pl.Expr:
    """The text with the letters at ``position`` and ``position + 1`` swapped."""
    return pl.concat_str(texts.str.slice(0, position), texts.str.slice(position + 1, 1),
                         texts.str.slice(position, 1), texts.str.slice(position + 2))


def write_reviews(rating: np.ndarray, satisfaction: np.ndarray, noun: np.ndarray, writing: Writing,
                  rng: np.random.Generator) -> WrittenReviews:
    """The text of ``len(rating)`` reviews with their truth; ``noun`` is each product's noun."""
    n = len(rating)
    review, aspect, score, polarity = _aspects(satisfaction, writing, rng)
    sentence = SENTENCES.words[SENTENCES.draw(aspect * len(vocab.POLARITIES) + polarity, rng)]
    first = np.r_[True, review[1:] != review[:-1]]
    previous = np.r_[NEUTRAL, polarity[:-1]]
    turns = ~first & (polarity != NEUTRAL) & (previous != NEUTRAL) & (polarity != previous)
    sarcastic = (rating <= 2) & (rng.random(n) < writing.sarcasm_rate)
    opens = sarcastic | (rng.random(n) < writing.opening_rate)
    opening = np.where(sarcastic, SARCASTIC[rng.integers(0, len(SARCASTIC), n)],
                       OPENINGS.words[OPENINGS.draw(rating - 1, rng)])
    typo = rng.random(n) < writing.typo_rate
    typo_at = rng.random(n)
    s = pl.col("sentence").str.replace("{noun}", pl.col("noun"), literal=True)
    lowered = pl.when(s.str.starts_with("I ") | s.str.starts_with("I'")).then(s).otherwise(
        pl.concat_str(s.str.slice(0, 1).str.to_lowercase(), s.str.slice(1)))
    bodies = (pl.DataFrame({"review": review, "sentence": pl.Series(sentence.tolist(), dtype=pl.String),
                            "noun": pl.Series(noun[review].tolist(), dtype=pl.String), "turns": turns})
              .select("review", pl.when("turns").then(pl.concat_str(pl.lit("But "), lowered)).otherwise(s).alias("s"))
              .group_by("review", maintain_order=True).agg(pl.col("s").str.join(" ")))
    text = (pl.DataFrame({"review": np.arange(n), "opening": pl.Series(np.where(opens, opening, None).tolist(), dtype=pl.String),
                          "typo": typo, "typo_at": typo_at})
            .join(bodies, on="review", how="left", maintain_order="left")
            .with_columns(pl.concat_str("opening", "s", separator=" ", ignore_nulls=True).alias("text"))
            .with_columns(pl.when("typo").then(_swap_letters(
                pl.col("text"), (pl.col("typo_at") * (pl.col("text").str.len_chars() - 2)).cast(pl.Int64) + 1))
                .otherwise(pl.col("text")).alias("text")))
    return WrittenReviews(text=text["text"].to_numpy().astype(object), sarcastic=sarcastic, review=review,
                          aspect=aspect, polarity=polarity, sentiment=sentiment_of(score))
