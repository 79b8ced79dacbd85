"""From a point-in-time dataset to a LightGBM matrix: which columns are features, and text
features as pandas categories with the categories fixed by the training split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl


@dataclass(frozen=True)
class FeatureLayout:
    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]     # column -> categories seen in training

    @classmethod
    def from_training(cls, frame: pl.DataFrame) -> FeatureLayout:
        features = [c for c in frame.columns if "__" in c]
        text = [c for c in features if frame.schema[c] == pl.String]
        return cls(numeric=tuple(c for c in features if c not in text),
                   categorical={c: tuple(sorted(frame[c].drop_nulls().unique().to_list())) for c in text})

    @classmethod
    def from_metadata(cls, metadata: dict) -> FeatureLayout:
        """The layout a saved model was trained with (its ``features`` and ``categories``)."""
        categorical = {column: tuple(values) for column, values in metadata["categories"].items()}
        return cls(numeric=tuple(c for c in metadata["features"] if c not in categorical), categorical=categorical)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def array(self, frame: pl.DataFrame) -> np.ndarray:
        """The same matrix as plain floats, categories as their codes (NaN when unknown or
        missing), which LightGBM takes as is: several times faster than ``matrix`` for the few
        rows of an online request, and the same predictions."""
        codes = [pl.col(column).cast(pl.String).replace_strict(list(categories), list(range(len(categories))), default=None,
                                               return_dtype=pl.Float64)
                 for column, categories in self.categorical.items()]
        return frame.select(pl.col(self.numeric).cast(pl.Float64), *codes).to_numpy().astype(np.float64, copy=False)

    def matrix(self, frame: pl.DataFrame) -> pd.DataFrame:
        # numbers as floats: an online read of unknown entities yields all-null (untyped) columns
        data = frame.select(pl.col(self.numeric).cast(pl.Float64), *self.categorical).to_pandas()
        for column, categories in self.categorical.items():
            data[column] = pd.Categorical(data[column], categories=list(categories))
        return data
