"""A self-attentive next-item model (SASRec, Kang & McAuley 2018) trained with a full softmax
over the catalogue (cross-entropy, which beats the paper's one-negative binary loss: Klenitskiy &
Vasilev 2023), in PyTorch; with optional item side information (a dense vector per item: text
embeddings, attribute indicators) added to each item's learned vector, so a new or rare item is not
blind.

Items are numbered 1..n (0 pads). A training sequence is a user's items in time order; every
position predicts the item after it, and only positions holding an item feed the softmax, so
short sequences cost little. Sequences are right-padded and attention is causal, so an item never
sees a later one or a pad. Training stops early on a validation split's NDCG@10 (full ranking,
seen items masked: the protocol of SASRec and S3-Rec), keeping the best epoch's weights.

Written by hand, about a hundred lines: RecBole (1.2.1) has SASRec but pins colorlog 4.7.2 and
colorama 0.4.4 exactly, pulls tensorboard, thop and plotly, and reads data only through its own
files and trainer; TorchRec is about sharded embedding tables, not sequence models."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

PAD = 0
TOP_K = 10
VALIDATION_METRIC = f"ndcg_at_{TOP_K}"     # early stopping watches it


@dataclass(frozen=True)
class SequenceModelConfig:
    dimension: int = 64            # item and hidden vector size
    layers: int = 2                # self-attention blocks
    heads: int = 2
    max_length: int = 50           # the latest items of a sequence the model reads
    dropout: float = 0.5           # high: these sequences are short and sparse (SASRec's Amazon setting)
    learning_rate: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10             # epochs without a better validation NDCG@10 before stopping
    max_minutes: float = 20.0      # stop (keeping the best epoch) when training has run this long
    seed: int = 7


@dataclass
class Histories:
    """Per user, the items the model reads (``inputs``, oldest first) and the item it must find
    (``targets``; 0 where none)."""
    inputs: list[np.ndarray]
    targets: np.ndarray

    def __add__(self, other: Histories) -> Histories:
        return Histories(self.inputs + other.inputs, np.concatenate([self.targets, other.targets]))


class SelfAttentiveRecommender:
    """SASRec with item side information; ``fit`` then ``scores``."""

    def __init__(self, items: int, config: SequenceModelConfig, side: np.ndarray | None = None):
        import torch

        self.items, self.config = items, config
        torch.manual_seed(config.seed)
        self.side = None if side is None else torch.as_tensor(np.vstack([np.zeros((1, side.shape[1])), side]),
                                                             dtype=torch.float32)
        self.network = _network(items, config, None if side is None else side.shape[1])
        self.epochs_run, self.best_epoch, self.history = 0, 0, []

    def fit(self, train: list[np.ndarray], validation: Histories | None = None, mask_seen: bool = True,
            on_epoch: Callable[[int, float, float | None], None] | None = None) -> SelfAttentiveRecommender:
        """Train on ``train`` (one item sequence per user); with ``validation`` (ranked with
        ``mask_seen`` as ``ranking_metrics`` does), stop when its NDCG@10 has not improved for
        ``patience`` epochs and keep the best epoch's weights."""
        import torch

        config = self.config
        windows = [s[-(config.max_length + 1):] for s in train if len(s) >= 2]
        if not windows:
            raise ValueError("no training sequence holds two items")
        optimiser = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        rng = np.random.default_rng(config.seed)
        best, best_state, stale, started = -1.0, None, 0, time.perf_counter()
        for epoch in range(1, config.max_epochs + 1):
            self.network.train()
            losses = []
            for batch in _batches(windows, config.batch_size, rng):
                inputs, targets = _padded([w[:-1] for w in batch]), _padded([w[1:] for w in batch])
                vectors = self.network.item_vectors(self.side)      # once a batch: the input and the softmax
                hidden = self.network(inputs, vectors)
                positions = targets > PAD
                logits = hidden[positions] @ vectors[1:].T
                loss = torch.nn.functional.cross_entropy(logits, targets[positions] - 1)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
            self.epochs_run = epoch
            score = None if validation is None else ranking_metrics(self.scores, validation, mask_seen)[VALIDATION_METRIC]
            self.history.append({"epoch": epoch, "loss": float(np.mean(losses)), f"validation_{VALIDATION_METRIC}": score})
            if on_epoch is not None:
                on_epoch(epoch, float(np.mean(losses)), score)
            if score is not None:
                if score > best:
                    best, stale, self.best_epoch = score, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
                else:
                    stale += 1
                if stale >= config.patience:
                    break
            if time.perf_counter() - started > 60 * config.max_minutes:
                log.warning("next item: stopped after %d epochs, the %g-minute limit", epoch, config.max_minutes)
                break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        else:
            self.best_epoch = self.epochs_run
        self.network.eval()
        return self

    def user_vectors(self, inputs: list[np.ndarray], batch_size: int = 1024) -> np.ndarray:
        """(users, dimension) the hidden state after each user's last item."""
        import torch

        self.network.eval()
        out = []
        with torch.no_grad():
            vectors = self.network.item_vectors(self.side)
            for start in range(0, len(inputs), batch_size):
                chunk = [s[-self.config.max_length:] if len(s) else np.array([PAD]) for s in inputs[start:start + batch_size]]
                hidden = self.network(_padded(chunk), vectors)
                last = torch.as_tensor([len(s) - 1 for s in chunk])
                out.append(hidden[torch.arange(len(chunk)), last].numpy())
        return np.vstack(out) if out else np.zeros((0, self.config.dimension), dtype=np.float32)

    def item_vectors(self) -> np.ndarray:
        """(items + 1, dimension) the output vector of each item (row 0 the pad)."""
        import torch

        with torch.no_grad():
            return self.network.item_vectors(self.side).numpy()

    def scores(self, inputs: list[np.ndarray]) -> np.ndarray:
        """(users, items + 1) the score of every item as each user's next; column 0 is the pad."""
        scores = self.user_vectors(inputs) @ self.item_vectors().T
        scores[:, PAD] = -np.inf
        return scores

    def state(self) -> dict:
        return self.network.state_dict()

    @classmethod
    def restore(cls, items: int, config: SequenceModelConfig, state: dict,
                side: np.ndarray | None = None) -> SelfAttentiveRecommender:
        model = cls(items, config, side)
        model.network.load_state_dict(state)
        model.network.eval()
        return model


