"""The user embedding on the tiny shop: trained point-in-time on the purged training cut-offs, it
carries the users' outcomes and their hidden traits, is probed beside PCA and the raw features,
and is saved as a state_dict that reloads into the same vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.config import resolve_config
from training.tasks.user_embedding import MODEL, PCA, PROBES, RAW, SCALING_FILE, TRAITS, WEIGHTS_FILE, UserEmbeddingTask
from training.user_encoder import FittedEncoder, MultiTaskAutoencoder

QUICK = ["horizon_days=7", "train_cutoffs=3", "epochs=8", "dimension=16"]      # the tiny shop is 70 days long


def test_the_dimension_is_checked():
    with pytest.raises(ValueError, match="dimension must be 16 to 64"):
        resolve_config(UserEmbeddingTask.config_type, overrides=["dimension=8"])


@pytest.mark.slow
def test_the_embedding_carries_outcomes_and_traits_and_reloads_from_its_state_dict(model_home):
    from shopml.model_store import artifact_folder
    from training.task import run

    task = UserEmbeddingTask()
    config = resolve_config(task.config_type, overrides=QUICK)
    data = task.build_dataset(config, model_home)
    assert data.splits["train"]["event_timestamp"].max() < data.splits["validation"]["event_timestamp"].min()
    result = run(task, config, model_home, data=data)
    assert result.metrics["outcomes predicted from the vector (test AUC)"][MODEL]["will_churn"] > 0.7
    probes = result.metrics[PROBES]
    assert set(probes) == {MODEL, PCA, RAW} and set(TRAITS) < set(probes[MODEL])
    assert probes[MODEL]["dimension"] == probes[PCA]["dimension"] == 16
    assert probes[MODEL]["activity"] > 0.2 and probes[MODEL]["taste"] > 0.1       # traits read from behaviour

    folder, metadata = artifact_folder(result.tag, model_home)
    scaling = json.loads((folder / SCALING_FILE).read_text())
    network = MultiTaskAutoencoder(len(metadata["columns"]), config.hidden, config.dimension, 3)
    network.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True))
    network.eval()
    reloaded = FittedEncoder(network, np.asarray(scaling["mean"]), np.asarray(scaling["scale"]))
    fitted = task.train(config, data)                     # seeded: training again gives the same network
    test = data.inputs["test"][:50]
    np.testing.assert_allclose(reloaded.embed(test), fitted.embed(test), atol=1e-5)
