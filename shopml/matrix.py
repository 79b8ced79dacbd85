"""From a point-in-time dataset to a LightGBM matrix: which columns are features, and text
features as pandas categories with the categories fixed by the training split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

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

    @cached_property
    def _codes(self) -> dict[str, dict[str, int]]:
        return {column: {value: code for code, value in enumerate(categories)}
                for column, categories in self.categorical.items()}

    def array(self, columns: Mapping[str, Sequence] | pl.DataFrame) -> np.ndarray:
        """The same matrix as plain floats, categories as their codes (NaN when unknown or
        missing), which LightGBM takes as is: the same predictions as ``matrix``, and several
        times faster for the few rows of an online request (``columns``: a frame, or lists as
        an online read returns them)."""
        if isinstance(columns, pl.DataFrame):
            columns = columns.to_dict(as_series=False)
        numbers = [np.array(columns[column], dtype=np.float64) for column in self.numeric]
        codes = [np.array([self._codes[column].get(value, np.nan) for value in columns[column]], dtype=np.float64)
                 for column in self.categorical]
        return np.column_stack([*numbers, *codes])

    def matrix(self, frame: pl.DataFrame) -> pd.DataFrame:
        # numbers as floats: an online read of unknown entities yields all-null (untyped) columns
        data = frame.select(pl.col(self.numeric).cast(pl.Float64), *self.categorical).to_pandas()
        for column, categories in self.categorical.items():
            data[column] = pd.Categorical(data[column], categories=list(categories))
        return data
