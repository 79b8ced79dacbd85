"""The text encoder (the shipped model in ONNX Runtime, int8) against the plain model it was
exported from: the same direction for every text within the 0.99 cosine bar, unit vectors, the
same vector for a text whatever it is encoded with, and an export that lands whole."""

import numpy as np

from shopml.text_model import TextEncoder, export_onnx, int8_weights, load_text_model

TEXTS = ["red wool hat", "Lantern Lit award-winning beige bedtime stories XL. A calm story for small readers.",
         "x", "running shoes size 42 waterproof", "Quillhouse award-winning black bedtime stories", "ü ß 東京"]


def test_vectors_follow_the_plain_model_and_do_not_depend_on_their_neighbours(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPML_CACHE", str(tmp_path))          # exported afresh for this test
    encoder = TextEncoder.load()
    plain = load_text_model().encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * plain, axis=1)
    assert cosines.min() > 0.98 and cosines.mean() > 0.99
    similar = vectors @ vectors.T
    assert similar[1, 4] > similar[1, 0]         # two bedtime-story books are nearer than a book and a hat
    np.testing.assert_array_equal(encoder.encode_one(TEXTS[3])[0], vectors[3])
    np.testing.assert_array_equal(encoder.encode(TEXTS[::-1])[::-1], vectors)
    np.testing.assert_array_equal(np.vstack([encoder.encode(TEXTS[i:i + 2]) for i in range(0, len(TEXTS), 2)]), vectors)
    np.testing.assert_array_equal(TextEncoder.load(workers=1).encode(TEXTS), vectors)    # whatever the threads
    exported = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert exported == [f"onnx-int8-{int8_weights().lower()}.onnx"]        # no staging file left behind
    assert TextEncoder.load().encode(TEXTS[:2]).tobytes() == vectors[:2].tobytes()   # from the cache, same vectors


def test_the_unquantised_export_is_the_plain_model(tmp_path):
    encoder = TextEncoder(export_onnx(tmp_path / "fp32.onnx", quantise=False))
    plain = load_text_model().encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encoder.encode(TEXTS), plain, atol=1e-4)
