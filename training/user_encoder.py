"""The user embedding's network: a multi-task autoencoder in PyTorch. The encoder maps a user's
scaled input vector to ``dimension`` numbers; from them a decoder rebuilds the input (mean squared
error), a linear head predicts the user's outcomes (binary cross-entropy) and another where the
user's views go next, as shares per category (cross-entropy against the shares, for users who
view anything), the losses added with ``outcome_weight`` and ``next_views_weight``. A contrastive
term (InfoNCE, ``contrastive_weight``) pulls the vectors of one user at two training cut-offs
together and away from the batch's other users, so the vector holds what stays the same about a
user rather than the week's noise (a simulated shopper's traits do not change). Inputs are
compressed by a signed log (spend and counts are heavy-tailed: on real shops a few wholesale
buyers would otherwise own whole directions of the vector), then standardised with the training
rows' mean and spread and held within +-CLIP; a missing value becomes the mean (0). Early
stopping keeps the epoch with the lowest validation loss (without the contrastive term: the
validation cut-off holds one row per user)."""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .metrics import roc_auc

log = logging.getLogger(__name__)
PATIENCE = 3                          # epochs without a better validation loss before stopping
CHUNK = 65_536                        # rows scaled and encoded at a time
CLIP = 5.0                            # standardised inputs are held within +-5: a rare value (a country
                                      # of three customers) must not own a direction of the vector


class MultiTaskAutoencoder(nn.Module):
    def __init__(self, inputs: int, hidden: int, dimension: int, outcomes: int, categories: int,
                 decoder: str = "mlp", contrastive: bool = True):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, dimension))
        self.decoder = (nn.Linear(dimension, inputs) if decoder == "linear" else
                        nn.Sequential(nn.Linear(dimension, hidden), nn.ReLU(), nn.Linear(hidden, inputs)))
        self.outcome = nn.Linear(dimension, outcomes)
        # the contrastive loss reads the vector through its own head, so the vector itself keeps
        # what changes from week to week too (None: a model trained without the term)
        self.projection = (nn.Sequential(nn.Linear(dimension, dimension), nn.ReLU(), nn.Linear(dimension, dimension))
                           if contrastive else None)
        # where the next views go, per category (none for a shop without categories)
        self.next_views = nn.Linear(dimension, categories) if categories else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        z = self.encoder(x)
        return z, self.decoder(z), self.outcome(z), self.next_views(z) if self.next_views is not None else None


@dataclass
class FittedEncoder:
    network: MultiTaskAutoencoder
    mean: np.ndarray
    scale: np.ndarray

    def scaled(self, values: np.ndarray) -> np.ndarray:
        z = np.nan_to_num((signed_log(values) - self.mean) / self.scale)
        return np.clip(z, -CLIP, CLIP).astype(np.float32)

    def embed(self, values: np.ndarray) -> np.ndarray:
        """The vectors of ``values``' rows, ``CHUNK`` rows at a time (the view's 1.8 million rows
        at once would make 1 GB temporaries at every step of the scaling)."""
        with torch.no_grad():
            return np.concatenate([self.network.encoder(torch.from_numpy(self.scaled(values[i:i + CHUNK]))).numpy()
                                   for i in range(0, max(len(values), 1), CHUNK)])

    def outcome_aucs(self, values: np.ndarray, outcomes: np.ndarray, names) -> dict[str, dict[str, float]]:
        with torch.no_grad():
            _, _, logits, _ = self.network(torch.from_numpy(self.scaled(values)))
        return {"embedding": {name: roc_auc(outcomes[:, j], logits[:, j].numpy()) for j, name in enumerate(names)
                              if 0 < outcomes[:, j].mean() < 1}}

    def scaling(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


def signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass
class Targets:
    """What the vector must also predict, per row: the binary outcomes and the shares of the
    next views per category (all 0 for a user who views nothing)."""

    outcomes: np.ndarray
    view_shares: np.ndarray
    users: np.ndarray                  # whose row: two rows of a user are a pair of the contrastive loss

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(self.outcomes.astype(np.float32)),
                torch.from_numpy(self.view_shares.astype(np.float32)))