Scorer = Callable[[list[np.ndarray]], np.ndarray]   # users' inputs -> (users, items + 1) scores


def ranking_metrics(scores: Scorer | np.ndarray, histories: Histories, mask_seen: bool = True,
                    k: int = TOP_K) -> dict[str, float]:
    """HR@k, NDCG@k and MRR of each user's one target in a full ranking of the catalogue by
    ``scores`` (a scorer, or the (users, items + 1) scores of the histories' users), with
    ``mask_seen`` the items of the user's inputs masked (the target itself never is); users without
    a target are skipped."""
    return rank_metrics(target_ranks(scores, histories, mask_seen), k)


def rank_metrics(ranks: np.ndarray, k: int = TOP_K) -> dict[str, float]:
    """HR@k, NDCG@k and MRR of targets at these 0-based ranks."""
    hits = ranks < k
    return {f"hr_at_{k}": float(hits.mean()), f"ndcg_at_{k}": float(np.where(hits, 1 / np.log2(ranks + 2), 0).mean()),
            "mrr": float((1 / (ranks + 1)).mean()), "users": int(len(ranks))}


def target_ranks(scores: Scorer | np.ndarray, histories: Histories, mask_seen: bool = True,
                 chunk: int = 2048) -> np.ndarray:
    """0-based rank of each user's target among the items not masked (ties counted against it),
    scored ``chunk`` users at a time so the catalogue-wide score matrix stays small."""
    rows = np.flatnonzero(histories.targets > PAD)
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        block = np.array(scores[part] if isinstance(scores, np.ndarray) else
                         scores([histories.inputs[r] for r in part]), dtype=np.float32)
        targets = histories.targets[part]
        target_scores = block[np.arange(len(part)), targets]
        if mask_seen:
            seen = [histories.inputs[r] for r in part]
            block[np.repeat(np.arange(len(part)), [len(s) for s in seen]), np.concatenate(seen)] = -np.inf
            block[np.arange(len(part)), targets] = target_scores
        block[:, PAD] = -np.inf
        out.append((block >= target_scores[:, None]).sum(axis=1) - 1)
    return np.concatenate(out) if out else np.zeros(0, dtype=int)


def same_for_everyone(scores: np.ndarray) -> Scorer:
    """A scorer that gives every user these (items + 1) scores, the pad never ranked."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[PAD] = -np.inf
    return lambda inputs: np.broadcast_to(scores, (len(inputs), len(scores)))


def popularity(train: list[np.ndarray], items: int) -> Scorer:
    """A scorer that gives every user the items' counts in the training sequences."""
    return same_for_everyone(np.bincount(np.concatenate(train) if train else np.zeros(0, dtype=int),
                                         minlength=items + 1))


def _network(items: int, config: SequenceModelConfig, side_width: int | None):
    import torch
    from torch import nn

    class Network(nn.Module):
        def __init__(self):
            super().__init__()
            self.item_embedding = nn.Embedding(items + 1, config.dimension, padding_idx=PAD)
            self.side_projection = None if side_width is None else nn.Linear(side_width, config.dimension, bias=False)
            self.positions = nn.Embedding(config.max_length, config.dimension)
            block = nn.TransformerEncoderLayer(config.dimension, config.heads, 4 * config.dimension,
                                               config.dropout, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
            self.dropout = nn.Dropout(config.dropout)
            self.norm = nn.LayerNorm(config.dimension)
            nn.init.normal_(self.item_embedding.weight, std=config.dimension ** -0.5)

        def item_vectors(self, side):
            vectors = self.item_embedding.weight
            return vectors if self.side_projection is None else vectors + self.side_projection(side)

        def forward(self, sequences, vectors):
            """The hidden state at every position of the item ``sequences``, whose input vectors are
            the rows of ``vectors`` (``item_vectors(side)``: shared with the output softmax)."""
            length = sequences.shape[1]
            x = vectors[sequences] * math.sqrt(config.dimension)
            x = self.dropout(x + self.positions(torch.arange(length)))
            causal = nn.Transformer.generate_square_subsequent_mask(length)
            return self.norm(self.blocks(x, mask=causal, is_causal=True))

    return Network()


def _batches(windows: list[np.ndarray], size: int, rng: np.random.Generator):
    """Batches of windows of about the same length (shuffled within a length, and in batch order),
    so a batch pads little: most sequences of a shop are short."""
    lengths = np.array([len(w) for w in windows])
    order = np.lexsort((rng.random(len(windows)), lengths))
    batches = [order[start:start + size] for start in range(0, len(order), size)]
    for batch in rng.permutation(len(batches)):
        yield [windows[i] for i in batches[batch]]


def _padded(sequences: list[np.ndarray]):
    """(batch, longest) a right-padded tensor of item ids."""
    import torch

    out = np.zeros((len(sequences), max(len(s) for s in sequences)), dtype=np.int64)
    for row, s in enumerate(sequences):
        out[row, :len(s)] = s
    return torch.as_tensor(out)
