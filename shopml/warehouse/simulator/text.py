"""Text of the simulated shop, built vectorised: titles, descriptions, ad creatives and queries
(reviews are written by ``reviews``).

Words come from ``vocabulary``; a ``Lexicon`` flattens a per-category word list so that one NumPy
draw picks a word for every row at once, and Polars joins the pieces into sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from . import vocabulary as vocab


class Lexicon:
    """Per-group word lists flattened into one array, for vectorised picks by group."""

    def __init__(self, groups: Sequence[Sequence[str]]):
        self.counts = np.array([len(words) for words in groups], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.words = np.array([word for words in groups for word in words], dtype=object)

    @classmethod
    def by_category(cls, words: Mapping[str, Sequence[str]]) -> Lexicon:
        return cls([words[category] for category in vocab.CATEGORIES])

    def draw(self, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random word index (into ``words``) from each row's group."""
        return self.offsets[group] + (rng.random(len(group)) * self.counts[group]).astype(np.int64)

    def first(self, group: np.ndarray) -> np.ndarray:
        return self.offsets[group]


SUBCATEGORY_NAMES = np.array(
    [sub for category in vocab.CATEGORIES for sub in vocab.SUBCATEGORIES[category]], dtype=object
)
SUBCATEGORY_CATEGORY = np.array(
    [c for c, category in enumerate(vocab.CATEGORIES) for _ in vocab.SUBCATEGORIES[category]]
)
NOUNS = Lexicon([nouns for category in vocab.CATEGORIES for nouns in vocab.SUBCATEGORIES[category].values()])
BRANDS = Lexicon.by_category(vocab.BRANDS)
ADJECTIVES = Lexicon.by_category(vocab.ADJECTIVES)
MATERIALS = Lexicon.by_category(vocab.MATERIALS)
FEATURES = Lexicon.by_category(vocab.FEATURES)
USES = Lexicon.by_category(vocab.USES)
COLOURS = np.array(vocab.COLOURS, dtype=object)
VARIANTS = np.array(vocab.VARIANTS, dtype=object)
SYNONYMS = np.array([vocab.NOUN_SYNONYMS[noun] for noun in NOUNS.words], dtype=object)


def _join(parts: Sequence[np.ndarray | str], separator: str = "", lower: bool = False) -> np.ndarray:
    """Concatenate word arrays (or literals) row by row; a null part is skipped."""
    frame = pl.DataFrame([pl.Series(f"p{i}", pa.array(part, type=pa.string(), from_pandas=True))
                          for i, part in enumerate(parts) if not isinstance(part, str)])
    exprs = [
        pl.lit(part) if isinstance(part, str) else pl.col(f"p{i}") for i, part in enumerate(parts)
    ]
    joined = pl.concat_str(exprs, separator=separator, ignore_nulls=True)
    joined = joined.str.to_lowercase() if lower else joined
    return frame.select(joined.alias("s"))["s"].to_numpy().astype(object)


def article_for(words: np.ndarray) -> np.ndarray:
    """'An ' before a vowel, else 'A '."""
    first = pl.Series(pa.array(words, type=pa.string())).str.slice(0, 1).to_numpy()
    return np.where(np.isin(first, list("aeiou")), "An ", "A ").astype(object)


def title_nouns(noun: np.ndarray, writing, rng: np.random.Generator) -> np.ndarray:
    """The word a listing uses for its product: the noun, another word for it, or none (null)."""
    draw = rng.random(len(noun))
    synonym = draw < writing.title_synonym
    left_out = (draw >= writing.title_synonym) & (draw < writing.title_synonym + writing.title_without_noun)
    return np.where(left_out, None, np.where(synonym, SYNONYMS[noun], NOUNS.words[noun]))


def item_titles(brand, adjective, colour, title_noun, variant) -> np.ndarray:
    """Brand, adjective, colour and the listing's noun with its variant (the variant alone, if
    any, when the title leaves the noun out)."""
    has_noun = title_noun != None  # noqa: E711  (elementwise on an object array)
    variant_alone = np.array([v.strip() or None for v in VARIANTS], dtype=object)[variant]
    last = np.where(has_noun, title_noun.astype(str) + VARIANTS[variant], variant_alone)
    return _join([BRANDS.words[brand], ADJECTIVES.words[adjective], COLOURS[colour], last], separator=" ")


def item_descriptions(category: np.ndarray, title_noun: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """'A cosy duvet made with ...' in the listing's words; without a noun, 'Made with ...'."""
    adjective = ADJECTIVES.words[ADJECTIVES.draw(category, rng)]
    has_noun = title_noun != None  # noqa: E711
    opening = _join([article_for(adjective), adjective, " ", np.where(has_noun, title_noun, ""), " made with "])
    return _join([
        np.where(has_noun, opening, "Made with "), MATERIALS.words[MATERIALS.draw(category, rng)], ", ",
        FEATURES.words[FEATURES.draw(category, rng)], ". Ideal for ",
        USES.words[USES.draw(category, rng)], ".",
    ])


def ad_creatives(titles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hooks = np.array(vocab.AD_HOOKS, dtype=object)
    return _join([hooks[rng.integers(0, len(hooks), len(titles))], titles], separator=" ")


def search_queries(brand, adjective, colour, noun, category, rng: np.random.Generator) -> np.ndarray:
    """Queries a shopper types for an intended item: its noun, and some of its other attributes."""
    def sometimes(words: np.ndarray, share: float, always: np.ndarray | bool = False) -> np.ndarray:
        return np.where((rng.random(len(words)) < share) | always, words, None)

    no_noun = rng.random(len(noun)) < 0.1               # such a query names the category instead
    parts = [
        sometimes(BRANDS.words[brand], 0.45),
        sometimes(ADJECTIVES.words[adjective], 0.4),
        sometimes(COLOURS[colour], 0.3),
        np.where(no_noun, None, NOUNS.words[noun]),
        sometimes(np.array(vocab.CATEGORIES, dtype=object)[category], 0.2, always=no_noun),
    ]
    return _join(parts, separator=" ", lower=True)
