"""Item-text encoding throughput (sentences per second) on the demo catalogue's texts: the plain
model (sentence-transformers on torch, fp32) as the reference, and the faster backends, each
with its mean cosine to the plain model's vectors. A variant is kept only at >= 0.99 mean
cosine; the platform's encoder (``shopml.text_model.TextEncoder``) is the last row: the fastest
backend, run one text at a time so a text's vector does not depend on what it is batched with.

Sentence-transformers' own ONNX backend needs ``optimum-onnx``, which pins transformers below
4.58 and so cannot be installed beside the platform's transformers 5; the ONNX rows here use
the platform's own export (``shopml.text_model.export_onnx``) with ONNX Runtime.

    python -m bench.encode [--home data] [--texts 4000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.measure import write_results
from shopml.settings import Settings
from shopml.text_model import TextEncoder, export_onnx, load_text_model
from training.embeddings import item_texts

MIN_COSINE = 0.99
BATCH = 64


def _timed(encode, texts: list[str]) -> tuple[np.ndarray, float]:
    encode(texts[:BATCH])                               # warm-up
    started = time.perf_counter()
    vectors = encode(texts)
    return vectors, time.perf_counter() - started


def _batched(encoder: TextEncoder):
    # one ONNX call per 64 texts, as TextEncoder avoids (int8 activations scaled per call)
    return lambda texts: np.concatenate([encoder._vectors(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--texts", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    texts = item_texts(Settings.resolve(args.home))["text"].to_list()[: args.texts]
    plain = load_text_model()
    sentence_transformers = lambda model: lambda chunk: model.encode(   # noqa: E731
        chunk, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    reference, seconds = _timed(sentence_transformers(plain), texts)
    runs = [{"variant": "torch fp32, batch 64 (plain)", "sentences_per_second": round(len(texts) / seconds, 1),
             "mean_cosine_to_plain": 1.0, "kept": True}]
    print(f"{len(texts):,} texts; plain: {runs[0]['sentences_per_second']} sentences/s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = TextEncoder(export_onnx(Path(scratch) / "fp32.onnx", quantise=False))
        int8 = TextEncoder.load()
        variants = [
            ("torch int8 dynamic quantisation (Linear), batch 64", sentence_transformers(
                torch.ao.quantization.quantize_dynamic(load_text_model(), {torch.nn.Linear}, dtype=torch.qint8))),
            ("onnx fp32, batch 64", _batched(fp32)),
            ("onnx int8 per-channel MatMul, batch 64", _batched(int8)),
            ("onnx int8 per-channel MatMul, one text at a time (the platform's TextEncoder)", int8.encode),
        ]
        for name, encode in variants:
            vectors, seconds = _timed(encode, texts)
            cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
            run = {"variant": name, "sentences_per_second": round(len(texts) / seconds, 1),
                   "mean_cosine_to_plain": round(cosine, 5), "kept": cosine >= MIN_COSINE}
            runs.append(run)
            print(f"{name}: {run['sentences_per_second']} sentences/s, mean cosine {cosine:.4f}", flush=True)
    best = max((r for r in runs if r["kept"]), key=lambda r: r["sentences_per_second"])
    platform = runs[-1]
    for label, run in (("fastest within the cosine bar", best), ("the platform's encoder", platform)):
        print(f"{label}: {run['variant']} ({run['sentences_per_second'] / runs[0]['sentences_per_second']:.2f}x plain)")
    print(f"wrote {write_results('encode', {'texts': len(texts), 'runs': runs, 'fastest': best, 'platform': platform})}")


if __name__ == "__main__":
    main()