def _loss(network, x, y, shares, config) -> torch.Tensor:
    _, rebuilt, logits, view_logits = network(x)
    outcomes = nn.functional.binary_cross_entropy_with_logits(logits, y)
    loss = nn.functional.mse_loss(rebuilt, x) + config.outcome_weight * outcomes
    viewing = shares.sum(dim=1) > 0
    if shares.shape[1] and viewing.any():
        cross_entropy = -(shares[viewing] * torch.log_softmax(view_logits[viewing], dim=1)).sum(dim=1).mean()
        loss = loss + config.next_views_weight * cross_entropy
    return loss


def partners(users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, another row of the same user drawn at random (-1 where the user has one row)."""
    order = np.argsort(users, kind="stable")
    ordered = users[order]
    start = np.searchsorted(ordered, ordered, side="left")
    size = np.searchsorted(ordered, ordered, side="right") - start
    shift = rng.integers(1, np.maximum(size, 2))
    out = np.empty(len(users), dtype=np.int64)
    out[order] = np.where(size > 1, order[start + (np.arange(len(users)) - start + shift) % size], -1)
    return out


def _contrastive(network, x: torch.Tensor, partner_x: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE between two rows of each user, at different cut-offs (the batch's other users are
    the negatives): the vector should hold what stays the same about a user from week to week."""
    a = nn.functional.normalize(network.projection(network.encoder(x)), dim=1)
    b = nn.functional.normalize(network.projection(network.encoder(partner_x)), dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2


def fit_encoder(config, train: np.ndarray, train_targets: Targets, validation: np.ndarray,
                validation_targets: Targets) -> FittedEncoder:
    torch.manual_seed(config.seed)
    with warnings.catch_warnings():          # a column missing in every row (no pushes in a shop) is 0
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, spread = np.nanmean(signed_log(train), axis=0), np.nanstd(signed_log(train), axis=0)
    fitted = FittedEncoder(MultiTaskAutoencoder(train.shape[1], config.hidden, config.dimension,
                                                train_targets.outcomes.shape[1], train_targets.view_shares.shape[1],
                                                config.decoder, config.contrastive_weight > 0),
                           np.nan_to_num(mean), np.where(np.nan_to_num(spread) > 0, np.nan_to_num(spread), 1.0))
    x, (y, shares) = torch.from_numpy(fitted.scaled(train)), train_targets.tensors()
    vx, (vy, vshares) = torch.from_numpy(fitted.scaled(validation)), validation_targets.tensors()
    network = fitted.network
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    generator, rng = torch.Generator().manual_seed(config.seed), np.random.default_rng(config.seed)
    best, best_state, stalled = float("inf"), copy.deepcopy(network.state_dict()), 0
    for epoch in range(config.epochs):
        network.train()
        partner = torch.from_numpy(partners(train_targets.users, rng))       # drawn again each epoch
        for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
            optimiser.zero_grad()
            loss = _loss(network, x[batch], y[batch], shares[batch], config)
            paired = batch[partner[batch] >= 0]
            if network.projection is not None and len(paired) > 1:
                loss = loss + config.contrastive_weight * _contrastive(network, x[paired], x[partner[paired]],
                                                                       config.temperature)
            loss.backward()
            optimiser.step()
        network.eval()
        with torch.no_grad():
            loss = float(_loss(network, vx, vy, vshares, config))
        log.info("user_embedding: epoch %d, validation loss %.4f", epoch + 1, loss)
        if loss < best - 1e-4:
            best, best_state, stalled = loss, copy.deepcopy(network.state_dict()), 0
        else:
            stalled += 1
            if stalled >= PATIENCE:
                break
    network.load_state_dict(best_state)
    network.eval()
    return fitted
