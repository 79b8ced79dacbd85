"""The two forms of a model's input agree: pandas with categories (training) and plain floats with
category codes (serving) give LightGBM identical predictions, unknown and missing values included."""

import lightgbm as lgb
import numpy as np
import polars as pl

from shopml.matrix import FeatureLayout


def test_array_and_matrix_predict_the_same():
    rng = np.random.default_rng(0)
    n = 2000
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    frame = pl.DataFrame({"item__size": size, "item__colour": colour,
                          "label": (size + (colour == "red") * 1.5 + rng.normal(size=n) > 0.5).astype(int)})
    layout = FeatureLayout.from_training(frame)
    assert layout.categorical == {"item__colour": ("blue", "green", "red")}
    booster = lgb.train({"objective": "binary", "verbosity": -1, "min_data_in_leaf": 20},
                        lgb.Dataset(layout.matrix(frame), frame["label"].to_numpy()), num_boost_round=20)
    probes = pl.DataFrame({"item__size": [0.1, None, 2.0, -1.0], "item__colour": ["red", "blue", None, "purple"]})
    np.testing.assert_array_equal(booster.predict(layout.matrix(probes)), booster.predict(layout.array(probes)))
    assert layout.array(probes)[:, 1].tolist()[:2] == [2.0, 0.0] and np.isnan(layout.array(probes)[2:, 1]).all()
    unknown = pl.DataFrame({"item__size": [None], "item__colour": [None]})        # all-null columns have no type
    assert np.isnan(layout.array(unknown)).all()
