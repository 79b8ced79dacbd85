"""The shipped text model fine-tuned with PyTorch: its transformer, mean pooling over the real
tokens (as the sentence-transformers pipeline pools), and one linear head per label (e.g. the
sentiment class and the star rating), trained together with the sum of their cross-entropies.

Slower than a head on frozen embeddings and usually better; the task chooses between them on
validation. Saved as a ``state_dict`` in safetensors with its config (never a pickle) and rebuilt
from the package's own weights plus that file, so nothing reaches the network. ``export`` also
writes what is judged and served (``QuantisedClassifier``): the fine-tuned transformer in ONNX
with int8 weights, run each text alone as the platform's encoder runs (``shopml.text_model``),
and the heads as arrays, several times faster than torch for one short text.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from shopml.text_model import text_model_path

log = logging.getLogger(__name__)

WEIGHTS_FILE, CONFIG_FILE = "finetuned.safetensors", "finetuned.json"
ONNX_FILE, HEADS_FILE = "finetuned-int8.onnx", "finetuned-heads.npz"


@dataclass(frozen=True)
class FineTuneConfig:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5        # the transformer's
    head_learning_rate: float = 2e-3
    max_tokens: int = 64               # longer texts are cut
    seed: int = 0


def _module(heads: dict[str, int]):
    import torch
    from transformers import AutoModel

    class EncoderClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = AutoModel.from_pretrained(str(text_model_path()))
            width = self.transformer.config.hidden_size
            self.heads = torch.nn.ModuleDict({name: torch.nn.Linear(width, n) for name, n in heads.items()})

        def forward(self, tokens) -> dict:
            hidden = self.transformer(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return {name: head(pooled) for name, head in self.heads.items()}

    return EncoderClassifier()


class FineTunedClassifier:
    """A fine-tuned encoder with its heads; ``classes[head]`` names each head's columns."""

    def __init__(self, module, tokenizer, classes: dict[str, list[str]], config: FineTuneConfig):
        self.module, self.tokenizer, self.classes, self.config = module.eval(), tokenizer, classes, config

    def _tokens(self, texts: list[str]):
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.config.max_tokens,
                              return_tensors="pt")

    def probabilities(self, texts: list[str], batch_size: int = 128) -> dict[str, np.ndarray]:
        """Per head, (texts, classes) probabilities; texts are batched by length, answers in order."""
        import torch

        order = np.argsort([len(t) for t in texts], kind="stable")
        out = {head: np.empty((len(texts), len(c)), dtype=np.float32) for head, c in self.classes.items()}
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                logits = self.module(self._tokens([texts[i] for i in rows]))
                for head, values in logits.items():
                    out[head][rows] = torch.softmax(values, dim=1).numpy()
        return out

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.module.state_dict().items()}, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps({"classes": self.classes, "config": asdict(self.config)}))

    def export(self, folder: Path) -> None:
        """``save``, plus the int8 ONNX transformer and the heads' arrays ``QuantisedClassifier`` loads."""
        from shopml.text_model import export_onnx

        self.save(folder)
        export_onnx(folder / ONNX_FILE, transformer=self.module.transformer)
        np.savez(folder / HEADS_FILE, **{f"{head}.{part}": getattr(layer, part).detach().numpy()
                                         for head, layer in self.module.heads.items() for part in ("weight", "bias")})

    @classmethod
    def load(cls, folder: Path, threads: int | None = None) -> FineTunedClassifier:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        if threads is not None:
            torch.set_num_threads(threads)
        saved = json.loads((folder / CONFIG_FILE).read_text())
        module = _module({head: len(c) for head, c in saved["classes"].items()})
        module.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        return cls(module, AutoTokenizer.from_pretrained(str(text_model_path())), saved["classes"],
                   FineTuneConfig(**saved["config"]))


def fine_tune(texts: list[str], labels: dict[str, np.ndarray], classes: dict[str, list[str]],
              config: FineTuneConfig, on_progress: Callable[[int, int], None] | None = None) -> FineTunedClassifier:
    """Fine-tune on ``texts``; ``labels[head]`` holds each text's class index into ``classes[head]``."""
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(config.seed)
    module = _module({head: len(c) for head, c in classes.items()}).train()
    tokenizer = AutoTokenizer.from_pretrained(str(text_model_path()))
    optimiser = torch.optim.AdamW([
        {"params": module.transformer.parameters(), "lr": config.learning_rate},
        {"params": module.heads.parameters(), "lr": config.head_learning_rate}])
    steps = config.epochs * -(-len(texts) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / max(steps, 1)))
    targets = {head: torch.as_tensor(values, dtype=torch.long) for head, values in labels.items()}
    rng, done, started = np.random.default_rng(config.seed), 0, time.perf_counter()
    token_ids = tokenizer(texts, truncation=True, max_length=config.max_tokens)["input_ids"]
    lengths = np.array([len(ids) for ids in token_ids])
    for _ in range(config.epochs):
        for rows in similar_length_batches(lengths, config.batch_size, rng):
            tokens = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                               max_length=config.max_tokens, return_tensors="pt")
            logits = module(tokens)
            loss = sum(torch.nn.functional.cross_entropy(logits[head], targets[head][rows]) for head in classes)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            done += len(rows)
            if on_progress is not None and (done // config.batch_size) % 50 == 0:
                on_progress(done, config.epochs * len(texts))
    log.info("fine-tuned on %d texts x %d epochs in %.0f s", len(texts), config.epochs, time.perf_counter() - started)
    return FineTunedClassifier(module, tokenizer, classes, config)


def similar_length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           batches_per_pool: int = 16) -> list[np.ndarray]:
    """The rows in random batches of similar length: a random order cut into pools of
    ``batches_per_pool`` batches, each pool sorted by length and cut into batches, the batches then
    shuffled. Padding to the longest text of a batch then costs little (on the demo's reviews 18
    tokens a text instead of 30 with plain random batches), and each batch is still a random draw."""
    order = rng.permutation(len(lengths))
    pool = batch_size * batches_per_pool
    batches = []
    for start in range(0, len(order), pool):
        rows = order[start:start + pool]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        batches += [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class QuantisedClassifier:
    """The exported fine-tune: int8 ONNX transformer, mean pooling, the heads in NumPy."""

    def __init__(self, folder: Path, workers: int | None = None):
        from shopml.text_model import TextEncoder

        saved = json.loads((folder / CONFIG_FILE).read_text())
        self.classes = saved["classes"]
        self.encoder = TextEncoder(folder / ONNX_FILE, workers)
        self.encoder.max_tokens = int(saved["config"]["max_tokens"])      # as it was trained
        with np.load(folder / HEADS_FILE, allow_pickle=False) as heads:
            self.heads = {head: (heads[f"{head}.weight"], heads[f"{head}.bias"]) for head in self.classes}

    def probabilities(self, texts: list[str]) -> dict[str, np.ndarray]:
        from .text_classifiers import softmax

        pooled = self.encoder.encode(texts, normalise=False)
        return {head: softmax(pooled @ weight.T + bias) for head, (weight, bias) in self.heads.items()}
