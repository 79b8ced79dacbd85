"""The segments' nearest centre, a chunk of vectors at a time, is the one-shot broadcast's answer,
and a column of vectors becomes a matrix whatever its Polars type."""

import numpy as np
import polars as pl

from training.embeddings import vector_matrix
from training.tasks.segments import NEAREST_CHUNK, nearest


def test_nearest_over_several_chunks_equals_the_broadcast():
    rng = np.random.default_rng(3)
    vectors, centres = rng.normal(size=(2 * NEAREST_CHUNK + 17, 8)), rng.normal(size=(5, 8))
    expected = ((vectors[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.array_equal(nearest(vectors, centres), expected)
    assert nearest(vectors[:0], centres).shape == (0,)


def test_vector_matrix_reads_lists_and_arrays_alike():
    rows = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    as_list = pl.Series("v", rows, dtype=pl.List(pl.Float32))
    as_array = pl.Series("v", rows, dtype=pl.Array(pl.Float32, 3))
    for column in (as_list, as_array):
        assert np.array_equal(vector_matrix(column), np.asarray(rows, dtype=np.float32))
    assert vector_matrix(as_list.head(0)).shape == (0, 0)
