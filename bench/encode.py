"""Text-encoding throughput (sentences per second) on the demo catalogue's texts: the plain
model (sentence-transformers on torch, fp32, batches of 64 sorted by length) as the reference,
and the faster backends, each with its mean cosine to the plain model's vectors and whether a
text's vector is the same whatever it is encoded with (``batch_safe``: the texts encoded in
order, shuffled and in chunks of 7 give identical vectors). A variant is kept only at >= 0.99
mean cosine; the platform's encoder (``shopml.text_model.TextEncoder``) is the last row.

- padded int8 batches are fast, but int8 activations are scaled per run, so a vector moves
  with its batch-mates;
- int8 activations scaled per token (each row by its own maximum) make batches safe, but ONNX
  Runtime's MatMulIntegerToFloat fusion assumes one scale per tensor (mean cosine 0.67 with
  it), so the fusion is switched off and the rest is slower than the plain model;
- the platform runs each text alone, single-threaded, on as many threads as cores: safe by
  construction, nothing padded.

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
import onnx
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper

from bench.measure import write_results
from shopml.settings import Settings
from shopml.text_model import INPUTS, TextEncoder, export_onnx, load_text_model
from training.embeddings import item_texts

MIN_COSINE = 0.99
BATCH = 64


def _timed(encode, texts: list[str]) -> tuple[np.ndarray, float]:
    encode(texts[:BATCH])                               # warm-up
    started = time.perf_counter()
    vectors = encode(texts)
    return vectors, time.perf_counter() - started


def _padded_batches(session: onnxruntime.InferenceSession, encoder: TextEncoder):
    """Batches of 64 texts sorted by length, padded, mean-pooled over the real tokens."""
    def encode(texts: list[str]) -> np.ndarray:
        order, out = np.argsort([len(t) for t in texts], kind="stable"), np.empty((len(texts), 384), np.float32)
        for start in range(0, len(texts), BATCH):
            rows = order[start:start + BATCH]
            tokens = encoder.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=encoder.max_tokens, return_tensors="np")
            hidden = session.run(None, {name: tokens[name].astype(np.int64) for name in INPUTS})[0]
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            mean = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
            out[rows] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
        return out
    return encode


def per_token_scales(dynamic: Path, target: Path) -> Path:
    """The dynamic int8 model with each DynamicQuantizeLinear (one scale per tensor) replaced by
    a quantiser with one scale per token: x / (max|x| / 127) + 128, zero point 128."""
    model = onnx.load(str(dynamic))
    graph = model.graph
    graph.initializer.extend([numpy_helper.from_array(np.array(v, dtype), name) for name, v, dtype in (
        ("q_127", 127.0, np.float32), ("q_128", 128.0, np.float32), ("q_eps", 1e-8, np.float32),
        ("q_0", 0.0, np.float32), ("q_255", 255.0, np.float32), ("q_zero_point", 128, np.uint8))])
    nodes = []
    for i, node in enumerate(graph.node):
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        (x,), (q, scale, zero_point), p = node.input, node.output, f"q{i}_"
        nodes += [helper.make_node("Abs", [x], [p + "abs"]),
                  helper.make_node("ReduceMax", [p + "abs"], [p + "max"], axes=[-1], keepdims=1),
                  helper.make_node("Max", [p + "max", "q_eps"], [p + "safe"]),
                  helper.make_node("Div", [p + "safe", "q_127"], [scale]),
                  helper.make_node("Div", [x, scale], [p + "scaled"]),
                  helper.make_node("Round", [p + "scaled"], [p + "round"]),
                  helper.make_node("Add", [p + "round", "q_128"], [p + "shift"]),
                  helper.make_node("Clip", [p + "shift", "q_0", "q_255"], [p + "clip"]),
                  helper.make_node("Cast", [p + "clip"], [q], to=TensorProto.UINT8),
                  helper.make_node("Identity", ["q_zero_point"], [zero_point])]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]                  # the scales are no longer scalars
    onnx.save(model, str(target))
    return target


def batch_safe(encode, texts: list[str]) -> bool:
    """The same vectors encoded in order, shuffled, and in chunks of 7."""
    sample = texts[:300]
    in_order = encode(sample)
    shuffle = np.random.default_rng(0).permutation(len(sample))
    shuffled = np.empty_like(in_order)
    shuffled[shuffle] = encode([sample[i] for i in shuffle])
    chunked = np.vstack([encode(sample[i:i + 7]) for i in range(0, len(sample), 7)])
    return bool(np.array_equal(in_order, shuffled) and np.array_equal(in_order, chunked))


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
             "mean_cosine_to_plain": 1.0, "batch_safe": batch_safe(sentence_transformers(plain), texts), "kept": True}]
    print(f"{len(texts):,} texts; plain: {runs[0]['sentences_per_second']} sentences/s", flush=True)
    platform = TextEncoder.load()
    with tempfile.TemporaryDirectory() as scratch:
        session = lambda path, **kw: onnxruntime.InferenceSession(   # noqa: E731
            str(path), providers=["CPUExecutionProvider"], **kw)
        fp32 = export_onnx(Path(scratch) / "fp32.onnx", quantise=False)
        dynamic = export_onnx(Path(scratch) / "int8.onnx")
        per_token = per_token_scales(dynamic, Path(scratch) / "int8-per-token.onnx")
        variants = [
            ("torch int8 dynamic quantisation (Linear), batch 64", sentence_transformers(
                torch.ao.quantization.quantize_dynamic(load_text_model(), {torch.nn.Linear}, dtype=torch.qint8))),
            ("onnx fp32, batch 64", _padded_batches(session(fp32), platform)),
            ("onnx int8 per-channel MatMul, batch 64", _padded_batches(session(dynamic), platform)),
            ("onnx int8, activations scaled per token, batch 64 (MatMulIntegerToFloat fusion off)",
             _padded_batches(session(per_token, disabled_optimizers=["MatMulIntegerToFloatFusion"]), platform)),
            ("onnx int8 per-channel MatMul, each text alone, one thread per core (the platform's TextEncoder)",
             platform.encode),
        ]
        for name, encode in variants:
            vectors, seconds = _timed(encode, texts)
            cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
            run = {"variant": name, "sentences_per_second": round(len(texts) / seconds, 1),
                   "mean_cosine_to_plain": round(cosine, 5), "batch_safe": batch_safe(encode, texts),
                   "kept": cosine >= MIN_COSINE}
            runs.append(run)
            print(f"{name}: {run['sentences_per_second']} sentences/s, mean cosine {cosine:.4f}, "
                  f"batch-safe {run['batch_safe']}", flush=True)
    best = max((r for r in runs if r["kept"]), key=lambda r: r["sentences_per_second"])
    platform_run = runs[-1]
    for label, run in (("fastest within the cosine bar", best), ("the platform's encoder", platform_run)):
        print(f"{label}: {run['variant']} ({run['sentences_per_second'] / runs[0]['sentences_per_second']:.2f}x plain)")
    print(f"wrote {write_results('encode', {'texts': len(texts), 'runs': runs, 'fastest': best, 'platform': platform_run, 'platform_over_plain': round(platform_run['sentences_per_second'] / runs[0]['sentences_per_second'], 2)})}")


if __name__ == "__main__":
    main()
