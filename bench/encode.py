"""Item-text encoding throughput (sentences per second) on the demo catalogue's texts, for the
plain model (torch, fp32) and the faster variants available without new dependencies (other
batch sizes; int8 dynamic quantisation of the Linear layers), each with its mean cosine to the
plain model's vectors. A variant is kept only at >= 0.99 mean cosine. ONNX / OpenVINO backends
need ``optimum`` and ``onnxruntime``, which are not installed; they are reported as skipped.

    python -m bench.encode [--home data] [--texts 4000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.measure import write_results
from shopml.settings import Settings
from shopml.text_model import encode, load_text_model
from training.embeddings import item_texts

MIN_COSINE = 0.99


def _timed(model, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    encode(model, texts[:64])                           # warm-up
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    return vectors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--texts", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    texts = item_texts(Settings.resolve(args.home))["text"].to_list()[: args.texts]
    plain = load_text_model()
    reference, seconds = _timed(plain, texts, 64)
    runs = [{"variant": "torch fp32, batch 64 (plain)", "sentences_per_second": round(len(texts) / seconds, 1),
             "mean_cosine_to_plain": 1.0}]
    print(f"{len(texts):,} texts; plain: {runs[0]['sentences_per_second']} sentences/s", flush=True)
    variants = [("torch fp32, batch 16", plain, 16), ("torch fp32, batch 256", plain, 256)]
    # a quantised copy of the whole model: every Linear layer's weights in int8
    quantised = torch.ao.quantization.quantize_dynamic(load_text_model(), {torch.nn.Linear}, dtype=torch.qint8)
    variants.append(("torch int8 dynamic quantisation, batch 64", quantised, 64))
    for name, model, batch in variants:
        vectors, seconds = _timed(model, texts, batch)
        cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
        run = {"variant": name, "sentences_per_second": round(len(texts) / seconds, 1),
               "mean_cosine_to_plain": round(cosine, 5), "kept": cosine >= MIN_COSINE}
        runs.append(run)
        print(f"{name}: {run['sentences_per_second']} sentences/s, mean cosine {cosine:.4f}", flush=True)
    best = max((r for r in runs if r.get("kept", True)), key=lambda r: r["sentences_per_second"])
    print(f"fastest within {MIN_COSINE} cosine: {best['variant']} "
          f"({best['sentences_per_second'] / runs[0]['sentences_per_second']:.2f}x plain)")
    print(f"wrote {write_results('encode', {'texts': len(texts), 'runs': runs, 'fastest': best, 'skipped': ['onnx', 'openvino (need optimum + onnxruntime)']})}")


if __name__ == "__main__":
    main()
