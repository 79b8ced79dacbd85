"""The user embedding and the segments drawn in it, on the tiny shop: the embedding is trained
point-in-time on the purged training cut-offs, carries the users' outcomes and hidden traits, is
probed beside PCA and the raw features, and reloads from its state_dict into the same vectors;
the segments are chosen on validation, profiled, named and judged beside RFM."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from feature_repo.definitions import names
from training.config import resolve_config
from training.tasks.segments import MODEL as SEGMENTS, PROFILES, QUALITY, RFM, SegmentsTask, rfm
from training.tasks.user_embedding import (MODEL, PCA, PROBES, RAW, TRAITS, UserEmbeddingTask, load_encoder,
                                           user_inputs)

QUICK = ["horizon_days=7", "train_cutoffs=3", "epochs=8", "dimension=16"]      # the tiny shop is 70 days long


def test_the_dimension_is_checked():
    with pytest.raises(ValueError, match="dimension must be 16 to 64"):
        resolve_config(UserEmbeddingTask.config_type, overrides=["dimension=8"])


def test_rfm_bits():
    import polars as pl

    from training.tasks.segments import FREQUENCY, RECENCY, SPEND

    frame = pl.DataFrame({RECENCY: [1.0, 9.0, None], FREQUENCY: [3.0, 0.0, None], SPEND: [50.0, 5.0, None]})
    medians = {RECENCY: 5.0, FREQUENCY: 1.0, SPEND: 10.0}
    assert rfm(frame, medians).tolist() == [7, 0, 0]        # recent, frequent, big; none; unknown is none


@pytest.fixture(scope="module")
def embedding(model_home):
    from training.task import run

    task = UserEmbeddingTask()
    config = resolve_config(task.config_type, overrides=QUICK)
    data = task.build_dataset(config, model_home)
    return task, config, data, run(task, config, model_home, data=data)


@pytest.mark.slow
def test_the_embedding_carries_outcomes_and_traits_and_reloads_from_its_state_dict(model_home, embedding):
    task, config, data, result = embedding
    assert data.splits["train"]["event_timestamp"].max() < data.splits["validation"]["event_timestamp"].min()
    outcomes = result.metrics["outcomes predicted from the vector (test AUC)"][MODEL]
    # eight epochs on the tiny shop, the contrastive term pulling towards what lasts about a user:
    # the week's outcomes read less well than on the demo shop (0.73 to 0.84), but they read
    assert min(outcomes[o] for o in ("will_purchase", "will_cart", "will_churn")) > 0.6
    probes = result.metrics[PROBES]
    assert set(probes) == {MODEL, PCA, RAW} and set(TRAITS) < set(probes[MODEL])
    assert probes[MODEL]["dimension"] == probes[PCA]["dimension"] == 16
    assert probes[MODEL]["activity"] > 0.2 and probes[MODEL]["taste"] > 0.1       # traits read from behaviour

    reloaded, columns = load_encoder(result.tag, model_home)
    assert columns == data.columns
    written = pl.read_parquet(model_home.features_dir / f"{names.USER_EMBEDDING}.parquet")    # the Feast view
    assert written[names.EVENT_TIMESTAMP].n_unique() >= 4 and written.height > 1000
    sample = written.sample(20, seed=1)
    _, values, _ = user_inputs(sample.select(names.USER_ID, names.EVENT_TIMESTAMP), model_home, columns)
    np.testing.assert_allclose(np.vstack(sample[names.EMBEDDING].to_list()), reloaded.embed(values), atol=1e-5)
    from feature_repo.store import open_store

    job = open_store(model_home).get_historical_features(                 # Feast reads the view as written
        entity_df=sample.select(names.USER_ID, names.EVENT_TIMESTAMP).to_pandas(),
        features=[f"{names.USER_EMBEDDING}:{names.EMBEDDING}"])
    read = pl.from_pandas(job.to_df()).sort(names.USER_ID, names.EVENT_TIMESTAMP)
    expected = sample.sort(names.USER_ID, names.EVENT_TIMESTAMP)
    np.testing.assert_allclose(np.vstack(read[names.EMBEDDING].to_list()), np.vstack(expected[names.EMBEDDING].to_list()),
                               rtol=1e-6)
    fitted = task.train(config, data)                     # seeded: training again gives the same network
    test = data.inputs["test"][:50]
    np.testing.assert_allclose(reloaded.embed(test), fitted.embed(test), atol=1e-5)


@pytest.mark.slow
def test_segments_are_chosen_on_validation_profiled_and_judged_beside_rfm(model_home, embedding):
    from training.task import run

    task = SegmentsTask()
    result = run(task, resolve_config(task.config_type, overrides=["horizon_days=7", "k_range=[4, 6]"]), model_home)
    k = result.metrics["chosen on validation"][SEGMENTS]["k"]
    assert 4 <= k <= 6
    quality = result.metrics[QUALITY]
    assert quality[SEGMENTS]["segments"] == k and quality[RFM]["segments"] <= 8
    for row in quality.values():
        assert -1 <= row["silhouette_in_embedding"] <= 1 and row["stable_users"] > 100
        assert row["stability_ari"] > 0.1                   # a week later, most users keep their segment
    profiles = result.metrics[PROFILES]
    named = [name for name in profiles if name != "all"]
    assert len(named) == k and all(" shoppers in " in name for name in named)
    assert sum(profiles[name]["users"] for name in named) == profiles["all"]["users"]
    assert quality[SEGMENTS]["silhouette_in_embedding"] > quality[RFM]["silhouette_in_embedding"]
    vectors = pl.read_parquet(model_home.features_dir / f"{names.USER_EMBEDDING}.parquet")
    assigned = pl.read_parquet(model_home.features_dir / f"{names.USER_SEGMENT}.parquet")      # the Feast view
    assert assigned.select(names.USER_ID, names.EVENT_TIMESTAMP).equals(vectors.select(names.USER_ID, names.EVENT_TIMESTAMP))
    assert set(assigned[names.SEGMENT].unique().to_list()) <= set(range(k))
    assert "principal axes" in result.report.read_text()                  # the segments drawn in the report


@pytest.mark.slow
def test_features_build_refreshes_the_views_the_stored_models_write(model_home, embedding):
    """After a features build, the stored user embedding and segments (trained above) write their
    views again without training: on unchanged data, the rows training wrote."""
    from training.view_refresh import refresh_model_views

    keys = [names.USER_ID, names.EVENT_TIMESTAMP]
    paths = {view: model_home.features_dir / f"{view}.parquet" for view in (names.USER_EMBEDDING, names.USER_SEGMENT)}
    trained = {view: pl.read_parquet(path).sort(keys) for view, path in paths.items()}
    for view, path in paths.items():
        trained[view].head(0).write_parquet(path)                            # as if training had not written them
    lines = refresh_model_views(model_home)
    assert [line.split(":")[0] for line in lines] == [names.USER_EMBEDDING, names.USER_SEGMENT]
    again = {view: pl.read_parquet(path).sort(keys) for view, path in paths.items()}
    assert again[names.USER_SEGMENT].equals(trained[names.USER_SEGMENT])
    assert again[names.USER_EMBEDDING].select(keys).equals(trained[names.USER_EMBEDDING].select(keys))
    vectors = [np.vstack(frame[names.EMBEDDING].to_list()) for frame in (again[names.USER_EMBEDDING],
                                                                         trained[names.USER_EMBEDDING])]
    assert np.abs(vectors[0] - vectors[1]).max() < 1e-5


@pytest.mark.slow
def test_a_profile_answers_segment_preferences_and_embedding_from_the_online_store(model_home, embedding):
    import duckdb

    from shopml.model_store import use_model_store
    from training.task import run
    from training.tasks.engagement import EngagementTask
    from training.tasks.preferences import PreferencesTask

    for task, overrides in ((SegmentsTask(), ["horizon_days=7", "k=4"]), (PreferencesTask(), ["horizon_days=7"]),
                            (EngagementTask(), ["train_cutoffs=2", "test_cutoffs=1"])):
        run(task, resolve_config(task.config_type, overrides=overrides), model_home)
    use_model_store(model_home)
    import bentoml

    from services.online import OnlineFeatures
    from services.runtime import load_model
    from services.server import home_clock

    endpoint = SegmentsTask.endpoint
    answers = endpoint.start({m: load_model(bentoml.models.BentoModel(f"{m}:latest")) for m in endpoint.models},
                             OnlineFeatures(model_home, clock=home_clock(model_home)))
    with duckdb.connect(str(model_home.warehouse_path), read_only=True) as con:
        active = con.execute("SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
    known, unknown = answers.answer(endpoint.request(user_ids=[active, -4], include_embedding=True)).users
    assert known.known_user and known.segment is not None and 0 <= known.segment.id < 4
    assert " shoppers in " in known.segment.name and len(known.embedding) == 16 and len(known.preferences) == 3
    assert not unknown.known_user and unknown.segment is None and unknown.embedding is None
    assert set(known.interactions) == {"like", "favorite", "share", "review"}
    assert unknown.interactions == pytest.approx({h: answers.engagement.model.prior(h) for h in unknown.interactions},
                                                 abs=1e-6)
    assert [p.affinity for p in known.preferences] == sorted((p.affinity for p in known.preferences), reverse=True)
