"""The shipped text model: a request's single query, encoded straight through the model's modules,
is the vector batch encoding gives, a unit vector."""

import numpy as np

from shopml.text_model import encode, encode_one, load_text_model

TEXTS = ["red wool hat", "Lantern Lit award-winning beige bedtime stories XL", "x", "running shoes size 42 waterproof"]


def test_one_text_encodes_to_the_batch_vector():
    model = load_text_model()
    batch = encode(model, TEXTS)
    one = np.concatenate([encode_one(model, text) for text in TEXTS])
    assert one.shape == batch.shape and one.dtype == np.float32
    np.testing.assert_allclose(one, batch, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(one[0], one[1])            # different texts, different vectors
